//! The client's wrapper around ureq's TCP transport: one write per request, one probe per call.
//!
//! ureq writes a request's head and its body in two `send`s, so the server wakes up for the head,
//! finds the body missing and sleeps again; and it probes a pooled connection for liveness (two
//! `ioctl`s and a `recv`) both when it leaves the pool and when it comes back. On the 2-core
//! benchmark box those wake-ups and syscalls were most of a chain's extra hop (README,
//! "Performance"). [`Coalesce`] wraps the transport that ureq's default connectors make:
//! - writes are held back until the response is awaited, then go out in one `send` (a body too
//!   big to hold goes out as it comes, after what was held);
//! - the probe on return to the pool is skipped when a response was just read: the probe on the
//!   next checkout sees the same closed socket or stray bytes, and it still runs before every
//!   reuse, so a connection the server closed while idle is never written to.

use std::fmt;

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// Held writes above this size are sent at once (a streamed upload, not an RPC).
const HOLD_MAX: usize = 64 * 1024;

/// Connector that wraps whatever transport the previous connector in the chain made.
#[derive(Debug, Default)]
pub(super) struct Coalesce;

impl<In: Transport> Connector<In> for Coalesce {
    type Out = Coalesced<In>;

    fn connect(&self, _: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| Coalesced {
            inner,
            held: Vec::new(),
            answered: false,
        }))
    }
}

/// A transport whose writes wait for the read that follows them.
pub(super) struct Coalesced<T> {
    inner: T,
    /// Bytes ureq asked to send and that are not sent yet.
    held: Vec<u8>,
    /// A response was read since the last liveness question.
    answered: bool,
}

impl<T: Transport> Coalesced<T> {
    /// Sends what is held, through the inner transport's own output buffer.
    fn flush(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let mut sent = 0;
        while sent < self.held.len() {
            let out = self.inner.buffers().output();
            let n = out.len().min(self.held.len() - sent);
            out[..n].copy_from_slice(&self.held[sent..sent + n]);
            self.inner.transmit_output(n, timeout)?;
            sent += n;
        }
        self.held.clear();
        Ok(())
    }
}

impl<T: Transport> Transport for Coalesced<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.held.len() + amount <= HOLD_MAX {
            let out = &self.inner.buffers().output()[..amount];
            self.held.extend_from_slice(out);
            return Ok(());
        }
        if self.held.is_empty() {
            return self.inner.transmit_output(amount, timeout);
        }
        // Too big to hold: what is held goes first, then this piece, in order.
        let piece = self.inner.buffers().output()[..amount].to_vec();
        self.flush(timeout)?;
        self.held = piece;
        self.flush(timeout)
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if !self.held.is_empty() {
            self.flush(timeout)?;
        }
        if self.inner.buffers().can_use_input() {
            return Ok(true);
        }
        self.await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        if !self.held.is_empty() {
            self.flush(timeout)?;
        }
        self.answered = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        // ureq asks on return to the pool (right after the response) and on checkout; the
        // checkout probe alone decides.
        if std::mem::take(&mut self.answered) {
            return true;
        }
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

impl<T: fmt::Debug> fmt::Debug for Coalesced<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coalesced")
            .field("inner", &self.inner)
            .field("held", &self.held.len())
            .finish()
    }
}
