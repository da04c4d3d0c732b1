//! The client's name resolution: the override map first, then a short-lived DNS answer cache.
//!
//! ureq resolves the host on every call, even on a pooled connection; in Kubernetes that is a
//! DNS query per request. This cache keeps each answer for a short time instead.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::name::Overrides;
use crate::sync;

/// Resolves `host:port` strings through the override map and a TTL cache.
#[derive(Debug)]
pub struct Resolve {
    overrides: Overrides,
    ttl: Duration,
    /// `.svc.CLUSTER_DOMAIN`: names ending so are fully qualified and looked up with a final dot.
    fqdn_suffix: String,
    cache: RwLock<HashMap<String, (Instant, Vec<SocketAddr>)>>,
}

impl Resolve {
    /// A resolver with the given overrides, caching answers for `ttl` (zero: no cache).
    pub fn new(overrides: Overrides, ttl: Duration, cluster_domain: &str) -> Resolve {
        let fqdn_suffix = format!(".svc.{}", cluster_domain.trim_matches('.'));
        Resolve {
            overrides,
            ttl,
            fqdn_suffix,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The name to look up for `host_port`: a fully qualified cluster name gets a final dot, so
    /// the resolver does not try the `ndots:5` search list first (four wasted queries).
    pub fn lookup_name<'a>(&self, host_port: &'a str) -> std::borrow::Cow<'a, str> {
        match host_port.rsplit_once(':') {
            Some((host, port)) if host.ends_with(&self.fqdn_suffix) => format!("{host}.:{port}").into(),
            _ => host_port.into(),
        }
    }

    /// The addresses for `host_port`, with `lookup` called only on a cache miss.
    pub fn resolve_with(
        &self,
        host_port: &str,
        lookup: impl FnOnce(&str) -> std::io::Result<Vec<SocketAddr>>,
    ) -> Result<Vec<SocketAddr>, Error> {
        if let Some(addr) = self.overrides.get(host_port) {
            return Ok(vec![addr]);
        }
        let now = Instant::now();
        if let Some((expires, addrs)) = sync::read(&self.cache).get(host_port)
            && *expires > now
        {
            return Ok(addrs.clone());
        }
        let addrs = lookup(&self.lookup_name(host_port))
            .map_err(|e| Error::Unreachable(format!("cannot resolve {host_port}: {e}")))?;
        if addrs.is_empty() {
            return Err(Error::Unreachable(format!(
                "cannot resolve {host_port}: no addresses"
            )));
        }
        if !self.ttl.is_zero() {
            let mut cache = sync::write(&self.cache);
            cache.retain(|_, (expires, _)| *expires > now);
            cache.insert(host_port.to_string(), (now + self.ttl, addrs.clone()));
        }
        Ok(addrs)
    }

    /// The addresses for `host_port` from the system resolver (getaddrinfo).
    pub fn resolve(&self, host_port: &str) -> Result<Vec<SocketAddr>, Error> {
        self.resolve_with(host_port, |hp| Ok(hp.to_socket_addrs()?.collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn overrides_win_without_lookup() {
        let o = Overrides::parse(&["srv:9080=127.0.0.1:1234"]).unwrap();
        let r = Resolve::new(o, Duration::from_secs(5), "cluster.local");
        let got = r
            .resolve_with("srv:9080", |_| panic!("no lookup expected"))
            .unwrap();
        assert_eq!(got, [addr("127.0.0.1:1234")]);
    }

    #[test]
    fn cluster_names_are_looked_up_fully_qualified() {
        let r = Resolve::new(Overrides::new(), Duration::ZERO, "cluster.local");
        assert_eq!(
            r.lookup_name("srv.team-b.svc.cluster.local:9080"),
            "srv.team-b.svc.cluster.local.:9080"
        );
        assert_eq!(
            r.lookup_name("go-micro-srv-sample:9080"),
            "go-micro-srv-sample:9080"
        );
        assert_eq!(r.lookup_name("10.0.0.1:80"), "10.0.0.1:80");
        let seen = std::cell::RefCell::new(String::new());
        r.resolve_with("srv.ns.svc.cluster.local:1", |name| {
            *seen.borrow_mut() = name.to_string();
            Ok(vec![addr("10.0.0.9:1")])
        })
        .unwrap();
        assert_eq!(*seen.borrow(), "srv.ns.svc.cluster.local.:1");
    }

    #[test]
    fn answers_are_cached_until_the_ttl() {
        let calls = Cell::new(0);
        let lookup = |_: &str| {
            calls.set(calls.get() + 1);
            Ok(vec![addr("10.0.0.1:80")])
        };
        let r = Resolve::new(Overrides::new(), Duration::from_millis(50), "cluster.local");
        r.resolve_with("svc:80", lookup).unwrap();
        r.resolve_with("svc:80", lookup).unwrap();
        assert_eq!(calls.get(), 1);
        std::thread::sleep(Duration::from_millis(60));
        r.resolve_with("svc:80", lookup).unwrap();
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn zero_ttl_looks_up_every_time_and_failures_are_unreachable() {
        let r = Resolve::new(Overrides::new(), Duration::ZERO, "cluster.local");
        let calls = Cell::new(0);
        for _ in 0..2 {
            r.resolve_with("svc:80", |_| {
                calls.set(calls.get() + 1);
                Ok(vec![addr("10.0.0.1:80")])
            })
            .unwrap();
        }
        assert_eq!(calls.get(), 2);
        let err = r
            .resolve_with("nope:80", |_| Err(std::io::Error::other("nxdomain")))
            .unwrap_err();
        assert_eq!(err.status(), 503);
    }
}
