//! The outbound-call families: `micro_client_calls_total`, `micro_client_call_duration_seconds`
//! and `micro_client_retries_total`, by (service, endpoint), bounded to [`MAX_PAIRS`] pairs.
//!
//! A call costs a network round trip, so one mutex over a map is cheap beside it. Rendering
//! copies the map under the lock and formats after releasing it: a scrape never holds up a call.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::text::{self, BUCKETS};

/// The most distinct (service, endpoint) pairs given their own series; later ones count under
/// `service="other",endpoint="other"`. Labels come from code, but a bug (an endpoint built from
/// a request field, say) must not grow the exposition without bound.
pub(super) const MAX_PAIRS: usize = 256;

/// The service and endpoint label of the pairs past [`MAX_PAIRS`].
pub(super) const OTHER: &str = "other";

/// The counters of one (service, endpoint) pair.
#[derive(Clone, Default)]
struct Series {
    /// Status code -> calls.
    codes: BTreeMap<u16, u64>,
    /// Per-bucket counts, not cumulative; render cumulates.
    buckets: [u64; BUCKETS],
    /// The calls' total duration in microseconds (see `text::measure`).
    sum_us: u64,
    /// Retries counted.
    retries: u64,
}

/// What the mutex guards.
#[derive(Clone, Default)]
struct Table {
    /// service -> endpoint -> counters: looked up by `&str` with no allocation.
    pairs: BTreeMap<String, BTreeMap<String, Series>>,
    /// The number of pairs in `pairs`.
    len: usize,
    /// The pairs past the bound (and a literal `other`/`other` pair), once there is one.
    other: Option<Series>,
}

impl Table {
    /// The counters of (service, endpoint), creating them if the bound allows.
    fn series(&mut self, service: &str, endpoint: &str) -> &mut Series {
        let known = self.pairs.get(service).is_some_and(|e| e.contains_key(endpoint));
        if !known {
            if self.len >= MAX_PAIRS || (service == OTHER && endpoint == OTHER) {
                return self.other.get_or_insert_with(Series::default);
            }
            self.len += 1;
            let endpoints = self.pairs.entry(service.to_owned()).or_default();
            endpoints.insert(endpoint.to_owned(), Series::default());
        }
        match self.pairs.get_mut(service).and_then(|e| e.get_mut(endpoint)) {
            Some(series) => series,
            // Not reached: the pair is known or was just inserted.
            None => self.other.get_or_insert_with(Series::default),
        }
    }
}

/// The outbound-call counters.
#[derive(Default)]
pub(super) struct Calls {
    /// Taken per call or retry, and once per scrape just long enough to copy it.
    table: Mutex<Table>,
}

impl Calls {
    /// The table, even if a thread panicked holding it: counters stay usable.
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one finished call: its status code, its duration's bucket and the sum.
    pub(super) fn call(&self, service: &str, endpoint: &str, code: u16, duration: Duration) {
        let (bucket, micros) = text::measure(duration);
        let mut table = self.lock();
        let series = table.series(service, endpoint);
        *series.codes.entry(code).or_insert(0) += 1;
        series.buckets[bucket] += 1;
        series.sum_us = series.sum_us.wrapping_add(micros);
    }

    /// Counts one retry of a call.
    pub(super) fn retry(&self, service: &str, endpoint: &str) {
        self.lock().series(service, endpoint).retries += 1;
    }

    /// Writes the three families, series sorted by (service, endpoint). A pair's retries show
    /// from its first call or retry (0 included); its codes and histogram once it has a call.
    pub(super) fn render(&self, out: &mut String) {
        let table = self.lock().clone();
        let mut all: Vec<(&str, &str, &Series)> = Vec::with_capacity(table.len + 1);
        for (service, endpoints) in &table.pairs {
            for (endpoint, series) in endpoints {
                all.push((service, endpoint, series));
            }
        }
        if let Some(other) = &table.other {
            all.push((OTHER, OTHER, other));
        }
        all.sort_by_key(|&(service, endpoint, _)| (service, endpoint));
        let labelled: Vec<(String, &Series)> = all
            .into_iter()
            .map(|(service, endpoint, series)| {
                (
                    text::labels(&[("service", service), ("endpoint", endpoint)]),
                    series,
                )
            })
            .collect();

        let name = "micro_client_calls_total";
        let help = "Outbound calls, by service, endpoint and status code (for a transport failure, its \
                    error's status).";
        text::header(out, name, "counter", help);
        for (labels, series) in &labelled {
            for (code, count) in &series.codes {
                text::sample(out, name, &format!("{labels},code=\"{code}\""), count);
            }
        }

        let name = "micro_client_call_duration_seconds";
        text::header(
            out,
            name,
            "histogram",
            "Outbound call duration, by service and endpoint.",
        );
        for (labels, series) in labelled.iter().filter(|(_, s)| !s.codes.is_empty()) {
            text::histogram(out, name, labels, &series.buckets, series.sum_us);
        }

        let name = "micro_client_retries_total";
        text::header(
            out,
            name,
            "counter",
            "Outbound calls retried, by service and endpoint.",
        );
        for (labels, series) in &labelled {
            text::sample(out, name, labels, series.retries);
        }
    }
}
