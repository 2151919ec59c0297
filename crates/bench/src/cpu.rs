//! CPU accounting from /proc, so the report can show that the load generator is not the
//! bottleneck and whether the machine was saturated (or busy with something else) during a
//! window.

use std::time::Duration;

/// Name of the load generator's runtime threads; their CPU time is the generator's cost.
pub const GENERATOR_THREAD: &str = "bench-load";

pub struct Snapshot {
    /// CPU time of the generator's threads so far.
    pub generator: Duration,
    /// CPU time of the server's processes so far (see [`Snapshot::take`]).
    pub server: Duration,
    /// The part of `server` spent in the servers' child processes: the function instances
    /// (devstack's, or those `cargo lambda watch` runs).
    pub functions: Duration,
    /// Busy, stolen (by the hypervisor, for other guests) and total jiffies of the whole
    /// machine (`/proc/stat`).
    busy: u64,
    steal: u64,
    total: u64,
}

impl Snapshot {
    /// `servers`: the roots of the process trees that serve the load (this process when
    /// devstack runs in it through the library, whose generator threads are then left out).
    pub fn take(servers: &[u32]) -> Self {
        let (busy, steal, total) = machine().unwrap_or((0, 0, 0));
        let generator = generator_cpu();
        let me = std::process::id();
        let mut server = Duration::ZERO;
        let mut functions = Duration::ZERO;
        for &root in servers {
            let own = process_cpu(root);
            let children: Duration = descendants(root).into_iter().map(process_cpu).sum();
            server += children
                + if root == me {
                    own.saturating_sub(generator)
                } else {
                    own
                };
            functions += children;
        }
        Self {
            generator,
            server,
            functions,
            busy,
            steal,
            total,
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ): 100 on every Linux platform.
const TICKS: u64 = 100;

/// User and system CPU time of one process (all its threads), from `/proc/<pid>/stat`.
fn process_cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15, so they are the 12th and 13th after the ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 1000 / TICKS)
}

/// The share of all CPUs that was busy between two snapshots (0..=1).
pub fn busy_share(a: &Snapshot, b: &Snapshot) -> f64 {
    let total = b.total.saturating_sub(a.total);
    if total == 0 {
        return 0.0;
    }
    b.busy.saturating_sub(a.busy) as f64 / total as f64
}

/// The share of all CPU time the hypervisor gave to others between two snapshots: a VM's
/// neighbours slow every number down without showing as busy here.
pub fn steal_share(a: &Snapshot, b: &Snapshot) -> f64 {
    let total = b.total.saturating_sub(a.total);
    if total == 0 {
        return 0.0;
    }
    b.steal.saturating_sub(a.steal) as f64 / total as f64
}

/// `(busy, steal, total)` jiffies over all CPUs; idle, iowait and steal (this guest did not
/// run) are not busy.
fn machine() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    let steal = v.get(7).copied().unwrap_or(0);
    Some((total.saturating_sub(idle + steal), steal, total))
}

/// Sum of the on-CPU time of this process's threads named [`GENERATOR_THREAD`], from
/// `/proc/self/task/*/schedstat` (nanoseconds, unlike the clock ticks of `stat`).
fn generator_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ns = 0u64;
    for t in tasks.flatten() {
        let dir = t.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() != GENERATOR_THREAD {
            continue;
        }
        ns += std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

/// Number of CPUs the machine has (for "% of the machine").
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Resident set size of `pid`, in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Every live descendant of `root` (children, grandchildren...), from the `/proc` parent links.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            // The command name may hold spaces and parentheses: the fields after the last
            // ')' are the reliable ones (state, then ppid).
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

/// The executable name of `pid` (basename of `argv[0]`).
pub fn program(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let argv0 = cmdline.split(|b| *b == 0).next()?;
    let argv0 = String::from_utf8_lossy(argv0);
    Some(argv0.rsplit('/').next().unwrap_or_default().to_owned())
}
