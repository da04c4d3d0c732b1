//! gRPC paths (protocol.md section 9): `/<prefix.>Service/Method` names endpoint
//! `Service.Method` on a server, and a client turns a service name and an endpoint into a path.

use crate::error::{CLIENT_ID, Error};

/// A request path, split: the service as the caller spelled it (package included) and the method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrpcPath<'a> {
    /// The full service name, such as `go.micro.srv.sample.Example` or `grpc.health.v1.Health`.
    pub service: &'a str,
    /// The method, such as `Call`.
    pub method: &'a str,
}

impl<'a> GrpcPath<'a> {
    /// Splits a `:path`. Malformed (no leading `/`, not exactly two parts, an empty part or an
    /// empty dot-separated segment, a `.` in the method, bytes outside printable ASCII): a 400
    /// (`INVALID_ARGUMENT`).
    pub fn parse(path: &'a str) -> Result<GrpcPath<'a>, Error> {
        let bad = |why: &str| Error::bad_request(format!("malformed grpc path {path:?}: {why}"));
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("want printable ASCII"));
        }
        let Some((service, method)) = path.strip_prefix('/').and_then(|p| p.split_once('/')) else {
            return Err(bad("want /Service/Method"));
        };
        if method.contains('/') {
            return Err(bad("want exactly two parts"));
        }
        if service.is_empty() || service.split('.').any(str::is_empty) {
            return Err(bad("empty service name or segment"));
        }
        if method.is_empty() || method.contains('.') {
            return Err(bad("want a method name without dots"));
        }
        Ok(GrpcPath { service, method })
    }

    /// The service's last dot-separated segment, the only one that names it: `Example` for
    /// `go.micro.srv.sample.Example`, `example.Example` and `Example`.
    pub fn short_service(&self) -> &'a str {
        self.service.rsplit('.').next().unwrap_or(self.service)
    }

    /// The go-micro endpoint this path reaches: `Service.Method`.
    pub fn endpoint(&self) -> String {
        format!("{}.{}", self.short_service(), self.method)
    }
}

/// The server's rule in one call: the endpoint a `:path` reaches (`/example.Example/Call` →
/// `Example.Call`), or the 400 for a malformed one.
pub fn endpoint(path: &str) -> Result<String, Error> {
    GrpcPath::parse(path).map(|p| p.endpoint())
}

/// The path a client sends for `endpoint` (`Handler.Method`) of `service` (a go-micro name, or
/// empty): `go.micro.srv.sample` + `Example.Call` → `/go.micro.srv.sample.Example/Call`. An
/// endpoint that is not `Handler.Method`, or a path the server would refuse, is a client error
/// (400, nothing sent).
pub fn client_path(service: &str, endpoint: &str) -> Result<String, Error> {
    let bad = || {
        Error::with_id(
            CLIENT_ID,
            400,
            format!(
                "cannot make a grpc path of service {service:?} and endpoint {endpoint:?} (want Handler.Method)"
            ),
        )
    };
    let (handler, method) = endpoint.split_once('.').ok_or_else(bad)?;
    let path = match service {
        "" => format!("/{handler}/{method}"),
        service => format!("/{service}.{handler}/{method}"),
    };
    // The server's parser is the judge: what it refuses is never sent.
    match GrpcPath::parse(&path) {
        Ok(parsed) if parsed.endpoint() == endpoint => Ok(path),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_client_styles_reach_the_same_endpoint() {
        for path in [
            "/go.micro.srv.sample.Example/Call",
            "/example.Example/Call",
            "/pkg.Example/Call",
            "/Example/Call",
        ] {
            assert_eq!(endpoint(path).unwrap(), "Example.Call", "{path}");
        }
    }

    #[test]
    fn the_full_service_name_stays_available() {
        let path = GrpcPath::parse("/grpc.health.v1.Health/Check").unwrap();
        assert_eq!((path.service, path.method), ("grpc.health.v1.Health", "Check"));
        assert_eq!(path.short_service(), "Health");
    }

    #[test]
    fn malformed_paths_are_400() {
        for bad in [
            "",
            "/",
            "Example/Call",
            "/Example",
            "/Example/",
            "//Call",
            "/Example/Call/",
            "/a/Example/Call",
            "/Example//Call",
            "/pkg..Example/Call",
            "/.Example/Call",
            "/pkg./Call",
            "/Example/Ca.ll",
            "/Exa mple/Call",
            "/Example/Call\n",
            "/Exampl\u{e9}/Call",
            "/Example/\u{7f}",
        ] {
            assert_eq!(endpoint(bad).unwrap_err().status(), 400, "{bad:?}");
        }
    }

    #[test]
    fn client_paths_prefix_the_service_name() {
        assert_eq!(
            client_path("go.micro.srv.sample", "Example.Call").unwrap(),
            "/go.micro.srv.sample.Example/Call"
        );
        assert_eq!(client_path("", "Example.Call").unwrap(), "/Example/Call");
    }

    #[test]
    fn client_paths_round_trip_through_the_server_rule() {
        let path = client_path("go.micro.srv.sample", "Example.Stream").unwrap();
        assert_eq!(endpoint(&path).unwrap(), "Example.Stream");
    }

    #[test]
    fn client_paths_refuse_what_the_server_would() {
        for (service, endpoint) in [
            ("svc", "Call"),
            ("svc", "Example.Call.More"),
            ("svc", ".Call"),
            ("svc", "Example."),
            ("bad name", "Example.Call"),
            ("svc/x", "Example.Call"),
            ("svc.", "Example.Call"),
        ] {
            let err = client_path(service, endpoint).unwrap_err();
            assert_eq!(
                (err.status(), err.id()),
                (400, CLIENT_ID),
                "{service:?} {endpoint:?}"
            );
        }
    }
}
