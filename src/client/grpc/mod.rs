//! The blocking gRPC client (protocol.md section 9) over the crate's own HTTP/2 (h2c, prior
//! knowledge): what the sidecar expects on a `grpc` port, and what grpc-go servers answer.
//!
//! `mod.rs` the client and its builder; `call.rs` the request head and the reply's verdict
//! (pure); `pool.rs` connections per target; `conn.rs` one connection's state and writer;
//! `reader.rs` its reader thread; `slot.rs` a stream's mailbox; `exchange.rs` a reply as its
//! caller reads it; `duplex.rs` a duplex call (client or bidirectional streaming) as its caller
//! drives it.

use std::time::{Duration, Instant};

use crate::client::dial::{Dial, dial_setters};
use crate::client::retry::{self, Failure};
use crate::client::{Call, Client, Messages, Reply};
use crate::codec::Codec;
use crate::error::Error;
use crate::grpc::content::GrpcCodec;
use crate::grpc::framing::{self, DEFAULT_MAX};
use crate::name::Target;

mod call;
mod conn;
mod duplex;
mod exchange;
mod pool;
mod reader;
mod slot;

pub use duplex::Duplex;
use exchange::Exchange;
use pool::Pool;

/// The mesh's gRPC client: each call is one gRPC call on a pooled HTTP/2 connection.
///
/// A call goes to the same target as with [`HttpClient`](crate::HttpClient) (the name rule,
/// overrides, namespace) as `POST /<service>.<Handler>/<Method>`, its body one gRPC message
/// in the codec its content type names (`application/proto` → `+proto`, `application/json` →
/// `+json`), with `grpc-timeout` and go-micro's `timeout` from the remaining budget. A reply is
/// its one message (`Reply::content_type` is the message's codec: `application/proto` or
/// `application/json`); an error is decoded from `grpc-message` (go-micro's error JSON), else
/// from `grpc-status`. Calls that provably never reached a server (refused connection,
/// REFUSED_STREAM, above a GOAWAY's last stream) are retried as the HTTP client retries.
///
/// Each target has a few connections (2 by default), each carrying many calls at once. Every
/// connection has a reader thread the client owns: dropping the client closes every
/// connection and joins every reader.
///
/// ```no_run
/// use micro_mesh::{Caller, Error, GrpcClient};
/// use serde_json::{Value, json};
///
/// let client = GrpcClient::builder().call_address("127.0.0.1:9090").build();
/// let reply: Value = client.call("go.micro.srv.sample", "Example.Call", &json!({"name": "Hobo"}))?;
/// # Ok::<(), Error>(())
/// ```
pub struct GrpcClient {
    pool: Pool,
    dial: Dial,
    max_message: usize,
    codec: GrpcCodec,
}

/// Configures a [`GrpcClient`].
#[derive(Debug, Clone)]
pub struct GrpcClientBuilder {
    dial: Dial,
    max_message: usize,
    idle_timeout: Duration,
    connections: usize,
    stream_window: u32,
    codec: GrpcCodec,
}

impl GrpcClient {
    /// A builder with defaults: call address `:9080`, 5 s budget, one retry of calls that never
    /// reached the server, no namespace, cluster domain `cluster.local`, messages up to 4 MiB,
    /// connections closed after 50 minutes idle (below the sidecar's one hour), 2 connections
    /// per target, a 1 MiB receive window per stream, DNS answers cached for 5 s, protobuf for
    /// calls whose content type names no codec.
    pub fn builder() -> GrpcClientBuilder {
        GrpcClientBuilder {
            dial: Dial::default(),
            max_message: DEFAULT_MAX,
            idle_timeout: Duration::from_secs(50 * 60),
            connections: 2,
            stream_window: 1 << 20,
            codec: GrpcCodec::Proto,
        }
    }

    /// The default call address.
    pub fn call_address(&self) -> &str {
        &self.dial.call_address
    }
}

impl GrpcClientBuilder {
    dial_setters!();

    /// Sets the largest reply message accepted (default 4 MiB); a larger one fails the call.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    /// Sets how long a connection without calls stays open (default 50 minutes: below the
    /// sidecar's idle timeout of one hour, so that we close first).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle.max(Duration::from_millis(1));
        self
    }

    /// Sets how many connections a target gets at most (default 2); each carries up to the
    /// server's limit of concurrent streams.
    pub fn connections_per_target(mut self, n: usize) -> Self {
        self.connections = n.max(1);
        self
    }

    /// Sets each stream's receive window (default 1 MiB, at least 16 KiB): how far a server
    /// stream may run ahead of a reader that does not keep up, and so the memory it can hold.
    pub fn stream_window(mut self, bytes: u32) -> Self {
        self.stream_window = bytes.clamp(16 * 1024, crate::http2::MAX_WINDOW_SIZE);
        self
    }

    /// Sets the codec of calls whose content type names none (default protobuf, gRPC's own);
    /// a call's `application/json` or protobuf content type always wins.
    pub fn default_codec(mut self, codec: Codec) -> Self {
        self.codec = match codec {
            Codec::Json => GrpcCodec::Json,
            #[cfg(feature = "protobuf")]
            Codec::Proto => GrpcCodec::Proto,
        };
        self
    }

    /// Builds the client; connections open on the first call to each target.
    pub fn build(mut self) -> GrpcClient {
        let config = conn::Config {
            stream_window: self.stream_window,
            idle_timeout: self.idle_timeout,
            write_timeout: self.dial.timeout.max(Duration::from_secs(1)),
        };
        let resolve = self.dial.resolver();
        GrpcClient {
            pool: Pool::new(self.connections, config, resolve),
            dial: self.dial,
            max_message: self.max_message,
            codec: self.codec,
        }
    }
}

impl Client for GrpcClient {
    fn call_raw(&self, call: &Call<'_>) -> Result<Reply, Error> {
        let started = Instant::now();
        let codec = call::codec_for(call.content_type, self.codec);
        let result = self.with_retries(call, |target, budget| {
            let deadline = Instant::now() + budget;
            let body = self.open(target, call, budget, deadline)?.unary()?;
            Ok(Reply {
                status: 200,
                content_type: codec.message_content_type().to_string(),
                body,
            })
        });
        retry::observe(
            self.dial.metrics.as_ref(),
            call,
            started,
            result.as_ref().map(|r| Ok(r.status)),
        );
        result
    }

    fn stream_raw(&self, call: &Call<'_>) -> Result<Messages, Error> {
        let started = Instant::now();
        let result = self.with_retries(call, |target, budget| {
            // The whole stream lives within the budget, as over HTTP.
            let deadline = Instant::now() + budget;
            let exchange = self.open(target, call, budget, deadline)?;
            Ok(Box::new(exchange::Messages {
                exchange,
                finished: false,
            }) as Messages)
        });
        // A stream counts once its head is in: its status, and the time to it.
        retry::observe(
            self.dial.metrics.as_ref(),
            call,
            started,
            result.as_ref().map(|_| Ok(200)),
        );
        result
    }

    /// Opens the stream (HEADERS only: `call.body` is not sent) and hands it over; what fails
    /// before then is retried as for any call, nothing after (a message may have reached the
    /// server). The whole call lives within the budget.
    fn bidi_raw(&self, call: &Call<'_>) -> Result<Duplex, Error> {
        let started = Instant::now();
        let result = self.with_retries(call, |target, budget| {
            let deadline = Instant::now() + budget;
            let (conn, id, slot) = self.start(target, call, budget, deadline, None)?;
            Ok(Duplex::new(Exchange::started(
                conn,
                id,
                slot,
                deadline,
                self.max_message,
            )))
        });
        // Counted once its stream is open.
        retry::observe(
            self.dial.metrics.as_ref(),
            call,
            started,
            result.as_ref().map(|_| Ok(200)),
        );
        result
    }
}

impl GrpcClient {
    /// Runs `attempt` against the call's target under the shared retry policy.
    fn with_retries<T>(
        &self,
        call: &Call<'_>,
        attempt: impl Fn(&Target, Duration) -> Result<T, Failure>,
    ) -> Result<T, Error> {
        let target = self.dial.target(call)?;
        retry::with_retries(&self.dial.policy(), call, &target, |budget| {
            attempt(&target, budget)
        })
    }

    /// One attempt: the stream opened, its request sent, its reply's head read.
    fn open(
        &self,
        target: &Target,
        call: &Call<'_>,
        budget: Duration,
        deadline: Instant,
    ) -> Result<Exchange, Failure> {
        let mut body = Vec::with_capacity(framing::PREFIX + call.body.len());
        // Errors before the wire are the caller's: nothing sent, nothing to retry.
        framing::encode(call.body, &mut body).map_err(|status| Failure::sent(status.error))?;
        let (conn, id, slot) = self.start(target, call, budget, deadline, Some(&body))?;
        Exchange::open(conn, id, slot, deadline, self.max_message)
    }

    /// A stream opened with the call's head and `body` (framed; none leaves it open).
    fn start(
        &self,
        target: &Target,
        call: &Call<'_>,
        budget: Duration,
        deadline: Instant,
        body: Option<&[u8]>,
    ) -> Result<(std::sync::Arc<conn::Conn>, u32, std::sync::Arc<slot::Slot>), Failure> {
        let authority = target.to_string();
        let head = call::Head {
            service: call.service,
            endpoint: call.endpoint,
            authority: &authority,
            codec: call::codec_for(call.content_type, self.codec),
            budget,
            metadata: call.metadata,
        };
        // Errors before the wire are the caller's: nothing sent, nothing to retry.
        let final_error = |error| Failure::sent(error);
        let headers = call::request_headers(&head).map_err(final_error)?;
        self.pool.open(target, &headers, body, deadline)
    }
}

impl Drop for GrpcClient {
    /// Closes every connection and joins every reader thread.
    fn drop(&mut self) {
        self.pool.close();
    }
}
