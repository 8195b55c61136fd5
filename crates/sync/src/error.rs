//! Errors a user of passthru-sync can see: each says what failed, where, and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot read the database URL from {path}: {source}; check the file exists and is readable by this user (systemd: LoadCredential=)")]
    UrlFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the database URL {url} is not usable: {why}; use postgres://user@host/db or sqlite:///path/to/file.db")]
    BadUrl { url: String, why: String },

    #[error("cannot connect to {url}: {source}; check that the server is up and reachable and the credentials are right")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },

    #[error("query on {url} failed while {doing}: {source}{hint}")]
    Query {
        url: String,
        doing: &'static str,
        hint: &'static str,
        #[source]
        source: sqlx::Error,
    },

    #[error("reading {url} took longer than {seconds} s (--query-timeout); check for long transactions holding locks, or an overloaded server")]
    Timeout { url: String, seconds: u64 },

    #[error("applying the native schema to {url} failed: {source}; check the user may create tables, or run `passthru-sync migrate` as a user who may")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    #[error(
        "the LiteLLM schema is read-only: {what} works only on the native schema (--schema native)"
    )]
    ReadOnlySchema { what: &'static str },

    #[error("the LiteLLM schema lives on PostgreSQL only; {url} is SQLite")]
    LiteLlmNeedsPostgres { url: String },

    #[error("\"LiteLLM_Config\" row general_settings is not usable: {why}")]
    LiteLlmSettings { why: String },

    #[error(transparent)]
    Write(#[from] passthru_routes::WriteError),

    // The command line's own failures. The I/O error is part of the message, not a source, so
    // that a chain printed whole (`{:#}`) does not repeat it.
    #[error("cannot install signal handlers: {error}")]
    Signals { error: std::io::Error },

    #[error("cannot create the directory {}: {error}", path.display())]
    CreateDir {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("cannot read the LiteLLM master key from {}; check the path and its mode: {error}", path.display())]
    MasterKeyFile {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("cannot read the key from stdin: {error}")]
    KeyStdin { error: std::io::Error },

    #[error("{0}")]
    Invalid(String),
}

impl SyncError {
    /// A query error with a hint for the usual cause: the schema is missing.
    pub(crate) fn query(
        url: &crate::DatabaseUrl,
        doing: &'static str,
        source: sqlx::Error,
    ) -> Self {
        let missing_table = matches!(&source, sqlx::Error::Database(e)
            if e.code().as_deref() == Some("42P01") || e.message().contains("no such table"));
        let code = match &source {
            sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
            _ => None,
        };
        let hint = match code.as_deref() {
            _ if missing_table => "; the tables do not exist: run `passthru-sync migrate` (native schema) or check --schema and the database name",
            Some("57014") => "; the server cancelled the statement (its statement_timeout, or a cancel request): check for long transactions holding locks on the passthru tables, or raise statement_timeout for this role",
            Some("57P01" | "57P02" | "57P03") => "; the server is shutting down or restarting: the daemon retries and carries on by itself once it is back",
            Some("28P01" | "28000") => "; check the user name and password in the database URL, and the server's pg_hba.conf",
            Some("42501") => "; the role may not read these tables: GRANT SELECT on them to it",
            _ if matches!(source, sqlx::Error::Io(_) | sqlx::Error::Protocol(_)) => "; the connection was lost: the daemon retries and carries on by itself once the server answers",
            _ => "",
        };
        SyncError::Query {
            url: url.redacted(),
            doing,
            hint,
            source,
        }
    }
}
