//! The HTTP/2 frame parser: frames read one after another as a connection reads them, each
//! frame with an encoder re-encoded and parsed back (the checks are in `fuzz_h2_frames`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    micro_mesh::fuzz_h2_frames(data);
});
