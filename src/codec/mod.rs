//! The codec seam: body encodings chosen by content type in one place, and what a typed
//! endpoint's types can be read and written as.
//!
//! A typed handler, stream or call does not name an encoding: it holds [`Codecs`], the
//! encodings its types support, and the codec comes from the request's content type through
//! [`Codec::from_content_type`]. Each encoding lives in its own file, the one home of its crate:
//! `json.rs` (serde_json: JSON, the error JSON, NDJSON lines) and `proto.rs` (prost: protobuf,
//! feature `protobuf`). A new encoding is a variant here, a file and a constructor of [`Codecs`];
//! nothing above this folder changes.

use crate::error::Error;

mod json;
#[cfg(feature = "protobuf")]
mod proto;

pub use json::{
    decode, decode_error, decode_stream_error, encode, encode_error, encode_stream_error, ndjson_line, pretty,
};
#[cfg(feature = "protobuf")]
pub use proto::ProtoMessage;

/// The content type of JSON bodies.
pub const JSON: &str = "application/json";

/// The content type of a server stream: one JSON message per line (protocol.md section 8).
pub const NDJSON: &str = "application/x-ndjson";

/// The content type a protobuf call sends (the first of the Go plugin's three).
#[cfg(feature = "protobuf")]
const PROTO: &str = "application/proto";

/// Every content type a codec reads, by essence (compared without case or parameters).
const TYPES: &[(&str, Codec)] = &[
    (JSON, Codec::Json),
    // go-micro's protobuf types (protocol.md section 10); a reply echoes the one it was asked in.
    #[cfg(feature = "protobuf")]
    (PROTO, Codec::Proto),
    #[cfg(feature = "protobuf")]
    ("application/protobuf", Codec::Proto),
    #[cfg(feature = "protobuf")]
    ("application/octet-stream", Codec::Proto),
];

/// A body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// JSON (`application/json`, parameters such as `charset` allowed).
    Json,
    /// Protobuf, proto3 binary (`application/proto`, `application/protobuf` or
    /// `application/octet-stream`); feature `protobuf`.
    #[cfg(feature = "protobuf")]
    Proto,
}

impl Codec {
    /// The codec a request's `Content-Type` names (case and parameters aside); a missing one
    /// means JSON (protocol.md section 2); `None` when no codec reads it.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Codec> {
        match content_type {
            None => Some(Codec::Json),
            Some(content_type) => known(content_type).map(|(_, codec)| codec),
        }
    }

    /// The content type this codec writes when nothing asks for another: what a call sends.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Json => JSON,
            #[cfg(feature = "protobuf")]
            Codec::Proto => PROTO,
        }
    }

    /// The content type of a reply in this codec to a request sent as `request_content_type`:
    /// the request's own, without parameters, when it names this codec (protocol.md section 10:
    /// `application/protobuf` in, `application/protobuf` out); else [`Codec::content_type`].
    pub fn reply_content_type(self, request_content_type: Option<&str>) -> &'static str {
        match request_content_type.and_then(known) {
            Some((essence, codec)) if codec == self => essence,
            _ => self.content_type(),
        }
    }
}

/// The known content type `content_type` is (its essence, as [`TYPES`] spells it) and its codec.
fn known(content_type: &str) -> Option<(&'static str, Codec)> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    TYPES
        .iter()
        .copied()
        .find(|(name, _)| essence.eq_ignore_ascii_case(name))
}

/// The encodings a typed endpoint's (or call's) types support, and how to read `In` and write
/// `Out` in each: what typed handlers, streams and calls hold instead of naming an encoding.
pub(crate) struct Codecs<In, Out: ?Sized> {
    /// The codecs, the preferred one first (a call sends with it; a request without a content
    /// type is JSON, so types that take JSON list it first).
    pub accepts: &'static [Codec],
    decode: fn(Codec, &[u8]) -> Result<In, Error>,
    encode: fn(Codec, &Out) -> Result<Vec<u8>, Error>,
}

impl<In, Out: ?Sized> Clone for Codecs<In, Out> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<In, Out: ?Sized> Copy for Codecs<In, Out> {}

impl<In: serde::de::DeserializeOwned, Out: serde::Serialize + ?Sized> Codecs<In, Out> {
    /// JSON only: for serde types.
    pub fn json() -> Self {
        Codecs {
            accepts: &[Codec::Json],
            decode: |_, body| json::decode(body),
            encode: |_, value| json::encode(value),
        }
    }
}

impl<In, Out: ?Sized> Codecs<In, Out> {
    /// The codec for a request with this content type, if the types support it; else the 415
    /// naming what they take.
    pub fn select(&self, content_type: Option<&str>, what: &str) -> Result<Codec, Error> {
        select(content_type, what, self.accepts)
    }

    /// The codecs a server stream of these types takes where its framing is NDJSON (HTTP/1.1,
    /// protocol.md section 8): one JSON message a line, so JSON alone, whatever else the types
    /// support (a framing that carries binary messages, gRPC's, can take the rest).
    pub fn ndjson(&self) -> &'static [Codec] {
        if self.accepts.contains(&Codec::Json) {
            &[Codec::Json]
        } else {
            &[]
        }
    }

    /// Decodes `body` with `codec`.
    pub fn decode(&self, codec: Codec, body: &[u8]) -> Result<In, Error> {
        (self.decode)(codec, body)
    }

    /// Encodes `value` with `codec`.
    pub fn encode(&self, codec: Codec, value: &Out) -> Result<Vec<u8>, Error> {
        (self.encode)(codec, value)
    }

    /// The encoding function itself (a stream keeps it for its messages).
    pub fn encoder(&self) -> fn(Codec, &Out) -> Result<Vec<u8>, Error> {
        self.encode
    }

    /// The decoding function itself (a client stream's messages are decoded as they arrive).
    pub fn decoder(&self) -> fn(Codec, &[u8]) -> Result<In, Error> {
        self.decode
    }
}

/// The codec among `accepts` that a request with this content type is in, else the 415 naming
/// what `what` (a path or endpoint) takes: the one check, for routes and typed handlers alike.
pub(crate) fn select(content_type: Option<&str>, what: &str, accepts: &[Codec]) -> Result<Codec, Error> {
    match Codec::from_content_type(content_type) {
        Some(codec) if accepts.contains(&codec) => Ok(codec),
        _ => Err(unsupported(content_type.unwrap_or(""), what, accepts)),
    }
}

/// The 415 for a content type `what` (a path or endpoint) does not take: it names what it takes.
fn unsupported(content_type: &str, what: &str, accepts: &[Codec]) -> Error {
    let takes: Vec<&str> = accepts.iter().map(|c| c.content_type()).collect();
    Error::new(
        415,
        format!(
            "unsupported content type {content_type:?} for {what} (it takes {})",
            takes.join(" or ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(default)]
    struct Hello {
        name: String,
    }

    #[test]
    fn content_types_select_the_codec_in_one_place() {
        assert_eq!(Codec::from_content_type(None), Some(Codec::Json));
        assert_eq!(
            Codec::from_content_type(Some("application/json")),
            Some(Codec::Json)
        );
        let charset = Some("Application/JSON ; charset=utf-8");
        assert_eq!(Codec::from_content_type(charset), Some(Codec::Json));
        for other in [
            "application/jsonx",
            "text/json",
            "application/x-www-form-urlencoded",
            "application/x-protobuf",
            "application/grpc",
            "",
        ] {
            assert_eq!(Codec::from_content_type(Some(other)), None, "{other}");
        }
    }

    #[cfg(feature = "protobuf")]
    #[test]
    fn the_go_plugins_protobuf_types_select_proto_and_are_echoed() {
        let types = [
            ("application/proto", "application/proto"),
            ("Application/Protobuf", "application/protobuf"),
            (" application/octet-stream ; foo=bar", "application/octet-stream"),
            ("APPLICATION/PROTO;charset=utf-8", "application/proto"),
        ];
        for (sent, echoed) in types {
            assert_eq!(Codec::from_content_type(Some(sent)), Some(Codec::Proto), "{sent}");
            assert_eq!(Codec::Proto.reply_content_type(Some(sent)), echoed, "{sent}");
        }
        assert_eq!(Codec::Proto.content_type(), "application/proto");
        // A reply in another codec than the request named keeps that codec's own type.
        assert_eq!(Codec::Proto.reply_content_type(None), "application/proto");
        assert_eq!(Codec::Proto.reply_content_type(Some(JSON)), "application/proto");
        assert_eq!(Codec::Json.reply_content_type(Some("application/protobuf")), JSON);
    }

    #[test]
    fn json_replies_are_plain_application_json() {
        assert_eq!(Codec::Json.reply_content_type(None), JSON);
        assert_eq!(
            Codec::Json.reply_content_type(Some("application/json; charset=utf-8")),
            JSON
        );
        assert_eq!(Codec::Json.reply_content_type(Some("text/plain")), JSON);
    }

    #[test]
    fn a_content_type_the_types_lack_gets_a_415_naming_what_they_take() {
        let codecs = Codecs::<Hello, Hello>::json();
        assert_eq!(codecs.select(None, "/Example.Call").unwrap(), Codec::Json);
        let err = codecs
            .select(Some("application/x-www-form-urlencoded"), "/Example.Call")
            .unwrap_err();
        assert_eq!(err.status(), 415);
        assert_eq!(
            err.detail(),
            r#"unsupported content type "application/x-www-form-urlencoded" for /Example.Call (it takes application/json)"#
        );
        // With or without the protobuf codec built in, serde types take JSON alone.
        let err = codecs
            .select(Some("application/proto"), "/Example.Call")
            .unwrap_err();
        assert_eq!(
            (err.status(), err.detail().as_str()),
            (
                415,
                r#"unsupported content type "application/proto" for /Example.Call (it takes application/json)"#
            )
        );
        assert_eq!(codecs.ndjson(), [Codec::Json]);
    }
}
