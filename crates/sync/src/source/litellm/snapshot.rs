//! The table LiteLLM would serve from one read: its endpoints as it serves them (default methods
//! and timeout, `auth: false` subpaths open at their exact path only), its CORS policy, and
//! every key it would accept.

use std::time::SystemTime;

use passthru_routes::{Cors, MethodSet, StableId};
use serde_json::Value;

use super::settings::Settings;
use super::tolerate::{tolerate, Tolerated};
use crate::snapshot::{SkipKind, Snapshot, ValidatedRoutes};
use crate::source::litellm_access::{add_keys, AccessRows};

/// The routes and keys of one read of LiteLLM's tables: the endpoints as LiteLLM serves them,
/// and every key LiteLLM would accept with what it may use ([`crate::source::litellm_access`]).
/// Endpoints that `previous` validated are not validated again.
pub fn snapshot_of(
    settings: Settings,
    access: &AccessRows,
    now: SystemTime,
    previous: ValidatedRoutes,
) -> Snapshot {
    let mut snapshot = Snapshot::reusing(previous);
    for (i, entry) in settings.endpoints.into_iter().enumerate() {
        let row = format!("pass_through_endpoints[{i}]");
        // Reports about a row that is still served name its path too.
        let named = match entry.get("path").and_then(Value::as_str) {
            Some(path) => format!("{row} (path {path})"),
            None => row.clone(),
        };
        let Tolerated {
            entry,
            ignored,
            unenforceable,
        } = tolerate(entry);
        if let Some(why) = unenforceable {
            snapshot.report(named, why, SkipKind::Unenforceable);
            continue;
        }
        for why in ignored {
            snapshot.report(named.clone(), why, SkipKind::FieldIgnored);
        }
        let entry = with_default_timeout(entry, settings.default_timeout.as_ref());
        add_endpoint(&mut snapshot, row, entry);
    }
    add_keys(access, now, &mut snapshot);
    // LiteLLM refuses any key but its master key that does not start with `sk-`.
    snapshot.set_key_prefix("sk-");
    let cors = litellm_cors(
        std::env::var("LITELLM_CORS_ORIGINS").ok().as_deref(),
        std::env::var("LITELLM_CORS_ALLOW_CREDENTIALS")
            .ok()
            .as_deref(),
        &mut snapshot,
    );
    if let Some(cors) = cors {
        snapshot.set_cors(cors);
    }
    match settings.key_header_name {
        Some(name) if http::HeaderName::from_bytes(name.as_bytes()).is_ok() => {
            snapshot.set_key_header_name(name)
        }
        Some(name) => snapshot.skip(
            "\"LiteLLM_Config\" general_settings".into(),
            format!("litellm_key_header_name {name:?} is not a header name; keys sent in it are refused"),
        ),
        None => {}
    }
    snapshot
}

/// LiteLLM's CORS policy (`proxy_server.py` `_get_cors_config`), from the same variables in the
/// sidecar's environment: any origin unless `LITELLM_CORS_ORIGINS` lists some, any method and
/// header, credentials only for listed origins unless `LITELLM_CORS_ALLOW_CREDENTIALS` says.
/// passthru never allows credentials with any origin (LiteLLM warns against it): that
/// combination is written without credentials, with a report.
fn litellm_cors(
    origins: Option<&str>,
    credentials: Option<&str>,
    snapshot: &mut Snapshot,
) -> Option<Cors> {
    let origins: Vec<String> = match origins.map(str::trim).filter(|o| !o.is_empty()) {
        None => vec!["*".into()],
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let any = origins.iter().any(|o| o == "*");
    let mut allow_credentials = match credentials {
        Some(v) => v.trim().eq_ignore_ascii_case("true"),
        None => !any,
    };
    let row = "LITELLM_CORS_ALLOW_CREDENTIALS".to_owned();
    if allow_credentials && any {
        allow_credentials = false;
        snapshot.report(
            row.clone(),
            "credentials with any origin would let every site make credentialed requests; \
             written without credentials (list the origins in LITELLM_CORS_ORIGINS)"
                .into(),
            SkipKind::FieldIgnored,
        );
    }
    let policy = serde_json::json!({
        "allow_origins": origins,
        "allow_methods": ["*"],
        "allow_headers": ["*"],
        "allow_credentials": allow_credentials,
    });
    let value = serde_yaml::to_value(&policy).expect("JSON converts to YAML");
    match Cors::from_value(&value) {
        Ok(cors) => Some(cors),
        Err(problems) => {
            let why = problems
                .into_iter()
                .map(|(field, why)| format!("{field} {why}"))
                .collect::<Vec<_>>()
                .join("; ");
            snapshot.report(
                "LITELLM_CORS_ORIGINS".into(),
                format!("{why}; no CORS headers are sent"),
                SkipKind::FieldIgnored,
            );
            None
        }
    }
}

/// One endpoint. LiteLLM opens an `auth: false` endpoint only at its exact path; below it a
/// request needs a key with a grant (ACCESS_MODEL.md §6). So a subpath endpoint with
/// `auth: false` becomes two routes, as if it were two rows: the exact path without a key, and
/// everything below it with one (an explicit id gets `-subpath` on the second).
fn add_endpoint(snapshot: &mut Snapshot, row: String, entry: Value) {
    let open_subpaths = entry.get("auth") == Some(&Value::Bool(false))
        && entry.get("include_subpath") == Some(&Value::Bool(true));
    if !open_subpaths {
        let mut entry = entry;
        with_litellm_methods(&mut entry);
        snapshot.add_route_json(row, &entry);
        return;
    }
    let mut exact = entry.clone();
    exact["include_subpath"] = Value::Bool(false);
    with_litellm_methods(&mut exact);
    snapshot.add_route_json(row.clone(), &exact);
    let mut below = entry;
    below["auth"] = Value::Bool(true);
    if let Some(id) = below.get("id").and_then(Value::as_str) {
        below["id"] = Value::String(format!("{id}-subpath"));
    }
    with_litellm_methods(&mut below);
    snapshot.add_route_json(format!("{row} (below its path)"), &below);
}

/// The methods LiteLLM registers for an endpoint that lists none (HEAD, OPTIONS and the rest
/// get 405 there).
pub const LITELLM_DEFAULT_METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];

/// An endpoint without `methods` serves LiteLLM's five. Its id stays the one derived from the
/// row as stored (no methods), so adopting this changes no id.
fn with_litellm_methods(entry: &mut Value) {
    let Value::Object(map) = entry else {
        return;
    };
    let listed = match map.get("methods") {
        None | Some(Value::Null) => false,
        Some(Value::Array(list)) => !list.is_empty(),
        Some(_) => true,
    };
    if listed {
        return;
    }
    if map.get("id").map_or(true, Value::is_null) {
        let Some(path) = map.get("path").and_then(Value::as_str) else {
            return;
        };
        let subpath = map.get("include_subpath") == Some(&Value::Bool(true));
        let id = StableId::derive(path, MethodSet::default(), subpath);
        map.insert("id".into(), Value::String(id.to_string()));
    }
    map.insert(
        "methods".into(),
        Value::Array(
            LITELLM_DEFAULT_METHODS
                .iter()
                .map(|m| (*m).into())
                .collect(),
        ),
    );
}

/// An entry without its own `timeout` gets `pass_through_request_timeout`, as in LiteLLM.
fn with_default_timeout(mut entry: Value, default: Option<&Value>) -> Value {
    if let (Value::Object(map), Some(default)) = (&mut entry, default) {
        if map.get("timeout").map_or(true, Value::is_null) {
            map.insert("timeout".into(), default.clone());
        }
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_through_request_timeout_is_the_default_for_entries_without_one() {
        let s = Settings::parse(Some(
            r#"{"pass_through_request_timeout": 120, "pass_through_endpoints": [{"path": "/a", "timeout": null}, {"path": "/b", "timeout": 5}]}"#,
        ))
        .unwrap();
        let t = |e: &Value| {
            with_default_timeout(e.clone(), s.default_timeout.as_ref())["timeout"].clone()
        };
        assert_eq!(t(&s.endpoints[0]), serde_json::json!(120));
        assert_eq!(t(&s.endpoints[1]), serde_json::json!(5));
    }
}
