//! HTTP/2 with prior knowledge (h2c) on the `http` server's one port, as the sidecar speaks it:
//! real peers (curl, nghttp, h2load) and raw frames for what peers never send.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use micro_mesh::Limits;

use crate::support::{IO_TIMEOUT, sample, sample_with, stop};

/// Whether `tool` runs here; prints a visible SKIP line for `test` when it does not.
fn have(tool: &str, test: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("SKIP {test}: {tool} not found (apt-get install nghttp2-client curl)");
    }
    found
}

/// `curl --http2-prior-knowledge` with `args`: (HTTP version, status, body).
fn curl(addr: SocketAddr, args: &[&str], path: &str) -> (String, u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "--max-time",
            "5",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .args(args)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (version, code) = tail.split_once(' ').unwrap_or((tail, "0"));
    (version.to_string(), code.parse().unwrap_or(0), body.to_string())
}

/// curl over HTTP/2 reaches an RPC JSON route, an API route, a stream, health and metrics,
/// with the same answers as over HTTP/1.1.
#[test]
fn curl_over_h2c_reaches_every_kind_of_route() {
    if !have("curl", "curl_over_h2c_reaches_every_kind_of_route") {
        return;
    }
    let srv = sample("http");
    let addr = srv.addr();
    let json = ["-XPOST", "-H", "content-type: application/json", "-d"];
    let call = |body: &str, path: &str| curl(addr, &[&json[..], &[body]].concat(), path);
    assert_eq!(
        call(r#"{"name":"Hobo"}"#, "/Example.Call"),
        ("2".into(), 200, r#"{"msg":"Hello Hobo"}"#.into())
    );
    let (version, status, body) = call(r#"{"name":""}"#, "/Example.Call");
    assert_eq!((version.as_str(), status), ("2", 400), "{body}");
    assert!(body.contains(r#""code":400"#), "the error JSON: {body}");
    assert_eq!(
        curl(addr, &[], "/hello?name=h2"),
        ("2".into(), 200, "hello h2".into())
    );
    assert_eq!(
        curl(addr, &[], "/health"),
        ("2".into(), 200, r#"{"status":"ok"}"#.into())
    );
    let (_, status, body) = curl(addr, &[], "/nope");
    assert_eq!(status, 404, "{body}");
    let (_, status, metrics) = curl(addr, &[], "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"route="/Example.Call",code="200",protocol="http2"} 1"#),
        "{metrics}"
    );
    stop("http", srv);
}

/// nghttp (nghttp2's own client) reaches an RPC JSON route and health.
#[test]
fn nghttp_reaches_rpc_and_health() {
    if !have("nghttp", "nghttp_reaches_rpc_and_health") {
        return;
    }
    let srv = sample("http");
    let dir = std::env::temp_dir().join(format!("mm-nghttp-{}", srv.addr().port()));
    std::fs::write(&dir, r#"{"name":"Ng"}"#).expect("body file");
    let out = Command::new("nghttp")
        .args(["-t", "5", "-H", "content-type: application/json", "-d"])
        .arg(&dir)
        .arg(format!("http://{}/Example.Call", srv.addr()))
        .output()
        .expect("nghttp");
    let _ = std::fs::remove_file(&dir);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"msg":"Hello Ng"}"#,
        "{out:?}"
    );
    let out = Command::new("nghttp")
        .args(["-t", "5", "-s"])
        .arg(format!("http://{}/health", srv.addr()))
        .output()
        .expect("nghttp");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(r#"{"status":"ok"}"#), "{text}");
    stop("http", srv);
}

/// Many concurrent streams on a few connections all succeed (h2load counts them).
#[test]
fn h2load_streams_all_succeed() {
    if !have("h2load", "h2load_streams_all_succeed") {
        return;
    }
    let srv = sample("http");
    let body = std::env::temp_dir().join(format!("mm-h2load-{}", srv.addr().port()));
    std::fs::write(&body, r#"{"name":"Load"}"#).expect("body file");
    let out = Command::new("h2load")
        .args([
            "-n",
            "2000",
            "-c",
            "4",
            "-m",
            "20",
            "-H",
            "content-type: application/json",
            "-d",
        ])
        .arg(&body)
        .arg(format!("http://{}/Example.Call", srv.addr()))
        .output()
        .expect("h2load");
    let _ = std::fs::remove_file(&body);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2000 succeeded, 0 failed, 0 errored"), "{text}");
    assert!(text.contains("status codes: 2000 2xx"), "{text}");
    stop("http", srv);
}

/// Reads frames until one of type `kind` arrives (or the connection closes): its payload.
fn await_frame(sock: &mut TcpStream, kind: u8, within: Duration) -> Option<Vec<u8>> {
    let until = Instant::now() + within;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while buf.len() >= 9 {
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                break;
            }
            let frame: Vec<u8> = buf.drain(..9 + len).collect();
            if frame[3] == kind {
                return Some(frame[9..].to_vec());
            }
        }
        if Instant::now() >= until {
            return None;
        }
        match sock.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A client that sends the preface but never its SETTINGS gets a GOAWAY (PROTOCOL_ERROR)
/// within the head timeout, and the server goes on serving others.
#[test]
fn a_preface_without_settings_gets_goaway_in_time() {
    let limits = Limits {
        head_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let srv = sample_with("http", limits);
    let mut sock = TcpStream::connect(srv.addr()).expect("connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    sock.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .expect("preface");
    let started = Instant::now();
    let goaway = await_frame(&mut sock, 7, Duration::from_secs(5)).expect("a GOAWAY");
    let code = u32::from_be_bytes([goaway[4], goaway[5], goaway[6], goaway[7]]);
    assert_eq!(code, 1, "PROTOCOL_ERROR");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let resp = crate::support::exchange("after", srv.addr(), "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    crate::support::check(&resp, 200, "ok");
    stop("http", srv);
}
