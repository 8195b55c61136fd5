//! Helpers for the end-to-end tests, the passthru-sync integration tests and the benchmarks:
//! the built binaries as daemons, a raw HTTP client, recording upstreams, a throwaway
//! PostgreSQL, and waits on facts with one patience multiplier.

pub mod access_log;
pub mod http;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod sync;
pub mod wait;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

pub use process::running_as_root;

/// A loopback port nobody listens on right now, for a daemon to bind a moment later.
///
/// Taken below the kernel's ephemeral range and never handed out twice by this process: a port
/// from `bind(0)` is free only until the listener is dropped, and under load another test's
/// `bind(0)` or outgoing connection could take it before the daemon binds, so that the test
/// then talks to someone else's listener (seen once as a 404 from a proxy that had just
/// started). Ports in use by other processes are skipped.
pub fn free_port() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOWEST: u32 = 10_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    let span = ephemeral.saturating_sub(LOWEST).max(1_000);
    // Each process starts at its own place, so that two suites side by side rarely meet.
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let port = LOWEST + NEXT.fetch_add(1, Ordering::SeqCst) % span;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return listener.local_addr().unwrap();
        }
    }
    panic!("no free loopback port in {LOWEST}..{}", LOWEST + span);
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
    }
}

/// A binary of this workspace, built by `cargo build --workspace --bins` (the README's test
/// command does that before `cargo test`). Tests run in the profile they were built in.
pub fn binary(name: &str) -> PathBuf {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let path = target_dir().join(profile).join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// The sha256 of `bytes` as lower-case hex: how key hashes and file hashes are written.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A PRNG for tests that pick random instants, seeded from `seed_variable` when set (to replay a
/// failure) or from the clock; the seed is returned so the test can print it.
pub fn seeded_rng(seed_variable: &str) -> (fastrand::Rng, u64) {
    let seed = std::env::var(seed_variable)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    (fastrand::Rng::with_seed(seed), seed)
}

/// The repository's top directory, for examples and test data.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Replaces `path` the way editors and passthru-sync do: write a temp file, rename it over.
pub fn replace_by_rename(path: &std::path::Path, contents: &str) {
    let temp = path.with_extension("tmp-edit");
    std::fs::write(&temp, contents).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// Makes a spawned daemon die with the thread that started it (PR_SET_PDEATHSIG), so a test that
/// panics before its guard drops (or a killed test process) never leaves a daemon behind.
pub fn dies_with_its_test(command: &mut std::process::Command) -> &mut std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child's own state.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// Runs SQL with the `sqlite3` shell, as an operator (or an outside probe) would.
pub fn sqlite(db: &std::path::Path, sql: &str) -> std::process::Output {
    let mut shell = std::process::Command::new("sqlite3");
    shell
        .arg(db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    process::output_with_stdin(&mut shell, sql.as_bytes())
        .expect("run sqlite3 (.ci/setup installs it)")
}

/// Runs SQL with the `sqlite3` shell; panics with its stderr unless it succeeded silently.
pub fn sqlite_ok(db: &std::path::Path, sql: &str) {
    let out = sqlite(db, sql);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
