//! gRPC content types and the codec choice of protocol.md section 9: the `content-type`
//! subtype when present, else go-micro's `x-content-type` metadata, else proto.

use crate::error::Error;

/// The bare gRPC content type.
pub const GRPC: &str = "application/grpc";

/// A gRPC message encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrpcCodec {
    /// Protobuf (`+proto`), the default.
    Proto,
    /// JSON (`+json`), with proto3 JSON names.
    Json,
}

impl GrpcCodec {
    /// The `content-type` (and `x-content-type`) a client sends with this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            GrpcCodec::Proto => "application/grpc+proto",
            GrpcCodec::Json => "application/grpc+json",
        }
    }

    /// The plain content type of the messages themselves, as a handler's codec knows it.
    pub fn message_content_type(self) -> &'static str {
        match self {
            GrpcCodec::Proto => "application/proto",
            GrpcCodec::Json => "application/json",
        }
    }
}

/// What a request's content type settled: the codec, and whether the request named it (a reply
/// echoes the request: `+proto`, `+json`, or bare `application/grpc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec of the messages, both ways.
    pub codec: GrpcCodec,
    /// Whether the request's `content-type` was bare `application/grpc`.
    pub bare: bool,
}

impl Negotiated {
    /// The reply's `content-type`: the request's, normalized.
    pub fn content_type(self) -> &'static str {
        if self.bare {
            GRPC
        } else {
            self.codec.content_type()
        }
    }
}

/// The media type without parameters, trimmed.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// The gRPC subtype of a content type: `Some("")` for bare `application/grpc`, `Some("proto")`
/// for `application/grpc+proto` (parameters after `;` allowed, case ignored), `None` when it is
/// not gRPC.
pub fn subtype(content_type: &str) -> Option<&str> {
    let essence = essence(content_type);
    let head = essence.get(..GRPC.len())?;
    if !head.eq_ignore_ascii_case(GRPC) {
        return None;
    }
    match &essence[GRPC.len()..] {
        "" => Some(""),
        rest => rest.strip_prefix('+'),
    }
}

/// Whether a request is gRPC: `application/grpc` or `application/grpc+X`.
pub fn is_grpc(content_type: &str) -> bool {
    subtype(content_type).is_some()
}

/// The codec of a gRPC request from its `content-type` and `x-content-type`, in protocol.md's
/// order. A subtype other than `proto` or `json` is a 415 (the content type is not
/// supported); an `x-content-type` no codec reads is ignored (proto), as is a non-gRPC
/// `content-type` (the caller checked [`is_grpc`] first).
pub fn negotiate(content_type: &str, x_content_type: Option<&str>) -> Result<Negotiated, Error> {
    let subtype = subtype(content_type).unwrap_or("");
    let named = |codec| Ok(Negotiated { codec, bare: false });
    if subtype.eq_ignore_ascii_case("proto") {
        return named(GrpcCodec::Proto);
    }
    if subtype.eq_ignore_ascii_case("json") {
        return named(GrpcCodec::Json);
    }
    if !subtype.is_empty() {
        return Err(Error::new(
            415,
            format!("unsupported grpc content type {content_type:?} (it takes +proto or +json)"),
        ));
    }
    let signalled = x_content_type.map(essence).unwrap_or("");
    let is = |name: &str| signalled.eq_ignore_ascii_case(name);
    let codec = if is("application/json") || is("application/grpc+json") {
        GrpcCodec::Json
    } else {
        GrpcCodec::Proto
    };
    Ok(Negotiated { codec, bare: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types_are_recognized_with_parameters_and_any_case() {
        assert_eq!(subtype("application/grpc"), Some(""));
        assert_eq!(subtype("application/grpc+proto"), Some("proto"));
        assert_eq!(subtype("Application/GRPC+json; charset=utf-8"), Some("json"));
        assert_eq!(subtype(" application/grpc ;x=y"), Some(""));
        assert_eq!(subtype("application/grpc+"), Some(""));
        for other in [
            "application/json",
            "application/grpcx",
            "application/grpc-web",
            "application/grp",
            "",
            "application/proto",
        ] {
            assert!(!is_grpc(other), "{other}");
        }
        assert!(is_grpc("application/grpc+thrift"));
    }

    #[test]
    fn the_subtype_picks_the_codec_and_the_reply_echoes_it() {
        let n = negotiate("application/grpc+json", Some("application/proto")).unwrap();
        assert_eq!(
            (n.codec, n.content_type()),
            (GrpcCodec::Json, "application/grpc+json")
        );
        let n = negotiate("application/grpc+PROTO", Some("application/json")).unwrap();
        assert_eq!(
            (n.codec, n.content_type()),
            (GrpcCodec::Proto, "application/grpc+proto")
        );
    }

    #[test]
    fn a_bare_request_takes_the_codec_from_x_content_type() {
        for (signal, codec) in [
            ("application/json", GrpcCodec::Json),
            ("application/grpc+json", GrpcCodec::Json),
            ("Application/JSON; charset=utf-8", GrpcCodec::Json),
            ("application/proto", GrpcCodec::Proto),
            ("application/protobuf", GrpcCodec::Proto),
            ("application/grpc+proto", GrpcCodec::Proto),
            ("text/plain", GrpcCodec::Proto),
        ] {
            let n = negotiate("application/grpc", Some(signal)).unwrap();
            assert_eq!(n, Negotiated { codec, bare: true }, "{signal}");
            assert_eq!(n.content_type(), "application/grpc");
        }
    }

    #[test]
    fn proto_is_the_default() {
        assert_eq!(
            negotiate("application/grpc", None).unwrap().codec,
            GrpcCodec::Proto
        );
    }

    #[test]
    fn an_unknown_subtype_is_415() {
        assert_eq!(
            negotiate("application/grpc+thrift", None).unwrap_err().status(),
            415
        );
    }

    #[test]
    fn codecs_name_their_content_types() {
        assert_eq!(GrpcCodec::Proto.content_type(), "application/grpc+proto");
        assert_eq!(GrpcCodec::Json.message_content_type(), "application/json");
        assert_eq!(GrpcCodec::Proto.message_content_type(), "application/proto");
    }
}
