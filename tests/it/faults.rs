//! Faults: the srv example killed (SIGKILL) and restarted on the same port while the api
//! example is under load, with api calling over HTTP and over gRPC (`--client grpc`).
//!
//! What must hold: api stays up; the calls that fail meanwhile fail with api's client 503 (the
//! go-micro error JSON, id `go.micro.client`) and nothing else, none beyond the client's budget;
//! calls succeed again within 1 s of srv listening again; api's threads and open files come back
//! to what they were after the same load without a fault.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use micro_mesh::WireError;

use crate::examples::{spawn, wait_listening};
use crate::support::{ChildGuard, Http, free_port, request, serial};

/// Client threads calling api at once.
const THREADS: usize = 8;
/// api's client budget (`--client_request_timeout`): no call may take longer than this plus
/// `SLACK`.
const BUDGET: Duration = Duration::from_secs(2);
const SLACK: Duration = Duration::from_secs(1);
/// How long srv stays down.
const DOWN: Duration = Duration::from_millis(300);
/// From srv listening again to the first 200, at most.
const RECOVERY: Duration = Duration::from_secs(1);
/// Threads and open files api may hold above its baseline once the load is over.
const MARGIN: usize = 2;

/// Reads a child's pipe to its end on a thread of its own, so that a chatty child (the access
/// log is on) never blocks on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) {
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        });
    }
}

fn start(name: &str, args: &[&str], port: u16) -> ChildGuard {
    let mut child = spawn(name, args, &[]);
    drain(child.child.stdout.take());
    // stderr stays attached until it listens, so that a failed start says why.
    wait_listening(&mut child, port);
    drain(child.child.stderr.take());
    child
}

fn start_srv(port: u16) -> ChildGuard {
    start("srv", &["--server_address", &format!("127.0.0.1:{port}")], port)
}

/// api's threads and open files, from /proc.
fn usage(pid: u32) -> (usize, usize) {
    let count = |dir: &str| {
        std::fs::read_dir(format!("/proc/{pid}/{dir}"))
            .map(|d| d.count())
            .unwrap_or_else(|e| panic!("/proc/{pid}/{dir}: {e}"))
    };
    (count("task"), count("fd"))
}

/// Polls until two readings 200 ms apart agree (5 s at most): the settled usage.
fn settled(pid: u32) -> (usize, usize) {
    let until = Instant::now() + Duration::from_secs(5);
    let mut last = usage(pid);
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = usage(pid);
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(200) || Instant::now() > until {
            return now;
        }
    }
}

/// What the client threads saw.
#[derive(Default)]
struct Tally {
    ok: u64,
    unavailable: u64,
    /// Anything else, described.
    other: Vec<String>,
    /// When each call started and ended and whether it was a 200 (for recovery).
    calls: Vec<(Instant, Instant, bool)>,
    slowest: Duration,
}

/// One call on `conn` (a new connection when `None` or after an error).
fn call(conn: &mut Option<Http>, addr: SocketAddr, n: u64) -> Result<(u16, String), String> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(Http::connect("faults", addr)),
    };
    let _ = c.stream.set_read_timeout(Some(BUDGET + SLACK));
    let raw = request("GET", &format!("/example/call?name=X{n}"), &[], "");
    let out = std::io::Write::write_all(&mut c.stream, raw.as_bytes())
        .map_err(|e| format!("write: {e}"))
        .and_then(|()| c.try_read(false).map_err(|e| format!("read: {e}")))
        .map(|resp| {
            let close = resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
            (resp.status, resp.text(), close)
        });
    match out {
        Ok((status, body, close)) => {
            if close {
                *conn = None;
            }
            Ok((status, body))
        }
        Err(e) => {
            *conn = None;
            Err(e)
        }
    }
}

/// `THREADS` threads calling api at `addr` in a loop until `stop`.
fn load(
    addr: SocketAddr,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Mutex<Tally>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let seq = Arc::new(AtomicU64::new(0));
    (0..THREADS)
        .map(|_| {
            let (stop, tally, seq) = (stop.clone(), tally.clone(), seq.clone());
            std::thread::spawn(move || {
                let mut conn = None;
                while !stop.load(Ordering::Relaxed) {
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let began = Instant::now();
                    let out = call(&mut conn, addr, n);
                    let ended = Instant::now();
                    let mut t = tally.lock().unwrap();
                    t.slowest = t.slowest.max(ended - began);
                    let ok = match out {
                        Ok((200, body)) if body == format!(r#"{{"msg":"Hello X{n}"}}"#) => {
                            t.ok += 1;
                            true
                        }
                        Ok((503, body)) if is_client_503(&body) => {
                            t.unavailable += 1;
                            false
                        }
                        Ok((status, body)) => {
                            t.other.push(format!("{status} {body}"));
                            false
                        }
                        Err(e) => {
                            t.other.push(e);
                            false
                        }
                    };
                    t.calls.push((began, ended, ok));
                }
            })
        })
        .collect()
}

/// api's client 503: the go-micro error JSON with id `go.micro.client` and code 503.
fn is_client_503(body: &str) -> bool {
    serde_json::from_str::<WireError>(body)
        .is_ok_and(|w| w.id == "go.micro.client" && w.code == 503 && w.status == "Service Unavailable")
}

/// Polls until `done` (5 s at most).
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < until, "{what} after 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn kill_and_restart_srv_under_load(client: &str) {
    let (p, q) = (free_port(), free_port());
    let mut srv = start_srv(p);
    let api_args = [
        "--server_address".to_string(),
        format!("127.0.0.1:{q}"),
        "--client".into(),
        client.into(),
        "--client_call_address".into(),
        format!(":{p}"),
        "--resolve".into(),
        format!("go-micro-srv-sample:{p}=127.0.0.1:{p}"),
        "--client_request_timeout".into(),
        "2s".into(),
    ];
    let api_args: Vec<&str> = api_args.iter().map(String::as_str).collect();
    let mut api = start("api", &api_args, q);
    let addr = SocketAddr::from(([127, 0, 0, 1], q));
    let pid = api.child.id();
    let label = format!("client {client}");

    // The baseline: api after the same load with no fault (its pool threads and its client's
    // connections to srv made), settled.
    let warm = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(addr, &stop, &warm);
    wait_until(&format!("[{label}] warm-up: 200 calls"), || {
        warm.lock().unwrap().ok >= 200
    });
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());
    {
        let w = warm.lock().unwrap();
        assert!(
            w.unavailable == 0 && w.other.is_empty(),
            "[{label}] failures with srv up: {} x 503, {:?}",
            w.unavailable,
            w.other
        );
    }
    let (base_threads, base_fds) = settled(pid);

    // The fault.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let threads = load(addr, &stop, &tally);
    wait_until(&format!("[{label}] 100 calls before the kill"), || {
        tally.lock().unwrap().ok >= 100
    });
    srv.child.kill().expect("SIGKILL srv");
    srv.child.wait().expect("reaping srv");
    let killed = Instant::now();
    wait_until(&format!("[{label}] a 503 once srv is gone"), || {
        tally.lock().unwrap().unavailable > 0
    });
    let until = killed + DOWN;
    while Instant::now() < until {
        std::thread::sleep(until - Instant::now());
    }
    let mut srv = start_srv(p);
    let back = Instant::now();
    wait_until(&format!("[{label}] a 200 once srv is back"), || {
        tally
            .lock()
            .unwrap()
            .calls
            .iter()
            .any(|&(_, end, ok)| ok && end >= back)
    });
    // A little more load on the recovered chain, then stop.
    let ok_then = tally.lock().unwrap().ok;
    wait_until(&format!("[{label}] 100 calls after recovery"), || {
        tally.lock().unwrap().ok >= ok_then + 100
    });
    stop.store(true, Ordering::Relaxed);
    threads.into_iter().for_each(|t| t.join().unwrap());

    assert!(
        api.child.try_wait().expect("try_wait api").is_none(),
        "[{label}] api exited"
    );
    let t = tally.lock().unwrap();
    let recovery = t
        .calls
        .iter()
        .filter(|&&(_, end, ok)| ok && end >= back)
        .map(|&(_, end, _)| end - back)
        .min()
        .unwrap();
    let failed_late = t
        .calls
        .iter()
        .filter(|&&(began, _, ok)| !ok && began >= back + RECOVERY)
        .count();
    eprintln!(
        "[{label}] ok {}, 503 {}, other {}; slowest call {:?}; first 200 {recovery:?} after srv listened again",
        t.ok,
        t.unavailable,
        t.other.len(),
        t.slowest
    );

    // Threads and open files back to the baseline (pool threads may retire, never pile up):
    // polled until they are (the last client connections take a moment to close on api's
    // side), 3 s at most, then held to the baseline plus `MARGIN`.
    let deadline = Instant::now() + Duration::from_secs(3);
    let after = loop {
        let now = usage(pid);
        if (now.0 <= base_threads && now.1 <= base_fds) || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!(
        "[{label}] api threads {base_threads} -> {}, open fds {base_fds} -> {} (baseline after the same load without a fault)",
        after.0, after.1
    );

    assert!(t.unavailable > 0, "[{label}] no call failed while srv was down");
    assert!(
        t.other.is_empty(),
        "[{label}] {} calls failed other than with the client's 503, first: {:?}",
        t.other.len(),
        &t.other[..t.other.len().min(5)]
    );
    assert!(
        t.slowest <= BUDGET + SLACK,
        "[{label}] a call took {:?}",
        t.slowest
    );
    assert!(
        recovery <= RECOVERY,
        "[{label}] first 200 only {recovery:?} after srv listened again"
    );
    assert_eq!(
        failed_late, 0,
        "[{label}] calls started more than {RECOVERY:?} after srv came back still failed"
    );
    assert!(
        after.0 <= base_threads + MARGIN,
        "[{label}] api threads {base_threads} -> {}",
        after.0
    );
    assert!(
        after.1 <= base_fds + MARGIN,
        "[{label}] api open fds {base_fds} -> {}",
        after.1
    );
    drop(t);
    srv.child.kill().ok();
    api.child.kill().ok();
}

#[test]
fn srv_killed_and_restarted_under_load_over_http() {
    let _serial = serial();
    kill_and_restart_srv_under_load("http");
}

#[test]
fn srv_killed_and_restarted_under_load_over_grpc() {
    let _serial = serial();
    kill_and_restart_srv_under_load("grpc");
}
