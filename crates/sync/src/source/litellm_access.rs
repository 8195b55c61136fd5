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
mod tests;
