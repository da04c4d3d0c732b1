//! The protobuf codec (protocol.md section 10) through the public API, on both servers: raw
//! protobuf requests, the same endpoints over JSON, the 415s, `Caller::call_proto`, and the srv
//! example answering the bytes a go-micro client sends.

use micro_mesh::{CallOptions, Caller, Context, Error, Request, Response, Service, ServiceHandle};
use prost::Message;

use crate::examples::{spawn, wait_listening};
use crate::pb::{Count, Hello, Reply, template};
use crate::support::{
    Http, Resp, SRV, check, check_err, check_error, client_to, example_call, exchange, free_port, rpc,
    servers, stop,
};

/// What a go-micro client sends for `Request{name: "Hobo"}`: field 1, length-delimited, 4 bytes.
const HOBO: [u8; 6] = [0x0a, 0x04, 0x48, 0x6f, 0x62, 0x6f];

/// What the template's `Example.Call` answers to it: `Response{msg: "Hello Hobo"}`.
const HELLO_HOBO: [u8; 12] = [
    0x0a, 0x0a, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x48, 0x6f, 0x62, 0x6f,
];

/// The go-micro plugin's protobuf content types, each answered in kind.
const PROTO_TYPES: [&str; 3] = [
    "application/proto",
    "application/protobuf",
    "application/octet-stream",
];

/// `Example.Call` and `Example.Stream` as the srv example serves them (`rpc_proto`,
/// `stream_proto`), `Json.Call` the same call with serde types only (`rpc`), and `Go.Call` a
/// raw handler standing in for a stock go-micro istio_http service (protobuf in and out).
fn sample(server: &str) -> ServiceHandle {
    template(Service::new(SRV).server_name(server).address("127.0.0.1:0"))
        .rpc("Json.Call", example_call)
        .rpc_raw("Go.Call", |ctx: &Context, req: Request| {
            let content_type = ctx.metadata().get("content-type").unwrap_or_default().to_string();
            let hello = Hello::decode(req.body.as_slice()).map_err(|e| Error::bad_request(e.to_string()))?;
            let reply = Reply {
                msg: format!("{content_type} {}", hello.name),
            };
            Ok(Response::bytes("application/proto", reply.encode_to_vec()))
        })
        .start()
        .unwrap_or_else(|e| panic!("[{server}] starting {SRV}: {e}"))
}

/// POSTs `body` to `path` with `content_type` and reads the response.
fn post(server: &str, addr: std::net::SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Resp {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut conn = Http::connect(server, addr);
    conn.send([head.as_bytes(), body].concat());
    conn.read()
}

/// The hand-built bytes are what prost writes for the example's messages, both ways.
#[test]
fn go_micro_bytes_are_the_example_messages() {
    let hello = Hello::decode(&HOBO[..]).expect("go-micro's request decodes");
    assert_eq!(hello.name, "Hobo");
    assert_eq!(hello.encode_to_vec(), HOBO);
    let reply = Reply {
        msg: "Hello Hobo".into(),
    };
    assert_eq!(reply.encode_to_vec(), HELLO_HOBO);
    assert_eq!(Count { count: 3 }.encode_to_vec(), [0x08, 0x03]);
}

/// Each protobuf content type reaches a `rpc_proto` endpoint and is answered in the same type;
/// parameters and case aside.
#[test]
fn each_proto_content_type_is_answered_in_kind() {
    for &server in servers() {
        let srv = sample(server);
        let sent = PROTO_TYPES.iter().map(|t| (t.to_string(), *t));
        let odd = [
            (
                "Application/Protobuf; charset=binary".to_string(),
                "application/protobuf",
            ),
            ("APPLICATION/OCTET-STREAM".to_string(), "application/octet-stream"),
        ];
        for (content_type, echoed) in sent.chain(odd) {
            let resp = post(server, srv.addr(), "/Example.Call", &content_type, &HOBO);
            check(&resp, 200, "");
            assert_eq!(
                resp.header("content-type"),
                Some(echoed),
                "{content_type}: {resp:?}"
            );
            let reply = Reply::decode(resp.body.as_slice()).expect("a protobuf reply");
            assert_eq!(reply.msg, "Hello Hobo", "{content_type}");
            assert_eq!(resp.body, HELLO_HOBO, "{content_type}");
        }
        stop(server, srv);
    }
}

/// JSON to the same endpoint works as before: with the JSON type, or none.
#[test]
fn json_to_a_proto_endpoint_still_works() {
    for &server in servers() {
        let srv = sample(server);
        let resp = exchange(server, srv.addr(), &rpc("Example.Call", r#"{"name":"Hobo"}"#));
        check(&resp, 200, r#"{"msg":"Hello Hobo"}"#);
        assert_eq!(resp.header("content-type"), Some("application/json"), "{resp:?}");
        let raw = crate::support::request("POST", "/Example.Call", &[], r#"{"name":"None"}"#);
        check(
            &exchange(server, srv.addr(), &raw),
            200,
            r#"{"msg":"Hello None"}"#,
        );
        check_error(
            &exchange(server, srv.addr(), &rpc("Example.Call", "{")),
            400,
            SRV,
            "malformed json",
        );
        stop(server, srv);
    }
}

/// An empty protobuf body is the default message (here the handler's own 400), malformed bytes
/// a 400 saying so; errors stay the error JSON with the real status.
#[test]
fn proto_errors_stay_the_error_json() {
    for &server in servers() {
        let srv = sample(server);
        let resp = post(server, srv.addr(), "/Example.Call", "application/proto", b"");
        check_error(&resp, 400, SRV, "name must not be empty");
        let resp = post(
            server,
            srv.addr(),
            "/Example.Call",
            "application/protobuf",
            b"\x0a\x09Hobo",
        );
        check_error(&resp, 400, SRV, "malformed protobuf: ");
        let resp = post(server, srv.addr(), "/Example.Call", "text/plain", b"Hobo");
        check_error(
            &resp,
            415,
            SRV,
            r#"unsupported content type "text/plain" for /Example.Call (it takes application/json or application/proto)"#,
        );
        stop(server, srv);
    }
}

/// A serde-only `rpc` endpoint answers a protobuf request 415, naming what it takes.
#[test]
fn a_serde_only_endpoint_answers_proto_with_415() {
    for &server in servers() {
        let srv = sample(server);
        for content_type in PROTO_TYPES {
            let resp = post(server, srv.addr(), "/Json.Call", content_type, &HOBO);
            let detail = format!(
                r#"unsupported content type "{content_type}" for /Json.Call (it takes application/json)"#
            );
            check_error(&resp, 415, SRV, &detail);
        }
        check(
            &exchange(server, srv.addr(), &rpc("Json.Call", r#"{"name":"J"}"#)),
            200,
            "Hello J",
        );
        stop(server, srv);
    }
}

/// A `stream_proto` endpoint over HTTP/1.1 is NDJSON: JSON works, protobuf is 415 naming JSON.
#[test]
fn stream_proto_over_http1_takes_json_alone() {
    for &server in servers() {
        let srv = sample(server);
        let resp = exchange(server, srv.addr(), &rpc("Example.Stream", r#"{"count":3}"#));
        check(&resp, 200, "");
        assert_eq!(
            resp.header("content-type"),
            Some("application/x-ndjson"),
            "{resp:?}"
        );
        assert_eq!(
            resp.text(),
            "{\"count\":0}\n{\"count\":1}\n{\"count\":2}\n",
            "{resp:?}"
        );
        for content_type in PROTO_TYPES {
            let resp = post(server, srv.addr(), "/Example.Stream", content_type, &[0x08, 0x03]);
            let detail = format!(
                r#"unsupported content type "{content_type}" for /Example.Stream (it takes application/json)"#
            );
            check_error(&resp, 415, SRV, &detail);
        }
        stop(server, srv);
    }
}

/// `Caller::call_proto` through `HttpClient`: sends `application/proto`, decodes the protobuf
/// reply, from a `rpc_proto` endpoint and from a go-micro-style one; errors come back as errors.
#[test]
fn call_proto_end_to_end() {
    for &server in servers() {
        let srv = sample(server);
        let client = client_to(srv.addr());
        let options = CallOptions::default();
        let hobo = Hello { name: "Hobo".into() };
        let reply: Reply = client
            .call_proto(SRV, "Example.Call", &hobo, &options)
            .unwrap_or_else(|e| panic!("[{server}] {e}"));
        assert_eq!(reply.msg, "Hello Hobo", "[{server}]");
        let reply: Reply = client
            .call_proto(SRV, "Go.Call", &hobo, &options)
            .unwrap_or_else(|e| panic!("[{server}] {e}"));
        assert_eq!(reply.msg, "application/proto Hobo", "[{server}]");
        let empty = Hello::default();
        let err = client
            .call_proto::<_, Reply>(SRV, "Example.Call", &empty, &options)
            .unwrap_err();
        check_err(server, &err, SRV, 400, "name must not be empty");
        let err = client
            .call_proto::<_, Reply>(SRV, "Json.Call", &hobo, &options)
            .unwrap_err();
        check_err(server, &err, SRV, 415, "(it takes application/json)");
        // The JSON call to the same endpoint, for comparison.
        let reply: Reply = client.call(SRV, "Example.Call", &hobo).expect("JSON call");
        assert_eq!(reply.msg, "Hello Hobo", "[{server}]");
        stop(server, srv);
    }
}

/// The srv example, as a process on each server, answers go-micro's protobuf bytes with the
/// template's reply bytes (and in kind), and keeps its stream JSON-only.
#[test]
fn the_srv_example_answers_go_micros_bytes() {
    for &server in servers() {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let mut srv = spawn("srv", &["--server", server, "--server_address", &address], &[]);
        let addr = wait_listening(&mut srv, port);
        for content_type in PROTO_TYPES {
            let resp = post(server, addr, "/Example.Call", content_type, &HOBO);
            check(&resp, 200, "");
            assert_eq!(resp.header("content-type"), Some(content_type), "{resp:?}");
            assert_eq!(resp.body, HELLO_HOBO, "{resp:?}");
        }
        let resp = post(server, addr, "/Example.Call", "application/proto", b"");
        check_error(&resp, 400, SRV, "name must not be empty");
        let resp = post(
            server,
            addr,
            "/Example.Stream",
            "application/proto",
            &[0x08, 0x03],
        );
        check_error(&resp, 415, SRV, "(it takes application/json)");
        let resp = exchange(server, addr, &rpc("Example.Stream", r#"{"count":2}"#));
        check(&resp, 200, "{\"count\":0}\n{\"count\":1}\n");
    }
}
