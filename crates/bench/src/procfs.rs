//! What /proc says about a process: resident set, CPU time, children.

pub use passthru_tests::process::rss_kib;

/// Fields of /proc/PID/stat after the command name (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    // utime is field 14, stime 15; `f` starts at field 3.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The threads of `pid` now.
fn tasks(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .map(|t| t.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU time of every live thread of `pid`, in nanoseconds (schedstat: finer than the 10 ms
/// ticks of [`cpu_ticks`], which matters at a few requests per second).
pub fn cpu_ns(pid: u32) -> u64 {
    tasks(pid)
        .iter()
        .filter_map(|t| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/task/{t}/schedstat")).ok()?;
            s.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// Context switches (voluntary and not) of every live thread of `pid`: each is a thread
/// going to sleep or being put off the CPU, so their count over a window counts wake-ups.
pub fn context_switches(pid: u32) -> u64 {
    tasks(pid)
        .iter()
        .filter_map(|t| std::fs::read_to_string(format!("/proc/{pid}/task/{t}/status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// TCP segments retransmitted in this network namespace since boot (`RetransSegs` of
/// /proc/net/snmp). On loopback a retransmission follows a segment dropped by a full queue or a
/// timer that fired before the answer came: its delta over a window tells whether a stall may
/// have been TCP's (a lost SYN waits 1 s, a lost segment at least 200 ms) rather than a process's.
pub fn tcp_retransmitted_segments() -> u64 {
    std::fs::read_to_string("/proc/net/snmp")
        .ok()
        .and_then(|text| snmp_counter(&text, "Tcp:", "RetransSegs"))
        .unwrap_or(0)
}

/// A counter of /proc/net/snmp: a line of names after `table`, then a line of values.
fn snmp_counter(text: &str, table: &str, name: &str) -> Option<u64> {
    let mut lines = text.lines().filter(|l| l.starts_with(table));
    let names = lines.next()?;
    let values = lines.next()?;
    let at = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(at)?.parse().ok()
}

pub fn ppid(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Every process whose parent is `parent`.
pub fn children(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| ppid(pid) == Some(parent))
        .collect()
}

/// Ticks per second (USER_HZ); 100 on every Linux this runs on.
pub const TICKS_PER_SECOND: f64 = 100.0;

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn mem_total_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0)
}

/// Pins every thread of `pid` to `cpu` (threads it starts later inherit it), so that the proxy
/// under test has a core of its own and the generator and upstream share the other. Does
/// nothing on a machine with one CPU.
pub fn pin(pid: u32, cpu: usize) {
    if cpus() >= 2 {
        set_affinity(pid, &[cpu]);
    }
}

/// Lets every thread of `pid` run on any CPU again.
pub fn unpin(pid: u32) {
    set_affinity(pid, &(0..cpus()).collect::<Vec<_>>());
}

/// The CPUs online, whatever this process is pinned to (`available_parallelism` follows the
/// pinning, so [`unpin`] after [`pin`] would keep a process on one CPU).
fn cpus() -> usize {
    // SAFETY: sysconf reads a system value and has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(online).unwrap_or(1).max(1)
}

fn set_affinity(pid: u32, cpus: &[usize]) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET and sched_setaffinity only read and
    // write the set passed to them.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    for tid in tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<i32>().ok())
    {
        let rc =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            eprintln!(
                "cannot set the CPU affinity of thread {tid} of {pid}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_counters_are_read_by_name_from_the_line_after_their_names() {
        let text = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
                    Tcp: RtoAlgorithm RtoMin RetransSegs InErrs\nTcp: 1 200 283372 155\n";
        assert_eq!(snmp_counter(text, "Tcp:", "RetransSegs"), Some(283_372));
        assert_eq!(snmp_counter(text, "Tcp:", "NoSuchCounter"), None);
    }

    #[test]
    fn this_process_has_a_resident_set_and_cpu_time() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(cpu_ticks(me).is_some());
        assert!(cpu_ns(me) > 0);
        assert!(context_switches(me) > 0);
        assert!(ppid(me).is_some());
    }

    #[test]
    fn unpin_lets_a_pinned_process_run_on_every_cpu_again() {
        let me = std::process::id();
        pin(me, 0);
        unpin(me);
        assert_eq!(std::thread::available_parallelism().unwrap().get(), cpus());
    }
}
