//! TEMPORARY stub of the metrics registry (replaced by the real module on merge).
#![allow(dead_code, missing_docs)]

use std::time::Duration;

use crate::record::{Record, Shed};

pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(crate) struct Metrics;

impl Metrics {
    pub fn new(_routes: Vec<String>) -> Metrics {
        Metrics
    }
    pub fn observe(&self, _rec: &Record<'_>) {}
    pub fn shed(&self, _reason: Shed) {}
    pub fn connection_opened(&self) {}
    pub fn connection_closed(&self) {}
    pub fn client_call(&self, _service: &str, _endpoint: &str, _code: u16, _duration: Duration) {}
    pub fn client_retry(&self, _service: &str, _endpoint: &str) {}
    pub fn render(&self, _in_flight: usize, out: &mut String) {
        out.push_str("# stub\n");
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
