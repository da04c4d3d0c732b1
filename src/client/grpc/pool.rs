//! The client's connections: a small pool per target `host:port`, each connection carrying
//! many calls at once, up to the server's SETTINGS_MAX_CONCURRENT_STREAMS.
//!
//! A call takes the least busy usable connection; while that one already carries streams and
//! the pool is below its size, it opens another instead, so that load spreads over the pool
//! (one reader thread and one TCP window per connection). With every connection full it waits
//! for a stream to end, at most until its deadline. A connection that was GOAWAY'd or died is
//! no longer usable: it is retired (its streams finish), which makes room for a replacement,
//! and its reader is joined once it has ended (or when the client drops).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::conn::{Config, Conn, StartError};
use super::slot::Slot;
use crate::client::retry::Failure;
use crate::error::Error;
use crate::http2::hpack::Header;
use crate::name::Target;
use crate::resolve::Resolve;
use crate::sync;

/// A change counter callers wait on: bumped when a stream ends or a connection changes, so a
/// caller that saw every connection full wakes when a place may have freed.
#[derive(Debug, Default)]
pub(super) struct Notify {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Notify {
    /// Records a change and wakes the waiters.
    pub fn bump(&self) {
        *sync::lock(&self.generation) += 1;
        self.changed.notify_all();
    }

    /// The current generation, read before looking at the connections.
    pub fn seen(&self) -> u64 {
        *sync::lock(&self.generation)
    }

    /// Waits until the generation moves past `seen`; `false` when `deadline` came first.
    pub fn wait(&self, seen: u64, deadline: Instant) -> bool {
        let mut generation = sync::lock(&self.generation);
        while *generation == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            generation = sync::wait_timeout(&self.changed, generation, left);
        }
        true
    }
}

/// One target's connections.
#[derive(Default)]
struct Entry {
    /// Usable when last looked at.
    live: Vec<Arc<Conn>>,
    /// GOAWAY'd or dead: their streams finish; joined once their reader ended.
    retired: Vec<Arc<Conn>>,
    /// Connections being opened (they count towards the size).
    connecting: usize,
}

impl Entry {
    /// Moves unusable connections to `retired` and joins the retired ones that have ended.
    fn prune(&mut self) {
        let (live, gone): (Vec<_>, Vec<_>) = self.live.drain(..).partition(|c| c.load().is_some());
        self.live = live;
        self.retired.extend(gone);
        self.retired.retain(|conn| {
            if conn.finished() {
                conn.close_and_join();
                return false;
            }
            true
        });
    }
}

/// What a caller does next.
enum Choice {
    Use(Arc<Conn>),
    Connect,
    Wait,
}

/// The pool of every target's connections.
pub(super) struct Pool {
    targets: Mutex<HashMap<String, Entry>>,
    notify: Arc<Notify>,
    per_target: usize,
    config: Config,
    resolve: Resolve,
}

impl Pool {
    /// An empty pool of `per_target` connections per target.
    pub fn new(per_target: usize, config: Config, resolve: Resolve) -> Pool {
        Pool {
            targets: Mutex::new(HashMap::new()),
            notify: Arc::new(Notify::default()),
            per_target: per_target.max(1),
            config,
            resolve,
        }
    }

    /// Opens a stream to `target` with `headers` and `body` (none: a duplex call's stream, left
    /// open), on a connection with room, opening one if the pool may, waiting for room until
    /// `deadline` otherwise.
    pub fn open(
        &self,
        target: &Target,
        headers: &[Header],
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<(Arc<Conn>, u32, Arc<Slot>), Failure> {
        let key = target.to_string();
        loop {
            let seen = self.notify.seen();
            match self.choose(&key) {
                Choice::Use(conn) => match conn.start(headers, body, deadline) {
                    Ok((id, slot)) => return Ok((conn, id, slot)),
                    Err(StartError::Unusable | StartError::Full) => continue,
                    Err(StartError::Failed(failure)) => return Err(failure),
                },
                Choice::Connect => {
                    let connected = self.connect(&key, deadline);
                    let mut targets = sync::lock(&self.targets);
                    let entry = targets.entry(key.clone()).or_default();
                    entry.connecting -= 1;
                    match connected {
                        Ok(conn) => entry.live.push(conn),
                        Err(failure) => {
                            drop(targets);
                            self.notify.bump();
                            return Err(failure);
                        }
                    }
                }
                Choice::Wait => {
                    if !self.notify.wait(seen, deadline) {
                        let why = format!("{key}: no free stream before the deadline");
                        return Err(Failure::sent(Error::Timeout(why)));
                    }
                }
            }
        }
    }

    /// Picks a connection for one call (see the module's doc).
    fn choose(&self, key: &str) -> Choice {
        let mut targets = sync::lock(&self.targets);
        let entry = targets.entry(key.to_string()).or_default();
        entry.prune();
        let best = entry
            .live
            .iter()
            .filter_map(|c| c.load().map(|(open, max)| (open, max, c)))
            .filter(|(open, max, _)| *open < *max as usize)
            .min_by_key(|(open, _, _)| *open);
        let may_open = entry.live.len() + entry.connecting < self.per_target;
        match best {
            Some((0, _, conn)) => Choice::Use(conn.clone()),
            Some((_, _, conn)) if !may_open => Choice::Use(conn.clone()),
            _ if may_open => {
                entry.connecting += 1;
                Choice::Connect
            }
            _ => Choice::Wait,
        }
    }

    /// Resolves and connects to `key` (`host:port`); failing, nothing was sent.
    fn connect(&self, key: &str, deadline: Instant) -> Result<Arc<Conn>, Failure> {
        let addrs = self.resolve.resolve(key).map_err(Failure::not_sent)?;
        Conn::connect(&addrs, key, &self.config, &self.notify, deadline)
    }

    /// Closes every connection and joins every reader.
    pub fn close(&self) {
        let conns: Vec<Arc<Conn>> = sync::lock(&self.targets)
            .drain()
            .flat_map(|(_, entry)| entry.live.into_iter().chain(entry.retired))
            .collect();
        for conn in conns {
            conn.close_and_join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_waiter_wakes_on_a_bump_and_not_before_its_deadline_without_one() {
        let notify = Arc::new(Notify::default());
        let seen = notify.seen();
        assert!(!notify.wait(seen, Instant::now() + Duration::from_millis(5)));
        let bumper = {
            let notify = notify.clone();
            std::thread::spawn(move || notify.bump())
        };
        assert!(notify.wait(seen, Instant::now() + Duration::from_secs(30)));
        bumper.join().unwrap();
        assert!(
            notify.wait(seen, Instant::now()),
            "a change already seen returns at once"
        );
    }
}
