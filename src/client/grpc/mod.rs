//! The blocking gRPC client (protocol.md section 9) over the crate's own HTTP/2 (h2c, prior
//! knowledge): what the sidecar expects on a `grpc` port, and what grpc-go servers answer.
//!
//! `mod.rs` the client and its builder; `call.rs` the request head and the reply's verdict
//! (pure); `pool.rs` connections per target; `conn.rs` one connection's state and writer;
//! `reader.rs` its reader thread; `slot.rs` a stream's mailbox; `exchange.rs` a reply as its
//! caller reads it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::retry::{self, Failure, Policy};
use crate::client::{Call, Client, Messages, Reply};
use crate::codec::Codec;
use crate::error::Error;
use crate::grpc::content::GrpcCodec;
use crate::grpc::framing::{self, DEFAULT_MAX};
use crate::metrics::Metrics;
use crate::name::{self, Overrides, Target};
use crate::resolve::Resolve;

mod call;
mod conn;
mod exchange;
mod pool;
mod reader;
mod slot;

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
    call_address: String,
    timeout: Duration,
    retries: u32,
    namespace: Option<String>,
    cluster_domain: String,
    max_message: usize,
    codec: GrpcCodec,
    metrics: Option<Arc<Metrics>>,
}

/// Configures a [`GrpcClient`].
#[derive(Debug, Clone)]
pub struct GrpcClientBuilder {
    call_address: String,
    overrides: Overrides,
    timeout: Duration,
    retries: u32,
    namespace: Option<String>,
    cluster_domain: String,
    dns_ttl: Duration,
    max_message: usize,
    idle_timeout: Duration,
    connections: usize,
    stream_window: u32,
    codec: GrpcCodec,
    metrics: Option<Arc<Metrics>>,
}

impl GrpcClient {
    /// A builder with defaults: call address `:9080`, 5 s budget, one retry of calls that never
    /// reached the server, no namespace, cluster domain `cluster.local`, messages up to 4 MiB,
    /// connections closed after 50 minutes idle (below the sidecar's one hour), 2 connections
    /// per target, a 1 MiB receive window per stream, DNS answers cached for 5 s, protobuf for
    /// calls whose content type names no codec.
    pub fn builder() -> GrpcClientBuilder {
        GrpcClientBuilder {
            call_address: ":9080".into(),
            overrides: Overrides::new(),
            timeout: Duration::from_secs(5),
            retries: 1,
            namespace: None,
            cluster_domain: "cluster.local".into(),
            dns_ttl: Duration::from_secs(5),
            max_message: DEFAULT_MAX,
            idle_timeout: Duration::from_secs(50 * 60),
            connections: 2,
            stream_window: 1 << 20,
            codec: GrpcCodec::Proto,
            metrics: None,
        }
    }

    /// The default call address.
    pub fn call_address(&self) -> &str {
        &self.call_address
    }
}

impl GrpcClientBuilder {
    /// Sets the default call address: `:PORT` (the name rule) or a fixed `HOST:PORT`.
    pub fn call_address(mut self, addr: &str) -> Self {
        self.call_address = addr.into();
        self
    }

    /// Replaces the override map.
    pub fn overrides(mut self, overrides: Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Adds one `HOST:PORT=ADDR:PORT` override.
    pub fn resolve(mut self, entry: &str) -> Result<Self, Error> {
        self.overrides.add_entry(entry)?;
        Ok(self)
    }

    /// Sets the default time budget of a call (sent as `grpc-timeout` and `timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how often a call that provably never reached the server is retried.
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Sets the namespace `:PORT` targets live in: `name.NS.svc.CLUSTER_DOMAIN` (empty: none).
    pub fn namespace(mut self, namespace: Option<&str>) -> Self {
        self.namespace = namespace.filter(|ns| !ns.is_empty()).map(str::to_string);
        self
    }

    /// Sets the cluster domain for namespaced targets (default `cluster.local`).
    pub fn cluster_domain(mut self, domain: &str) -> Self {
        self.cluster_domain = domain.trim_matches('.').to_string();
        self
    }

    /// Sets how long a DNS answer is reused (zero: look up on every new connection).
    pub fn dns_ttl(mut self, ttl: Duration) -> Self {
        self.dns_ttl = ttl;
        self
    }

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

    /// Reports calls and retries to a service's metrics.
    #[allow(dead_code, reason = "for the service, once a flag picks the gRPC client")]
    pub(crate) fn metrics(mut self, metrics: Option<Arc<Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Builds the client; connections open on the first call to each target.
    pub fn build(self) -> GrpcClient {
        let config = conn::Config {
            stream_window: self.stream_window,
            idle_timeout: self.idle_timeout,
            write_timeout: self.timeout.max(Duration::from_secs(1)),
        };
        let resolve = Resolve::new(self.overrides, self.dns_ttl, &self.cluster_domain);
        GrpcClient {
            pool: Pool::new(self.connections, config, resolve),
            call_address: self.call_address,
            timeout: self.timeout,
            retries: self.retries,
            namespace: self.namespace,
            cluster_domain: self.cluster_domain,
            max_message: self.max_message,
            codec: self.codec,
            metrics: self.metrics,
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
            self.metrics.as_ref(),
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
            self.metrics.as_ref(),
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
        let address = call.options.address.as_deref().unwrap_or(&self.call_address);
        let namespace = call.options.namespace.as_deref().or(self.namespace.as_deref());
        let target = name::target_in(call.service, address, namespace, &self.cluster_domain)?;
        let policy = Policy {
            timeout: self.timeout,
            retries: self.retries,
            metrics: self.metrics.as_ref(),
        };
        retry::with_retries(&policy, call, &target, |budget| attempt(&target, budget))
    }

    /// One attempt: the stream opened, its request sent, its reply's head read.
    fn open(
        &self,
        target: &Target,
        call: &Call<'_>,
        budget: Duration,
        deadline: Instant,
    ) -> Result<Exchange, Failure> {
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
        let mut body = Vec::with_capacity(framing::PREFIX + call.body.len());
        framing::encode(call.body, &mut body).map_err(|status| final_error(status.error))?;
        let (conn, id, slot) = self.pool.open(target, &headers, &body, deadline)?;
        Exchange::open(conn, id, slot, deadline, self.max_message)
    }
}

impl Drop for GrpcClient {
    /// Closes every connection and joins every reader thread.
    fn drop(&mut self) {
        self.pool.close();
    }
}
