//! The router: from a parsed request to a handler's response, with the framework's errors.
//!
//! Both servers hand every request here, so routing, content types, panics and the error JSON
//! behave the same whichever server runs. No I/O happens here.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use crate::client::Client;
use crate::codec::{self, Codec};
use crate::error::Error;
use crate::handler::{Context, DuplexHandler, Handler, Request, Response};
use crate::metadata::{Metadata, parse_timeout};
use crate::stream::Source;

/// A route's handler and what it accepts.
pub(crate) struct Route {
    /// Allowed methods; `GET` also allows `HEAD`.
    pub methods: Vec<String>,
    /// The handler.
    pub handler: Box<dyn Handler>,
    /// The codecs a typed endpoint reads (chosen by `Content-Type`); `None` takes any body.
    pub accepts: Option<&'static [Codec]>,
    /// The codecs it reads over gRPC, whose framing carries any (a stream's NDJSON does not).
    pub grpc_accepts: Option<&'static [Codec]>,
    /// A client- or bidirectional-streaming endpoint's handler for a wire that streams the
    /// request (gRPC): opened at the call's head. `handler` serves the other wires.
    pub duplex: Option<Box<dyn DuplexHandler>>,
}

/// Routes requests of one service to its handlers. Built by [`Service`](crate::Service).
pub struct Router {
    name: String,
    /// The routes by id (their order of registration): ids index the metrics' labels.
    routes: Vec<(String, Route)>,
    ids: HashMap<String, usize>,
    client: Arc<dyn Client>,
    forward: Arc<[String]>,
}

impl Router {
    pub(crate) fn new(
        name: &str,
        routes: Vec<(String, Route)>,
        client: Arc<dyn Client>,
        forward: Vec<String>,
    ) -> Router {
        // A path registered twice keeps its last handler, as a map would.
        let ids = routes
            .iter()
            .enumerate()
            .map(|(id, (path, _))| (path.clone(), id))
            .collect();
        Router {
            name: name.to_string(),
            routes,
            ids,
            client,
            forward: forward.into(),
        }
    }

    /// The service name, used as the id of the framework's errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The error JSON response for `err`, named after this service when it has no id.
    pub fn error(&self, err: &Error) -> Response {
        Response::error(err, &self.name)
    }

    /// The id of the route serving `path`, if one does.
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        self.ids.get(path).copied()
    }

    /// The path of route `id`.
    pub(crate) fn path(&self, id: usize) -> Option<&str> {
        self.routes.get(id).map(|(path, _)| path.as_str())
    }

    /// Whether route `id` streams its request (a duplex endpoint).
    pub(crate) fn is_duplex(&self, id: usize) -> bool {
        self.routes
            .get(id)
            .is_some_and(|(_, route)| route.duplex.is_some())
    }

    /// The routes' paths, in id order: the bounded set of route labels.
    pub(crate) fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(path, _)| path.as_str())
    }

    /// Routes one request and returns what to send; never panics, whatever the handler does.
    pub fn dispatch(&self, metadata: Metadata, req: Request) -> Response {
        self.dispatch_to(self.find(&req.path), metadata, req, false, None)
    }

    /// [`dispatch`](Router::dispatch) to the route already found for `req.path`; `grpc` when
    /// the request came as a gRPC call; `source` its streamed messages when the route is a
    /// duplex one and the server streams the request (else the route's `Handler` gets the body).
    pub(crate) fn dispatch_to(
        &self,
        route: Option<usize>,
        metadata: Metadata,
        mut req: Request,
        grpc: bool,
        source: Option<Box<dyn Source>>,
    ) -> Response {
        let Some((_, route)) = route.and_then(|id| self.routes.get(id)) else {
            let what = match req.path.strip_prefix('/') {
                Some(endpoint) if is_endpoint(endpoint) => format!("unknown endpoint {endpoint}"),
                _ => format!("unknown path {}", req.path),
            };
            return self.error(&Error::not_found(what));
        };
        let head_as_get = req.method == "HEAD" && route.methods.iter().any(|m| m == "GET");
        if !head_as_get && !route.methods.contains(&req.method) {
            let allow = route.methods.join(", ");
            let err = Error::new(405, format!("method {} not allowed on {}", req.method, req.path));
            return self.error(&err).with_header("Allow", &allow);
        }
        if head_as_get {
            req.method = "GET".into();
        }
        if let Some(accepts) = if grpc { route.grpc_accepts } else { route.accepts }
            && let Err(err) = codec::select(metadata.get("content-type"), &req.path, accepts)
        {
            return self.error(&err);
        }
        let deadline = match metadata.get("timeout").map(parse_timeout) {
            None => None,
            Some(Ok(budget)) if budget.is_zero() => {
                return self.error(&Error::new(408, "deadline already spent (Timeout: 0)"));
            }
            Some(Ok(budget)) => Instant::now().checked_add(budget),
            Some(Err(err)) => return self.error(&err),
        };
        let ctx = Context::incoming(self.client.clone(), metadata, deadline, self.forward.clone());
        let call = || match (&route.duplex, source) {
            (Some(duplex), Some(source)) => duplex.open(&ctx, req, source),
            _ => route.handler.call(&ctx, req),
        };
        match catch_unwind(AssertUnwindSafe(call)) {
            Ok(Ok(resp)) => resp,
            Ok(Err(err)) => self.error(&err),
            Err(_panic) => {
                log::error!("{}: handler panicked", self.name);
                self.error(&Error::internal("handler panicked"))
            }
        }
    }
}

/// Whether `s` looks like `Service.Method`.
fn is_endpoint(s: &str) -> bool {
    s.contains('.') && !s.contains('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Call, Reply};
    use crate::typed::Unary;
    use serde::{Deserialize, Serialize};

    struct NoClient;
    impl Client for NoClient {
        fn call_raw(&self, _: &Call<'_>) -> Result<Reply, Error> {
            Err(Error::Unreachable("no client in tests".into()))
        }
    }

    #[derive(Deserialize)]
    struct Hello {
        name: String,
    }
    #[derive(Serialize)]
    struct Reply2 {
        msg: String,
    }

    fn router() -> Router {
        let mut routes = Vec::new();
        let hello = Unary::json(|_: &Context, q: Hello| {
            if q.name == "panic" {
                panic!("secret panic text");
            }
            if q.name.is_empty() {
                return Err(Error::bad_request("name is empty"));
            }
            Ok(Reply2 {
                msg: format!("Hello {}", q.name),
            })
        });
        let accepts = Some(hello.codecs());
        routes.push((
            "/Example.Call".into(),
            Route {
                methods: vec!["POST".into()],
                handler: Box::new(hello),
                accepts,
                grpc_accepts: accepts,
                duplex: None,
            },
        ));
        let api = |_: &Context, req: Request| {
            Ok(Response::bytes("text/plain", req.query_param("name").unwrap_or_default()).with_status(201))
        };
        routes.push((
            "/example/call".into(),
            Route {
                methods: vec!["GET".into(), "POST".into()],
                handler: Box::new(api),
                accepts: None,
                grpc_accepts: None,
                duplex: None,
            },
        ));
        Router::new("go.micro.srv.sample", routes, Arc::new(NoClient), Vec::new())
    }

    fn check(method: &str, path: &str, ct: Option<&str>, body: &str, status: u16, needle: &str) -> Response {
        let mut md = Metadata::new();
        if let Some(ct) = ct {
            md.insert("content-type", ct);
        }
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let req = Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            body: body.into(),
            peer: None,
        };
        let resp = router().dispatch(md, req);
        let text = String::from_utf8_lossy(resp.body.bytes()).into_owned();
        assert_eq!(resp.status, status, "{method} {path}: {text}");
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
        resp
    }

    #[test]
    fn rpc_call_and_errors() {
        check(
            "POST",
            "/Example.Call",
            None,
            r#"{"name":"Hobo"}"#,
            200,
            r#"{"msg":"Hello Hobo"}"#,
        );
        check(
            "POST",
            "/Example.Call",
            Some("application/json; charset=utf-8"),
            r#"{"name":"Hobo"}"#,
            200,
            "Hello Hobo",
        );
        check("POST", "/Example.Call", None, "", 400, "missing field");
        check(
            "POST",
            "/Example.Call",
            None,
            "{",
            400,
            r#""status":"Bad Request""#,
        );
        check(
            "POST",
            "/Example.Call",
            None,
            r#"{"name":""}"#,
            400,
            "name is empty",
        );
        check(
            "POST",
            "/Example.Nope",
            None,
            "{}",
            404,
            "unknown endpoint Example.Nope",
        );
        check("GET", "/nope", None, "", 404, "unknown path /nope");
        check(
            "POST",
            "/Example.Call",
            Some("text/plain"),
            "x",
            415,
            r#"unsupported content type \"text/plain\" for /Example.Call (it takes application/json)"#,
        );
    }

    #[test]
    fn wrong_method_gets_405_with_allow() {
        let resp = check("GET", "/Example.Call", None, "", 405, "method GET not allowed");
        assert_eq!(resp.header("allow"), Some("POST"));
        let resp = check("PUT", "/example/call", None, "", 405, "not allowed");
        assert_eq!(resp.header("allow"), Some("GET, POST"));
    }

    #[test]
    fn api_route_answers_as_written_and_head_works_like_get() {
        check("GET", "/example/call?name=Hobo", None, "", 201, "Hobo");
        check("HEAD", "/example/call?name=Hobo", None, "", 201, "Hobo");
    }

    #[test]
    fn panics_become_500_without_the_panic_text() {
        let resp = check(
            "POST",
            "/Example.Call",
            None,
            r#"{"name":"panic"}"#,
            500,
            "handler panicked",
        );
        assert!(!String::from_utf8_lossy(resp.body.bytes()).contains("secret"));
    }

    #[test]
    fn spent_or_malformed_budgets_never_run_the_handler() {
        let dispatch = |timeout: &str| {
            let md: Metadata = [("Timeout", timeout)].into_iter().collect();
            let req = Request {
                method: "POST".into(),
                path: "/Example.Call".into(),
                body: br#"{"name":"panic"}"#.to_vec(),
                ..Request::default()
            };
            router().dispatch(md, req)
        };
        // The handler would panic (500): these never reach it.
        assert_eq!(dispatch("0").status, 408);
        assert_eq!(dispatch("soon").status, 400);
        assert_eq!(dispatch("1000000000").status, 500);
    }
}
