//! The served-request families: `micro_server_requests_total` and
//! `micro_server_request_duration_seconds`, counted lock-free on the request path.
//!
//! Each (route, protocol) pair owns a [`Cell`] of atomics, fixed at start: status code slots,
//! histogram buckets and a sum. A request costs three uncontended atomic adds and no allocation;
//! only a ninth distinct status code on one cell takes the overflow map's mutex.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};

use super::text::{self, BUCKETS};
use crate::record::{Protocol, Record, UNMATCHED};

/// Status code slots per cell: a route rarely answers more than a handful of distinct codes.
pub(super) const SLOTS: usize = 8;

/// Protocols in the order their series are rendered: sorted by label value.
const RENDER_ORDER: [Protocol; 3] = [Protocol::Grpc, Protocol::Http1, Protocol::Http2];

/// One status code's counter. `code` 0 means free; once set, a slot's code never changes.
#[derive(Default)]
struct CodeSlot {
    /// The status code counted here, or 0 while the slot is free.
    code: AtomicU16,
    /// Requests answered with `code`.
    count: AtomicU64,
}

/// The counters of one (route, protocol) pair.
///
/// Laid out on cache-line bounds, sum first: a request under 50 ms answered with one of the
/// first 4 codes touches two lines (the sum with buckets 0-6, and its slot's), not three. When
/// two cores serve one route, each line the other core wrote last costs a transfer.
#[derive(Default)]
#[repr(C, align(64))]
struct Cell {
    /// The requests' total duration in microseconds (see `text::measure`).
    sum_us: AtomicU64,
    /// Per-bucket counts, not cumulative: one add per request; render cumulates.
    buckets: [AtomicU64; BUCKETS],
    /// The first `SLOTS` distinct status codes seen; later ones go to the overflow map.
    slots: [CodeSlot; SLOTS],
}

impl Cell {
    /// Counts one `code` (not 0) in its slot, claiming a free one if need be; false when every
    /// slot holds another code.
    ///
    /// Slots are claimed left to right and never freed, so the taken slots are a prefix and a
    /// code is in at most one slot: a thread claims slot `k` only after seeing slots below `k`
    /// hold other codes, and those never change. Relaxed suffices: each counter is read alone.
    fn count_code(&self, code: u16) -> bool {
        for slot in &self.slots {
            let held = match slot.code.load(Relaxed) {
                0 => match slot.code.compare_exchange(0, code, Relaxed, Relaxed) {
                    Ok(_) => code,
                    Err(other) => other,
                },
                held => held,
            };
            if held == code {
                slot.count.fetch_add(1, Relaxed);
                return true;
            }
        }
        false
    }

    /// The claimed slots as (code, count).
    fn codes(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.slots
            .iter()
            .map(|s| (s.code.load(Relaxed), s.count.load(Relaxed)))
            .filter(|&(code, _)| code != 0)
    }
}

/// A cell's counters read at one scrape.
struct Snapshot {
    /// Code -> count, sorted.
    codes: BTreeMap<u16, u64>,
    /// Per-bucket counts, as stored.
    buckets: [u64; BUCKETS],
    /// Total duration in microseconds.
    sum_us: u64,
}

/// The served-request counters of every route, fixed at start.
pub(super) struct Requests {
    /// `route_id` -> series: duplicate route labels share one series, as does a route
    /// literally named `unmatched` with the unmatched requests.
    series_of: Vec<usize>,
    /// Each series' route label (the unmatched one is series 0).
    labels: Vec<String>,
    /// The series in the order they render: sorted by label.
    order: Vec<usize>,
    /// `series * 3 + protocol index`.
    cells: Box<[Cell]>,
    /// (cell, code) -> count, for codes past a cell's slots (and status 0, which marks a free
    /// slot): rare, so a mutex is fine.
    overflow: Mutex<BTreeMap<(usize, u16), u64>>,
}

impl Requests {
    /// Counters for `routes` (indexed by `Record::route_id`) and the unmatched requests.
    pub(super) fn new(routes: Vec<String>) -> Requests {
        let mut by_label = BTreeMap::from([(UNMATCHED.to_owned(), 0)]);
        let mut series_of = Vec::with_capacity(routes.len());
        for route in routes {
            let next = by_label.len();
            series_of.push(*by_label.entry(route).or_insert(next));
        }
        let mut labels = vec![String::new(); by_label.len()];
        let mut order = Vec::with_capacity(by_label.len());
        for (label, series) in by_label {
            order.push(series);
            labels[series] = label;
        }
        let cells = (0..labels.len() * Protocol::ALL.len())
            .map(|_| Cell::default())
            .collect();
        Requests {
            series_of,
            labels,
            order,
            cells,
            overflow: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one request: its status code, its duration's bucket and the sum.
    pub(super) fn observe(&self, rec: &Record<'_>) {
        let series = self.series_of.get(rec.route_id).copied().unwrap_or(0);
        let index = series * Protocol::ALL.len() + rec.protocol.index();
        let cell = &self.cells[index];
        if rec.status == 0 || !cell.count_code(rec.status) {
            let mut overflow = self.overflow.lock().unwrap_or_else(|p| p.into_inner());
            *overflow.entry((index, rec.status)).or_insert(0) += 1;
        }
        let (bucket, micros) = text::measure(rec.duration);
        cell.buckets[bucket].fetch_add(1, Relaxed);
        cell.sum_us.fetch_add(micros, Relaxed);
    }

    /// One cell's counters, its overflow codes merged in; `None` before its first request.
    fn snapshot(&self, index: usize, overflow: &BTreeMap<(usize, u16), u64>) -> Option<Snapshot> {
        let cell = &self.cells[index];
        let spilled = overflow
            .range((index, 0)..=(index, u16::MAX))
            .map(|(&(_, code), &n)| (code, n));
        let mut codes = BTreeMap::new();
        for (code, count) in cell.codes().chain(spilled) {
            *codes.entry(code).or_insert(0) += count;
        }
        if codes.is_empty() {
            return None;
        }
        let buckets = std::array::from_fn(|i| cell.buckets[i].load(Relaxed));
        Some(Snapshot {
            codes,
            buckets,
            sum_us: cell.sum_us.load(Relaxed),
        })
    }

    /// Writes both families. A (route, protocol) series appears once it has counted a request;
    /// until then a family is its HELP and TYPE lines alone, which the format allows.
    pub(super) fn render(&self, out: &mut String) {
        let overflow = self.overflow.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut live = Vec::new();
        for &series in &self.order {
            for protocol in RENDER_ORDER {
                let index = series * Protocol::ALL.len() + protocol.index();
                if let Some(snapshot) = self.snapshot(index, &overflow) {
                    live.push((self.labels[series].as_str(), protocol.as_str(), snapshot));
                }
            }
        }

        let name = "micro_server_requests_total";
        let help = "Requests answered, by route pattern, status code and protocol.";
        text::header(out, name, "counter", help);
        for (route, protocol, snapshot) in &live {
            for (code, count) in &snapshot.codes {
                let code = code.to_string();
                let labels = text::labels(&[("route", route), ("code", &code), ("protocol", protocol)]);
                text::sample(out, name, &labels, count);
            }
        }

        let name = "micro_server_request_duration_seconds";
        let help = "Time from a request's first byte to its answer's last, by route pattern and protocol.";
        text::header(out, name, "histogram", help);
        for (route, protocol, snapshot) in &live {
            let labels = text::labels(&[("route", route), ("protocol", protocol)]);
            text::histogram(out, name, &labels, &snapshot.buckets, snapshot.sum_us);
        }
    }
}
