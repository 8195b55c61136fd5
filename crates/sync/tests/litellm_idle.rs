//! Idle cost on LiteLLM's tables: once the file is written, a poll is one small query while
//! nothing is written, one server-side aggregate when only spend moved, and a full read only when
//! something that decides routing or access changed, or when the backstop is due. Every poll is
//! named at DEBUG; the cluster logs every statement (`log_statement = 'all'`), so the full reads
//! are counted on the server too.

use std::time::Duration;

use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;
use passthru_tests::sync::*;
use passthru_tests::wait::wait_for;

const KEY_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The statement of a full read that no marker query contains.
const FULL_READ_SQL: &str = "WHERE blocked IS NOT TRUE";
/// Stage 1 and stage 2 of the marker.
const QUICK_SQL: &str = "pg_stat_get_tuples_inserted";
const FINGERPRINT_SQL: &str = "hashtextextended";

const FULL_READ_LOG: [&str; 2] = ["poll: table unchanged", "wrote routes file"];
const NOTHING_NEW: &str = "poll: nothing new";
const FINGERPRINTING: &str = "fingerprinting what decides access";
const BACKSTOP: &str = "poll: full read (backstop)";

async fn litellm_cluster() -> PgCluster {
    let pg = PgCluster::start();
    sql(
        &pg.url(),
        &[
            "ALTER SYSTEM SET log_statement = 'all'",
            "SELECT pg_reload_conf()",
        ],
    )
    .await;
    let ddl = litellm_ddl();
    let mut statements: Vec<String> = ddl;
    statements.push(
        r#"INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES ('general_settings',
           '{"pass_through_endpoints": [{"path": "/a", "target": "http://a"}]}'::jsonb)"#
            .to_owned(),
    );
    statements.push(r#"INSERT INTO "LiteLLM_TeamTable" (team_id) VALUES ('team-x')"#.to_owned());
    statements.push(format!(
        r#"INSERT INTO "LiteLLM_VerificationToken" (token, team_id)
           VALUES ('{KEY_A}', 'team-x'), ('{KEY_B}', NULL)"#
    ));
    sql(
        &pg.url(),
        &statements.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    pg
}

fn daemon(pg: &PgCluster, dir: &std::path::Path, extra: &[&str]) -> Daemon {
    let out = dir.join("routes.yaml");
    let mut c = command(&pg.url(), &out);
    c.env("PASSTHRU_LOG", "passthru_sync=debug");
    c.args(["run", "--schema", "litellm", "--interval", "100ms"]);
    c.args(extra);
    Daemon::spawn_logging_to("passthru-sync", &mut c, &dir.join("daemon.log"))
}

fn count(text: &str, needles: &[&str]) -> usize {
    needles.iter().map(|n| text.matches(n).count()).sum()
}

/// Waits until the daemon's log, from `from` on, names `needle` at least `n` times; returns it.
async fn log_until(d: &Daemon, from: usize, needle: &str, n: usize, what: &str) -> String {
    wait_for(Duration::from_secs(30), what, || {
        let log = d.log();
        let since = log.get(from..)?.to_owned();
        (since.matches(needle).count() >= n).then_some(since)
    })
    .await
}

/// Starts a daemon, waits for its first write, then for polls that fingerprint nothing (the
/// statistics of the set-up's own writes have been flushed and seen). Returns the log position
/// from which on the database is idle, and the server log's, read first: a poll logs its query
/// on the server before its line in ours, so only the poll in flight can be missing there.
async fn settled(pg: &PgCluster, d: &Daemon, out: &std::path::Path) -> (usize, usize) {
    wait_for(Duration::from_secs(10), "the first write", || {
        read(out).filter(|t| t.contains(KEY_A) && t.contains("/a"))
    })
    .await;
    // Five polls in a row that found nothing new and fingerprinted nothing.
    wait_for(Duration::from_secs(30), "five quiet polls", || {
        let log = d.log();
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        (tail.len() == 5 && tail.iter().all(|l| l.contains(NOTHING_NEW))).then_some(())
    })
    .await;
    let server_from = pg.server_log().len();
    (d.log().len(), server_from)
}

#[tokio::test]
async fn an_idle_litellm_database_costs_one_small_query_per_poll_and_no_full_read() {
    let pg = litellm_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let d = daemon(&pg, dir.path(), &[]);
    let (from, server_from) = settled(&pg, &d, &out).await;
    let modified = mtime(&out);
    // 21 polls here, of which the first may have queried before `server_from`.
    let since = log_until(&d, from, NOTHING_NEW, 21, "21 idle polls").await;
    assert_eq!(count(&since, &FULL_READ_LOG), 0, "{since}");
    assert_eq!(count(&since, &[FINGERPRINTING]), 0, "{since}");
    let server = pg.server_log()[server_from..].to_owned();
    assert!(count(&server, &[QUICK_SQL]) >= 20, "{server}");
    assert_eq!(count(&server, &[FULL_READ_SQL]), 0, "{server}");
    assert_eq!(count(&server, &[FINGERPRINT_SQL]), 0, "{server}");
    assert_eq!(mtime(&out), modified);

    // SIGHUP still reads everything.
    let from = d.log().len();
    d.signal("HUP");
    log_until(&d, from, "poll: table unchanged", 1, "the forced full read").await;
}

#[tokio::test]
async fn a_spend_update_is_fingerprinted_once_and_causes_no_full_read_and_no_write() {
    let pg = litellm_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let d = daemon(&pg, dir.path(), &[]);
    let (from, server_from) = settled(&pg, &d, &out).await;
    let (bytes, modified) = (read(&out).unwrap(), mtime(&out));
    // LiteLLM's spend writer: `update_many` with an increment; Prisma sets updated_at.
    sql(
        &pg.url(),
        &[
            r#"UPDATE "LiteLLM_VerificationToken"
               SET spend = spend + 1, last_active = now(), updated_at = now()"#,
            r#"UPDATE "LiteLLM_TeamTable" SET spend = spend + 1, updated_at = now()"#,
        ],
    )
    .await;
    let since = log_until(&d, from, FINGERPRINTING, 1, "the counters to move").await;
    let at = since.find(FINGERPRINTING).unwrap();
    // Ten polls after the one that fingerprinted.
    let since = log_until(&d, from + at, NOTHING_NEW, 10, "ten polls after").await;
    assert_eq!(count(&since, &FULL_READ_LOG), 0, "{since}");
    let server = pg.server_log()[server_from..].to_owned();
    assert_eq!(count(&server, &[FULL_READ_SQL]), 0, "{server}");
    assert!(count(&server, &[FINGERPRINT_SQL]) >= 1, "{server}");
    // The counters the spend update moved are remembered: no fingerprint on every poll after.
    let fingerprints = count(&d.log()[from..], &[FINGERPRINTING]);
    assert!(fingerprints <= 2, "{fingerprints} fingerprints:\n{since}");
    assert_eq!(read(&out).unwrap(), bytes);
    assert_eq!(mtime(&out), modified);
}

#[tokio::test]
async fn a_blocked_key_and_a_team_metadata_change_reach_the_file_within_a_poll_and_a_stats_flush() {
    let pg = litellm_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let d = daemon(&pg, dir.path(), &[]);
    settled(&pg, &d, &out).await;
    // Statistics reach other sessions within about a second (PGSTAT_MIN_INTERVAL, PostgreSQL
    // 15); one poll is 100 ms. Generous bound, but the wait is on the fact.
    let within = Duration::from_secs(10);
    sql(
        &pg.url(),
        &[&format!(
            r#"UPDATE "LiteLLM_VerificationToken" SET blocked = true WHERE token = '{KEY_B}'"#
        )],
    )
    .await;
    wait_for(within, "the blocked key gone", || {
        read(&out).filter(|t| t.contains(KEY_A) && !t.contains(KEY_B))
    })
    .await;
    sql(
        &pg.url(),
        &[r#"UPDATE "LiteLLM_TeamTable"
             SET metadata = '{"allowed_passthrough_routes": ["/a/team-only"]}'::jsonb
             WHERE team_id = 'team-x'"#],
    )
    .await;
    wait_for(within, "the team's grant on its key", || {
        read(&out).filter(|t| t.contains("/a/team-only"))
    })
    .await;
    assert!(count(&d.log(), &[FINGERPRINTING]) >= 2, "{}", d.log());
}

#[tokio::test]
async fn the_backstop_reads_everything_though_the_marker_has_not_moved() {
    let pg = litellm_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let d = daemon(&pg, dir.path(), &["--litellm-full-read-every", "1s"]);
    let (from, _) = settled(&pg, &d, &out).await;
    let since = log_until(&d, from, BACKSTOP, 2, "two backstop reads").await;
    let after = &since[since.find(BACKSTOP).unwrap()..];
    assert!(after.contains("poll: table unchanged"), "{since}");
    // Between backstops, the polls are the marker's.
    assert!(count(&since, &[NOTHING_NEW]) >= 3, "{since}");
}

#[tokio::test]
async fn full_read_every_zero_reads_everything_on_every_poll_as_before_the_marker() {
    let pg = litellm_cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let d = daemon(&pg, dir.path(), &["--litellm-full-read-every", "0s"]);
    wait_for(Duration::from_secs(10), "the first write", || {
        read(&out).filter(|t| t.contains(KEY_A))
    })
    .await;
    let since = log_until(&d, 0, "poll: table unchanged", 5, "five full reads").await;
    assert_eq!(count(&since, &[NOTHING_NEW]), 0, "{since}");
}
