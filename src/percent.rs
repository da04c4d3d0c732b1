//! Percent-encoding: form decoding of query strings and form bodies, and gRPC's `grpc-message`
//! escaping; the one home of the `percent-encoding` crate.

use percent_encoding::{AsciiSet, CONTROLS};

/// What `grpc-message` escapes besides non-ASCII bytes (always escaped): everything outside
/// `%x20-%x24 / %x26-%x7E`, i.e. the controls, DEL and `%` itself (protocol.md section 9).
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
///
/// A `%` not followed by two hex digits is kept as it is; bytes that are not UTF-8 become U+FFFD.
pub fn form_decode(s: &str) -> String {
    let spaced;
    let s = if s.contains('+') {
        spaced = s.replace('+', " ");
        spaced.as_str()
    } else {
        s
    };
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Escapes text for a `grpc-message` trailer: every byte outside `%x20-%x24 / %x26-%x7E`
/// becomes `%XX` (uppercase hex), UTF-8 bytes one by one.
pub fn grpc_message_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, GRPC_MESSAGE).to_string()
}

/// Unescapes a `grpc-message` trailer leniently, as gRPC asks of receivers: a `%` not followed by
/// two hex digits is kept as it is, and bytes that are not UTF-8 become U+FFFD.
pub fn grpc_message_decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::{form_decode, grpc_message_decode, grpc_message_encode};

    #[test]
    fn form_decoding_keeps_stray_percents_and_replaces_bad_utf8() {
        assert_eq!(form_decode("Hobo"), "Hobo");
        assert_eq!(form_decode("a+b%20c%2Fd"), "a b c/d");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%C3%A9"), "\u{e9}");
        assert_eq!(form_decode("%2B"), "+");
        assert_eq!(form_decode("%FF"), "\u{fffd}");
    }

    #[test]
    fn grpc_message_escapes_percent_controls_and_non_ascii_in_uppercase() {
        let json = r#"{"id":"x","code":404,"detail":"100% gone: café\n","status":"Not Found"}"#;
        assert_eq!(
            grpc_message_encode(json),
            r#"{"id":"x","code":404,"detail":"100%25 gone: caf%C3%A9\n","status":"Not Found"}"#
        );
        assert_eq!(grpc_message_encode("\u{0}\u{1f}\u{7f}"), "%00%1F%7F");
    }

    #[test]
    fn grpc_message_keeps_every_printable_ascii_byte_but_percent() {
        let printable: String = (0x20u8..=0x7e).map(char::from).collect();
        let encoded = grpc_message_encode(&printable);
        assert_eq!(encoded, printable.replace('%', "%25"));
    }

    #[test]
    fn grpc_message_round_trips() {
        for text in ["", "plain", "100%", "caf\u{e9} \u{1f600}", "a\r\nb\t%%", "%41"] {
            assert_eq!(grpc_message_decode(&grpc_message_encode(text)), text, "{text:?}");
        }
    }

    #[test]
    fn grpc_message_decoding_keeps_bad_escapes_and_replaces_bad_utf8() {
        assert_eq!(grpc_message_decode("100%"), "100%");
        assert_eq!(grpc_message_decode("%zz%4%"), "%zz%4%");
        assert_eq!(grpc_message_decode("a%20b+c"), "a b+c");
        assert_eq!(grpc_message_decode("%c3%a9"), "\u{e9}");
        assert_eq!(grpc_message_decode("%FF"), "\u{fffd}");
    }
}
