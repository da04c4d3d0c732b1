//! The pure half of a gRPC call (protocol.md section 9): the request's header block, and the
//! verdict of a reply's head and trailers, in the protocol's order.

use std::time::Duration;

use crate::error::{CLIENT_ID, Error};
use crate::grpc::content::GrpcCodec;
use crate::grpc::headers;
use crate::grpc::path;
use crate::grpc::status::{self, Code};
use crate::grpc::timeout;
use crate::http2::hpack::Header;
use crate::metadata::Metadata;

/// The codec a call's content type asks for: JSON for `application/json` (and `+json`
/// types), protobuf for `application/proto`, `protobuf`, `x-protobuf`, `octet-stream` (and
/// `+proto` types), `default` for any other (or none).
pub(super) fn codec_for(content_type: &str, default: GrpcCodec) -> GrpcCodec {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let proto = [
        "application/proto",
        "application/protobuf",
        "application/x-protobuf",
        "application/octet-stream",
    ];
    if essence == "application/json" || essence.ends_with("+json") {
        GrpcCodec::Json
    } else if proto.contains(&essence.as_str()) || essence.ends_with("+proto") {
        GrpcCodec::Proto
    } else {
        default
    }
}

/// What the request's head is made of.
pub(super) struct Head<'a> {
    /// The service name (go-micro's).
    pub service: &'a str,
    /// `Handler.Method`.
    pub endpoint: &'a str,
    /// The target `host:port`: the `:authority`, which the sidecar routes by.
    pub authority: &'a str,
    /// The message codec.
    pub codec: GrpcCodec,
    /// What the attempt has left: sent as `grpc-timeout` and go-micro's `timeout`.
    pub budget: Duration,
    /// The call's metadata (forwarded trace headers, the options' own).
    pub metadata: &'a Metadata,
}

/// The request's header block: pseudo-headers first, then gRPC's, then the metadata that
/// may go out (`headers::outgoing`: no reserved, hop-by-hop or `host` header).
pub(super) fn request_headers(head: &Head<'_>) -> Result<Vec<Header>, Error> {
    let path = path::client_path(head.service, head.endpoint)?;
    let content_type = head.codec.content_type();
    let mut fields = vec![
        Header::new(":method", "POST"),
        Header::new(":scheme", "http"),
        Header::new(":path", path),
        Header::new(":authority", head.authority),
        Header::new("content-type", content_type),
        Header::new("te", "trailers"),
        Header::new("x-content-type", content_type),
        Header::new("grpc-timeout", timeout::format(head.budget)),
        Header::new("timeout", head.budget.as_nanos().to_string()),
        Header::new("user-agent", concat!("micro-mesh/", env!("CARGO_PKG_VERSION"))),
    ];
    for (name, value) in headers::outgoing(head.metadata)? {
        // A credential stays out of every intermediary's compression table.
        let sensitive = name == "authorization" || name == "cookie";
        fields.push(if sensitive {
            Header::sensitive(name, value)
        } else {
            Header::new(name, value)
        });
    }
    Ok(fields)
}

/// The first value of `name` among `fields`.
pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// The error a reply's head carries before any message, if it is not a gRPC reply at all: a
/// `:status` other than 200 without `grpc-status` (a proxy's local reply), mapped as gRPC
/// clients map it.
pub(super) fn head_error(head: &[(String, String)]) -> Option<Error> {
    if field(head, "grpc-status").is_some() {
        return None;
    }
    let status: u16 = field(head, ":status").and_then(|s| s.parse().ok()).unwrap_or(0);
    (status != 200).then(|| proxy_error(status))
}

/// The error of a reply without `grpc-status`: its HTTP status, the gRPC way.
fn proxy_error(status: u16) -> Error {
    let code = status::proxy_code(status);
    status::error_for(code.value(), &format!("http status {status} without grpc-status"))
}

/// The verdict of a finished reply: OK, or the error its trailers (or its Trailers-Only head)
/// carry: `grpc-message`'s go-micro JSON first, then the status table (`status::error_for`);
/// no `grpc-status` at all is the HTTP status mapped by `status::proxy_code`.
pub(super) fn verdict(head: &[(String, String)], trailers: Option<&[(String, String)]>) -> Result<(), Error> {
    let Some(trailers) = trailers else {
        return Err(match head_error(head) {
            Some(err) => err,
            None => Error::with_id(CLIENT_ID, 502, "grpc reply ended without trailers"),
        });
    };
    let Some(grpc_status) = field(trailers, "grpc-status") else {
        let status: u16 = field(head, ":status").and_then(|s| s.parse().ok()).unwrap_or(0);
        return Err(proxy_error(status));
    };
    match grpc_status.trim().parse::<u32>() {
        Ok(0) => Ok(()),
        Ok(code) => Err(status::error_for(
            code,
            field(trailers, "grpc-message").unwrap_or(""),
        )),
        Err(_) => Err(status::error_for(
            Code::Unknown.value(),
            &format!("bad grpc-status {grpc_status:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_codec_follows_the_calls_content_type() {
        let (json, proto) = (GrpcCodec::Json, GrpcCodec::Proto);
        assert_eq!(codec_for("application/json", proto), json);
        assert_eq!(codec_for("Application/JSON; charset=utf-8", proto), json);
        assert_eq!(codec_for("application/proto", json), proto);
        assert_eq!(codec_for("application/protobuf", json), proto);
        assert_eq!(codec_for("application/octet-stream", json), proto);
        assert_eq!(codec_for("", proto), proto, "none: the client's default");
        assert_eq!(codec_for("text/plain", json), json);
    }

    #[test]
    fn the_request_head_carries_path_authority_codec_budget_and_metadata() {
        let mut metadata = Metadata::new();
        metadata.insert("x-request-id", "abc");
        metadata.insert("timeout", "1");
        metadata.insert("connection", "close");
        metadata.insert("authorization", "Bearer t");
        let head = Head {
            service: "go.micro.srv.sample",
            endpoint: "Example.Call",
            authority: "go-micro-srv-sample:9080",
            codec: GrpcCodec::Json,
            budget: Duration::from_millis(1500),
            metadata: &metadata,
        };
        let got = request_headers(&head).unwrap();
        let pairs: Vec<(String, String)> = got
            .iter()
            .map(|h| {
                (
                    String::from_utf8(h.name.clone()).unwrap(),
                    String::from_utf8(h.value.clone()).unwrap(),
                )
            })
            .collect();
        let get = |name| field(&pairs, name);
        assert_eq!(get(":path"), Some("/go.micro.srv.sample.Example/Call"));
        assert_eq!(get(":authority"), Some("go-micro-srv-sample:9080"));
        assert_eq!(get("content-type"), Some("application/grpc+json"));
        assert_eq!(get("x-content-type"), Some("application/grpc+json"));
        assert_eq!(get("te"), Some("trailers"));
        assert_eq!(get("grpc-timeout"), Some("1500000u"));
        assert_eq!(
            get("timeout"),
            Some("1500000000"),
            "the budget, not the metadata's"
        );
        assert_eq!(get("x-request-id"), Some("abc"));
        assert_eq!(get("connection"), None);
        assert_eq!(pairs.iter().filter(|(n, _)| n == "timeout").count(), 1);
        assert!(got.iter().any(|h| h.name == b"authorization" && h.sensitive));
        assert!(pairs[..4].iter().all(|(n, _)| n.starts_with(':')));
    }

    #[test]
    fn a_bad_endpoint_is_a_client_error_before_anything_is_sent() {
        let metadata = Metadata::new();
        let head = Head {
            service: "srv",
            endpoint: "NoDot",
            authority: "srv:9080",
            codec: GrpcCodec::Proto,
            budget: Duration::from_secs(1),
            metadata: &metadata,
        };
        assert_eq!(request_headers(&head).unwrap_err().status(), 400);
    }

    #[test]
    fn verdicts_follow_the_protocols_order() {
        let head = fields(&[(":status", "200"), ("content-type", "application/grpc+proto")]);
        let ok = fields(&[("grpc-status", "0")]);
        assert!(verdict(&head, Some(&ok)).is_ok());
        let json = r#"{"id":"srv","code":409,"detail":"taken","status":"Conflict"}"#;
        let micro = fields(&[("grpc-status", "6"), ("grpc-message", json)]);
        let err = verdict(&head, Some(&micro)).unwrap_err();
        assert_eq!(
            (err.status(), err.id(), err.detail()),
            (409, "srv", "taken".to_string())
        );
        let plain = fields(&[("grpc-status", "12"), ("grpc-message", "unknown method")]);
        assert_eq!(verdict(&head, Some(&plain)).unwrap_err().status(), 501);
        let none = fields(&[]);
        assert_eq!(verdict(&head, Some(&none)).unwrap_err().status(), 500);
        assert_eq!(verdict(&head, None).unwrap_err().status(), 502);
        let proxy = fields(&[(":status", "503")]);
        assert_eq!(
            head_error(&proxy).unwrap().status(),
            503,
            "UNAVAILABLE maps back to 503"
        );
        assert_eq!(head_error(&fields(&[(":status", "404")])).unwrap().status(), 501);
        assert!(head_error(&head).is_none());
        let only = fields(&[(":status", "200"), ("grpc-status", "5")]);
        assert!(
            head_error(&only).is_none(),
            "a Trailers-Only error is read from the trailers"
        );
        assert_eq!(verdict(&only, Some(&only)).unwrap_err().status(), 404);
    }
}
