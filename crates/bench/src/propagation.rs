//! Scenario 5: how long a change takes to answer requests.
//! File: rename a new routes file into place → first 200 from the new route through the proxy.
//! Database: commit an INSERT → passthru-sync (NOTIFY, `--interval 60s`) writes the file → the
//! proxy reloads → first 200 from the new route.

use std::time::Duration;

use passthru_tests::postgres::PgCluster;

use crate::client::Client;
use crate::daemons::{start_proxy, start_sync, wait_for_file};
use crate::nginx::Nginx;
use crate::pg::Psql;
use crate::report::{quantile, secs, thousands, verdict, Table};
use crate::route_tables::{upstream_routes, upstream_routes_raw};

const TIMEOUT: Duration = Duration::from_secs(30);
/// Probe spacing: fine enough for a 100 ms target without the probe loop itself loading the
/// proxy (back-to-back probes are a load test of their own on a 2-core machine).
const POLL: Duration = Duration::from_millis(1);

pub fn run(samples: usize, routes: usize) -> Vec<Table> {
    let mut t = Table::new(
        &format!(
            "5. Propagation: change → first response from the new route ({} routes in the table)",
            thousands(routes as u64)
        ),
        &["change", "samples", "p50", "p99", "max", "target"],
    );
    let upstream = Nginx::upstream();
    let up = format!("http://127.0.0.1:{}", upstream.port);

    let file_lat = file(samples, routes, &up);
    row(&mut t, "file rename (DB-less)", &file_lat, 0.015);

    let mut split = None;
    match std::panic::catch_unwind(|| database(samples, routes, &up)) {
        Ok((db, sync_split)) => {
            row(
                &mut t,
                "database commit (native schema, NOTIFY)",
                &db,
                0.030,
            );
            split = sync_split;
        }
        Err(e) => t.row(&[
            "database commit (native schema, NOTIFY)".to_owned(),
            format!("failed: {}", crate::panic_message(&*e)),
        ]),
    }
    t.note(
        "Clock starts when the rename returns (file) or when the COMMIT returns to a persistent \
         psql session (database) and stops at the first 200 from the new route, probed every 1 ms \
         over one keep-alive connection. Proxy defaults: a rename onto the routes file is read at \
         once, other changes after `--debounce-ms 20` of quiet; passthru-sync `--interval 60s` \
         with LISTEN/NOTIFY, so no commit is carried by a poll (its log's `read_ms`, \
         `render_ms` and `write_ms` split its part of a commit's time). Targets: issue 15.",
    );
    if let Some([read, render, write]) = split {
        t.note(format!(
            "passthru-sync's part of a commit, medians over the commits from its log: the \
             queries {read:.1} ms, validating and rendering {render:.1} ms, the atomic write \
             {write:.1} ms."
        ));
    }
    vec![t]
}

fn row(t: &mut Table, what: &str, lat: &[f64], target: f64) {
    let p99 = quantile(lat, 0.99);
    t.row(&[
        what.to_owned(),
        lat.len().to_string(),
        secs(quantile(lat, 0.5)),
        format!("**{}**", secs(p99)),
        secs(quantile(lat, 1.0)),
        format!(
            "p99 ≤ {} — {}",
            secs(target),
            verdict(p99 <= target && !lat.is_empty())
        ),
    ]);
}

fn file(samples: usize, routes: usize, up: &str) -> Vec<f64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    let base = upstream_routes_raw(routes, up);
    std::fs::write(&path, upstream_routes(routes, up)).unwrap();
    let proxy = start_proxy(&path, &[]);
    let mut client = Client::new(proxy.addr);
    let mut lat = Vec::new();
    eprintln!("propagation: {samples} file renames");
    for k in 0..samples {
        // The same table plus one new route (canonical, as passthru-sync would write it).
        let yaml = format!(
            "{base}- {{path: /new-{k}, target: '{up}', include_subpath: true, auth: false}}\n"
        );
        let yaml = crate::reload::canonical(&yaml);
        let temp = dir.path().join("routes.yaml.tmp");
        std::fs::write(&temp, yaml).unwrap();
        let probe = format!("/new-{k}/x");
        std::fs::rename(&temp, &path).unwrap();
        lat.push(until_served(&mut client, &probe));
    }
    lat
}

/// The medians of `read_ms`, `render_ms` and `write_ms` over the "wrote routes file" lines of
/// passthru-sync's log after its first write.
fn sync_split(log: &std::path::Path) -> Option<[f64; 3]> {
    let text = std::fs::read_to_string(log).ok()?;
    let field = |line: &str, name: &str| -> Option<f64> {
        let at = line.find(&format!("{name}="))? + name.len() + 1;
        let value: String = line[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        value.parse().ok()
    };
    let mut columns: [Vec<f64>; 3] = Default::default();
    for line in text
        .lines()
        .filter(|l| l.contains("wrote routes file"))
        .skip(1)
    {
        for (column, name) in columns.iter_mut().zip(["read_ms", "render_ms", "write_ms"]) {
            column.extend(field(line, name));
        }
    }
    if columns.iter().any(Vec::is_empty) {
        return None;
    }
    Some(columns.map(|c| quantile(&c, 0.5)))
}

fn database(samples: usize, routes: usize, up: &str) -> (Vec<f64>, Option<[f64; 3]>) {
    let pg = PgCluster::start();
    let url = pg.create_database("bench");
    let (code, err) = passthru_tests::sync::sync_command(&["--database-url", &url, "migrate"]);
    assert_eq!(code, 0, "migrate: {err}");
    pg.psql(
        "bench",
        &format!(
            "INSERT INTO passthru_routes (path, target, include_subpath, auth) \
             SELECT '/svc-' || i, '{up}', true, false FROM generate_series(0, {}) AS i",
            routes - 1
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("routes.yaml");
    let _sync = start_sync(
        &out,
        &["--database-url", &url, "--interval", "60s"],
        "info",
        &dir.path().join("sync.log"),
    );
    assert!(
        wait_for_file(&out, "/svc-1", TIMEOUT),
        "passthru-sync never wrote the table"
    );
    let proxy = start_proxy(&out, &[]);
    let mut client = Client::new(proxy.addr);
    assert_eq!(client.get("/svc-1/x").unwrap(), 200);
    std::thread::sleep(Duration::from_millis(500));
    let mut psql = Psql::connect(&url);
    let mut lat = Vec::new();
    eprintln!("propagation: {samples} database commits");
    for k in 0..samples {
        psql.exec(&format!(
            "INSERT INTO passthru_routes (path, target, include_subpath, auth) VALUES ('/db-{k}', '{up}', true, false);"
        ));
        let probe = format!("/db-{k}/x");
        lat.push(until_served(&mut client, &probe));
    }
    (lat, sync_split(&dir.path().join("sync.log")))
}

/// Seconds until `probe` answers 200; then a pause, so the debounce window closes before the
/// next change.
fn until_served(client: &mut Client, probe: &str) -> f64 {
    let took = client
        .until_status(probe, 200, POLL, TIMEOUT)
        .unwrap_or_else(|| panic!("{probe} never answered"));
    std::thread::sleep(Duration::from_millis(50));
    took.as_secs_f64()
}
