//! Property tests of the transfer state machine: supply is conserved, nonces are enforced, discarded
//! transactions leave no trace, and the incremental state commitment equals the one from scratch.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::codec::{decode_exact, Encode};
use crate::modules::staking;
use crate::types::{BankCall, Payload, StakeKey, StakeValue, StakingCall, Transaction};

mod slashing;

const CHAIN: ChainId = 7;

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i.wrapping_add(1); 32])
}

fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

fn params() -> ChainParams {
    ChainParams {
        genesis_hash: [0; 32],
        chain_id: CHAIN,
        min_fee: 1,
        staking: StakingParams::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
    }
}

/// A block at height 1 proposed by `proposer`.
fn at(proposer: &Address) -> BlockEnv {
    BlockEnv {
        height: 1,
        proposer: *proposer,
        time_ms: 0,
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
        &at(&proposer),
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
    let out =
        execute_block(&state, &LtHash::identity(), &params(), &at(&p), txs).expect("infallible");
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
        &at(&addr(0)),
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
            let out = execute_block(&state, &lthash, &params(), &at(&proposer), txs).expect("infallible");
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
        let seq = execute_block(&state, &lthash, &params(), &at(&proposer), block.clone())
            .expect("infallible");
        let par = execute_block_parallel(&state, &lthash, &params(), &at(&proposer), block)
            .expect("infallible");
        prop_assert_eq!(par.applied, seq.applied);
        prop_assert_eq!(par.receipts, seq.receipts);
        prop_assert_eq!(par.discarded, seq.discarded);
        prop_assert_eq!(par.writes, seq.writes);
        prop_assert_eq!(par.lthash.root(), seq.lthash.root());
    }
}

/// A state with accounts 0..8 funded and validators 8..11 registered (100 tokens each).
fn staking_state() -> MemState {
    let mut st = MemState {
        accounts: genesis(8, 10_000),
        state: BTreeMap::new(),
    };
    let validators: Vec<_> = (8..11).map(|i| (addr(i), 100, 1_000)).collect();
    for (k, v) in staking::genesis_entries(&validators, &staking_params()) {
        st.state.insert(staking::state_key(&k), v.to_bytes());
    }
    st
}

fn staking_params() -> StakingParams {
    StakingParams {
        epoch_blocks: 3,
        active_set_max: 3,
        unbonding_blocks: 2,
        block_reward: 30,
        slash_bps: 1_000,
        min_self_stake: 10,
    }
}

fn staking_chain() -> ChainParams {
    ChainParams {
        staking: staking_params(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
        ..params()
    }
}

fn staking_tx(from: u8, nonce: u64, call: StakingCall) -> TxEnvelope {
    Transaction::sign(&key(from), CHAIN, nonce, 1, Payload::Staking(call))
}

/// Every staking entry of a state, decoded.
fn stake_values(st: &MemState) -> Vec<StakeValue> {
    st.state
        .iter()
        .filter(|(k, _)| k.module() == 2)
        .map(|(_, v)| decode_exact::<StakeValue>(v, usize::MAX).expect("staking value"))
        .collect()
}

fn stake_get(st: &MemState, key: &StakeKey) -> Option<StakeValue> {
    st.state
        .get(&staking::state_key(key))
        .map(|v| decode_exact::<StakeValue>(v, usize::MAX).expect("staking value"))
}

/// Sum of balances, bonded tokens and unbonding stake.
fn total_supply(st: &MemState) -> u128 {
    let mut total: u128 = st.accounts.values().map(|a| u128::from(a.balance)).sum();
    for v in stake_values(st) {
        match v {
            StakeValue::Registry(r) => {
                total += r
                    .validators
                    .values()
                    .map(|v| u128::from(v.tokens))
                    .sum::<u128>()
            }
            StakeValue::Unbonding(u) => total += u.0.values().map(|a| u128::from(*a)).sum::<u128>(),
            StakeValue::Shares(_)
            | StakeValue::Leaders(_)
            | StakeValue::Heights(_)
            | StakeValue::Endpoint(_) => {}
        }
    }
    total
}

fn registry_of(st: &MemState) -> crate::types::Registry {
    match stake_get(st, &StakeKey::Registry) {
        Some(StakeValue::Registry(r)) => r.clone(),
        _ => panic!("no registry"),
    }
}

/// Runs one block at `height` on `st`, checking the incremental commitment against a full one.
fn run_block(
    st: &mut MemState,
    lthash: &mut LtHash,
    height: u64,
    txs: Vec<TxEnvelope>,
) -> BlockOutput {
    run_block_under(&staking_chain(), st, lthash, height, txs)
}

fn run_block_under(
    params: &ChainParams,
    st: &mut MemState,
    lthash: &mut LtHash,
    height: u64,
    txs: Vec<TxEnvelope>,
) -> BlockOutput {
    let env = BlockEnv {
        height,
        proposer: addr(8),
        time_ms: 0,
    };
    let out = execute_block(&*st, lthash, params, &env, txs).expect("infallible");
    st.apply(&out);
    *lthash = out.lthash.clone();
    assert_eq!(
        lthash.root(),
        st.lthash().root(),
        "incremental root equals the full one"
    );
    out
}

#[test]
fn delegation_election_rewards_and_unbonding() {
    let mut st = staking_state();
    let mut lthash = st.lthash();
    let supply0 = total_supply(&st);
    let v0 = addr(8);
    // Height 1: account 0 registers (50), account 1 delegates 500 to it, account 2 delegates to
    // an unknown validator (refused).
    let out = run_block(
        &mut st,
        &mut lthash,
        1,
        vec![
            staking_tx(
                0,
                0,
                StakingCall::RegisterValidator {
                    commission_bps: 2_000,
                    amount: 50,
                },
            ),
            staking_tx(
                1,
                0,
                StakingCall::Delegate {
                    validator: addr(0),
                    amount: 500,
                },
            ),
            staking_tx(
                2,
                0,
                StakingCall::Delegate {
                    validator: addr(7),
                    amount: 5,
                },
            ),
            staking_tx(
                3,
                0,
                StakingCall::RegisterValidator {
                    commission_bps: 20_000,
                    amount: 50,
                },
            ),
        ],
    );
    assert_eq!(out.applied.len(), 2);
    assert_eq!(out.discarded[0].1, TxError::UnknownValidator(addr(7)));
    assert_eq!(
        out.discarded[1].1,
        TxError::CommissionTooHigh { got: 20_000 }
    );
    let reg = registry_of(&st);
    assert_eq!(reg.validators[&addr(0)].tokens, 550);
    assert!(
        !reg.active.iter().any(|(a, _)| *a == addr(0)),
        "elected only at the epoch's end"
    );
    // Rewards: 30 per block split by power (100 each): 10 per validator, 10% commission.
    assert_eq!(reg.validators[&v0].tokens, 110);
    assert_eq!(st.accounts[&addr(1)].balance, 10_000 - 500 - 1);
    assert_eq!(total_supply(&st), supply0 + 30);

    // Heights 2 and 3: at the end of 3 (an epoch), account 0's validator enters the set of 3 and
    // the smallest of the others leaves (ties to the higher address).
    run_block(&mut st, &mut lthash, 2, vec![]);
    let reg = registry_of(&st);
    assert!(!reg.active.iter().any(|(a, _)| *a == addr(0)));
    run_block(&mut st, &mut lthash, 3, vec![]);
    let reg = registry_of(&st);
    let expected = elect(&reg, 3);
    assert_eq!(reg.active, expected);
    assert!(reg.active.iter().any(|(a, p)| *a == addr(0) && *p == 550));
    assert_eq!(reg.active.len(), 3);
    assert_eq!(total_supply(&st), supply0 + 90);

    // Height 4: account 1 undelegates 200 (it holds 500 tokens' worth plus rewards); it returns
    // at the end of height 6. Undelegating more than held is refused.
    let out = run_block(
        &mut st,
        &mut lthash,
        4,
        vec![
            staking_tx(
                1,
                1,
                StakingCall::Undelegate {
                    validator: addr(0),
                    amount: 200,
                },
            ),
            staking_tx(
                1,
                2,
                StakingCall::Undelegate {
                    validator: addr(0),
                    amount: 1_000_000,
                },
            ),
        ],
    );
    assert_eq!(out.applied.len(), 1);
    assert!(matches!(
        out.discarded[0].1,
        TxError::InsufficientStake {
            wanted: 1_000_000,
            ..
        }
    ));
    let balance = st.accounts[&addr(1)].balance;
    assert!(stake_get(&st, &StakeKey::Unbonding { release_height: 6 }).is_some());
    run_block(&mut st, &mut lthash, 5, vec![]);
    assert_eq!(st.accounts[&addr(1)].balance, balance);
    run_block(&mut st, &mut lthash, 6, vec![]);
    assert_eq!(st.accounts[&addr(1)].balance, balance + 200);
    assert!(stake_get(&st, &StakeKey::Unbonding { release_height: 6 }).is_none());
    assert_eq!(total_supply(&st), supply0 + 180);
}

#[test]
fn double_signing_evidence_slashes_jails_and_reelects() {
    use crate::codec::Encode;
    use crate::consensus::context::{self as cx, sign_vote};
    use crate::consensus::wire::Evidence;
    let mut st = staking_state();
    let mut lthash = st.lthash();
    let culprit = key(9);
    let chain = staking_chain().chain_tag();
    let vote_on = |chain: &cx::ChainTag, value: u8| {
        sign_vote(
            chain,
            &culprit,
            cx::Vote {
                height: cx::Height(4),
                round: cx::Round::new(0),
                value: cx::NilOrVal::Val(cx::BlockHash([value; 32])),
                kind: cx::VoteType::Prevote,
                validator: cx::address_of(&culprit),
            },
        )
    };
    let vote = |value: u8| vote_on(&chain, value);
    let evidence = Evidence(vote(1), vote(2)).to_bytes();
    // The same double sign on another chain, or on a chain of another genesis, proves nothing here.
    let elsewhere = [
        cx::ChainTag {
            chain_id: chain.chain_id + 1,
            ..chain
        },
        cx::ChainTag {
            genesis_hash: [0xee; 32],
            ..chain
        },
    ]
    .map(|other| Evidence(vote_on(&other, 1), vote_on(&other, 2)).to_bytes());
    let same = Evidence(vote(1), vote(1)).to_bytes();
    let mut forged_vote = vote(2);
    forged_vote.signature = cx::Sig([7; 64]);
    let forged = Evidence(vote(1), forged_vote).to_bytes();
    let out = run_block(
        &mut st,
        &mut lthash,
        1,
        vec![
            staking_tx(0, 0, StakingCall::ReportEquivocation { evidence: same }),
            staking_tx(0, 0, StakingCall::ReportEquivocation { evidence: forged }),
            staking_tx(
                0,
                0,
                StakingCall::ReportEquivocation {
                    evidence: elsewhere[0].clone(),
                },
            ),
            staking_tx(
                0,
                0,
                StakingCall::ReportEquivocation {
                    evidence: elsewhere[1].clone(),
                },
            ),
            staking_tx(
                0,
                0,
                StakingCall::ReportEquivocation {
                    evidence: evidence.clone(),
                },
            ),
            staking_tx(1, 0, StakingCall::ReportEquivocation { evidence }),
            staking_tx(
                2,
                0,
                StakingCall::Delegate {
                    validator: addr(9),
                    amount: 5,
                },
            ),
        ],
    );
    assert_eq!(out.applied.len(), 1);
    let reasons: Vec<_> = out.discarded.iter().map(|d| d.1.clone()).collect();
    assert_eq!(
        reasons,
        vec![
            TxError::InvalidEvidence(crate::consensus::wire::EvidenceError::SameValue),
            TxError::InvalidEvidence(crate::consensus::wire::EvidenceError::BadSignature),
            TxError::InvalidEvidence(crate::consensus::wire::EvidenceError::BadSignature),
            TxError::InvalidEvidence(crate::consensus::wire::EvidenceError::BadSignature),
            TxError::AlreadyJailed(addr(9)),
            TxError::ValidatorJailed(addr(9)),
        ]
    );
    let reg = registry_of(&st);
    let v = reg.validators[&addr(9)];
    assert!(v.jailed);
    // 10% of 100 burned; no reward for the block it was jailed in.
    assert_eq!(v.tokens, 90);
    assert_eq!(
        reg.active.len(),
        2,
        "re-elected at once without the double signer"
    );
    assert!(!reg.active.iter().any(|(a, _)| *a == addr(9)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With staking calls, rewards, unbonding and elections in the mix, the parallel executor
    /// still equals the sequential oracle, the commitment equals the one from scratch, and supply
    /// grows by exactly the block rewards (nothing is slashed here).
    #[test]
    fn parallel_equals_sequential_with_staking(
        blocks in proptest::collection::vec(
            proptest::collection::vec((0u8..8, 0u8..12, 0u8..6, 1u64..300), 0..24),
            1..6,
        ),
    ) {
        let mut st = staking_state();
        let mut lthash = st.lthash();
        let supply0 = total_supply(&st);
        let mut nonces = [0u64; 8];
        for (h, txs) in blocks.iter().enumerate() {
            let height = h as u64 + 1;
            let block: Vec<TxEnvelope> = txs
                .iter()
                .map(|&(from, to, kind, amount)| {
                    let nonce = nonces[from as usize];
                    nonces[from as usize] += 1;
                    let call = match kind {
                        0 => StakingCall::Delegate { validator: addr(8 + to % 4), amount },
                        1 => StakingCall::Undelegate { validator: addr(8 + to % 4), amount },
                        2 if to == 0 => StakingCall::RegisterValidator { commission_bps: 500, amount },
                        3 if to < 2 => StakingCall::SetEndpoint {
                            endpoint: std::net::SocketAddr::from(([10, 0, 0, to], 26_656)),
                        },
                        _ => return transfer(from, to, nonce, amount, 1),
                    };
                    staking_tx(from, nonce, call)
                })
                .collect();
            let env = BlockEnv { height, proposer: addr(8 + (h as u8 % 3)), time_ms: height * 1_000 };
            let seq = execute_block(&st, &lthash, &staking_chain(), &env, block.clone())
                .expect("infallible");
            let par = execute_block_parallel(&st, &lthash, &staking_chain(), &env, block)
                .expect("infallible");
            prop_assert_eq!(&par.applied, &seq.applied);
            prop_assert_eq!(&par.discarded, &seq.discarded);
            prop_assert_eq!(&par.writes, &seq.writes);
            prop_assert_eq!(&par.state_writes, &seq.state_writes);
            prop_assert_eq!(par.lthash.root(), seq.lthash.root());
            st.apply(&seq);
            lthash = seq.lthash.clone();
            for (i, n) in nonces.iter_mut().enumerate() {
                *n = st.accounts.get(&addr(i as u8)).map_or(0, |a| a.nonce);
            }
            prop_assert_eq!(lthash.root(), st.lthash().root());
            prop_assert_eq!(total_supply(&st), supply0 + 30 * u128::from(height));
        }
    }
}

#[test]
fn a_validator_under_its_minimum_self_stake_leaves_the_set_and_old_evidence_is_refused() {
    use crate::codec::Encode;
    use crate::consensus::context::{self as cx, sign_vote};
    use crate::consensus::wire::Evidence;
    let mut st = staking_state();
    st.accounts.entry(addr(10)).or_default().balance = 1_000;
    let mut lthash = st.lthash();
    // No rewards, which would lift its own stake back over the minimum.
    let mut params = staking_chain();
    params.staking.block_reward = 0;
    let run_block = |st: &mut MemState, lthash: &mut LtHash, height, txs| {
        run_block_under(&params, st, lthash, height, txs)
    };
    // Validator 10 takes back 95 of its own 100: under the minimum of 10.
    let out = run_block(
        &mut st,
        &mut lthash,
        1,
        vec![staking_tx(
            10,
            0,
            StakingCall::Undelegate {
                validator: addr(10),
                amount: 95,
            },
        )],
    );
    assert_eq!(out.applied.len(), 1, "{:?}", out.discarded);
    run_block(&mut st, &mut lthash, 2, vec![]);
    let in_set = |st: &MemState, i: u8| registry_of(st).active.iter().any(|(a, _)| *a == addr(i));
    assert!(in_set(&st, 10), "it serves until the epoch's end");
    run_block(&mut st, &mut lthash, 3, vec![]);
    assert!(!in_set(&st, 10), "not elected again under its minimum");
    assert!(in_set(&st, 8) && in_set(&st, 9));

    // A double sign at height 1 reported at height 4: older than the unbonding period (2).
    let chain = staking_chain().chain_tag();
    let culprit = key(9);
    let vote = |value: u8| {
        sign_vote(
            &chain,
            &culprit,
            cx::Vote {
                height: cx::Height(1),
                round: cx::Round::new(0),
                value: cx::NilOrVal::Val(cx::BlockHash([value; 32])),
                kind: cx::VoteType::Prevote,
                validator: cx::address_of(&culprit),
            },
        )
    };
    let evidence = Evidence(vote(1), vote(2)).to_bytes();
    let out = run_block(
        &mut st,
        &mut lthash,
        4,
        vec![staking_tx(
            0,
            0,
            StakingCall::ReportEquivocation { evidence },
        )],
    );
    assert_eq!(
        out.discarded.first().map(|d| d.1.clone()),
        Some(TxError::EvidenceTooOld {
            height: 1,
            unbonding_blocks: 2,
            last: 3
        })
    );
    assert!(!registry_of(&st).validators[&addr(9)].jailed);
}
