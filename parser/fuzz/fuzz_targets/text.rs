//! Text form and Go test files: any bytes. No panic; text -> binary -> text
//! -> binary is stable once in binary.
#![no_main]

use gort_parser::raw::{binary_to_text, text_to_binary};
use gort_parser::testfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = testfile::parse(data);
    let _ = testfile::go_fuzz_values(data);
    let Ok(bin) = text_to_binary(data) else {
        return;
    };
    let text = binary_to_text(&bin).expect("a written trace reads back");
    let bin2 = text_to_binary(text.as_bytes()).expect("a written text reads back");
    assert_eq!(bin, bin2);
});
