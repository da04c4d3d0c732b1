//! gRPC status codes and the tables between them and go-micro codes (protocol.md section 9):
//! what a server puts in `grpc-status` and `grpc-message`, and what a client makes of them.

use crate::codec;
use crate::error::{Error, WireError};
use crate::percent;

/// A gRPC status code (`grpc-status`), as gRPC's `doc/statuscodes.md` numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// 0: not an error.
    Ok = 0,
    /// 1: cancelled, typically by the caller.
    Cancelled = 1,
    /// 2: an error with no better code.
    Unknown = 2,
    /// 3: the request itself is wrong.
    InvalidArgument = 3,
    /// 4: the deadline passed first.
    DeadlineExceeded = 4,
    /// 5: something requested was not found.
    NotFound = 5,
    /// 6: something to be created exists.
    AlreadyExists = 6,
    /// 7: the caller may not do this.
    PermissionDenied = 7,
    /// 8: a quota or a size limit was hit.
    ResourceExhausted = 8,
    /// 9: the system is not in the state this needs.
    FailedPrecondition = 9,
    /// 10: aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// 11: past the valid range.
    OutOfRange = 11,
    /// 12: not implemented or not supported (an unknown method, a compressed message).
    Unimplemented = 12,
    /// 13: an invariant broke (a protocol error).
    Internal = 13,
    /// 14: unavailable for now; retrying may help.
    Unavailable = 14,
    /// 15: data lost or corrupted.
    DataLoss = 15,
    /// 16: no valid credentials.
    Unauthenticated = 16,
}

/// Every code, indexed by its value.
const CODES: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// The code with this value, if gRPC defines one.
    pub fn from_value(value: u32) -> Option<Code> {
        CODES.get(usize::try_from(value).ok()?).copied()
    }

    /// The value sent in `grpc-status`.
    pub fn value(self) -> u32 {
        self as u32
    }

    /// The canonical name, such as `NOT_FOUND`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// The `grpc-status` a server sends for a go-micro code (an HTTP status); any code the table does
/// not name is `UNKNOWN`.
pub fn grpc_code(micro_code: u16) -> Code {
    match micro_code {
        200 => Code::Ok,
        400 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 => Code::DeadlineExceeded,
        409 => Code::AlreadyExists,
        412 => Code::FailedPrecondition,
        501 => Code::Unimplemented,
        500 => Code::Internal,
        503 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The go-micro code a client gives a `grpc-status` whose `grpc-message` carries no go-micro
/// error: the reverse of [`grpc_code`], and 500 for every status that table does not produce
/// (including `UNKNOWN`, and values gRPC does not define).
pub fn micro_code(grpc_status: u32) -> u16 {
    match Code::from_value(grpc_status) {
        Some(Code::Ok) => 200,
        Some(Code::InvalidArgument) => 400,
        Some(Code::Unauthenticated) => 401,
        Some(Code::PermissionDenied) => 403,
        Some(Code::NotFound) => 404,
        Some(Code::DeadlineExceeded) => 408,
        Some(Code::AlreadyExists) => 409,
        Some(Code::FailedPrecondition) => 412,
        Some(Code::Unimplemented) => 501,
        Some(Code::Unavailable) => 503,
        _ => 500,
    }
}

/// The gRPC status of a reply that has no `grpc-status` (a proxy's local reply), from its HTTP
/// status, the way gRPC clients map it (`doc/http-grpc-status-mapping.md`).
pub fn proxy_code(http_status: u16) -> Code {
    match http_status {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// A failed gRPC call as a server ends it: the `grpc-status` and the go-micro error that
/// `grpc-message` carries.
///
/// The code usually follows from the error by [`grpc_code`] (`From<Error>`); it is given
/// separately where gRPC wants a code the table has no go-micro code for (an oversized message is
/// `RESOURCE_EXHAUSTED` with a 413 inside).
#[derive(Debug)]
pub struct Status {
    /// The `grpc-status`.
    pub code: Code,
    /// The error `grpc-message` carries, as go-micro's error JSON.
    pub error: Error,
}

impl Status {
    /// A status with an explicit code.
    pub fn new(code: Code, error: Error) -> Status {
        Status { code, error }
    }

    /// The `grpc-message` value: the go-micro error JSON (`id` defaulting to `service`),
    /// percent-encoded.
    pub fn grpc_message(&self, service: &str) -> String {
        let json = codec::encode_error(&self.error.wire(service));
        // The JSON is UTF-8 (serde_json writes strings only); lossy never replaces anything.
        percent::grpc_message_encode(&String::from_utf8_lossy(&json))
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        Status {
            code: grpc_code(error.status()),
            error,
        }
    }
}

/// The error a client makes of a non-OK `grpc-status` and the raw (still percent-encoded)
/// `grpc-message`, in protocol.md's order: the go-micro error JSON in the message when it parses
/// with a code above zero; else [`micro_code`] with the message (or the status's name, when the
/// message is empty) as detail. An `OK` status passed here is treated as an error without a
/// code: 500.
pub fn error_for(grpc_status: u32, grpc_message: &str) -> Error {
    let message = percent::grpc_message_decode(grpc_message);
    if let Ok(wire) = codec::decode::<WireError>(message.as_bytes())
        && wire.code > 0
    {
        return Error::from_wire(wire, 500);
    }
    let code = match micro_code(grpc_status) {
        200 => 500,
        code => code,
    };
    let detail = match (message.is_empty(), Code::from_value(grpc_status)) {
        (false, _) => message,
        (true, Some(known)) => known.name().to_string(),
        (true, None) => format!("grpc-status {grpc_status}"),
    };
    Error::new(code, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_values_and_name_themselves() {
        for value in 0..=16 {
            let code = Code::from_value(value).unwrap();
            assert_eq!(code.value(), value);
        }
        assert_eq!(Code::from_value(17), None);
        assert_eq!(Code::from_value(u32::MAX), None);
        assert_eq!(Code::ResourceExhausted.name(), "RESOURCE_EXHAUSTED");
        assert_eq!(Code::Unauthenticated.value(), 16);
    }

    #[test]
    fn every_row_of_the_server_table() {
        let rows = [
            (200, 0),
            (400, 3),
            (401, 16),
            (403, 7),
            (404, 5),
            (408, 4),
            (409, 6),
            (412, 9),
            (501, 12),
            (500, 13),
            (503, 14),
        ];
        for (micro, grpc) in rows {
            assert_eq!(grpc_code(micro).value(), grpc, "{micro}");
        }
        for other in [0, 201, 405, 413, 415, 429, 502, 504, 999] {
            assert_eq!(grpc_code(other), Code::Unknown, "{other}");
        }
    }

    #[test]
    fn every_row_of_the_client_table_reverses_the_server_table() {
        for micro in [200, 400, 401, 403, 404, 408, 409, 412, 501, 500, 503] {
            assert_eq!(micro_code(grpc_code(micro).value()), micro, "{micro}");
        }
        for other in [1, 2, 8, 10, 11, 15, 17, 99, u32::MAX] {
            assert_eq!(micro_code(other), 500, "{other}");
        }
    }

    #[test]
    fn every_row_of_the_proxy_table() {
        let rows = [
            (400, 13),
            (401, 16),
            (403, 7),
            (404, 12),
            (429, 14),
            (502, 14),
            (503, 14),
            (504, 14),
        ];
        for (http, grpc) in rows {
            assert_eq!(proxy_code(http).value(), grpc, "{http}");
        }
        for other in [200, 405, 408, 500, 501] {
            assert_eq!(proxy_code(other), Code::Unknown, "{other}");
        }
    }

    #[test]
    fn a_status_takes_its_code_from_the_error_unless_given() {
        let status = Status::from(Error::not_found("unknown endpoint Example.Nope"));
        assert_eq!(status.code, Code::NotFound);
        let status = Status::new(Code::ResourceExhausted, Error::new(413, "too big"));
        assert_eq!(
            (status.code, status.error.status()),
            (Code::ResourceExhausted, 413)
        );
    }

    #[test]
    fn grpc_message_is_the_percent_encoded_error_json() {
        let status = Status::from(Error::not_found("100% caf\u{e9}"));
        assert_eq!(
            status.grpc_message("go.micro.srv.sample"),
            r#"{"id":"go.micro.srv.sample","code":404,"detail":"100%25 caf%C3%A9","status":"Not Found"}"#
        );
    }

    #[test]
    fn error_for_prefers_the_json_in_the_message() {
        let status = Status::new(Code::ResourceExhausted, Error::with_id("svc", 413, "big"));
        let err = error_for(status.code.value(), &status.grpc_message("other"));
        assert_eq!(err.wire("x"), status.error.wire("y"));
    }

    #[test]
    fn error_for_falls_back_to_the_reverse_table_with_the_message_as_detail() {
        let err = error_for(5, "no such thing: caf%C3%A9 100%");
        assert_eq!(
            (err.status(), err.detail()),
            (404, "no such thing: café 100%".into())
        );
        let err = error_for(14, r#"{"id":"a","code":0,"detail":"zero code"}"#);
        assert_eq!(err.status(), 503);
        assert!(err.detail().contains("zero code"));
        assert_eq!(error_for(8, "quota").status(), 500);
    }

    #[test]
    fn error_for_names_the_status_when_the_message_is_empty() {
        assert_eq!(error_for(7, "").detail(), "PERMISSION_DENIED");
        assert_eq!(
            (error_for(42, "").status(), error_for(42, "").detail()),
            (500, "grpc-status 42".into())
        );
        assert_eq!(error_for(0, "").status(), 500);
    }
}
