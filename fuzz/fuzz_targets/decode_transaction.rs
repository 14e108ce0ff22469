//! `TxEnvelope::decode` on arbitrary bytes: it must never panic, and whatever decodes must be canonical
//! (re-encoding gives the input back) with `id == sha256(bytes)`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::codec::{decode_exact, DecodeError, Encode};
use mameynode::types::{Hash, Transaction, TxEnvelope, TX_SIZE_MAX};

fuzz_target!(|data: &[u8]| {
    match TxEnvelope::decode(data, TX_SIZE_MAX) {
        Ok(env) => {
            assert_eq!(
                env.tx.to_bytes(),
                data,
                "re-encoding differs from the input"
            );
            assert_eq!(&env.bytes[..], data, "envelope bytes differ from the input");
            assert_eq!(env.id, Hash::sha256(data), "id is not sha256 of the bytes");
            assert_eq!(
                env.signing_message(),
                &data[..data.len() - 64],
                "signing message is not the encoding less the signature"
            );
            assert_eq!(decode_exact::<Transaction>(data, TX_SIZE_MAX), Ok(env.tx));
        }
        Err(DecodeError::TooLarge { len, max }) => {
            assert!(data.len() > TX_SIZE_MAX && len == data.len() && max == TX_SIZE_MAX);
        }
        Err(_) => {}
    }
});
