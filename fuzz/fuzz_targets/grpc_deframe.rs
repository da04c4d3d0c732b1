//! The gRPC message deframer: arbitrary bytes as a stream of length-prefixed messages, cut at
//! seeded payload boundaries (`micro_mesh::fuzz_grpc_deframe` checks that the cuts agree, that
//! the messages re-frame to the stream, and that memory stays within one message of the limit).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let seen = micro_mesh::fuzz_grpc_deframe(data);
    let mut framed = 0;
    for outcome in &seen {
        match outcome {
            // Never more than the 1 KiB limit, nor more than the input held.
            Ok(len) => {
                assert!(*len <= 1024);
                framed += 5 + len;
            }
            // RESOURCE_EXHAUSTED, UNIMPLEMENTED (compressed), INTERNAL (flag, truncation).
            Err(code) => assert!(matches!(code, 8 | 12 | 13), "{code}"),
        }
    }
    assert!(framed < data.len().max(1));
    // Only the last outcome may be an error: the stream is over there.
    assert!(seen.iter().rev().skip(1).all(Result::is_ok));
});
