//! The connection's read buffer and request-body reading: Content-Length and chunked.

use std::io::{self, Read};

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is larger than the limit (413).
    TooLarge,
    /// The chunked framing is broken (400).
    Malformed(&'static str),
    /// The peer closed or timed out mid-body, or the socket failed.
    Io(io::Error),
}

impl From<io::Error> for BodyError {
    fn from(err: io::Error) -> BodyError {
        BodyError::Io(err)
    }
}

/// A connection's read buffer: bytes `start..end` of `data` are read but not yet used.
pub(crate) struct Buf {
    data: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl Buf {
    /// A buffer of `initial` bytes that may grow to `max`.
    pub fn new(initial: usize, max: usize) -> Buf {
        Buf {
            data: vec![0; initial.min(max)],
            start: 0,
            end: 0,
            max,
        }
    }

    /// The unread bytes.
    pub fn unread(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Marks `n` unread bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.end - self.start);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes from `src` after the unread ones; `Ok(0)` is end of stream.
    /// Fails with `ErrorKind::OutOfMemory` when the unread bytes already fill `max`.
    pub fn fill(&mut self, src: &mut impl Read) -> io::Result<usize> {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.data.len() < self.max {
                let grown = (self.data.len() * 2).max(1024).min(self.max);
                self.data.resize(grown, 0);
            } else {
                return Err(io::Error::new(io::ErrorKind::OutOfMemory, "read buffer full"));
            }
        }
        let n = src.read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Reads exactly `n` bytes into `out`, buffered ones first.
    pub fn read_exact_into(&mut self, src: &mut impl Read, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let have = self.unread().len().min(n);
        out.extend_from_slice(&self.unread()[..have]);
        self.consume(have);
        let rest = n - have;
        if rest > 0 {
            let old = out.len();
            out.resize(old + rest, 0);
            src.read_exact(&mut out[old..])?;
        }
        Ok(())
    }

    /// Returns one CRLF- (or LF-) terminated line of at most `max` bytes, without its ending.
    fn line(&mut self, src: &mut impl Read, max: usize) -> Result<Vec<u8>, BodyError> {
        loop {
            if let Some(i) = self.unread().iter().position(|&b| b == b'\n') {
                // The same limit whether the line arrived in one read or in several.
                if i > max + 1 {
                    return Err(BodyError::Malformed("chunk line too long"));
                }
                let mut line = self.unread()[..i].to_vec();
                self.consume(i + 1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.unread().len() > max {
                return Err(BodyError::Malformed("chunk line too long"));
            }
            if self.fill(src)? == 0 {
                return Err(BodyError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }
}

/// Reads a `Content-Length` body of `len` bytes (already checked against the limit).
pub(crate) fn read_length(buf: &mut Buf, src: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(len);
    buf.read_exact_into(src, len, &mut body)?;
    Ok(body)
}

/// Decodes a chunked body of at most `max` bytes; trailers are read and dropped.
pub(crate) fn read_chunked(buf: &mut Buf, src: &mut impl Read, max: usize) -> Result<Vec<u8>, BodyError> {
    const MAX_LINE: usize = 4096;
    let mut body = Vec::new();
    loop {
        let line = buf.line(src, MAX_LINE)?;
        let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
        let size_text = std::str::from_utf8(size_text).map_err(|_| BodyError::Malformed("bad chunk size"))?;
        let size_text = size_text.trim_matches(|c| c == ' ' || c == '\t');
        if size_text.is_empty() || size_text.len() > 15 || !size_text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BodyError::Malformed("bad chunk size"));
        }
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| BodyError::Malformed("bad chunk size"))?;
        if size == 0 {
            // Trailer fields until an empty line; their total size is bounded too.
            let mut trailers = 0;
            loop {
                let line = buf.line(src, MAX_LINE)?;
                if line.is_empty() {
                    return Ok(body);
                }
                trailers += line.len();
                if trailers > MAX_LINE * 4 {
                    return Err(BodyError::Malformed("trailers too long"));
                }
            }
        }
        if body.len() + size > max {
            return Err(BodyError::TooLarge);
        }
        buf.read_exact_into(src, size, &mut body)?;
        if !buf.line(src, 2)?.is_empty() {
            return Err(BodyError::Malformed("chunk data longer than its size"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn chunked(input: &str, max: usize) -> Result<Vec<u8>, BodyError> {
        // A 16-byte buffer forces refills in the middle of lines and chunks.
        let mut buf = Buf::new(16, 1 << 20);
        read_chunked(&mut buf, &mut Cursor::new(input.as_bytes().to_vec()), max)
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let body = chunked(
            "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!(body, b"hello, world");
        assert_eq!(
            chunked("A\r\n0123456789\r\n0\r\n\r\n", 100).unwrap(),
            b"0123456789"
        );
        assert_eq!(chunked("0\r\n\r\n", 100).unwrap(), b"");
    }

    #[test]
    fn rejects_bad_chunking() {
        for bad in [
            "x\r\n",
            "-1\r\n",
            "5\r\nhelloXX\r\n0\r\n\r\n",
            "fffffffffffffffff\r\n",
            " \r\n",
        ] {
            assert!(
                matches!(chunked(bad, 100), Err(BodyError::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(chunked("5\r\nhel", 100), Err(BodyError::Io(_))));
        let long_ext = format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(5000));
        assert!(matches!(chunked(&long_ext, 100), Err(BodyError::Malformed(_))));
        let mut buf = Buf::new(8192, 8192); // the whole line arrives in one read
        let read = read_chunked(&mut buf, &mut Cursor::new(long_ext.into_bytes()), 100);
        assert!(matches!(read, Err(BodyError::Malformed("chunk line too long"))));
        assert!(matches!(chunked("65\r\n", 100), Err(BodyError::TooLarge)));
        assert!(matches!(chunked("32\r\n", 49), Err(BodyError::TooLarge)));
    }

    #[test]
    fn length_bodies_use_buffered_bytes_first() {
        let mut buf = Buf::new(8, 64);
        let mut src = Cursor::new(b"abcdefghij".to_vec());
        buf.fill(&mut src).unwrap();
        assert_eq!(buf.unread(), b"abcdefgh");
        buf.consume(2);
        assert_eq!(read_length(&mut buf, &mut src, 6).unwrap(), b"cdefgh");
        assert_eq!(read_length(&mut buf, &mut src, 2).unwrap(), b"ij");
        assert!(read_length(&mut buf, &mut src, 1).is_err());
    }

    #[test]
    fn buffer_grows_to_its_max_then_refuses() {
        let mut buf = Buf::new(4, 8);
        let mut src = Cursor::new(vec![b'x'; 100]);
        while buf.unread().len() < 8 {
            buf.fill(&mut src).unwrap();
        }
        assert_eq!(buf.fill(&mut src).unwrap_err().kind(), io::ErrorKind::OutOfMemory);
    }
}
