//! Protobuf, prost's one home (feature `protobuf`): proto3 binary bodies for types that derive
//! `prost::Message` (protocol.md section 10), and the [`Codecs`] of such types.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, Codecs, json};
use crate::error::Error;

/// A protobuf message micro-mesh can read and write: any type that derives `prost::Message`
/// (prost's derive also writes the `Default` an empty body decodes as). Implemented for every
/// such type; there is nothing to implement by hand.
pub trait ProtoMessage: prost::Message + Default {}

impl<T: prost::Message + Default> ProtoMessage for T {}

/// Encodes `value` as proto3 binary.
pub(crate) fn encode<T: ProtoMessage>(value: &T) -> Vec<u8> {
    value.encode_to_vec()
}

/// Decodes proto3 binary; an empty body is the default message (every field at its zero value,
/// as proto3 means it). Malformed bytes are a 400, as malformed JSON is.
pub(crate) fn decode<T: ProtoMessage>(body: &[u8]) -> Result<T, Error> {
    T::decode(body).map_err(|e| Error::bad_request(format!("malformed protobuf: {e}")))
}

impl<In: ProtoMessage, Out: ProtoMessage> Codecs<In, Out> {
    /// Protobuf only: for prost messages (a typed protobuf call).
    pub fn proto() -> Self {
        Codecs {
            accepts: &[Codec::Proto],
            decode: |_, body| decode(body),
            encode: |_, value| Ok(encode(value)),
        }
    }
}

impl<In, Out> Codecs<In, Out>
where
    In: DeserializeOwned + ProtoMessage,
    Out: Serialize + ProtoMessage,
{
    /// JSON and protobuf: for types that derive both serde's traits and `prost::Message`. JSON
    /// comes first, as a request without a content type is JSON.
    pub fn proto_json() -> Self {
        Codecs {
            accepts: &[Codec::Json, Codec::Proto],
            decode: |codec, body| match codec {
                Codec::Json => json::decode(body),
                Codec::Proto => decode(body),
            },
            encode: |codec, value| match codec {
                Codec::Json => json::encode(value),
                Codec::Proto => Ok(encode(value)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// `message Request { string name = 1; }`, as the srv example writes it.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    struct Request {
        #[prost(string, tag = "1")]
        name: String,
    }

    /// `message StreamingRequest { int64 count = 1; }`.
    #[derive(Clone, PartialEq, prost::Message, Serialize, Deserialize)]
    #[serde(default)]
    struct Count {
        #[prost(int64, tag = "1")]
        count: i64,
    }

    fn hobo() -> Request {
        Request { name: "Hobo".into() }
    }

    #[test]
    fn round_trip_in_go_micros_bytes() {
        // Field 1, wire type 2 (length-delimited), 4 bytes: what protoc's Go code writes.
        let body = encode(&hobo());
        assert_eq!(body, [0x0a, 0x04, b'H', b'o', b'b', b'o']);
        assert_eq!(decode::<Request>(&body).unwrap(), hobo());
        // Field 1, wire type 0 (varint); -1 is ten bytes in int64's two's complement.
        assert_eq!(encode(&Count { count: 3 }), [0x08, 0x03]);
        let minus_one = encode(&Count { count: -1 });
        assert_eq!(minus_one.len(), 11);
        assert_eq!(decode::<Count>(&minus_one).unwrap().count, -1);
    }

    #[test]
    fn empty_body_is_the_default_message() {
        assert_eq!(decode::<Request>(b"").unwrap(), Request::default());
        assert_eq!(encode(&Request::default()), b"");
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // Field 2 (varint 1) before field 1: a newer sender's message still reads.
        let body = [0x10, 0x01, 0x0a, 0x04, b'H', b'o', b'b', b'o'];
        assert_eq!(decode::<Request>(&body).unwrap(), hobo());
    }

    #[test]
    fn malformed_protobuf_is_a_400_saying_so() {
        for bad in [
            &b"\x0a\x09Hobo"[..],
            b"\x0a",
            b"\xff\xff\xff",
            br#"{"name":"Hobo"}"#,
        ] {
            let err = decode::<Request>(bad).unwrap_err();
            assert_eq!(err.status(), 400, "{bad:?}");
            let detail = err.detail();
            assert!(detail.starts_with("malformed protobuf: "), "{detail}");
        }
        // A wrong wire type for a known field names the field.
        let err = decode::<Request>(&[0x08, 0x01]).unwrap_err();
        assert!(err.detail().contains("Request.name"), "{}", err.detail());
    }

    #[test]
    fn proto_json_reads_and_writes_both_json_first() {
        let codecs = Codecs::<Request, Request>::proto_json();
        assert_eq!(codecs.accepts, [Codec::Json, Codec::Proto]);
        assert_eq!(codecs.select(None, "/Example.Call").unwrap(), Codec::Json);
        let proto = codecs.select(Some("application/octet-stream"), "/x").unwrap();
        assert_eq!(proto, Codec::Proto);
        assert_eq!(
            codecs.encode(Codec::Json, &hobo()).unwrap(),
            br#"{"name":"Hobo"}"#
        );
        assert_eq!(codecs.encode(Codec::Proto, &hobo()).unwrap(), b"\x0a\x04Hobo");
        assert_eq!(codecs.decode(Codec::Json, br#"{"name":"Hobo"}"#).unwrap(), hobo());
        assert_eq!(codecs.decode(Codec::Proto, b"\x0a\x04Hobo").unwrap(), hobo());
        // Empty bodies: `{}` for JSON, the default message for protobuf; the same value.
        assert_eq!(codecs.decode(Codec::Json, b"").unwrap(), Request::default());
        assert_eq!(codecs.decode(Codec::Proto, b"").unwrap(), Request::default());
        // A server stream over HTTP/1.1 (NDJSON) takes JSON alone.
        assert_eq!(codecs.ndjson(), [Codec::Json]);
    }

    #[test]
    fn the_415_names_both_and_proto_only_types_take_proto_alone() {
        let codecs = Codecs::<Request, Request>::proto_json();
        let err = codecs.select(Some("text/plain"), "/Example.Call").unwrap_err();
        assert_eq!(
            (err.status(), err.detail().as_str()),
            (
                415,
                r#"unsupported content type "text/plain" for /Example.Call (it takes application/json or application/proto)"#
            )
        );
        let codecs = Codecs::<Request, Request>::proto();
        assert_eq!(
            codecs.select(Some("application/protobuf"), "x").unwrap(),
            Codec::Proto
        );
        assert_eq!(codecs.select(None, "x").unwrap_err().status(), 415);
        assert!(codecs.ndjson().is_empty());
    }
}
