//! Scenario 3, the anchor: LiteLLM's own reload (`initialize_pass_through_endpoints`) of 100
//! id-less rows, cycle after cycle, in-process, next to passthru's rebuild of the same rows.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use passthru_proxy::state::ProxyState;

use crate::litellm_venv::{self, Venv};
use crate::reload::{litellm_rows_yaml, reload_once, self_rss_kib};
use crate::report::{median, secs, thousands, Table};

/// Earlier anchors (1.83.7's registry grew by 100 entries a cycle; 1.95.0 fixed it), run only
/// from the venvs earlier runs left in target/bench: their `litellm[proxy]` pins are not
/// installed again.
pub const EARLIER: &[&str] = &["1.83.7", "1.95.0"];

pub const CHECKPOINTS: [usize; 4] = [1, 100, 1_000, 10_000];

#[derive(Debug, Default, Clone)]
pub struct Run {
    pub label: String,
    /// Per-cycle seconds, cycle 1 first.
    pub seconds: Vec<f64>,
    /// Registry (LiteLLM) or table (passthru) size after each cycle.
    pub size: Vec<u64>,
    /// LiteLLM's `len(app.routes)` after cycle 1 and after the last cycle.
    pub app_routes: Option<(u64, u64)>,
    pub rss_start: u64,
    pub rss_end: u64,
    pub stopped: Option<String>,
    pub failed: Option<String>,
}

fn litellm(venv: &Venv, cycles: usize, budget: f64) -> Run {
    let mut run = Run {
        label: format!("LiteLLM {} ({})", venv.version, venv.installed_from),
        ..Run::default()
    };
    let script = passthru_tests::repo_root().join("crates/bench/litellm_anchor.py");
    eprintln!(
        "litellm {}: up to {cycles} cycles, {budget:.0} s budget",
        venv.version
    );
    let mut child = match Command::new(&venv.python)
        .arg(&script)
        .arg(cycles.to_string())
        .arg(budget.to_string())
        // Import never fetches the model cost map from the network.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            run.failed = Some(format!("{}: {e}", venv.python.display()));
            return run;
        }
    };
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines().map_while(Result::ok) {
        parse_line(&mut run, &line);
    }
    let out = child.wait_with_output().unwrap();
    if run.seconds.is_empty() {
        run.failed = Some(format!(
            "the anchor script failed: {}",
            litellm_venv::last_lines(&String::from_utf8_lossy(&out.stderr), 3)
        ));
    }
    run
}

/// One JSON line of `litellm_anchor.py`.
pub fn parse_line(run: &mut Run, line: &str) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return;
    };
    if v.get("version").is_some() {
        run.rss_start = v["rss_kib"].as_u64().unwrap_or(0);
    } else if v.get("cycle").is_some() {
        run.seconds.push(v["seconds"].as_f64().unwrap_or(f64::NAN));
        run.size.push(v["registry"].as_u64().unwrap_or(0));
        run.rss_end = v["rss_kib"].as_u64().unwrap_or(0);
        let app = v["app_routes"].as_u64().unwrap_or(0);
        run.app_routes = Some((run.app_routes.map_or(app, |(first, _)| first), app));
    } else if v.get("done").is_some() {
        run.stopped = v["stopped"].as_str().map(str::to_owned);
    }
}

/// passthru's rebuild of the same 100 id-less rows every cycle (forced: the real proxy skips
/// an unchanged file by its hash, so this is the cost it would pay if it did rebuild).
fn passthru(cycles: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routes.yaml");
    std::fs::write(&path, litellm_rows_yaml(100)).unwrap();
    let shared = ProxyState::new();
    let mut run = Run {
        label: "passthru (same 100 rows, full rebuild every cycle)".into(),
        rss_start: self_rss_kib(),
        ..Run::default()
    };
    for cycle in 1..=cycles {
        let t = Instant::now();
        let n = reload_once(&path, &shared, cycle as u64);
        run.seconds.push(t.elapsed().as_secs_f64());
        run.size.push(n as u64);
    }
    run.rss_end = self_rss_kib();
    run
}

/// Median of the ten cycles ending at `cycle` (cycle 1 alone), when the run got that far.
pub fn at(run: &Run, cycle: usize) -> Option<f64> {
    if run.seconds.len() < cycle {
        return None;
    }
    let from = cycle.saturating_sub(10);
    Some(median(&run.seconds[from..cycle]))
}

/// `budget`: seconds each LiteLLM may spend on its cycles before it stops, saying so.
pub fn run(cycles: usize, budget: f64) -> Vec<Table> {
    let mut runs = vec![passthru(cycles)];
    match litellm_venv::reference() {
        Ok(venv) => runs.push(litellm(&venv, cycles, budget)),
        Err(e) => runs.push(Run {
            label: "LiteLLM (`tests/litellm/requirements.txt`)".into(),
            failed: Some(e),
            ..Run::default()
        }),
    }
    let mut skipped = Vec::new();
    for version in EARLIER {
        match litellm_venv::cached(version) {
            Some(venv) => runs.push(litellm(&venv, cycles, budget)),
            None => skipped.push(*version),
        }
    }
    let mut t = Table::new(
        "3. The anchor: LiteLLM's own reload vs passthru's, same 100 id-less rows, cycle after cycle",
        &[
            "implementation",
            "cycles run",
            "cycle 1",
            "cycle 100",
            "cycle 1,000",
            "cycle 10,000",
            "registry / table size at 1 → 100 → 1,000 → 10,000",
            "app routes after cycle 1 → last",
            "process RSS start → end",
        ],
    );
    let mut notes = Vec::new();
    for r in &runs {
        if let Some(e) = &r.failed {
            t.row(&[r.label.clone(), format!("failed: {e}")]);
            continue;
        }
        let cell = |c: usize| at(r, c).map(secs).unwrap_or_else(|| "not reached".into());
        let sizes: Vec<String> = CHECKPOINTS
            .iter()
            .map(|&c| {
                r.size
                    .get(c - 1)
                    .map(|&s| thousands(s))
                    .unwrap_or_else(|| "–".into())
            })
            .collect();
        let last = r.seconds.len();
        let last_cell = format!(
            "{} {}",
            cell(10_000),
            if last < 10_000 && last > 0 {
                format!(
                    "(last, cycle {}: {})",
                    thousands(last as u64),
                    secs(r.seconds[last - 1])
                )
            } else {
                String::new()
            }
        );
        t.row(&[
            r.label.clone(),
            thousands(last as u64),
            cell(1),
            cell(100),
            cell(1_000),
            last_cell.trim().to_owned(),
            format!(
                "{} (last: {})",
                sizes.join(" → "),
                thousands(r.size.last().copied().unwrap_or(0))
            ),
            r.app_routes
                .map(|(first, last)| format!("{} → {}", thousands(first), thousands(last)))
                .unwrap_or_else(|| "–".into()),
            format!("{} → {} KiB", thousands(r.rss_start), thousands(r.rss_end)),
        ]);
        if let Some(s) = &r.stopped {
            notes.push(format!("{}: stopped early — {s}.", r.label));
        }
    }
    t.note(
        "Cycle N = median of cycles N−9…N (cycle 1 alone). LiteLLM: `initialize_pass_through_endpoints` \
         from `litellm.proxy.pass_through_endpoints.pass_through_endpoints`, awaited in-process with \
         100 fresh dicts `{\"path\": \"/svc-i\", \"target\": \"http://backend-i:8080\"}` per cycle (no \
         `id`, as the database reload passes them); size = `len(_registered_pass_through_routes)`, \
         app routes = `len(app.routes)` of `litellm.proxy.proxy_server`. passthru: the proxy's \
         reload path on the canonical file of the same rows; size = routes in the table served. \
         Its RSS column is the whole bench process.",
    );
    if !skipped.is_empty() {
        notes.push(format!(
            "Not run: LiteLLM {} (earlier anchors; they run only from a venv an earlier run left \
             in target/bench, and none is there).",
            skipped.join(", ")
        ));
    }
    for n in notes {
        t.note(n);
    }
    vec![t]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_lines_are_read_and_checkpoints_taken() {
        let mut run = Run::default();
        parse_line(
            &mut run,
            r#"{"version": "1.83.7", "rss_kib": 1000, "app_routes": 5}"#,
        );
        for c in 1..=120 {
            parse_line(
                &mut run,
                &format!(
                    r#"{{"cycle": {c}, "seconds": {}, "registry": {}, "app_routes": 9, "rss_kib": 2000}}"#,
                    c as f64 / 1000.0,
                    c * 100
                ),
            );
        }
        parse_line(
            &mut run,
            r#"{"done": true, "stopped": "time budget", "total_seconds": 3}"#,
        );
        parse_line(&mut run, "a warning printed by the library");
        assert_eq!(run.seconds.len(), 120);
        assert_eq!(run.size[99], 10_000);
        assert_eq!(run.rss_start, 1000);
        assert_eq!(run.rss_end, 2000);
        assert_eq!(run.app_routes, Some((9, 9)));
        assert_eq!(run.stopped.as_deref(), Some("time budget"));
        assert_eq!(at(&run, 1), Some(0.001));
        assert_eq!(at(&run, 100), Some(0.095));
        assert_eq!(at(&run, 1_000), None);
    }
}
