//! The NPY and NPZ readers on arbitrary bytes: input starting like a zip (`PK`) goes to the
//! NPZ reader, anything else to the NPY reader as features and as labels. Any input must give
//! `Ok` or a `DataError`, never a panic, and never allocate beyond what the bytes can back.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.starts_with(b"PK") {
        let _ = anoonly::data::read_npz_bytes("fuzz.npz", data);
    } else {
        let _ = anoonly::data::npy::parse(data);
        let _ = anoonly::data::npy::parse_labels(data);
    }
});
