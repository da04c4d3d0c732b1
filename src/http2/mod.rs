//! HTTP/2 without I/O: the frame codec (`frame`) and header compression (`hpack`) that the gRPC
//! server and client build on, plus what both share: the preface, error codes and SETTINGS.
//!
//! Everything here works on byte slices and `Vec<u8>`s; reading, writing, streams and flow
//! control are the connection's job.

pub mod frame;
mod fuzz;
pub mod hpack;

#[doc(hidden)]
pub use fuzz::{fuzz_h2_frames, fuzz_hpack};

/// The client connection preface (RFC 9113 section 3.4), the first bytes a client sends.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The largest flow-control window and window increment: 2^31 - 1.
pub const MAX_WINDOW_SIZE: u32 = (1 << 31) - 1;
/// The largest stream id (31 bits; the top bit of the field is reserved).
pub const MAX_STREAM_ID: u32 = (1 << 31) - 1;
/// The smallest SETTINGS_MAX_FRAME_SIZE, also its initial value.
pub const MIN_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest SETTINGS_MAX_FRAME_SIZE: 2^24 - 1.
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;

/// SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table size the sender's decoder allows.
pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
/// SETTINGS_ENABLE_PUSH: 0 or 1.
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
/// SETTINGS_MAX_CONCURRENT_STREAMS: how many streams the sender lets its peer open.
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// SETTINGS_INITIAL_WINDOW_SIZE: each new stream's flow-control window.
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
/// SETTINGS_MAX_FRAME_SIZE: the largest frame payload the sender accepts.
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
/// SETTINGS_MAX_HEADER_LIST_SIZE: advisory cap on a header list (names + values + 32 per field).
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// The initial SETTINGS_HEADER_TABLE_SIZE.
pub const DEFAULT_HEADER_TABLE_SIZE: u32 = 4_096;
/// The initial SETTINGS_INITIAL_WINDOW_SIZE, also the connection's initial window.
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_535;

/// An error code of RST_STREAM and GOAWAY (RFC 9113 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x0: graceful shutdown, or no error.
    NoError,
    /// 0x1: an unspecific protocol error.
    ProtocolError,
    /// 0x2: an unexpected internal error.
    InternalError,
    /// 0x3: the peer broke flow control.
    FlowControlError,
    /// 0x4: SETTINGS were not acknowledged in time.
    SettingsTimeout,
    /// 0x5: a frame arrived on a half-closed stream.
    StreamClosed,
    /// 0x6: a frame had the wrong size.
    FrameSizeError,
    /// 0x7: the stream was refused before any processing (safe to retry).
    RefusedStream,
    /// 0x8: the stream is no longer needed.
    Cancel,
    /// 0x9: the HPACK state cannot be kept.
    CompressionError,
    /// 0xa: a CONNECT tunnel failed.
    ConnectError,
    /// 0xb: the peer generates excessive load.
    EnhanceYourCalm,
    /// 0xc: the transport's security is not enough.
    InadequateSecurity,
    /// 0xd: use HTTP/1.1 instead.
    Http11Required,
    /// Any other code: kept as sent; unknown codes must not trigger special behavior.
    Unknown(u32),
}

impl ErrorCode {
    /// The code on the wire.
    pub fn to_u32(self) -> u32 {
        match self {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Unknown(code) => code,
        }
    }

    /// The code for a value on the wire; values without a name become `Unknown`.
    pub fn from_u32(code: u32) -> ErrorCode {
        match code {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            other => ErrorCode::Unknown(other),
        }
    }
}

impl From<u32> for ErrorCode {
    fn from(code: u32) -> ErrorCode {
        ErrorCode::from_u32(code)
    }
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> u32 {
        code.to_u32()
    }
}

/// A connection error (RFC 9113 section 5.4.1): the connection sends GOAWAY with `code`, then
/// closes. `reason` is for logs (and GOAWAY's debug data), never for the peer to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionError {
    /// The code to send in GOAWAY.
    pub code: ErrorCode,
    /// What was wrong, for logs.
    pub reason: &'static str,
}

impl ConnectionError {
    /// A PROTOCOL_ERROR with `reason`.
    pub fn protocol(reason: &'static str) -> ConnectionError {
        ConnectionError {
            code: ErrorCode::ProtocolError,
            reason,
        }
    }

    /// A FLOW_CONTROL_ERROR with `reason`.
    pub fn flow_control(reason: &'static str) -> ConnectionError {
        ConnectionError {
            code: ErrorCode::FlowControlError,
            reason,
        }
    }

    /// A FRAME_SIZE_ERROR with `reason`.
    pub fn frame_size(reason: &'static str) -> ConnectionError {
        ConnectionError {
            code: ErrorCode::FrameSizeError,
            reason,
        }
    }
}

/// One side's SETTINGS (RFC 9113 section 6.5.2), starting at the protocol's initial values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// SETTINGS_HEADER_TABLE_SIZE (initially 4096).
    pub header_table_size: u32,
    /// SETTINGS_ENABLE_PUSH (initially true; a client must reject a server's 1 itself).
    pub enable_push: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS (initially unlimited: `None`).
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE (initially 65535, at most 2^31 - 1).
    pub initial_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE (initially 16384, within 16384..=16777215).
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (initially unlimited: `None`).
    pub max_header_list_size: Option<u32>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            header_table_size: DEFAULT_HEADER_TABLE_SIZE,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: DEFAULT_INITIAL_WINDOW_SIZE,
            max_frame_size: MIN_MAX_FRAME_SIZE,
            max_header_list_size: None,
        }
    }
}

impl Settings {
    /// Applies a SETTINGS frame's parameters in order, after checking them all: an invalid
    /// value changes nothing and is the connection error the RFC names. Unknown ids are ignored.
    pub fn apply(&mut self, params: &[(u16, u32)]) -> Result<(), ConnectionError> {
        for &(id, value) in params {
            check_setting(id, value)?;
        }
        for &(id, value) in params {
            match id {
                SETTINGS_HEADER_TABLE_SIZE => self.header_table_size = value,
                SETTINGS_ENABLE_PUSH => self.enable_push = value == 1,
                SETTINGS_MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
                SETTINGS_INITIAL_WINDOW_SIZE => self.initial_window_size = value,
                SETTINGS_MAX_FRAME_SIZE => self.max_frame_size = value,
                SETTINGS_MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
                _ => {}
            }
        }
        Ok(())
    }

    /// The parameters that differ from the initial values: what a SETTINGS frame must carry.
    pub fn params(&self) -> Vec<(u16, u32)> {
        let initial = Settings::default();
        let mut params = Vec::new();
        if self.header_table_size != initial.header_table_size {
            params.push((SETTINGS_HEADER_TABLE_SIZE, self.header_table_size));
        }
        if self.enable_push != initial.enable_push {
            params.push((SETTINGS_ENABLE_PUSH, u32::from(self.enable_push)));
        }
        if let Some(n) = self.max_concurrent_streams {
            params.push((SETTINGS_MAX_CONCURRENT_STREAMS, n));
        }
        if self.initial_window_size != initial.initial_window_size {
            params.push((SETTINGS_INITIAL_WINDOW_SIZE, self.initial_window_size));
        }
        if self.max_frame_size != initial.max_frame_size {
            params.push((SETTINGS_MAX_FRAME_SIZE, self.max_frame_size));
        }
        if let Some(n) = self.max_header_list_size {
            params.push((SETTINGS_MAX_HEADER_LIST_SIZE, n));
        }
        params
    }
}

/// Checks one SETTINGS parameter's value against RFC 9113 section 6.5.2.
pub fn check_setting(id: u16, value: u32) -> Result<(), ConnectionError> {
    match id {
        SETTINGS_ENABLE_PUSH if value > 1 => {
            Err(ConnectionError::protocol("SETTINGS_ENABLE_PUSH not 0 or 1"))
        }
        SETTINGS_INITIAL_WINDOW_SIZE if value > MAX_WINDOW_SIZE => Err(ConnectionError::flow_control(
            "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
        )),
        SETTINGS_MAX_FRAME_SIZE if !(MIN_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) => Err(
            ConnectionError::protocol("SETTINGS_MAX_FRAME_SIZE outside 16384..=16777215"),
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip_and_unknown_codes_are_kept() {
        for code in 0..=0xe {
            assert_eq!(ErrorCode::from_u32(code).to_u32(), code);
        }
        assert_eq!(ErrorCode::from(0x7), ErrorCode::RefusedStream);
        assert_eq!(ErrorCode::from(0xe), ErrorCode::Unknown(0xe));
        assert_eq!(u32::from(ErrorCode::Unknown(0xdead)), 0xdead);
    }

    #[test]
    fn the_preface_is_the_rfc_string() {
        assert_eq!(&PREFACE[..], "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_bytes());
    }

    #[test]
    fn settings_apply_known_values_and_ignore_unknown_ids() {
        let mut s = Settings::default();
        s.apply(&[
            (1, 0),
            (2, 0),
            (3, 100),
            (4, MAX_WINDOW_SIZE),
            (5, MAX_MAX_FRAME_SIZE),
            (6, 8192),
            (0xff, 7),
        ])
        .unwrap();
        let want = Settings {
            header_table_size: 0,
            enable_push: false,
            max_concurrent_streams: Some(100),
            initial_window_size: MAX_WINDOW_SIZE,
            max_frame_size: MAX_MAX_FRAME_SIZE,
            max_header_list_size: Some(8192),
        };
        assert_eq!(s, want);
        let mut again = Settings::default();
        again.apply(&s.params()).unwrap();
        assert_eq!(
            again, s,
            "params() carries everything that differs from the defaults"
        );
        assert!(Settings::default().params().is_empty());
    }

    #[test]
    fn an_initial_window_above_2_31_minus_1_is_a_flow_control_error() {
        let err = Settings::default().apply(&[(4, 1 << 31)]).unwrap_err();
        assert_eq!(err.code, ErrorCode::FlowControlError);
    }

    #[test]
    fn a_max_frame_size_outside_its_range_is_a_protocol_error() {
        for bad in [0, 16_383, 16_777_216, u32::MAX] {
            let err = Settings::default().apply(&[(5, bad)]).unwrap_err();
            assert_eq!(err.code, ErrorCode::ProtocolError, "{bad}");
        }
        assert!(Settings::default().apply(&[(5, 16_384)]).is_ok());
    }

    #[test]
    fn enable_push_other_than_0_or_1_is_a_protocol_error() {
        assert_eq!(
            Settings::default().apply(&[(2, 2)]).unwrap_err().code,
            ErrorCode::ProtocolError
        );
    }

    #[test]
    fn an_invalid_value_changes_nothing() {
        let mut s = Settings::default();
        assert!(s.apply(&[(3, 10), (5, 1)]).is_err());
        assert_eq!(s, Settings::default());
    }
}
