//! The HPACK decoder: one whole header block at a time, its dynamic table kept across blocks.

use std::borrow::Cow;

use super::table::{DynamicTable, entry_size};
use super::{Error, Header, decode_int, huffman};

/// Decodes the header blocks of one connection, in the order they arrive.
#[derive(Debug, Clone)]
pub struct Decoder {
    table: DynamicTable,
    /// Our SETTINGS_HEADER_TABLE_SIZE: no size update may go above it.
    limit: usize,
    /// Our setting fell below the table's maximum: the next block must start with an update.
    update_due: bool,
    max_list_size: usize,
}

impl Decoder {
    /// A decoder whose dynamic table holds `header_table_size`, which is also the limit on size
    /// updates (for HTTP/2: 4096, the setting's initial value), and which refuses header lists
    /// larger than `max_list_size` (counted as RFC 9113 section 6.5.2 does).
    pub fn new(header_table_size: usize, max_list_size: usize) -> Decoder {
        Decoder {
            table: DynamicTable::new(header_table_size),
            limit: header_table_size,
            update_due: false,
            max_list_size,
        }
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE is now `size`: call once the peer acknowledged the
    /// SETTINGS frame carrying it. Below the table's maximum, the peer's next block must begin
    /// with a size update to at most `size` (RFC 7541 section 4.2).
    pub fn set_header_table_size(&mut self, size: usize) {
        self.limit = size;
        self.update_due = self.table.max_size() > size;
    }

    /// Sets the largest header list `decode` accepts.
    pub fn set_max_list_size(&mut self, size: usize) {
        self.max_list_size = size;
    }

    /// The dynamic table.
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one whole header block (a HEADERS fragment and its CONTINUATION fragments,
    /// joined) into its fields, in order.
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<Header>, Error> {
        let mut headers = Vec::new();
        self.decode_with(block, |name, value, sensitive| {
            headers.push(Header {
                name: name.to_vec(),
                value: value.to_vec(),
                sensitive,
            })
        })?;
        Ok(headers)
    }

    /// Decodes one whole header block, handing each field to `emit` in order as (name, value,
    /// never-indexed). Once the fields' total size passes the limit, `emit` is not called again
    /// but the block is still decoded to its end, as RFC 9113 section 10.5.1 asks, keeping the
    /// dynamic table in step; then the result is [`Error::HeaderListTooLarge`]. Nothing grows
    /// with the fields skipped, so a small entry referenced thousands of times costs a lookup
    /// each, no copy.
    pub fn decode_with(
        &mut self,
        block: &[u8],
        mut emit: impl FnMut(&[u8], &[u8], bool),
    ) -> Result<(), Error> {
        let (mut pos, mut list_size, mut at_start) = (0, 0usize, true);
        while let Some(&byte) = block.get(pos) {
            if byte & 0xe0 == 0x20 {
                // A dynamic table size update (RFC 7541 section 6.3), only before any field.
                if !at_start {
                    return Err(Error::Compression("dynamic table size update after a field"));
                }
                let size = decode_int(block, &mut pos, 5)?;
                if size > self.limit {
                    return Err(Error::Compression("dynamic table size update above our setting"));
                }
                self.table.set_max_size(size);
                self.update_due = false;
                continue;
            }
            if self.update_due {
                return Err(Error::Compression("dynamic table size update missing"));
            }
            at_start = false;
            if byte & 0x80 != 0 {
                let index = decode_int(block, &mut pos, 7)?;
                let (name, value) = self.table.field(index).ok_or(Error::Compression("bad index"))?;
                list_size = list_size.saturating_add(entry_size(name, value));
                if list_size <= self.max_list_size {
                    emit(name, value, false);
                }
                continue;
            }
            // Literals: with incremental indexing (01), without (0000), never indexed (0001).
            let (indexing, sensitive) = (byte & 0x40 != 0, byte & 0xf0 == 0x10);
            let index = decode_int(block, &mut pos, if indexing { 6 } else { 4 })?;
            let name = match index {
                0 => string(block, &mut pos)?,
                i => Cow::Borrowed(self.table.field(i).ok_or(Error::Compression("bad index"))?.0),
            };
            let value = string(block, &mut pos)?;
            list_size = list_size.saturating_add(entry_size(&name, &value));
            if list_size <= self.max_list_size {
                emit(&name, &value, sensitive);
            }
            if indexing {
                let (name, value) = (name.into_owned(), value.into_owned());
                self.table.insert(name, value);
            }
        }
        if list_size > self.max_list_size {
            return Err(Error::HeaderListTooLarge);
        }
        Ok(())
    }
}

/// A string literal (RFC 7541 section 5.2) at `*pos`: borrowed when raw, decoded when Huffman.
fn string<'b>(block: &'b [u8], pos: &mut usize) -> Result<Cow<'b, [u8]>, Error> {
    let huffman = block.get(*pos).is_some_and(|b| b & 0x80 != 0);
    let len = decode_int(block, pos, 7)?;
    let raw = block.get(*pos..).and_then(|rest| rest.get(..len));
    let raw = raw.ok_or(Error::Compression("string longer than the block"))?;
    *pos += len;
    if !huffman {
        return Ok(Cow::Borrowed(raw));
    }
    // The shortest code is 5 bits: the decoded string is at most 8/5 as long.
    let mut out = Vec::with_capacity(len + len / 2 + len / 8);
    huffman::decode(raw, &mut out).map_err(Error::Compression)?;
    Ok(Cow::Owned(out))
}
