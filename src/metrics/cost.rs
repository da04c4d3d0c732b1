//! The per-request cost of `Metrics::observe`, measured: an ignored test, run in release with
//! `cargo test --release --lib metrics::cost -- --ignored --nocapture`.
//!
//! 5 million observes on one thread alone, then 10 million across 2 threads on one cell (the
//! worst case: every add contends for the same cache lines) and on a cell per thread. Each
//! figure is the best and the median of 5 rounds, in wall time and in CPU time per observe (the
//! thread's own, from `/proc/thread-self/schedstat`): the 2 cores are shared, and two threads
//! that do not run at once show a doubled wall time but no contention.

use super::Metrics;
use super::tests::{own, rec, value};
use crate::record::{Protocol, Record};
use std::sync::Arc;
use std::time::Instant;

/// Observes per thread per round.
const PER_THREAD: usize = 5_000_000;

/// Prints each case's cost per observe (see the module comment); asserts only that every
/// observe was counted.
#[test]
#[ignore = "a measurement, not a check"]
fn observe_cost() {
    let cases = [
        ("1 thread", &[0][..]),
        ("2 threads, one cell", &[0, 0]),
        ("2 threads, a cell each", &[0, 1]),
    ];
    for (case, routes) in cases {
        let (mut wall, mut cpu): (Vec<f64>, Vec<f64>) = (0..5).map(|_| round(routes)).unzip();
        // How far the threads ran at once: only then can they contend.
        let overlap = cpu.iter().sum::<f64>() * routes.len() as f64 / wall.iter().sum::<f64>();
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let (best, median) = (cpu[0], cpu[2]);
        eprint!("{case}: {best:.1} ns CPU per observe (median {median:.1}); ");
        eprintln!(
            "wall {:.1} ns (median {:.1}); {overlap:.2} threads at once",
            wall[0], wall[2]
        );
    }
}

/// One thread per entry of `routes`, each observing `PER_THREAD` requests on that route:
/// (wall ns per observe per thread, mean CPU ns per observe).
fn round(routes: &[usize]) -> (f64, f64) {
    let m = Arc::new(Metrics::new(vec!["/a".into(), "/b".into()]));
    let start = Instant::now();
    let threads: Vec<_> = (routes.iter().copied())
        .map(|route| {
            let m = m.clone();
            std::thread::spawn(move || {
                // Codes 200, 300, 400 and durations from 0 to 90 ms: several slots and buckets.
                let recs: Vec<Record<'static>> = (0..16u64)
                    .map(|i| rec(route, 200 + i as u16 % 3 * 100, Protocol::Http1, i * i * 400))
                    .collect();
                let cpu = thread_cpu_ns();
                for i in 0..PER_THREAD {
                    m.observe(std::hint::black_box(&recs[i % 16]));
                }
                thread_cpu_ns() - cpu
            })
        })
        .collect();
    let cpu: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let wall = start.elapsed().as_nanos() as f64 / PER_THREAD as f64;
    let out = own(&m, 0);
    let d = "micro_server_request_duration_seconds";
    let count = |r| value(&out, &format!("{d}_count{{route=\"{r}\",protocol=\"http1\"}}"));
    let b = if routes.contains(&1) { count("/b") } else { 0 };
    let n = routes.len() * PER_THREAD;
    assert_eq!(count("/a") + b, n as u64, "every observe counted");
    (wall, cpu as f64 / n as f64)
}

/// The calling thread's CPU time in nanoseconds: the first field of its schedstat.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    stat.split_whitespace()
        .next()
        .and_then(|ns| ns.parse().ok())
        .expect("a CPU time")
}
