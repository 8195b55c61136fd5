//! The proxy's resident memory across reloads of a large table, in-process and on the proxy's
//! allocator settings: each cycle parses one of two files, builds the served table and drops the
//! one before, as a reload does, and prints VmRSS every 50 cycles.
//!
//! ```sh
//! cargo run --release -p passthru-proxy --example reload_rss -- A.yaml B.yaml 400
//! ```
//!
//! With 100k routes (docs/performance.md, "Memory across reloads"), mimalloc with the proxy's
//! settings grows about 100 KB a cycle for a few hundred cycles. For glibc malloc, which stays
//! flat from the first, remove the `#[global_allocator]` item and the `tune` call.

use std::sync::Arc;

use passthru_proxy::serving_table::ServingTable;
use passthru_routes::{RouteTable, RoutesFile};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn main() {
    passthru_proxy::allocator::tune();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, cycles] = args.as_slice() else {
        eprintln!("usage: reload_rss A.yaml B.yaml CYCLES");
        std::process::exit(2);
    };
    let files = [a, b];
    let cycles: usize = cycles.parse().expect("CYCLES is a number");
    let mut serving: Option<Arc<ServingTable>> = None;
    for cycle in 1..=cycles {
        let bytes = std::fs::read(files[cycle % 2]).expect("read the routes file");
        let file = RoutesFile::parse(&bytes).expect("a valid routes file");
        drop(bytes);
        let table = ServingTable::build(RouteTable::new(file), cycle as u64, [0; 32], |_| None);
        serving = Some(Arc::new(table));
        if cycle % 50 == 0 || cycle == 1 {
            println!("cycle {cycle}: {} KiB", vm_rss_kib());
        }
    }
    drop(serving);
}
