//! Configured header values, with LiteLLM's `os.environ/NAME` secret reference.

/// A configured header value. LiteLLM's secret reference `os.environ/NAME` may end the value
/// (`Bearer os.environ/KEY`); the proxy resolves it when it builds the table, never sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTemplate {
    raw: String,
    env_at: Option<usize>,
}

const ENV_PREFIX: &str = "os.environ/";

/// The longest configured header value; nginx and most servers refuse lines over 8–16 KiB.
pub const MAX_HEADER_VALUE_BYTES: usize = 16 * 1024;
/// The most headers one route may configure.
pub const MAX_HEADERS_PER_ROUTE: usize = 64;

impl HeaderTemplate {
    pub fn parse(raw: &str) -> Result<HeaderTemplate, String> {
        if raw.len() > MAX_HEADER_VALUE_BYTES {
            return Err(format!(
                "is {} bytes; at most {MAX_HEADER_VALUE_BYTES} (upstream servers refuse longer header lines)",
                raw.len()
            ));
        }
        if raw.contains(['\r', '\n']) {
            return Err("contains CR or LF, which would inject headers".into());
        }
        if let Some(b) = raw.bytes().find(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(format!("contains the control character 0x{b:02X}"));
        }
        let env_at = raw.find(ENV_PREFIX);
        if let Some(at) = env_at {
            let name = &raw[at + ENV_PREFIX.len()..];
            if !is_env_name(name) {
                // What follows is not quoted: it may be a secret pasted in place of a name.
                return Err(format!(
                    "`os.environ/` must end the value and name a variable (letters, digits, '_'); \
                     found {} characters that are not a variable name",
                    name.chars().count()
                ));
            }
        }
        Ok(HeaderTemplate {
            raw: raw.to_owned(),
            env_at,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The environment variable this value reads, if any.
    pub fn env_var(&self) -> Option<&str> {
        self.env_at.map(|at| &self.raw[at + ENV_PREFIX.len()..])
    }

    /// The value to send, with the `os.environ/NAME` reference replaced by `lookup(NAME)`.
    /// Err names the variable that `lookup` did not have.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
        match self.env_at {
            None => Ok(self.raw.clone()),
            Some(at) => {
                let name = &self.raw[at + ENV_PREFIX.len()..];
                let secret = lookup(name).ok_or_else(|| name.to_owned())?;
                Ok(format!("{}{secret}", &self.raw[..at]))
            }
        }
    }
}

fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
