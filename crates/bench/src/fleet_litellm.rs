//! Scenario 7b: a fleet of LiteLLM sidecars on one database holding LiteLLM's tables: what idle
//! polling and one spend update cost, before and after the change marker.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::daemons::start_sync;
use crate::pg::Psql;
use crate::procfs::{cpu_ticks, TICKS_PER_SECOND};
use crate::report::Table;
use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;

use crate::fleet::db_ticks;

/// Scenario 7b: the idle cost of a fleet of LiteLLM sidecars on one PostgreSQL holding
/// LiteLLM's tables, before the change marker (`--litellm-full-read-every 0s`: every poll reads
/// every key and team, as the sidecar did) and after (write counters, then a fingerprint, then a
/// full read only when something that decides access changed), one after the other on the same
/// database in one run.
pub struct FleetLitellm {
    pub daemons: usize,
    pub keys: usize,
    pub teams: usize,
    pub idle: Duration,
    pub interval: &'static str,
}

/// What one idle window cost.
struct Idle {
    connections: f64,
    xacts_per_s: f64,
    rows_per_s: f64,
    db_cpu: f64,
    sync_cpu: f64,
    full_reads_per_s: f64,
    marker_polls_per_s: f64,
    window: f64,
    /// After the window: what one spend update of one key cost the fleet.
    spend: Option<Spend>,
}

/// One `UPDATE … SET spend = spend + 1` of one key, as LiteLLM's spend writer does it, until
/// every sidecar has polled past it.
struct Spend {
    fingerprints: usize,
    full_reads: usize,
    rows: f64,
    db_cpu_s: f64,
    seconds: f64,
}

fn log_count(logs: &[PathBuf], needles: &[&str]) -> usize {
    logs.iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            needles
                .iter()
                .map(|n| text.matches(n).count())
                .sum::<usize>()
        })
        .sum()
}

fn idle_fleet(
    f: &FleetLitellm,
    url: &str,
    postmaster: u32,
    psql: &mut Psql,
    label: &str,
    extra: &[&str],
    spend: bool,
) -> Idle {
    let dir = tempfile::tempdir().unwrap();
    let outputs: Vec<PathBuf> = (0..f.daemons)
        .map(|i| dir.path().join(format!("routes-{i}.yaml")))
        .collect();
    let logs: Vec<PathBuf> = (0..f.daemons)
        .map(|i| dir.path().join(format!("sync-{i}.log")))
        .collect();
    eprintln!("fleet-litellm ({label}): starting {} sidecars", f.daemons);
    let mut args = vec![
        "--database-url",
        url,
        "--schema",
        "litellm",
        "--interval",
        f.interval,
    ];
    args.extend_from_slice(extra);
    let mut fleet: Vec<Daemon> = outputs
        .iter()
        .zip(&logs)
        .map(|(out, log)| start_sync(out, &args, "passthru_sync=debug", log))
        .collect();
    // Every sidecar's first full read, waited for in its log (the files are megabytes).
    let start = Instant::now();
    while log_count(&logs, &["wrote routes file"]) < f.daemons {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the first writes did not all happen within 10 minutes"
        );
        for s in &mut fleet {
            assert!(s.is_running(), "a passthru-sync daemon exited");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!(
        "fleet-litellm ({label}): all files written after {:.1} s; settling",
        start.elapsed().as_secs_f64()
    );
    // Let every sidecar settle into its rhythm, and the statistics be flushed.
    std::thread::sleep(Duration::from_secs(10));
    let stats = "SELECT xact_commit + xact_rollback, tup_returned + tup_fetched \
                 FROM pg_stat_database WHERE datname = 'bench';";
    let connections = psql.number(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench' AND backend_type = 'client backend';",
    ) - 1.0;
    let two = |psql: &mut Psql| -> (f64, f64) {
        let line = psql.exec(stats).join("");
        let mut cells = line.split('|').map(|c| c.trim().parse::<f64>().unwrap());
        (cells.next().unwrap(), cells.next().unwrap())
    };
    std::thread::sleep(Duration::from_millis(1500));
    let (x0, r0) = two(psql);
    let full0 = log_count(&logs, &["poll: table unchanged", "wrote routes file"]);
    let marker0 = log_count(&logs, &["poll: nothing new"]);
    let c0 = db_ticks(postmaster);
    let s0: u64 = fleet.iter().filter_map(|s| cpu_ticks(s.pid())).sum();
    let t0 = Instant::now();
    eprintln!(
        "fleet-litellm ({label}): idle window of {} s",
        f.idle.as_secs()
    );
    std::thread::sleep(f.idle);
    let c1 = db_ticks(postmaster);
    let s1: u64 = fleet.iter().filter_map(|s| cpu_ticks(s.pid())).sum();
    let full1 = log_count(&logs, &["poll: table unchanged", "wrote routes file"]);
    let marker1 = log_count(&logs, &["poll: nothing new"]);
    let window = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(1500));
    // Minus the measuring session's own transactions (one per statement, autocommit).
    let (x1, r1) = two(psql);
    for s in &mut fleet {
        assert!(s.is_running(), "a passthru-sync daemon exited");
    }
    let spend = spend.then(|| {
        let fp0 = log_count(&logs, &["fingerprinting what decides access"]);
        let full0 = log_count(&logs, &["poll: table unchanged", "wrote routes file"]);
        let (_, r0) = two(psql);
        let c0 = db_ticks(postmaster);
        let t0 = Instant::now();
        psql.exec(
            r#"UPDATE "LiteLLM_VerificationToken" SET spend = spend + 1, last_active = now(), updated_at = now()
               WHERE token = encode(sha256('sk-bench-1'::bytea), 'hex');"#,
        );
        // Every sidecar fingerprints once (the statistics take up to a second to show).
        while log_count(&logs, &["fingerprinting what decides access"]) < fp0 + f.daemons {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "not every sidecar saw the spend update within 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        let seconds = t0.elapsed().as_secs_f64();
        // The log line comes before the aggregate runs; a backend that flushed its statistics
        // less than a second before (the poll's first query) defers the next flush by up to
        // 10 s (PostgreSQL 15's PGSTAT_IDLE_INTERVAL): wait that out before reading the rows.
        std::thread::sleep(Duration::from_millis(11_500));
        let c1 = db_ticks(postmaster);
        let (_, r1) = two(psql);
        Spend {
            fingerprints: log_count(&logs, &["fingerprinting what decides access"]) - fp0,
            full_reads: log_count(&logs, &["poll: table unchanged", "wrote routes file"]) - full0,
            rows: r1 - r0,
            db_cpu_s: (c1 - c0) as f64 / TICKS_PER_SECOND,
            seconds,
        }
    });
    drop(fleet);
    Idle {
        connections,
        xacts_per_s: (x1 - x0 - 1.0) / window,
        rows_per_s: (r1 - r0) / window,
        db_cpu: (c1 - c0) as f64 / TICKS_PER_SECOND / window,
        sync_cpu: (s1 - s0) as f64 / TICKS_PER_SECOND / window,
        full_reads_per_s: (full1 - full0) as f64 / window,
        marker_polls_per_s: (marker1 - marker0) as f64 / window,
        window,
        spend,
    }
}

pub fn run_litellm(f: &FleetLitellm) -> Vec<Table> {
    let pg = PgCluster::start_with_max_connections((f.daemons as u32) * 4 + 20);
    let admin = pg.url_for("postgres");
    Psql::connect(&admin).exec("CREATE DATABASE bench;");
    let url = pg.url_for("bench");
    let mut psql = Psql::connect(&url);
    let ddl = std::fs::read_to_string(
        passthru_tests::repo_root().join("examples/litellm/litellm-tables.sql"),
    )
    .unwrap();
    eprintln!(
        "fleet-litellm: {} keys and {} teams in LiteLLM's tables",
        f.keys, f.teams
    );
    psql.exec(&ddl);
    psql.exec(
        r#"INSERT INTO "LiteLLM_Config" (param_name, param_value) VALUES ('general_settings',
           '{"pass_through_endpoints": [{"path": "/acme", "target": "http://127.0.0.1:9", "include_subpath": true}]}'::jsonb);"#,
    );
    psql.exec(&format!(
        r#"INSERT INTO "LiteLLM_TeamTable" (team_id, team_alias, admins, members, members_with_roles, metadata, models)
           SELECT 'team-' || g, 'team ' || g, '{{}}', '{{}}', '[]',
                  jsonb_build_object('allowed_passthrough_routes', jsonb_build_array('/acme/' || (g % 50)),
                                     'denied_passthrough_routes', jsonb_build_array('/acme/' || (g % 50) || '/admin')),
                  '{{}}'
           FROM generate_series(1, {}) g;"#,
        f.teams
    ));
    psql.exec(&format!(
        r#"INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, expires, models, user_id, team_id, metadata, allowed_routes, created_by)
           SELECT encode(sha256(('sk-bench-' || g)::bytea), 'hex'), 'sk-...' || g, 'bench ' || g,
                  CASE WHEN g % 3 = 0 THEN (now() AT TIME ZONE 'UTC') + interval '30 days' END,
                  '{{}}', 'user-' || (g % 1000), 'team-' || (g % {teams} + 1),
                  CASE WHEN g % 2 = 0 THEN jsonb_build_object('allowed_passthrough_routes', jsonb_build_array('/acme/' || (g % 7)))
                       ELSE '{{}}'::jsonb END,
                  '{{}}', 'default_user_id'
           FROM generate_series(1, {keys}) g;"#,
        teams = f.teams,
        keys = f.keys
    ));
    psql.exec("VACUUM ANALYZE;");
    let postmaster = pg.postmaster_pid().expect("the cluster runs");
    let before = idle_fleet(
        f,
        &url,
        postmaster,
        &mut psql,
        "before",
        &["--litellm-full-read-every", "0s"],
        false,
    );
    let after = idle_fleet(f, &url, postmaster, &mut psql, "after", &[], true);

    let mut t = Table::new(
        &format!(
            "7b. Idle fleet on LiteLLM's tables: {} sidecars, {} keys, {} teams, `--interval {}`",
            f.daemons,
            crate::report::thousands(f.keys as u64),
            crate::report::thousands(f.teams as u64),
            f.interval
        ),
        &[
            "measurement",
            "before: full read every poll (`--litellm-full-read-every 0s`)",
            "after: change marker (default)",
        ],
    );
    let row = |t: &mut Table, name: &str, get: &dyn Fn(&Idle) -> String| {
        t.row(&[name.to_owned(), get(&before), get(&after)]);
    };
    row(&mut t, "client connections held by the fleet", &|i| {
        format!("{:.0}", i.connections)
    });
    row(&mut t, "idle window", &|i| format!("{:.0} s", i.window));
    row(
        &mut t,
        "polls/s answered by the marker (no full read)",
        &|i| format!("{:.2}", i.marker_polls_per_s),
    );
    row(&mut t, "full reads/s", &|i| {
        format!("{:.2}", i.full_reads_per_s)
    });
    row(&mut t, "queries/s (transactions on the database)", &|i| {
        format!("**{:.1}**", i.xacts_per_s)
    });
    row(&mut t, "rows read/s (tup_returned + tup_fetched)", &|i| {
        if i.rows_per_s < 100.0 {
            format!("**{:.1}**", i.rows_per_s)
        } else {
            format!("**{}**", crate::report::thousands(i.rows_per_s as u64))
        }
    });
    row(&mut t, "database CPU (postmaster + all backends)", &|i| {
        format!("**{:.1} % of one core**", i.db_cpu * 100.0)
    });
    row(
        &mut t,
        &format!("CPU of all {} sidecars together", f.daemons),
        &|i| format!("{:.1} % of one core", i.sync_cpu * 100.0),
    );
    let spend = |get: &dyn Fn(&Spend) -> String| -> String {
        after
            .spend
            .as_ref()
            .map_or_else(|| "not measured".to_owned(), get)
    };
    let every_poll = "(every poll is a full read)".to_owned();
    t.row(&[
        "one spend update of one key: fingerprints / full reads in the fleet".to_owned(),
        every_poll.clone(),
        spend(&|s| format!("{} / **{}**", s.fingerprints, s.full_reads)),
    ]);
    t.row(&[
        "one spend update of one key: rows read, database CPU, until every sidecar saw it"
            .to_owned(),
        every_poll,
        spend(&|s| {
            format!(
                "{} rows, {:.2} CPU-s; seen by all in {:.1} s",
                crate::report::thousands(s.rows as u64),
                s.db_cpu_s,
                s.seconds
            )
        }),
    ]);
    t.note(
        "Both fleets run the same release binary on the same database, one after the other; \
         each is measured after every sidecar's first write, 10 s of settling and a statistics \
         flush. Queries are `xact_commit + xact_rollback` of the database in `pg_stat_database` \
         (each autocommit statement is one; a full read is one transaction), rows read are its \
         `tup_returned + tup_fetched`, CPU is utime+stime from /proc of the postmaster and its \
         children over the window. Full reads and marker polls are counted from the sidecars' \
         DEBUG logs (`poll: table unchanged` / `wrote routes file`, `poll: nothing new`). No \
         writes happen during the window: this is the idle cost. After it, one spend update (the \
         `UPDATE` LiteLLM's spend writer makes: spend, last_active, updated_at) shows what write \
         traffic that decides nothing costs: each sidecar runs one fingerprint aggregate over the \
         keys and teams, and no full read.",
    );
    vec![t]
}
