//! Scenario 1c: what one reload of a large table costs the real proxy (release binary): its peak
//! resident set during the reload against the new table's steady resident set and the file's
//! size, and the reload's own duration as the proxy measures it. 100k routes, and 100 routes with
//! 1M keys.

use std::time::Duration;

use passthru_tests::process::{peak_rss_kib, reset_peak_rss};
use passthru_tests::proxy::Proxy;
use passthru_tests::wait::poll;
use sha2::{Digest, Sha256};

use crate::daemons::start_proxy;
use crate::reload::routes_yaml;
use crate::report::{median, secs, thousands, verdict, Table};

/// The most a reload of 100k routes may take (issue 15, item 4).
const RELOAD_TARGET_SECS: f64 = 0.3;

/// `routes` routes as [`routes_yaml`] writes them, then `keys` key hashes (sha256 of
/// `bench-key-{salt}-{i}`), sorted as passthru-sync writes them. Versions with different `salt`
/// have the same size.
pub fn keys_yaml(routes: usize, keys: usize, salt: u32) -> String {
    let mut digests: Vec<[u8; 32]> = (0..keys)
        .map(|i| Sha256::digest(format!("bench-key-{salt}-{i}")).into())
        .collect();
    digests.sort_unstable();
    let mut yaml = routes_yaml(routes, salt);
    yaml.reserve(keys * 75 + 6);
    yaml.push_str("keys:\n");
    for d in &digests {
        yaml.push_str("- sha256: ");
        yaml.push_str(&hex::encode(d));
        yaml.push('\n');
    }
    yaml
}

/// What `reloads` renames between two versions of one table measured.
struct Measured {
    file_bytes: usize,
    /// Largest VmHWM over the reloads, each reset just before its rename.
    peak_kib: u64,
    /// VmRSS once the last reload was served (the old table dropped).
    steady_kib: u64,
    /// Each reload's duration from the proxy's own histogram.
    reload_secs: Vec<f64>,
}

fn measure(versions: &[String; 2], reloads: usize) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("routes.yaml");
    std::fs::write(&file, &versions[0]).unwrap();
    let proxy = start_proxy(&file, &[]);
    let mut m = Measured {
        file_bytes: versions[0].len(),
        peak_kib: 0,
        steady_kib: 0,
        reload_secs: Vec::new(),
    };
    for n in 1..=reloads {
        let generation = proxy.generation();
        let (sum, count) = reload_histogram(&proxy);
        reset_peak_rss(proxy.pid()).expect("reset the proxy's VmHWM (/proc/PID/clear_refs)");
        passthru_tests::replace_by_rename(&file, &versions[n % 2]);
        let loaded = poll(Duration::from_secs(120), Duration::from_millis(5), || {
            (proxy.generation() > generation).then_some(())
        });
        assert!(
            loaded.is_some(),
            "{} was not loaded:\n{}",
            file.display(),
            proxy.log()
        );
        m.peak_kib = m.peak_kib.max(peak_rss_kib(proxy.pid()).unwrap_or(0));
        m.steady_kib = proxy.rss_kib();
        let (sum_after, count_after) = reload_histogram(&proxy);
        assert_eq!(count_after - count, 1.0, "one reload per rename");
        m.reload_secs.push(sum_after - sum);
    }
    m
}

fn reload_histogram(proxy: &Proxy) -> (f64, f64) {
    (
        proxy
            .metric("passthru_reload_duration_seconds_sum")
            .unwrap_or(0.0),
        proxy
            .metric("passthru_reload_duration_seconds_count")
            .unwrap_or(0.0),
    )
}

/// `routes`: the size of the routes-only table; `keys`: the key count of the keyed table (with
/// 100 routes); `reloads` of each.
pub fn run(routes: usize, keys: usize, reloads: usize) -> Vec<Table> {
    let mut t = Table::new(
        "1c. Reload memory and time at scale (release proxy, RSS from /proc)",
        &[
            "table",
            "file",
            "steady RSS after",
            "peak RSS during the reload",
            "bound: 2 × steady + file",
            "peak within the bound",
            "reload (median of the proxy's own timing)",
            "target ≤ 0.3 s",
        ],
    );
    let cases = [
        (
            format!("{} routes", thousands(routes as u64)),
            [routes_yaml(routes, 0), routes_yaml(routes, 1)],
            true,
        ),
        (
            format!("100 routes + {} keys", thousands(keys as u64)),
            [keys_yaml(100, keys, 0), keys_yaml(100, keys, 1)],
            false,
        ),
    ];
    for (name, versions, timed) in cases {
        eprintln!("reload-memory: {name}, {reloads} reloads");
        let m = measure(&versions, reloads);
        let file_kib = m.file_bytes as u64 / 1024;
        let bound = 2 * m.steady_kib + file_kib;
        let took = median(&m.reload_secs);
        t.row(&[
            name,
            format!("{} KiB", thousands(file_kib)),
            format!("{} KiB", thousands(m.steady_kib)),
            format!("**{} KiB**", thousands(m.peak_kib)),
            format!("{} KiB", thousands(bound)),
            verdict(m.peak_kib <= bound).to_owned(),
            format!("**{}**", secs(took)),
            if timed {
                verdict(took <= RELOAD_TARGET_SECS).to_owned()
            } else {
                "–".to_owned()
            },
        ]);
    }
    t.note(format!(
        "Each table: the proxy starts on one version, then {reloads} renames alternate two \
         same-size versions. Before each rename the proxy's VmHWM is reset (`5` to \
         /proc/PID/clear_refs); once `passthru_table_generation` shows the new table, VmHWM is \
         the peak of that reload and VmRSS the steady state with the old table dropped. The \
         peak column is the largest over the reloads, the steady column the last. The reload \
         time is `passthru_reload_duration_seconds` (read, hash, parse, build, swap) from the \
         proxy's own histogram. The old table serves until the new one is swapped in, so a \
         reload holds both."
    ));
    vec![t]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyed_table_is_in_canonical_form_and_versions_have_one_size() {
        let yaml = keys_yaml(3, 50, 0);
        let file = passthru_routes::RoutesFile::parse(yaml.as_bytes()).unwrap();
        assert_eq!(file.keys().len(), 50);
        assert_eq!(file.render(), yaml);
        assert_eq!(keys_yaml(3, 50, 1).len(), yaml.len());
    }
}
