//! passthru as a LiteLLM sidecar, end to end: a real PostgreSQL holding LiteLLM 1.110.2's tables
//! (`examples/litellm/litellm-tables.sql`, generated from its schema.prisma), rows as LiteLLM's
//! management API writes them, passthru-sync reading them and passthru-proxy serving the result.
//! Each key gets the answer LiteLLM gives it (`tests/litellm/ACCESS_MODEL.md`).

mod access;
mod malformed;
mod scale;

use std::time::Duration;

use passthru_tests::http::{request, Behaviour, Upstream};
use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;
use passthru_tests::proxy::Proxy;
use passthru_tests::sha256_hex;
use passthru_tests::sync::{litellm_postgres, start_litellm_sync};

const WAIT: Duration = Duration::from_secs(20);
const DB: &str = "litellm";
const MASTER_KEY: &str = "sk-master-e2e-1234";

/// The first 12 hex digits of the key's hash: how the sync log names a key.
fn hash_prefix(key: &str) -> String {
    sha256_hex(key)[..12].to_owned()
}

/// A `"LiteLLM_VerificationToken"` row as `/key/generate` writes it: `token` is the sha256 hex of
/// the raw key, `key_name` its abbreviation, the grants in `metadata`
/// (`set_object_metadata_field`), LiteLLM's defaults for the rest.
struct Key<'a> {
    raw: &'a str,
    metadata: &'a str,
    team_id: Option<&'a str>,
    user_id: Option<&'a str>,
    /// SQL: `NULL` (LiteLLM's default), `true`.
    blocked: &'a str,
    /// SQL for `expires` (UTC, `timestamp(3)`).
    expires: &'a str,
}

impl<'a> Key<'a> {
    fn new(raw: &'a str, metadata: &'a str) -> Key<'a> {
        Key {
            raw,
            metadata,
            team_id: None,
            user_id: None,
            blocked: "NULL",
            expires: "(now() AT TIME ZONE 'UTC') + interval '30 days'",
        }
    }

    fn sql(&self) -> String {
        let text = |v: Option<&str>| v.map_or("NULL".to_owned(), |v| format!("'{v}'"));
        format!(
            r#"INSERT INTO "LiteLLM_VerificationToken"
                 (token, key_name, key_alias, spend, expires, models, aliases, config, user_id,
                  team_id, permissions, metadata, blocked, allowed_cache_controls, allowed_routes,
                  model_spend, model_max_budget, created_by, updated_by)
               VALUES ('{token}', 'sk-...{last4}', '{raw}-alias', 0.0, {expires}, '{{}}', '{{}}',
                  '{{}}', {user}, {team}, '{{}}', '{metadata}'::jsonb, {blocked}, '{{}}', '{{}}',
                  '{{}}', '{{}}', 'default_user_id', 'default_user_id');
"#,
            token = sha256_hex(self.raw),
            last4 = &self.raw[self.raw.len() - 4..],
            raw = self.raw,
            expires = self.expires,
            user = text(self.user_id),
            team = text(self.team_id),
            metadata = self.metadata,
            blocked = self.blocked,
        )
    }
}

/// A `"LiteLLM_TeamTable"` row as `/team/new` writes it: the grants in `metadata`.
fn team_sql(team_id: &str, metadata: &str, blocked: bool) -> String {
    format!(
        r#"INSERT INTO "LiteLLM_TeamTable"
             (team_id, team_alias, admins, members, members_with_roles, metadata, models, blocked,
              spend, model_spend, model_max_budget)
           VALUES ('{team_id}', '{team_id}-alias', '{{}}', '{{}}',
              '[{{"role": "admin", "user_id": "u-admin", "user_email": null}}]', '{metadata}'::jsonb,
              '{{}}', {blocked}, 0.0, '{{}}', '{{}}');
"#
    )
}

/// Two endpoints as LiteLLM's UI stores them in `general_settings` (`/config/pass_through_endpoint`).
fn settings_sql(upstream: &str) -> String {
    format!(
        r#"INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES ('general_settings', '{{
             "store_model_in_db": true,
             "pass_through_endpoints": [
               {{"id": "0b9f6c1e-acme", "path": "/acme", "target": "{upstream}/acme", "headers": {{}},
                 "default_query_params": {{}}, "include_subpath": true, "cost_per_request": 0.0,
                 "timeout": null, "auth": true, "guardrails": null, "methods": null}},
               {{"id": "4d2e8a7b-other", "path": "/other", "target": "{upstream}/other", "headers": {{}},
                 "default_query_params": {{}}, "include_subpath": true, "cost_per_request": 0.0,
                 "timeout": null, "auth": true, "guardrails": null, "methods": null}}]}}'::jsonb);
"#
    )
}

/// The keys, teams and users every test starts from.
fn standard_rows() -> String {
    let future_day = "(now() AT TIME ZONE 'UTC') + interval '1 day'";
    let past_day = "(now() AT TIME ZONE 'UTC') - interval '1 day'";
    let mut sql = String::new();
    sql += &team_sql(
        "team-acme",
        r#"{"allowed_passthrough_routes": ["/acme"]}"#,
        false,
    );
    sql += &team_sql(
        "team-blocked",
        r#"{"allowed_passthrough_routes": ["/acme"]}"#,
        true,
    );
    sql += r#"INSERT INTO "LiteLLM_UserTable" (user_id, user_role, user_email, teams, models, metadata)
              VALUES ('u-admin', 'proxy_admin', 'admin@example.com', '{}', '{}', '{}'),
                     ('u-internal', 'internal_user', 'dev@example.com', '{"team-acme"}', '{}', '{}');
"#;
    for key in [
        Key::new(
            "sk-allowed-0001",
            r#"{"tags": ["prod"], "allowed_passthrough_routes": ["/acme"]}"#,
        ),
        Key {
            team_id: Some("team-acme"),
            user_id: Some("u-internal"),
            ..Key::new("sk-team-0002", "{}")
        },
        Key::new(
            "sk-denied-0003",
            r#"{"allowed_passthrough_routes": ["/acme"], "denied_passthrough_routes": ["/acme/admin"]}"#,
        ),
        Key {
            user_id: Some("u-admin"),
            ..Key::new("sk-admin-0004", "{}")
        },
        Key {
            blocked: "true",
            ..Key::new(
                "sk-blocked-0005",
                r#"{"allowed_passthrough_routes": ["/acme"]}"#,
            )
        },
        Key {
            team_id: Some("team-blocked"),
            ..Key::new("sk-blocked-team-0006", "{}")
        },
        Key {
            expires: past_day,
            ..Key::new(
                "sk-expired-0007",
                r#"{"allowed_passthrough_routes": ["/acme"]}"#,
            )
        },
    ] {
        sql += &key.sql();
    }
    // /key/regenerate with a grace period: the old key works until revoke_at, as the new one.
    for (old, revoke_at) in [
        ("sk-rotated-0008", future_day),
        ("sk-revoked-0009", past_day),
    ] {
        sql += &format!(
            r#"INSERT INTO "LiteLLM_DeprecatedVerificationToken" (id, token, active_token_id, revoke_at)
               VALUES (gen_random_uuid()::text, '{}', '{}', {revoke_at});
"#,
            sha256_hex(old),
            sha256_hex("sk-allowed-0001"),
        );
    }
    sql
}

/// PostgreSQL with LiteLLM's tables and rows, passthru-sync reading them every `interval`, and
/// passthru-proxy serving what it writes.
struct Sidecar {
    pg: PgCluster,
    up: Upstream,
    sync: Daemon,
    proxy: Proxy,
    _dir: tempfile::TempDir,
}

fn sidecar(interval: &str, extra_rows: &str) -> Sidecar {
    let (pg, url) = litellm_postgres(DB);
    let up = Upstream::start(Behaviour::Echo);
    pg.psql(
        DB,
        &format!("{}{}{extra_rows}", settings_sql(&up.url()), standard_rows()),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    let sync = start_litellm_sync(&file, &url, interval, MASTER_KEY, &[], WAIT);
    let proxy = Proxy::start(&file, &[]);
    Sidecar {
        pg,
        up,
        sync,
        proxy,
        _dir: dir,
    }
}

impl Sidecar {
    /// The status of `POST path` with `Authorization: Bearer key`.
    fn status(&self, path: &str, key: &str) -> u16 {
        let auth = format!("Bearer {key}");
        request(
            self.proxy.addr,
            "POST",
            path,
            &[("authorization", &auth)],
            b"{}",
        )
        .status()
    }

    fn sql(&self, sql: &str) {
        self.pg.psql(DB, sql);
    }

    /// The sync log's WARN lines about skipped rows that contain `needle`.
    fn warnings(&self, needle: &str) -> Vec<String> {
        self.sync
            .log()
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("skipped row") && l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}
