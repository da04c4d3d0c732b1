//! The client's bytes on the wire, seen by a scripted raw server: one segment per request, and
//! pooled connections that the server closed or dirtied are never written to again.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use micro_mesh::{Caller, Client, HttpClient};

use crate::support::{Hello, Reply, SRV};

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"msg\":\"ok\"}";

/// A scripted server on a free port: `script` gets the listener and runs on a joined thread.
fn raw_server<T: Send + 'static>(
    script: impl FnOnce(TcpListener) -> T + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    (addr, thread::spawn(move || script(listener)))
}

fn accept(listener: &TcpListener) -> TcpStream {
    let (conn, _) = listener.accept().expect("accept");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    conn
}

/// Accepts a connection and reads one request from it.
fn accept_request(listener: &TcpListener) -> (TcpStream, Vec<u8>) {
    let conn = accept(listener);
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    (conn, read_request(&mut reader))
}

/// Reads one request (head and a Content-Length body) and returns it whole.
fn read_request(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut length = 0;
    loop {
        let start = raw.len();
        reader.read_until(b'\n', &mut raw).expect("head line");
        let line = String::from_utf8_lossy(&raw[start..]).to_ascii_lowercase();
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse().expect("content-length");
        }
        if line == "\r\n" {
            break;
        }
    }
    let start = raw.len();
    raw.resize(start + length, 0);
    reader.read_exact(&mut raw[start..]).expect("body");
    raw
}

fn client(addr: SocketAddr) -> HttpClient {
    HttpClient::builder()
        .call_address(&addr.to_string())
        .retries(0)
        .build()
}

fn check_call(client: &HttpClient, name: &str) {
    let client: &dyn Client = client;
    let reply: Reply = client
        .call(SRV, "Example.Call", &Hello { name: name.into() })
        .unwrap_or_else(|e| panic!("call {name}: {e}"));
    assert_eq!(reply.msg, "ok", "call {name}");
}

/// A call's head and body reach the server in one read, and keep-alive calls reuse the socket.
#[test]
fn request_head_and_body_arrive_in_one_read() {
    let (addr, server) = raw_server(|listener| {
        let mut conn = accept(&listener);
        let mut reads = Vec::new();
        for _ in 0..3 {
            let mut buf = vec![0; 64 * 1024];
            let n = conn.read(&mut buf).expect("read");
            reads.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            conn.write_all(OK).expect("reply");
        }
        reads
    });
    let client = client(addr);
    for name in ["one", "two", "three"] {
        check_call(&client, name);
    }
    for read in server.join().expect("server") {
        assert!(read.starts_with("POST /Example.Call HTTP/1.1\r\n"), "{read:?}");
        let body = read.split_once("\r\n\r\n").map(|(_, body)| body);
        assert!(
            matches!(body, Some(b) if b.starts_with("{\"name\":\"")),
            "{read:?}"
        );
        assert!(read.ends_with("\"}"), "the body came in a later read: {read:?}");
    }
}

/// A pooled connection the server closed while idle is dropped, and the next call opens another.
#[test]
fn connection_closed_while_idle_is_not_reused() {
    let (closed_tx, closed_rx) = mpsc::channel();
    let (addr, server) = raw_server(move |listener| {
        let mut served = Vec::new();
        for _ in 0..2 {
            let (conn, raw) = accept_request(&listener);
            served.push(String::from_utf8_lossy(&raw).into_owned());
            (&conn).write_all(OK).expect("reply");
            drop(conn);
            closed_tx.send(()).expect("signal");
        }
        served
    });
    let client = client(addr);
    check_call(&client, "first");
    closed_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("server closed");
    // Let the FIN land in the client's socket; the checkout probe must see it.
    thread::sleep(Duration::from_millis(50));
    check_call(&client, "second");
    let served = server.join().expect("server");
    assert!(served[1].contains("second"), "{served:?}");
}

/// Bytes a server sends after a complete reply make the pool drop that connection.
#[test]
fn stray_bytes_after_a_reply_are_never_read_as_the_next_one() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (sent_tx, sent_rx) = mpsc::channel();
    let (addr, server) = raw_server(move |listener| {
        let (first, _) = accept_request(&listener);
        (&first).write_all(OK).expect("reply");
        go_rx.recv_timeout(Duration::from_secs(5)).expect("go");
        let stray = b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"msg\":\"stray\"}";
        (&first).write_all(stray).expect("stray");
        sent_tx.send(()).expect("signal");
        let (second, raw) = accept_request(&listener);
        (&second).write_all(OK).expect("reply");
        String::from_utf8_lossy(&raw).into_owned()
    });
    let client = client(addr);
    check_call(&client, "first");
    go_tx.send(()).expect("go");
    sent_rx.recv_timeout(Duration::from_secs(5)).expect("stray sent");
    thread::sleep(Duration::from_millis(50));
    check_call(&client, "second");
    assert!(server.join().expect("server").contains("second"));
}

/// A body bigger than what the client holds back to coalesce arrives whole and in order.
#[test]
fn large_body_arrives_whole() {
    let (addr, server) = raw_server(|listener| {
        let (conn, raw) = accept_request(&listener);
        (&conn).write_all(OK).expect("reply");
        raw
    });
    let name: String = (0..300_000).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    check_call(&client(addr), &name);
    let raw = server.join().expect("server");
    let want = format!("{{\"name\":\"{name}\"}}");
    assert!(
        raw.ends_with(want.as_bytes()),
        "body of {} bytes arrived mangled",
        want.len()
    );
}

/// A request head and a reply head of tens of KiB pass whole (the client's buffers are smaller).
#[test]
fn large_heads_pass_both_ways() {
    let (addr, server) = raw_server(|listener| {
        let (conn, raw) = accept_request(&listener);
        let big = "v".repeat(40 * 1024);
        let head = format!("HTTP/1.1 200 OK\r\nX-Big: {big}\r\nContent-Type: application/json\r\n");
        (&conn).write_all(head.as_bytes()).expect("head");
        (&conn)
            .write_all(b"Content-Length: 12\r\n\r\n{\"msg\":\"ok\"}")
            .expect("reply");
        String::from_utf8_lossy(&raw).into_owned()
    });
    let client = client(addr);
    let client: &dyn Client = &client;
    let big = "m".repeat(40 * 1024);
    let options = micro_mesh::CallOptions::default().with_metadata("X-Big", &big);
    let reply: Reply = client
        .call_with(SRV, "Example.Call", &Hello { name: "big".into() }, &options)
        .expect("call with big heads");
    assert_eq!(reply.msg, "ok");
    let raw = server.join().expect("server");
    assert!(
        raw.contains(&format!("x-big: {big}\r\n")),
        "request head cut short"
    );
}
