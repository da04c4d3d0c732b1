//! The HPACK encoder, kept simple: static-table indexes, literals without indexing (never
//! indexed when sensitive), Huffman when shorter.
//!
//! It inserts nothing into the dynamic table, so the peer's decoder table stays empty and no
//! eviction can ever get out of step; the cost is a few bytes per repeated custom header.

use super::table::find_static;
use super::{Header, encode_int, huffman};
use crate::http2::DEFAULT_HEADER_TABLE_SIZE;

/// Encodes the header blocks of one connection.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The dynamic table size the peer's decoder believes we use.
    table_size: usize,
    /// A size update owed at the start of the next block.
    pending_update: Option<usize>,
    huffman: bool,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder for a peer with the initial SETTINGS_HEADER_TABLE_SIZE (4096), using Huffman
    /// coding when it is shorter.
    pub fn new() -> Encoder {
        Encoder {
            table_size: DEFAULT_HEADER_TABLE_SIZE as usize,
            pending_update: None,
            huffman: true,
        }
    }

    /// Turns Huffman coding on (when shorter) or off.
    pub fn set_huffman(&mut self, on: bool) {
        self.huffman = on;
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE is now `size`. Below the size its decoder believes
    /// we use, RFC 7541 section 4.2 wants a size update at the start of our next block, which
    /// the peer may insist on even though our table is empty.
    pub fn set_header_table_size(&mut self, size: usize) {
        if size < self.table_size {
            self.table_size = size;
            self.pending_update = Some(size);
        }
    }

    /// Appends one header block holding `headers`, in order.
    pub fn encode(&mut self, headers: &[Header], out: &mut Vec<u8>) {
        self.start_block(out);
        for h in headers {
            self.field(&h.name, &h.value, h.sensitive, out);
        }
    }

    /// Starts a header block built field by field with [`field`](Encoder::field): appends the
    /// size update owed, if any.
    pub fn start_block(&mut self, out: &mut Vec<u8>) {
        if let Some(size) = self.pending_update.take() {
            encode_int(out, size, 5, 0x20);
        }
    }

    /// Appends one field: a static-table index when the whole field is there (and it is not
    /// sensitive), else a literal naming a static entry when it can, never indexed if sensitive.
    pub fn field(&self, name: &[u8], value: &[u8], sensitive: bool, out: &mut Vec<u8>) {
        let (whole, by_name) = find_static(name, value);
        if let (Some(index), false) = (whole, sensitive) {
            encode_int(out, index, 7, 0x80);
            return;
        }
        let flags = if sensitive { 0x10 } else { 0x00 };
        match by_name {
            Some(index) => encode_int(out, index, 4, flags),
            None => {
                out.push(flags);
                self.string(name, out);
            }
        }
        self.string(value, out);
    }

    fn string(&self, s: &[u8], out: &mut Vec<u8>) {
        let coded = huffman::encoded_len(s);
        if self.huffman && coded < s.len() {
            encode_int(out, coded, 7, 0x80);
            huffman::encode(s, out);
        } else {
            encode_int(out, s.len(), 7, 0);
            out.extend_from_slice(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http2::hpack::Decoder;

    fn round_trip(encoder: &mut Encoder, headers: &[Header]) -> Vec<u8> {
        let mut out = Vec::new();
        encoder.encode(headers, &mut out);
        assert_eq!(Decoder::new(4096, 1 << 20).decode(&out).unwrap(), headers);
        out
    }

    #[test]
    fn a_grpc_response_round_trips_with_and_without_huffman() {
        let headers = [
            Header::new(":status", "200"),
            Header::new("content-type", "application/grpc+proto"),
            Header::new("grpc-status", "0"),
            Header::new("grpc-message", &b"Caf\xc3\xa9 %20 \x00\x7f\xff binary-safe"[..]),
            Header::sensitive("authorization", "Bearer secret"),
            Header::new("", ""),
        ];
        let mut encoder = Encoder::new();
        let huffman = round_trip(&mut encoder, &headers);
        encoder.set_huffman(false);
        let raw = round_trip(&mut encoder, &headers);
        assert!(huffman.len() < raw.len());
    }

    #[test]
    fn a_whole_static_field_is_one_byte() {
        assert_eq!(
            round_trip(&mut Encoder::new(), &[Header::new(":method", "POST")]),
            [0x83]
        );
    }

    #[test]
    fn a_sensitive_field_is_never_indexed_even_when_static() {
        let out = round_trip(&mut Encoder::new(), &[Header::sensitive(":method", "POST")]);
        // Name: static index 2; value: raw, as Huffman would take 4 bytes too.
        assert_eq!(out, [0x12, 0x04, b'P', b'O', b'S', b'T']);
    }

    #[test]
    fn huffman_is_used_only_when_shorter() {
        let mut out = Vec::new();
        Encoder::new().field(b"x", b"\xff\xfe", false, &mut out);
        assert_eq!(out, [0x00, 0x01, b'x', 0x02, 0xff, 0xfe]);
    }

    #[test]
    fn a_lowered_peer_table_size_is_signalled_once_at_the_next_block() {
        let mut encoder = Encoder::new();
        encoder.set_header_table_size(8192);
        encoder.set_header_table_size(100);
        encoder.set_header_table_size(0);
        let mut out = Vec::new();
        encoder.encode(&[Header::new(":status", "200")], &mut out);
        assert_eq!(out, [0x20, 0x88]);
        out.clear();
        encoder.encode(&[Header::new(":status", "200")], &mut out);
        assert_eq!(out, [0x88]);
    }
}
