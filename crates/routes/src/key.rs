//! An accepted API key, as its sha256 with an expiry and grants.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::grants::{Grants, GrantsInterner};

/// The sha256 of an API key that `auth: true` routes accept, as LiteLLM stores it in
/// `"LiteLLM_VerificationToken".token`; never the key itself. With the routes it may use.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyHash {
    pub sha256: [u8; 32],
    /// Whole seconds; the key is refused from this instant on.
    pub expires: Option<SystemTime>,
    /// `None`: an unscoped key (every `auth: true` route). Equal grants share one allocation.
    pub grants: Option<Arc<Grants>>,
}

impl KeyHash {
    /// An unscoped key hash whose expiry is rounded down to whole seconds, as files carry it: a
    /// key never lives longer than its source says.
    pub fn new(sha256: [u8; 32], expires: Option<SystemTime>) -> KeyHash {
        let expires = expires.map(|t| {
            let secs = t
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            std::time::UNIX_EPOCH + Duration::from_secs(secs)
        });
        KeyHash {
            sha256,
            expires,
            grants: None,
        }
    }

    /// This key, limited to `grants` (shared through `interner`).
    pub fn with_grants(mut self, grants: Grants, interner: &mut GrantsInterner) -> KeyHash {
        self.grants = interner.intern(grants);
        self
    }

    /// The key's grants; an unscoped key's are the default.
    pub fn grants(&self) -> &Grants {
        static UNSCOPED: Grants = Grants {
            admin: false,
            allow: None,
            deny: Vec::new(),
            only: None,
        };
        self.grants.as_deref().unwrap_or(&UNSCOPED)
    }

    /// Parses 64 hex digits (either case).
    pub fn parse_hex(hex: &str) -> Result<[u8; 32], String> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!(
                "must be the sha256 of the key as 64 hex digits, found {} characters{}",
                bytes.len(),
                if bytes.iter().all(u8::is_ascii_hexdigit) {
                    ""
                } else {
                    " with non-hex digits"
                }
            ));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(bytes, &mut out).expect("checked hex");
        Ok(out)
    }

    pub fn hex(&self) -> String {
        hex::encode(self.sha256)
    }
}
