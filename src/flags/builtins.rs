//! The built-in flags: one row each, with where its value goes and how it is checked.

use std::time::Duration;

use super::Flags;
use crate::client::ClientKind;
use crate::duration;
use crate::error::Error;
use crate::name::{Overrides, check_label, parse_host_port, target};
use crate::server::ServerKind;

/// A built-in flag: its `--key`, its environment variable, its help, its field and its check.
pub(super) struct Builtin {
    pub key: &'static str,
    /// Environment variables to fall back on, the first one set wins.
    pub env: &'static [&'static str],
    pub usage: &'static str,
    pub slot: Slot,
    /// Checks one value; the error's message becomes the reason.
    pub check: fn(&str) -> Result<(), Error>,
}

/// The field of [`Flags`] a built-in fills: one value (the last given wins) or a list.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    /// A single value.
    One(fn(&mut Flags) -> &mut String),
    /// Repeatable on the command line, comma-separated in the environment.
    Many(fn(&mut Flags) -> &mut Vec<String>),
    /// A Go duration such as `500ms`.
    Time(fn(&mut Flags) -> &mut Duration),
    /// A small whole number.
    Count(fn(&mut Flags) -> &mut u32),
    /// A cap on connections or requests.
    Size(fn(&mut Flags) -> &mut usize),
    /// A server plugin.
    Server(fn(&mut Flags) -> &mut ServerKind),
    /// A client plugin.
    Client(fn(&mut Flags) -> &mut ClientKind),
}

pub(super) const BUILTINS: &[Builtin] = &[
    Builtin {
        key: "--server_address",
        env: &["MICRO_SERVER_ADDRESS"],
        usage: "where to listen, HOST:PORT; port 0 picks a free one",
        slot: Slot::One(|f| &mut f.server_address),
        check: |v| check_listen(v),
    },
    Builtin {
        key: "--client_call_address",
        env: &["MICRO_CLIENT_CALL_ADDRESS"],
        usage: "where calls go: :PORT (the service name as host) or HOST:PORT",
        slot: Slot::One(|f| &mut f.client_call_address),
        check: |v| target("x", v).map(drop),
    },
    Builtin {
        key: "--resolve",
        env: &["MICRO_RESOLVE"],
        usage: "HOST:PORT=ADDR:PORT: connect to ADDR:PORT instead; repeatable, comma-separated in env",
        slot: Slot::Many(|f| &mut f.resolve),
        check: |v| Overrides::parse(&[v]).map(drop),
    },
    Builtin {
        key: "--server",
        env: &["MICRO_SERVER"],
        usage: "the server plugin",
        slot: Slot::Server(|f| &mut f.server),
        check: |v| v.parse::<ServerKind>().map(drop),
    },
    Builtin {
        key: "--client",
        env: &["MICRO_CLIENT"],
        usage: "the client plugin: http, or grpc (calls over gRPC, h2c)",
        slot: Slot::Client(|f| &mut f.client),
        check: |v| v.parse::<ClientKind>().map(drop),
    },
    Builtin {
        key: "--client_request_timeout",
        env: &["MICRO_CLIENT_REQUEST_TIMEOUT"],
        usage: "a call's time budget outside any request (Go duration: 500ms, 5s, 1m)",
        slot: Slot::Time(|f| &mut f.client_request_timeout),
        check: |v| check_duration(v),
    },
    Builtin {
        key: "--client_retries",
        env: &["MICRO_CLIENT_RETRIES"],
        usage: "retries of a call that never reached the server (0: none)",
        slot: Slot::Count(|f| &mut f.client_retries),
        check: |v| check_count(v),
    },
    Builtin {
        key: "--client_namespace",
        env: &["MICRO_CLIENT_NAMESPACE", "POD_NAMESPACE"],
        usage: "namespace of :PORT targets: name.NS.svc.DOMAIN (empty: the pod's search list)",
        slot: Slot::One(|f| &mut f.client_namespace),
        check: |v| {
            if v.is_empty() {
                Ok(())
            } else {
                check_label(v).map_err(Error::Flag)
            }
        },
    },
    Builtin {
        key: "--client_cluster_domain",
        env: &["MICRO_CLIENT_CLUSTER_DOMAIN"],
        usage: "the cluster's DNS domain, for namespaced targets",
        slot: Slot::One(|f| &mut f.client_cluster_domain),
        check: |v| {
            v.trim_matches('.')
                .split('.')
                .try_for_each(|label| check_label(label).map_err(Error::Flag))
        },
    },
    Builtin {
        key: "--server_max_connections",
        env: &["MICRO_SERVER_MAX_CONNECTIONS"],
        usage: "most connections served at once, a thread each; at the cap the one waiting longest is closed",
        slot: Slot::Size(|f| &mut f.limits.max_connections),
        check: |v| check_cap(v),
    },
    Builtin {
        key: "--server_max_in_flight",
        env: &["MICRO_SERVER_MAX_IN_FLIGHT"],
        usage: "most requests in handlers at once; beyond it a fast 503",
        slot: Slot::Size(|f| &mut f.limits.max_in_flight),
        check: |v| check_cap(v),
    },
    Builtin {
        key: "--server_max_concurrent_streams",
        env: &["MICRO_SERVER_MAX_CONCURRENT_STREAMS"],
        usage: "most HTTP/2 streams open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS)",
        slot: Slot::Count(|f| &mut f.limits.max_concurrent_streams),
        check: |v| check_cap(v),
    },
    Builtin {
        key: "--server_idle_timeout",
        env: &["MICRO_SERVER_IDLE_TIMEOUT"],
        usage: "how long a kept-alive connection may sit idle (keep it above the sidecar's 1h)",
        slot: Slot::Time(|f| &mut f.limits.idle_timeout),
        check: |v| check_duration(v),
    },
    Builtin {
        key: "--shutdown_delay",
        env: &["MICRO_SHUTDOWN_DELAY"],
        usage: "on SIGTERM, how long readiness answers 503 before the listener closes",
        slot: Slot::Time(|f| &mut f.limits.shutdown_delay),
        check: |v| check_duration(v),
    },
    Builtin {
        key: "--shutdown_timeout",
        env: &["MICRO_SHUTDOWN_TIMEOUT"],
        usage: "then how long requests in flight may take to finish",
        slot: Slot::Time(|f| &mut f.limits.shutdown_timeout),
        check: |v| check_duration(v),
    },
    Builtin {
        key: "--log_level",
        env: &["MICRO_LOG_LEVEL"],
        usage: "off, error, warn, info (with the access log), debug or trace; TARGET=LEVEL too (access=off)",
        slot: Slot::One(|f| &mut f.log_level),
        check: |v| crate::logger::parse_spec(v).map(drop).map_err(Error::Flag),
    },
    Builtin {
        key: "--metrics_path",
        env: &["MICRO_METRICS_PATH"],
        usage: "where GET answers the Prometheus metrics, on the service port (empty: off)",
        slot: Slot::One(|f| &mut f.metrics_path),
        check: |v| check_metrics_path(v),
    },
];

/// A listen address: `HOST:PORT` as [`parse_host_port`] takes it, but port 0 is allowed too.
fn check_listen(addr: &str) -> Result<(), Error> {
    let port_zero_ok = |host: &str| parse_host_port(&format!("{host}:1")).is_ok();
    match parse_host_port(addr) {
        Err(_) if addr.strip_suffix(":0").is_some_and(port_zero_ok) => Ok(()),
        result => result.map(drop),
    }
}

/// A Go duration such as `500ms` or `5s`.
fn check_duration(value: &str) -> Result<(), Error> {
    duration::parse(value).map(drop).map_err(Error::Flag)
}

/// A whole number, at most 100.
fn check_count(value: &str) -> Result<(), Error> {
    match value.parse::<u32>() {
        Ok(n) if n <= 100 => Ok(()),
        _ => Err(Error::Flag(format!(
            "{value:?} is not a whole number from 0 to 100"
        ))),
    }
}

/// A cap on connections or requests: a whole number from 1 to 1,000,000.
fn check_cap(value: &str) -> Result<(), Error> {
    match value.parse::<u32>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(()),
        _ => Err(Error::Flag(format!(
            "{value:?} is not a whole number from 1 to 1000000"
        ))),
    }
}

/// A metrics path: empty (off), or an absolute path that is not a health path.
fn check_metrics_path(path: &str) -> Result<(), Error> {
    let fine = path.is_empty()
        || path.starts_with('/')
            && !path.contains(['?', '#', ' '])
            && !crate::health::HEALTH_PATHS.contains(&path);
    fine.then_some(()).ok_or_else(|| {
        Error::Flag(format!(
            "{path:?} is not an absolute path of its own (want e.g. /metrics)"
        ))
    })
}
