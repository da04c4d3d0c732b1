//! The client side: typed calls, error decoding, the headers a call sends, address errors.

use std::collections::BTreeMap;
use std::time::Duration;

use micro_mesh::{CLIENT_ID, CallOptions, Caller, Client, Error, HttpClient};

use crate::support::{Hello, Reply, SRV, api, check_err, client_to, closed_addr, sample, servers, stop};

fn hello(name: &str) -> Hello {
    Hello { name: name.into() }
}

/// A typed call works through `&dyn Client`, built directly or taken from `ServiceHandle::client()`.
#[test]
fn typed_call_through_dyn_client() {
    for &server in servers() {
        let srv = sample(server);
        let port = srv.addr().port();
        let built = HttpClient::builder()
            .call_address(&format!(":{port}"))
            .resolve(&format!("go-micro-srv-sample:{port}={}", srv.addr()))
            .expect("override")
            .build();
        let client: &dyn Client = &built;
        let reply: Reply = client.call(SRV, "Example.Call", &hello("Hobo")).expect(server);
        assert_eq!(reply.msg, "Hello Hobo", "[{server}]");
        // The api service's own client is configured with the same `:PORT` rule and override.
        let front = api(server, &srv);
        let reply: Reply = front
            .client()
            .call(SRV, "Example.Call", &hello("Api"))
            .expect(server);
        assert_eq!(reply.msg, "Hello Api", "[{server}]");
        let ctx = front.context();
        let reply: Reply = ctx.call(SRV, "Example.Call", &hello("Ctx")).expect(server);
        assert_eq!(reply.msg, "Hello Ctx", "[{server}]");
        stop(server, front);
        stop(server, srv);
    }
}

/// A non-2xx reply becomes an `Error` with the server's id, code, detail and reason phrase.
#[test]
fn non_2xx_reply_decodes_into_error() {
    for &server in servers() {
        let srv = sample(server);
        let client = client_to(srv.addr());
        let client: &dyn Client = &client;
        let err = client
            .call::<_, Reply>(SRV, "Example.Call", &hello(""))
            .unwrap_err();
        check_err(server, &err, SRV, 400, "name must not be empty");
        assert_eq!(err.wire("x").detail, "name must not be empty", "[{server}]");
        let err = client
            .call::<_, Reply>(SRV, "Example.Nope", &hello("x"))
            .unwrap_err();
        check_err(server, &err, SRV, 404, "unknown endpoint Example.Nope");
        let err = client
            .call::<_, Reply>(SRV, "Example.Panic", &hello("x"))
            .unwrap_err();
        check_err(server, &err, SRV, 500, "");
        assert!(!err.to_string().contains("secret"), "[{server}] {err}");
        stop(server, srv);
    }
}

/// A non-JSON error body becomes the detail, with the HTTP status as the code.
#[test]
fn non_json_error_body_becomes_the_detail() {
    for &server in servers() {
        let srv = sample(server);
        let client = client_to(srv.addr());
        let client: &dyn Client = &client;
        let err = client
            .call::<_, Reply>(SRV, "Example.Boom", &hello("x"))
            .unwrap_err();
        let wire = err.wire("x");
        assert_eq!(
            (
                wire.id.as_str(),
                wire.code,
                wire.detail.as_str(),
                wire.status.as_str()
            ),
            ("x", 502, "boom", "Bad Gateway"),
            "[{server}] {err:?}"
        );
        stop(server, srv);
    }
}

/// A call sends `Timeout` in nanoseconds, JSON content type, metadata, and `Host` as the name rule
/// gives it even when the override connects elsewhere.
#[test]
fn client_sends_timeout_content_type_and_host() {
    for &server in servers() {
        let srv = sample(server);
        let port = srv.addr().port();
        let client = HttpClient::builder()
            .call_address(&format!(":{port}"))
            .resolve(&format!("go-micro-srv-sample:{port}={}", srv.addr()))
            .expect("override")
            .build();
        let client: &dyn Client = &client;
        let seen: BTreeMap<String, String> = client.call(SRV, "Echo.Headers", &hello("x")).expect(server);
        let want_host = format!("go-micro-srv-sample:{port}");
        assert_eq!(seen.get("host"), Some(&want_host), "[{server}] {seen:?}");
        assert_eq!(
            seen.get("timeout").map(String::as_str),
            Some("5000000000"),
            "[{server}] {seen:?}"
        );
        let ct = seen.get("content-type").map(String::as_str);
        assert_eq!(ct, Some("application/json"), "[{server}] {seen:?}");

        let options = CallOptions::default()
            .with_timeout(Duration::from_millis(250))
            .with_metadata("X-Request-Id", "abc-123")
            .with_metadata("Timeout", "1")
            .with_metadata("Host", "evil:1");
        let seen: BTreeMap<String, String> = client
            .call_with(SRV, "Echo.Headers", &hello("x"), &options)
            .expect(server);
        assert_eq!(
            seen.get("timeout").map(String::as_str),
            Some("250000000"),
            "[{server}] {seen:?}"
        );
        assert_eq!(
            seen.get("x-request-id").map(String::as_str),
            Some("abc-123"),
            "[{server}] {seen:?}"
        );
        assert_eq!(seen.get("host"), Some(&want_host), "[{server}] {seen:?}");
        stop(server, srv);
    }
}

/// `CallOptions::address` overrides the client's call address for one call.
#[test]
fn per_call_address_overrides_the_default() {
    for &server in servers() {
        let srv = sample(server);
        let client = HttpClient::builder()
            .call_address(&closed_addr().to_string())
            .build();
        let client: &dyn Client = &client;
        let options = CallOptions {
            address: Some(srv.addr().to_string()),
            ..CallOptions::default()
        };
        let reply: Reply = client
            .call_with(SRV, "Example.Call", &hello("Opt"), &options)
            .expect(server);
        assert_eq!(reply.msg, "Hello Opt", "[{server}]");
        stop(server, srv);
    }
}

/// An empty call address is an `Error::Address` raised before any traffic.
#[test]
fn empty_call_address_is_an_address_error() {
    let client = HttpClient::builder().call_address("").build();
    let client: &dyn Client = &client;
    let err = client
        .call::<_, Reply>(SRV, "Example.Call", &hello("x"))
        .unwrap_err();
    assert!(matches!(err, Error::Address(_)), "{err:?}");
    assert!(err.to_string().contains(SRV), "{err}");
    assert_eq!(err.wire("x").id, CLIENT_ID, "{err:?}");
}

/// A service name that is no DNS-1123 label under the `:PORT` rule is an `Error::Address`, raised
/// before any connection: an override points the would-be name at a listener that sees nothing.
#[test]
fn bad_service_name_is_an_address_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let client = HttpClient::builder()
        .call_address(&format!(":{}", addr.port()))
        .resolve(&format!("go_micro-srv:{}={addr}", addr.port()))
        .expect("override")
        .build();
    let client: &dyn Client = &client;
    let err = client
        .call::<_, Reply>("go_micro.srv", "Example.Call", &hello("x"))
        .unwrap_err();
    assert!(matches!(err, Error::Address(_)), "{err:?}");
    assert!(err.to_string().contains("go_micro.srv"), "{err}");
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the bad name was called: {accepted:?}"
    );
}

/// A refused connection is a 503 from `go.micro.client`.
#[test]
fn refused_connection_is_503_from_the_client() {
    let addr = closed_addr();
    let client = client_to(addr);
    let client: &dyn Client = &client;
    let err = client
        .call::<_, Reply>(SRV, "Example.Call", &hello("x"))
        .unwrap_err();
    check_err("client", &err, CLIENT_ID, 503, &addr.to_string());
    assert!(matches!(err, Error::Unreachable(_)), "{err:?}");
}

/// A peer that does not answer within the call's budget gives the caller a 408 from `go.micro.client`.
#[test]
fn call_over_budget_is_408_from_the_client() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Never accepted: the kernel completes the handshake, and nobody ever answers.
    let client = client_to(addr);
    let client: &dyn Client = &client;
    let options = CallOptions {
        timeout: Some(Duration::from_millis(200)),
        ..CallOptions::default()
    };
    let started = std::time::Instant::now();
    let err = client
        .call_with::<_, Reply>(SRV, "Example.Call", &hello("x"), &options)
        .unwrap_err();
    check_err("client", &err, CLIENT_ID, 408, "");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    drop(listener);
}
