//! LiteLLM 1.110.2's access decisions turned into `keys` entries: which keys are accepted at
//! all, which are admins, and which `auth: true` routes each may use. The rules and the cases
//! that pin them are in `tests/litellm/ACCESS_MODEL.md` (derived by running LiteLLM).
//!
//! What LiteLLM decides per request from the key's row, its team's row and its user's role is
//! decided here once per read, so the proxy only matches paths:
//!
//! * blocked keys, expired keys and keys of blocked teams are left out (LiteLLM: 401), and so
//!   are keys whose team row does not exist (LiteLLM: 404);
//! * a key whose user has `user_role = 'proxy_admin'`, and the master key, are `admin`;
//! * `allow` is the key's `metadata.allowed_passthrough_routes` when it is non-empty, else its
//!   team's, else empty (no grant: LiteLLM answers 403); `deny` is the key's list followed by its
//!   team's; `only` is the key's `allowed_routes` column when it is non-empty;
//! * a rotated key (`"LiteLLM_DeprecatedVerificationToken"`) is accepted until its `revoke_at`
//!   with the grants of the key it was rotated into.
//!
//! Malformed metadata (a list that is not a list of strings, or too long) fails closed: the key
//! keeps no grant at all and is refused on every `auth: true` route, with a report naming it.
//! A team's malformed metadata is reported once, naming the team, and all its keys keep no grant.

use std::collections::HashMap;
use std::time::SystemTime;

use passthru_routes::{check_grant_list, Grants, GrantsInterner, KeyHash, MAX_GRANT_ENTRIES};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{a_json_type, short_hash};
use crate::snapshot::Snapshot;

/// One `"LiteLLM_VerificationToken"` row, as far as access goes.
#[derive(Debug, Clone, Default)]
pub struct TokenRow {
    /// sha256 hex of the key.
    pub token: String,
    pub metadata: Option<Value>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub blocked: Option<bool>,
    pub expires: Option<SystemTime>,
    pub allowed_routes: Vec<String>,
}

/// One `"LiteLLM_TeamTable"` row.
#[derive(Debug, Clone, Default)]
pub struct TeamRow {
    pub team_id: String,
    pub metadata: Option<Value>,
    pub blocked: Option<bool>,
}

/// One `"LiteLLM_DeprecatedVerificationToken"` row: the old key's hash, the key it was rotated
/// into, and the end of its grace period.
#[derive(Debug, Clone)]
pub struct DeprecatedRow {
    pub token: String,
    pub active_token_id: String,
    pub revoke_at: SystemTime,
}

/// Everything one read returned that decides access.
#[derive(Debug, Default)]
pub struct AccessRows {
    pub tokens: Vec<TokenRow>,
    pub teams: Vec<TeamRow>,
    /// `user_id`s whose `user_role` is `proxy_admin`.
    pub admin_users: Vec<String>,
    pub deprecated: Vec<DeprecatedRow>,
    /// `general_settings.master_key`, the raw key (written to the table only as its sha256).
    pub master_key: Option<String>,
}

/// LiteLLM's `allowed_routes` groups that cover `auth: true` pass-through routes.
const PASS_THROUGH_GROUPS: &[&str] = &["llm_api_routes", "openai_routes"];

/// Adds every key LiteLLM would accept to `snapshot`, with its grants.
pub fn add_keys(rows: &AccessRows, now: SystemTime, snapshot: &mut Snapshot) {
    // Each team's lists are read once; a team whose lists cannot be read is reported once, by
    // name, and its keys keep no grant.
    let mut teams: HashMap<&str, (&TeamRow, Option<TeamLists>)> =
        HashMap::with_capacity(rows.teams.len());
    for team in &rows.teams {
        let lists = match team_lists(team) {
            Ok(lists) => Some(lists),
            Err(why) => {
                snapshot.skip(
                    format!("\"LiteLLM_TeamTable\" team_id {:?}", team.team_id),
                    format!(
                        "{why}; its keys keep no grant and are refused on every auth: true route"
                    ),
                );
                None
            }
        };
        teams.insert(team.team_id.as_str(), (team, lists));
    }
    let admins: std::collections::HashSet<&str> =
        rows.admin_users.iter().map(String::as_str).collect();
    let mut interner = GrantsInterner::default();
    let mut accepted: HashMap<&str, KeyHash> = HashMap::with_capacity(rows.tokens.len());

    if let Some(master) = rows.master_key.as_deref().filter(|m| !m.is_empty()) {
        let admin = Grants {
            admin: true,
            ..Grants::default()
        };
        snapshot.add_key(
            KeyHash::new(Sha256::digest(master.as_bytes()).into(), None)
                .with_grants(admin, &mut interner),
        );
    }
    for row in &rows.tokens {
        let name = || {
            format!(
                "\"LiteLLM_VerificationToken\" token {}",
                short_hash(&row.token)
            )
        };
        let sha256 = match KeyHash::parse_hex(row.token.trim()) {
            Ok(sha256) => sha256,
            Err(why) => {
                snapshot.skip(name(), why);
                continue;
            }
        };
        if row.blocked == Some(true) || row.expires.is_some_and(|t| t <= now) {
            continue;
        }
        let team = match row.team_id.as_deref() {
            None => None,
            Some(id) => match teams.get(id) {
                Some((team, _)) if team.blocked == Some(true) => continue,
                Some((_, lists)) => Some(lists.as_ref()),
                None => {
                    snapshot.skip(
                        name(),
                        format!(
                            "its team {id:?} has no \"LiteLLM_TeamTable\" row; LiteLLM refuses the key (404), so does passthru"
                        ),
                    );
                    continue;
                }
            },
        };
        let admin = row.user_id.as_deref().is_some_and(|u| admins.contains(u));
        let grants = match grants_of(row, team, admin) {
            Ok(Some(grants)) => grants,
            // Its team's lists are unreadable: reported once, with the team.
            Ok(None) => Grants {
                allow: Some(Vec::new()),
                ..Grants::default()
            },
            Err(why) => {
                snapshot.skip(
                    name(),
                    format!(
                        "{why}; the key keeps no grant and is refused on every auth: true route"
                    ),
                );
                Grants {
                    allow: Some(Vec::new()),
                    ..Grants::default()
                }
            }
        };
        let key = KeyHash::new(sha256, row.expires).with_grants(grants, &mut interner);
        accepted.insert(row.token.trim(), key);
    }
    for old in &rows.deprecated {
        if old.revoke_at <= now {
            continue;
        }
        let Some(active) = accepted.get(old.active_token_id.trim()) else {
            continue;
        };
        let Ok(sha256) = KeyHash::parse_hex(old.token.trim()) else {
            snapshot.skip(
                format!(
                    "\"LiteLLM_DeprecatedVerificationToken\" token {}",
                    short_hash(&old.token)
                ),
                "is not a sha256 hex digest".into(),
            );
            continue;
        };
        let expires = Some(
            active
                .expires
                .map_or(old.revoke_at, |t| t.min(old.revoke_at)),
        );
        let mut key = KeyHash::new(sha256, expires);
        key.grants = active.grants.clone();
        snapshot.add_key(key);
    }
    for key in accepted.into_values() {
        snapshot.add_key(key);
    }
}

/// A team's allow and deny lists.
struct TeamLists {
    allow: Option<Vec<String>>,
    deny: Vec<String>,
}

fn team_lists(team: &TeamRow) -> Result<TeamLists, String> {
    let meta = metadata(team.metadata.as_ref(), "metadata")?;
    let list = |field: &str| {
        route_list(
            meta.and_then(|m| m.get(field)),
            &format!("metadata {field}"),
        )
    };
    Ok(TeamLists {
        allow: list("allowed_passthrough_routes")?,
        deny: list("denied_passthrough_routes")?.unwrap_or_default(),
    })
}

/// The grants LiteLLM applies to this key, `None` when its team's lists could not be read (the
/// key then keeps no grant), or why the key's own metadata cannot be read. `team` is `None` for
/// a key without a team.
fn grants_of(
    row: &TokenRow,
    team: Option<Option<&TeamLists>>,
    admin: bool,
) -> Result<Option<Grants>, String> {
    let team = match team {
        Some(None) => return Ok(None),
        Some(Some(lists)) => Some(lists),
        None => None,
    };
    let key_meta = metadata(row.metadata.as_ref(), "the key's metadata")?;
    let list = |field: &str| {
        route_list(
            key_meta.and_then(|m| m.get(field)),
            &format!("the key's {field}"),
        )
    };
    let key_allow = list("allowed_passthrough_routes")?;
    let mut deny = list("denied_passthrough_routes")?.unwrap_or_default();
    deny.extend(team.map(|t| t.deny.iter().cloned()).into_iter().flatten());
    check_grant_list(&deny).map_err(|why| format!("the deny lists of key and team {why}"))?;
    let only = match row.allowed_routes.as_slice() {
        [] => None,
        groups
            if groups
                .iter()
                .any(|g| PASS_THROUGH_GROUPS.contains(&g.as_str())) =>
        {
            None
        }
        entries => {
            check_grant_list(entries).map_err(|why| format!("allowed_routes {why}"))?;
            Some(entries.to_vec())
        }
    };
    let team_allow = team.and_then(|t| t.allow.clone());
    Ok(Some(Grants {
        admin,
        allow: Some(key_allow.or(team_allow).unwrap_or_default()),
        deny,
        only,
    }))
}

/// A metadata column: an object, or nothing (NULL, `{}`).
fn metadata<'v>(
    value: Option<&'v Value>,
    what: &str,
) -> Result<Option<&'v serde_json::Map<String, Value>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(format!(
            "{what} is {}, not a JSON object",
            a_json_type(other)
        )),
    }
}

/// A route list as LiteLLM reads it: `None` when falsy (absent, null, `[]`, `""`), which makes
/// the team's list apply; an error for anything but a list of strings.
fn route_list(value: Option<&Value>, what: &str) -> Result<Option<Vec<String>>, String> {
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::Array(items)) if items.is_empty() => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(format!(
                "{what} is {}, not a list of paths",
                a_json_type(other)
            ))
        }
    };
    // Counted before anything is copied: a list of a million entries is refused as it is.
    if items.len() > MAX_GRANT_ENTRIES {
        return Err(format!(
            "{what} has {} entries; at most {MAX_GRANT_ENTRIES}",
            items.len()
        ));
    }
    let list = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!(
                "{what} entry {i} is {}, not a path",
                a_json_type(other)
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_grant_list(&list).map_err(|why| format!("{what} {why}"))?;
    Ok(Some(list))
}

#[cfg(test)]
mod tests {
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
            skipped[0].starts_with("\"LiteLLM_TeamTable\" team_id \"bad\": metadata denied_passthrough_routes is a string"),
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
}
