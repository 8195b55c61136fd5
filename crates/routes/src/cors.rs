//! Cross-origin resource sharing for browser clients: which origins may call a route, with
//! which methods and headers, as the file's top-level `cors` (every route) or a route's own
//! `cors` (that route) configures it. The proxy answers preflights itself; nothing here knows
//! about HTTP servers.

use serde_yaml::{Mapping, Value};

use crate::method::Method;

/// The longest `max_age`, a day.
pub const MAX_CORS_MAX_AGE: u32 = 86_400;
/// Starlette's default, which LiteLLM's proxy uses.
pub const DEFAULT_CORS_MAX_AGE: u32 = 600;

/// One CORS policy. `*` in a list means "any".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cors {
    /// `*`, or origins as browsers send them (`https://app.example.com`, `http://localhost:3000`).
    pub allow_origins: Vec<String>,
    /// `*` (every method the route serves), or method names.
    pub allow_methods: Vec<String>,
    /// `*` (whatever the browser asks for), or header names, lower-cased.
    pub allow_headers: Vec<String>,
    /// Cookies and credentials may be sent; never with `*` origins.
    pub allow_credentials: bool,
    /// Response headers a page may read, lower-cased.
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight answer, seconds.
    pub max_age: u32,
}

/// Request headers every policy allows (the Fetch standard's CORS-safelisted names).
pub const SAFELISTED_HEADERS: &[&str] = &[
    "accept",
    "accept-language",
    "content-language",
    "content-type",
];

/// The fields of a `cors` mapping, in canonical order.
pub const CORS_FIELDS: &[&str] = &[
    "allow_origins",
    "allow_methods",
    "allow_headers",
    "allow_credentials",
    "expose_headers",
    "max_age",
];

impl Cors {
    /// LiteLLM's proxy as shipped: any origin, method and header, no credentials (1.110.2's
    /// default without `LITELLM_CORS_ORIGINS`).
    pub fn permissive() -> Cors {
        Cors {
            allow_origins: vec!["*".into()],
            allow_methods: vec!["*".into()],
            allow_headers: vec!["*".into()],
            allow_credentials: false,
            expose_headers: Vec::new(),
            max_age: DEFAULT_CORS_MAX_AGE,
        }
    }

    pub fn allows_any_origin(&self) -> bool {
        self.allow_origins.iter().any(|o| o == "*")
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allows_any_origin() || self.allow_origins.iter().any(|o| o == origin)
    }

    pub fn allows_method(&self, method: &str) -> bool {
        self.allow_methods.iter().any(|m| m == "*" || m == method)
    }

    /// The CORS-safelisted request headers are always allowed, as browsers and Starlette do.
    pub fn allows_header(&self, name: &str) -> bool {
        SAFELISTED_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
            || self
                .allow_headers
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(name))
    }

    /// Reads a `cors` mapping; each problem is (field, message).
    pub fn from_value(value: &Value) -> Result<Cors, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let Value::Mapping(map) = value else {
            return Err(vec![(
                String::new(),
                "must be a mapping with `allow_origins` (and optionally `allow_methods`, \
                 `allow_headers`, `allow_credentials`, `expose_headers`, `max_age`)"
                    .into(),
            )]);
        };
        for key in map.keys() {
            match key.as_str() {
                Some(k) if CORS_FIELDS.contains(&k) => {}
                Some(k) => problems.push((
                    k.to_owned(),
                    format!("unknown field; known fields: {}", CORS_FIELDS.join(", ")),
                )),
                None => problems.push((String::new(), "field names must be strings".into())),
            }
        }
        let allow_origins = list(map, "allow_origins", &mut problems, check_origin);
        if allow_origins.as_ref().is_some_and(Vec::is_empty) || allow_origins.is_none() {
            problems.push((
                "allow_origins".into(),
                "must list at least one origin, or `*` for any".into(),
            ));
        }
        let allow_methods = list(map, "allow_methods", &mut problems, check_method)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| vec!["*".into()]);
        let allow_headers =
            list(map, "allow_headers", &mut problems, check_header).unwrap_or_default();
        let expose_headers =
            list(map, "expose_headers", &mut problems, check_header).unwrap_or_default();
        let allow_credentials = match map.get("allow_credentials") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                problems.push(("allow_credentials".into(), "must be true or false".into()));
                false
            }
        };
        let max_age = match map.get("max_age") {
            None | Some(Value::Null) => DEFAULT_CORS_MAX_AGE,
            Some(v) => match v.as_u64() {
                Some(n) if n <= u64::from(MAX_CORS_MAX_AGE) => n as u32,
                _ => {
                    problems.push((
                        "max_age".into(),
                        format!("must be whole seconds from 0 to {MAX_CORS_MAX_AGE}"),
                    ));
                    DEFAULT_CORS_MAX_AGE
                }
            },
        };
        let allow_origins = allow_origins.unwrap_or_default();
        if allow_credentials && allow_origins.iter().any(|o| o == "*") {
            problems.push((
                "allow_credentials".into(),
                "cannot be true with `*` origins (any site could make credentialed requests); \
                 list the origins"
                    .into(),
            ));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Cors {
            allow_origins,
            allow_methods,
            allow_headers,
            allow_credentials,
            expose_headers,
            max_age,
        })
    }
}

/// A list of strings under `field`, each checked (and possibly normalised) by `check`.
fn list(
    map: &Mapping,
    field: &str,
    problems: &mut Vec<(String, String)>,
    check: fn(&str) -> Result<String, String>,
) -> Option<Vec<String>> {
    let items = match map.get(field)? {
        Value::Null => return None,
        Value::Sequence(items) => items,
        _ => {
            problems.push((field.into(), "must be a list of strings".into()));
            return None;
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item
            .as_str()
            .ok_or_else(|| "must be a string".to_owned())
            .and_then(check)
        {
            Ok(v) => out.push(v),
            Err(why) => problems.push((field.into(), format!("entry {i} {why}"))),
        }
    }
    Some(out)
}

fn check_origin(origin: &str) -> Result<String, String> {
    if origin == "*" {
        return Ok(origin.into());
    }
    let valid = ["http://", "https://"]
        .iter()
        .find_map(|scheme| origin.strip_prefix(scheme))
        .is_some_and(|host| {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        });
    if valid {
        Ok(origin.to_ascii_lowercase())
    } else {
        Err(format!(
            "{origin:?} is not an origin like https://app.example.com (scheme and host, no path)"
        ))
    }
}

fn check_method(method: &str) -> Result<String, String> {
    if method == "*" {
        return Ok(method.into());
    }
    Method::parse(method)
        .map(|m| m.as_str().to_owned())
        .ok_or_else(|| format!("{method:?} is not an HTTP method"))
}

fn check_header(name: &str) -> Result<String, String> {
    if name == "*" {
        return Ok(name.into());
    }
    http::HeaderName::from_bytes(name.as_bytes())
        .map(|h| h.as_str().to_owned())
        .map_err(|_| format!("{name:?} is not a header name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(yaml: &str) -> Result<Cors, Vec<(String, String)>> {
        Cors::from_value(&serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn absent_lists_default_to_any_method_and_no_extra_headers() {
        let c = cors("{allow_origins: ['https://App.example.com']}").unwrap();
        assert_eq!(c.allow_origins, ["https://app.example.com"]);
        assert!(c.allows_method("DELETE"));
        assert!(!c.allows_header("x-custom"));
        assert!(c.allows_header("Content-Type"), "safelisted");
        assert_eq!(c.max_age, DEFAULT_CORS_MAX_AGE);
    }

    #[test]
    fn credentials_with_any_origin_are_refused() {
        let problems = cors("{allow_origins: ['*'], allow_credentials: true}").unwrap_err();
        assert_eq!(problems[0].0, "allow_credentials");
    }

    #[test]
    fn an_origin_with_a_path_is_refused() {
        let problems = cors("{allow_origins: ['https://a.example/x']}").unwrap_err();
        assert!(problems[0].1.contains("no path"), "{problems:?}");
    }
}
