use ed25519_dalek::SigningKey;

use super::*;
use crate::types::{BankCall, Payload, Transaction};

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}
fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}
fn tx(from: u8, nonce: u64, fee: Amount) -> TxEnvelope {
    Transaction::sign(
        &key(from),
        5,
        nonce,
        fee,
        Payload::Bank(BankCall::Transfer {
            to: addr(99),
            amount: 10,
        }),
    )
}
fn rich() -> Account {
    Account {
        balance: 1_000_000,
        nonce: 0,
    }
}
fn pool(config: MempoolConfig) -> Mempool {
    Mempool::new(
        config,
        ChainParams {
            genesis_hash: [0; 32],
            chain_id: 5,
            min_fee: 1,
            staking: Default::default(),
            banking: Default::default(),
            identity: Default::default(),
            compliance: Default::default(),
            payments: Default::default(),
            dex: Default::default(),
        },
    )
}

#[test]
fn selects_by_fee_across_senders_and_by_nonce_within_one() {
    let mut p = pool(MempoolConfig::default());
    let now = Instant::now();
    // Sender 0: nonces 1 then 0 (out of order), low fee. Sender 1: high fee. Sender 2: gap at 0.
    let a1 = tx(0, 1, 2);
    let a0 = tx(0, 0, 2);
    let b0 = tx(1, 0, 9);
    let c1 = tx(2, 1, 50);
    for t in [&a1, &a0, &b0, &c1] {
        p.insert(t.clone(), rich(), now).expect("admitted");
    }
    let picked: Vec<TxId> = p.select(10).iter().map(|t| t.id).collect();
    assert_eq!(picked, vec![b0.id, a0.id, a1.id], "c1 waits for nonce 0");
    // Nothing is selected twice while a block is in flight.
    assert!(p.select(10).is_empty());
    assert_eq!(p.len(), 4);
}

#[test]
fn admission_rules_and_limits() {
    let config = MempoolConfig {
        txs_max: 3,
        per_sender_max: 2,
        nonce_ahead_max: 4,
        gapped_max: 2,
        expiry: Duration::from_secs(60),
    };
    let mut p = pool(config);
    let now = Instant::now();
    let committed = Account {
        balance: 25,
        nonce: 3,
    };
    assert_eq!(
        p.insert(tx(0, 2, 1), committed, now),
        Err(TxError::NonceTooLow {
            expected: 3,
            got: 2
        }
        .into())
    );
    assert_eq!(
        p.insert(tx(0, 7, 1), committed, now),
        Err(TxError::NonceTooHigh {
            expected: 3,
            got: 7
        }
        .into())
    );
    assert_eq!(
        p.insert(tx(0, 3, 0), committed, now),
        Err(TxError::FeeTooLow { min: 1, got: 0 }.into())
    );
    let t = tx(0, 3, 1);
    p.insert(t.clone(), committed, now).expect("ok");
    assert_eq!(p.insert(t, committed, now), Err(PoolError::AlreadyPending));
    assert_eq!(
        p.insert(tx(0, 3, 2), committed, now),
        Err(PoolError::NonceAlreadyPending { nonce: 3 })
    );
    // 11 reserved of 25: another 11 fits, a third would exceed the balance but hits the
    // per-sender limit first.
    p.insert(tx(0, 4, 1), committed, now).expect("ok");
    assert_eq!(
        p.insert(tx(0, 5, 1), committed, now),
        Err(PoolError::SenderFull { limit: 2 })
    );
    p.insert(tx(1, 0, 1), rich(), now).expect("ok");
    assert_eq!(
        p.insert(tx(2, 0, 1), rich(), now),
        Err(PoolError::Full { limit: 3 })
    );
    let poor = Account {
        balance: 15,
        nonce: 0,
    };
    let mut p2 = pool(MempoolConfig::default());
    p2.insert(tx(3, 0, 1), poor, now).expect("11 of 15");
    assert_eq!(
        p2.insert(tx(3, 1, 1), poor, now),
        Err(TxError::InsufficientFunds {
            balance: 15,
            needed: 22
        }
        .into())
    );
}

#[test]
fn commit_prunes_applied_drops_discarded_and_superseded() {
    let mut p = pool(MempoolConfig::default());
    let now = Instant::now();
    let t0 = tx(0, 0, 1);
    let t1 = tx(0, 1, 1);
    let t2 = tx(0, 2, 1);
    let u0 = tx(1, 0, 1);
    for t in [&t0, &t1, &t2, &u0] {
        p.insert(t.clone(), rich(), now).expect("ok");
    }
    assert_eq!(p.select(2).len(), 2);
    // Block applied t0; u0 was discarded; meanwhile the chain says sender 0 reached nonce 2 (t1's
    // nonce was used by a transaction the pool never saw).
    let mut accounts = BTreeMap::new();
    accounts.insert(
        addr(0),
        Account {
            balance: 500,
            nonce: 2,
        },
    );
    let dropped = p.on_committed([&t0.id], &[(u0.id, TxError::ZeroAmount)], &accounts);
    assert_eq!(
        dropped,
        vec![
            (t1.id, DropReason::Superseded { nonce: 1 }),
            (u0.id, DropReason::Discarded(TxError::ZeroAmount)),
        ]
    );
    assert_eq!(p.len(), 1);
    assert_eq!(
        p.select(10).iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t2.id]
    );
    assert_eq!(p.next_nonce(&addr(0), &Account::default()), 3);
}

/// With several validators, the block this node built may lose to another proposer's: what it had
/// selected is offered again after that other block commits.
#[test]
fn selected_transactions_return_when_another_block_commits() {
    let mut p = pool(MempoolConfig::default());
    let now = Instant::now();
    let t0 = tx(0, 0, 1);
    let t1 = tx(0, 1, 1);
    let u0 = tx(1, 0, 1);
    for t in [&t0, &t1, &u0] {
        p.insert(t.clone(), rich(), now).expect("ok");
    }
    assert_eq!(p.select(10).len(), 3);
    assert!(p.select(10).is_empty());
    // The decided block (someone else's) applied only u0.
    let mut accounts = BTreeMap::new();
    accounts.insert(
        addr(1),
        Account {
            balance: 900,
            nonce: 1,
        },
    );
    assert!(p.on_committed([&u0.id], &[], &accounts).is_empty());
    let again: Vec<TxId> = p.select(10).iter().map(|t| t.id).collect();
    assert_eq!(again, vec![t0.id, t1.id]);
}

#[test]
fn expiry_drops_old_transactions_only() {
    let mut p = pool(MempoolConfig {
        expiry: Duration::from_secs(10),
        ..MempoolConfig::default()
    });
    let t0 = Instant::now();
    let old = tx(0, 0, 1);
    let new = tx(1, 0, 1);
    p.insert(old.clone(), rich(), t0).expect("ok");
    p.insert(new.clone(), rich(), t0 + Duration::from_secs(5))
        .expect("ok");
    let dropped = p.expire(t0 + Duration::from_secs(11));
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].0, old.id);
    assert!(p.contains(&new.id) && !p.contains(&old.id));
}

#[test]
fn gapped_transactions_cannot_crowd_out_ready_ones() {
    let mut p = pool(MempoolConfig {
        txs_max: 10,
        gapped_max: 3,
        ..MempoolConfig::default()
    });
    let now = Instant::now();
    // Sender 0 lost its nonce 0: nonces 1, 2, 3 wait behind the gap.
    for n in 1..=3 {
        p.insert(tx(0, n, 1), rich(), now)
            .expect("gapped, within the limit");
    }
    assert_eq!(p.gapped(), 3);
    assert_eq!(
        p.insert(tx(1, 5, 1), rich(), now),
        Err(PoolError::GappedFull { limit: 3 })
    );
    // Ready transactions still get in.
    p.insert(tx(1, 0, 1), rich(), now).expect("ready");
    // Filling the gap makes the waiting ones ready.
    p.insert(tx(0, 0, 1), rich(), now).expect("closes the gap");
    assert_eq!(p.gapped(), 0);
    assert_eq!(p.select(10).len(), 5);
    p.assert_consistent();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

    /// The incrementally kept ready runs and gapped counts always equal a recount from scratch,
    /// whatever mix of inserts, selections, commits, discards and expiries happens.
    #[test]
    fn gapped_accounting_stays_exact(
        ops in proptest::collection::vec((0u8..6, 0u8..4, 0u64..8), 1..120)
    ) {
        let mut p = pool(MempoolConfig {
            txs_max: 40,
            gapped_max: 12,
            per_sender_max: 16,
            nonce_ahead_max: 8,
            expiry: Duration::from_secs(5),
        });
        let start = Instant::now();
        let mut committed = [0u64; 4];
        let mut clock = 0u64;
        for (op, sender, n) in ops {
            clock += 1;
            let now = start + Duration::from_millis(clock * 100);
            let s = sender as usize;
            let acc = Account { balance: 1_000_000, nonce: committed[s] };
            match op {
                0..=2 => {
                    // Admission never adds a waiting transaction past the limit (removals in the
                    // middle of a ready run may still leave more waiting; they expire).
                    let before = p.gapped();
                    if p.insert(tx(sender, committed[s] + n, 1), acc, now).is_ok() && p.gapped() > before {
                        proptest::prop_assert!(p.gapped() <= 12);
                    }
                }
                3 => {
                    // Commit what selection offers, as a block would.
                    let picked = p.select(5);
                    let mut accounts = BTreeMap::new();
                    for t in &picked {
                        let i = (0..4).find(|i| addr(*i as u8) == t.tx.sender).expect("known sender");
                        committed[i] = committed[i].max(t.tx.nonce + 1);
                        accounts.insert(t.tx.sender, Account { balance: 1_000_000, nonce: committed[i] });
                    }
                    let ids: Vec<TxId> = picked.iter().map(|t| t.id).collect();
                    p.on_committed(ids.iter(), &[], &accounts);
                }
                4 => {
                    // Discard one selected transaction.
                    if let Some(t) = p.select(1).pop() {
                        p.on_committed([].iter(), &[(t.id, TxError::ZeroAmount)], &BTreeMap::new());
                    }
                }
                _ => {
                    p.expire(now);
                }
            }
            p.assert_consistent();
            proptest::prop_assert!(p.len() <= 40);
        }
    }
}
