//! LiteLLM's schema, read-only: the `"LiteLLM_Config"` row `general_settings`, its JSON
//! `param_value` → `pass_through_endpoints`, and the virtual-key hashes in
//! `"LiteLLM_VerificationToken"` (`token` is the sha256 hex of the key).
//!
//! Entries are read tolerantly ([`tolerate`]): a field passthru does not implement is dropped,
//! silently when it holds null or LiteLLM's default and with a report otherwise, so a LiteLLM
//! upgrade that adds a field never makes a route vanish; a route that asks for `guardrails` is
//! not served at all. Hand-written routes.yaml files stay strict (a typo must not pass).

mod marker;
mod queries;
mod read;
mod settings;
mod snapshot;
mod tolerate;

pub use marker::{marker, Marker};
pub use read::read;
pub use settings::{endpoints, resolve_secret, Settings};
pub use snapshot::{snapshot_of, LITELLM_DEFAULT_METHODS};
pub use tolerate::{tolerate, Tolerated};
