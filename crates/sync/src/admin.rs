//! `passthru-sync routes add|list|rm` and `keys add|list|rm`: managing native rows without SQL.
//! Every added route is validated exactly as the daemon will validate it, and refused when it
//! would clash with a route already in the table.

use std::collections::BTreeMap;
use std::time::SystemTime;

use passthru_routes::{check_grant_list, Grants, KeyHash, Route, RoutesFile, Value};
use serde_json::Map;
use sha2::{Digest, Sha256};

use crate::database::Database;
use crate::error::SyncError;
use crate::snapshot::Snapshot;
use crate::source::native;

/// A route to add, as its routes.yaml fields; `None` leaves the column NULL (the default).
#[derive(Debug, Default, Clone)]
pub struct NewRoute {
    pub id: Option<String>,
    pub path: String,
    pub target: String,
    pub include_subpath: Option<bool>,
    pub methods: Vec<String>,
    pub headers: BTreeMap<String, String>,
    pub forward_headers: Option<bool>,
    pub default_query_params: BTreeMap<String, String>,
    pub timeout: Option<f64>,
    pub auth: Option<bool>,
}

impl NewRoute {
    fn to_json(&self) -> Map<String, serde_json::Value> {
        use serde_json::Value as J;
        let mut m = Map::new();
        if let Some(id) = &self.id {
            m.insert("id".into(), J::String(id.clone()));
        }
        m.insert("path".into(), J::String(self.path.clone()));
        m.insert("target".into(), J::String(self.target.clone()));
        if let Some(b) = self.include_subpath {
            m.insert("include_subpath".into(), J::Bool(b));
        }
        if !self.methods.is_empty() {
            m.insert("methods".into(), serde_json::json!(self.methods));
        }
        if !self.headers.is_empty() {
            m.insert("headers".into(), serde_json::json!(self.headers));
        }
        if let Some(b) = self.forward_headers {
            m.insert("forward_headers".into(), J::Bool(b));
        }
        if !self.default_query_params.is_empty() {
            m.insert(
                "default_query_params".into(),
                serde_json::json!(self.default_query_params),
            );
        }
        if let Some(t) = self.timeout {
            m.insert("timeout".into(), serde_json::json!(t));
        }
        if let Some(b) = self.auth {
            m.insert("auth".into(), J::Bool(b));
        }
        m
    }
}

/// Validates and inserts; returns the route as it will appear in the file (its id included).
pub async fn add_route(db: &Database, new: &NewRoute) -> Result<Route, SyncError> {
    let json = new.to_json();
    let yaml: Value = serde_yaml::to_value(&json).map_err(|e| SyncError::Invalid(e.to_string()))?;
    let route = Route::from_value(0, &yaml).map_err(|problems| {
        SyncError::Invalid(format!(
            "the route is not valid, nothing was added:\n  {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        ))
    })?;
    let read = native::read(db, SystemTime::now(), Default::default()).await?;
    let (current, _) = read.snapshot.into_file();
    let (mut routes, keys) = current.into_parts();
    let existing = routes.len();
    routes.push(route.clone());
    let (_, clashes) = RoutesFile::new_skipping_clashes(routes, keys);
    if let Some(clash) = clashes.iter().find(
        |p| matches!(&p.location, passthru_routes::Location::Route { index, .. } if *index == existing),
    ) {
        return Err(SyncError::Invalid(format!(
            "the route clashes with the current table, nothing was added: {}; `passthru-sync routes list` shows the table",
            clash.message
        )));
    }
    native::insert_route(db, &json).await?;
    Ok(route)
}

/// One row as `routes list` shows it.
pub struct ListedRoute {
    pub row_id: i64,
    pub route: Result<Route, String>,
}

pub async fn list_routes(db: &Database) -> Result<Vec<ListedRoute>, SyncError> {
    let mut out = Vec::new();
    for (row_id, value) in native::route_rows(db).await? {
        let route = value.and_then(|v| {
            let mut snapshot = Snapshot::default();
            snapshot.add_route_json(format!("row_id {row_id}"), &v);
            let (file, skipped) = snapshot.into_file();
            match skipped.first() {
                Some(skip) => Err(skip.reason.clone()),
                None => Ok(file.routes()[0].clone()),
            }
        });
        out.push(ListedRoute { row_id, route });
    }
    Ok(out)
}

/// Deletes the rows whose explicit or derived id is `id`; returns how many.
pub async fn remove_route(db: &Database, id: &str) -> Result<u64, SyncError> {
    let mut matching = Vec::new();
    for (row_id, value) in native::route_rows(db).await? {
        let explicit = value
            .as_ref()
            .ok()
            .and_then(|v| v.get("id"))
            .and_then(|v| v.as_str());
        let derived = value.as_ref().ok().and_then(|v| {
            serde_yaml::to_value(v)
                .ok()
                .and_then(|y| Route::from_value(0, &y).ok())
                .map(|r| r.id.to_string())
        });
        if explicit == Some(id) || derived.as_deref() == Some(id) {
            matching.push(row_id);
        }
    }
    if matching.is_empty() {
        return Err(SyncError::Invalid(format!(
            "no route has id {id}; `passthru-sync routes list` shows the ids"
        )));
    }
    native::delete_route_rows(db, &matching).await
}

/// Deletes one row by its `row_id`, whatever it holds.
pub async fn remove_route_row(db: &Database, row_id: i64) -> Result<(), SyncError> {
    match native::delete_route_rows(db, &[row_id]).await? {
        0 => Err(SyncError::Invalid(format!(
            "no route row has row_id {row_id}; `passthru-sync routes list` shows them"
        ))),
        _ => Ok(()),
    }
}

/// The sha256 hex a key is stored as (what LiteLLM stores in `"LiteLLM_VerificationToken".token`).
pub fn hash_key(raw_key: &str) -> String {
    hex::encode(Sha256::digest(raw_key.as_bytes()))
}

/// Adds a key with its access (`Grants::default()`: every `auth: true` route). The grants are
/// checked as the daemon checks them, and more strictly where a value could only be a mistake:
/// see [`check_new_grants`].
pub async fn add_key(
    db: &Database,
    sha256_hex: &str,
    expires: Option<&str>,
    note: Option<&str>,
    grants: &Grants,
) -> Result<(), SyncError> {
    let hex = sha256_hex.trim().to_ascii_lowercase();
    KeyHash::parse_hex(&hex).map_err(|why| SyncError::Invalid(format!("--sha256 {why}")))?;
    check_new_grants(grants)
        .map_err(|why| SyncError::Invalid(format!("{why}; nothing was added")))?;
    if let Some(text) = expires {
        humantime::parse_rfc3339_weak(text).map_err(|e| {
            SyncError::Invalid(format!(
                "--expires {text:?} is not a UTC time like 2027-01-31T00:00:00Z ({e})"
            ))
        })?;
    }
    native::insert_key(db, &hex, expires, note, grants).await
}

/// The grants of a key added by `keys add`, checked before anything is written. Refused, though
/// the daemon would read them: `--admin` with `--allow`/`--deny` (an admin ignores both), a path
/// that does not start with `/`, and an `--allow` ending in `*` (no wildcard in allow lists).
pub fn check_new_grants(grants: &Grants) -> Result<(), String> {
    if grants.admin && (grants.allow.is_some() || !grants.deny.is_empty()) {
        return Err(
            "--admin ignores --allow, --allow-none and --deny: an admin key may use every \
             auth: true route; leave them out, or limit the admin key with --only"
                .into(),
        );
    }
    let lists = [
        ("--allow", grants.allow.as_deref()),
        ("--deny", Some(grants.deny.as_slice())),
        ("--only", grants.only.as_deref()),
    ];
    for (flag, list) in lists {
        let Some(list) = list else { continue };
        check_grant_list(list).map_err(|why| format!("{flag} {why}"))?;
        for entry in list {
            if !entry.starts_with('/') {
                return Err(format!(
                    "{flag} {entry:?} is not a request path: paths start with '/', e.g. {flag} /cohere"
                ));
            }
        }
    }
    if let Some(entry) = grants
        .allow
        .iter()
        .flatten()
        .find(|entry| entry.ends_with('*'))
    {
        let base = entry.trim_end_matches('*').trim_end_matches('/');
        return Err(format!(
            "--allow {entry:?}: '*' has no special meaning in an allow list (as in LiteLLM), so it \
             would match only that literal path; --allow {} already allows every path below it",
            if base.is_empty() { "/" } else { base }
        ));
    }
    Ok(())
}

/// A key's access in one word or a few `field=[JSON list]` pairs, for `keys list`: `all`
/// (unscoped), `admin`, `allow=["/a"] deny=["/a/admin"]`, `allow=[]` (no route), `admin
/// only=["/x/*"]`.
pub fn describe_access(grants: &Grants) -> String {
    if grants.is_unscoped() {
        return "all".into();
    }
    let json = |list: &[String]| serde_json::Value::from(list.to_vec()).to_string();
    let mut parts = Vec::new();
    if grants.admin {
        parts.push("admin".to_owned());
    }
    if let Some(allow) = &grants.allow {
        parts.push(format!("allow={}", json(allow)));
    }
    if !grants.deny.is_empty() {
        parts.push(format!("deny={}", json(&grants.deny)));
    }
    if let Some(only) = &grants.only {
        parts.push(format!("only={}", json(only)));
    }
    parts.join(" ")
}

pub async fn remove_key(db: &Database, sha256_hex: &str) -> Result<u64, SyncError> {
    let hex = sha256_hex.trim().to_ascii_lowercase();
    match native::delete_key(db, &hex).await? {
        0 => Err(SyncError::Invalid(format!(
            "no key has sha256 {hex}; `passthru-sync keys list` shows them"
        ))),
        n => Ok(n),
    }
}

pub use native::{key_rows as list_keys, ListedKey};

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn keys_add_refuses_grants_that_can_only_be_a_mistake() {
        let ok = Grants {
            allow: Some(list(&["/a"])),
            deny: list(&["/a/admin", "/a/x*"]),
            only: Some(list(&["/a/*"])),
            admin: false,
        };
        assert_eq!(check_new_grants(&ok), Ok(()));
        let admin_and_allow = Grants {
            admin: true,
            ..ok.clone()
        };
        assert!(check_new_grants(&admin_and_allow)
            .unwrap_err()
            .contains("--admin ignores --allow"));
        let admin_only = Grants {
            admin: true,
            only: Some(list(&["/a"])),
            ..Grants::default()
        };
        assert_eq!(check_new_grants(&admin_only), Ok(()));
        let relative = Grants {
            deny: list(&["a"]),
            ..Grants::default()
        };
        assert!(check_new_grants(&relative)
            .unwrap_err()
            .contains("--deny \"a\" is not a request path"));
        let star = Grants {
            allow: Some(list(&["/a/*"])),
            ..Grants::default()
        };
        assert!(check_new_grants(&star)
            .unwrap_err()
            .contains("--allow /a already allows"));
        let long = Grants {
            only: Some(vec![format!("/{}", "x".repeat(3000))]),
            ..Grants::default()
        };
        assert!(check_new_grants(&long)
            .unwrap_err()
            .starts_with("--only entry 0 is 3001 bytes"));
    }

    #[test]
    fn keys_list_describes_access_in_a_few_words() {
        assert_eq!(describe_access(&Grants::default()), "all");
        let scoped = Grants {
            allow: Some(list(&["/a"])),
            deny: list(&["/a/admin"]),
            ..Grants::default()
        };
        assert_eq!(
            describe_access(&scoped),
            r#"allow=["/a"] deny=["/a/admin"]"#
        );
        let none = Grants {
            allow: Some(Vec::new()),
            ..Grants::default()
        };
        assert_eq!(describe_access(&none), "allow=[]");
        let admin = Grants {
            admin: true,
            only: Some(list(&["/x/*"])),
            ..Grants::default()
        };
        assert_eq!(describe_access(&admin), r#"admin only=["/x/*"]"#);
    }

    /// `routes add` can set every column of `passthru_routes`.
    #[test]
    fn a_new_route_can_set_every_stored_field() {
        let new = NewRoute {
            id: Some("x".into()),
            path: "/a".into(),
            target: "http://u".into(),
            include_subpath: Some(true),
            methods: list(&["GET"]),
            headers: BTreeMap::from([("a".into(), "b".into())]),
            forward_headers: Some(true),
            default_query_params: BTreeMap::from([("q".into(), "v".into())]),
            timeout: Some(1.5),
            auth: Some(false),
        };
        let json = new.to_json();
        let set: Vec<&str> = json.keys().map(String::as_str).collect();
        let mut stored: Vec<&str> = crate::source::native::route_columns::stored()
            .map(|f| f.name)
            .collect();
        stored.sort_unstable();
        assert_eq!(set, stored);
    }

    #[test]
    fn a_key_is_stored_as_its_sha256_hex() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
