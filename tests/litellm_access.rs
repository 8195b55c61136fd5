//! The LiteLLM sidecar decides who may call what exactly as LiteLLM 1.110.2 does, case for case.
//!
//! `tests/litellm/access_cases.json` holds LiteLLM's own answers: `derive_access_cases.py`
//! ran LiteLLM's proxy app on each case (the command is in the file). Here each case goes the
//! way a request goes through passthru: its rows through the sidecar's reading of LiteLLM's
//! tables (`litellm::snapshot_of`), the table through the proxy's routing and auth decision
//! (`route_request`). Every status must be LiteLLM's, except the few listed in [`DIFFERENT`],
//! where passthru refuses what LiteLLM refuses with another status or refuses more; each is
//! pinned to passthru's answer and its reason.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use passthru_proxy::routing::route_request;
use passthru_proxy::serving_table::ServingTable;
use passthru_routes::RouteTable;
use passthru_sync::source::litellm::{snapshot_of, Settings};
use passthru_sync::source::litellm_access::{AccessRows, DeprecatedRow, TeamRow, TokenRow};
use pingora::http::RequestHeader;
use serde_json::Value;

/// (case, passthru's status, why passthru differs). Every entry refuses at least as much as
/// LiteLLM does.
const DIFFERENT: &[(&str, u16, &str)] = &[
    (
        "path_encoded_slash_denied",
        400,
        "an encoded '/' in a path is refused before routing (no split view between proxy and upstream)",
    ),
    (
        "path_encoded_dotdot_vs_allow",
        403,
        "LiteLLM lets `/acme/v1/%2e%2e/admin` through on an allow of /acme/v1 though the upstream gets \
         /acme/admin; passthru requires the allow entry to match the path it forwards too",
    ),
    (
        "no_master_key_configured_any_key",
        401,
        "LiteLLM without a master key runs unauthenticated; passthru never accepts an unknown key",
    ),
    (
        "key_team_row_missing_key_allows",
        401,
        "a key whose team row is gone is left out of the table, so it is unknown (LiteLLM: 404)",
    ),
    (
        "key_team_row_missing_no_allow",
        401,
        "a key whose team row is gone is left out of the table, so it is unknown (LiteLLM: 404)",
    ),
    (
        "auth_false_subpath_valid_key_no_lists",
        403,
        "below an `auth: false` path a key needs a grant; passthru says 403 like any missing grant \
         (LiteLLM: 401 'Only proxy admin ...')",
    ),
    (
        "auth_false_subpath_valid_key_deny_root",
        403,
        "below an `auth: false` path a key needs a grant; passthru says 403 like any missing grant \
         (LiteLLM: 401 'Only proxy admin ...')",
    ),
    (
        "auth_false_subpath_allow_and_deny",
        403,
        "below an `auth: false` path LiteLLM ignores deny lists; passthru applies them as everywhere",
    ),
    (
        "malformed_allow_non_string_entry_first",
        403,
        "malformed metadata fails closed: the key keeps no grant (LiteLLM: 401 from a Python TypeError)",
    ),
    (
        "malformed_allow_non_string_entry_after_match",
        403,
        "malformed metadata fails closed: the key keeps no grant (LiteLLM: 200 when an earlier entry matches)",
    ),
    (
        "malformed_allow_is_object",
        403,
        "malformed metadata fails closed: an object is not a list (LiteLLM iterates its keys)",
    ),
    (
        "malformed_deny_non_string_entry",
        403,
        "malformed metadata fails closed: the key keeps no grant (LiteLLM: 401 from a Python error)",
    ),
];

fn cases() -> Vec<Value> {
    let path = passthru_tests::repo_root().join("tests/litellm/access_cases.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    assert_eq!(doc["litellm_version"], "1.110.2");
    doc["cases"].as_array().unwrap().clone()
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// `"past"` / `"future"` as instants a day away from `now`.
fn when(v: &Value, now: SystemTime) -> Option<SystemTime> {
    let day = Duration::from_secs(86_400);
    match v.as_str() {
        Some("past") => Some(now - day),
        Some("future") => Some(now + day),
        None => None,
        Some(other) => panic!("unexpected time {other:?}"),
    }
}

fn access_rows(case: &Value, now: SystemTime) -> AccessRows {
    let list = |field: &str| case[field].as_array().cloned().unwrap_or_default();
    AccessRows {
        tokens: list("keys")
            .iter()
            .map(|k| TokenRow {
                token: text(&k["token"]).unwrap(),
                metadata: Some(k["metadata"].clone()).filter(|m| !m.is_null()),
                team_id: text(&k["team_id"]),
                user_id: text(&k["user_id"]),
                blocked: k["blocked"].as_bool(),
                expires: when(&k["expires"], now),
                allowed_routes: k["allowed_routes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(text).collect())
                    .unwrap_or_default(),
            })
            .collect(),
        teams: list("teams")
            .iter()
            .map(|t| TeamRow {
                team_id: text(&t["team_id"]).unwrap(),
                metadata: Some(t["metadata"].clone()).filter(|m| !m.is_null()),
                blocked: t["blocked"].as_bool(),
            })
            .collect(),
        admin_users: list("users")
            .iter()
            .filter(|u| u["user_role"] == "proxy_admin")
            .filter_map(|u| text(&u["user_id"]))
            .collect(),
        deprecated: list("deprecated_tokens")
            .iter()
            .map(|d| DeprecatedRow {
                token: text(&d["token"]).unwrap(),
                active_token_id: text(&d["active_token_id"]).unwrap(),
                revoke_at: when(&d["revoke_at"], now).unwrap(),
            })
            .collect(),
        master_key: None,
    }
}

/// The endpoint as LiteLLM's `general_settings.pass_through_endpoints` holds it.
fn endpoint(case: &Value) -> Value {
    let mut route = case["route"].clone();
    route["target"] = "http://127.0.0.1:9/upstream".into();
    route
}

/// passthru's answer to the case: 200 when the request would go upstream.
fn passthru_status(case: &Value) -> u16 {
    let now = SystemTime::now();
    let mut access = access_rows(case, now);
    let general = &case["general_settings"];
    access.master_key = text(&general["master_key"]);
    let settings = Settings {
        endpoints: vec![endpoint(case)],
        key_header_name: text(&general["litellm_key_header_name"]),
        ..Settings::default()
    };
    let (file, _skipped) = snapshot_of(settings, &access, now, Default::default()).into_file();
    let table = ServingTable::build(RouteTable::new(file), 1, [0; 32], |_| None);
    let request = &case["request"];
    let mut req = RequestHeader::build(
        request["method"].as_str().unwrap(),
        request["path"].as_str().unwrap().as_bytes(),
        None,
    )
    .unwrap();
    for (name, value) in request["headers"].as_object().unwrap() {
        req.append_header(name.clone(), value.as_str().unwrap())
            .unwrap();
    }
    match route_request(&table, &req, &mut String::new()) {
        Ok(_) => 200,
        Err(refusal) => refusal.status,
    }
}

#[test]
fn every_litellm_case_gets_litellms_status_or_a_pinned_stricter_one() {
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let different: HashMap<&str, (u16, &str)> = DIFFERENT
        .iter()
        .map(|(n, s, why)| (*n, (*s, *why)))
        .collect();
    let mut mismatches = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let litellm = case["expected"]["status"].as_u64().unwrap() as u16;
        let ours = passthru_status(case);
        let expected = match different.get(name) {
            Some((pinned, _)) => *pinned,
            None => litellm,
        };
        if ours != expected {
            mismatches.push(format!(
                "{name}: passthru {ours}, expected {expected} (LiteLLM {litellm})"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn every_pinned_difference_refuses_at_least_what_litellm_refuses() {
    let cases = cases();
    for (name, status, why) in DIFFERENT {
        let case = cases
            .iter()
            .find(|c| c["name"] == *name)
            .unwrap_or_else(|| panic!("no case {name}"));
        let litellm = case["expected"]["status"].as_u64().unwrap();
        assert!(
            *status >= 400 || litellm == 200,
            "{name}: passthru answers {status} where LiteLLM refuses with {litellm}"
        );
        assert!(!why.is_empty());
    }
}
