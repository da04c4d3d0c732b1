//! HPACK tests: every example of RFC 7541 Appendix C (the fields, then the dynamic table after
//! each block), then hostile blocks.

use super::*;

/// Bytes from the RFC's hex dumps.
fn hex(dump: &str) -> Vec<u8> {
    let digits: String = dump.split_whitespace().collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

fn strings(pairs: impl Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
    pairs
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Decodes `block`, checks its fields, then the dynamic table (newest first) and its size; and
/// checks that our encoder's block for the same fields decodes to them too.
fn check(d: &mut Decoder, block: &str, fields: &[(&str, &str)], table: &[(&str, &str)], size: usize) {
    let got = d.decode(&hex(block)).unwrap();
    assert_eq!(
        strings(got.iter().map(|h| (h.name.clone(), h.value.clone()))),
        owned(fields)
    );
    let entries = d.table().entries().map(|(n, v)| (n.to_vec(), v.to_vec()));
    assert_eq!(strings(entries), owned(table));
    assert_eq!(d.table().size(), size);
    let mut again = Vec::new();
    Encoder::new().encode(&got, &mut again);
    assert_eq!(Decoder::new(4096, 1 << 16).decode(&again).unwrap(), got);
}

const AUTH: (&str, &str) = (":authority", "www.example.com");
const REQ1: [(&str, &str); 4] = [(":method", "GET"), (":scheme", "http"), (":path", "/"), AUTH];
const NO_CACHE: (&str, &str) = ("cache-control", "no-cache");
const CUSTOM: (&str, &str) = ("custom-key", "custom-value");
const REQ3: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    AUTH,
    CUSTOM,
];

#[test]
fn c_2_1_literal_with_indexing_is_added_to_the_table() {
    let mut d = Decoder::new(4096, 1 << 16);
    let block = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
    let field = [("custom-key", "custom-header")];
    check(&mut d, block, &field, &field, 55);
}

#[test]
fn c_2_2_literal_without_indexing_is_not_added() {
    let mut d = Decoder::new(4096, 1 << 16);
    check(
        &mut d,
        "040c 2f73 616d 706c 652f 7061 7468",
        &[(":path", "/sample/path")],
        &[],
        0,
    );
}

#[test]
fn c_2_3_literal_never_indexed_is_decoded_as_sensitive() {
    let mut d = Decoder::new(4096, 1 << 16);
    check(
        &mut d,
        "1008 7061 7373 776f 7264 0673 6563 7265 74",
        &[("password", "secret")],
        &[],
        0,
    );
    let got = d
        .decode(&hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))
        .unwrap();
    assert_eq!(got, [Header::sensitive("password", "secret")]);
}

#[test]
fn c_2_4_indexed_field_comes_from_the_static_table() {
    let mut d = Decoder::new(4096, 1 << 16);
    check(&mut d, "82", &[(":method", "GET")], &[], 0);
}

#[test]
fn c_3_requests_without_huffman_share_one_dynamic_table() {
    let mut d = Decoder::new(4096, 1 << 16);
    let block = "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d";
    check(&mut d, block, &REQ1, &[AUTH], 57);
    let req2 = [REQ1[0], REQ1[1], REQ1[2], AUTH, NO_CACHE];
    check(
        &mut d,
        "8286 84be 5808 6e6f 2d63 6163 6865",
        &req2,
        &[NO_CACHE, AUTH],
        110,
    );
    let block = "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65";
    check(&mut d, block, &REQ3, &[CUSTOM, NO_CACHE, AUTH], 164);
}

#[test]
fn c_4_requests_with_huffman_decode_the_same() {
    let mut d = Decoder::new(4096, 1 << 16);
    check(
        &mut d,
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        &REQ1,
        &[AUTH],
        57,
    );
    let req2 = [REQ1[0], REQ1[1], REQ1[2], AUTH, NO_CACHE];
    check(
        &mut d,
        "8286 84be 5886 a8eb 1064 9cbf",
        &req2,
        &[NO_CACHE, AUTH],
        110,
    );
    let block = "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf";
    check(&mut d, block, &REQ3, &[CUSTOM, NO_CACHE, AUTH], 164);
}

const DATE1: (&str, &str) = ("date", "Mon, 21 Oct 2013 20:13:21 GMT");
const DATE2: (&str, &str) = ("date", "Mon, 21 Oct 2013 20:13:22 GMT");
const LOCATION: (&str, &str) = ("location", "https://www.example.com");
const PRIVATE: (&str, &str) = ("cache-control", "private");
const COOKIE: (&str, &str) = (
    "set-cookie",
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
);
const GZIP: (&str, &str) = ("content-encoding", "gzip");

/// The three responses of C.5 and C.6, with a 256-byte table that evicts as it goes.
fn responses(blocks: [&str; 3]) {
    let mut d = Decoder::new(256, 1 << 16);
    let resp1 = [(":status", "302"), PRIVATE, DATE1, LOCATION];
    check(
        &mut d,
        blocks[0],
        &resp1,
        &[LOCATION, DATE1, PRIVATE, (":status", "302")],
        222,
    );
    let resp2 = [(":status", "307"), PRIVATE, DATE1, LOCATION];
    check(
        &mut d,
        blocks[1],
        &resp2,
        &[(":status", "307"), LOCATION, DATE1, PRIVATE],
        222,
    );
    let resp3 = [(":status", "200"), PRIVATE, DATE2, LOCATION, GZIP, COOKIE];
    check(&mut d, blocks[2], &resp3, &[COOKIE, GZIP, DATE2], 215);
}

#[test]
fn c_5_responses_without_huffman_evict_from_a_256_byte_table() {
    responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ]);
}

#[test]
fn c_6_responses_with_huffman_evict_the_same() {
    responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

#[test]
fn c_1_integers_encode_and_decode() {
    for (value, prefix, bytes) in [
        (10, 5, &[0x0a][..]),
        (1337, 5, &[0x1f, 0x9a, 0x0a]),
        (42, 8, &[0x2a]),
    ] {
        let mut out = Vec::new();
        encode_int(&mut out, value, prefix, 0);
        assert_eq!(out, bytes);
        let mut pos = 0;
        assert_eq!(decode_int(bytes, &mut pos, prefix), Ok(value));
        assert_eq!(pos, bytes.len());
    }
}

fn int(bytes: &[u8]) -> Result<usize, Error> {
    decode_int(bytes, &mut 0, 7)
}

#[test]
fn integers_above_2_32_minus_1_are_refused() {
    let max = [0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f];
    assert_eq!(int(&max), Ok(u32::MAX as usize));
    assert_eq!(
        int(&[0x7f, 0x81, 0xff, 0xff, 0xff, 0x0f]),
        Err(Error::Compression("integer above 2^32-1"))
    );
    let long = [0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    assert!(int(&long).is_err(), "six continuation bytes");
}

#[test]
fn integers_encoded_longer_than_needed_are_refused() {
    assert_eq!(
        int(&[0x7f, 0x00]),
        Ok(127),
        "one zero continuation byte is the only way to say 127"
    );
    assert_eq!(
        int(&[0x7f, 0x80, 0x00]),
        Err(Error::Compression("integer encoded longer than needed"))
    );
    assert_eq!(
        int(&[0x0a, 0x00]),
        Ok(10),
        "what follows is not the integer's business"
    );
    assert_eq!(
        int(&[0x7f, 0x80]),
        Err(Error::Compression("block ends inside an integer"))
    );
}

fn fails(d: &mut Decoder, block: &[u8]) -> &'static str {
    match d.decode(block) {
        Err(Error::Compression(reason)) => reason,
        other => panic!("want a compression error, got {other:?}"),
    }
}

#[test]
fn indexes_0_and_past_the_tables_are_refused() {
    let mut d = Decoder::new(4096, 1 << 16);
    assert_eq!(fails(&mut d, &[0x80]), "bad index");
    assert_eq!(fails(&mut d, &[0xbe]), "bad index");
    assert_eq!(
        fails(&mut d, &[0x7f, 0x00, 0x00]),
        "bad index",
        "literal with a name index past the end"
    );
}

#[test]
fn strings_longer_than_the_block_are_refused() {
    let mut d = Decoder::new(4096, 1 << 16);
    assert_eq!(
        fails(&mut d, &hex("400a 6375 7374")),
        "string longer than the block"
    );
    assert_eq!(fails(&mut d, &hex("41")), "block ends inside a field");
    assert_eq!(fails(&mut d, &hex("417f ffff ffff 0f")), "integer above 2^32-1");
}

#[test]
fn a_huffman_string_with_eos_or_bad_padding_is_refused() {
    let mut d = Decoder::new(4096, 1 << 16);
    assert_eq!(fails(&mut d, &hex("4184 ffff fffc")), "EOS in a Huffman string");
    assert_eq!(fails(&mut d, &hex("4181 1e")), "Huffman padding not all ones");
    assert_eq!(
        fails(&mut d, &hex("4182 1fff")),
        "Huffman padding longer than 7 bits"
    );
}

#[test]
fn table_size_updates_are_allowed_at_the_start_up_to_our_setting() {
    let mut d = Decoder::new(4096, 1 << 16);
    d.decode(&hex(
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    ))
    .unwrap();
    // To 0 (evicting everything), then back to 4096, then a field.
    assert_eq!(
        d.decode(&hex("20 3fe1 1f 82")).unwrap(),
        [Header::new(":method", "GET")]
    );
    assert!(d.table().is_empty());
    assert_eq!(d.table().max_size(), 4096);
}

#[test]
fn a_table_size_update_above_our_setting_is_refused() {
    let mut d = Decoder::new(4096, 1 << 16);
    assert_eq!(
        fails(&mut d, &hex("3fe2 1f")),
        "dynamic table size update above our setting"
    );
}

#[test]
fn a_table_size_update_after_a_field_is_refused() {
    let mut d = Decoder::new(4096, 1 << 16);
    assert_eq!(
        fails(&mut d, &hex("82 20")),
        "dynamic table size update after a field"
    );
}

#[test]
fn lowering_our_setting_makes_the_next_block_start_with_an_update() {
    let mut d = Decoder::new(4096, 1 << 16);
    d.set_header_table_size(8192);
    assert_eq!(d.decode(&hex("82")).unwrap().len(), 1, "raising it needs nothing");
    d.set_header_table_size(100);
    assert_eq!(fails(&mut d, &hex("82")), "dynamic table size update missing");
    assert_eq!(
        fails(&mut d, &hex("3f 46 82")),
        "dynamic table size update above our setting"
    );
    assert_eq!(d.decode(&hex("3f 45 82")).unwrap().len(), 1, "an update to 100");
    assert_eq!(d.decode(&hex("82")).unwrap().len(), 1, "owed once");
}

#[test]
fn names_come_back_as_sent_uppercase_included() {
    let mut d = Decoder::new(4096, 1 << 16);
    let got = d.decode(&hex("0003 5846 4f 0162")).unwrap();
    assert_eq!(got, [Header::new("XFO", "b")]);
}

/// A block inserting one entry of `size` bytes, then referencing it `refs` times.
fn bomb(value_len: usize, refs: usize) -> Vec<u8> {
    let mut block = vec![0x40, 0x01, b'x'];
    encode_int(&mut block, value_len, 7, 0);
    block.resize(block.len() + value_len, b'a');
    block.resize(block.len() + refs, 0xbe);
    block
}

#[test]
fn an_hpack_bomb_stops_growing_at_the_limit_and_keeps_the_table_in_step() {
    let limit = 16 * 1024;
    let mut d = Decoder::new(4096, limit);
    let (mut emitted, mut fields) = (0, 0);
    let result = d.decode_with(&bomb(4000, 100_000), |n, v, _| {
        emitted += n.len() + v.len() + 32;
        fields += 1;
    });
    assert_eq!(result, Err(Error::HeaderListTooLarge));
    assert!(emitted <= limit);
    assert_eq!(fields, 4, "4033 bytes each: the fifth passes 16 KiB");
    assert_eq!(d.table().len(), 1);
    // The next block may reference the entry the refused block added.
    assert_eq!(d.decode(&[0xbe]).unwrap()[0].value.len(), 4000);
    assert_eq!(d.decode(&bomb(10, 400)), Err(Error::HeaderListTooLarge));
}

#[test]
fn a_header_list_at_the_limit_is_accepted() {
    // Name 1 + value 4000 + 32, four times.
    let mut d = Decoder::new(4096, 4 * 4033);
    assert_eq!(d.decode(&bomb(4000, 3)).unwrap().len(), 4);
    assert_eq!(
        d.decode(&[0xbe, 0xbe, 0xbe, 0xbe, 0xbe]),
        Err(Error::HeaderListTooLarge)
    );
}
