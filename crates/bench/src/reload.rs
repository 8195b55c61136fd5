//! Scenario 1: reload cost vs table size and vs history, in-process, through the proxy's own
//! reload path (read → sha256 → parse+validate → RouteTable → diff → ServingTable → store →
//! drop the old table), next to a raw `serde_yaml::Value` parse of the same bytes measured
//! interleaved in the same loop.

use std::path::Path;
use std::time::Instant;

use passthru_proxy::reload::swap_in;
use passthru_proxy::routes_file::{parse_routes, read_routes_file};
use passthru_proxy::state::ProxyState;
use passthru_routes::RoutesFile;
use sha2::{Digest, Sha256};

use crate::report::{median, ratio, secs, signed_kib, thousands, verdict, Table};

/// A canonical file of `n` id-less routes, as passthru-sync writes it for rows such as
/// LiteLLM's UI creates: `/svc-{i}` → `http://backend-{i}:8080/v{salt}`, a header on every
/// fifth, a method split on every fourth. Versions with different `salt` have the same size.
pub fn routes_yaml(n: usize, salt: u32) -> String {
    let mut yaml = String::from("version: 1\nroutes:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "- path: /svc-{i}\n  target: http://backend-{i}:8080/v{salt}\n  include_subpath: true\n  auth: false\n"
        ));
        if i % 4 == 0 {
            yaml.push_str("  methods: [GET, POST]\n");
        }
        if i % 5 == 0 {
            yaml.push_str("  headers: {x-team: blue}\n");
        }
    }
    canonical(&yaml)
}

/// The bare rows LiteLLM's anchor uses: `{path, target}` only, id-less.
pub fn litellm_rows_yaml(n: usize) -> String {
    let mut yaml = String::from("version: 1\nroutes:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "- {{path: /svc-{i}, target: 'http://backend-{i}:8080', auth: false}}\n"
        ));
    }
    canonical(&yaml)
}

pub fn canonical(yaml: &str) -> String {
    RoutesFile::parse(yaml.as_bytes())
        .expect("bench table is valid")
        .render()
}

/// One reload as `Reloader::reload` does it (read, hash, parse, [`swap_in`]), minus logging and
/// the reload counters. The number of routes served.
pub fn reload_once(path: &Path, shared: &ProxyState, generation: u64) -> usize {
    let bytes = read_routes_file(path).expect("read");
    let hash: [u8; 32] = Sha256::digest(&bytes).into();
    let current = shared.table.load_full();
    let file = parse_routes(path, &bytes).expect("valid");
    drop(bytes);
    let (serving, diff) = swap_in(shared, current, file, generation, hash);
    std::hint::black_box(&diff);
    serving.table.routes().len()
}

/// The floor: read the same file and parse it into a `serde_yaml::Value`.
fn raw_parse(path: &Path) -> usize {
    let bytes = std::fs::read(path).expect("read");
    let value: serde_yaml::Value = serde_yaml::from_slice(&bytes).expect("yaml");
    std::hint::black_box(&value);
    bytes.len()
}

/// This process's resident set in KiB.
pub fn self_rss_kib() -> u64 {
    crate::procfs::rss_kib(std::process::id()).unwrap_or(0)
}

pub struct Series {
    pub bytes: usize,
    pub reload: Vec<f64>,
    pub raw: Vec<f64>,
    pub rss_at_100: u64,
    pub rss_at_end: u64,
}

/// `cycles` reloads of an `n`-route file, alternating two versions written by rename (the
/// write is not timed), each followed by a raw parse of the same bytes.
pub fn series(dir: &Path, n: usize, cycles: usize) -> Series {
    let path = dir.join("routes.yaml");
    let versions = [routes_yaml(n, 0), routes_yaml(n, 1)];
    assert_eq!(versions[0].len(), versions[1].len());
    let shared = ProxyState::new();
    let mut out = Series {
        bytes: versions[0].len(),
        reload: Vec::with_capacity(cycles),
        raw: Vec::with_capacity(cycles),
        rss_at_100: 0,
        rss_at_end: 0,
    };
    for cycle in 1..=cycles {
        passthru_tests::replace_by_rename(&path, &versions[cycle % 2]);
        // Alternate which of the two goes first, so neither always finds a warm cache.
        let time_reload = || {
            let t = Instant::now();
            assert_eq!(reload_once(&path, &shared, cycle as u64), n);
            t.elapsed().as_secs_f64()
        };
        let time_raw = || {
            let t = Instant::now();
            raw_parse(&path);
            t.elapsed().as_secs_f64()
        };
        let (r, w) = if cycle % 2 == 0 {
            let r = time_reload();
            (r, time_raw())
        } else {
            let w = time_raw();
            (time_reload(), w)
        };
        out.reload.push(r);
        out.raw.push(w);
        if cycle == 100.min(cycles) {
            out.rss_at_100 = self_rss_kib();
        }
    }
    out.rss_at_end = self_rss_kib();
    out
}

pub fn window(cycles: usize) -> usize {
    (cycles / 10).clamp(1, 100)
}

pub fn run(plan: &[(usize, usize)]) -> Vec<Table> {
    let dir = tempfile::tempdir().unwrap();
    let mut history = Table::new(
        "1. Reload cost vs table size and history (in-process, the proxy's reload path)",
        &[
            "routes",
            "file",
            "cycles",
            "cycle 1",
            "median, first window",
            "median, last window",
            "last / first",
            "target ≤ 1.05 ×",
            "control: raw parse last / first",
        ],
    );
    let mut floor = Table::new(
        "1b. Reload cost vs a raw serde_yaml parse of the same bytes (interleaved, same loop)",
        &[
            "routes",
            "raw `serde_yaml::Value` parse (median)",
            "passthru reload (median)",
            "ratio",
            "target ≤ 1.3 ×",
            "bench RSS after cycle 100 → last",
        ],
    );
    for &(n, cycles) in plan {
        eprintln!("reload: {n} routes × {cycles} cycles");
        let s = series(dir.path(), n, cycles);
        let w = window(cycles);
        let first = median(&s.reload[..w]);
        let last = median(&s.reload[cycles - w..]);
        let growth = last / first;
        history.row(&[
            thousands(n as u64),
            format!("{} KiB", thousands(s.bytes as u64 / 1024)),
            thousands(cycles as u64),
            secs(s.reload[0]),
            format!("{} (1–{w})", secs(first)),
            format!(
                "{} ({}–{})",
                secs(last),
                thousands((cycles - w + 1) as u64),
                thousands(cycles as u64)
            ),
            format!("**{}**", ratio(growth)),
            verdict(growth <= 1.05).to_owned(),
            ratio(median(&s.raw[cycles - w..]) / median(&s.raw[..w])),
        ]);
        let raw = median(&s.raw);
        let rel = median(&s.reload) / raw;
        floor.row(&[
            thousands(n as u64),
            secs(raw),
            secs(median(&s.reload)),
            format!("**{}**", ratio(rel)),
            verdict(rel <= 1.3).to_owned(),
            format!(
                "{} → {} KiB ({})",
                thousands(s.rss_at_100),
                thousands(s.rss_at_end),
                signed_kib(s.rss_at_end as i64 - s.rss_at_100 as i64)
            ),
        ]);
    }
    history.note(
        "Each cycle renames one of two same-size versions of the file into place (not timed), then \
         times read + sha256 + parse/validate + the trie and the diff against the table served \
         (`RouteTable::replacing`) + `ServingTable::build` + `ArcSwapOption::store` + dropping the \
         old table — what `Reloader::reload` does, without logging. Windows are min(100, \
         cycles/10) cycles. Larger tables run fewer cycles to bound the run's time; the history property is measured at \
         10,000 cycles on the 100-route table. The control column is the raw parse of the same \
         bytes over the same windows: it has no history, so where it moves too, the machine's \
         load moved, not passthru's cost (the verdict is on passthru's figure alone).",
    );
    floor.note(
        "Both columns read the file; the raw parse builds a `serde_yaml::Value` and nothing else. \
         The two are timed alternately in the same loop, so machine noise hits both alike.",
    );
    vec![history, floor]
}
