//! The metrics registry and its Prometheus text exposition (format 0.0.4), served at `/metrics`.
//!
//! Our own small exposition, not the `prometheus` crates: the families are few and fixed, and
//! the static binary stays small. The request path is lock-free and allocation-free: `observe`
//! is three atomic adds and a bucket search, about 15 ns of CPU per request (release, on the
//! project's shared 2-core VM; `cost.rs`), alone or with two threads each on its own route. Two
//! threads hammering one route in a tight loop also pay to move its cache lines between cores:
//! 20 to 160 ns per observe measured, by how far the two ran at once.
//!
//! - `requests.rs`: served requests by route, status code and protocol (atomics per cell).
//! - `calls.rs`: outbound calls and retries by service and endpoint (a bounded, mutex'd map).
//! - `process.rs`: the process collector, from `/proc/self` (the only I/O outside the tests).
//! - `text.rs`: the format itself: headers, escaping, exact decimals, histograms.
//! - `tests.rs`: the registry's tests (promtool among them); `cost.rs`: `observe` measured.

mod calls;
#[cfg(test)]
mod cost;
mod process;
mod requests;
#[cfg(test)]
mod tests;
mod text;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::record::{Record, Shed};
use calls::Calls;
use requests::Requests;

/// The `Content-Type` of the exposition.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The service's metrics: one per process, shared through an `Arc` by every server and the client.
pub(crate) struct Metrics {
    /// Served requests: lock-free.
    requests: Requests,
    /// Outbound calls and retries: one mutex, off the serving path.
    calls: Calls,
    /// Indexed by `Shed as usize`.
    shed: [AtomicU64; 3],
    /// Opened minus closed: signed, so a stray close shows as a negative gauge, not a wrap.
    connections: AtomicI64,
}

impl Metrics {
    /// Metrics for a service whose route labels are `routes` (its routes and the framework's
    /// paths, fixed at start): `Record::route_id` indexes this list, and any index past it counts
    /// under `unmatched`. A label listed twice (or `unmatched` itself) shares one series.
    pub(crate) fn new(routes: Vec<String>) -> Metrics {
        Metrics {
            requests: Requests::new(routes),
            calls: Calls::default(),
            shed: Default::default(),
            connections: AtomicI64::new(0),
        }
    }

    /// Counts one answered request (`micro_server_requests_total`, and its duration in
    /// `micro_server_request_duration_seconds`). Lock-free and allocation-free, but for a ninth
    /// distinct status code on one route and protocol.
    pub(crate) fn observe(&self, rec: &Record<'_>) {
        self.requests.observe(rec);
    }

    /// Counts one request or connection refused (`micro_server_shed_total{reason}`).
    pub(crate) fn shed(&self, reason: Shed) {
        self.shed[reason as usize].fetch_add(1, Relaxed);
    }

    /// A connection was accepted (`micro_server_connections`).
    pub(crate) fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// A connection opened with [`Metrics::connection_opened`] was closed.
    pub(crate) fn connection_closed(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }

    /// Counts one finished outbound call with the status it got (`micro_client_calls_total`,
    /// `micro_client_call_duration_seconds`). A transport failure is reported with its error's
    /// status (503, 408, ...), never 0. At most 256 (service, endpoint) pairs get their own
    /// series; later ones count under `service="other",endpoint="other"`.
    pub(crate) fn client_call(&self, service: &str, endpoint: &str, code: u16, duration: Duration) {
        self.calls.call(service, endpoint, code, duration);
    }

    /// Counts one retry of an outbound call (`micro_client_retries_total`), bounded as above.
    pub(crate) fn client_retry(&self, service: &str, endpoint: &str) {
        self.calls.retry(service, endpoint);
    }

    /// Appends the whole exposition to `out`: the server, client and process families, with
    /// `in_flight` (owned by the request pipeline) as `micro_server_requests_in_flight`.
    pub(crate) fn render(&self, in_flight: usize, out: &mut String) {
        self.render_own(in_flight, out);
        process::render(&process::read(), out);
    }

    /// Everything but the process families: a pure function of the state, for the tests.
    fn render_own(&self, in_flight: usize, out: &mut String) {
        self.requests.render(out);

        let name = "micro_server_requests_in_flight";
        text::header(out, name, "gauge", "Requests being handled now.");
        text::sample(out, name, "", in_flight);

        let name = "micro_server_connections";
        text::header(out, name, "gauge", "Open client connections.");
        text::sample(out, name, "", self.connections.load(Relaxed));

        let name = "micro_server_shed_total";
        text::header(
            out,
            name,
            "counter",
            "Requests or connections refused under load or in a drain, by reason.",
        );
        for reason in Shed::ALL {
            let labels = text::labels(&[("reason", reason.as_str())]);
            text::sample(out, name, &labels, self.shed[reason as usize].load(Relaxed));
        }

        self.calls.render(out);
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
