//! What the benchmark reads from the process and the machine: a counting
//! global allocator, the CPU time of the process and of a pool's threads,
//! the peak resident set size, and the facts that describe the machine in
//! the report.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::fs;
use std::mem::MaybeUninit;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The system allocator, plus a count of allocations while counting is on.
///
/// Counting is off during the timed rounds: then every allocation pays one
/// relaxed load of a flag that no one writes, and no shared counter's cache
/// line moves between cores. It is on only for the separate counted runs.
pub struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn note_allocation() {
    // Relaxed: a statistic; the counted run is bracketed by the pool's own
    // synchronisation (the run waits for all its tasks) before it is read.
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the same arguments, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the counting
// touches only two atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded unchanged; `ptr` came from `System` through us.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from `System` through us.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with allocation counting on; returns its result and how many
/// allocations (including reallocations) every thread made meanwhile.
pub fn count_allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let result = f();
    COUNTING.store(false, Ordering::SeqCst);
    (result, ALLOCATIONS.load(Ordering::Relaxed))
}

/// User plus system CPU time of the whole process so far: every thread, the
/// running ones and those that have ended (`getrusage(RUSAGE_SELF)`).
///
/// Linux scales user and system time so that their sum is the scheduler's
/// own runtime count, kept in nanoseconds and given here in microseconds.
/// That count is exact for this thread and for every thread that is asleep;
/// for a thread running on another CPU at this moment it lags by the time
/// since that thread's last scheduler tick (at most one tick, 1 to 10 ms).
pub fn process_cpu() -> Duration {
    let mut usage = MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `RUSAGE_SELF` is a valid `who`, and `usage` is a writable
    // `rusage` that the call fills.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_SELF) failed");
    // SAFETY: zeroed (a valid `rusage`: integers only) and filled by the
    // successful call.
    let usage = unsafe { usage.assume_init() };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// What a timed region took: wall-clock time, and the CPU time that the
/// whole process (every thread of every pool, and the caller) used in it.
#[derive(Clone, Copy, Debug)]
pub struct Elapsed {
    pub wall: Duration,
    pub cpu: Duration,
}

/// Times a region in wall-clock and process CPU time. Reading the CPU time
/// is a system call (about a microsecond), made once at each end.
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        let cpu = process_cpu();
        Stopwatch {
            wall: Instant::now(),
            cpu,
        }
    }

    pub fn stop(&self) -> Elapsed {
        let wall = self.wall.elapsed();
        Elapsed {
            wall,
            cpu: process_cpu().saturating_sub(self.cpu),
        }
    }
}

/// CPU use of one thread, at one instant.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadCpu {
    /// Time on a CPU, in nanoseconds (from `schedstat`; from `stat`, in
    /// clock ticks, where `schedstat` is missing).
    pub cpu_ns: u64,
    /// Voluntary plus involuntary context switches: each is one sleep or
    /// preemption, so their growth over an idle window counts wake-ups.
    pub switches: u64,
}

/// The CPU use of every thread of this process whose name starts with
/// `prefix` (names are the kernel's `comm`, at most 15 bytes), by thread id.
pub fn threads_cpu(prefix: &str) -> HashMap<u32, ThreadCpu> {
    let mut threads = HashMap::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return threads;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let dir = task.path();
        let Ok(comm) = fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let cpu_ns = fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .or_else(|| stat_cpu_ns(&fs::read_to_string(dir.join("stat")).ok()?))
            .unwrap_or(0);
        let switches = fs::read_to_string(dir.join("status")).map_or(0, |status| {
            ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"]
                .iter()
                .filter_map(|key| status_field(&status, key))
                .sum()
        });
        threads.insert(tid, ThreadCpu { cpu_ns, switches });
    }
    threads
}

/// What the threads of `after` used since `before` (a thread absent from
/// `before` started meanwhile and counts from zero).
pub fn cpu_since(before: &HashMap<u32, ThreadCpu>, after: &HashMap<u32, ThreadCpu>) -> ThreadCpu {
    let mut total = ThreadCpu::default();
    for (tid, now) in after {
        let then = before.get(tid).copied().unwrap_or_default();
        total.cpu_ns += now.cpu_ns.saturating_sub(then.cpu_ns);
        total.switches += now.switches.saturating_sub(then.switches);
    }
    total
}

/// utime + stime of a `/proc/.../stat` line, in nanoseconds, assuming the
/// usual 100 clock ticks per second.
fn stat_cpu_ns(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may hold spaces: count fields
    // after the last ')'. utime and stime are fields 14 and 15 of the line,
    // so the 12th and 13th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

/// The number after `key` in a `/proc/.../status` text.
fn status_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// This process's peak resident set size, in KiB (`VmHWM`).
pub fn peak_rss_kib() -> Option<u64> {
    status_field(&fs::read_to_string("/proc/self/status").ok()?, "VmHWM:")
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them: a
/// machine that was busy with other work during a run shows it here.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".into(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// The facts about the machine and the build that go into the report.
pub struct Machine {
    pub cpu: String,
    pub logical_cpus: usize,
    pub nproc: String,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub commit: String,
    pub date: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let logical_cpus = cpuinfo
            .lines()
            .filter(|line| line.starts_with("processor"))
            .count();
        let memory = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| status_field(&m, "MemTotal:"))
            .map_or_else(
                || "unknown".into(),
                |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0),
            );
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let commit = match command_output("git", &["rev-parse", "--short", "HEAD"]) {
            Some(hash) => {
                let dirty = command_output("git", &["status", "--porcelain"])
                    .is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{hash} (with uncommitted changes)")
                } else {
                    hash
                }
            }
            None => "unknown".into(),
        };
        Machine {
            cpu,
            logical_cpus,
            nproc: command_output("nproc", &[]).unwrap_or_else(|| "unknown".into()),
            memory,
            kernel,
            rustc: command_output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".into()),
            commit,
            date: utc_now(),
        }
    }
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_date(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The proleptic Gregorian date of a count of days since 1970-01-01.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Count in 400-year eras from 0000-03-01, so that the leap day is the
    // last day of each shifted year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
