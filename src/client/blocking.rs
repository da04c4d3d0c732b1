//! The blocking HTTP client on ureq: the only home of ureq.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, DefaultConnector, NextTimeout};

use crate::client::dial::{Dial, dial_setters};
use crate::client::retry::{self, Failure};
use crate::client::{Call, Client, Messages, Reply};
use crate::codec::{self, NDJSON};
use crate::error::{CLIENT_ID, Error};
use crate::metadata::forwardable;
use crate::name;
use crate::resolve::Resolve;

mod transport;

/// How many agents (connection pools) a client spreads its calling threads over.
const POOL_SHARDS: usize = 8;

/// The mesh client: blocking calls on shared ureq agents.
///
/// It ignores `HTTP_PROXY` variables (mesh traffic must go to the sidecar, not a proxy), reads
/// error bodies instead of failing on the status, keeps an idle pool as big as the expected
/// concurrency, and caches DNS answers for a short time (ureq resolves on every call).
///
/// The budget bounds the connect and every single read and write. It is not ureq's
/// `timeout_global`, which starts a thread per call, nor its per-phase deadlines, whose
/// remaining time differs on every call and so costs a `setsockopt` per read and write; a
/// constant per-read timeout is set once per connection.
///
/// Each request goes out in one write, and a pooled connection is probed once per call, when
/// it is taken from the pool (see `blocking/transport.rs`).
pub struct HttpClient {
    /// Agents with pools of their own; each calling thread sticks to one (see [`HttpClient::agent`]).
    agents: Vec<ureq::Agent>,
    dial: Dial,
    max_reply: u64,
}

/// Configures an [`HttpClient`].
#[derive(Debug, Clone)]
pub struct HttpClientBuilder {
    dial: Dial,
    pool_per_host: usize,
    max_reply: u64,
}

impl HttpClient {
    /// A builder with defaults: call address `:9080`, 5 s budget, one retry of calls that never
    /// reached the server, 128 idle connections per host, DNS answers cached for 5 s, replies up
    /// to 16 MiB, no namespace, cluster domain `cluster.local`.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            dial: Dial::default(),
            pool_per_host: 128,
            max_reply: 16 << 20,
        }
    }

    /// The default call address.
    pub fn call_address(&self) -> &str {
        &self.dial.call_address
    }
}

impl HttpClientBuilder {
    dial_setters!();

    /// Sets how many idle keep-alive connections are kept per host: at least the concurrency.
    pub fn pool_per_host(mut self, n: usize) -> Self {
        self.pool_per_host = n.max(1);
        self
    }

    /// Sets the largest reply body accepted.
    pub fn max_reply(mut self, bytes: u64) -> Self {
        self.max_reply = bytes;
        self
    }

    /// Builds the client.
    pub fn build(mut self) -> HttpClient {
        let t = Some(self.dial.timeout);
        let config = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("micro-mesh/", env!("CARGO_PKG_VERSION")))
            // Per pooled connection; ureq's 128 KiB each way doubled a busy caller's RSS. A
            // request or reply head must fit, and 64 KiB is also what our servers accept.
            .input_buffer_size(64 * 1024)
            .output_buffer_size(64 * 1024)
            .max_idle_connections_per_host(self.pool_per_host)
            .max_idle_connections(self.pool_per_host.saturating_mul(8))
            .timeout_connect(t)
            .timeout_per_read(t)
            .timeout_per_write(t)
            .build();
        let resolve = Arc::new(self.dial.resolver());
        let agents = (0..POOL_SHARDS)
            .map(|_| {
                ureq::Agent::with_parts(
                    config.clone(),
                    DefaultConnector::default().chain(transport::Coalesce),
                    MeshResolver(resolve.clone()),
                )
            })
            .collect();
        HttpClient {
            agents,
            dial: self.dial,
            max_reply: self.max_reply,
        }
    }
}

impl Client for HttpClient {
    fn call_raw(&self, call: &Call<'_>) -> Result<Reply, Error> {
        let started = Instant::now();
        let result = self.with_retries(call, |url, budget| self.send(url, call, budget));
        self.observe(
            call,
            started,
            result.as_ref().map(|r| r.as_ref().map(|reply| reply.status)),
        );
        result?
    }

    fn stream_raw(&self, call: &Call<'_>) -> Result<Messages, Error> {
        let started = Instant::now();
        let result = self.with_retries(call, |url, budget| self.open_stream(url, call, budget));
        // A stream counts once its head is in: its status, and the time to it.
        self.observe(call, started, result.as_ref().map(|r| r.as_ref().map(|_| 200)));
        result?
    }
}

impl HttpClient {
    /// Counts one call in the metrics: its status, or the error's.
    fn observe(&self, call: &Call<'_>, started: Instant, outcome: Result<Result<u16, &Error>, &Error>) {
        retry::observe(self.dial.metrics.as_ref(), call, started, outcome);
    }

    /// This thread's agent. ureq's pool scans every idle connection under one lock on each
    /// checkout and return; with a pool per shard, a scan sees a fraction of them and threads
    /// rarely contend (measured: 15% of a chain's api CPU went to that scan with one agent).
    fn agent(&self) -> &ureq::Agent {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        &self.agents[SHARD.with(|s| *s) % self.agents.len()]
    }

    /// `GET http://{host_port}{path}`, for health checks and the like; non-2xx is an error.
    pub fn get(&self, host_port: &str, path: &str) -> Result<Reply, Error> {
        let target = name::parse_host_port(host_port)?;
        let url = format!("http://{target}{path}");
        let read = |resp| self.read_reply(resp);
        self.agent()
            .get(&url)
            .call()
            .and_then(read)
            .map_err(|e| client_error(&e, &target))?
    }

    /// Reads a reply whole: 2xx is the reply, anything else the error it carries.
    fn read_reply(
        &self,
        mut resp: ureq::http::Response<ureq::Body>,
    ) -> Result<Result<Reply, Error>, ureq::Error> {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp
            .body_mut()
            .with_config()
            .limit(self.max_reply)
            .read_to_vec()?;
        Ok(if (200..300).contains(&status) {
            Ok(Reply {
                status,
                content_type,
                body,
            })
        } else {
            Err(codec::decode_error(status, &body))
        })
    }

    /// Runs `attempt` against the call's target with the shared retry policy (`retry.rs`):
    /// failures that provably never reached the server (or any failure of an idempotent call)
    /// are retried, with backoff, within the deadline.
    fn with_retries<T>(
        &self,
        call: &Call<'_>,
        attempt: impl Fn(&str, Duration) -> Result<T, ureq::Error>,
    ) -> Result<T, Error> {
        let target = self.dial.target(call)?;
        let url = format!("http://{target}/{}", call.endpoint.trim_start_matches('/'));
        retry::with_retries(&self.dial.policy(), call, &target, |budget| {
            attempt(&url, budget).map_err(|failure| Failure {
                error: client_error(&failure, &target),
                not_sent: never_sent(&failure),
            })
        })
    }

    /// Opens a stream: a non-2xx reply is read whole as the error; a 2xx one is read line by line.
    fn open_stream(
        &self,
        url: &str,
        call: &Call<'_>,
        budget: Duration,
    ) -> Result<Result<Messages, Error>, ureq::Error> {
        let resp = self
            .post(url, call, budget)
            .header("Accept", NDJSON)
            .send(call.body)?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if !(200..300).contains(&status) {
            let bytes = body.with_config().limit(self.max_reply).read_to_vec()?;
            return Ok(Err(codec::decode_error(status, &bytes)));
        }
        let deadline = call
            .deadline
            .unwrap_or_else(|| Instant::now() + budget)
            .min(Instant::now() + budget);
        let lines = Lines {
            reader: BufReader::new(body.into_reader()),
            deadline,
            max: self.max_reply,
            done: false,
        };
        Ok(Ok(Box::new(lines)))
    }

    /// The request of one attempt: `POST url` with content type, `Timeout`, metadata and budget.
    fn post(
        &self,
        url: &str,
        call: &Call<'_>,
        budget: Duration,
    ) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let mut req = self
            .agent()
            .post(url)
            .header("Content-Type", call.content_type)
            .header("Timeout", budget.as_nanos().to_string());
        for (key, value) in call.metadata.iter() {
            // Host, Content-*, Timeout and hop-by-hop headers are the client's to set.
            if forwardable(key) && key != "expect" {
                req = req.header(key, value);
            }
        }
        if budget != self.dial.timeout {
            // Rounded down to 10 ms so that calls under similar deadlines reuse the socket's
            // timeout instead of setting it again (ureq skips unchanged values).
            let t = Some(Duration::from_millis(
                (budget.as_millis() as u64 / 10 * 10).max(1),
            ));
            req = req
                .config()
                .timeout_connect(t)
                .timeout_per_read(t)
                .timeout_per_write(t)
                .build();
        }
        req
    }

    /// One attempt: the outer `Err` is a transport failure, the inner result the reply's verdict.
    fn send(
        &self,
        url: &str,
        call: &Call<'_>,
        budget: Duration,
    ) -> Result<Result<Reply, Error>, ureq::Error> {
        self.read_reply(self.post(url, call, budget).send(call.body)?)
    }
}

/// Whether a failure proves the request never reached the server: nothing was connected.
fn never_sent(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => true,
        ureq::Error::Timeout(phase) => matches!(phase, ureq::Timeout::Connect | ureq::Timeout::Resolve),
        ureq::Error::Io(e) => e.kind() == io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

/// Maps a ureq failure on the way to `target` to the error table of protocol.md section 3.
fn client_error(err: &ureq::Error, target: &impl std::fmt::Display) -> Error {
    use io::ErrorKind as K;
    match err {
        ureq::Error::Timeout(phase) => Error::Timeout(format!("{target}: {phase}")),
        ureq::Error::HostNotFound => Error::Unreachable(format!("{target}: host not found")),
        ureq::Error::ConnectionFailed => Error::Unreachable(format!("{target}: connection failed")),
        ureq::Error::Io(e) if matches!(e.kind(), K::TimedOut | K::WouldBlock) => {
            Error::Timeout(format!("{target}: {e}"))
        }
        ureq::Error::Io(e)
            if matches!(
                e.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::BrokenPipe
                    | K::UnexpectedEof
                    | K::HostUnreachable
                    | K::NetworkUnreachable
            ) =>
        {
            Error::Unreachable(format!("{target}: {e}"))
        }
        ureq::Error::BodyExceedsLimit(n) => {
            Error::with_id(CLIENT_ID, 502, format!("{target}: reply over {n} bytes"))
        }
        other => Error::with_id(CLIENT_ID, 500, format!("{target}: {other}")),
    }
}

/// A stream's lines: each is one message, read when asked for, at most `max` bytes long.
struct Lines {
    reader: BufReader<ureq::BodyReader<'static>>,
    deadline: Instant,
    max: u64,
    done: bool,
}

impl Iterator for Lines {
    type Item = Result<Vec<u8>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if Instant::now() >= self.deadline {
                self.done = true;
                return Some(Err(Error::Timeout("deadline reached during the stream".into())));
            }
            let mut line = Vec::new();
            let read = (&mut self.reader).take(self.max + 1).read_until(b'\n', &mut line);
            let line = match read {
                Ok(0) => break,
                Ok(_) if line.len() as u64 > self.max => {
                    Err(Error::with_id(CLIENT_ID, 502, "stream message too large"))
                }
                Ok(_) => Ok(line.trim_ascii().to_vec()),
                Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                    Err(Error::Timeout(format!("stream stalled: {e}")))
                }
                Err(e) => Err(Error::Unreachable(format!("stream broken: {e}"))),
            };
            match line {
                Ok(line) if line.is_empty() => continue,
                Ok(line) => match codec::decode_stream_error(&line) {
                    Some(err) => {
                        self.done = true;
                        return Some(Err(err));
                    }
                    None => return Some(Ok(line)),
                },
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            }
        }
        self.done = true;
        None
    }
}

impl From<ureq::Error> for Error {
    fn from(err: ureq::Error) -> Error {
        client_error(&err, &"call")
    }
}

/// ureq's resolver hook: the override map, then cached DNS.
#[derive(Debug)]
struct MeshResolver(Arc<Resolve>);

impl Resolver for MeshResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // Our URLs always carry host and port, lowercase, as the override keys do.
        let host_port = uri
            .authority()
            .map(|a| a.as_str())
            .ok_or(ureq::Error::HostNotFound)?;
        let addrs = self.0.resolve(host_port).map_err(|_| ureq::Error::HostNotFound)?;
        let mut out = self.empty();
        for addr in addrs.into_iter().take(16) {
            out.push(addr);
        }
        Ok(out)
    }
}
