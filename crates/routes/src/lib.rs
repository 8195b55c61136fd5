//! The routes.yaml contract shared by `passthru-sync` (which writes it) and `passthru-proxy` (which
//! serves it): the model, stable ids, validation, canonical rendering, request-path normalisation,
//! the route table, what changed between two tables, and the atomic write. No async runtime,
//! database or HTTP server here.

mod clash;
mod cors;
mod diff;
mod fields;
mod grants;
mod header;
mod id;
mod key;
mod key_index;
mod method;
mod model;
mod nesting;
mod parse;
mod path;
mod positions;
mod problem;
mod redact;
mod render;
mod routes_file;
mod schema;
mod stamp;
mod table;
mod target;
mod write;

pub use cors::{Cors, CORS_FIELDS, DEFAULT_CORS_MAX_AGE, MAX_CORS_MAX_AGE, SAFELISTED_HEADERS};
pub use diff::{IdList, TableDiff};
pub use fields::{FieldKind, RouteField, ValueType, ROUTE_FIELDS};
pub use grants::{
    allow_matches, check_list as check_grant_list, deny_matches, only_matches, GrantRefusal,
    Grants, GrantsInterner, RequestPaths, MAX_GRANT_ENTRIES, MAX_GRANT_ENTRY_BYTES,
};
pub use header::{HeaderTemplate, MAX_HEADERS_PER_ROUTE, MAX_HEADER_VALUE_BYTES};
pub use id::StableId;
pub use key::KeyHash;
pub use method::{Method, MethodSet};
pub use model::{ForwardedHeaders, Route, DEFAULT_TIMEOUT};
pub use parse::{KEY_HEADER_FIELD, LITELLM_ONLY_FIELDS, LOCATED_ERRORS_MAX_BYTES};
pub use path::{normalize_request_path, percent_decode_path, PathRejection};
pub use positions::{Position, Positions};
pub use problem::{Location, Problem, ProblemKind, Problems};
pub use redact::redact_target;
pub use render::RenderedFile;
pub use routes_file::RoutesFile;
pub use schema::json_schema;
pub use stamp::FileStamp;
pub use table::{KeyStatus, Lookup, Match, RouteTable};
pub use target::Target;
pub use write::{parent_dir, remove_stale_temp_files, write_atomically, WriteError, WriteOutcome};

/// Re-exported so database sources can hand rows to [`Route::from_value`] without their own copy.
pub use serde_yaml::Value;
