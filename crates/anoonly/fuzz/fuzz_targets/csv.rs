//! The CSV reader on arbitrary bytes, with the default label columns and with the first
//! byte choosing an explicit one.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = anoonly::data::read_csv_bytes("fuzz.csv", data, None);
    let _ = anoonly::data::read_csv_bytes("fuzz.csv", data, Some("a"));
});
