//! The one request pipeline every server and protocol goes through.
//!
//! A server parses bytes into a method, a path, headers and a body; everything after that is
//! decided here, once: the framework's own paths (health, metrics) before routing and outside
//! every cap, the in-flight cap, the framework's errors, and one [`Record`] per request once
//! its answer is written, which the access log and the metrics consume. A server's part is:
//!
//! ```text
//! let ticket = pipeline.begin(protocol, &method, &path, &headers, first_byte_at);
//! let _guard = match pipeline.admit(&ticket) { Ok(guard) => guard, Err(busy) => /* write busy */ };
//! let response = pipeline.answer(&ticket, headers, request);
//! /* write it */
//! pipeline.finish(ticket, response.status, bytes_in, bytes_out);
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::error::Error;
use crate::handler::{Request, Response};
use crate::health::{HEALTH_PATHS, Health};
use crate::logger;
use crate::metadata::Metadata;
use crate::metrics::{self, Metrics};
use crate::record::{Protocol, Record, Shed, UNMATCHED};
use crate::router::Router;
use crate::stream::Source;

/// The route labels of a service's metrics, in the ids the pipeline records: its routes' paths
/// in registration order, the health paths, the metrics path.
pub(crate) fn metric_labels<'a>(routes: impl Iterator<Item = &'a str>, metrics_path: &str) -> Vec<String> {
    let mut labels: Vec<String> = routes.map(String::from).collect();
    labels.extend(HEALTH_PATHS.iter().map(|p| p.to_string()));
    labels.push(metrics_path.to_string());
    labels
}

/// What a request is, decided from its path before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// A route of the service, by id.
    Route(usize),
    /// One of the [`HEALTH_PATHS`], by index.
    Health(usize),
    /// The metrics path.
    Metrics,
    /// No route: the router answers 404.
    Unmatched,
}

/// One request on its way through the pipeline: what it is and when it began.
#[must_use = "a ticket is finished once the answer is written"]
pub struct Ticket {
    target: Target,
    protocol: Protocol,
    started: Instant,
    /// The method and `x-request-id`, copied only while the access log is on.
    access: Option<(String, Option<String>)>,
}

impl Ticket {
    /// Whether a route of the service serves the request's path.
    pub fn is_routed(&self) -> bool {
        matches!(self.target, Target::Route(_))
    }

    /// Whether the request came as a gRPC call.
    pub fn is_grpc(&self) -> bool {
        self.protocol == Protocol::Grpc
    }

    /// Whether the request is one of the framework's own (health, metrics): answered outside
    /// every cap, even when every handler is busy.
    pub fn is_exempt(&self) -> bool {
        matches!(self.target, Target::Health(_) | Target::Metrics)
    }
}

/// A request counted against the in-flight cap until dropped (it may move to another thread:
/// an HTTP/2 stream's handler runs on a thread of the stream queue).
#[must_use = "the request counts as in flight until this is dropped"]
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The request pipeline of one service, shared by its server's threads.
pub struct Pipeline {
    router: Arc<Router>,
    health: Health,
    /// The metrics and the path they are served on, when they are on.
    metrics: Option<Arc<Metrics>>,
    metrics_path: Option<String>,
    max_in_flight: usize,
    in_flight: Arc<AtomicUsize>,
    /// Label ids: the router's routes, then the health paths, the metrics path, unmatched.
    routes: usize,
}

impl Pipeline {
    /// A pipeline in front of `router`: `health` answers the health paths, `metrics` (built
    /// with [`metric_labels`], served on its path) the metrics, and at most `max_in_flight`
    /// requests are in handlers at once.
    pub(crate) fn new(
        router: Arc<Router>,
        health: Health,
        metrics: Option<(String, Arc<Metrics>)>,
        max_in_flight: usize,
    ) -> Pipeline {
        let routes = router.paths().count();
        let (metrics_path, metrics) = metrics.map_or((None, None), |(p, m)| (Some(p), Some(m)));
        Pipeline {
            router,
            health,
            metrics,
            metrics_path,
            max_in_flight: max_in_flight.max(1),
            in_flight: Arc::new(AtomicUsize::new(0)),
            routes,
        }
    }

    /// The service's name: the id of the framework's errors.
    pub fn name(&self) -> &str {
        self.router.name()
    }

    /// The service's health (servers close connections once it drains).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// The most requests in handlers at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Starts a request that arrived on `protocol` at `started` (its first byte).
    pub fn begin(
        &self,
        protocol: Protocol,
        method: &str,
        path: &str,
        headers: &Metadata,
        started: Instant,
    ) -> Ticket {
        let target = if let Some(i) = HEALTH_PATHS.iter().position(|p| *p == path) {
            Target::Health(i)
        } else if self.metrics_path.as_deref() == Some(path) {
            Target::Metrics
        } else {
            self.router.find(path).map_or(Target::Unmatched, Target::Route)
        };
        let access = logger::access_enabled().then(|| {
            let request_id = headers.get("x-request-id").map(String::from);
            (method.to_string(), request_id)
        });
        Ticket {
            target,
            protocol,
            started,
            access,
        }
    }

    /// Counts the request against the in-flight cap: `Ok(None)` for the framework's own paths
    /// (never capped), `Ok(Some)` while under the cap, else the 503 to answer (counted as shed).
    pub fn admit(&self, ticket: &Ticket) -> Result<Option<InFlight>, Response> {
        if ticket.is_exempt() {
            return Ok(None);
        }
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(self.in_flight.clone());
        if before < self.max_in_flight {
            return Ok(Some(guard));
        }
        drop(guard);
        let detail = format!("server busy: {} requests in flight", self.max_in_flight);
        Err(self.shed(Shed::InFlight, detail))
    }

    /// The 503 for a request shed for `reason`, counted in the metrics.
    pub fn shed(&self, reason: Shed, detail: impl Into<String>) -> Response {
        if let Some(metrics) = &self.metrics {
            metrics.shed(reason);
        }
        self.error(&Error::new(503, detail))
    }

    /// The error JSON for a framework error (a bad head, a body over the limit, ...).
    pub fn error(&self, err: &Error) -> Response {
        self.router.error(err)
    }

    /// The answer: health or metrics for the framework's paths, else the router's.
    pub fn answer(&self, ticket: &Ticket, metadata: Metadata, request: Request) -> Response {
        match ticket.target {
            Target::Health(_) => {
                let answer = self.health.answer(&request.method, &request.path, self.name());
                answer.unwrap_or_else(|| self.error(&Error::internal("not a health path")))
            }
            Target::Metrics => self.metrics_answer(&request.method, &request.path),
            Target::Route(id) => self
                .router
                .dispatch_to(Some(id), metadata, request, ticket.is_grpc(), None),
            Target::Unmatched => self
                .router
                .dispatch_to(None, metadata, request, ticket.is_grpc(), None),
        }
    }

    /// Whether `path` routes to a duplex endpoint (client or bidirectional streaming:
    /// `Some(true)`), to another endpoint (`Some(false)`), or to none (`None`), in one lookup.
    /// A server that can stream the request (gRPC over HTTP/2) starts a duplex call at its head
    /// and feeds its messages through a [`Source`] ([`answer_duplex`](Pipeline::answer_duplex));
    /// other wires buffer the body and [`answer`](Pipeline::answer) it.
    pub fn duplex(&self, path: &str) -> Option<bool> {
        self.router.find(path).map(|id| self.router.is_duplex(id))
    }

    /// The answer to a duplex call: `request` without a body, its messages read from `source`
    /// as the handler takes them. A ticket that is not a duplex route's is answered as by
    /// [`answer`](Pipeline::answer), `source` unread.
    pub fn answer_duplex(
        &self,
        ticket: &Ticket,
        metadata: Metadata,
        request: Request,
        source: Box<dyn Source>,
    ) -> Response {
        match ticket.target {
            Target::Route(id) => {
                self.router
                    .dispatch_to(Some(id), metadata, request, ticket.is_grpc(), Some(source))
            }
            _ => self.answer(ticket, metadata, request),
        }
    }

    fn metrics_answer(&self, method: &str, path: &str) -> Response {
        if method != "GET" && method != "HEAD" {
            let err = Error::new(405, format!("method {method} not allowed on {path}"));
            return self.error(&err).with_header("Allow", "GET, HEAD");
        }
        let mut text = String::with_capacity(8 * 1024);
        if let Some(metrics) = &self.metrics {
            metrics.render(self.in_flight.load(Ordering::Relaxed), &mut text);
        }
        Response::bytes(metrics::CONTENT_TYPE, text).with_header("Cache-Control", "no-store")
    }

    /// Ends a request whose answer (`status`) was written: one record, to the access log and
    /// the metrics.
    pub fn finish(&self, ticket: Ticket, status: u16, bytes_in: usize, bytes_out: usize) {
        let route_id = match ticket.target {
            Target::Route(id) => id,
            Target::Health(i) => self.routes + i,
            Target::Metrics => self.routes + HEALTH_PATHS.len(),
            Target::Unmatched => usize::MAX,
        };
        let route = match ticket.target {
            Target::Route(id) => self.router.path(id).unwrap_or(UNMATCHED),
            Target::Health(i) => HEALTH_PATHS[i],
            Target::Metrics => self.metrics_path.as_deref().unwrap_or(UNMATCHED),
            Target::Unmatched => UNMATCHED,
        };
        let (method, request_id) = match &ticket.access {
            Some((method, id)) => (method.as_str(), id.as_deref()),
            None => ("", None),
        };
        let record = Record {
            method,
            route,
            route_id,
            status,
            protocol: ticket.protocol,
            duration: ticket.started.elapsed(),
            bytes_in,
            bytes_out,
            request_id,
            probe: ticket.is_exempt(),
        };
        if ticket.access.is_some() {
            logger::access(&record);
        }
        if let Some(metrics) = &self.metrics {
            metrics.observe(&record);
        }
    }

    /// A connection opened (the open-connections gauge).
    pub fn connection_opened(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.connection_opened();
        }
    }

    /// A connection closed.
    pub fn connection_closed(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.connection_closed();
        }
    }
}
