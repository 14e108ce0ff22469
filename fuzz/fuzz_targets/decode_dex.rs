//! DEX input from outside: the first byte picks the decoder, the rest is the input. A DEX
//! transaction's payload (tag 6 then the call) and every DEX state entry must never panic when
//! decoded and must be canonical when they decode (re-encoding gives the input back); a decoded
//! call's static checks must not panic, and the transaction that carries it must round-trip too.
//! A book side as state holds it must never make the invariant check panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::codec::{decode_exact, Decode, Encode};
use mameynode::modules::dex::book::{Book, BookSide, Side, Terms};
use mameynode::modules::dex::state::{Held, Market, MarketList, MarketState, Pending, Stats};
use mameynode::types::{Address, Payload, Signature, Transaction, TX_SIZE_MAX};

const LEN_MAX: usize = 64 * 1024;

fn check<T: Decode + Encode>(data: &[u8]) -> Option<T> {
    let value = decode_exact::<T>(data, LEN_MAX).ok()?;
    assert_eq!(value.to_bytes(), data, "{} re-encoding differs", T::WHAT);
    Some(value)
}

fn params() -> mameynode::execution::ChainParams {
    mameynode::execution::ChainParams {
        genesis_hash: [0; 32],
        chain_id: 1,
        min_fee: 1,
        staking: Default::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0..=2 => {
            // A DEX payload (tag 6 first), then the checks ingest runs on it, and the
            // transaction that carries it.
            let mut bytes = vec![6];
            bytes.extend_from_slice(rest);
            if let Some(payload) = check::<Payload>(&bytes) {
                assert!(
                    matches!(payload, Payload::Dex(_)),
                    "tag 6 decoded as another module's call"
                );
                let tx = Transaction {
                    chain_id: 1,
                    sender: Address([3; 32]),
                    nonce: 0,
                    fee: 1,
                    payload,
                    signature: Signature([0; 64]),
                };
                let _ = mameynode::execution::check_static(&tx, &params());
                let tx_bytes = tx.to_bytes();
                if tx_bytes.len() <= TX_SIZE_MAX {
                    let back = decode_exact::<Transaction>(&tx_bytes, TX_SIZE_MAX)
                        .expect("an encoded transaction decodes");
                    assert_eq!(back, tx, "the transaction does not round-trip");
                    assert_eq!(back.to_bytes(), tx_bytes);
                }
            }
        }
        3 => {
            check::<Market>(rest);
            check::<MarketState>(rest);
        }
        4 => {
            check::<Pending>(rest);
            check::<Held>(rest);
        }
        5 => {
            check::<MarketList>(rest);
            check::<Stats>(rest);
        }
        _ => {
            // Two book sides as state holds them (split at the second byte): whatever they hold,
            // the invariant check reports, never panics, and the bytes come back as they were.
            let Some((&cut, rest)) = rest.split_first() else {
                return;
            };
            let cut = (cut as usize * 96).min(rest.len());
            let (b, a) = rest.split_at(cut);
            let (Some(bids), Some(asks)) = (
                BookSide::from_bytes(Side::Buy, b.to_vec()),
                BookSide::from_bytes(Side::Sell, a.to_vec()),
            ) else {
                return;
            };
            let book = Book { bids, asks };
            for maker_fee_bps in [-10, 0, 10] {
                let _ = book.check(&Terms {
                    lot: 7,
                    maker_fee_bps,
                });
            }
            let _ = book.bids.levels(5);
            let _ = book.asks.next_expiry();
            assert_eq!(book.bids.as_bytes(), b);
            assert_eq!(book.asks.as_bytes(), a);
        }
    }
});
