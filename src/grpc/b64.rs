//! Standard base64 (RFC 4648 section 4) for `-bin` metadata: decoding takes padded and unpadded
//! text, encoding writes unpadded, as gRPC asks.

/// The standard alphabet: a character per 6-bit value.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `bytes` without padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // 1, 2 or 3 bytes make 2, 3 or 4 characters.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The 6-bit value of a base64 character.
fn value(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes standard base64, padded (a length that is a multiple of 4, `=` only at the end) or
/// unpadded. Anything else (other characters, the URL alphabet, spaces, a stray `=`, a length
/// no encoder writes) is `None`. Like Go's decoder, which gRPC's peers use, the unused low bits
/// of the last character are not checked.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let unpadded = match bytes.len() % 4 {
        0 if bytes.ends_with(b"==") => &bytes[..bytes.len() - 2],
        0 if bytes.ends_with(b"=") => &bytes[..bytes.len() - 1],
        _ => bytes,
    };
    // One character left over carries only 6 bits: no encoder writes that.
    if unpadded.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(unpadded.len() / 4 * 3 + 2);
    for chunk in unpadded.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..chunk.len() - 1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    /// RFC 4648 section 10, with their padding.
    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc_4648_vectors_encode_unpadded() {
        for (plain, padded) in VECTORS {
            assert_eq!(
                encode(plain.as_bytes()),
                padded.trim_end_matches('='),
                "{plain:?}"
            );
        }
    }

    #[test]
    fn rfc_4648_vectors_decode_padded_and_unpadded() {
        for (plain, padded) in VECTORS {
            assert_eq!(decode(padded).as_deref(), Some(plain.as_bytes()), "{padded:?}");
            let unpadded = padded.trim_end_matches('=');
            assert_eq!(
                decode(unpadded).as_deref(),
                Some(plain.as_bytes()),
                "{unpadded:?}"
            );
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for len in 0..all.len() {
            assert_eq!(decode(&encode(&all[..len])).unwrap(), &all[..len]);
        }
        assert_eq!(encode(&[0xfb, 0xff]), "+/8");
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "Z", "Zg=", "Zg===", "=", "====", "Zm9v=", "Z=g=", "Zm=v", "Zm 9v", "Zm9v\n", "-_8", "Zm9v!",
            "Zé==",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
