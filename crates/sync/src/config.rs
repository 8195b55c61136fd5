//! What the daemon is pointed at: the database URL (kept out of logs), the schema to read.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::SyncError;

/// Which tables hold the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Schema {
    /// passthru's own tables (`passthru_routes`, `passthru_keys`), PostgreSQL or SQLite.
    Native,
    /// LiteLLM's `"LiteLLM_Config"` and `"LiteLLM_VerificationToken"`, read-only, PostgreSQL.
    Litellm,
}

/// The credential file systemd's `LoadCredential=database-url:...` puts in `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_NAME: &str = "database-url";

/// A database URL. `Display` and `Debug` never show the password; [`DatabaseUrl::expose`] does,
/// for the driver only.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Result<DatabaseUrl, SyncError> {
        let url = url.into().trim().to_owned();
        let ok = url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:");
        if !ok {
            return Err(SyncError::BadUrl {
                url: redact(&url),
                why: "the scheme must be postgres://, postgresql:// or sqlite:".into(),
            });
        }
        Ok(DatabaseUrl(url))
    }

    /// Reads the URL from a file (first non-empty line), e.g. a systemd credential.
    pub fn from_file(path: &Path) -> Result<DatabaseUrl, SyncError> {
        let text = std::fs::read_to_string(path).map_err(|source| SyncError::UrlFile {
            path: path.to_path_buf(),
            source,
        })?;
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        match line {
            Some(line) => DatabaseUrl::new(line),
            None => Err(SyncError::UrlFile {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"),
            }),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with credentials, for the database driver. Never log this.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// Replaces the password in `scheme://user:password@host` and any `password=` parameter (URL
/// query or libpq `key=value` form) with `***`. A password written without percent-encoding may
/// hold `@`, `/`, `?` or `#`: everything from the first `:` of the userinfo to the last `@` is
/// hidden, which may hide more than the password, never less.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        if let Some(at) = out[rest_start..].rfind('@') {
            let userinfo_end = rest_start + at;
            if let Some(colon) = out[rest_start..userinfo_end].find(':') {
                out.replace_range(rest_start + colon + 1..userinfo_end, "***");
            }
        }
    }
    // `password=` anywhere: a query parameter or a `host=… password=…` connection string.
    let mut redacted = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let value_start = i + "password=".len();
        redacted.push_str(&rest[..value_start]);
        redacted.push_str("***");
        let value_end = rest[value_start..]
            .find(|c: char| c == '&' || c.is_whitespace())
            .map_or(rest.len(), |e| value_start + e);
        rest = &rest[value_end..];
    }
    redacted.push_str(rest);
    redacted
}

/// Where the URL comes from, in order: `--database-url-file`, `--database-url` (or its
/// environment variable), `$CREDENTIALS_DIRECTORY/database-url`, then the embedded SQLite default.
pub fn resolve_url(
    url: Option<&str>,
    url_file: Option<&Path>,
    default_sqlite: &Path,
) -> Result<DatabaseUrl, SyncError> {
    if let Some(path) = url_file {
        return DatabaseUrl::from_file(path);
    }
    if let Some(url) = url {
        return DatabaseUrl::new(url);
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = PathBuf::from(dir).join(CREDENTIAL_NAME);
        if path.exists() {
            return DatabaseUrl::from_file(&path);
        }
    }
    DatabaseUrl::new(format!("sqlite://{}", default_sqlite.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password_in_userinfo() {
        assert_eq!(
            redact("postgres://sync:s3cret@db.example:5432/app"),
            "postgres://sync:***@db.example:5432/app"
        );
    }

    #[test]
    fn redaction_hides_a_password_query_parameter() {
        assert_eq!(
            redact("postgres://db/app?user=a&password=s3cret&sslmode=require"),
            "postgres://db/app?user=a&password=***&sslmode=require"
        );
    }

    #[test]
    fn redaction_covers_a_password_with_an_unencoded_at_sign() {
        assert_eq!(
            redact("postgres://sync:p@ss@db/app"),
            "postgres://sync:***@db/app"
        );
    }

    /// Regression (found by tests/hardening.rs): a password with a raw `/`, `?` or `#`, and the
    /// libpq `key=value` form, were logged in the clear.
    #[test]
    fn redaction_covers_unencoded_delimiters_and_the_key_value_form() {
        for (url, shown) in [
            (
                "postgres://u:pa/ss@127.0.0.1:1/db",
                "postgres://u:***@127.0.0.1:1/db",
            ),
            ("postgres://u:pa?ss@h/db", "postgres://u:***@h/db"),
            ("postgres://u:pa#ss@h/db", "postgres://u:***@h/db"),
            (
                "host=h port=1 password=s3cret user=u",
                "host=h port=1 password=*** user=u",
            ),
            (
                "postgres://h/db?PASSWORD=s3cret",
                "postgres://h/db?PASSWORD=***",
            ),
        ] {
            assert_eq!(redact(url), shown);
        }
    }

    #[test]
    fn redaction_keeps_urls_without_credentials() {
        assert_eq!(redact("sqlite:///var/lib/x.db"), "sqlite:///var/lib/x.db");
        assert_eq!(redact("postgres://sync@db/app"), "postgres://sync@db/app");
    }

    #[test]
    fn display_and_debug_never_show_the_password() {
        let url = DatabaseUrl::new("postgres://u:topsecret@h/d").unwrap();
        assert!(!format!("{url} {url:?}").contains("topsecret"));
    }

    #[test]
    fn a_url_file_gives_its_first_non_empty_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("url");
        std::fs::write(&path, "\n  postgres://u:p@h/d  \n").unwrap();
        assert_eq!(
            DatabaseUrl::from_file(&path).unwrap().expose(),
            "postgres://u:p@h/d"
        );
    }
}
