//! The test kit as a user writes it, and go-api compatible API handlers.

use std::net::TcpStream;

use micro_mesh::testing::Mesh;
use micro_mesh::{ApiRequest, ApiResponse, Caller, Context, Error, Service};

use crate::support::{Hello, Reply, api_example_call, example_call};

/// A two-service chain test in about ten lines: srv and api reach each other by mesh name.
#[test]
fn a_users_two_service_chain_test() -> Result<(), Error> {
    let mesh = Mesh::new()
        .service(Service::new("go.micro.srv.sample").rpc("Example.Call", example_call))
        .service(Service::new("go.micro.api.sample").api("/example/call", &["GET", "POST"], api_example_call))
        .start()?;
    let reply = mesh.get("go.micro.api.sample", "/example/call?name=Hobo")?;
    assert_eq!(reply.body, br#"{"msg":"Hello Hobo"}"#);
    let direct: Reply = mesh.call(
        "go.micro.srv.sample",
        "Example.Call",
        &Hello { name: "Kit".into() },
    )?;
    assert_eq!(direct.msg, "Hello Kit");
    mesh.stop()
}

/// Dropping the mesh stops every service: their ports stop answering.
#[test]
fn dropping_the_mesh_stops_every_service() {
    let mesh = Mesh::new()
        .service(Service::new("go.micro.srv.sample").rpc("Example.Call", example_call))
        .start()
        .unwrap();
    let addr = mesh.addr("go.micro.srv.sample").unwrap();
    assert!(TcpStream::connect(addr).is_ok());
    drop(mesh);
    assert!(TcpStream::connect(addr).is_err(), "still listening after drop");
}

/// A handler ported from go-api sees `go.api.Request` and its `go.api.Response` is applied.
#[test]
fn go_api_handlers_see_the_go_shape_and_their_response_is_applied() {
    let ported = |ctx: &Context, req: ApiRequest| -> Result<ApiResponse, Error> {
        let name = match req.method.as_str() {
            "GET" => req
                .get
                .get("name")
                .and_then(|p| p.values.first())
                .cloned()
                .unwrap_or_default(),
            _ => req
                .post
                .get("name")
                .and_then(|p| p.values.first())
                .cloned()
                .unwrap_or_default(),
        };
        let reply: Reply = ctx.call("go.micro.srv.sample", "Example.Call", &Hello { name })?;
        let forwarded = req
            .header
            .get("X-Forwarded-For")
            .map(|p| p.values.join(","))
            .unwrap_or_default();
        let mut resp = ApiResponse::json(format!(
            r#"{{"msg":"{}","xff":"{forwarded}","url":"{}"}}"#,
            reply.msg, req.url
        ));
        resp.status_code = 201;
        Ok(resp)
    };
    let mesh = Mesh::new()
        .service(Service::new("go.micro.srv.sample").rpc("Example.Call", example_call))
        .service(Service::new("go.micro.api.sample").api_go("/example/call", &["GET", "POST"], ported))
        .start()
        .unwrap();
    let api = mesh.addr("go.micro.api.sample").unwrap();
    let resp = crate::support::exchange(
        "go-api",
        api,
        "GET /example/call?name=Hobo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n",
    );
    crate::support::check(
        &resp,
        201,
        r#""msg":"Hello Hobo","xff":"10.1.2.3,127.0.0.1","url":"/example/call?name=Hobo""#,
    );
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let form = "name=Form+Hobo";
    let raw = format!(
        "POST /example/call HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    crate::support::check(
        &crate::support::exchange("go-api", api, &raw),
        201,
        "Hello Form Hobo",
    );
    mesh.stop().unwrap();
}
