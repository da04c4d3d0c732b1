//! The srv and api examples as processes, started the way a user starts them.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::{ChildGuard, SRV, check, check_error, exchange, free_port, request};

/// The examples' directory next to this test binary (`target/<profile>/examples`), built if stale.
///
/// `cargo test --test it` does not build examples, so this runs `cargo build --examples` once
/// (a no-op when they are fresh) with the target directory and profile of this test binary.
pub(crate) fn examples_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current_exe");
        // .../target/<profile>/deps/it-xxxx
        let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>");
        let target_dir = profile_dir.parent().expect("target dir");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--examples", "--manifest-path"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build --examples");
        assert!(status.success(), "cargo build --examples failed: {status}");
        profile_dir.join("examples")
    })
}

/// Starts example `name` with `args` and `env` (other `MICRO_*` variables cleared).
pub(crate) fn spawn(name: &str, args: &[&str], env: &[(&str, &str)]) -> ChildGuard {
    let bin = examples_dir().join(name);
    let mut cmd = Command::new(&bin);
    // Both pipes: the examples print a line or two, far below the pipe buffer.
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MICRO_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    ChildGuard {
        name: format!("{name} {}", args.join(" ")),
        child,
    }
}

/// Runs example `name` to its exit (5 s at most): its exit code, stdout and stderr.
fn run_to_exit(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut guard = spawn(name, args, &[]);
    let status = guard
        .wait_exit(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("{name} {args:?} did not exit within 5 s"));
    (
        status.code(),
        read_pipe(guard.child.stdout.take()),
        read_pipe(guard.child.stderr.take()),
    )
}

pub(crate) fn read_pipe(pipe: Option<impl std::io::Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_string(&mut text);
    }
    text
}

/// Waits until `port` accepts connections (5 s at most), failing early if the child exits.
pub(crate) fn wait_listening(child: &mut ChildGuard, port: u16) -> SocketAddr {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        // A connect to a free ephemeral port can meet itself (TCP simultaneous open) before the
        // child listens; that is not the child answering.
        let conn = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        if conn.is_ok_and(|c| c.local_addr().ok() != Some(addr)) {
            return addr;
        }
        if let Ok(Some(status)) = child.child.try_wait() {
            let err = read_pipe(child.child.stderr.take());
            panic!(
                "{} exited with {status} before listening on {port}: {err}",
                child.name
            );
        }
        assert!(
            Instant::now() < until,
            "{} not listening on {port} after 5 s",
            child.name
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the seed's chain through api at `addr`: GET, POST, and srv's 400 passed through.
fn check_chain(label: &str, addr: SocketAddr) {
    let resp = exchange(label, addr, &request("GET", "/example/call?name=Hobo", &[], ""));
    check(&resp, 200, r#"{"msg":"Hello Hobo"}"#);
    let post = request("POST", "/example/call", &[], r#"{"name":"Post"}"#);
    check(&exchange(label, addr, &post), 200, r#"{"msg":"Hello Post"}"#);
    let resp = exchange(label, addr, &request("GET", "/example/call?name=", &[], ""));
    check_error(&resp, 400, SRV, "name must not be empty");
}

/// srv and api run with Go-style flags (`-name=value`) and serve the chain.
#[test]
fn examples_chain_with_go_flags() {
    let (p, q) = (free_port(), free_port());
    let mut srv = spawn("srv", &[&format!("-server_address=127.0.0.1:{p}")], &[]);
    wait_listening(&mut srv, p);
    let mut api = spawn(
        "api",
        &[
            &format!("-server_address=127.0.0.1:{q}"),
            &format!("-client_call_address=127.0.0.1:{p}"),
        ],
        &[],
    );
    let addr = wait_listening(&mut api, q);
    check_chain("examples go flags", addr);
}

/// api runs with GNU-style flags, the `:PORT` rule and an override map, and serves the chain.
#[test]
fn examples_chain_with_gnu_flags_and_resolve() {
    let (p, q) = (free_port(), free_port());
    let mut srv = spawn("srv", &["--server_address", &format!("127.0.0.1:{p}")], &[]);
    wait_listening(&mut srv, p);
    let mut api = spawn(
        "api",
        &[
            "--server_address",
            &format!("127.0.0.1:{q}"),
            "--client_call_address",
            &format!(":{p}"),
            "--resolve",
            &format!("go-micro-srv-sample:{p}=127.0.0.1:{p}"),
        ],
        &[],
    );
    let addr = wait_listening(&mut api, q);
    check_chain("examples gnu flags", addr);
}

/// The seed's gRPC sample: api calls srv over gRPC with `--client grpc` (name rule and
/// override map as over HTTP), and srv counts the calls as gRPC.
#[test]
fn examples_chain_over_grpc_with_flags() {
    let (p, q) = (free_port(), free_port());
    let mut srv = spawn("srv", &["--server_address", &format!("127.0.0.1:{p}")], &[]);
    let srv_addr = wait_listening(&mut srv, p);
    let mut api = spawn(
        "api",
        &[
            "--server_address",
            &format!("127.0.0.1:{q}"),
            "--client",
            "grpc",
            "--client_call_address",
            &format!(":{p}"),
            "--resolve",
            &format!("go-micro-srv-sample:{p}=127.0.0.1:{p}"),
        ],
        &[],
    );
    let addr = wait_listening(&mut api, q);
    check_chain("examples grpc", addr);
    // A request is recorded once its answer is out, so api may have answered first.
    let scrape = || exchange("srv metrics", srv_addr, &request("GET", "/metrics", &[], "")).text();
    let grpc = r#"micro_server_requests_total{route="/Example.Call",code="200",protocol="grpc"} 2"#;
    crate::support::within(Duration::from_secs(5), || scrape().contains(grpc));
    let metrics = scrape();
    assert!(
        metrics.contains(grpc),
        "srv did not see the calls over gRPC:\n{metrics}"
    );
}

/// local_mesh runs both services in one process and shows both wires: `/example/call` reaches
/// srv over HTTP, `/example/grpc` over gRPC, with the same answers.
#[test]
fn examples_local_mesh_calls_over_http_and_grpc() {
    let (api_port, srv_port) = (free_port(), free_port());
    let mut mesh = spawn("local_mesh", &[&api_port.to_string(), &srv_port.to_string()], &[]);
    let addr = wait_listening(&mut mesh, api_port);
    for path in ["/example/call", "/example/grpc"] {
        let resp = exchange(path, addr, &request("GET", &format!("{path}?name=Both"), &[], ""));
        check(&resp, 200, r#"{"msg":"Hello Both"}"#);
        let resp = exchange(path, addr, &request("GET", &format!("{path}?name="), &[], ""));
        check_error(&resp, 400, SRV, "name must not be empty");
    }
}

/// `MICRO_SERVER_ADDRESS` is the fallback for `--server_address`.
#[test]
fn examples_env_fallback_for_server_address() {
    let r = free_port();
    let addr = format!("127.0.0.1:{r}");
    let mut srv = spawn("srv", &[], &[("MICRO_SERVER_ADDRESS", addr.as_str())]);
    let addr = wait_listening(&mut srv, r);
    let resp = exchange(
        "srv env",
        addr,
        &crate::support::rpc("Example.Call", r#"{"name":"Env"}"#),
    );
    check(&resp, 200, "Hello Env");
}

/// `--server tiny_http` serves with the tiny_http plugin.
#[test]
fn examples_srv_with_tiny_http() {
    let p = free_port();
    let mut srv = spawn(
        "srv",
        &["--server", "tiny_http", &format!("-server_address=127.0.0.1:{p}")],
        &[],
    );
    let addr = wait_listening(&mut srv, p);
    let resp = exchange(
        "srv tiny_http",
        addr,
        &crate::support::rpc("Example.Call", r#"{"name":"T"}"#),
    );
    check(&resp, 200, "Hello T");
    let server = resp.header("server").unwrap_or_default();
    assert!(server.contains("tiny-http"), "not tiny_http:\n{resp:?}");
}

/// An unknown flag exits 2 with a one-line message naming it.
#[test]
fn examples_unknown_flag_exits_2() {
    let (code, _, err) = run_to_exit("srv", &["--bogus"]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err:?}");
    assert!(err.contains("bogus"), "stderr: {err:?}");
}

/// A duration no one means (it overflowed the drain's clock at SIGTERM and panicked) and a
/// listen address already taken each exit with one line: 2 for the flag, 1 for the bind.
#[test]
fn examples_huge_duration_and_busy_port_exit_with_one_line() {
    let (code, _, err) = run_to_exit("srv", &["--shutdown_timeout", "3000000000000000h"]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err:?}");
    assert!(
        err.contains("--shutdown_timeout") && err.contains("over the 24h limit"),
        "{err:?}"
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (code, _, err) = run_to_exit("srv", &["--server_address", &addr, "--log_level", "off"]);
    assert_eq!(code, Some(1), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "stderr: {err:?}");
    assert!(err.starts_with("error: i/o error: cannot listen on"), "{err:?}");
}

/// `-h` exits 0 and prints usage that mentions `server_address`.
#[test]
fn examples_help_exits_0() {
    let (code, out, err) = run_to_exit("srv", &["-h"]);
    assert_eq!(code, Some(0), "stderr: {err}");
    let text = format!("{out}{err}");
    assert!(text.contains("server_address"), "help: {text:?}");
}

#[test]
fn examples_bench_client_calls_over_http_and_grpc_and_refuses_a_bad_flag() {
    // The benchmark's client makes every call it reports, over both wires and both codecs.
    let srv = crate::pb::template(micro_mesh::Service::new(SRV).address("127.0.0.1:0"))
        .start()
        .expect("template service");
    let addr = srv.addr().to_string();
    for flags in [
        &[][..],
        &["--codec", "proto"],
        &["--client", "grpc"],
        &["--client", "grpc", "--codec", "json"],
    ] {
        let mut args = vec![addr.as_str(), "300", "3"];
        args.extend_from_slice(flags);
        let (code, out, err) = run_to_exit("bench_client", &args);
        assert_eq!(code, Some(0), "bench_client {args:?}: {err}");
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON line");
        assert_eq!(line["calls"], 300, "bench_client {args:?}: {out}");
        assert_eq!(line["errors"], 0, "bench_client {args:?}: {out}");
        let wire = if flags.contains(&"grpc") { "grpc" } else { "http" };
        assert_eq!(line["wire"], wire, "bench_client {args:?}: {out}");
    }
    let (code, _, err) = run_to_exit("bench_client", &[addr.as_str(), "--threads", "2"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("usage: bench_client"), "{err}");
    srv.stop().expect("stop");
}
