//! passthru as a LiteLLM sidecar, end to end: a real PostgreSQL holding LiteLLM 1.110.2's tables
//! (`examples/litellm/litellm-tables.sql`, generated from its schema.prisma), rows as LiteLLM's
//! management API writes them, passthru-sync reading them and passthru-proxy serving the result.
//! Each key gets the answer LiteLLM gives it (`tests/litellm/ACCESS_MODEL.md`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use passthru_tests::http::{request, Behaviour, Upstream};
use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;
use passthru_tests::proxy::Proxy;
use passthru_tests::repo_root;
use passthru_tests::sha256_hex;
use passthru_tests::sync::start_sync;
use passthru_tests::wait::wait_until;

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
    let pg = PgCluster::start();
    let url = pg.create_database(DB);
    let ddl =
        std::fs::read_to_string(repo_root().join("examples/litellm/litellm-tables.sql")).unwrap();
    pg.psql(DB, &ddl);
    let up = Upstream::start(Behaviour::Echo);
    pg.psql(
        DB,
        &format!("{}{}{extra_rows}", settings_sql(&up.url()), standard_rows()),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    let master = dir.path().join("litellm-master-key");
    std::fs::write(&master, format!("{MASTER_KEY}\n")).unwrap();
    let sync = start_sync(
        &file,
        &[
            "--database-url",
            &url,
            "--schema",
            "litellm",
            "--interval",
            interval,
            "--litellm-master-key-file",
            master.to_str().unwrap(),
        ],
    );
    wait_until(WAIT, "the routes file", || file.exists());
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

#[test]
fn keys_litellm_accepts_are_forwarded_by_the_sidecar() {
    let s = sidecar("200ms", "");
    for (what, path, key) in [
        (
            "a key with its own allow list",
            "/acme/v1/chat",
            "sk-allowed-0001",
        ),
        ("a key its team allows", "/acme/v1/chat", "sk-team-0002"),
        (
            "a key allowed below its deny entry",
            "/acme/v1/chat",
            "sk-denied-0003",
        ),
        ("a proxy_admin user's key", "/other/x", "sk-admin-0004"),
        (
            "the master key (--litellm-master-key-file)",
            "/other/x",
            MASTER_KEY,
        ),
        (
            "a rotated key in its grace period",
            "/acme/v1/chat",
            "sk-rotated-0008",
        ),
    ] {
        let before = s.up.count();
        assert_eq!(s.status(path, key), 200, "{what}");
        assert_eq!(s.up.count(), before + 1, "{what} reaches the upstream");
        assert_eq!(s.up.last().target(), path, "{what}");
    }
}

#[test]
fn keys_litellm_refuses_are_refused_by_the_sidecar_with_litellm_s_status() {
    let s = sidecar("200ms", "");
    for (what, path, key, status) in [
        ("a key's deny entry", "/acme/admin", "sk-denied-0003", 403),
        (
            "a route the key's list does not name",
            "/other/x",
            "sk-allowed-0001",
            403,
        ),
        (
            "a route its team's list does not name",
            "/other/x",
            "sk-team-0002",
            403,
        ),
        ("a blocked key", "/acme/v1/chat", "sk-blocked-0005", 401),
        (
            "a key of a blocked team",
            "/acme/v1/chat",
            "sk-blocked-team-0006",
            401,
        ),
        ("an expired key", "/acme/v1/chat", "sk-expired-0007", 401),
        (
            "a rotated key past revoke_at",
            "/acme/v1/chat",
            "sk-revoked-0009",
            401,
        ),
        ("an unknown key", "/acme/v1/chat", "sk-unknown-0010", 401),
    ] {
        assert_eq!(s.status(path, key), status, "{what}");
    }
    assert_eq!(s.up.count(), 0, "no refused request reaches the upstream");
}

#[test]
fn a_team_allow_list_change_reaches_the_proxy_within_one_poll_without_a_restart() {
    let mut s = sidecar("300ms", "");
    assert_eq!(s.status("/other/x", "sk-team-0002"), 403);
    let (pid, generation) = (s.proxy.pid(), s.proxy.generation());
    let log_before = s.sync.log().len();

    let updated = Instant::now();
    s.sql(
        r#"UPDATE "LiteLLM_TeamTable"
           SET metadata = '{"allowed_passthrough_routes": ["/acme", "/other"]}'::jsonb,
               updated_at = now() AT TIME ZONE 'UTC'
           WHERE team_id = 'team-acme'"#,
    );
    wait_until(WAIT, "the team's new grant to be served", || {
        s.status("/other/x", "sk-team-0002") == 200
    });
    let took = updated.elapsed();

    assert!(s.proxy.is_running() && s.sync.is_running());
    assert_eq!(s.proxy.pid(), pid, "no restart");
    assert!(s.proxy.generation() > generation, "a new table was loaded");
    // Within one poll: at most the pass already under way when the UPDATE committed read the
    // old rows; the next one wrote the file.
    let log = s.sync.log();
    let since = &log[log_before..];
    let written = since
        .find("wrote routes file")
        .expect("the sync daemon wrote the file");
    let unchanged = since[..written].matches("poll: table unchanged").count();
    assert!(
        unchanged <= 1,
        "{unchanged} polls read the old rows after the UPDATE ({took:?}):\n{since}"
    );
}

/// One key per kind of malformed `allowed_passthrough_routes`, the last a list of 800,000
/// entries (over 10 MB of JSON), built in SQL.
fn malformed_keys() -> String {
    let mut sql = String::new();
    sql += &Key::new(
        "sk-bad-string-0011",
        r#"{"allowed_passthrough_routes": "/acme"}"#,
    )
    .sql();
    sql += &Key::new(
        "sk-bad-entries-0012",
        r#"{"allowed_passthrough_routes": ["/acme", 7, null]}"#,
    )
    .sql();
    sql += &Key::new("sk-bad-huge-0013", "{}").sql();
    sql += &format!(
        r#"UPDATE "LiteLLM_VerificationToken"
           SET metadata = jsonb_build_object('allowed_passthrough_routes',
               (SELECT jsonb_agg('/acme/route-' || g) FROM generate_series(1, 800000) g))
           WHERE token = '{}';
"#,
        sha256_hex("sk-bad-huge-0013")
    );
    sql
}

#[test]
fn a_key_with_malformed_metadata_is_named_and_refused_while_the_other_keys_and_routes_work() {
    let s = sidecar("1s", &malformed_keys());
    let size: usize = s
        .pg
        .psql(
            DB,
            &format!(
                r#"SELECT length(metadata::text) FROM "LiteLLM_VerificationToken" WHERE token = '{}'"#,
                sha256_hex("sk-bad-huge-0013")
            ),
        )
        .trim()
        .parse()
        .unwrap();
    assert!(size > 10_000_000, "the huge list is {size} bytes");

    for (key, reason) in [
        (
            "sk-bad-string-0011",
            "the key's allowed_passthrough_routes is a string, not a list of paths",
        ),
        (
            "sk-bad-entries-0012",
            "the key's allowed_passthrough_routes entry 1 is a number, not a path",
        ),
        (
            "sk-bad-huge-0013",
            "the key's allowed_passthrough_routes has 800000 entries; at most 1000",
        ),
    ] {
        let named = s.warnings(&hash_prefix(key));
        assert!(
            named.iter().any(|l| l.contains(reason)),
            "{key}: no WARN naming {} with {reason:?}:\n{}",
            hash_prefix(key),
            s.sync.log()
        );
        assert_eq!(s.status("/acme/v1/chat", key), 403, "{key}");
    }
    assert_eq!(s.status("/acme/v1/chat", "sk-allowed-0001"), 200);
    assert_eq!(s.status("/acme/v1/chat", "sk-team-0002"), 200);
    assert_eq!(s.status("/other/x", "sk-admin-0004"), 200);
    assert_eq!(s.status("/other/x", MASTER_KEY), 200);
}

#[test]
fn a_team_with_malformed_metadata_is_named_and_its_keys_refused_while_other_teams_work() {
    let rows = team_sql(
        "team-broken",
        r#"{"allowed_passthrough_routes": {"/acme": true}}"#,
        false,
    ) + &Key {
        team_id: Some("team-broken"),
        ..Key::new("sk-broken-team-0014", "{}")
    }
    .sql();
    let s = sidecar("1s", &rows);
    let named = s.warnings(r#"team_id "team-broken""#);
    assert!(
        named
            .iter()
            .any(|l| l.contains("metadata allowed_passthrough_routes is an object")),
        "{}",
        s.sync.log()
    );
    assert_eq!(s.status("/acme/v1/chat", "sk-broken-team-0014"), 403);
    assert_eq!(s.status("/acme/v1/chat", "sk-team-0002"), 200);
    assert_eq!(s.status("/acme/v1/chat", "sk-allowed-0001"), 200);
}

#[test]
fn a_malformed_key_is_warned_once_per_change_not_on_every_poll() {
    let s = sidecar(
        "100ms",
        &Key::new(
            "sk-bad-string-0011",
            r#"{"allowed_passthrough_routes": "/acme"}"#,
        )
        .sql(),
    );
    let first = hash_prefix("sk-bad-string-0011");
    let repeated = |prefix: &str| {
        s.sync
            .log()
            .lines()
            .filter(|l| l.contains("skipped row (unchanged)") && l.contains(prefix))
            .count()
    };
    // Polls that found nothing new (the change marker) or re-rendered the same rows.
    let polls = || {
        let log = s.sync.log();
        log.matches("poll: nothing new").count() + log.matches("poll: table unchanged").count()
    };
    wait_until(WAIT, "the first key's report", || {
        !s.warnings(&first).is_empty()
    });
    let before = polls();
    wait_until(WAIT, "three more polls", || polls() >= before + 3);
    assert_eq!(s.warnings(&first).len(), 1, "{}", s.sync.log());

    // A second bad key is a change: it is WARNed; the first, rendered again, is not.
    s.sql(
        &Key::new(
            "sk-bad-entries-0012",
            r#"{"allowed_passthrough_routes": [7]}"#,
        )
        .sql(),
    );
    let second = hash_prefix("sk-bad-entries-0012");
    wait_until(WAIT, "the second key's report", || {
        !s.warnings(&second).is_empty()
    });
    assert!(repeated(&first) >= 1, "{}", s.sync.log());
    let before = polls();
    wait_until(WAIT, "three more polls", || polls() >= before + 3);
    assert_eq!(s.warnings(&first).len(), 1, "{}", s.sync.log());
    assert_eq!(s.warnings(&second).len(), 1, "{}", s.sync.log());
}

/// The cost of one poll on a large LiteLLM database: 100,000 keys and 10,000 teams, each made
/// with one `INSERT ... SELECT generate_series`. Reports the time of `passthru-sync once` (the
/// whole process: connect, read, render, write), how long the read transaction was open (from
/// the server's statement log), and the table sizes; checks from that log that every read is in
/// one transaction. `$PASSTHRU_SYNC_BIN` picks another build (e.g. release). Run with:
/// `cargo build --workspace --bins && cargo test -p passthru-tests --test e2e -- --ignored --nocapture one_poll_of_100k_keys`
#[test]
#[ignore = "a measurement (about 15 s): run it by name with --ignored"]
fn one_poll_of_100k_keys_and_10k_teams_is_one_read_transaction() {
    let pg = PgCluster::start();
    let url = pg.create_database(DB);
    let ddl =
        std::fs::read_to_string(repo_root().join("examples/litellm/litellm-tables.sql")).unwrap();
    pg.psql(DB, &ddl);
    pg.psql(DB, &settings_sql("http://127.0.0.1:9"));
    pg.psql(
        DB,
        r#"INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, admins, members, members_with_roles, metadata, models)
           SELECT 'team-' || g, 'team ' || g, '{}', '{}', '[]',
                  jsonb_build_object('allowed_passthrough_routes', jsonb_build_array('/acme/' || (g % 50)),
                                     'denied_passthrough_routes', jsonb_build_array('/acme/' || (g % 50) || '/admin')),
                  '{}'
           FROM generate_series(1, 10000) g"#,
    );
    pg.psql(
        DB,
        r#"INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, expires, models, user_id, team_id, metadata, allowed_routes, created_by)
           SELECT encode(sha256(('sk-bench-' || g)::bytea), 'hex'), 'sk-...' || g, 'bench ' || g,
                  CASE WHEN g % 3 = 0 THEN (now() AT TIME ZONE 'UTC') + interval '30 days' END,
                  '{}', 'user-' || (g % 1000), 'team-' || (g % 10000 + 1),
                  CASE WHEN g % 2 = 0 THEN jsonb_build_object('allowed_passthrough_routes', jsonb_build_array('/acme/' || (g % 7)))
                       ELSE '{}'::jsonb END,
                  '{}', 'default_user_id'
           FROM generate_series(1, 100000) g"#,
    );
    pg.psql(DB, "VACUUM ANALYZE");
    let sizes = pg.psql(
        DB,
        r#"SELECT relname || ': ' || n_live_tup || ' rows, ' || pg_size_pretty(pg_total_relation_size(relid))
           FROM pg_stat_user_tables ORDER BY relname"#,
    );
    pg.psql(
        DB,
        &format!("ALTER DATABASE {DB} SET log_min_duration_statement = 0"),
    );
    let log_before = pg.server_log().len();

    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("routes.yaml");
    let bin = std::env::var_os("PASSTHRU_SYNC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| passthru_tests::binary("passthru-sync"));
    let started = Instant::now();
    let run = std::process::Command::new(&bin)
        .args(["--database-url", &url, "--schema", "litellm", "--output"])
        .arg(&out)
        .arg("once")
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.matches("- sha256: ").count(), 100_000);

    // Every read of LiteLLM's tables lies between the one BEGIN and its COMMIT.
    let log = pg.server_log();
    let statements: Vec<&str> = log[log_before..]
        .lines()
        .filter(|l| l.contains("statement: ") || l.contains(" execute "))
        .collect();
    let position = |needle: &str| statements.iter().position(|l| l.contains(needle));
    let begins = statements.iter().filter(|l| l.contains("BEGIN")).count();
    let begin = position("BEGIN").expect("a BEGIN");
    let commit = position("COMMIT").expect("a COMMIT");
    // The change marker's counters are read just before the snapshot, by design (a write they
    // miss moves them after); every read of the rows, the fingerprint included, is inside it.
    let reads: Vec<usize> = statements
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("\"LiteLLM_") && !l.contains("pg_stat_get_tuples"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(begins, 1, "{statements:#?}");
    assert_eq!(reads.len(), 7, "{statements:#?}");
    assert!(
        reads.iter().all(|&i| begin < i && i < commit),
        "{statements:#?}"
    );
    // `%m` (the default log_line_prefix) stamps each line to the millisecond.
    let stamp = |line: &str| -> f64 {
        let time = line.split_whitespace().nth(1).unwrap();
        time.split(':')
            .map(|p| p.parse::<f64>().unwrap())
            .fold(0.0, |acc, v| acc * 60.0 + v)
    };
    let open_for = stamp(statements[commit]) - stamp(statements[begin]);
    eprintln!(
        "passthru-sync once ({}), 100,000 keys and 10,000 teams: {:.2} s in all; \
         one REPEATABLE READ transaction of {} reads, open {:.0} ms; routes.yaml {} bytes\n{sizes}",
        bin.display(),
        took.as_secs_f64(),
        reads.len(),
        open_for * 1000.0,
        text.len()
    );
}
