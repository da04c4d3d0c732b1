//! Requests tiny_http frames differently from what was meant, and the connections they poison.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::sync;

/// What tiny_http frames differently from what was meant: Content-Length with
/// Transfer-Encoding (it goes by the coding and ignores the length), several Content-Length
/// values (it takes the first), one it cannot parse (it reads no body), a coding other than
/// chunked. Whatever the sender meant the body to be, tiny_http then reads it as the next
/// request: a request smuggled inside a body would run.
fn framing_error(rq: &tiny_http::Request) -> Option<Error> {
    let (mut lengths, mut codings) = (Vec::new(), Vec::new());
    for h in rq.headers() {
        if h.field.equiv("Content-Length") {
            lengths.push(h.value.as_str().trim());
        } else if h.field.equiv("Transfer-Encoding") {
            codings.push(h.value.as_str().trim());
        }
    }
    if !lengths.is_empty() && !codings.is_empty() {
        return Some(Error::bad_request("both Content-Length and Transfer-Encoding"));
    }
    if lengths.iter().any(|l| *l != lengths[0]) {
        return Some(Error::bad_request("conflicting Content-Length headers"));
    }
    if !lengths.is_empty() && (rq.body_length().is_none() || !lengths[0].bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(Error::bad_request("invalid Content-Length"));
    }
    if let Some(coding) = codings.iter().find(|c| !c.eq_ignore_ascii_case("chunked")) {
        return Some(Error::new(
            501,
            format!("transfer coding {coding:?} is not supported"),
        ));
    }
    None
}

/// Connections (by peer address) whose framing tiny_http got wrong. tiny_http cannot be told
/// to close them, so every later request on them is refused instead of run.
pub(crate) struct Poisoned {
    any: AtomicBool,
    peers: Mutex<HashMap<SocketAddr, Instant>>,
}

impl Poisoned {
    /// How long a peer address stays refused: its connection's lifetime, give or take; the
    /// same address on a new connection later is served again.
    const FOR: Duration = Duration::from_secs(60);
    /// The most addresses remembered; the oldest goes first.
    const MAX: usize = 1024;

    pub(super) fn new() -> Poisoned {
        Poisoned {
            any: AtomicBool::new(false),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// The error to answer `rq` with instead of running it, if any: its own framing error
    /// (which poisons its connection) or an earlier one on the same connection.
    pub(super) fn check(&self, rq: &tiny_http::Request) -> Option<Error> {
        let peer = rq.remote_addr().copied();
        if let Some(err) = framing_error(rq) {
            if let Some(peer) = peer {
                let mut peers = sync::lock(&self.peers);
                peers.retain(|_, at| at.elapsed() < Self::FOR);
                if peers.len() >= Self::MAX
                    && let Some(oldest) = peers.iter().min_by_key(|(_, at)| **at).map(|(p, _)| *p)
                {
                    peers.remove(&oldest);
                }
                peers.insert(peer, Instant::now());
                self.any.store(true, Ordering::SeqCst);
            }
            return Some(err);
        }
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let peers = sync::lock(&self.peers);
        let at = peers.get(&peer?)?;
        (at.elapsed() < Self::FOR)
            .then(|| Error::bad_request("request framing was lost earlier on this connection"))
    }
}
