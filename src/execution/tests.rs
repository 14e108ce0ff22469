//! Property tests of the transfer state machine: supply is conserved, nonces are enforced, discarded
//! transactions leave no trace, and the incremental state commitment equals the one from scratch.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::types::{BankCall, Transaction};

const CHAIN: ChainId = 7;

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i.wrapping_add(1); 32])
}

fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

fn params() -> ChainParams {
    ChainParams {
        chain_id: CHAIN,
        min_fee: 1,
    }
}

fn transfer(from: u8, to: u8, nonce: u64, amount: Amount, fee: Amount) -> TxEnvelope {
    Transaction::sign(
        &key(from),
        CHAIN,
        nonce,
        fee,
        Payload::Bank(BankCall::Transfer {
            to: addr(to),
            amount,
        }),
    )
}

fn supply(state: &BTreeMap<Address, Account>) -> u128 {
    state.values().map(|a| u128::from(a.balance)).sum()
}

/// Applies a block's writes to a plain map, as storage would.
fn commit(state: &mut BTreeMap<Address, Account>, out: &BlockOutput) {
    for (a, acc) in &out.writes {
        state.insert(*a, *acc);
    }
}

fn genesis(n: u8, balance: Amount) -> BTreeMap<Address, Account> {
    (0..n)
        .map(|i| (addr(i), Account { balance, nonce: 0 }))
        .collect()
}

#[test]
fn transfer_moves_funds_and_fee_and_bumps_nonce() {
    let state = genesis(3, 1000);
    let proposer = addr(2);
    let out = execute_block(
        &state,
        &LtHash::of_state(state.iter()),
        &params(),
        &proposer,
        vec![transfer(0, 1, 0, 100, 5)],
    )
    .expect("infallible view");
    assert_eq!(out.applied.len(), 1);
    assert_eq!(
        out.writes[&addr(0)],
        Account {
            balance: 895,
            nonce: 1
        }
    );
    assert_eq!(out.writes[&addr(1)].balance, 1100);
    assert_eq!(out.writes[&addr(2)].balance, 1005);
}

#[test]
fn replay_and_gaps_and_overspend_are_discarded() {
    let state = genesis(2, 100);
    let p = addr(9);
    let txs = vec![
        transfer(0, 1, 0, 10, 1),
        transfer(0, 1, 0, 10, 1), // replay of nonce 0
        transfer(0, 1, 5, 10, 1), // gap
        transfer(0, 1, 1, 95, 1), // 89 left: overspend
        transfer(0, 1, 1, 10, 0), // fee below minimum
        transfer(0, 1, 1, 0, 1),  // zero amount
    ];
    let ids: Vec<_> = txs.iter().map(|t| t.id).collect();
    let out = execute_block(&state, &LtHash::identity(), &params(), &p, txs).expect("infallible");
    assert_eq!(out.applied.len(), 1);
    let reasons: Vec<_> = out
        .discarded
        .iter()
        .map(|(id, e)| (*id, e.clone()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                ids[1],
                TxError::NonceTooLow {
                    expected: 1,
                    got: 0
                }
            ),
            (
                ids[2],
                TxError::NonceTooHigh {
                    expected: 1,
                    got: 5
                }
            ),
            (
                ids[3],
                TxError::InsufficientFunds {
                    balance: 89,
                    needed: 96
                }
            ),
            (ids[4], TxError::FeeTooLow { min: 1, got: 0 }),
            (ids[5], TxError::ZeroAmount),
        ]
    );
}

#[test]
fn self_transfer_and_proposer_as_sender_conserve_supply() {
    let mut state = genesis(2, 50);
    let before = supply(&state);
    let out = execute_block(
        &state,
        &LtHash::of_state(state.iter()),
        &params(),
        &addr(0),
        vec![transfer(0, 0, 0, 10, 3), transfer(0, 1, 1, 7, 2)],
    )
    .expect("infallible");
    assert_eq!(out.applied.len(), 2);
    commit(&mut state, &out);
    assert_eq!(supply(&state), before);
    assert_eq!(
        state[&addr(0)],
        Account {
            balance: 43,
            nonce: 2
        }
    );
    assert_eq!(out.lthash.root(), LtHash::of_state(state.iter()).root());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random streams of transfers (valid, replayed, gapped, overspending) over several blocks.
    #[test]
    fn supply_conserved_nonces_enforced_root_consistent(
        blocks in proptest::collection::vec(
            proptest::collection::vec((0u8..5, 0u8..6, 0u64..4, 0u64..400, 0u64..4), 0..25),
            1..5,
        ),
        proposer in 0u8..6,
    ) {
        let mut state = genesis(5, 500);
        let mut lthash = LtHash::of_state(state.iter());
        let total = supply(&state);
        let proposer = addr(proposer);
        for block in blocks {
            let nonces_before: BTreeMap<Address, u64> =
                state.iter().map(|(a, acc)| (*a, acc.nonce)).collect();
            let txs: Vec<TxEnvelope> = block
                .iter()
                .map(|&(from, to, nonce_offset, amount, fee)| {
                    let next = state.get(&addr(from)).map_or(0, |a| a.nonce);
                    // Mostly plausible nonces, sometimes stale or ahead.
                    let nonce = (next + nonce_offset).saturating_sub(1);
                    transfer(from, to, nonce, amount, fee)
                })
                .collect();
            let n = txs.len();
            let out = execute_block(&state, &lthash, &params(), &proposer, txs).expect("infallible");
            prop_assert_eq!(out.applied.len() + out.discarded.len(), n);
            commit(&mut state, &out);
            lthash = out.lthash.clone();
            prop_assert_eq!(supply(&state), total);
            prop_assert_eq!(lthash.root(), LtHash::of_state(state.iter()).root());
            // Each sender's nonce advanced by exactly the number of its applied transactions, and
            // the applied ones carried consecutive nonces from the old value.
            let mut expected = nonces_before.clone();
            for tx in &out.applied {
                let e = expected.entry(tx.tx.sender).or_insert(0);
                prop_assert_eq!(tx.tx.nonce, *e);
                *e += 1;
            }
            for (a, acc) in &state {
                prop_assert_eq!(acc.nonce, expected.get(a).copied().unwrap_or(0));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// The parallel executor returns exactly what the sequential oracle returns: same applied
    /// transactions in the same order, same receipts, same discards, same writes, same state root.
    /// Senders and recipients are drawn from a small set so that conflicts are common; the proposer
    /// sometimes takes part, which forces the sequential path.
    #[test]
    fn parallel_equals_sequential(
        txs in proptest::collection::vec((0u8..8, 0u8..10, 0u64..3, 1u64..300, 0u64..3), 0..80),
        proposer in 0u8..12,
    ) {
        let state = genesis(8, 400);
        let lthash = LtHash::of_state(state.iter());
        let proposer = addr(proposer);
        let mut next_nonce = [0u64; 8];
        let block: Vec<TxEnvelope> = txs
            .iter()
            .map(|&(from, to, skew, amount, fee)| {
                let n = next_nonce[from as usize];
                // Mostly the next nonce; sometimes a replay or a gap.
                let nonce = match skew { 0 | 1 => n, _ => n + 1 };
                if skew < 2 {
                    next_nonce[from as usize] += 1;
                }
                transfer(from, to, nonce, amount, fee)
            })
            .collect();
        let seq = execute_block(&state, &lthash, &params(), &proposer, block.clone())
            .expect("infallible");
        let base = prefetch(&state, &touched_accounts(&block, &proposer)).expect("infallible");
        let par = execute_block_parallel(&base, &lthash, &params(), &proposer, block);
        prop_assert_eq!(par.applied, seq.applied);
        prop_assert_eq!(par.receipts, seq.receipts);
        prop_assert_eq!(par.discarded, seq.discarded);
        prop_assert_eq!(par.writes, seq.writes);
        prop_assert_eq!(par.lthash.root(), seq.lthash.root());
    }
}
