//! Malformed key and team metadata: named in the log, refused, warned once per change.

use passthru_tests::sha256_hex;
use passthru_tests::wait::wait_until;

use super::{hash_prefix, sidecar, team_sql, Key, DB, MASTER_KEY, WAIT};

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
