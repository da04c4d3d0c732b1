//! The work queue of HTTP/2 request streams: short jobs run by a few busy threads in turn,
//! more threads only when the busy ones stall.
//!
//! Why not one thread per job, as connections get (`pool.rs`): handing each stream to a thread
//! of its own costs a sleep and a wake per request, and on a small VM a futex wake and the
//! switch it causes weigh more than the request (perf: ~60 % of srv's CPU under h2load). Here a
//! thread that finishes a job takes the next queued one without sleeping, and `submit` wakes
//! or starts a thread only while fewer than `lanes` (the cores) are running.
//!
//! The risk of a bounded number of running threads is head-of-line blocking behind a handler
//! that waits (an outbound call, a slow disk, a long stream). Two things stop a waiting handler
//! from holding a lane: our clients tell the queue before they block (`blocking.rs`, as Go's
//! scheduler hears of a syscall), and a watcher thread looks every [`STALL`] while jobs wait,
//! counts a job running longer than that as waiting, and wakes or starts a thread when no job
//! started since its last look. A queued job waits at most about one `STALL` behind handlers
//! that block unannounced, and the threads still follow the blocked handlers, up to the cap.

use std::collections::{HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pool::{join_by, spawn_worker};
use crate::sync;

/// How long queued jobs may see no job start before the watcher adds a thread.
pub(crate) const STALL: Duration = Duration::from_millis(1);

struct State<J> {
    queue: VecDeque<J>,
    /// Live worker threads, those waiting for work, and wakes sent to them not yet taken.
    threads: usize,
    idle: usize,
    wakes: usize,
    /// Threads taking or running jobs (woken ones included), and of those the ones counted
    /// as waiting; `submit` keeps `running - waiting` at `lanes`.
    running: usize,
    waiting: usize,
    /// Each running job's thread id: since when it runs, and whether it counts as waiting.
    busy: HashMap<u64, Busy>,
    /// Jobs taken off the queue so far: the watcher's measure of progress.
    started: u64,
    /// The watcher sleeps until `submit` queues a job without a thread for it.
    watcher_parked: bool,
    next_id: u64,
    handles: Vec<JoinHandle<()>>,
    closed: bool,
}

/// A running job: its start, and whether it counts as waiting (blocked, or long).
struct Busy {
    since: Instant,
    waiting: bool,
}

impl<J> State<J> {
    /// Running threads that are not waiting: the lanes in use.
    fn in_lanes(&self) -> usize {
        self.running - self.waiting
    }

    /// Counts (or stops counting) thread `id`'s job as waiting.
    fn set_waiting(&mut self, id: u64, waiting: bool) {
        if let Some(busy) = self.busy.get_mut(&id)
            && busy.waiting != waiting
        {
            busy.waiting = waiting;
            if waiting {
                self.waiting += 1;
            } else {
                self.waiting -= 1;
            }
        }
    }
}

/// A queue of jobs and the threads that run them.
pub(crate) struct WorkQueue<J> {
    state: Mutex<State<J>>,
    /// Idle workers wait here; the watcher on `watch`.
    work: Condvar,
    watch: Condvar,
    name: String,
    lanes: usize,
    /// The watcher's period ([`STALL`] but in tests).
    stall: Duration,
    max_threads: usize,
    idle_for: Duration,
    serve: Box<dyn Fn(J) + Send + Sync>,
}

impl<J: Send + 'static> WorkQueue<J> {
    /// A queue whose threads are named `{name}-{n}`, at most `max_threads` of them, `lanes` of
    /// them running while none stalls, each running `serve` for a job; a thread idle for
    /// `idle_for` retires. The watcher thread starts here and looks every `stall` ([`STALL`]).
    pub fn new(
        name: String,
        lanes: usize,
        max_threads: usize,
        idle_for: Duration,
        stall: Duration,
        serve: Box<dyn Fn(J) + Send + Sync>,
    ) -> std::io::Result<Arc<WorkQueue<J>>> {
        let queue = Arc::new(WorkQueue {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                wakes: 0,
                running: 0,
                waiting: 0,
                busy: HashMap::new(),
                started: 0,
                watcher_parked: false,
                next_id: 0,
                handles: Vec::new(),
                closed: false,
            }),
            work: Condvar::new(),
            watch: Condvar::new(),
            max_threads: max_threads.max(1),
            lanes: lanes.clamp(1, max_threads.max(1)),
            stall,
            idle_for,
            serve,
            name,
        });
        let watcher = queue.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{}-watch", queue.name))
            .spawn(move || watcher.watch())?;
        queue.lock().handles.push(handle);
        Ok(queue)
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        sync::lock(&self.state)
    }

    /// Queues `job`, and wakes or starts a thread for it while fewer than `lanes` run.
    /// Returns false (dropping the job) once the queue is closed.
    pub fn submit(self: &Arc<Self>, job: J) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.queue.push_back(job);
        if state.in_lanes() < self.lanes {
            self.add_runner(&mut state);
        } else if state.watcher_parked {
            state.watcher_parked = false;
            self.watch.notify_one();
        }
        true
    }

    /// One more running thread: an idle one woken, or a new one (none at the cap: the queued
    /// jobs wait for a running thread to come back for them).
    fn add_runner(self: &Arc<Self>, state: &mut State<J>) {
        if state.idle > state.wakes {
            state.wakes += 1;
            state.running += 1;
            self.work.notify_one();
        } else if state.threads < self.max_threads {
            let id = state.next_id;
            state.next_id += 1;
            let queue = self.clone();
            match spawn_worker(&self.name, id, &mut state.handles, move || queue.work(id)) {
                Ok(()) => {
                    state.threads += 1;
                    state.running += 1;
                }
                Err(e) => log::error!("cannot start a stream thread: {e}"),
            }
        }
    }

    /// A worker: runs queued jobs while there are any, then waits to be woken (counted as
    /// running by whoever woke it), and retires after `idle_for` without work.
    fn work(self: Arc<Self>, id: u64) {
        let weak = Arc::downgrade(&self);
        crate::blocking::install(move |blocking| hint(&weak, id, blocking));
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                state.started += 1;
                let since = Instant::now();
                state.busy.insert(
                    id,
                    Busy {
                        since,
                        waiting: false,
                    },
                );
                drop(state);
                // A job that panics must not take the thread's place in the counts with it.
                if catch_unwind(AssertUnwindSafe(|| (self.serve)(job))).is_err() {
                    log::error!("a stream job panicked");
                }
                state = self.lock();
                if state.busy.remove(&id).is_some_and(|busy| busy.waiting) {
                    state.waiting -= 1;
                }
                continue;
            }
            state.running -= 1;
            if state.closed {
                break;
            }
            state.idle += 1;
            let since = Instant::now();
            loop {
                state = sync::wait_timeout(&self.work, state, self.idle_for);
                if state.wakes > 0 {
                    state.wakes -= 1;
                    state.idle -= 1;
                    break;
                }
                if state.closed || since.elapsed() >= self.idle_for {
                    state.idle -= 1;
                    state.threads -= 1;
                    return;
                }
            }
        }
        state.threads -= 1;
    }

    /// The watcher: parked while no job waits without a thread; while jobs wait, looks every
    /// `STALL` and adds a running thread when none started since the last look.
    fn watch(self: &Arc<Self>) {
        let mut state = self.lock();
        while !state.closed {
            if state.queue.is_empty() {
                state.watcher_parked = true;
                state = sync::wait(&self.watch, state);
                continue;
            }
            let seen = state.started;
            state = sync::wait_timeout(&self.watch, state, self.stall);
            if state.closed || state.queue.is_empty() {
                continue;
            }
            let now = Instant::now();
            let long: Vec<u64> = (state.busy.iter())
                .filter(|(_, b)| !b.waiting && now.duration_since(b.since) >= self.stall)
                .map(|(id, _)| *id)
                .collect();
            for id in long {
                state.set_waiting(id, true);
            }
            let mut added = false;
            while !state.queue.is_empty() && state.in_lanes() < self.lanes {
                let before = state.running;
                self.add_runner(&mut state);
                added = state.running > before;
                if !added {
                    break;
                }
            }
            if !added && state.started == seen {
                self.add_runner(&mut state);
            }
        }
    }

    /// The number of live worker threads.
    #[cfg(test)]
    pub fn threads(&self) -> usize {
        self.lock().threads
    }

    /// Stops taking jobs (queued ones are dropped), wakes every thread, and joins every thread
    /// that ends by `until`; returns how many did not (a handler that never returns): those are
    /// left running, detached.
    pub fn close(&self, until: Instant) -> usize {
        let (handles, dropped) = {
            let mut state = self.lock();
            state.closed = true;
            (
                std::mem::take(&mut state.handles),
                std::mem::take(&mut state.queue),
            )
        };
        // Dropped outside the lock: a job's drop may release what others wait on.
        drop(dropped);
        self.work.notify_all();
        self.watch.notify_all();
        join_by(handles, until)
    }
}

/// A worker's blocking hint: while its job waits on the network it leaves its lane to a
/// queued job (a thread is woken for one now).
fn hint<J: Send + 'static>(queue: &Weak<WorkQueue<J>>, id: u64, blocking: bool) {
    let Some(queue) = queue.upgrade() else {
        return;
    };
    let mut state = queue.lock();
    state.set_waiting(id, blocking);
    if blocking && !state.queue.is_empty() && state.in_lanes() < queue.lanes {
        queue.add_runner(&mut state);
    }
}

#[cfg(test)]
mod tests;
