//! tiny_http's workers and its shedder: taking requests off its queue, one taker at a time.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::respond::{handle, shed_one};
use super::{QUIET, SHED_AFTER, Shared, TICK};
use crate::error::Error;
use crate::sync;

/// A worker: serves requests until stopped, then drains the queue; a `recv()` error nobody
/// asked for is fatal.
pub(super) fn work(shared: &Shared) -> Result<(), Error> {
    loop {
        let stopping = shared.stopping();
        if stopping && shared.drained() {
            return Ok(());
        }
        let asked = Instant::now();
        // Never an unbounded recv(): the stop's wake-ups may all go to other workers.
        let next = take(shared, if stopping { QUIET } else { TICK });
        match next {
            Ok(Some((rq, refused))) => {
                let busy = shared.busy.fetch_add(1, Ordering::SeqCst) + 1;
                if busy >= shared.workers {
                    shared.saturated.1.notify_one();
                }
                if catch_unwind(AssertUnwindSafe(|| handle(shared, rq, refused))).is_err() {
                    log::error!("tiny_http: a request panicked; the worker goes on");
                }
                shared.last_free.store(shared.now_ms(), Ordering::SeqCst);
                shared.busy.fetch_sub(1, Ordering::SeqCst);
            }
            // Quiet for QUIET: the queue is drained. (Sooner: one of the stop's wake-ups.)
            Ok(None) if stopping && asked.elapsed() >= QUIET => return Ok(()),
            Ok(None) => {}
            // A wake-up from the stop, or the accept thread's error once the listener is shut.
            Err(_) if shared.stopping() => {}
            Err(err) => {
                log::error!("tiny_http stopped accepting connections: {err}; shutting the server down");
                if shared.stop(Duration::ZERO) {
                    let what = format!("tiny_http stopped accepting connections: {err}");
                    return Err(Error::Io(io::Error::new(err.kind(), what)));
                }
                return Ok(()); // a stop was requested at the same moment: not a failure
            }
        }
    }
}

/// The shedder: while every worker has been busy for [`SHED_AFTER`] with none coming free,
/// takes requests off the queue and answers them at once: health as usual, the rest 503.
pub(super) fn shed(shared: &Shared) -> Result<(), Error> {
    let (lock, cvar) = &shared.saturated;
    let shed_after = SHED_AFTER.as_millis() as u64;
    let stuck_for = || {
        let busy = shared.busy.load(Ordering::SeqCst) >= shared.workers;
        let since = shared
            .now_ms()
            .saturating_sub(shared.last_free.load(Ordering::SeqCst));
        (busy, since)
    };
    while !shared.stopping() {
        let (busy, stuck_for_ms) = stuck_for();
        if !busy || stuck_for_ms < shed_after {
            // Woken when the last worker turns busy; the timeout covers a missed wake-up.
            let wait = match busy {
                true => Duration::from_millis(shed_after - stuck_for_ms),
                false => Duration::from_secs(1),
            };
            let guard = sync::lock(lock);
            let _ = cvar.wait_timeout(guard, wait);
            continue;
        }
        if let Ok(Some((rq, refused))) = take(shared, Duration::from_millis(20)) {
            if !matches!(stuck_for(), (true, ms) if ms >= shed_after) {
                // A worker came free meanwhile: this one is served, not shed.
                let _ = catch_unwind(AssertUnwindSafe(|| handle(shared, rq, refused)));
                continue;
            }
            let _ = catch_unwind(AssertUnwindSafe(|| shed_one(shared, rq, refused)));
        }
    }
    Ok(())
}

/// A request taken off tiny_http's queue, and the error to answer instead of running it.
type Taken = (tiny_http::Request, Option<Error>);

/// Takes the next request off tiny_http's queue, one taker at a time, and checks its framing
/// before the next can be taken: a request that poisons its connection (see [`Poisoned`])
/// has done so before anything sent after it on that connection reaches another worker.
fn take(shared: &Shared, timeout: Duration) -> io::Result<Option<Taken>> {
    let _turn = sync::lock(&shared.taking);
    let taken = shared.server.recv_timeout(timeout)?;
    Ok(taken.map(|rq| {
        let refused = shared.poisoned.check(&rq);
        (rq, refused)
    }))
}
