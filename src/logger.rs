//! The process's logger: one JSON line per record on stderr, through the `log` facade, and the
//! access log (target [`ACCESS`]).
//!
//! `run()` installs it with the level from `--log_level` / `MICRO_LOG_LEVEL` (default `info`);
//! `start()` does not, so tests and programs that embed a service log nothing unless they set a
//! logger of their own. The level spec is a default level and `target=level` overrides, comma
//! separated: `info`, `warn,access=info`, `debug,access=off`. ureq's records below `warn` never
//! pass (its debug and trace lines print whole requests). When a level is off, `log`'s own
//! max-level check turns the macros and [`access`] into one atomic load.
//!
//! Access lines are batched: a request thread appends its line to a buffer, which goes out in
//! one write of whole lines (outside the lock) when the next line would pass `PIPE_BUF` (so
//! batches from several processes on one pipe never interleave), before any other record, and
//! every [`FLUSH_EVERY`] from the [`Flusher`] that `run()` owns. A write per request was most of
//! what the access log cost (README "Performance"). Two full batches may reach stderr in either
//! order; lines within a batch keep theirs.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use log::{Level, LevelFilter, Log, Metadata};

use crate::record::Record;
use crate::sync;

/// The most a batch of access lines holds before it is written: Linux's `PIPE_BUF`.
const BATCH: usize = 4096;

/// How often the [`Flusher`] writes out the access lines a quiet server has batched.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The target of the access log: one line per request, at `info` (health probes at `debug`).
pub const ACCESS: &str = "access";

/// Targets whose records below `warn` are always dropped: ureq logs whole requests there.
const QUIET: [&str; 2] = ["ureq", "ureq_proto"];

/// A parsed level spec: the default level and per-target overrides (a target and its children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spec {
    default: LevelFilter,
    targets: Vec<(String, LevelFilter)>,
}

impl Spec {
    fn level_for(&self, target: &str) -> LevelFilter {
        let own = self
            .targets
            .iter()
            .filter(|(t, _)| {
                target == t
                    || target
                        .strip_prefix(t.as_str())
                        .is_some_and(|r| r.starts_with("::"))
            })
            .max_by_key(|(t, _)| t.len())
            .map_or(self.default, |(_, level)| *level);
        let quiet = QUIET
            .iter()
            .any(|q| target == *q || target.strip_prefix(q).is_some_and(|r| r.starts_with("::")));
        if quiet { own.min(LevelFilter::Warn) } else { own }
    }

    fn max(&self) -> LevelFilter {
        self.targets.iter().map(|(_, l)| *l).fold(self.default, Ord::max)
    }
}

/// Parses a level spec such as `info` or `warn,access=info`.
pub(crate) fn parse_spec(text: &str) -> Result<Spec, String> {
    let level = |s: &str| {
        s.trim().parse::<LevelFilter>().map_err(|_| {
            format!("unknown log level {s:?} (want off, error, warn, info, debug or trace, or TARGET=LEVEL)")
        })
    };
    let mut spec = Spec {
        default: LevelFilter::Info,
        targets: Vec::new(),
    };
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((target, l)) if !target.trim().is_empty() => {
                spec.targets.push((target.trim().to_string(), level(l)?));
            }
            Some(_) => return Err(format!("bad log level entry {part:?}")),
            None => spec.default = level(part)?,
        }
    }
    Ok(spec)
}

struct Logger {
    spec: Spec,
    /// Access lines not yet written (whole lines, at most [`BATCH`] bytes).
    batch: Mutex<Vec<u8>>,
}

impl Logger {
    /// Adds one access line (without its newline) to the batch; the lines before it go out
    /// once it passes [`BATCH`].
    fn batch_line(&self, line: &[u8]) {
        let mut batch = sync::lock(&self.batch);
        let full = if batch.len() + line.len() + 1 > BATCH {
            // Written after unlocking: other threads go on batching while a slow stderr (a
            // full pipe) holds this one, instead of all of them queueing behind the write.
            Some(std::mem::replace(&mut *batch, Vec::with_capacity(BATCH)))
        } else {
            None
        };
        batch.extend_from_slice(line);
        batch.push(b'\n');
        drop(batch);
        if let Some(mut full) = full {
            Logger::write_out(&mut full);
        }
    }

    /// Writes `batch` out and empties it.
    fn write_out(batch: &mut Vec<u8>) {
        if !batch.is_empty() {
            let _ = std::io::stderr().lock().write_all(batch);
            batch.clear();
        }
    }
}

impl Log for Logger {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.level() <= self.spec.level_for(meta.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if record.target() == ACCESS {
            // An access line that came through the facade (see `access`): already JSON.
            self.batch_line(record.args().to_string().as_bytes());
            return;
        }
        let mut line = String::with_capacity(160);
        line.push_str("{\"time\":\"");
        crate::time::push_rfc3339(&mut line, SystemTime::now());
        let _ = write!(line, "\",\"level\":\"{}\",\"target\":", record.level());
        push_json_str(&mut line, record.target());
        line.push_str(",\"msg\":");
        push_json_str(&mut line, &record.args().to_string());
        line.push_str("}\n");
        // The access lines before it go first; one write per record.
        let mut batch = sync::lock(&self.batch);
        Logger::write_out(&mut batch);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        Logger::write_out(&mut sync::lock(&self.batch));
    }
}

/// Our logger, once `init` made it the process's.
static LOGGER: OnceLock<Logger> = OnceLock::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the JSON logger with `spec` unless the process already has a logger.
pub(crate) fn init(spec: &str) -> Result<(), String> {
    let spec = parse_spec(spec)?;
    let max = spec.max();
    let logger = LOGGER.get_or_init(|| Logger {
        spec,
        batch: Mutex::new(Vec::with_capacity(BATCH)),
    });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(max);
        INSTALLED.store(true, Ordering::Release);
    }
    Ok(())
}

/// Writes out batched access lines every [`FLUSH_EVERY`] until dropped; the drop joins its
/// thread and writes out what is left.
#[must_use = "the flusher stops when dropped"]
pub(crate) struct Flusher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts the flusher thread.
    pub(crate) fn start() -> std::io::Result<Flusher> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                let (lock, cvar) = &*flag;
                let mut stopped = sync::lock(lock);
                while !*stopped {
                    stopped = sync::wait_timeout(cvar, stopped, FLUSH_EVERY);
                    log::logger().flush();
                }
            })?;
        Ok(Flusher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        *sync::lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        log::logger().flush();
    }
}

/// Whether access lines at `info` would be written.
#[inline]
pub(crate) fn access_enabled() -> bool {
    log::log_enabled!(target: ACCESS, Level::Info)
}

/// Logs one access line: `{"time","log":"access","method","route","protocol","status",
/// "duration_ms","bytes_in","bytes","request_id"}` (`bytes`: response body bytes). The route is
/// the route pattern, never the raw path (see [`Record`]).
pub(crate) fn access(rec: &Record<'_>) {
    let level = if rec.probe { Level::Debug } else { Level::Info };
    if !log::log_enabled!(target: ACCESS, level) {
        return;
    }
    // Each thread formats into a buffer of its own, reused: no allocation per line.
    thread_local! {
        static LINE: RefCell<String> = RefCell::new(String::with_capacity(256));
    }
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        format_access(rec, &mut line);
        match LOGGER.get() {
            // Straight into our batch, without the facade's formatting machinery.
            Some(logger) if INSTALLED.load(Ordering::Acquire) => logger.batch_line(line.as_bytes()),
            _ => log::log!(target: ACCESS, level, "{line}"),
        }
    });
}

/// Formats one access line into `line`.
fn format_access(rec: &Record<'_>, line: &mut String) {
    line.push_str("{\"time\":\"");
    crate::time::push_rfc3339(line, SystemTime::now());
    line.push_str("\",\"log\":\"access\",\"method\":");
    push_json_str(line, rec.method);
    line.push_str(",\"route\":");
    push_json_str(line, rec.route);
    let us = rec.duration.as_micros();
    let _ = write!(
        line,
        ",\"protocol\":\"{}\",\"status\":{},\"duration_ms\":{}.{:03},\"bytes_in\":{},\"bytes\":{},\"request_id\":",
        rec.protocol.as_str(),
        rec.status,
        us / 1000,
        us % 1000,
        rec.bytes_in,
        rec.bytes_out,
    );
    match rec.request_id {
        Some(id) => push_json_str(line, id),
        None => line.push_str("null"),
    }
    line.push('}');
}

/// Appends `s` as a JSON string (quotes, backslashes and control characters escaped).
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_and_target_levels() {
        let spec = parse_spec("warn, access=info ,micro_mesh::server=debug").unwrap();
        assert_eq!(spec.level_for("micro_mesh"), LevelFilter::Warn);
        assert_eq!(spec.level_for(ACCESS), LevelFilter::Info);
        assert_eq!(spec.level_for("accessory"), LevelFilter::Warn);
        assert_eq!(spec.level_for("micro_mesh::server::http"), LevelFilter::Debug);
        assert_eq!(spec.max(), LevelFilter::Debug);
        let all = parse_spec("trace").unwrap();
        assert_eq!(
            all.level_for("ureq"),
            LevelFilter::Warn,
            "ureq's wire logs never pass"
        );
        assert_eq!(all.level_for("ureq_proto::client"), LevelFilter::Warn);
        assert_eq!(all.level_for("ureqx"), LevelFilter::Trace);
        assert_eq!(parse_spec("").unwrap().default, LevelFilter::Info);
        assert_eq!(parse_spec("OFF").unwrap().max(), LevelFilter::Off);
        assert_eq!(
            parse_spec("info,access=off").unwrap().level_for(ACCESS),
            LevelFilter::Off
        );
        for bad in ["loud", "=info", "access=loud", "info,,x=1"] {
            assert!(parse_spec(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_strings() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\n\u{1}é");
        assert_eq!(s, r#""a\"b\\c\n\u0001é""#);
    }
}
