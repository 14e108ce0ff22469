//! The consensus decoders on arbitrary bytes: the first byte picks a peer message
//! (`decode_exact::<Message>`), a write-ahead-log record (`decode_exact::<WalEntry>`) or
//! double-signing evidence as a staking transaction carries it (`Evidence::decode_and_check`), the
//! rest is decoded. No panic, no allocation beyond what the input justifies (a certificate's length prefix
//! is checked against the bytes left), and whatever decodes re-encodes to the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::codec::{decode_exact, Encode};
use mameynode::consensus::engine::{Message, WalEntry};
use mameynode::consensus::wire::{Evidence, MESSAGE_BYTES_MAX};
use mameynode::types::EVIDENCE_BYTES_MAX;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(m) = decode_exact::<Message>(rest, MESSAGE_BYTES_MAX) {
                assert_eq!(m.to_bytes(), rest, "re-encoding differs from the input");
            }
        }
        1 => {
            if let Ok(w) = decode_exact::<WalEntry>(rest, MESSAGE_BYTES_MAX) {
                assert_eq!(w.to_bytes(), rest, "re-encoding differs from the input");
            }
        }
        _ => {
            if let Ok(e) = decode_exact::<Evidence>(rest, EVIDENCE_BYTES_MAX) {
                assert_eq!(e.to_bytes(), rest, "re-encoding differs from the input");
            }
            if let Ok(e) = Evidence::decode_and_check(rest, &Default::default()) {
                assert_ne!(e.0, e.1, "checked evidence holds two different votes");
            }
        }
    }
});
