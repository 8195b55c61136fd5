//! The proxy's allocator settings. pingora allocates and frees a few dozen small buffers per
//! request; on mimalloc the proxy answered 7–10 % more requests per second than on glibc malloc
//! (wrk against one worker thread, side by side, 2026-11-24). Binaries opt in with
//! `#[global_allocator] static A: mimalloc::MiMalloc = mimalloc::MiMalloc;` and call [`tune`].

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// mimalloc 3's option numbers (`mi_option_e` in the bundled mimalloc.h; the Rust bindings do
/// not name these three). The test below pins them to their documented defaults.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
const PURGE_DELAY: mi_option_t = 15;
const ALLOW_THP: mi_option_t = 43;

/// mimalloc's defaults commit arenas up front and return freed pages a second later, which
/// doubles an idle proxy's RSS and makes it swing by megabytes between reloads. Lazy commit and
/// immediate purging keep it flat (21–24 MiB with 100 routes over 10,000 reloads) and hand a
/// refused huge file's memory back at once. The price, measured side by side: a few percent of
/// request throughput against mimalloc's defaults, and a 10k-route rebuild ~10 % slower than on
/// glibc. `MIMALLOC_ARENA_EAGER_COMMIT` and `MIMALLOC_PURGE_DELAY` in the environment still win.
///
/// Transparent huge pages are turned off for the process. mimalloc advises its 1 GiB arena
/// `MADV_HUGEPAGE`, so where THP is `madvise` (Debian's default) or `always`, the first touch of
/// any 4 KiB in a 2 MiB region faults in the whole 2 MiB: the proxy's RSS followed everything
/// mimalloc had committed, not what it had touched. Measured by `passthru-bench streams` (2,000
/// concurrent SSE streams, docs/stream-memory.md):
/// 182 KiB of RSS per stream with THP, 62 KiB without, and an idle proxy at 15 MiB instead of
/// 28 MiB. mimalloc reads `MIMALLOC_ALLOW_THP` once, when it starts, before `main`: setting the
/// option here only stops the advice on arenas created later, so the process-wide switch
/// (`PR_SET_THP_DISABLE`, which the kernel checks at every fault, on every mapping) is set here
/// too. `MIMALLOC_ALLOW_THP=1` in the environment keeps huge pages.
pub fn tune() {
    for (option, env, value) in [
        (ARENA_EAGER_COMMIT, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (PURGE_DELAY, "MIMALLOC_PURGE_DELAY", 0),
        (ALLOW_THP, "MIMALLOC_ALLOW_THP", 0),
    ] {
        if std::env::var_os(env).is_none() {
            // SAFETY: plain setters on mimalloc's option table, valid option numbers (see test).
            unsafe { mi_option_set(option, value) };
        }
    }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: prctl with integer arguments only; failure (an old kernel) leaves THP as it was.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(option: mi_option_t) -> i64 {
        // SAFETY: a plain getter on mimalloc's option table.
        unsafe { libmimalloc_sys::mi_option_get(option) as i64 }
    }

    #[test]
    fn option_numbers_name_the_options_they_claim() {
        // The defaults of mimalloc 3 on Linux: arena_eager_commit 2 ("on where the OS
        // overcommits"), purge_delay 1000 ms. A renumbering upstream fails here, not in production.
        assert_eq!(get(ARENA_EAGER_COMMIT), 2);
        assert_eq!(get(PURGE_DELAY), 1000);
        // allow_thp: 1 off Android.
        assert_eq!(get(ALLOW_THP), 1);
    }
}
