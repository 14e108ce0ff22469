//! The small fixed-layout types: `Account`, `Receipt` and `BlockHeader`. The first byte picks the
//! type, the rest is the input; each must never panic and must be canonical when it decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::codec::{decode_exact, Decode, Encode};
use mameynode::types::{Account, BlockHeader, Receipt};

const LEN_MAX: usize = 1024;

fn check<T: Decode + Encode>(data: &[u8]) {
    if let Ok(value) = decode_exact::<T>(data, LEN_MAX) {
        assert_eq!(value.to_bytes(), data, "{} re-encoding differs", T::WHAT);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => check::<Account>(rest),
        1 => check::<Receipt>(rest),
        _ => check::<BlockHeader>(rest),
    }
});
