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
        let mut out = [0u8; 32];
        // The decoder checks every digit (without a branch per digit, which random hex
        // mispredicts: that check was a fifth of reading a million keys). It would take a `0x`
        // prefix, but then 64 characters hold 31 bytes and the decode fails.
        if bytes.len() == 64 && const_hex::decode_to_slice(bytes, &mut out).is_ok() {
            return Ok(out);
        }
        Err(format!(
            "must be the sha256 of the key as 64 hex digits, found {} characters{}",
            bytes.len(),
            if bytes.iter().all(u8::is_ascii_hexdigit) {
                ""
            } else {
                " with non-hex digits"
            }
        ))
    }

    pub fn hex(&self) -> String {
        const_hex::encode(self.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_hash_is_exactly_64_hex_digits_of_either_case() {
        let lower = "0123456789abcdef".repeat(4);
        let parsed = KeyHash::parse_hex(&lower).unwrap();
        assert_eq!(
            parsed[..8],
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]
        );
        assert_eq!(KeyHash::parse_hex(&lower.to_uppercase()).unwrap(), parsed);
        let prefixed = format!("0x{}", &lower[2..]);
        let non_hex = format!("{}g", &lower[1..]);
        for bad in [&lower[1..], &format!("{lower}0"), &prefixed, &non_hex, ""] {
            assert!(KeyHash::parse_hex(bad).is_err(), "{bad:?}");
        }
        assert!(KeyHash::parse_hex(&non_hex)
            .unwrap_err()
            .contains("with non-hex digits"));
    }
}
