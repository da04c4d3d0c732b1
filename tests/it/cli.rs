//! The `micro-mesh` command, run as a process: outputs and exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::support::{SRV, closed_addr, sample, stop};

fn micro_mesh(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_micro-mesh"))
        .args(args)
        .env_remove("MICRO_CLIENT_CALL_ADDRESS")
        .env_remove("MICRO_RESOLVE")
        .env_remove("POD_NAMESPACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run micro-mesh");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

#[track_caller]
fn check(out: &Output, code: i32, stdout: &str, stderr: &str) {
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(code), "stdout {o:?} stderr {e:?}");
    assert!(o.contains(stdout), "stdout {o:?} lacks {stdout:?}");
    assert!(e.contains(stderr), "stderr {e:?} lacks {stderr:?}");
}

/// `micro-mesh call` prints the reply, takes the body from an argument or stdin, and sends metadata.
#[test]
fn call_prints_the_reply() {
    let srv = sample("http");
    let addr = srv.addr().to_string();
    let out = micro_mesh(
        &[
            "call",
            "--address",
            &addr,
            "go.micro.srv.sample",
            "Example.Call",
            r#"{"name":"Hobo"}"#,
        ],
        None,
    );
    check(&out, 0, r#"{"msg":"Hello Hobo"}"#, "");
    let out = micro_mesh(
        &["call", "-address", &addr, "go.micro.srv.sample", "Example.Call"],
        Some(r#"{"name":"Pipe"}"#),
    );
    check(&out, 0, "Hello Pipe", "");
    let resolve = format!("go-micro-srv-sample:9080={addr}");
    let out = micro_mesh(
        &[
            "call",
            "--resolve",
            &resolve,
            "-H",
            "x-request-id:cli-1",
            "go.micro.srv.sample",
            "Echo.Headers",
            "{}",
        ],
        None,
    );
    check(&out, 0, r#""x-request-id":"cli-1""#, "");
    check(&out, 0, r#""host":"go-micro-srv-sample:9080""#, "");
    stop("http", srv);
}

/// Errors come out as the error JSON on stderr, with an exit code that says what failed.
#[test]
fn errors_print_json_and_exit_by_kind() {
    let srv = sample("http");
    let addr = srv.addr().to_string();
    let out = micro_mesh(
        &[
            "call",
            "--address",
            &addr,
            "go.micro.srv.sample",
            "Example.Nope",
            "{}",
        ],
        None,
    );
    check(&out, 4, "", r#""code":404"#);
    let out = micro_mesh(
        &[
            "call",
            "--address",
            &addr,
            "go.micro.srv.sample",
            "Example.Boom",
            "{}",
        ],
        None,
    );
    check(&out, 5, "", r#""detail":"boom""#);
    let refused = closed_addr().to_string();
    let out = micro_mesh(
        &[
            "call",
            "--address",
            &refused,
            "go.micro.srv.sample",
            "Example.Call",
            "{}",
        ],
        None,
    );
    check(&out, 6, "", r#""id":"go.micro.client","code":503"#);
    let out = micro_mesh(&["call", "go_bad.srv", "Example.Call", "{}"], None);
    check(&out, 3, "", "DNS-1123");
    let out = micro_mesh(&["call", "--bogus", "1", "a", "b"], None);
    check(&out, 2, "", "unknown flag --bogus");
    // Configuration errors are one line naming the flag, never a server-style error JSON.
    let out = micro_mesh(&["call", "--address", "nope", "a", "b"], None);
    check(&out, 3, "", "error: bad call address: \"nope\" has no port");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Internal Server Error"));
    let out = micro_mesh(&["call", "--resolve", "garbage", "a", "b"], None);
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    check(
        &out,
        2,
        "",
        "error: bad --resolve entry \"garbage\": want HOST:PORT=ADDR:PORT",
    );
    assert_eq!(
        (e.matches("--resolve").count(), e.lines().count()),
        (1, 1),
        "{e:?}"
    );
    stop("http", srv);
}

/// `--help` explains the commands with examples; `health` reports a service's health endpoint.
#[test]
fn help_and_health() {
    check(&micro_mesh(&["--help"], None), 0, "Examples:", "");
    check(&micro_mesh(&[], None), 2, "", "Usage:");
    let out = micro_mesh(&["health", &closed_addr().to_string()], None);
    check(&out, 6, "", "go.micro.client");
    let srv = sample("http");
    let addr = srv.addr().to_string();
    check(&micro_mesh(&["health", &addr], None), 0, r#"{"status":"ok"}"#, "");
    let out = micro_mesh(&["health", "--path", "/health/live", &addr], None);
    check(&out, 0, r#"{"status":"ok"}"#, "");
    srv.health().set_draining();
    check(&micro_mesh(&["health", &addr], None), 5, "", "draining");
    stop("http", srv);
}

/// `micro-mesh stream` prints each message of a server stream on its own line.
#[test]
fn stream_prints_one_message_per_line() {
    let srv = micro_mesh::Service::new("go.micro.srv.sample")
        .address("127.0.0.1:0")
        .stream(
            "Example.Stream",
            |_: &micro_mesh::Context,
             n: serde_json::Value,
             out: &mut micro_mesh::Stream<'_, serde_json::Value>| {
                for count in 0..n["count"].as_u64().unwrap_or(0) {
                    out.send(&serde_json::json!({ "count": count }))?;
                }
                Ok(())
            },
        )
        .start()
        .unwrap();
    let addr = srv.addr().to_string();
    let out = micro_mesh(
        &[
            "stream",
            "--address",
            &addr,
            "go.micro.srv.sample",
            "Example.Stream",
            r#"{"count":3}"#,
        ],
        None,
    );
    check(&out, 0, "{\"count\":0}\n{\"count\":1}\n{\"count\":2}\n", "");
    stop("http", srv);
}

/// `--protocol grpc` calls and streams over gRPC with JSON messages (no .proto), with the same
/// outputs and exit codes; `health --grpc` asks grpc.health.v1 (exit 0 on SERVING, 5 draining).
#[test]
fn grpc_calls_streams_and_health() {
    let srv = micro_mesh::Service::new("go.micro.srv.sample")
        .address("127.0.0.1:0")
        .rpc("Example.Call", crate::support::example_call)
        .stream(
            "Example.Stream",
            |_: &micro_mesh::Context,
             n: serde_json::Value,
             out: &mut micro_mesh::Stream<'_, serde_json::Value>| {
                for count in 0..n["count"].as_u64().unwrap_or(0) {
                    out.send(&serde_json::json!({ "count": count }))?;
                }
                Ok(())
            },
        )
        .start()
        .expect("start");
    let addr = srv.addr().to_string();
    let grpc = |cmd: &str, endpoint: &str, body: &str| {
        micro_mesh(
            &[cmd, "--protocol", "grpc", "--address", &addr, SRV, endpoint, body],
            None,
        )
    };
    check(
        &grpc("call", "Example.Call", r#"{"name":"Cli"}"#),
        0,
        r#"{"msg":"Hello Cli"}"#,
        "",
    );
    let out = grpc("stream", "Example.Stream", r#"{"count":3}"#);
    check(&out, 0, "{\"count\":0}\n{\"count\":1}\n{\"count\":2}", "");
    check(
        &grpc("call", "Example.Call", r#"{"name":""}"#),
        4,
        "",
        r#""code":400"#,
    );
    check(&grpc("call", "Example.Nope", "{}"), 5, "", r#""code":501"#);
    check(
        &micro_mesh(&["health", "--grpc", &addr], None),
        0,
        r#"{"status":"SERVING"}"#,
        "",
    );
    srv.health().set_draining();
    check(
        &micro_mesh(&["health", "--grpc", &addr], None),
        5,
        "",
        "NOT_SERVING",
    );
    srv.stop().expect("stop");
}
