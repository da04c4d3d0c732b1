//! HPACK's static Huffman code (RFC 7541 section 5.2, Appendix B): encoding, and decoding that
//! refuses EOS and bad padding.
//!
//! The code is canonical: within each bit length, codes are consecutive and ordered by symbol,
//! and each length starts where the previous one ended, shifted left. The table below is the
//! appendix transcribed; the decoding tables are computed from it at compile time by a `const
//! fn` that also asserts that canonical property, so a mistyped row fails the build.

/// (code, bit length) of symbols 0..=255 and EOS (256), codes right-aligned: RFC 7541 Appendix B.
#[rustfmt::skip]
const CODES: [(u32, u8); 257] = [
    // 0
    (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), (0xfffffe4, 28), (0xfffffe5, 28),
    (0xfffffe6, 28), (0xfffffe7, 28), (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
    (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28), (0xfffffed, 28), (0xfffffee, 28),
    (0xfffffef, 28), (0xffffff0, 28), (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
    (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), (0xffffff8, 28), (0xffffff9, 28),
    (0xffffffa, 28), (0xffffffb, 28),
    // 32: ' ' ! " # $ % & ' ( ) * + , - . /
    (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12), (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11),
    (0x3fa, 10), (0x3fb, 10), (0xf9, 8), (0x7fb, 11), (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
    // 48: 0-9 : ; < = > ?
    (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6), (0x1a, 6), (0x1b, 6), (0x1c, 6), (0x1d, 6),
    (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8), (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10),
    // 64: @ A-O
    (0x1ffa, 13), (0x21, 6), (0x5d, 7), (0x5e, 7), (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
    (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7), (0x67, 7), (0x68, 7), (0x69, 7), (0x6a, 7),
    // 80: P-Z [ \ ] ^ _
    (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7), (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7),
    (0xfc, 8), (0x73, 7), (0xfd, 8), (0x1ffb, 13), (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
    // 96: ` a-o
    (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5), (0x24, 6), (0x5, 5), (0x25, 6), (0x26, 6),
    (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7), (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5),
    // 112: p-z { | } ~ DEL
    (0x2b, 6), (0x76, 7), (0x2c, 6), (0x8, 5), (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
    (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15), (0x7fc, 11), (0x3ffd, 14), (0x1ffd, 13), (0xffffffc, 28),
    // 128
    (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20), (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23),
    (0x3fffd6, 22), (0x7fffda, 23), (0x7fffdb, 23), (0x7fffdc, 23), (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
    // 144
    (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23), (0xffffee, 24), (0x7fffe1, 23), (0x7fffe2, 23), (0x7fffe3, 23),
    (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23), (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24),
    // 160
    (0x3fffda, 22), (0x1fffdd, 21), (0xfffe9, 20), (0x3fffdb, 22), (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
    (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24), (0x1fffdf, 21), (0x3fffdf, 22), (0x7fffeb, 23), (0x7fffec, 23),
    // 176
    (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21), (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23),
    (0xfffea, 20), (0x3fffe2, 22), (0x3fffe3, 22), (0x3fffe4, 22), (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
    // 192
    (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), (0x3fffe7, 22), (0x7ffff2, 23), (0x3fffe8, 22), (0x1ffffec, 25),
    (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27), (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25),
    // 208
    (0x7fff2, 19), (0x1fffe3, 21), (0x3ffffe6, 26), (0x7ffffe0, 27), (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
    (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26), (0xffffffd, 28), (0x7ffffe3, 27), (0x7ffffe4, 27), (0x7ffffe5, 27),
    // 224
    (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21), (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23),
    (0x3fffea, 22), (0x3fffeb, 22), (0x1ffffee, 25), (0x1ffffef, 25), (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
    // 240
    (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), (0x7ffffe7, 27), (0x7ffffe8, 27), (0x7ffffe9, 27), (0x7ffffea, 27),
    (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27), (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26),
    // 256: EOS
    (0x3fffffff, 30),
];

const EOS: u16 = 256;
const MAX_BITS: usize = 30;

/// The canonical code's decoding tables: codes of `len` bits are `first[len]..first[len] +
/// count[len]`, standing for `symbols[start[len]..]` in order.
struct Canonical {
    first: [u32; MAX_BITS + 1],
    count: [u32; MAX_BITS + 1],
    start: [usize; MAX_BITS + 1],
    symbols: [u16; 257],
}

const fn canonical() -> Canonical {
    let mut c = Canonical {
        first: [0; MAX_BITS + 1],
        count: [0; MAX_BITS + 1],
        start: [0; MAX_BITS + 1],
        symbols: [0; 257],
    };
    let (mut next_code, mut filled, mut len) = (0u32, 0usize, 1usize);
    while len <= MAX_BITS {
        next_code <<= 1;
        c.first[len] = next_code;
        c.start[len] = filled;
        let mut sym = 0;
        while sym < CODES.len() {
            if CODES[sym].1 as usize == len {
                assert!(CODES[sym].0 == next_code, "Appendix B is mistyped: not canonical");
                c.symbols[filled] = sym as u16;
                filled += 1;
                next_code += 1;
                c.count[len] += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    // A complete code: every 30-bit string starts with exactly one code, EOS being the last.
    assert!(
        filled == 257 && next_code == 1 << MAX_BITS,
        "Appendix B is mistyped: incomplete"
    );
    c
}

const CANONICAL: Canonical = canonical();

/// Appends the Huffman decoding of `src` to `out`. Refuses EOS, padding longer than 7 bits,
/// and padding other than the most significant bits of EOS (all ones): RFC 7541 section 5.2.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
    let c = &CANONICAL;
    let (mut code, mut len) = (0u32, 0usize);
    for &byte in src {
        for shift in (0..8).rev() {
            code = code << 1 | u32::from(byte >> shift & 1);
            len += 1;
            // Below `first` wraps to a huge value: one comparison tests both ends.
            let offset = code.wrapping_sub(c.first[len]);
            if offset < c.count[len] {
                let sym = c.symbols[c.start[len] + offset as usize];
                if sym == EOS {
                    return Err("EOS in a Huffman string");
                }
                out.push(sym as u8);
                (code, len) = (0, 0);
            }
        }
    }
    if len > 7 {
        return Err("Huffman padding longer than 7 bits");
    }
    if code != (1 << len) - 1 {
        return Err("Huffman padding not all ones");
    }
    Ok(())
}

/// Appends `src` Huffman-coded, padded with ones to a byte boundary.
pub fn encode(src: &[u8], out: &mut Vec<u8>) {
    let (mut acc, mut bits) = (0u64, 0u32);
    for &byte in src {
        let (code, len) = CODES[usize::from(byte)];
        acc = acc << len | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push((acc << (8 - bits)) as u8 | 0xff >> bits);
    }
}

/// The length of `src` Huffman-coded, padding included.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(CODES[usize::from(b)].1)).sum();
    bits.div_ceil(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(src: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut out = Vec::new();
        decode(src, &mut out).map(|()| out)
    }

    fn encoded(src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(src, &mut out);
        assert_eq!(out.len(), encoded_len(src));
        out
    }

    #[test]
    fn the_rfc_7541_appendix_c_strings_encode_and_decode() {
        let cases: [(&[u8], &[u8]); 6] = [
            (
                b"www.example.com",
                b"\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff",
            ),
            (b"no-cache", b"\xa8\xeb\x10\x64\x9c\xbf"),
            (b"custom-key", b"\x25\xa8\x49\xe9\x5b\xa9\x7d\x7f"),
            (b"custom-value", b"\x25\xa8\x49\xe9\x5b\xb8\xe8\xb4\xbf"),
            (b"302", b"\x64\x02"),
            (b"gzip", b"\x9b\xd9\xab"),
        ];
        for (plain, coded) in cases {
            assert_eq!(encoded(plain), coded);
            assert_eq!(decoded(coded).unwrap(), plain);
        }
    }

    #[test]
    fn every_byte_value_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for end in 0..all.len() {
            assert_eq!(decoded(&encoded(&all[..end])).unwrap(), &all[..end]);
        }
        assert_eq!(decoded(b"").unwrap(), b"");
    }

    #[test]
    fn eos_in_a_string_is_refused() {
        // 30 ones (EOS), then two zero bits.
        assert_eq!(decoded(&[0xff, 0xff, 0xff, 0xfc]), Err("EOS in a Huffman string"));
    }

    #[test]
    fn padding_longer_than_7_bits_is_refused() {
        // 'a' (00011), then 11 ones; and a whole byte of ones alone.
        assert_eq!(
            decoded(&[0b0001_1111, 0xff]),
            Err("Huffman padding longer than 7 bits")
        );
        assert_eq!(decoded(&[0xff]), Err("Huffman padding longer than 7 bits"));
    }

    #[test]
    fn padding_not_all_ones_is_refused() {
        // 'a' (00011), then 110.
        assert_eq!(decoded(&[0b0001_1110]), Err("Huffman padding not all ones"));
        assert_eq!(decoded(&[0b0001_1111]).unwrap(), b"a");
    }
}
