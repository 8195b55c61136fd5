//! A validated route and the choices it carries: what one routes.yaml entry means once it has
//! passed every check.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::cors::Cors;
use crate::header::HeaderTemplate;
use crate::id::StableId;
use crate::method::MethodSet;
use crate::problem::Location;
use crate::target::Target;

/// The upstream timeout when a route sets none: LiteLLM's `pass_through_request_timeout` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The shortest timeout a route may set, seconds: one millisecond, the unit it is kept in.
pub(crate) const MIN_TIMEOUT_SECS: f64 = 0.001;
/// The longest timeout a route may set, seconds: a day.
pub(crate) const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// One pass-through route, validated. Field names and meanings follow LiteLLM's
/// `pass_through_endpoints` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub id: StableId,
    /// Request-path prefix in normal form (see [`crate::normalize_request_path`]), no trailing `/`.
    pub path: String,
    pub target: Target,
    /// false: the path exactly; true: the path and everything below it (segment-aware).
    pub include_subpath: bool,
    pub methods: MethodSet,
    /// Added to every upstream request, names lower-cased. Values may end in `os.environ/NAME`.
    pub headers: BTreeMap<String, HeaderTemplate>,
    /// true: forward the client's end-to-end headers too.
    pub forward_headers: bool,
    /// How the proxy tells the upstream who the client was; `None`: the proxy's global setting.
    pub forwarded_headers: Option<ForwardedHeaders>,
    /// Lowest-precedence query parameters: defaults < target URL query < client query.
    pub default_query_params: BTreeMap<String, String>,
    /// Upstream timeout, whole milliseconds.
    pub timeout: Duration,
    /// true: the proxy requires an API key whose sha256 is among the file's `keys`.
    pub auth: bool,
    /// `headers.litellm_user_api_key`: at the route's exact path, the header a client's key may
    /// arrive in when no usual key header is present (LiteLLM's last resort). Lower-cased.
    pub key_header: Option<String>,
    /// `custom_auth_parser: langfuse`: at the route's exact path the key is the user part of
    /// `Authorization: Basic base64(key:secret)`.
    pub langfuse_auth: bool,
    /// This route's CORS policy, instead of the file's. Boxed: few routes have one, and a route
    /// without is a quarter smaller to move, sort and compare.
    pub cors: Option<Box<Cors>>,
}

impl Route {
    /// The location of this route in problem reports.
    pub fn location(&self, index: usize) -> Location {
        Location::Route {
            index,
            id: Some(self.id.to_string()),
            path: Some(self.path.clone()),
            field: None,
        }
    }

    /// `exact` or `subpath`, as `check` prints it.
    pub fn match_kind(&self) -> &'static str {
        if self.include_subpath {
            "subpath"
        } else {
            "exact"
        }
    }
}

/// Which headers tell the upstream the client's address, protocol and host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForwardedHeaders {
    /// The proxy adds none (LiteLLM sends none).
    Off,
    /// `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host`.
    Xff,
    /// RFC 7239 `Forwarded: for=…;proto=…;host=…`.
    Forwarded,
}

impl ForwardedHeaders {
    pub const ALL: [ForwardedHeaders; 3] = [
        ForwardedHeaders::Off,
        ForwardedHeaders::Xff,
        ForwardedHeaders::Forwarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedHeaders::Off => "off",
            ForwardedHeaders::Xff => "xff",
            ForwardedHeaders::Forwarded => "forwarded",
        }
    }

    pub fn parse(s: &str) -> Option<ForwardedHeaders> {
        ForwardedHeaders::ALL.into_iter().find(|m| m.as_str() == s)
    }
}
