//! A route's configured headers as they go upstream: `os.environ/` references resolved and
//! LiteLLM's langfuse key pair joined, once when a table is built, never per request.

use http::{HeaderName, HeaderValue};
use passthru_routes::Route;

/// A route's configured headers with `os.environ/` resolved, or why the route cannot be served.
pub type ResolvedHeaders = Result<Vec<(HeaderName, HeaderValue)>, String>;

/// LiteLLM's langfuse pair: the two route headers become one
/// `Authorization: Basic base64(public:secret)`, as Langfuse's API wants.
const LANGFUSE_PUBLIC: &str = "langfuse_public_key";
const LANGFUSE_SECRET: &str = "langfuse_secret_key";

/// The headers `route` sends upstream, with each `os.environ/NAME` read through `env`.
pub fn resolve_headers(route: &Route, env: &impl Fn(&str) -> Option<String>) -> ResolvedHeaders {
    let mut out = Vec::with_capacity(route.headers.len());
    let unset = |name: &str, var: String| {
        format!(
            "header `{name}` reads os.environ/{var}, which is not set in the proxy's environment"
        )
    };
    let resolve = |name: &str| {
        route
            .headers
            .get(name)
            .map(|t| t.resolve(env).map_err(|var| unset(name, var)))
    };
    match (resolve(LANGFUSE_PUBLIC), resolve(LANGFUSE_SECRET)) {
        (None, None) => {}
        (Some(public), Some(secret)) => {
            use base64::Engine;
            let pair = format!("{}:{}", public?, secret?);
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            let value = HeaderValue::from_str(&format!("Basic {basic}"))
                .map_err(|_| "the langfuse key pair is not a valid header value".to_owned())?;
            out.push((http::header::AUTHORIZATION, value));
        }
        _ => {
            return Err(format!(
                "sets only one of `{LANGFUSE_PUBLIC}` and `{LANGFUSE_SECRET}`; LiteLLM's langfuse pair needs both"
            ))
        }
    }
    for (name, template) in &route.headers {
        if name == LANGFUSE_PUBLIC || name == LANGFUSE_SECRET {
            continue;
        }
        let value = template.resolve(env).map_err(|var| unset(name, var))?;
        let value = HeaderValue::from_str(&value).map_err(|_| {
            format!(
                "header `{name}`: os.environ/{} holds a value that is not a valid header value",
                template.env_var().unwrap_or_default()
            )
        })?;
        let name = HeaderName::from_bytes(name.as_bytes()).expect("validated by the loader");
        out.push((name, value));
    }
    Ok(out)
}
