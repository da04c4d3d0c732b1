//! Percent-encoding: form decoding of query strings and form bodies; the one home of the
//! `percent-encoding` crate.

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

#[cfg(test)]
mod tests {
    use super::form_decode;

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
}
