//! passthru-bench: the benchmark harness. Every figure is a ratio or a side-by-side measurement
//! taken in the same run; every row carries its target and whether it was met.
//!
//! `.ci/bench` installs what is missing, builds the release binaries and runs `all`, which
//! prints the tables and writes them to docs/benchmarks.md. Not run by CI or `cargo test`.

mod access_log_price;
mod client;
mod daemons;
mod fleet;
mod fleet_litellm;
mod instructions;
mod knobs;
mod litellm;
mod litellm_proxy;
mod litellm_stream;
mod litellm_venv;
mod lookup;
mod low_rate;
mod memory;
mod nginx;
mod open_loop;
mod pg;
mod procfs;
mod propagation;
mod reload;
mod reload_memory;
mod report;
mod route_tables;
mod streams;
mod throughput;
mod throughput_litellm;
mod wrk;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use report::Table;

#[derive(Parser)]
#[command(name = "passthru-bench", about = "passthru's benchmark harness")]
struct Cli {
    /// Which scenarios to run.
    #[arg(value_enum, num_args = 1.., default_value = "all")]
    scenarios: Vec<Scenario>,
    /// Small counts and short runs: checks the harness works, figures are not meaningful.
    #[arg(long)]
    quick: bool,
    /// Where to write the tables (default: docs/benchmarks.md for `all`, else
    /// target/bench/benchmarks-NAME.md).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    All,
    Reload,
    ReloadMemory,
    Memory,
    Litellm,
    Throughput,
    Instructions,
    AccessLog,
    Streams,
    Knobs,
    Propagation,
    Lookup,
    Fleet,
    FleetLitellm,
}

const ORDER: [Scenario; 13] = [
    Scenario::Reload,
    Scenario::ReloadMemory,
    Scenario::Memory,
    Scenario::Litellm,
    Scenario::Throughput,
    Scenario::Instructions,
    Scenario::Streams,
    Scenario::Knobs,
    Scenario::AccessLog,
    Scenario::Propagation,
    Scenario::Lookup,
    Scenario::Fleet,
    Scenario::FleetLitellm,
];

fn load(quick: bool) -> throughput::Load {
    throughput::Load {
        duration: Duration::from_secs(if quick { 2 } else { 8 }),
        rounds: if quick { 1 } else { 3 },
        connections: 32,
        threads: 1,
    }
}

fn run_scenario(s: Scenario, quick: bool) -> Vec<Table> {
    match s {
        Scenario::All => unreachable!(),
        Scenario::Reload => reload::run(if quick {
            &[(100, 300), (1_000, 50), (10_000, 10)]
        } else {
            &[(100, 10_000), (1_000, 5_000), (10_000, 200)]
        }),
        Scenario::ReloadMemory => {
            if quick {
                reload_memory::run(10_000, 100_000, 2)
            } else {
                reload_memory::run(100_000, 1_000_000, 3)
            }
        }
        Scenario::Memory => memory::run(&memory::Memory {
            reloads: if quick { 300 } else { 10_000 },
            polls: if quick { 300 } else { 10_000 },
            budget: Duration::from_secs(if quick { 60 } else { 300 }),
            large_reloads: if quick { 20 } else { 500 },
        }),
        Scenario::Litellm => {
            if quick {
                litellm::run(200, 15.0)
            } else {
                litellm::run(10_000, 240.0)
            }
        }
        Scenario::Throughput => throughput::run(&load(quick), 1_000),
        Scenario::Instructions => instructions::run(if quick { 200 } else { 2_000 }, 1_000),
        Scenario::AccessLog => {
            access_log_price::run(&load(quick), if quick { 2 } else { 16 }, 1_000)
        }
        Scenario::Knobs => knobs::run(&load(quick), 1_000),
        Scenario::Streams => {
            let mut tables = streams::run(&if quick {
                streams::Streams::quick()
            } else {
                streams::Streams::full()
            });
            let (streams, events) = if quick { (10, 20) } else { (50, 50) };
            tables.push(litellm_stream::run(
                streams,
                events,
                Duration::from_millis(20),
                throughput::PROXY_CPU,
            ));
            tables
        }
        Scenario::Propagation => propagation::run(if quick { 10 } else { 100 }, 1_000),
        Scenario::Lookup => lookup::lookup(&load(quick), if quick { 10_000 } else { 100_000 }),
        Scenario::Fleet => fleet::run(&fleet::Fleet {
            daemons: if quick { 5 } else { 50 },
            idle: Duration::from_secs(if quick { 5 } else { 60 }),
            commits: if quick { 5 } else { 100 },
        }),
        Scenario::FleetLitellm => fleet_litellm::run_litellm(&fleet_litellm::FleetLitellm {
            daemons: if quick { 5 } else { 50 },
            keys: if quick { 10_000 } else { 100_000 },
            teams: if quick { 1_000 } else { 10_000 },
            idle: Duration::from_secs(if quick { 10 } else { 60 }),
            interval: "10s",
        }),
    }
}

pub fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

fn sh(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// Date, commit, machine, tools and the command, for the top of the report.
fn header(command: &str, elapsed: Duration, quick: bool, load: (&str, &str)) -> String {
    let commit = sh("git", &["rev-parse", "--short", "HEAD"]);
    // The tables this run writes are not a change to what it measures.
    let dirty = !sh(
        "git",
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!docs/benchmarks.md",
        ],
    )
    .is_empty();
    let wrk = sh("wrk", &["--version"]);
    let mut h = String::new();
    h.push_str("# Benchmarks\n\n");
    h.push_str(
        "Written by `passthru-bench` (crates/bench). Every figure below is a ratio or a \
         side-by-side measurement taken in the same run, because the machine is shared and noisy. \
         Where a target is missed, the figure is reported as measured.\n\n",
    );
    if quick {
        h.push_str("**`--quick` run: small counts, the figures are not meaningful.**\n\n");
    }
    h.push_str("```sh\n.ci/bench            # installs nginx, wrk, python3-venv; builds; runs:\n");
    h.push_str(&format!("{command}\n```\n\n"));
    h.push_str("| | |\n|---|---|\n");
    h.push_str(&format!(
        "| date | {} |\n",
        sh("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    ));
    h.push_str(&format!(
        "| commit | `{commit}`{} |\n",
        if dirty {
            " (with uncommitted changes in the checkout)"
        } else {
            ""
        }
    ));
    h.push_str(&format!(
        "| machine | {} × {}, {:.0} GiB, Linux {} (shared with other work) |\n",
        // `--all`: this process pins itself to one CPU while it measures.
        sh("nproc", &["--all"]),
        procfs::cpu_model(),
        procfs::mem_total_gib(),
        sh("uname", &["-r"])
    ));
    h.push_str(&format!(
        "| tools | {}, {}, PostgreSQL {} |\n",
        nginx::Nginx::version().trim_start_matches("nginx version: "),
        wrk.lines()
            .next()
            .unwrap_or("wrk ?")
            .split(" [")
            .next()
            .unwrap_or(""),
        sh(
            passthru_tests::postgres::pg_bin_dir()
                .join("postgres")
                .to_str()
                .unwrap_or("postgres"),
            &["--version"]
        )
        .split_whitespace()
        .nth(2)
        .unwrap_or("?")
    ));
    h.push_str(&format!(
        "| binaries | release (`target/release/passthru-proxy`, `passthru-sync`) |\n| run time | {:.1} min |\n",
        elapsed.as_secs_f64() / 60.0
    ));
    h.push_str(&format!(
        "| load average (1, 5, 15 min) | {} at the start, {} at the end (other work on the machine) |\n\n",
        load.0, load.1
    ));
    h
}

fn repo_root() -> PathBuf {
    let root = passthru_tests::repo_root();
    root.canonicalize().unwrap_or(root)
}

/// The first three fields of /proc/loadavg.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let cli = Cli::parse();
    let started = Instant::now();
    let all = cli.scenarios.contains(&Scenario::All);
    let chosen: Vec<Scenario> = if all {
        ORDER.to_vec()
    } else {
        ORDER
            .iter()
            .copied()
            .filter(|s| cli.scenarios.contains(s))
            .collect()
    };
    let out = cli.out.clone().unwrap_or_else(|| {
        if all {
            repo_root().join("docs/benchmarks.md")
        } else {
            let names: Vec<String> = chosen
                .iter()
                .map(|s| format!("{s:?}").to_lowercase())
                .collect();
            repo_root()
                .join("target/bench")
                .join(format!("benchmarks-{}.md", names.join("-")))
        }
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = format!(
        "cargo run --release -p passthru-bench -- {}",
        if args.is_empty() {
            "all".to_owned()
        } else {
            args.join(" ")
        }
    );
    let load_start = load_average();
    let mut body = String::new();
    for s in chosen {
        eprintln!("== {s:?}");
        let t = Instant::now();
        let tables = match std::panic::catch_unwind(|| run_scenario(s, cli.quick)) {
            Ok(tables) => tables,
            Err(e) => {
                let mut t = Table::new(&format!("{s:?}"), &["result"]);
                t.row(&[format!("failed: {}", panic_message(&*e))]);
                vec![t]
            }
        };
        for table in &tables {
            let text = table.render();
            println!("{text}");
            body.push_str(&text);
            body.push('\n');
        }
        eprintln!("== {s:?} took {:.0} s", t.elapsed().as_secs_f64());
        // Written after every scenario, so an interrupted run keeps what it measured.
        let load = (load_start.as_str(), load_average());
        let doc = format!(
            "{}{body}",
            header(&command, started.elapsed(), cli.quick, (load.0, &load.1))
        );
        if let Some(dir) = out.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&out, doc).expect("write the report");
    }
    eprintln!("wrote {}", out.display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_parses() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["passthru-bench", "reload", "fleet", "--quick"]).unwrap();
        assert_eq!(cli.scenarios, [Scenario::Reload, Scenario::Fleet]);
        assert!(cli.quick);
        let cli = Cli::try_parse_from(["passthru-bench"]).unwrap();
        assert_eq!(cli.scenarios, [Scenario::All]);
    }

    #[test]
    fn the_header_names_the_command_and_the_machine() {
        let h = header(
            "cargo run --release -p passthru-bench -- all",
            Duration::from_secs(90),
            false,
            ("1.00, 0.50, 0.25", "2.00, 1.00, 0.50"),
        );
        assert!(h.starts_with("# Benchmarks\n"));
        assert!(h.contains("cargo run --release -p passthru-bench -- all\n"));
        assert!(h.contains("| machine | "));
        assert!(h.contains("| run time | 1.5 min |"));
        assert!(h.contains("1.00, 0.50, 0.25 at the start, 2.00, 1.00, 0.50 at the end"));
        assert_eq!(load_average().split(", ").count(), 3);
    }

    #[test]
    fn the_reload_tables_have_a_row_per_size() {
        let tables = reload::run(&[(100, 3)]);
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].rows.len(), 1);
        assert!(tables[0].render().contains("| 100 |"));
    }
}
