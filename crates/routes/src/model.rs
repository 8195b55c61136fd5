//! The validated routes table: what a routes.yaml file means once it has passed every check.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cors::Cors;
use crate::grants::{Grants, GrantsInterner};
use crate::id::StableId;
use crate::method::MethodSet;
use crate::problem::{Location, Problem, ProblemKind, Problems};

/// The upstream timeout when a route sets none: LiteLLM's `pass_through_request_timeout` default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

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
    /// This route's CORS policy, instead of the file's.
    pub cors: Option<Cors>,
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

/// An absolute http(s) URL with a host; may carry a base path and a query, never credentials or
/// a fragment. Kept as written so canonical rendering returns the operator's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    raw: String,
    uri: http::Uri,
}

impl Target {
    pub fn parse(raw: &str) -> Result<Target, String> {
        if raw.contains('#') {
            return Err("must not contain a fragment ('#')".into());
        }
        let uri: http::Uri = raw.parse().map_err(|e| {
            format!(
                "is not an absolute http(s) URL ({e}); write it like https://api.example.com/v1"
            )
        })?;
        let scheme = uri.scheme_str().unwrap_or("");
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(if scheme.is_empty() {
                "is not an absolute URL: it needs http:// or https:// and a host".into()
            } else {
                format!("has scheme {scheme:?}; only http and https are supported")
            });
        }
        let authority = uri.authority().ok_or("has no host")?;
        if authority.as_str().contains('@') {
            return Err(
                "must not carry credentials (user:password@); send them with `headers`".into(),
            );
        }
        if authority.host().is_empty() {
            return Err("has no host".into());
        }
        if authority.as_str().ends_with(':') {
            return Err("has an empty port after ':'".into());
        }
        // `http::Uri` accepts any digits as a port and then reports none, which would send the
        // request (and its configured credentials) to the scheme's default port.
        let after_host = authority.as_str().rsplit(']').next().unwrap_or_default();
        if let Some((_, port)) = after_host.rsplit_once(':') {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => {}
                _ => {
                    return Err(format!(
                        "has port {port}; a port is a number from 1 to 65535"
                    ))
                }
            }
        }
        Ok(Target {
            raw: raw.to_owned(),
            uri,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The URL as messages may quote it: secret-looking query values masked.
    pub fn redacted(&self) -> String {
        crate::redact::redact_target(&self.raw)
    }

    pub fn is_https(&self) -> bool {
        self.uri
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"))
    }

    /// Host as written; IPv6 literals keep their brackets.
    pub fn host(&self) -> &str {
        self.uri.host().unwrap_or_default()
    }

    /// The explicit port, or 443/80 by scheme.
    pub fn port(&self) -> u16 {
        self.uri
            .port_u16()
            .unwrap_or(if self.is_https() { 443 } else { 80 })
    }

    /// `host[:port]` as the upstream's `Host` header carries it.
    pub fn authority(&self) -> &str {
        self.uri.authority().map(|a| a.as_str()).unwrap_or_default()
    }

    /// The base path, `/` when the URL has none.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }
}

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
        for (i, pair) in bytes.chunks(2).enumerate() {
            let s = std::str::from_utf8(pair).expect("hex digits are ASCII");
            out[i] = u8::from_str_radix(s, 16).expect("checked hex");
        }
        Ok(out)
    }

    pub fn hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A validated table: routes in canonical order, every id stamped, no duplicate ids, no two
/// routes answering the same (path, method); key hashes sorted and unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutesFile {
    routes: Vec<Route>,
    keys: Vec<KeyHash>,
    /// LiteLLM's `general_settings.litellm_key_header_name`: a header that, when present, carries
    /// the key (as `Bearer <key>`) ahead of every other. Lower-cased.
    key_header_name: Option<String>,
    /// Keys that do not start with this are refused unless their entry is `admin` (LiteLLM
    /// accepts only `sk-` virtual keys, and its master key whatever it looks like).
    key_prefix: Option<String>,
    /// The CORS policy of routes that set none.
    cors: Option<Cors>,
}

impl RoutesFile {
    /// Checks the table as a whole and puts it in canonical order. Problems are located by the
    /// routes' indices in `routes` as given.
    pub fn new(routes: Vec<Route>, keys: Vec<KeyHash>) -> Result<RoutesFile, Problems> {
        RoutesFile::new_located(routes, keys, &|i| i, &|i| i)
    }

    /// [`RoutesFile::new`] for entries that sat at other indices in a file (some were rejected
    /// before), so that problems name the index the operator sees.
    pub(crate) fn new_located(
        routes: Vec<Route>,
        keys: Vec<KeyHash>,
        route_index: &dyn Fn(usize) -> usize,
        key_index: &dyn Fn(usize) -> usize,
    ) -> Result<RoutesFile, Problems> {
        let clashes = find_clashes(&routes, &keys, route_index, key_index);
        if !clashes.is_empty() {
            return Err(Problems(clashes.into_iter().map(|c| c.problem).collect()));
        }
        Ok(RoutesFile::canonical(routes, keys))
    }

    /// Like [`RoutesFile::new`], but keeps the first of each clashing set (in the order given)
    /// and reports the rest: what a database source does with rows that cannot all be served.
    pub fn new_skipping_clashes(
        mut routes: Vec<Route>,
        mut keys: Vec<KeyHash>,
    ) -> (RoutesFile, Vec<Problem>) {
        let clashes = find_clashes(&routes, &keys, &|i| i, &|i| i);
        let mut drop_routes = vec![false; routes.len()];
        let mut drop_keys = vec![false; keys.len()];
        for clash in &clashes {
            match clash.later {
                Later::Route(i) => drop_routes[i] = true,
                Later::Key(i) => drop_keys[i] = true,
            }
        }
        let mut i = 0;
        routes.retain(|_| (!drop_routes[i], i += 1).0);
        let mut i = 0;
        keys.retain(|_| (!drop_keys[i], i += 1).0);
        let problems = clashes.into_iter().map(|c| c.problem).collect();
        (RoutesFile::canonical(routes, keys), problems)
    }

    fn canonical(mut routes: Vec<Route>, mut keys: Vec<KeyHash>) -> RoutesFile {
        routes.sort_by(|a, b| {
            a.path
                .cmp(&b.path)
                .then(a.include_subpath.cmp(&b.include_subpath))
                .then_with(|| a.methods.iter().cmp(b.methods.iter()))
                .then_with(|| a.id.cmp(&b.id))
        });
        keys.sort();
        RoutesFile {
            routes,
            keys,
            key_header_name: None,
            key_prefix: None,
            cors: None,
        }
    }

    /// This table with LiteLLM's `litellm_key_header_name` (a valid header name, or `None`).
    pub fn with_key_header_name(mut self, name: Option<String>) -> RoutesFile {
        self.key_header_name = name.map(|n| n.to_ascii_lowercase());
        self
    }

    pub fn key_header_name(&self) -> Option<&str> {
        self.key_header_name.as_deref()
    }

    /// This table with a required key prefix (see [`RoutesFile::key_prefix`]).
    pub fn with_key_prefix(mut self, prefix: Option<String>) -> RoutesFile {
        self.key_prefix = prefix.filter(|p| !p.is_empty());
        self
    }

    /// This table as it may be shown: configured header values without an `os.environ/`
    /// reference (literal secrets) become `***`, secret-looking query values in targets too.
    pub fn masked(&self) -> RoutesFile {
        let mut out = self.clone();
        for route in &mut out.routes {
            for value in route.headers.values_mut() {
                if value.env_var().is_none() {
                    *value = HeaderTemplate::parse("***").expect("a plain value");
                }
            }
            if let Ok(target) = Target::parse(&route.target.redacted()) {
                route.target = target;
            }
        }
        out
    }

    /// This table with a CORS policy for routes that set none.
    pub fn with_cors(mut self, cors: Option<Cors>) -> RoutesFile {
        self.cors = cors;
        self
    }

    /// The CORS policy of routes that set none.
    pub fn cors(&self) -> Option<&Cors> {
        self.cors.as_ref()
    }

    /// Non-admin keys must start with this.
    pub fn key_prefix(&self) -> Option<&str> {
        self.key_prefix.as_deref()
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn keys(&self) -> &[KeyHash] {
        &self.keys
    }

    pub fn into_parts(self) -> (Vec<Route>, Vec<KeyHash>) {
        (self.routes, self.keys)
    }
}

enum Later {
    Route(usize),
    Key(usize),
}

struct Clash {
    later: Later,
    problem: Problem,
}

/// Duplicate ids, routes answering the same (path, method), repeated key hashes. Each clash names
/// the later entry and the earlier one it clashes with; a later entry is reported once.
fn find_clashes(
    routes: &[Route],
    keys: &[KeyHash],
    route_index: &dyn Fn(usize) -> usize,
    key_index: &dyn Fn(usize) -> usize,
) -> Vec<Clash> {
    let mut clashes = Vec::new();
    let mut by_id: HashMap<&StableId, usize> = HashMap::with_capacity(routes.len());
    let mut by_path: HashMap<(&str, bool), Vec<usize>> = HashMap::with_capacity(routes.len());
    for (i, route) in routes.iter().enumerate() {
        if let Some(&first) = by_id.get(&route.id) {
            clashes.push(Clash {
                later: Later::Route(i),
                problem: Problem::new(
                    ProblemKind::DuplicateId,
                    route.location(route_index(i)),
                    format!(
                        "id {} is also used by routes[{}] (path {}); ids must be unique",
                        route.id,
                        route_index(first),
                        routes[first].path
                    ),
                ),
            });
            continue;
        }
        let same_path = by_path
            .entry((route.path.as_str(), route.include_subpath))
            .or_default();
        if let Some(&other) = same_path
            .iter()
            .find(|&&j| routes[j].methods.overlaps(route.methods))
        {
            let both = routes[other].methods.intersection(route.methods);
            clashes.push(Clash {
                later: Later::Route(i),
                problem: Problem::new(
                    ProblemKind::Conflict,
                    route.location(route_index(i)),
                    format!(
                        "answers {} {} ({}) like routes[{}] (id {}); give them disjoint `methods`",
                        both,
                        route.path,
                        route.match_kind(),
                        route_index(other),
                        routes[other].id
                    ),
                ),
            });
            continue;
        }
        by_id.insert(&route.id, i);
        same_path.push(i);
    }
    let mut seen: HashMap<[u8; 32], usize> = HashMap::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        if let Some(&first) = seen.get(&key.sha256) {
            clashes.push(Clash {
                later: Later::Key(i),
                problem: Problem::new(
                    ProblemKind::DuplicateKey,
                    Location::Key {
                        index: key_index(i),
                        field: Some("sha256".into()),
                    },
                    format!("the same key hash as keys[{}]", key_index(first)),
                ),
            });
        } else {
            seen.insert(key.sha256, i);
        }
    }
    clashes
}
