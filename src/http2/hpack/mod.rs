//! HPACK (RFC 7541), HTTP/2's header compression: a [`Decoder`] with a dynamic table and a
//! header-list size limit enforced while decoding, and a simple [`Encoder`] (static table,
//! literals without indexing, Huffman when shorter).
//!
//! Names come back as sent, bytes for bytes: rejecting uppercase or bad characters is the
//! HTTP layer's job.

mod decoder;
mod encoder;
pub mod huffman;
pub mod table;

pub use decoder::Decoder;
pub use encoder::Encoder;

/// One header field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The name, as sent.
    pub name: Vec<u8>,
    /// The value, as sent.
    pub value: Vec<u8>,
    /// Sent (or to be sent) as "never indexed" (RFC 7541 section 6.2.3): a value such as a
    /// credential that intermediaries must not compress either.
    pub sensitive: bool,
}

impl Header {
    /// A field.
    pub fn new(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Header {
        Header {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// A field never to be indexed.
    pub fn sensitive(name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Header {
        Header {
            sensitive: true,
            ..Header::new(name, value)
        }
    }

    /// Its size in a header list (RFC 9113 section 6.5.2): name, value and 32.
    pub fn size(&self) -> usize {
        table::entry_size(&self.name, &self.value)
    }
}

/// Why a header block was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The block cannot be decoded: a connection error of type COMPRESSION_ERROR (RFC 9113
    /// section 4.3), since the dynamic tables can no longer agree. The reason is for logs.
    Compression(&'static str),
    /// The decoded header list is larger than the decoder's limit. The block was still decoded
    /// to its end (without keeping the fields), so the dynamic table is in step and the
    /// connection can go on: a server answers 431, a client resets the stream.
    HeaderListTooLarge,
}

/// Decodes an integer with an N-bit prefix (RFC 7541 section 5.1) at `*pos`, moving past it.
/// Refuses values above 2^32-1 and encodings longer than needed (a trailing zero byte), so that
/// a peer cannot spin the decoder on endless continuation bytes.
fn decode_int(block: &[u8], pos: &mut usize, prefix_bits: u32) -> Result<usize, Error> {
    let mask = (1u64 << prefix_bits) - 1;
    let first = *block
        .get(*pos)
        .ok_or(Error::Compression("block ends inside a field"))?;
    *pos += 1;
    let mut value = u64::from(first) & mask;
    if value < mask {
        return Ok(value as usize);
    }
    for shift in (0..=28).step_by(7) {
        let byte = *block
            .get(*pos)
            .ok_or(Error::Compression("block ends inside an integer"))?;
        *pos += 1;
        if byte == 0 && shift > 0 {
            return Err(Error::Compression("integer encoded longer than needed"));
        }
        value += u64::from(byte & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(Error::Compression("integer above 2^32-1"));
        }
        if byte & 0x80 == 0 {
            return Ok(value as usize);
        }
    }
    Err(Error::Compression("integer encoded longer than needed"))
}

/// Appends `value` with an N-bit prefix, `flags` filling the first byte's other bits.
fn encode_int(out: &mut Vec<u8>, value: usize, prefix_bits: u32, flags: u8) {
    let mask = (1usize << prefix_bits) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push(0x80 | (rest & 0x7f) as u8);
        rest >>= 7;
    }
    out.push(rest as u8);
}

#[cfg(test)]
mod tests;
