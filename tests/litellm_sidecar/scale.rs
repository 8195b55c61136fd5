//! The cost of one poll on a large LiteLLM database.

use std::path::PathBuf;
use std::time::Instant;

use passthru_tests::sync::litellm_postgres;

use super::{settings_sql, DB};

/// The cost of one poll on a large LiteLLM database: 100,000 keys and 10,000 teams, each made
/// with one `INSERT ... SELECT generate_series`. Reports the time of `passthru-sync once` (the
/// whole process: connect, read, render, write), how long the read transaction was open (from
/// the server's statement log), and the table sizes; checks from that log that every read is in
/// one transaction. `$PASSTHRU_SYNC_BIN` picks another build (e.g. release). Run with:
/// `cargo build --workspace --bins && cargo test -p passthru-tests --test e2e -- --ignored --nocapture one_poll_of_100k_keys`
#[test]
#[ignore = "a measurement (about 15 s): run it by name with --ignored"]
fn one_poll_of_100k_keys_and_10k_teams_is_one_read_transaction() {
    let (pg, url) = litellm_postgres(DB);
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
