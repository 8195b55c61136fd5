//! Scenario 2: memory across reloads and polls, in the real processes.
//! The proxy: 10,000 reloads of a 100-route table, alternating two versions by rename.
//! The sync daemon: 10,000 polls of an embedded SQLite database at a short interval.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::daemons::{start_proxy, start_sync};
use crate::reload::routes_yaml;
use crate::report::{dur, signed_kib, thousands, verdict, Table};
use passthru_tests::proxy::{metric_in as metric, Proxy};

pub struct Memory {
    pub reloads: u64,
    pub polls: u64,
    pub budget: Duration,
    /// Reloads of the 100k-route table (table 2b).
    pub large_reloads: u64,
}

pub fn run(m: &Memory) -> Vec<Table> {
    let mut t = Table::new(
        "2. Memory across reloads and polls (release binaries, RSS from /proc)",
        &[
            "process",
            "what repeats",
            "RSS after 1",
            "RSS after 100",
            "RSS after 1,000",
            "RSS at the end",
            "growth 100 → end",
            "target",
        ],
    );
    proxy_rss(m, &mut t);
    sync_rss(m, &mut t);
    vec![t, large_table_rss(m.large_reloads)]
}

/// A release proxy serving one of two same-size versions of a `routes`-route table, reloaded by
/// renaming the other into place.
struct ReloadingProxy {
    _dir: tempfile::TempDir,
    file: PathBuf,
    versions: [String; 2],
    proxy: Proxy,
    admin: Client,
    base: u64,
}

impl ReloadingProxy {
    fn start(routes: usize) -> ReloadingProxy {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("routes.yaml");
        let versions = [routes_yaml(routes, 0), routes_yaml(routes, 1)];
        std::fs::write(&file, &versions[0]).unwrap();
        let proxy = start_proxy(&file, &["--debounce-ms", "0"]);
        let mut admin = Client::new(proxy.admin);
        let base = generation(&mut admin);
        ReloadingProxy {
            _dir: dir,
            file,
            versions,
            proxy,
            admin,
            base,
        }
    }

    /// Renames version `n % 2` into place and waits until the proxy serves its `n`th reload.
    fn reload(&mut self, n: u64) {
        passthru_tests::replace_by_rename(&self.file, &self.versions[(n % 2) as usize]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while generation(&mut self.admin) < self.base + n {
            assert!(Instant::now() < deadline, "reload {n} never happened");
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// The proxy's `passthru_table_generation`.
fn generation(admin: &mut Client) -> u64 {
    admin
        .get_text("/metrics")
        .ok()
        .and_then(|b| metric(&b, "passthru_table_generation"))
        .unwrap_or(0.0) as u64
}

/// Table 2b: RSS across `reloads` reloads of a 100k-route table. The allocator keeps some of
/// each large table's memory for a few hundred reloads before it levels off
/// (docs/performance.md, "Memory across reloads"); this shows where.
fn large_table_rss(reloads: u64) -> Table {
    let mut t = Table::new(
        "2b. Proxy memory across reloads of a 100k-route table (release binary, RSS from /proc)",
        &["reloads", "RSS", "change since the row before"],
    );
    let mut proxy = ReloadingProxy::start(100_000);
    let every = (reloads / 10).max(1);
    let mut before: Option<u64> = None;
    eprintln!("memory: {reloads} proxy reloads of 100k routes");
    let started = Instant::now();
    for n in 1..=reloads {
        proxy.reload(n);
        if n == 1 || n % every == 0 {
            let rss = proxy.proxy.rss_kib();
            let change = before.map_or("–".to_owned(), |b| signed_kib(rss as i64 - b as i64));
            t.row(&[thousands(n), kib(rss), change]);
            before = Some(rss);
        }
    }
    t.note(format!(
        "Two same-size versions of a 100k-route table (22 MB) alternate by rename, each reload \
         awaited in `passthru_table_generation`; {} in all. No target: the row shows whether \
         the allocator's share levels off.",
        dur(started.elapsed())
    ));
    t
}

fn proxy_rss(m: &Memory, t: &mut Table) {
    let mut proxy = ReloadingProxy::start(100);
    let started = Instant::now();
    let mut at = [0u64; 3];
    let mut done = 0;
    eprintln!("memory: {} proxy reloads", m.reloads);
    for n in 1..=m.reloads {
        proxy.reload(n);
        match n {
            1 => at[0] = proxy.proxy.rss_kib(),
            100 => at[1] = proxy.proxy.rss_kib(),
            1000 => at[2] = proxy.proxy.rss_kib(),
            _ => {}
        }
        done = n;
        if started.elapsed() > m.budget {
            break;
        }
    }
    let end = proxy.proxy.rss_kib();
    rss_row(
        t,
        "passthru-proxy",
        format!(
            "{} reloads of 100 routes ({})",
            thousands(done),
            dur(started.elapsed())
        ),
        at,
        end,
        done == m.reloads,
    );
    if done < m.reloads {
        t.note(format!(
            "The proxy run stopped at its time budget after {done} of {} reloads.",
            m.reloads
        ));
    }
}

fn sync_rss(m: &Memory, t: &mut Table) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sync.db");
    let out = dir.path().join("routes.yaml");
    let log = dir.path().join("sync.log");
    let db_arg = db.to_str().unwrap();
    // A table to poll: 100 routes through the daemon's own `routes add`.
    let (code, err) = passthru_tests::sync::sync_command(&["--sqlite-path", db_arg, "migrate"]);
    assert_eq!(code, 0, "migrate: {err}");
    for i in 0..100 {
        let (code, err) = passthru_tests::sync::sync_command(&[
            "--sqlite-path",
            db_arg,
            "routes",
            "add",
            "--path",
            &format!("/svc-{i}"),
            "--target",
            &format!("http://backend-{i}:8080"),
        ]);
        assert_eq!(code, 0, "routes add: {err}");
    }
    let mut sync = start_sync(
        &out,
        &["--sqlite-path", db_arg, "--interval", "5ms"],
        "debug",
        &log,
    );
    let polls = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("poll: nothing new")
            .count() as u64
    };
    eprintln!("memory: {} sync polls", m.polls);
    let started = Instant::now();
    let mut at = [0u64; 3];
    let mut seen = 0;
    while seen < m.polls && started.elapsed() < m.budget {
        assert!(sync.is_running(), "passthru-sync exited");
        std::thread::sleep(Duration::from_millis(20));
        seen = polls();
        let rss = crate::procfs::rss_kib(sync.pid()).unwrap_or(0);
        for (k, mark) in [1u64, 100, 1000].into_iter().enumerate() {
            if seen >= mark && at[k] == 0 {
                at[k] = rss;
            }
        }
    }
    let end = crate::procfs::rss_kib(sync.pid()).unwrap_or(0);
    rss_row(
        t,
        "passthru-sync",
        format!(
            "{} idle polls of 100 SQLite routes at `--interval 5ms` ({})",
            thousands(seen),
            dur(started.elapsed())
        ),
        at,
        end,
        seen >= m.polls,
    );
    t.note(
        "The proxy waits for each reload to show in `passthru_table_generation` before the next \
         rename. The sync daemon's polls are counted from its debug log (`poll: nothing new`); \
         RSS is sampled when the count first reaches each mark. The issue sets the 1 MiB target \
         for the proxy; the same bar is applied to the sync daemon.",
    );
}

/// One process's row: RSS after 1, 100 and 1,000 repetitions and at the end; growth from 100 to
/// the end against the 1 MiB bar (missed too when the run did not complete its count).
fn rss_row(t: &mut Table, process: &str, what: String, at: [u64; 3], end: u64, completed: bool) {
    let growth = end as i64 - at[1] as i64;
    t.row(&[
        process.to_owned(),
        what,
        kib(at[0]),
        kib(at[1]),
        kib(at[2]),
        kib(end),
        format!("**{}**", signed_kib(growth)),
        format!("≤ 1 MiB — {}", verdict(growth <= 1024 && completed)),
    ]);
}

fn kib(v: u64) -> String {
    if v == 0 {
        "–".into()
    } else {
        format!("{} KiB", thousands(v))
    }
}
