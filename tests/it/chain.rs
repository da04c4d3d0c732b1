//! The seed's chain in one process: a caller -> api (`/example/call`) -> srv (`Example.Call`).

use micro_mesh::{Caller, Context, Error, Request, Response, Service, ServiceHandle};

use crate::support::{API, Http, SRV, api, check, check_error, exchange, request, sample, servers, stop};

/// The full chain answers `Hello Hobo` for a GET with a query and for a POST with JSON.
#[test]
fn chain_get_and_post_reach_srv() {
    for &server in servers() {
        let srv = sample(server);
        let api = api(server, &srv);
        let mut conn = Http::connect(server, api.addr());
        conn.send(request("GET", "/example/call?name=Hobo", &[], ""));
        let resp = conn.read();
        check(&resp, 200, r#"{"msg":"Hello Hobo"}"#);
        assert_eq!(resp.header("content-type"), Some("application/json"), "{resp:?}");
        let post = request(
            "POST",
            "/example/call",
            &["Content-Type: application/json"],
            r#"{"name":"Ho bo"}"#,
        );
        conn.send(post);
        check(&conn.read(), 200, r#"{"msg":"Hello Ho bo"}"#);
        conn.send(request("GET", "/example/call?name=Ho%20b%C3%B6+x", &[], ""));
        check(&conn.read(), 200, r#"{"msg":"Hello Ho bö x"}"#);
        stop(server, api);
        stop(server, srv);
    }
}

/// An error srv returns reaches api's caller with srv's id, code and detail, and status = code.
#[test]
fn chain_srv_error_reaches_the_caller() {
    for &server in servers() {
        let srv = sample(server);
        let api = api(server, &srv);
        let resp = exchange(
            server,
            api.addr(),
            &request("GET", "/example/call?name=", &[], ""),
        );
        check_error(&resp, 400, SRV, "name must not be empty");
        let resp = exchange(server, api.addr(), &request("POST", "/example/call", &[], "{}"));
        check_error(&resp, 400, SRV, "name must not be empty");
        stop(server, api);
        stop(server, srv);
    }
}

/// api's own errors carry api's id: malformed JSON to the api path, an unreachable srv.
#[test]
fn chain_api_errors_name_the_api_or_the_client() {
    for &server in servers() {
        let srv = sample(server);
        let api = api(server, &srv);
        let resp = exchange(server, api.addr(), &request("POST", "/example/call", &[], "{"));
        check_error(&resp, 400, API, "");
        let resp = exchange(server, api.addr(), &request("DELETE", "/example/call", &[], ""));
        let wire = check_error(&resp, 405, API, "DELETE");
        assert_eq!(resp.header("allow"), Some("GET, POST"), "{wire:?}");
        stop(server, srv);
        let resp = exchange(
            server,
            api.addr(),
            &request("GET", "/example/call?name=x", &[], ""),
        );
        check_error(&resp, 503, micro_mesh::CLIENT_ID, "go-micro-srv-sample:");
        stop(server, api);
    }
}

/// A front for `srv` whose `GET /headers` returns the headers srv saw on its call.
fn header_front(server: &str, srv: &ServiceHandle, forward: &[&str]) -> ServiceHandle {
    let port = srv.addr().port();
    let mut front = Service::new(API)
        .server_name(server)
        .address("127.0.0.1:0")
        .call_address(&format!(":{port}"))
        .resolve(&format!("go-micro-srv-sample:{port}={}", srv.addr()))
        .api(
            "/headers",
            &["GET"],
            |ctx: &Context, _: Request| -> Result<Response, Error> {
                let seen: serde_json::Value = ctx.call(SRV, "Echo.Headers", &serde_json::json!({}))?;
                Response::json(&seen)
            },
        );
    for name in forward {
        front = front.forward_header(name);
    }
    front.start().unwrap_or_else(|e| panic!("[{server}] start: {e}"))
}

/// The headers srv saw when `front` called it for a `GET /headers` with `extra` headers.
fn seen_by_srv(server: &str, front: &ServiceHandle, extra: &[&str]) -> serde_json::Value {
    let resp = exchange(server, front.addr(), &request("GET", "/headers", extra, ""));
    check(&resp, 200, "");
    serde_json::from_slice(&resp.body).expect("json")
}

/// Trace headers reach srv through api's `ctx.call`, other headers only when opted in by name
/// (protocol.md section 5).
#[test]
fn chain_forwards_trace_headers_and_opted_in_ones() {
    let sent = [
        "X-Request-Id: rid-1",
        "B3: 1-2-1",
        "Traceparent: ",
        "Authorization: Bearer secret",
        "Connection: keep-alive",
    ];
    for &server in servers() {
        let srv = sample(server);
        let front = header_front(server, &srv, &[]);
        let seen = seen_by_srv(server, &front, &sent);
        assert_eq!(seen["x-request-id"], "rid-1", "[{server}] {seen}");
        assert_eq!(seen["b3"], "1-2-1", "[{server}] {seen}");
        assert!(
            seen.get("traceparent").is_none(),
            "[{server}] empty value forwarded: {seen}"
        );
        assert!(seen.get("authorization").is_none(), "[{server}] {seen}");
        stop(server, front);

        let front = header_front(server, &srv, &["Authorization"]);
        let seen = seen_by_srv(server, &front, &sent);
        assert_eq!(seen["authorization"], "Bearer secret", "[{server}] {seen}");
        assert_eq!(seen["x-request-id"], "rid-1", "[{server}] {seen}");
        stop(server, front);
        stop(server, srv);
    }
}

/// api's outbound call carries only what remains of the incoming `Timeout` (protocol.md section 2).
#[test]
fn chain_outbound_timeout_is_the_remaining_budget() {
    for &server in servers() {
        let srv = sample(server);
        let front = header_front(server, &srv, &[]);
        let seen = seen_by_srv(server, &front, &["Timeout: 2000000000"]);
        let sent: u64 = seen["timeout"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(u64::MAX);
        assert!(
            (1_000_000_000..=2_000_000_000).contains(&sent),
            "[{server}] srv saw Timeout {sent} for an incoming budget of 2 s: {seen}"
        );
        stop(server, front);
        stop(server, srv);
    }
}
