//! The name-to-DNS rule: from a service name and a call address to the `host:port` to call.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;

use crate::error::Error;

/// Where a call goes: the host and port that make up the URL and the `Host` header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// A DNS name or an IP literal (IPv6 without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Applies the rule of protocol.md section 1.
///
/// `:PORT` means "the service name with `.` replaced by `-`, lowercased, plus this port"
/// (`go.micro.srv.sample` + `:9080` gives `go-micro-srv-sample:9080`); any other address is a
/// fixed `host:port`. An empty address, a bad port or a name that is not a DNS-1123 label is an
/// [`Error::Address`] naming the service, raised before any traffic.
pub fn target(service: &str, call_address: &str) -> Result<Target, Error> {
    let call_address = call_address.trim();
    if call_address.is_empty() {
        return Err(Error::Address(format!(
            "empty call address for service {service:?} (want :PORT or HOST:PORT)"
        )));
    }
    if let Some(port) = call_address.strip_prefix(':') {
        let port = parse_port(port, call_address)?;
        let host = service.replace('.', "-").to_ascii_lowercase();
        check_label(&host)
            .map_err(|why| Error::Address(format!("service {service:?} maps to {host:?}, {why}")))?;
        return Ok(Target { host, port });
    }
    parse_host_port(call_address)
}

/// The name rule with a namespace: `:PORT` targets become `name.NS.svc.CLUSTER_DOMAIN`, so the
/// call reaches the service in namespace `NS` whatever the caller's own namespace. Without a
/// namespace, or for fixed addresses, this is [`target`].
pub fn target_in(
    service: &str,
    call_address: &str,
    namespace: Option<&str>,
    cluster_domain: &str,
) -> Result<Target, Error> {
    let mut target = target(service, call_address)?;
    let Some(ns) = namespace.filter(|ns| !ns.is_empty()) else {
        return Ok(target);
    };
    if !call_address.trim().starts_with(':') {
        return Ok(target);
    }
    check_label(ns).map_err(|why| Error::Address(format!("namespace {ns:?}: {why}")))?;
    let domain = cluster_domain.trim_matches('.');
    for label in domain.split('.') {
        check_label(label)
            .map_err(|why| Error::Address(format!("cluster domain {cluster_domain:?}: {why}")))?;
    }
    target.host = format!("{}.{ns}.svc.{domain}", target.host);
    Ok(target)
}

/// Splits a fixed `HOST:PORT` (or `[V6]:PORT`) address.
pub fn parse_host_port(addr: &str) -> Result<Target, Error> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| Error::Address(format!("{addr:?} has no port (want HOST:PORT)")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(Error::Address(format!("{addr:?} has no host")));
    }
    let port = parse_port(port, addr)?;
    Ok(Target {
        host: host.to_ascii_lowercase(),
        port,
    })
}

fn parse_port(port: &str, whole: &str) -> Result<u16, Error> {
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(Error::Address(format!("{whole:?} has a bad port {port:?}"))),
    }
}

/// Checks a DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 63 {
        return Err(format!("not a DNS-1123 label: length {} (1 to 63)", label.len()));
    }
    let ok_char = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-';
    let bytes = label.as_bytes();
    if !bytes.iter().all(|&c| ok_char(c)) {
        return Err("not a DNS-1123 label: only a-z, 0-9 and '-' allowed".into());
    }
    if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return Err("not a DNS-1123 label: must start and end with a letter or digit".into());
    }
    Ok(())
}

/// The override map `HOST:PORT=ADDR:PORT`: connect to `ADDR:PORT`, still send `Host: HOST:PORT`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    map: HashMap<String, SocketAddr>,
}

impl Overrides {
    /// An empty map.
    pub fn new() -> Overrides {
        Overrides::default()
    }

    /// Parses entries such as `go-micro-srv-sample:9080=127.0.0.1:18080`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Overrides, Error> {
        let mut out = Overrides::new();
        for entry in entries {
            out.add_entry(entry.as_ref())?;
        }
        Ok(out)
    }

    /// Parses and adds one `HOST:PORT=ADDR:PORT` entry.
    pub fn add_entry(&mut self, entry: &str) -> Result<(), Error> {
        let bad = |why: &str| Error::Address(format!("bad --resolve entry {entry:?}: {why}"));
        let (from, to) = entry
            .split_once('=')
            .ok_or_else(|| bad("want HOST:PORT=ADDR:PORT"))?;
        let from = parse_host_port(from.trim()).map_err(|e| bad(&e.to_string()))?;
        let to: SocketAddr = to
            .trim()
            .parse()
            .map_err(|_| bad("ADDR:PORT must be an IP and a port"))?;
        self.map.insert(from.to_string(), to);
        Ok(())
    }

    /// Adds an override from a target to an address.
    pub fn insert(&mut self, target: &Target, addr: SocketAddr) {
        self.map.insert(target.to_string(), addr);
    }

    /// Where to connect instead of `host_port`, if anywhere.
    pub fn get(&self, host_port: &str) -> Option<SocketAddr> {
        self.map.get(host_port).copied()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(service: &str, addr: &str, want: &str) {
        assert_eq!(
            target(service, addr).unwrap().to_string(),
            want,
            "{service} + {addr}"
        );
    }

    #[test]
    fn colon_port_maps_the_service_name() {
        check("go.micro.srv.sample", ":9080", "go-micro-srv-sample:9080");
        check("go.micro.api.sample", ":80", "go-micro-api-sample:80");
        check("Go.Micro.SRV", ":1", "go-micro-srv:1");
    }

    #[test]
    fn fixed_addresses_are_kept() {
        check("go.micro.srv.sample", "127.0.0.1:8082", "127.0.0.1:8082");
        check(
            "x",
            "srv.other.svc.cluster.local:9080",
            "srv.other.svc.cluster.local:9080",
        );
        check("x", "[::1]:9080", "[::1]:9080");
    }

    #[test]
    fn bad_addresses_are_clear_errors() {
        for (service, addr, needle) in [
            ("svc", "", "empty call address"),
            ("svc", "  ", "empty call address"),
            ("svc", ":http", "bad port"),
            ("svc", ":0", "bad port"),
            ("svc", ":70000", "bad port"),
            ("svc", "host", "no port"),
            ("svc", ":", "bad port"),
            ("go_micro.srv", ":9080", "go_micro.srv"),
            ("-svc", ":9080", "start and end"),
            (&"a".repeat(64), ":9080", "length 64"),
        ] {
            let err = target(service, addr).unwrap_err();
            assert!(matches!(err, Error::Address(_)), "{err}");
            assert!(err.to_string().contains(needle), "{err:?} lacks {needle:?}");
        }
    }

    #[test]
    fn namespaces_make_fully_qualified_names() {
        let t = target_in("go.micro.srv.sample", ":9080", Some("team-b"), "cluster.local").unwrap();
        assert_eq!(t.to_string(), "go-micro-srv-sample.team-b.svc.cluster.local:9080");
        let t = target_in("go.micro.srv.sample", ":9080", None, "cluster.local").unwrap();
        assert_eq!(t.to_string(), "go-micro-srv-sample:9080");
        let t = target_in(
            "go.micro.srv.sample",
            "10.0.0.1:80",
            Some("team-b"),
            "cluster.local",
        )
        .unwrap();
        assert_eq!(
            t.to_string(),
            "10.0.0.1:80",
            "fixed addresses ignore the namespace"
        );
        let t = target_in("svc", ":1", Some("ns"), "corp.example.").unwrap();
        assert_eq!(t.host, "svc.ns.svc.corp.example");
        assert!(target_in("svc", ":1", Some("Team_B"), "cluster.local").is_err());
        assert!(target_in("svc", ":1", Some("ns"), "bad..domain").is_err());
    }

    #[test]
    fn overrides_parse_and_look_up() {
        let o = Overrides::parse(&["go-micro-srv-sample:9080=127.0.0.1:18080"]).unwrap();
        assert_eq!(
            o.get("go-micro-srv-sample:9080"),
            Some("127.0.0.1:18080".parse().unwrap())
        );
        assert_eq!(o.get("go-micro-srv-sample:9081"), None);
        for bad in ["nohost", "a:1=b", "a:1=localhost:80", "a=127.0.0.1:1"] {
            assert!(Overrides::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
