//! The work queue's tests: plain jobs, counted and timed by channels.

use super::*;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

fn queue(
    lanes: usize,
    max: usize,
    idle_for: Duration,
    serve: impl Fn(u32) + Send + Sync + 'static,
) -> Arc<WorkQueue<u32>> {
    with_stall(lanes, max, idle_for, STALL, serve)
}

fn with_stall(
    lanes: usize,
    max: usize,
    idle_for: Duration,
    stall: Duration,
    serve: impl Fn(u32) + Send + Sync + 'static,
) -> Arc<WorkQueue<u32>> {
    WorkQueue::new("t".into(), lanes, max, idle_for, stall, Box::new(serve)).unwrap()
}

#[test]
fn queued_jobs_run_in_turn_on_the_running_lanes() {
    // One lane and jobs that take a while: the later ones queue behind the first and the
    // one thread runs them all, in order, without a thread per job.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let q = queue(1, 64, Duration::from_secs(5), move |i| {
        std::thread::sleep(Duration::from_micros(200));
        sync::lock(&tx).send(i).unwrap();
    });
    for i in 0..20 {
        assert!(q.submit(i));
    }
    let order: Vec<u32> = (0..20).map(|_| rx.recv().unwrap()).collect();
    assert_eq!(order, (0..20).collect::<Vec<_>>());
    assert!(q.threads() < 20, "{} threads for 20 short jobs", q.threads());
    assert_eq!(q.close(Instant::now() + Duration::from_secs(5)), 0);
}

/// One lane: job 0 waits (10 s at most) until job 1 has run, telling the blocking hint first
/// when `says_it_blocks`; the watcher looks every `stall`. Whether job 0 was freed.
fn job_one_frees_job_zero(stall: Duration, says_it_blocks: bool) -> bool {
    let (tx, rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<bool>();
    let (rx, tx, done_tx) = (Mutex::new(rx), Mutex::new(tx), Mutex::new(done_tx));
    let q = with_stall(1, 8, Duration::from_secs(5), stall, move |i| {
        if i == 0 {
            let wait = || sync::lock(&rx).recv_timeout(Duration::from_secs(10)).is_ok();
            let freed = if says_it_blocks {
                crate::blocking::blocking(wait)
            } else {
                wait()
            };
            sync::lock(&done_tx).send(freed).unwrap();
        } else {
            sync::lock(&tx).send(()).unwrap();
        }
    });
    assert!(q.submit(0));
    assert!(q.submit(1));
    let freed = done_rx.recv_timeout(Duration::from_secs(20)) == Ok(true);
    assert_eq!(q.close(Instant::now() + Duration::from_secs(10)), 0);
    assert_eq!(q.threads(), 0);
    freed
}

#[test]
fn a_blocked_handler_does_not_hold_up_the_queue() {
    // It says nothing: the watcher frees its lane.
    assert!(job_one_frees_job_zero(STALL, false));
}

#[test]
fn a_handler_that_says_it_blocks_gives_its_lane_up_at_once() {
    // The watcher would take an hour: only the hint can start job 1.
    assert!(job_one_frees_job_zero(Duration::from_secs(3600), true));
}

#[test]
fn a_burst_of_blocking_jobs_gets_the_threads_it_needs() {
    // Every job blocks until all 64 run: only a queue that grows past its lanes finishes.
    let barrier = Arc::new(Barrier::new(64));
    let b = barrier.clone();
    let q = queue(2, 64, Duration::from_secs(5), move |_| {
        b.wait();
    });
    for i in 0..64 {
        assert!(q.submit(i));
    }
    assert_eq!(q.close(Instant::now() + Duration::from_secs(10)), 0);
    assert_eq!(q.threads(), 0);
}

#[test]
fn idle_threads_retire_and_a_closed_queue_takes_no_work() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let q = queue(2, 4, Duration::from_millis(50), move |_| {
        d.fetch_add(1, Ordering::SeqCst);
    });
    for i in 0..10 {
        assert!(q.submit(i));
    }
    let until = Instant::now() + Duration::from_secs(10);
    while (done.load(Ordering::SeqCst) < 10 || q.threads() > 0) && Instant::now() < until {
        std::thread::yield_now();
    }
    assert_eq!(done.load(Ordering::SeqCst), 10);
    assert_eq!(q.threads(), 0, "idle threads retire");
    assert!(q.submit(10), "a retired thread is replaced");
    assert_eq!(q.close(Instant::now() + Duration::from_secs(5)), 0);
    assert!(!q.submit(11), "a closed queue takes no work");
}
