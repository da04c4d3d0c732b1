//! The `http` server's request parser: heads (httparse plus micro-mesh's framing rules) and
//! bodies (Content-Length, chunked), pipelined, through the connection's growing read buffer.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let seen = micro_mesh::fuzz_request(data);
    assert!(seen.len() <= 16);
    for outcome in &seen {
        match outcome {
            // Never more body than there was input, nor past the 64 KiB limit.
            Ok(len) => assert!(*len <= data.len() && *len <= 64 * 1024),
            Err(status) => assert!(matches!(status, 400 | 413 | 417 | 431 | 501 | 505), "{status}"),
        }
    }
    // Only the last request may be refused: the connection closes there.
    assert!(seen.iter().rev().skip(1).all(Result::is_ok));
});
