//! The standard process collector: CPU, memory, file descriptors, threads and start time, read
//! from `/proc/self` at each scrape. The one file of the metrics that does I/O.
//!
//! The parsers are pure and tested on fixed text; [`read`] only gathers the files. A file that
//! cannot be read or parsed (or a system without `/proc`) omits its samples, nothing more.
//!
//! Clock ticks are taken as 100 per second: Linux reports `/proc` times in USER_HZ, which is 100
//! on every architecture it exports to user space whatever the kernel's own HZ, and std offers
//! no `sysconf(_SC_CLK_TCK)` to ask (and this crate makes no unsafe libc calls).

use super::text;

/// Clock ticks per second in `/proc/self/stat` (USER_HZ; see the module comment).
const TICKS_PER_SECOND: u64 = 100;

/// One reading of the process's figures; `None` where it could not be read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Sample {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: Option<u64>,
    /// Resident set size in bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size in bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// OS threads.
    pub threads: Option<u64>,
    /// Start time since the Unix epoch, in clock ticks.
    pub start_ticks: Option<u64>,
}

/// The fields of `/proc/self/stat` used here, in clock ticks.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Stat {
    /// Field 14: user time.
    pub utime: u64,
    /// Field 15: system time.
    pub stime: u64,
    /// Field 22: start time after boot.
    pub starttime: u64,
}

/// Parses `/proc/self/stat`. The second field, the command name in parentheses, may itself
/// hold spaces and parentheses, so fields are counted from after the last `)`.
pub(super) fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the `)` comes field 3 (the state): field n is at index n - 3.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
    })
}

/// Memory and threads from `/proc/self/status`: (VmRSS bytes, VmSize bytes, Threads). Its
/// kB figures need no page size, which std cannot tell (4 KiB is not universal: arm64 may use 64).
pub(super) fn parse_status(status: &str) -> (Option<u64>, Option<u64>, Option<u64>) {
    let value = |key: &str| {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?;
        line.split_whitespace().next()?.parse::<u64>().ok()
    };
    let kib = |key: &str| value(key)?.checked_mul(1024);
    (kib("VmRSS"), kib("VmSize"), value("Threads"))
}

/// The soft limit on open files from `/proc/self/limits`; `None` if absent or `unlimited` (no
/// number to report; Linux caps open files at `fs.nr_open`, so it does not happen there).
pub(super) fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The boot time in seconds since the Unix epoch, from `/proc/stat`'s `btime` line.
pub(super) fn parse_btime(stat: &str) -> Option<u64> {
    let line = stat.lines().find_map(|l| l.strip_prefix("btime "))?;
    line.trim().parse().ok()
}

/// Reads the process's figures from `/proc`.
#[cfg(target_os = "linux")]
pub(super) fn read() -> Sample {
    use std::fs::{read_dir, read_to_string};
    let stat = read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s));
    let (resident_bytes, virtual_bytes, threads) =
        read_to_string("/proc/self/status").map_or((None, None, None), |s| parse_status(&s));
    let btime = read_to_string("/proc/stat").ok().and_then(|s| parse_btime(&s));
    Sample {
        cpu_ticks: stat.as_ref().map(|s| s.utime + s.stime),
        resident_bytes,
        virtual_bytes,
        // The listing includes the descriptor read_dir holds open to list it: not counted.
        open_fds: read_dir("/proc/self/fd")
            .ok()
            .map(|d| (d.count() as u64).saturating_sub(1)),
        max_fds: read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| parse_max_fds(&s)),
        threads,
        start_ticks: stat.zip(btime).map(|(s, b)| b * TICKS_PER_SECOND + s.starttime),
    }
}

/// No `/proc` to read: every sample is omitted.
#[cfg(not(target_os = "linux"))]
pub(super) fn read() -> Sample {
    Sample::default()
}

/// Writes the families `sample` has figures for; a missing figure omits its family whole.
pub(super) fn render(sample: &Sample, out: &mut String) {
    let digits = TICKS_PER_SECOND.ilog10();
    if let Some(ticks) = sample.cpu_ticks {
        let name = "process_cpu_seconds_total";
        text::header(
            out,
            name,
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        out.push_str(name);
        out.push(' ');
        text::fixed(out, ticks, digits);
        out.push('\n');
    }
    let gauges = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            sample.resident_bytes,
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            sample.virtual_bytes,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            sample.open_fds,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            sample.max_fds,
        ),
        (
            "process_threads",
            "Number of OS threads in the process.",
            sample.threads,
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(value) = value {
            text::header(out, name, "gauge", help);
            text::sample(out, name, "", value);
        }
    }
    if let Some(ticks) = sample.start_ticks {
        let name = "process_start_time_seconds";
        text::header(
            out,
            name,
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        );
        out.push_str(name);
        out.push(' ');
        text::fixed(out, ticks, digits);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line, but for a command name holding spaces and both parentheses.
    const STAT: &str = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 1200 0 3 0 153 47 0 0 20 0 9 0 \
                        2718 1048576000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";

    const STATUS: &str = "Name:\tsrv\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  20000 kB\n\
                          VmSize:\t   12345 kB\nVmRSS:\t    2048 kB\nRssAnon:\t  1000 kB\nThreads:\t7\n";

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
                          Max cpu time              unlimited            unlimited            seconds   \n\
                          Max open files            1024                 524288               files     \n";

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        assert_eq!(
            parse_stat(STAT),
            Some(Stat {
                utime: 153,
                stime: 47,
                starttime: 2718
            })
        );
        assert_eq!(parse_stat("1 (x) S 1 2"), None, "truncated");
        assert_eq!(parse_stat("no parenthesis"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn status_gives_memory_in_bytes_and_threads() {
        assert_eq!(
            parse_status(STATUS),
            (Some(2048 * 1024), Some(12345 * 1024), Some(7))
        );
        assert_eq!(parse_status("Name:\tx\n"), (None, None, None));
        assert_eq!(parse_status("VmRSS:\tlots kB\n").0, None);
    }

    #[test]
    fn limits_give_the_soft_open_file_limit() {
        assert_eq!(parse_max_fds(LIMITS), Some(1024));
        let unlimited = LIMITS.replace("1024     ", "unlimited");
        assert_eq!(parse_max_fds(&unlimited), None);
        assert_eq!(parse_max_fds(""), None);
    }

    #[test]
    fn btime_is_read_from_proc_stat() {
        let stat = "cpu  1 2 3 4\nintr 5 6\nctxt 77\nbtime 1700000000\nprocesses 9\n";
        assert_eq!(parse_btime(stat), Some(1_700_000_000));
        assert_eq!(parse_btime("cpu 1\n"), None);
    }

    #[test]
    fn a_sample_renders_exact_decimals_and_omits_what_is_missing() {
        let sample = Sample {
            cpu_ticks: Some(200),
            resident_bytes: Some(4096),
            open_fds: Some(9),
            start_ticks: Some(170_000_000_005),
            ..Sample::default()
        };
        let mut out = String::new();
        render(&sample, &mut out);
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "process_cpu_seconds_total 2.00",
                "process_resident_memory_bytes 4096",
                "process_open_fds 9",
                "process_start_time_seconds 1700000000.05",
            ]
        );
        assert!(!out.contains("process_threads"), "no figure, no HELP either");
        let mut out = String::new();
        render(&Sample::default(), &mut out);
        assert_eq!(out, "");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_live_process_reads_whole() {
        let s = read();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let start = s.start_ticks.expect("start time") / TICKS_PER_SECOND;
        assert!(
            start <= now && start + 24 * 3600 > now,
            "started {start}, now {now}"
        );
        assert!(s.cpu_ticks.is_some());
        assert!(s.resident_bytes.expect("rss") > 0);
        assert!(s.virtual_bytes.expect("vsize") >= s.resident_bytes.unwrap());
        assert!(s.threads.expect("threads") >= 1);
        assert!(s.open_fds.expect("open fds") >= 1);
        assert!(s.max_fds.expect("max fds") >= s.open_fds.unwrap());
    }
}
