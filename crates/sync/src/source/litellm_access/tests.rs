//! The access rules against the cases of `tests/litellm/ACCESS_MODEL.md`.

use super::*;
use serde_json::json;
use std::time::Duration;

const KEY: &str = "82dae6d443609cfcb4e698af21391e5132c679ce83b37086ada791a0fb2a43ee";

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn keys(rows: &AccessRows) -> (Vec<KeyHash>, Vec<String>) {
    let mut snapshot = Snapshot::default();
    add_keys(rows, now(), &mut snapshot);
    let skipped = snapshot.skipped.iter().map(|s| s.to_string()).collect();
    (snapshot.keys().to_vec(), skipped)
}

fn token_row(metadata: Value) -> TokenRow {
    TokenRow {
        token: KEY.into(),
        metadata: Some(metadata),
        ..TokenRow::default()
    }
}

#[test]
fn a_non_empty_key_list_shadows_the_team_list_and_deny_lists_add_up() {
    let rows = AccessRows {
        tokens: vec![TokenRow {
            team_id: Some("t".into()),
            ..token_row(
                json!({"allowed_passthrough_routes": ["/a"], "denied_passthrough_routes": ["/a/x"]}),
            )
        }],
        teams: vec![TeamRow {
            team_id: "t".into(),
            metadata: Some(
                json!({"allowed_passthrough_routes": ["/b"], "denied_passthrough_routes": ["/a/y"]}),
            ),
            blocked: None,
        }],
        ..AccessRows::default()
    };
    let (keys, _) = keys(&rows);
    let g = keys[0].grants();
    assert_eq!(g.allow, Some(vec!["/a".to_owned()]));
    assert_eq!(g.deny, vec!["/a/x".to_owned(), "/a/y".to_owned()]);
}

#[test]
fn malformed_metadata_fails_closed_and_is_reported() {
    for metadata in [
        json!({"allowed_passthrough_routes": "/a"}),
        json!({"allowed_passthrough_routes": ["/a", 7]}),
        json!({"denied_passthrough_routes": {"/a": true}}),
        json!("not an object"),
    ] {
        let (keys, skipped) = keys(&AccessRows {
            tokens: vec![token_row(metadata.clone())],
            ..AccessRows::default()
        });
        assert_eq!(keys[0].grants().allow, Some(vec![]), "{metadata}");
        assert!(!keys[0].grants().admin);
        assert!(skipped[0].contains("82dae6d44360"), "{skipped:?}");
    }
}

#[test]
fn a_team_with_malformed_metadata_is_reported_once_and_its_keys_keep_no_grant() {
    let member = |token: &str| TokenRow {
        token: token.into(),
        team_id: Some("bad".into()),
        ..token_row(json!({"allowed_passthrough_routes": ["/a"]}))
    };
    let rows = AccessRows {
        tokens: vec![member(KEY), member(&"1".repeat(64))],
        teams: vec![TeamRow {
            team_id: "bad".into(),
            metadata: Some(json!({"denied_passthrough_routes": "/a"})),
            blocked: None,
        }],
        ..AccessRows::default()
    };
    let (keys, skipped) = keys(&rows);
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.grants().allow == Some(vec![])));
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(
        skipped[0].starts_with(
            "\"LiteLLM_TeamTable\" team_id \"bad\": metadata denied_passthrough_routes is a string"
        ),
        "{skipped:?}"
    );
}

#[test]
fn blocked_expired_and_blocked_team_keys_are_left_out_and_a_missing_team_is_reported() {
    let past = now() - Duration::from_secs(1);
    let rows = AccessRows {
        tokens: vec![
            TokenRow {
                blocked: Some(true),
                ..token_row(json!({}))
            },
            TokenRow {
                expires: Some(past),
                ..token_row(json!({}))
            },
            TokenRow {
                team_id: Some("blocked".into()),
                ..token_row(json!({}))
            },
            TokenRow {
                team_id: Some("gone".into()),
                ..token_row(json!({}))
            },
        ],
        teams: vec![TeamRow {
            team_id: "blocked".into(),
            metadata: None,
            blocked: Some(true),
        }],
        ..AccessRows::default()
    };
    let (keys, skipped) = keys(&rows);
    assert!(keys.is_empty());
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].contains("\"gone\""));
}

#[test]
fn a_rotated_key_lives_until_revoke_at_with_the_active_key_grants() {
    let old = "5178e7b4d2cfd97ede764b3f930aeda4e71e12552631a9d5b95f4b604582cea4";
    let revoke_at = now() + Duration::from_secs(3600);
    let rows = AccessRows {
        tokens: vec![token_row(json!({"allowed_passthrough_routes": ["/a"]}))],
        deprecated: vec![
            DeprecatedRow {
                token: old.into(),
                active_token_id: KEY.into(),
                revoke_at,
            },
            DeprecatedRow {
                token: "0".repeat(64),
                active_token_id: KEY.into(),
                revoke_at: now(),
            },
        ],
        ..AccessRows::default()
    };
    let (keys, _) = keys(&rows);
    assert_eq!(keys.len(), 2);
    let rotated = keys.iter().find(|k| k.hex() == old).unwrap();
    assert_eq!(rotated.expires, Some(revoke_at));
    assert_eq!(rotated.grants().allow, Some(vec!["/a".to_owned()]));
}

#[test]
fn the_master_key_and_proxy_admins_are_admins() {
    let rows = AccessRows {
        tokens: vec![TokenRow {
            user_id: Some("u".into()),
            ..token_row(json!({}))
        }],
        admin_users: vec!["u".into()],
        master_key: Some("sk-master".into()),
        ..AccessRows::default()
    };
    let (keys, _) = keys(&rows);
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.grants().admin));
}

#[test]
fn allowed_routes_limits_unless_it_names_the_pass_through_group() {
    let with = |routes: &[&str]| {
        let (keys, _) = keys(&AccessRows {
            tokens: vec![TokenRow {
                allowed_routes: routes.iter().map(|s| s.to_string()).collect(),
                ..token_row(json!({}))
            }],
            ..AccessRows::default()
        });
        keys[0].grants().only.clone()
    };
    assert_eq!(with(&[]), None);
    assert_eq!(with(&["llm_api_routes"]), None);
    assert_eq!(
        with(&["/chat/completions"]),
        Some(vec!["/chat/completions".to_owned()])
    );
}
