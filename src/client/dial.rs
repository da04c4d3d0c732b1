//! What both clients share of their configuration, and what it decides for a call: the call
//! address and the name rule's namespace (the target), the override map and DNS cache, the
//! budget, retries and metrics (the retry policy). Each builder holds one and gets its setters
//! from [`dial_setters!`].

use std::sync::Arc;
use std::time::Duration;

use crate::client::Call;
use crate::client::retry::Policy;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::name::{self, Overrides, Target};
use crate::resolve::Resolve;

/// A client's dialing configuration.
#[derive(Debug, Clone)]
pub(crate) struct Dial {
    pub call_address: String,
    pub overrides: Overrides,
    pub timeout: Duration,
    pub retries: u32,
    pub namespace: Option<String>,
    pub cluster_domain: String,
    pub dns_ttl: Duration,
    pub metrics: Option<Arc<Metrics>>,
}

impl Default for Dial {
    /// Call address `:9080`, 5 s budget, one retry of calls that never reached the server, no
    /// namespace, cluster domain `cluster.local`, DNS answers cached for 5 s.
    fn default() -> Dial {
        Dial {
            call_address: ":9080".into(),
            overrides: Overrides::new(),
            timeout: Duration::from_secs(5),
            retries: 1,
            namespace: None,
            cluster_domain: "cluster.local".into(),
            dns_ttl: Duration::from_secs(5),
            metrics: None,
        }
    }
}

impl Dial {
    /// The resolver of this configuration (its override map goes into it).
    pub fn resolver(&mut self) -> Resolve {
        let overrides = std::mem::replace(&mut self.overrides, Overrides::new());
        Resolve::new(overrides, self.dns_ttl, &self.cluster_domain)
    }

    /// The target of `call`: its options' address and namespace, else ours, by the name rule.
    pub fn target(&self, call: &Call<'_>) -> Result<Target, Error> {
        let address = call.options.address.as_deref().unwrap_or(&self.call_address);
        let namespace = call.options.namespace.as_deref().or(self.namespace.as_deref());
        name::target_in(call.service, address, namespace, &self.cluster_domain)
    }

    /// The retry policy of calls without options of their own.
    pub fn policy(&self) -> Policy<'_> {
        Policy {
            timeout: self.timeout,
            retries: self.retries,
            metrics: self.metrics.as_ref(),
        }
    }
}

/// The builder setters both clients' builders share, each setting the builder's `dial` field.
macro_rules! dial_setters {
    () => {
        /// Sets the default call address: `:PORT` (the name rule) or a fixed `HOST:PORT`.
        pub fn call_address(mut self, addr: &str) -> Self {
            self.dial.call_address = addr.into();
            self
        }

        /// Replaces the override map.
        pub fn overrides(mut self, overrides: crate::name::Overrides) -> Self {
            self.dial.overrides = overrides;
            self
        }

        /// Adds one `HOST:PORT=ADDR:PORT` override.
        pub fn resolve(mut self, entry: &str) -> Result<Self, crate::error::Error> {
            self.dial.overrides.add_entry(entry)?;
            Ok(self)
        }

        /// Sets the default time budget of a call (sent as `Timeout`, or `grpc-timeout` and
        /// `timeout` over gRPC).
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.dial.timeout = timeout;
            self
        }

        /// Sets how often a call that provably never reached the server (refused, say) is
        /// retried.
        pub fn retries(mut self, n: u32) -> Self {
            self.dial.retries = n;
            self
        }

        /// Sets the namespace `:PORT` targets live in: `name.NS.svc.CLUSTER_DOMAIN` (empty:
        /// none).
        pub fn namespace(mut self, namespace: Option<&str>) -> Self {
            self.dial.namespace = namespace.filter(|ns| !ns.is_empty()).map(str::to_string);
            self
        }

        /// Sets the cluster domain for namespaced targets (default `cluster.local`).
        pub fn cluster_domain(mut self, domain: &str) -> Self {
            self.dial.cluster_domain = domain.trim_matches('.').to_string();
            self
        }

        /// Sets how long a DNS answer is reused (zero: look up every time).
        pub fn dns_ttl(mut self, ttl: std::time::Duration) -> Self {
            self.dial.dns_ttl = ttl;
            self
        }

        /// Reports calls and retries to a service's metrics.
        pub(crate) fn metrics(mut self, metrics: Option<std::sync::Arc<crate::metrics::Metrics>>) -> Self {
            self.dial.metrics = metrics;
            self
        }
    };
}

pub(crate) use dial_setters;
