//! `decode_exact::<Block>` on arbitrary bytes: no panic, no allocation beyond what the input
//! justifies, and whatever decodes re-encodes to the input and satisfies the block invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::codec::{decode_exact, Encode};
use mameynode::types::block::tx_root;
use mameynode::types::{Block, Hash};

/// Generous for a fuzzer's inputs (libFuzzer's default `-max_len` is 4096).
const BLOCK_LEN_MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = decode_exact::<Block>(data, BLOCK_LEN_MAX) {
        assert_eq!(block.to_bytes(), data, "re-encoding differs from the input");
        assert_eq!(block.header.tx_count as usize, block.transactions.len());
        assert_eq!(block.header.tx_root, tx_root(&block.tx_ids()));
        for tx in &block.transactions {
            assert_eq!(tx.id, Hash::sha256(&tx.bytes));
            assert_eq!(tx.tx.to_bytes(), &tx.bytes[..]);
        }
    }
});
