//! Slashing that reaches unbonding stake, and published endpoints.

use super::*;
use crate::consensus::context::{self as cx, sign_vote};
use crate::consensus::wire::Evidence;
use crate::types::UnbondingOwner;

fn queue_at(st: &MemState, release_height: u64) -> BTreeMap<UnbondingOwner, Amount> {
    match stake_get(st, &StakeKey::Unbonding { release_height }) {
        Some(StakeValue::Unbonding(u)) => u.0,
        None => BTreeMap::new(),
        Some(other) => panic!("not a queue: {other:?}"),
    }
}

fn left(owner: u8, validator: u8) -> UnbondingOwner {
    UnbondingOwner {
        owner: addr(owner),
        validator: addr(validator),
    }
}

/// Evidence that validator `i` signed two prevotes at `height`.
fn double_sign(i: u8, height: u64) -> Vec<u8> {
    let chain = staking_chain().chain_tag();
    let vote = |value: u8| {
        sign_vote(
            &chain,
            &key(i),
            cx::Vote {
                height: cx::Height(height),
                round: cx::Round::new(0),
                value: cx::NilOrVal::Val(cx::BlockHash([value; 32])),
                kind: cx::VoteType::Prevote,
                validator: cx::address_of(&key(i)),
            },
        )
    };
    Evidence(vote(1), vote(2)).to_bytes()
}

fn undelegate(from: u8, nonce: u64, validator: u8, amount: Amount) -> TxEnvelope {
    staking_tx(
        from,
        nonce,
        StakingCall::Undelegate {
            validator: addr(validator),
            amount,
        },
    )
}

fn delegate(from: u8, nonce: u64, validator: u8, amount: Amount) -> TxEnvelope {
    staking_tx(
        from,
        nonce,
        StakingCall::Delegate {
            validator: addr(validator),
            amount,
        },
    )
}

/// Stake that left a double signer at or after the offence is slashed while it unbonds; stake
/// that left before the offence, or left another validator, is not; supply falls by exactly what
/// is burned, and every unbonding entry still returns to its owner.
#[test]
fn unbonding_stake_is_slashed_for_an_offence_before_it_left() {
    let mut st = staking_state();
    let mut lthash = st.lthash();
    // Longer unbonding, so that stake leaving before and after the offence is pending at once.
    let mut params = staking_chain();
    params.staking.unbonding_blocks = 5;
    let run = |st: &mut MemState, lthash: &mut LtHash, height, txs| {
        run_block_under(&params, st, lthash, height, txs)
    };
    // Height 1: accounts 1, 2 and 4 delegate to validator 9, account 3 to validator 10; account 4
    // leaves validator 9 at once (before the offence, which is at height 2).
    let out = run(
        &mut st,
        &mut lthash,
        1,
        vec![
            delegate(1, 0, 9, 500),
            delegate(2, 0, 9, 300),
            delegate(3, 0, 10, 400),
            delegate(4, 0, 9, 100),
            undelegate(4, 1, 9, 100),
        ],
    );
    assert_eq!(out.applied.len(), 5, "{:?}", out.discarded);
    // Height 2 (the offence's): account 1 leaves validator 9, account 3 leaves validator 10.
    let out = run(
        &mut st,
        &mut lthash,
        2,
        vec![undelegate(1, 1, 9, 200), undelegate(3, 1, 10, 100)],
    );
    assert_eq!(out.applied.len(), 2, "{:?}", out.discarded);
    // Height 3: account 2 leaves validator 9 too.
    let out = run(&mut st, &mut lthash, 3, vec![undelegate(2, 1, 9, 50)]);
    assert_eq!(out.applied.len(), 1, "{:?}", out.discarded);
    assert_eq!(queue_at(&st, 6), BTreeMap::from([(left(4, 9), 100)]));
    assert_eq!(
        queue_at(&st, 7),
        BTreeMap::from([(left(1, 9), 200), (left(3, 10), 100)])
    );
    assert_eq!(queue_at(&st, 8), BTreeMap::from([(left(2, 9), 50)]));
    assert_eq!(
        stake_get(&st, &StakeKey::ReleaseHeights { validator: addr(9) }),
        Some(StakeValue::Heights(vec![6, 7, 8]))
    );

    // Height 4: the double sign of height 2 is reported; 10% of the pool and of the stake that
    // left at heights 2 and 3 is burned.
    let supply = total_supply(&st);
    let pool = registry_of(&st).validators[&addr(9)].tokens;
    let out = run(
        &mut st,
        &mut lthash,
        4,
        vec![staking_tx(
            5,
            0,
            StakingCall::ReportEquivocation {
                evidence: double_sign(9, 2),
            },
        )],
    );
    assert_eq!(out.applied.len(), 1, "{:?}", out.discarded);
    let v = registry_of(&st).validators[&addr(9)];
    assert!(v.jailed);
    assert_eq!(
        v.tokens,
        pool - pool / 10,
        "a jailed validator earns nothing"
    );
    assert_eq!(queue_at(&st, 6), BTreeMap::from([(left(4, 9), 100)]));
    assert_eq!(
        queue_at(&st, 7),
        BTreeMap::from([(left(1, 9), 180), (left(3, 10), 100)])
    );
    assert_eq!(queue_at(&st, 8), BTreeMap::from([(left(2, 9), 45)]));
    assert_eq!(
        total_supply(&st),
        supply + 30 - u128::from(pool / 10) - 20 - 5
    );

    // Every entry returns to its owner, as slashed; the index empties with the queues.
    let balances = |st: &MemState| [1, 2, 3, 4].map(|i| st.accounts[&addr(i)].balance);
    let before = balances(&st);
    for height in 5..=8 {
        run(&mut st, &mut lthash, height, vec![]);
    }
    let after = balances(&st);
    assert_eq!(
        [0, 1, 2, 3].map(|i| after[i] - before[i]),
        [180, 45, 100, 100]
    );
    assert!(queue_at(&st, 7).is_empty() && queue_at(&st, 8).is_empty());
    assert_eq!(
        stake_get(&st, &StakeKey::ReleaseHeights { validator: addr(9) }),
        None
    );
}

/// A registered validator publishes its p2p address and changes it; anyone else, and addresses
/// that cannot be dialled, are refused.
#[test]
fn validators_publish_and_change_their_endpoints() {
    let mut st = staking_state();
    let mut lthash = st.lthash();
    let endpoint = |text: &str| StakingCall::SetEndpoint {
        endpoint: text.parse().expect("socket"),
    };
    let out = run_block(
        &mut st,
        &mut lthash,
        1,
        vec![
            staking_tx(0, 0, endpoint("10.0.0.1:26656")),
            staking_tx(
                0,
                0,
                StakingCall::RegisterValidator {
                    commission_bps: 0,
                    amount: 50,
                },
            ),
            staking_tx(0, 1, endpoint("0.0.0.0:26656")),
            staking_tx(0, 1, endpoint("10.0.0.1:0")),
            staking_tx(0, 1, endpoint("10.0.0.1:26656")),
        ],
    );
    let reasons: Vec<_> = out.discarded.iter().map(|d| d.1.clone()).collect();
    assert_eq!(
        reasons,
        vec![
            TxError::UnknownValidator(addr(0)),
            TxError::InvalidEndpoint {
                endpoint: "0.0.0.0:26656".parse().expect("socket")
            },
            TxError::InvalidEndpoint {
                endpoint: "10.0.0.1:0".parse().expect("socket")
            },
        ]
    );
    let published = |st: &MemState| stake_get(st, &StakeKey::Endpoint { validator: addr(0) });
    assert_eq!(
        published(&st),
        Some(StakeValue::Endpoint(
            "10.0.0.1:26656".parse().expect("socket")
        ))
    );
    let out = run_block(
        &mut st,
        &mut lthash,
        2,
        vec![staking_tx(0, 2, endpoint("[2001:db8::7]:9001"))],
    );
    assert_eq!(out.applied.len(), 1, "{:?}", out.discarded);
    assert_eq!(
        published(&st),
        Some(StakeValue::Endpoint(
            "[2001:db8::7]:9001".parse().expect("socket")
        ))
    );
}
