//! What a process's `main` runs: flags, the logger, the open-file limit, signals and the drain.

use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::Service;
use crate::error::Error;

impl Service {
    /// Parses flags (unless [`init`](Service::init) did), installs the JSON logger at
    /// `--log_level`, raises the soft open-file limit to the hard one, starts, and serves until
    /// SIGTERM or SIGINT, or until the server fails.
    ///
    /// The first signal drains as [`ServiceHandle::drain`](crate::ServiceHandle::drain) does: readiness 503 at once, the
    /// listener closed after `--shutdown_delay`, requests in flight given `--shutdown_timeout`;
    /// then `run` returns `Ok` (exit 0). A second signal exits at once with 128 + its number.
    pub fn run(self) -> Result<(), Error> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let service = if self.parsed { self } else { self.init() };
        crate::logger::init(&service.flags.log_level).map_err(Error::Flag)?;
        // Dropped last, when `run` returns: joined, and the batched access lines written out.
        let _flusher = crate::logger::Flusher::start()?;
        raise_open_files_limit();
        // Before binding: a SIGTERM that arrives during start-up already drains.
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
        let signals_handle = signals.handle();
        let handle = service.start()?;
        let (tx, rx) = mpsc::channel();
        let watcher = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for (n, signal) in signals.forever().enumerate() {
                    if n == 0 {
                        let _ = tx.send(signal);
                    } else {
                        log::warn!("second signal ({signal}): exiting now");
                        std::process::exit(128 + signal);
                    }
                }
            })?;
        let result = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(signal) => {
                    let name = if signal == SIGTERM { "SIGTERM" } else { "SIGINT" };
                    log::info!(
                        "{name}: draining: readiness 503 now, listener closes in {:?}",
                        handle.shutdown_delay()
                    );
                    let started = Instant::now();
                    let result = handle.drain();
                    log::info!("drained in {:?}", started.elapsed());
                    break result;
                }
                // The server ended by itself (tiny_http's accept thread died, say): its error.
                Err(RecvTimeoutError::Timeout) if handle.is_finished() => break handle.stop(),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break handle.join(),
            }
        };
        signals_handle.close();
        let _ = watcher.join();
        result
    }

    /// [`run`](Service::run) as a program's whole `main`: an error is printed as one line,
    /// `error: ...`, on stderr, and the exit code is 1 (2 for a bad flag, as `init` exits).
    ///
    /// ```no_run
    /// fn main() -> std::process::ExitCode {
    ///     micro_mesh::Service::new("go.micro.srv.sample").main()
    /// }
    /// ```
    pub fn main(self) -> ExitCode {
        match self.run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(if matches!(err, Error::Flag(_)) { 2 } else { 1 })
            }
        }
    }
}

/// Raises the soft limit on open files to the hard one, so that connections, not a default of
/// 1024 descriptors, are what runs out; the accept loop backs off if they still do.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => log::debug!("open-file limit: {limit}"),
        Err(err) => log::warn!("cannot raise the open-file limit: {err}"),
    }
}
