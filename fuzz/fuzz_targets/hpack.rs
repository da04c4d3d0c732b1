//! The HPACK decoder: length-prefixed header blocks of one connection, the header-list limit,
//! the dynamic table's bounds, and the encoder's round trip (the checks are in `fuzz_hpack`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    micro_mesh::fuzz_hpack(data);
});
