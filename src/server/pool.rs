//! The thread pool of the `http` server's connections and HTTP/2 streams: grows on demand up
//! to a cap, idle threads retire.
//!
//! Each connection runs on one thread from start to end, so a handler may block (on an
//! outbound call, say) without holding up anyone else, and no request changes threads.
//! A connection is handed to an idle thread through that thread's own one-slot channel, taken
//! off the idle list under the lock: an idle thread is never counted twice, which is how
//! tiny_http 0.12 strands connections opened in a burst.

use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sync;

struct State<J> {
    idle: Vec<(u64, SyncSender<J>)>,
    threads: usize,
    next_id: u64,
    handles: Vec<JoinHandle<()>>,
    closed: bool,
}

/// Threads that each serve one job (a connection) at a time.
pub(crate) struct Pool<J> {
    state: Mutex<State<J>>,
    freed: Condvar,
    name: String,
    max_threads: usize,
    idle_for: Duration,
    serve: Box<dyn Fn(J) + Send + Sync>,
}

impl<J: Send + 'static> Pool<J> {
    /// A pool of at most `max_threads` threads named `{name}-{n}`, running `serve` for each
    /// connection; a thread idle for `idle_for` retires.
    pub fn new(
        name: String,
        max_threads: usize,
        idle_for: Duration,
        serve: Box<dyn Fn(J) + Send + Sync>,
    ) -> Arc<Pool<J>> {
        Arc::new(Pool {
            state: Mutex::new(State {
                idle: Vec::new(),
                threads: 0,
                next_id: 0,
                handles: Vec::new(),
                closed: false,
            }),
            freed: Condvar::new(),
            name,
            max_threads: max_threads.max(1),
            idle_for,
            serve,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        sync::lock(&self.state)
    }

    /// Hands `job` to an idle thread, or a new one, or waits for one to free up.
    /// Returns false (dropping the connection) once the pool is closed or a thread cannot start.
    pub fn submit(self: &Arc<Self>, job: J) -> bool {
        let mut state = self.lock();
        loop {
            if state.closed {
                return false;
            }
            if let Some((_, slot)) = state.idle.pop() {
                // The thread is waiting on this one-slot channel, so the send cannot block.
                return slot.send(job).is_ok();
            }
            if state.threads < self.max_threads {
                let id = state.next_id;
                state.next_id += 1;
                let pool = self.clone();
                return match spawn_worker(&self.name, id, &mut state.handles, move || pool.work(id, job)) {
                    Ok(()) => {
                        state.threads += 1;
                        true
                    }
                    Err(e) => {
                        log::error!("cannot start a connection thread: {e}");
                        false
                    }
                };
            }
            state = sync::wait(&self.freed, state);
        }
    }

    fn work(&self, id: u64, first: J) {
        (self.serve)(first);
        loop {
            let (slot, inbox) = sync_channel(1);
            {
                let mut state = self.lock();
                if state.closed {
                    break;
                }
                state.idle.push((id, slot));
            }
            self.freed.notify_one();
            let job = match inbox.recv_timeout(self.idle_for) {
                Ok(job) => job,
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let mut state = self.lock();
                    if let Some(i) = state.idle.iter().position(|(other, _)| *other == id) {
                        state.idle.swap_remove(i);
                        break;
                    }
                    drop(state);
                    // A submitter took this thread off the idle list just now: its job is sent.
                    match inbox.recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    }
                }
            };
            (self.serve)(job);
        }
        self.lock().threads -= 1;
        self.freed.notify_one();
    }

    /// The number of live threads.
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        self.lock().threads
    }

    /// The number of threads waiting for work.
    #[cfg(test)]
    pub fn idle(&self) -> usize {
        self.lock().idle.len()
    }

    /// Stops handing out work, wakes idle threads, and joins every thread that ends by `until`;
    /// returns how many did not (a handler that never returns): those are left running, detached.
    pub fn close(&self, until: Instant) -> usize {
        let handles = {
            let mut state = self.lock();
            state.closed = true;
            state.idle.clear();
            std::mem::take(&mut state.handles)
        };
        self.freed.notify_all();
        join_by(handles, until)
    }
}

/// Joins every thread that ends by `until`; returns how many did not (left running, detached).
pub(super) fn join_by(handles: Vec<JoinHandle<()>>, until: Instant) -> usize {
    let mut left = 0;
    for handle in handles {
        while !handle.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        if handle.is_finished() {
            let _ = handle.join();
        } else {
            left += 1;
        }
    }
    left
}

/// Starts worker `{name}-{id}` with a 512 KiB stack (many may live at once) and keeps
/// its handle in `handles`, joining those of workers that have ended.
pub(super) fn spawn_worker(
    name: &str,
    id: u64,
    handles: &mut Vec<JoinHandle<()>>,
    work: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    let handle = std::thread::Builder::new()
        .name(format!("{name}-{id}"))
        .stack_size(512 * 1024)
        .spawn(work)?;
    reap(handles);
    handles.push(handle);
    Ok(())
}

/// Joins the handles of threads that have already ended.
fn reap(handles: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < handles.len() {
        if handles[i].is_finished() {
            let _ = handles.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_burst_gets_one_thread_per_job_at_once() {
        // Every job blocks until all 64 run: only a pool that starts a thread per job finishes.
        let barrier = Arc::new(Barrier::new(64));
        let b = barrier.clone();
        let pool = Pool::new(
            "t".into(),
            64,
            Duration::from_secs(5),
            Box::new(move |_: u32| {
                b.wait();
            }),
        );
        for i in 0..64 {
            assert!(pool.submit(i));
        }
        assert_eq!(pool.close(Instant::now() + Duration::from_secs(5)), 0);
        assert_eq!(pool.threads(), 0);
    }

    #[test]
    fn idle_threads_are_reused_then_retire() {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let pool = Pool::new(
            "t".into(),
            4,
            Duration::from_millis(100),
            Box::new(move |_: u32| {
                d.fetch_add(1, Ordering::SeqCst);
            }),
        );
        for i in 0..50 {
            assert!(pool.submit(i));
            while done.load(Ordering::SeqCst) <= i as usize || pool.idle() == 0 {
                std::thread::yield_now();
            }
        }
        assert_eq!(pool.threads(), 1, "sequential jobs reuse the one idle thread");
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(pool.threads(), 0, "idle threads retire");
        pool.close(Instant::now());
    }

    #[test]
    fn at_the_cap_submit_waits_for_a_free_thread() {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let pool = Pool::new(
            "t".into(),
            2,
            Duration::from_secs(5),
            Box::new(move |_: u32| {
                std::thread::sleep(Duration::from_millis(20));
                d.fetch_add(1, Ordering::SeqCst);
            }),
        );
        for i in 0..10 {
            assert!(pool.submit(i));
            assert!(pool.threads() <= 2);
        }
        assert_eq!(pool.close(Instant::now() + Duration::from_secs(5)), 0);
        assert_eq!(done.load(Ordering::SeqCst), 10);
        assert!(!pool.submit(99), "a closed pool takes no work");
    }
}
