//! Scenario 7: a fleet of passthru-sync daemons on one PostgreSQL database. Idle cost on the
//! database (transactions/s, CPU of the postmaster and its backends), then how long one commit
//! takes to reach every daemon's file with NOTIFY.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::daemons::{start_sync, wait_for_file};
use crate::pg::Psql;
use crate::procfs::{children, cpu_ticks, TICKS_PER_SECOND};
use crate::report::{quantile, secs, verdict, Table};
use passthru_tests::postgres::PgCluster;
use passthru_tests::process::Daemon;

pub struct Fleet {
    pub daemons: usize,
    pub idle: Duration,
    pub commits: usize,
}

/// CPU ticks of the postmaster and all its backends.
pub fn db_ticks(postmaster: u32) -> u64 {
    cpu_ticks(postmaster).unwrap_or(0)
        + children(postmaster)
            .into_iter()
            .filter_map(cpu_ticks)
            .sum::<u64>()
}

pub fn run(f: &Fleet) -> Vec<Table> {
    let pg = PgCluster::start_with_max_connections((f.daemons as u32) * 4 + 20);
    let admin = pg.url_for("postgres");
    Psql::connect(&admin).exec("CREATE DATABASE bench;");
    let url = pg.url_for("bench");
    let (code, err) = passthru_tests::sync::sync_command(&["--database-url", &url, "migrate"]);
    assert_eq!(code, 0, "migrate: {err}");
    let mut psql = Psql::connect(&url);
    psql.exec(
        "INSERT INTO passthru_routes (path, target, include_subpath, auth) \
         SELECT '/svc-' || i, 'http://backend-' || i || ':8080', true, false FROM generate_series(0, 99) AS i;",
    );
    let dir = tempfile::tempdir().unwrap();
    let outputs: Vec<PathBuf> = (0..f.daemons)
        .map(|i| dir.path().join(format!("routes-{i}.yaml")))
        .collect();
    eprintln!("fleet: starting {} passthru-sync daemons", f.daemons);
    let mut fleet: Vec<Daemon> = outputs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            start_sync(
                out,
                &["--database-url", &url, "--interval", "10s"],
                "info",
                &dir.path().join(format!("sync-{i}.log")),
            )
        })
        .collect();
    for out in &outputs {
        assert!(
            wait_for_file(out, "/svc-99", Duration::from_secs(60)),
            "{} never written",
            out.display()
        );
    }
    // Let every daemon settle into its poll/LISTEN rhythm.
    std::thread::sleep(Duration::from_secs(5));
    let postmaster = pg.postmaster_pid().expect("the cluster runs");
    let xacts = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'bench';";
    let connections = psql.number(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench' AND backend_type = 'client backend';",
    ) - 1.0;
    eprintln!("fleet: idle window of {} s", f.idle.as_secs());
    // Statistics are flushed by each backend at most once a second: wait them out at both ends.
    std::thread::sleep(Duration::from_millis(1500));
    let x0 = psql.number(xacts);
    let c0 = db_ticks(postmaster);
    let s0: u64 = fleet.iter().filter_map(|s| cpu_ticks(s.pid())).sum();
    let t0 = Instant::now();
    std::thread::sleep(f.idle);
    let c1 = db_ticks(postmaster);
    let s1: u64 = fleet.iter().filter_map(|s| cpu_ticks(s.pid())).sum();
    let window = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(1500));
    // Minus the measuring session's own transaction.
    let x1 = psql.number(xacts) - 1.0;
    let qps = (x1 - x0) / window;
    let db_cpu = (c1 - c0) as f64 / TICKS_PER_SECOND / window;
    let sync_cpu = (s1 - s0) as f64 / TICKS_PER_SECOND / window;
    for s in &mut fleet {
        assert!(s.is_running(), "a passthru-sync daemon exited");
    }

    eprintln!("fleet: {} commits", f.commits);
    let mut lat = Vec::new();
    for k in 0..f.commits {
        let needle = format!("/fleet-{k}\n");
        psql.exec(&format!(
            "INSERT INTO passthru_routes (path, target, auth) VALUES ('/fleet-{k}', 'http://fleet:8080', false);"
        ));
        let start = Instant::now();
        let mut pending: Vec<&PathBuf> = outputs.iter().collect();
        while !pending.is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "commit {k} did not reach {} files",
                pending.len()
            );
            pending.retain(|p| !std::fs::read_to_string(p).is_ok_and(|t| t.contains(&needle)));
            if !pending.is_empty() {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
        lat.push(start.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(200));
    }
    let p99 = quantile(&lat, 0.99);
    let mut t = Table::new(
        &format!(
            "7. Fleet: {} passthru-sync daemons on one PostgreSQL (native schema, `--interval 10s`, NOTIFY on)",
            f.daemons
        ),
        &["measurement", "value", "target"],
    );
    t.row(&[
        "client connections held by the fleet".to_owned(),
        format!("{connections:.0}"),
        String::new(),
    ]);
    t.row(&[
        format!(
            "idle transactions/s on the database ({:.0} s window)",
            window
        ),
        format!("**{qps:.1}**"),
        String::new(),
    ]);
    t.row(&[
        "for scale: polls/s the fleet would make at one transaction per poll".to_owned(),
        format!("{:.1}", f.daemons as f64 / 10.0),
        String::new(),
    ]);
    t.row(&[
        "idle database CPU (postmaster + all backends)".to_owned(),
        format!("**{:.2} % of one core**", db_cpu * 100.0),
        String::new(),
    ]);
    t.row(&[
        format!("idle CPU of all {} daemons together", f.daemons),
        format!("{:.2} % of one core", sync_cpu * 100.0),
        String::new(),
    ]);
    t.row(&[
        format!(
            "one commit → all {} files (p50, {} commits)",
            f.daemons,
            lat.len()
        ),
        secs(quantile(&lat, 0.5)),
        String::new(),
    ]);
    t.row(&[
        format!("one commit → all {} files (p99 / max)", f.daemons),
        format!("**{}** / {}", secs(p99), secs(quantile(&lat, 1.0))),
        format!("p99 ≤ 1 s — {}", verdict(p99 <= 1.0)),
    ]);
    t.note(
        "Transactions are `xact_commit + xact_rollback` of the database in `pg_stat_database` \
         (every poll is one); CPU is utime+stime from /proc of the postmaster and its children \
         over the same window. Commit latency counts from the COMMIT returning to a persistent \
         psql session until the new path is in every daemon's file (polled every 0.5 ms).",
    );
    vec![t]
}
