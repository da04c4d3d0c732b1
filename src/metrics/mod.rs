//! The metrics registry and its Prometheus text exposition (format 0.0.4), served at `/metrics`.
//!
//! - `process.rs`: the process collector, from `/proc/self` (the only I/O here).
//! - `text.rs`: the format itself: headers, escaping, exact decimals, histograms.

mod process;
mod text;
