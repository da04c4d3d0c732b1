//! The `grpc.health.v1` messages, in protobuf wire format (by hand: two tiny messages) and in
//! their proto3 JSON form for `+json`:
//!
//! ```proto
//! message HealthCheckRequest { string service = 1; }
//! message HealthCheckResponse { ServingStatus status = 1; }
//! enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
//! ```

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::{CLIENT_ID, Error};

use super::content::GrpcCodec;

/// The health service's full name, as in its path `/grpc.health.v1.Health/Check`.
pub const SERVICE: &str = "grpc.health.v1.Health";

/// A service's serving status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServingStatus {
    /// 0: unknown (also what a reply with a value this list lacks decodes to).
    Unknown = 0,
    /// 1: serving.
    Serving = 1,
    /// 2: not serving (draining, or not ready).
    NotServing = 2,
    /// 3: no such service (`Watch` only; `Check` answers `NOT_FOUND` instead).
    ServiceUnknown = 3,
}

/// Every status, in value order.
const STATUSES: [ServingStatus; 4] = [
    ServingStatus::Unknown,
    ServingStatus::Serving,
    ServingStatus::NotServing,
    ServingStatus::ServiceUnknown,
];

impl ServingStatus {
    /// The enum value on the wire.
    pub fn value(self) -> u64 {
        self as u64
    }

    /// The proto name, as proto3 JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            ServingStatus::Unknown => "UNKNOWN",
            ServingStatus::Serving => "SERVING",
            ServingStatus::NotServing => "NOT_SERVING",
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN",
        }
    }

    /// The status with this wire value; a value this list lacks is `Unknown`.
    fn from_value(value: i64) -> ServingStatus {
        STATUSES
            .into_iter()
            .find(|s| s.value() as i64 == value)
            .unwrap_or(ServingStatus::Unknown)
    }
}

/// Wire type 0: a varint.
const VARINT: u64 = 0;
/// Wire type 1: 8 bytes.
const I64: u64 = 1;
/// Wire type 2: a varint length, then that many bytes.
const LEN: u64 = 2;
/// Wire type 5: 4 bytes.
const I32: u64 = 5;

/// Reads protobuf fields from a message, strictly: every length is checked against what is left
/// before anything is sliced, so nothing is allocated beyond the message.
struct Reader<'a> {
    /// What is left of the message.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A varint of at most 10 bytes, the tenth carrying only the top bit of a u64.
    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.rest.split_first().ok_or("truncated varint")?;
            self.rest = rest;
            if i == 9 && byte > 1 {
                return Err("varint overflows 64 bits".into());
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint overflows 64 bits".into())
    }

    /// The next `len` bytes, if there are that many.
    fn bytes(&mut self, len: u64) -> Result<&'a [u8], String> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= self.rest.len())
            .ok_or("truncated field")?;
        let (field, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(field)
    }

    /// The next field's number and wire type; `None` at the end of the message.
    fn tag(&mut self) -> Result<Option<(u64, u64)>, String> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = tag >> 3;
        if field == 0 || tag > u64::from(u32::MAX) {
            return Err(format!("invalid field tag {tag}"));
        }
        Ok(Some((field, tag & 7)))
    }

    /// Skips a field this message does not know. Groups (wire types 3 and 4, deprecated) and
    /// the undefined types 6 and 7 are refused rather than guessed at.
    fn skip(&mut self, wire_type: u64) -> Result<(), String> {
        match wire_type {
            VARINT => self.varint().map(drop),
            I64 => self.bytes(8).map(drop),
            LEN => {
                let len = self.varint()?;
                self.bytes(len).map(drop)
            }
            I32 => self.bytes(4).map(drop),
            other => Err(format!("unsupported wire type {other}")),
        }
    }
}

/// Appends `value` as a varint.
fn put_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// `HealthCheckRequest` in proto3 JSON.
#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct RequestJson {
    /// The service asked about.
    service: String,
}

/// A JSON enum: proto3 JSON parsers take the name or the number.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StatusJson {
    /// `"SERVING"`.
    Name(String),
    /// `1`.
    Number(i64),
}

/// `HealthCheckResponse` in proto3 JSON.
#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct ResponseJson {
    /// The status; absent means `UNKNOWN`.
    status: Option<StatusJson>,
}

/// Decodes a `HealthCheckRequest`: the service asked about (empty: the server as a whole).
/// Malformed (a bad varint or tag, a truncated field, field 1 of another wire type, a string
/// that is not UTF-8, JSON that is not the request): a 400.
pub fn decode_request(codec: GrpcCodec, message: &[u8]) -> Result<String, Error> {
    if codec == GrpcCodec::Json {
        return codec::decode::<RequestJson>(message).map(|r| r.service);
    }
    let bad = |why: String| Error::bad_request(format!("malformed HealthCheckRequest: {why}"));
    let mut reader = Reader { rest: message };
    let mut service = "";
    while let Some((field, wire_type)) = reader.tag().map_err(bad)? {
        match (field, wire_type) {
            // A repeated scalar field: the last one wins, as proto3 says.
            (1, LEN) => {
                let len = reader.varint().map_err(bad)?;
                let bytes = reader.bytes(len).map_err(bad)?;
                service = std::str::from_utf8(bytes).map_err(|_| bad("service is not UTF-8".into()))?;
            }
            (1, other) => return Err(bad(format!("service has wire type {other}"))),
            (_, wire_type) => reader.skip(wire_type).map_err(bad)?,
        }
    }
    Ok(service.to_string())
}

/// Encodes a `HealthCheckResponse`. Proto3 leaves a zero (`UNKNOWN`) out, so that one is empty;
/// the JSON names the status always (parsers take a default value written out).
pub fn encode_response(codec: GrpcCodec, status: ServingStatus) -> Vec<u8> {
    let mut out = Vec::new();
    match codec {
        GrpcCodec::Json => {
            let json = ResponseJson {
                status: Some(StatusJson::Name(status.name().into())),
            };
            // A struct of one string always serializes.
            out = codec::encode(&json).unwrap_or_else(|_| b"{}".to_vec());
        }
        GrpcCodec::Proto if status.value() != 0 => {
            out.push(0x08); // field 1, varint
            put_varint(status.value(), &mut out);
        }
        GrpcCodec::Proto => {}
    }
    out
}

/// Encodes a `HealthCheckRequest` (a client's `Check`); an empty service is left out.
pub fn encode_request(codec: GrpcCodec, service: &str) -> Vec<u8> {
    let mut out = Vec::new();
    match codec {
        GrpcCodec::Json => {
            let json = RequestJson {
                service: service.into(),
            };
            out = codec::encode(&json).unwrap_or_else(|_| b"{}".to_vec());
        }
        GrpcCodec::Proto if !service.is_empty() => {
            out.push(0x0a); // field 1, length-delimited
            put_varint(service.len() as u64, &mut out);
            out.extend_from_slice(service.as_bytes());
        }
        GrpcCodec::Proto => {}
    }
    out
}

/// Decodes a `HealthCheckResponse` (a client reading `Check`'s reply); a status value the enum
/// lacks is `Unknown`. Malformed: a client error (500, `go.micro.client`).
pub fn decode_response(codec: GrpcCodec, message: &[u8]) -> Result<ServingStatus, Error> {
    let bad = |why: String| Error::with_id(CLIENT_ID, 500, format!("malformed HealthCheckResponse: {why}"));
    if codec == GrpcCodec::Json {
        let json = codec::decode::<ResponseJson>(message).map_err(|e| bad(e.detail()))?;
        return Ok(match json.status {
            None => ServingStatus::Unknown,
            Some(StatusJson::Number(n)) => ServingStatus::from_value(n),
            Some(StatusJson::Name(name)) => STATUSES
                .into_iter()
                .find(|s| s.name() == name)
                .ok_or_else(|| bad(format!("status {name:?}")))?,
        });
    }
    let mut reader = Reader { rest: message };
    let mut status = ServingStatus::Unknown;
    while let Some((field, wire_type)) = reader.tag().map_err(bad)? {
        match (field, wire_type) {
            // An enum is an int32 sent as a varint: a negative one takes all 64 bits.
            (1, VARINT) => status = ServingStatus::from_value(reader.varint().map_err(bad)? as i64),
            (1, other) => return Err(bad(format!("status has wire type {other}"))),
            (_, wire_type) => reader.skip(wire_type).map_err(bad)?,
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTO: GrpcCodec = GrpcCodec::Proto;
    const JSON: GrpcCodec = GrpcCodec::Json;

    #[test]
    fn a_request_names_its_service_or_nothing() {
        assert_eq!(decode_request(PROTO, b"").unwrap(), "");
        assert_eq!(decode_request(PROTO, b"\x0a\x03foo").unwrap(), "foo");
        assert_eq!(decode_request(PROTO, b"\x0a\x00").unwrap(), "");
    }

    #[test]
    fn the_last_service_field_wins() {
        assert_eq!(decode_request(PROTO, b"\x0a\x01a\x0a\x01b").unwrap(), "b");
    }

    #[test]
    fn unknown_fields_are_skipped_by_wire_type() {
        let mut message = vec![0x10, 0x96, 0x01]; // field 2, varint 150
        message.extend([0x19, 1, 2, 3, 4, 5, 6, 7, 8]); // field 3, 8 bytes
        message.extend([0x22, 2, b'x', b'y']); // field 4, length-delimited
        message.extend(b"\x0a\x03svc");
        message.extend([0x2d, 1, 2, 3, 4]); // field 5, 4 bytes
        message.extend([0xf8, 0xff, 0xff, 0xff, 0x0f, 0]); // field 2^29-1, varint
        assert_eq!(decode_request(PROTO, &message).unwrap(), "svc");
    }

    #[test]
    fn malformed_requests_are_400() {
        let cases: [&[u8]; 13] = [
            b"\x0a",                                             // truncated length
            b"\x0a\x05ab",                                       // truncated string
            b"\x0a\xff\xff\xff\xff\x0f",                         // a length far past the end
            b"\x08\x01",                                         // service as a varint
            b"\x0a\x01\xff",                                     // not UTF-8
            b"\x13\x14",                                         // a group (wire type 3)
            b"\x16",                                             // wire type 6
            b"\x02\x00",                                         // field 0
            b"\x80\x80\x80\x80\x10",                             // tag above u32
            b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",     // varint over 64 bits
            b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", // 11-byte varint
            b"\x10\x80",                                         // truncated varint
            b"\x19\x01\x02",                                     // truncated 8 bytes
        ];
        for message in cases {
            let err = decode_request(PROTO, message).unwrap_err();
            assert_eq!(err.status(), 400, "{message:?}");
        }
    }

    #[test]
    fn a_ten_byte_varint_is_accepted_up_to_u64_max() {
        let message = b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x0a\x01a";
        assert_eq!(decode_request(PROTO, message).unwrap(), "a");
    }

    #[test]
    fn json_requests() {
        assert_eq!(
            decode_request(JSON, br#"{"service":"go.micro.srv.sample"}"#).unwrap(),
            "go.micro.srv.sample"
        );
        assert_eq!(decode_request(JSON, b"").unwrap(), "");
        assert_eq!(
            decode_request(JSON, br#"{"service":1}"#).unwrap_err().status(),
            400
        );
    }

    #[test]
    fn responses_encode_the_status_and_leave_unknown_out() {
        assert_eq!(encode_response(PROTO, ServingStatus::Serving), [0x08, 1]);
        assert_eq!(encode_response(PROTO, ServingStatus::NotServing), [0x08, 2]);
        assert_eq!(encode_response(PROTO, ServingStatus::ServiceUnknown), [0x08, 3]);
        assert!(encode_response(PROTO, ServingStatus::Unknown).is_empty());
        assert_eq!(
            encode_response(JSON, ServingStatus::NotServing),
            br#"{"status":"NOT_SERVING"}"#
        );
    }

    #[test]
    fn requests_and_responses_round_trip_in_both_codecs() {
        for codec in [PROTO, JSON] {
            for service in ["", "go.micro.srv.sample", "caf\u{e9}"] {
                assert_eq!(
                    decode_request(codec, &encode_request(codec, service)).unwrap(),
                    service
                );
            }
            for status in STATUSES {
                assert_eq!(
                    decode_response(codec, &encode_response(codec, status)).unwrap(),
                    status
                );
            }
        }
    }

    #[test]
    fn responses_with_unlisted_values_decode_as_unknown() {
        assert_eq!(
            decode_response(PROTO, &[0x08, 7]).unwrap(),
            ServingStatus::Unknown
        );
        let negative = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(decode_response(PROTO, &negative).unwrap(), ServingStatus::Unknown);
        assert_eq!(
            decode_response(JSON, br#"{"status":2}"#).unwrap(),
            ServingStatus::NotServing
        );
        assert_eq!(decode_response(JSON, b"{}").unwrap(), ServingStatus::Unknown);
    }

    #[test]
    fn malformed_responses_are_client_errors() {
        for (codec, message) in [
            (PROTO, &b"\x08"[..]),
            (PROTO, b"\x0a\x00"),
            (JSON, br#"{"status":"FINE"}"#),
        ] {
            let err = decode_response(codec, message).unwrap_err();
            assert_eq!((err.status(), err.id()), (500, CLIENT_ID), "{message:?}");
        }
    }
}
