//! Payments input from outside: the first byte picks the decoder, the rest is the input. A
//! payments transaction's payload and every payments state entry must never panic when decoded
//! and must be canonical when they decode; a decoded call's static checks must not panic; the
//! text parsers (UETR, ISO 11649 creditor reference) must never panic and agree with themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::codec::{decode_exact, Decode, Encode};
use mameynode::modules::payments::calls::iso11649_valid;
use mameynode::modules::payments::state::{Cursor, DuePage, Escrow, Invoice, StandingOrder};
use mameynode::modules::payments::Uetr;
use mameynode::types::{Payload, Transaction};

const LEN_MAX: usize = 64 * 1024;

fn check<T: Decode + Encode>(data: &[u8]) -> Option<T> {
    let value = decode_exact::<T>(data, LEN_MAX).ok()?;
    assert_eq!(value.to_bytes(), data, "{} re-encoding differs", T::WHAT);
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            // A payments payload (tag 5 first), then the checks ingest runs on it.
            let mut bytes = vec![5];
            bytes.extend_from_slice(rest);
            if let Some(payload) = check::<Payload>(&bytes) {
                let tx = Transaction {
                    chain_id: 1,
                    sender: mameynode::types::Address([3; 32]),
                    nonce: 0,
                    fee: 1,
                    payload,
                    signature: mameynode::types::Signature([0; 64]),
                };
                let params = mameynode::execution::ChainParams {
                    genesis_hash: [0; 32],
                    chain_id: 1,
                    min_fee: 1,
                    staking: Default::default(),
                    banking: Default::default(),
                    identity: Default::default(),
                    compliance: Default::default(),
                    payments: Default::default(),
                    dex: Default::default(),
                };
                let _ = mameynode::execution::check_static(&tx, &params);
            }
        }
        1 => {
            check::<Escrow>(rest);
        }
        2 => {
            check::<StandingOrder>(rest);
        }
        3 => {
            check::<Invoice>(rest);
            check::<DuePage>(rest);
            check::<Cursor>(rest);
        }
        _ => {
            if let Ok(s) = std::str::from_utf8(rest) {
                if let Ok(u) = Uetr::parse(s) {
                    assert!(u.is_v4());
                    assert_eq!(Uetr::parse(&u.to_string()), Ok(u));
                }
                let _ = iso11649_valid(s);
            }
        }
    }
});
