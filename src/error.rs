//! The library's one error type, its HTTP status and its go-micro wire form.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::status::reason;

/// The id of errors the client raises itself (go-micro's convention).
pub const CLIENT_ID: &str = "go.micro.client";

/// Everything that can go wrong in micro-mesh, on either side of a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A go-micro error with a code: returned by a handler, made by the framework, or read from a reply.
    Micro {
        /// Who raised it (a service name, or `go.micro.client`); empty means "the serving service".
        id: String,
        /// The HTTP status code that is the error code.
        code: u16,
        /// A human-readable explanation.
        detail: String,
    },
    /// A call address or service name that cannot become a target; nothing was sent.
    Address(String),
    /// A command-line flag or environment variable with a bad value.
    Flag(String),
    /// A body that is not the JSON the receiver expects.
    Codec(String),
    /// A call that ran out of its time budget.
    Timeout(String),
    /// A target that could not be reached: refused, reset, or unknown host.
    Unreachable(String),
    /// A socket or file operation that failed.
    Io(std::io::Error),
}

/// The error JSON on the wire: `{"id","code","detail","status"}` (protocol.md section 3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct WireError {
    /// Who raised the error.
    pub id: String,
    /// The error code, equal to the HTTP status.
    pub code: u16,
    /// A human-readable explanation.
    pub detail: String,
    /// The reason phrase of `code`.
    pub status: String,
}

impl Error {
    /// An error with `code` and `detail`; its id becomes the serving service's name on the wire.
    pub fn new(code: u16, detail: impl Into<String>) -> Error {
        Error::with_id("", code, detail)
    }

    /// An error with an explicit id, as go-micro's `errors.New(id, detail, code)`.
    pub fn with_id(id: impl Into<String>, code: u16, detail: impl Into<String>) -> Error {
        Error::Micro {
            id: id.into(),
            code,
            detail: detail.into(),
        }
    }

    /// A 400 error.
    pub fn bad_request(detail: impl Into<String>) -> Error {
        Error::new(400, detail)
    }

    /// A 404 error.
    pub fn not_found(detail: impl Into<String>) -> Error {
        Error::new(404, detail)
    }

    /// A 500 error.
    pub fn internal(detail: impl Into<String>) -> Error {
        Error::new(500, detail)
    }

    /// The HTTP status this error is sent with, which is also its go-micro code.
    pub fn status(&self) -> u16 {
        match self {
            Error::Micro { code, .. } => *code,
            Error::Address(_) | Error::Io(_) => 500,
            Error::Flag(_) | Error::Codec(_) => 400,
            Error::Timeout(_) => 408,
            Error::Unreachable(_) => 503,
        }
    }

    /// Who raised the error; empty when the serving service should name itself.
    pub fn id(&self) -> &str {
        match self {
            Error::Micro { id, .. } => id,
            Error::Address(_) | Error::Timeout(_) | Error::Unreachable(_) => CLIENT_ID,
            Error::Flag(_) | Error::Codec(_) | Error::Io(_) => "",
        }
    }

    /// The explanation without id or code.
    pub fn detail(&self) -> String {
        match self {
            Error::Micro { detail, .. } => detail.clone(),
            other => other.to_string(),
        }
    }

    /// The wire form; `default_id` names the error when it has no id of its own.
    pub fn wire(&self, default_id: &str) -> WireError {
        let id = match self.id() {
            "" => default_id,
            id => id,
        };
        let code = self.status();
        WireError {
            id: id.to_string(),
            code,
            detail: self.detail(),
            status: reason(code).to_string(),
        }
    }

    /// Turns a decoded error JSON back into an error; a zero code takes the HTTP status.
    pub fn from_wire(wire: WireError, http_status: u16) -> Error {
        let code = if wire.code == 0 { http_status } else { wire.code };
        Error::Micro {
            id: wire.id,
            code,
            detail: wire.detail,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Micro { id, code, detail } if id.is_empty() => write!(f, "{detail} ({code})"),
            Error::Micro { id, code, detail } => write!(f, "{id}: {detail} ({code})"),
            Error::Address(msg) => write!(f, "bad call address: {msg}"),
            Error::Flag(msg) => write!(f, "{msg}"),
            Error::Codec(msg) => write!(f, "malformed json: {msg}"),
            Error::Timeout(msg) => write!(f, "call timed out: {msg}"),
            Error::Unreachable(msg) => write!(f, "upstream unreachable: {msg}"),
            Error::Io(err) => write!(f, "i/o error: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::Io(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_error_keeps_its_code_as_status() {
        let err = Error::not_found("unknown endpoint Example.Nope");
        assert_eq!(err.status(), 404);
        let wire = err.wire("go.micro.srv.sample");
        assert_eq!(
            wire,
            WireError {
                id: "go.micro.srv.sample".into(),
                code: 404,
                detail: "unknown endpoint Example.Nope".into(),
                status: "Not Found".into(),
            }
        );
    }

    #[test]
    fn own_id_wins_over_default() {
        let err = Error::with_id("go.micro.srv.sample", 409, "taken");
        assert_eq!(err.wire("go.micro.api.sample").id, "go.micro.srv.sample");
    }

    #[test]
    fn client_errors_carry_client_id_and_status() {
        let err = Error::Unreachable("connection refused".into());
        let wire = err.wire("svc");
        assert_eq!((wire.id.as_str(), wire.code), (CLIENT_ID, 503));
        assert_eq!(wire.detail, "upstream unreachable: connection refused");
        assert_eq!(Error::Timeout("x".into()).status(), 408);
    }

    #[test]
    fn from_wire_round_trip_and_zero_code() {
        let wire = Error::with_id("a", 418, "teapot").wire("b");
        let back = Error::from_wire(wire.clone(), 500);
        assert_eq!(back.wire("c"), wire);
        let zero = WireError {
            id: "a".into(),
            detail: "d".into(),
            ..WireError::default()
        };
        assert_eq!(Error::from_wire(zero, 502).status(), 502);
    }

    #[test]
    fn errors_cross_threads_and_box_into_std_errors() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<Error>();
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::internal("x"));
        assert_eq!(boxed.to_string(), "x (500)");
    }

    #[test]
    fn display_is_lowercase_and_names_the_code() {
        assert_eq!(Error::bad_request("bad").to_string(), "bad (400)");
        assert_eq!(Error::with_id("s", 404, "gone").to_string(), "s: gone (404)");
        assert!(
            Error::Address("empty".into())
                .to_string()
                .starts_with("bad call address")
        );
    }
}
