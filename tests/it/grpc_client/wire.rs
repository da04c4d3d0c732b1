//! `GrpcClient` against a scripted HTTP/2 server: the cases our own server does not produce on
//! demand. A GOAWAY before a stream was processed and REFUSED_STREAM are retried; a reset
//! after processing is a 503 that is not; a proxy's reply without `grpc-status` maps its HTTP
//! status; the server's PING is answered.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use micro_mesh::{CallOptions, Caller, GrpcClient};

use super::{CLIENTS, Hello};
use crate::support::SRV;

/// What the scripted server saw: (connection index, frame type, stream) per frame received.
type Seen = Arc<Mutex<Vec<(usize, u8, u32)>>>;

/// The frames to answer a new stream with, given the connection's index and the stream id;
/// `None` closes the connection instead.
type Script = fn(usize, u32) -> Option<Vec<u8>>;

/// One frame: a 9-byte head and its payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK literal field without indexing, new name (RFC 7541 section 6.2.2); short strings.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

/// A reply with `message`: `:status 200` (static index 8), DATA, trailers `grpc-status: 0`.
fn ok_reply(stream: u32, message: &[u8]) -> Vec<u8> {
    let mut head = vec![0x88];
    head.extend(literal("content-type", "application/grpc+proto"));
    let mut out = frame(1, 0x4, stream, &head);
    let mut data = vec![0];
    data.extend_from_slice(&(message.len() as u32).to_be_bytes());
    data.extend_from_slice(message);
    out.extend(frame(0, 0, stream, &data));
    out.extend(frame(1, 0x5, stream, &literal("grpc-status", "0")));
    out
}

/// `Answer { msg: "Hello wire" }` in protobuf.
const HELLO_WIRE: &[u8] = b"\x0a\x0aHello wire";

fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(3, 0, stream, &code.to_be_bytes())
}

fn goaway(last: u32) -> Vec<u8> {
    let mut payload = last.to_be_bytes().to_vec();
    payload.extend_from_slice(&0u32.to_be_bytes());
    frame(7, 0, 0, &payload)
}

/// A scripted server: SETTINGS and a PING on each connection, ACKs for the client's SETTINGS,
/// `script` for each new stream. Stopped (and its threads joined) by [`Fake::stop`].
struct Fake {
    addr: SocketAddr,
    seen: Seen,
    stop: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
}

impl Fake {
    fn start(script: Script) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut conns = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((sock, _)) => {
                            let (seen, index) = (seen.clone(), conns.len());
                            conns.push(std::thread::spawn(move || serve(sock, index, script, &seen)));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
                for conn in conns {
                    conn.join().unwrap();
                }
            })
        };
        Fake {
            addr,
            seen,
            stop,
            acceptor,
        }
    }

    fn seen(&self) -> Vec<(usize, u8, u32)> {
        self.seen.lock().unwrap().clone()
    }

    /// The streams the clients opened: (connection, stream id).
    fn streams(&self) -> Vec<(usize, u32)> {
        self.seen()
            .into_iter()
            .filter(|f| f.1 == 1)
            .map(|(c, _, s)| (c, s))
            .collect()
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.acceptor.join().unwrap();
    }
}

/// One connection: reads frames until the client closes (or 10 s of silence).
fn serve(mut sock: TcpStream, index: usize, script: Script, seen: &Seen) {
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut preface = [0u8; 24];
    if sock.read_exact(&mut preface).is_err() {
        return;
    }
    let mut hello = frame(4, 0, 0, &[]);
    hello.extend(frame(6, 0, 0, b"bdp-ping"));
    let _ = sock.write_all(&hello);
    let mut head = [0u8; 9];
    while sock.read_exact(&mut head).is_ok() {
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        if sock.read_exact(&mut payload).is_err() {
            return;
        }
        seen.lock().unwrap().push((index, kind, stream));
        let answer = match kind {
            4 if flags & 1 == 0 => frame(4, 1, 0, &[]),
            1 => match script(index, stream) {
                Some(frames) => frames,
                None => return,
            },
            _ => Vec::new(),
        };
        if !answer.is_empty() && sock.write_all(&answer).is_err() {
            return;
        }
    }
}

fn call(fake: &Fake, retries: u32) -> Result<super::Answer, micro_mesh::Error> {
    let client = GrpcClient::builder()
        .call_address(&fake.addr.to_string())
        .retries(retries)
        .build();
    let options = CallOptions::default().with_timeout(Duration::from_secs(10));
    let hello = Hello { name: "wire".into() };
    client.call_proto(SRV, "Example.Call", &hello, &options)
}

#[test]
fn a_goaway_before_the_stream_is_retried_on_a_new_connection() {
    let _clients = CLIENTS.read();
    let fake = Fake::start(|conn, stream| match conn {
        0 => Some(goaway(0)),
        _ => Some(ok_reply(stream, HELLO_WIRE)),
    });
    assert_eq!(call(&fake, 1).unwrap().msg, "Hello wire");
    assert_eq!(fake.streams(), [(0, 1), (1, 1)]);
    let pings_answered = fake.seen().iter().filter(|f| f.1 == 6).count();
    assert!(
        pings_answered >= 1,
        "the server's PING got its ACK: {:?}",
        fake.seen()
    );
    fake.stop();
}

#[test]
fn a_refused_stream_is_retried() {
    let _clients = CLIENTS.read();
    let fake = Fake::start(|_, stream| match stream {
        1 => Some(rst(1, 7)),
        _ => Some(ok_reply(stream, HELLO_WIRE)),
    });
    assert_eq!(call(&fake, 1).unwrap().msg, "Hello wire");
    assert_eq!(
        fake.streams(),
        [(0, 1), (0, 3)],
        "the retry reuses the connection"
    );
    fake.stop();
}

#[test]
fn a_reset_after_processing_is_a_503_not_retried() {
    let _clients = CLIENTS.read();
    let fake = Fake::start(|_, stream| Some(rst(stream, 2)));
    let err = call(&fake, 3).unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    assert_eq!(
        fake.streams().len(),
        1,
        "a stream the server may have processed is not sent again"
    );
    let closed = Fake::start(|_, _| None);
    let err = call(&closed, 0).unwrap_err();
    assert_eq!(err.status(), 503, "a connection lost mid-call: {err}");
    fake.stop();
    closed.stop();
}

#[test]
fn a_reply_without_grpc_status_maps_its_http_status() {
    let _clients = CLIENTS.read();
    // `:status 404` (static index 13), END_STREAM: UNIMPLEMENTED, go-micro's 501.
    let fake = Fake::start(|_, stream| Some(frame(1, 0x5, stream, &[0x8d])));
    let err = call(&fake, 1).unwrap_err();
    assert_eq!(err.status(), 501, "{err}");
    fake.stop();
}
