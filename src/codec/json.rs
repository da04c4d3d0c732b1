//! JSON, serde_json's one home: bodies, the error JSON (protocol.md section 3), NDJSON stream
//! lines (section 8) and pretty-printing for people.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, WireError};

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

/// Frames one encoded JSON message as its NDJSON line: the message and a newline, into `out`.
pub fn ndjson_line(message: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(message);
    out.push(b'\n');
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
