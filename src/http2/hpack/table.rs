//! HPACK's indexing tables (RFC 7541 section 2.3): the static table of Appendix A and a dynamic
//! table with its size accounting and eviction (section 4).

use std::collections::VecDeque;

/// The static table (RFC 7541 Appendix A): index 1 is the first entry.
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// An entry's size in a dynamic table (RFC 7541 section 4.1), which is also a field's size in a
/// header list (RFC 9113 section 6.5.2): name and value lengths plus 32.
pub fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len().saturating_add(value.len()).saturating_add(32)
}

/// The index in [`STATIC`] (1-based) of `name` with `value`, and of the first entry with
/// `name` alone, for an encoder to use.
pub fn find_static(name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
    let mut name_only = None;
    for (i, (n, v)) in STATIC.iter().enumerate() {
        if n.as_bytes() == name {
            name_only = name_only.or(Some(i + 1));
            if v.as_bytes() == value {
                return (Some(i + 1), name_only);
            }
        }
    }
    (None, name_only)
}

/// A dynamic table: newest entry first, its size never above its maximum.
#[derive(Debug, Clone, Default)]
pub struct DynamicTable {
    entries: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    /// An empty table holding at most `max_size` (in entry sizes).
    pub fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// The sum of the entries' sizes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The maximum size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, newest first: (name, value).
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// The field at HPACK index `index`: 1..=61 in the static table, then this table's entries,
    /// newest first. `None` for 0 and past the end.
    pub fn field(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match index {
            0 => None,
            1..=61 => STATIC.get(index - 1).map(|(n, v)| (n.as_bytes(), v.as_bytes())),
            _ => self
                .entries
                .get(index - 62)
                .map(|(n, v)| (n.as_slice(), v.as_slice())),
        }
    }

    /// Adds an entry, evicting the oldest until it fits. An entry larger than the maximum
    /// empties the table and is not added (RFC 7541 section 4.4): that is not an error.
    pub fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = entry_size(&name, &value);
        if size > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.max_size - size);
        self.entries.push_front((name, value));
        self.size += size;
    }

    /// Sets the maximum size, evicting the oldest entries until the table fits (section 4.3).
    pub fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    fn evict_to(&mut self, size: usize) {
        while self.size > size {
            let Some((name, value)) = self.entries.pop_back() else {
                break;
            };
            self.size -= entry_size(&name, &value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, value: &str) -> (Vec<u8>, Vec<u8>) {
        (name.into(), value.into())
    }

    #[test]
    fn indexes_run_through_the_static_table_then_the_dynamic_one_newest_first() {
        let mut t = DynamicTable::new(4096);
        let (n, v) = entry("a", "1");
        t.insert(n, v);
        let (n, v) = entry("b", "2");
        t.insert(n, v);
        assert_eq!(t.field(0), None);
        assert_eq!(t.field(2), Some((&b":method"[..], &b"GET"[..])));
        assert_eq!(t.field(61), Some((&b"www-authenticate"[..], &b""[..])));
        assert_eq!(t.field(62), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(t.field(63), Some((&b"a"[..], &b"1"[..])));
        assert_eq!(t.field(64), None);
        assert_eq!((t.len(), t.size()), (2, 68));
    }

    #[test]
    fn inserting_evicts_the_oldest_entries_until_the_new_one_fits() {
        let mut t = DynamicTable::new(100);
        for name in ["a", "b", "c"] {
            let (n, v) = entry(name, "0123456789");
            t.insert(n, v);
        }
        // Each entry is 43: only two fit in 100.
        let names: Vec<&[u8]> = t.entries().map(|(n, _)| n).collect();
        assert_eq!(names, [&b"c"[..], &b"b"[..]]);
        assert_eq!(t.size(), 86);
    }

    #[test]
    fn an_entry_larger_than_the_table_empties_it_and_is_not_added() {
        let mut t = DynamicTable::new(64);
        let (n, v) = entry("a", "1");
        t.insert(n, v);
        let (n, v) = entry("big", &"x".repeat(40));
        t.insert(n, v);
        assert!(t.is_empty());
        assert_eq!(t.size(), 0);
    }

    #[test]
    fn lowering_the_max_size_evicts_and_zero_empties() {
        let mut t = DynamicTable::new(200);
        for name in ["a", "b", "c"] {
            let (n, v) = entry(name, "1");
            t.insert(n, v);
        }
        t.set_max_size(70);
        assert_eq!((t.len(), t.size()), (2, 68));
        t.set_max_size(0);
        assert!(t.is_empty());
    }

    #[test]
    fn find_static_prefers_a_full_match_and_else_the_first_name() {
        assert_eq!(find_static(b":method", b"POST"), (Some(3), Some(2)));
        assert_eq!(find_static(b":status", b"418"), (None, Some(8)));
        assert_eq!(find_static(b"x-custom", b""), (None, None));
    }
}
