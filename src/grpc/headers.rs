//! gRPC request headers (protocol.md section 9): which become a handler's metadata, which the
//! server reads itself, and what a client sends of its metadata. `-bin` values are base64.

use std::time::Duration;

use crate::error::{CLIENT_ID, Error};
use crate::metadata::{Metadata, forwardable};

use super::b64;
use super::content::{self, Negotiated};
use super::timeout;

/// Headers the transport and gRPC itself use: never metadata, never sent from metadata.
/// (`user-agent` stays metadata, as in gRPC's own servers; `grpc-trace-bin` and other `grpc-`
/// names gRPC leaves to metadata are not here.)
pub const RESERVED: [&str; 9] = [
    "content-type",
    "te",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-message-type",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
];

/// go-micro's headers the server consumes (the deadline, the codec): not metadata either.
pub const CONSUMED: [&str; 2] = ["timeout", "x-content-type"];

/// Whether a header is never metadata: a pseudo-header, [`RESERVED`] or [`CONSUMED`].
pub fn is_reserved(name: &str) -> bool {
    name.starts_with(':')
        || RESERVED
            .iter()
            .chain(&CONSUMED)
            .any(|r| r.eq_ignore_ascii_case(name))
}

/// Whether a header's value is binary, and so base64 on the wire (`-bin` names).
pub fn is_binary(name: &str) -> bool {
    name.len() >= 4 && name.as_bytes()[name.len() - 4..].eq_ignore_ascii_case(b"-bin")
}

/// The canonical form of a `-bin` value: its bytes re-encoded unpadded; `None` when it is not
/// base64.
fn canonical_binary(value: &str) -> Option<String> {
    b64::decode(value).map(|bytes| b64::encode(&bytes))
}

/// A gRPC request's headers, sorted: the handler's metadata, and what the server reads itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Incoming {
    /// Every non-pseudo, non-reserved header, in arrival order. A `-bin` value is checked as
    /// base64 and kept in its canonical (unpadded) text: metadata values are text, and the text
    /// forwards unchanged ([`b64::decode`] gives the bytes).
    pub metadata: Metadata,
    /// The [`RESERVED`] and [`CONSUMED`] headers.
    pub reserved: Metadata,
}

impl Incoming {
    /// Sorts a request's header list (pseudo-headers are skipped). A `-bin` value that is not
    /// base64 is a 400 (`INVALID_ARGUMENT`).
    pub fn from_headers<'h>(
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
    ) -> Result<Incoming, Error> {
        let mut incoming = Incoming::default();
        for (name, value) in headers {
            if name.starts_with(':') {
                continue;
            }
            if is_reserved(name) {
                incoming.reserved.append(name, value);
            } else if is_binary(name) {
                let value = canonical_binary(value)
                    .ok_or_else(|| Error::bad_request(format!("malformed base64 in header {name}")))?;
                incoming.metadata.append(name, value);
            } else {
                incoming.metadata.append(name, value);
            }
        }
        Ok(incoming)
    }

    /// The codec, from `content-type` and `x-content-type` ([`content::negotiate`]).
    pub fn negotiate(&self) -> Result<Negotiated, Error> {
        let content_type = self.reserved.get("content-type").unwrap_or("");
        content::negotiate(content_type, self.reserved.get("x-content-type"))
    }

    /// The budget, from `grpc-timeout` and `timeout` ([`timeout::deadline`]).
    pub fn deadline(&self) -> Result<Option<Duration>, Error> {
        timeout::deadline(self.reserved.get("grpc-timeout"), self.reserved.get("timeout"))
    }
}

/// The headers a client sends for its call's metadata, in order: all but the reserved and
/// consumed ones (the client sets those itself) and those never forwarded (hop-by-hop, `host`,
/// `proxy-*`); `-bin` values re-encoded unpadded. A `-bin` value that is not base64 is a client
/// error (400, nothing sent).
pub fn outgoing(metadata: &Metadata) -> Result<Vec<(String, String)>, Error> {
    let mut headers = Vec::with_capacity(metadata.len());
    for (name, value) in metadata.iter() {
        if is_reserved(name) || !forwardable(name) {
            continue;
        }
        let value = if is_binary(name) {
            canonical_binary(value)
                .ok_or_else(|| Error::with_id(CLIENT_ID, 400, format!("metadata {name} is not base64")))?
        } else {
            value.to_string()
        };
        headers.push((name.to_string(), value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::content::GrpcCodec;

    const REQUEST: [(&str, &str); 13] = [
        (":method", "POST"),
        (":path", "/go.micro.srv.sample.Example/Call"),
        (":authority", "go-micro-srv-sample:9090"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", "2S"),
        ("grpc-accept-encoding", "identity"),
        ("timeout", "1000000000"),
        ("x-content-type", "application/json"),
        ("user-agent", "grpc-go/1.60"),
        ("x-request-id", "abc"),
        ("grpc-trace-bin", "AAEC"),
        ("Authorization", "Bearer t"),
    ];

    #[test]
    fn only_non_pseudo_non_reserved_headers_become_metadata() {
        let incoming = Incoming::from_headers(REQUEST).unwrap();
        let names: Vec<&str> = incoming.metadata.iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            ["user-agent", "x-request-id", "grpc-trace-bin", "authorization"]
        );
        assert_eq!(incoming.reserved.get("x-content-type"), Some("application/json"));
        assert!(!incoming.reserved.contains(":path"));
    }

    #[test]
    fn the_server_reads_codec_and_deadline_from_what_it_consumed() {
        let incoming = Incoming::from_headers(REQUEST).unwrap();
        let negotiated = incoming.negotiate().unwrap();
        assert_eq!((negotiated.codec, negotiated.bare), (GrpcCodec::Json, true));
        assert_eq!(incoming.deadline().unwrap(), Some(Duration::from_secs(1)));
        let none = Incoming::from_headers([("content-type", "application/grpc")]).unwrap();
        assert_eq!(none.deadline().unwrap(), None);
        assert_eq!(none.negotiate().unwrap().codec, GrpcCodec::Proto);
    }

    #[test]
    fn bin_values_are_kept_in_canonical_unpadded_base64() {
        let incoming =
            Incoming::from_headers([("grpc-trace-bin", "AAECAw=="), ("x-id-Bin", "AAECAw")]).unwrap();
        assert_eq!(incoming.metadata.get("grpc-trace-bin"), Some("AAECAw"));
        assert_eq!(incoming.metadata.get("x-id-bin"), Some("AAECAw"));
        assert_eq!(
            b64::decode(incoming.metadata.get("x-id-bin").unwrap()).unwrap(),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn a_bin_value_that_is_not_base64_is_400() {
        let err = Incoming::from_headers([("x-id-bin", "not base64!")]).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.detail().contains("x-id-bin"));
    }

    #[test]
    fn reserved_names_are_matched_in_any_case() {
        assert!(is_reserved("Content-Type") && is_reserved("GRPC-TIMEOUT") && is_reserved(":path"));
        assert!(is_reserved("Timeout") && is_reserved("X-Content-Type"));
        assert!(!is_reserved("user-agent") && !is_reserved("grpc-trace-bin") && !is_reserved("x-request-id"));
        assert!(
            is_binary("grpc-trace-bin") && is_binary("X-BIN") && !is_binary("bin") && !is_binary("x-binary")
        );
    }

    #[test]
    fn outgoing_drops_reserved_and_hop_by_hop_and_unpads_bin_values() {
        let md: Metadata = [
            ("x-request-id", "abc"),
            ("content-type", "application/json"),
            ("grpc-timeout", "1S"),
            ("timeout", "5"),
            ("connection", "close"),
            ("host", "elsewhere"),
            ("proxy-authorization", "x"),
            ("grpc-trace-bin", "AAECAw=="),
            ("authorization", "Bearer t"),
        ]
        .into_iter()
        .collect();
        let sent = outgoing(&md).unwrap();
        let sent: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            sent,
            [
                ("x-request-id", "abc"),
                ("grpc-trace-bin", "AAECAw"),
                ("authorization", "Bearer t")
            ]
        );
    }

    #[test]
    fn outgoing_refuses_a_bin_value_that_is_not_base64() {
        let md: Metadata = [("x-id-bin", "%%")].into_iter().collect();
        let err = outgoing(&md).unwrap_err();
        assert_eq!((err.status(), err.id()), (400, CLIENT_ID));
    }
}
