//! Shared helpers: the sample services, a raw HTTP/1.1 client on `TcpStream`, and `check`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use micro_mesh::{
    Caller, Context, Error, HttpClient, Limits, Request, Response, Service, ServiceHandle, WireError, reason,
};
use serde::{Deserialize, Serialize};

/// The backend's name, as in the examples.
pub const SRV: &str = "go.micro.srv.sample";
/// The front's name, as in the examples.
pub const API: &str = "go.micro.api.sample";
/// How long any single socket read or write may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Both server plugins: most tests loop over these and name the server in their messages.
pub fn servers() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| micro_mesh::ServerKind::ALL.iter().map(|k| k.name()).collect())
}

/// Serializes the tests that load the machine or measure time, so they do not skew each other.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits until `f` holds, at most `limit`; whether it did.
pub fn within(limit: Duration, f: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    f()
}

/// `Example.Call`'s request.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    #[serde(default)]
    pub name: String,
}

/// `Example.Call`'s reply.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    pub msg: String,
}

/// `Example.Call` as the srv example serves it: `Hello NAME`, or 400 for an empty name.
pub fn example_call(_: &Context, req: Hello) -> Result<Reply, Error> {
    if req.name.is_empty() {
        return Err(Error::bad_request("name must not be empty"));
    }
    Ok(Reply {
        msg: format!("Hello {}", req.name),
    })
}

/// `/example/call` as the api example serves it: GET `?name=` or POST JSON, then srv's `Example.Call`.
pub fn api_example_call(ctx: &Context, req: Request) -> Result<Response, Error> {
    let hello = match req.method.as_str() {
        "GET" => Hello {
            name: req.query_param("name").unwrap_or_default(),
        },
        _ => req.json()?,
    };
    let reply: Reply = ctx.call(SRV, "Example.Call", &hello)?;
    Response::json(&reply)
}

/// The backend with test endpoints, on `server` with default limits.
pub fn sample(server: &str) -> ServiceHandle {
    sample_with(server, Limits::default())
}

/// The backend on `server` with `limits`, on a free loopback port. Endpoints:
/// - `Example.Call`: the srv example;
/// - `Example.Panic`: panics with the text `secret panic text`;
/// - `Example.Boom` (raw): `502` with the plain-text body `boom`;
/// - `Echo.Headers` (raw): the incoming headers as a JSON object (first value of each name);
/// - `Echo.Peer` (raw): the caller's port as JSON;
/// - `Example.Sleep` (raw): answers `slept` after 300 ms;
/// - `GET|POST /hello?name=`: `hello NAME` as text, or `hello BODY` for a POST.
pub fn sample_with(server: &str, limits: Limits) -> ServiceHandle {
    Service::new(SRV)
        .server_name(server)
        .address("127.0.0.1:0")
        .limits(limits)
        .rpc("Example.Call", example_call)
        .rpc("Example.Panic", |_: &Context, _: Hello| -> Result<Reply, Error> {
            panic!("secret panic text")
        })
        .rpc_raw("Example.Boom", |_: &Context, _: Request| {
            Ok(Response::bytes("text/plain", "boom").with_status(502))
        })
        .rpc_raw("Echo.Headers", |ctx: &Context, _: Request| {
            let mut seen = BTreeMap::new();
            for (name, value) in ctx.metadata().iter() {
                seen.entry(name.to_string()).or_insert_with(|| value.to_string());
            }
            Response::json(&seen)
        })
        .rpc_raw("Echo.Peer", |_: &Context, req: Request| {
            Response::json(&req.peer.map(|p| p.port()))
        })
        .rpc_raw("Example.Sleep", |_: &Context, _: Request| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(Response::bytes("text/plain", "slept"))
        })
        .api("/hello", &["GET", "POST"], |_: &Context, req: Request| {
            let name = match req.method.as_str() {
                "GET" => req.query_param("name").unwrap_or_default(),
                _ => String::from_utf8_lossy(&req.body).into_owned(),
            };
            Ok(Response::bytes("text/plain", format!("hello {name}")))
        })
        .start()
        .unwrap_or_else(|e| panic!("[{server}] starting {SRV}: {e}"))
}

/// The front on `server`, calling `srv` through the `:PORT` rule and an override to its address.
pub fn api(server: &str, srv: &ServiceHandle) -> ServiceHandle {
    let port = srv.addr().port();
    Service::new(API)
        .server_name(server)
        .address("127.0.0.1:0")
        .call_address(&format!(":{port}"))
        .resolve(&format!("go-micro-srv-sample:{port}={}", srv.addr()))
        .api("/example/call", &["GET", "POST"], api_example_call)
        .start()
        .unwrap_or_else(|e| panic!("[{server}] starting {API}: {e}"))
}

/// Stops a service and checks that it stopped cleanly (every thread joined).
#[track_caller]
pub fn stop(label: &str, handle: ServiceHandle) {
    let name = handle.name().to_string();
    if let Err(e) = handle.stop() {
        panic!("[{label}] stopping {name}: {e}");
    }
}

/// A client that sends every call to `addr`, whatever the service.
pub fn client_to(addr: SocketAddr) -> HttpClient {
    HttpClient::builder().call_address(&addr.to_string()).build()
}

/// A port that was free a moment ago (bound, read, released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// A port nothing listens on (bound and released), for refused connections.
pub fn closed_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A request with `Host` and, when there is a body, `Content-Length`; `extra` are full header lines.
pub fn request(method: &str, path: &str, extra: &[&str], body: &str) -> String {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for line in extra {
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out
}

/// A JSON `POST` to RPC endpoint `endpoint`.
pub fn rpc(endpoint: &str, body: &str) -> String {
    request(
        "POST",
        &format!("/{endpoint}"),
        &["Content-Type: application/json"],
        body,
    )
}

/// One HTTP response as read off the wire.
#[derive(Clone)]
pub struct Resp {
    /// The server (or other context) that produced it, for messages.
    pub label: String,
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The first value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Debug for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "[{}] {} {} {}",
            self.label, self.version, self.status, self.reason
        )?;
        for (k, v) in &self.headers {
            writeln!(f, "  {k}: {v}")?;
        }
        write!(f, "  body: {:?}", self.text())
    }
}

/// Asserts the status and that the body contains `needle`.
#[track_caller]
pub fn check(resp: &Resp, status: u16, needle: &str) {
    assert_eq!(resp.status, status, "wrong status:\n{resp:?}");
    assert!(resp.text().contains(needle), "body lacks {needle:?}:\n{resp:?}");
}

/// Asserts an error response: status = code, reason phrase, JSON `{id, code, detail, status}`.
#[track_caller]
pub fn check_error(resp: &Resp, code: u16, id: &str, detail: &str) -> WireError {
    check(resp, code, "");
    assert_eq!(resp.reason, reason(code), "status line reason:\n{resp:?}");
    let ct = resp.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/json"),
        "content type {ct:?}:\n{resp:?}"
    );
    let wire: WireError = serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("error body is not the error JSON ({e}):\n{resp:?}"));
    let want = (id, code, reason(code));
    assert_eq!(
        (wire.id.as_str(), wire.code, wire.status.as_str()),
        want,
        "{resp:?}"
    );
    assert!(wire.detail.contains(detail), "detail lacks {detail:?}:\n{resp:?}");
    wire
}

/// Asserts a micro error from a client call: id, code (= status) and a detail containing `detail`.
#[track_caller]
pub fn check_err(label: &str, err: &Error, id: &str, code: u16, detail: &str) {
    let wire = err.wire("x");
    let want = (id, code, reason(code));
    let got = (wire.id.as_str(), wire.code, wire.status.as_str());
    assert_eq!(got, want, "[{label}] {err:?}");
    assert_eq!(err.status(), code, "[{label}] {err:?}");
    assert!(
        wire.detail.contains(detail),
        "[{label}] detail lacks {detail:?}: {err:?}"
    );
}

/// A raw HTTP/1.1 connection: write bytes, read whole responses (pipelined ones stay buffered).
pub struct Http {
    pub label: String,
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    /// Connects to `addr` with read and write timeouts of [`IO_TIMEOUT`].
    #[track_caller]
    pub fn connect(label: &str, addr: SocketAddr) -> Http {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("[{label}] connect {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        let _ = stream.set_nodelay(true);
        Http {
            label: label.into(),
            stream,
            buf: Vec::new(),
        }
    }

    /// Wraps a connected stream (its timeouts as they are).
    pub fn from_stream(label: &str, stream: TcpStream) -> Http {
        Http {
            label: label.into(),
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes `raw` in one call.
    #[track_caller]
    pub fn send(&mut self, raw: impl AsRef<[u8]>) {
        if let Err(e) = self.stream.write_all(raw.as_ref()) {
            panic!("[{}] write: {e}", self.label);
        }
    }

    /// Reads one response (a `100 Continue` counts as one).
    #[track_caller]
    pub fn read(&mut self) -> Resp {
        self.try_read(false)
            .unwrap_or_else(|e| panic!("[{}] reading a response: {e}", self.label))
    }

    /// Reads one response to a `HEAD` request: headers only, whatever they announce.
    #[track_caller]
    pub fn read_head(&mut self) -> Resp {
        self.try_read(true)
            .unwrap_or_else(|e| panic!("[{}] reading a HEAD response: {e}", self.label))
    }

    /// Reads one response; `head_only` means no body follows the headers.
    pub fn try_read(&mut self, head_only: bool) -> io::Result<Resp> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill()? == 0 {
                return Err(eof(&self.buf));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap_or((l, ""));
                (k.trim().to_string(), v.trim().to_string())
            })
            .collect();
        let mut resp = Resp {
            label: self.label.clone(),
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
        };
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if head_only || status < 200 || status == 204 || status == 304 {
            return Ok(resp);
        }
        if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().map_err(|_| bad(format!("bad length {len:?}")))?;
            resp.body = self.take(len)?;
        } else if chunked {
            resp.body = self.read_chunked()?;
        } else {
            while self.fill()? > 0 {}
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(resp)
    }

    /// Reads until the peer closes, up to `limit`: true if it closed (EOF or reset) in time.
    /// Bytes that arrive meanwhile are kept, and do not count as closing.
    pub fn closes_within(&mut self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.fill() {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }

    /// Bytes received and not yet parsed.
    pub fn unread(&self) -> &[u8] {
        &self.buf
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill()? == 0 {
                return Err(eof(&self.buf));
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.fill()? == 0 {
                return Err(eof(&self.buf));
            }
        }
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad(format!("chunk size {line:?}")))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            body.extend(self.take(size)?);
            self.line()?;
        }
    }
}

fn eof(partial: &[u8]) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("closed with {:?} unparsed", String::from_utf8_lossy(partial)),
    )
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Connects, writes `raw`, reads one response.
#[track_caller]
pub fn exchange(label: &str, addr: SocketAddr, raw: &str) -> Resp {
    let mut conn = Http::connect(label, addr);
    conn.send(raw);
    conn.read()
}

/// A child process that is killed and reaped when the guard drops, even if the test fails.
pub struct ChildGuard {
    pub name: String,
    pub child: std::process::Child,
}

impl ChildGuard {
    /// Waits up to `limit` for the child to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
                _ => return None,
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
