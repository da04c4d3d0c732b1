//! The codec seam: body encodings chosen by content type in one place, JSON and its NDJSON
//! stream framing, and the error JSON. The only place serde_json is used.
//!
//! A typed handler, stream or call does not name an encoding: it holds [`Codecs`], the
//! encodings its types support, and the codec comes from the request's content type through
//! [`Codec::from_content_type`]. A new encoding (protobuf, gRPC framing) is a variant here and a
//! constructor of [`Codecs`], and nothing above this file changes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, WireError};

/// The content type of JSON bodies.
pub const JSON: &str = "application/json";

/// The content type of a server stream: one JSON message per line (protocol.md section 8).
pub const NDJSON: &str = "application/x-ndjson";

/// A body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// JSON (`application/json`, parameters such as `charset` allowed).
    Json,
}

impl Codec {
    /// The codec a request's `Content-Type` names; a missing one means JSON (protocol.md
    /// section 2); `None` when no codec reads it.
    pub fn from_content_type(content_type: Option<&str>) -> Option<Codec> {
        let Some(content_type) = content_type else {
            return Some(Codec::Json);
        };
        let essence = content_type.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case(JSON).then_some(Codec::Json)
    }

    /// The content type this codec writes.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Json => JSON,
        }
    }
}

/// The encodings a typed endpoint's (or call's) types support, and how to read `In` and write
/// `Out` in each: what typed handlers, streams and calls hold instead of naming an encoding.
pub(crate) struct Codecs<In, Out: ?Sized> {
    /// The codecs, the preferred one first (a call sends with it).
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

impl<In: DeserializeOwned, Out: Serialize + ?Sized> Codecs<In, Out> {
    /// JSON only: for serde types.
    pub fn json() -> Self {
        Codecs {
            accepts: &[Codec::Json],
            decode: |_, body| decode(body),
            encode: |_, value| encode(value),
        }
    }
}

impl<In, Out: ?Sized> Codecs<In, Out> {
    /// The codec for a request with this content type, if the types support it; else the 415
    /// naming what they take.
    pub fn select(&self, content_type: Option<&str>, what: &str) -> Result<Codec, Error> {
        match Codec::from_content_type(content_type) {
            Some(codec) if self.accepts.contains(&codec) => Ok(codec),
            _ => Err(unsupported(content_type.unwrap_or(""), what, self.accepts)),
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
}

/// The 415 for a content type `what` (a path or endpoint) does not take: it names what it takes.
pub(crate) fn unsupported(content_type: &str, what: &str, accepts: &[Codec]) -> Error {
    let takes: Vec<&str> = accepts.iter().map(|c| c.content_type()).collect();
    Error::new(
        415,
        format!(
            "unsupported content type {content_type:?} for {what} (it takes {})",
            takes.join(" or ")
        ),
    )
}

/// Frames one encoded JSON message as its NDJSON line: the message and a newline, into `out`.
pub fn ndjson_line(message: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(message);
    out.push(b'\n');
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Error {
        Error::Codec(err.to_string())
    }
}

/// Encodes `value` as compact JSON.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(serde_json::to_vec(value)?)
}

/// Decodes JSON; an empty (or all-whitespace) body decodes as `{}` (protocol.md section 2).
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::from_slice(b"{}")?);
    }
    Ok(serde_json::from_slice(body)?)
}

/// Encodes an error as the wire's error JSON.
pub fn encode_error(wire: &WireError) -> Vec<u8> {
    // A struct of strings and a number always serializes.
    serde_json::to_vec(wire).unwrap_or_else(|_| b"{}".to_vec())
}

/// A stream's last line for an error after the stream started: `{"error":{...}}` and a newline.
pub fn encode_stream_error(wire: &WireError) -> Vec<u8> {
    let mut line = br#"{"error":"#.to_vec();
    line.extend_from_slice(&encode_error(wire));
    line.extend_from_slice(b"}\n");
    line
}

/// The error a stream line carries, if it is an error line.
pub fn decode_stream_error(line: &[u8]) -> Option<Error> {
    #[derive(serde::Deserialize)]
    struct Line {
        error: WireError,
    }
    if !line.starts_with(br#"{"error""#) {
        return None;
    }
    let line: Line = serde_json::from_slice(line).ok()?;
    let code = line.error.code;
    Some(Error::from_wire(line.error, if code == 0 { 500 } else { code }))
}

/// Turns a non-2xx reply into an error, go-micro `errors.Parse` style: a JSON error body gives
/// id, code and detail; any other body becomes the detail, with the HTTP status as code.
pub fn decode_error(http_status: u16, body: &[u8]) -> Error {
    if let Ok(wire) = serde_json::from_slice::<WireError>(body)
        && (wire.code != 0 || !wire.detail.is_empty())
    {
        return Error::from_wire(wire, http_status);
    }
    let text = String::from_utf8_lossy(body);
    Error::with_id("", http_status, text.trim())
}

/// Pretty-prints JSON text for people; any other text comes back as it is.
pub fn pretty(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(default)]
    struct Hello {
        name: String,
    }

    #[test]
    fn empty_body_is_an_empty_object() {
        assert_eq!(decode::<Hello>(b"").unwrap(), Hello::default());
        assert_eq!(decode::<Hello>(b" \n").unwrap(), Hello::default());
    }

    #[test]
    fn round_trip_and_malformed_json() {
        let body = encode(&Hello { name: "Hobo".into() }).unwrap();
        assert_eq!(body, br#"{"name":"Hobo"}"#);
        assert_eq!(decode::<Hello>(&body).unwrap().name, "Hobo");
        let err = decode::<Hello>(b"{\"name\":").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn error_json_round_trips() {
        let wire = Error::not_found("unknown endpoint Example.Nope").wire("go.micro.srv.sample");
        let body = encode_error(&wire);
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"id":"go.micro.srv.sample","code":404,"detail":"unknown endpoint Example.Nope","status":"Not Found"}"#
        );
        let err = decode_error(404, &body);
        assert_eq!(err.wire("other"), wire);
    }

    #[test]
    fn stream_error_lines_round_trip() {
        let wire = Error::new(408, "late").wire("svc");
        let line = encode_stream_error(&wire);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(
            decode_stream_error(line.trim_ascii_end()).unwrap().wire("x"),
            wire
        );
        assert!(decode_stream_error(br#"{"count":1}"#).is_none());
        assert!(decode_stream_error(br#"{"error":"text"}"#).is_none());
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
            "",
        ] {
            assert_eq!(Codec::from_content_type(Some(other)), None, "{other}");
        }
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
    }

    #[test]
    fn ndjson_lines_end_in_a_newline() {
        let mut line = Vec::new();
        ndjson_line(&encode(&Hello { name: "a".into() }).unwrap(), &mut line);
        assert_eq!(line, b"{\"name\":\"a\"}\n");
    }

    #[test]
    fn pretty_printing() {
        assert_eq!(pretty(br#"{"msg":"Hello"}"#), "{\n  \"msg\": \"Hello\"\n}");
        assert_eq!(pretty(b"plain"), "plain");
    }

    #[test]
    fn non_json_error_body_becomes_the_detail() {
        let err = decode_error(503, b"upstream connect error\n");
        assert_eq!(
            (err.status(), err.detail().as_str()),
            (503, "upstream connect error")
        );
        let err = decode_error(502, br#"{"unrelated":true}"#);
        assert_eq!(
            (err.status(), err.detail().as_str()),
            (502, r#"{"unrelated":true}"#)
        );
    }
}
