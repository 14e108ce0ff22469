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
            chain_id: 5,
            min_fee: 1,
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
            (u0.id, DropReason::Discarded(TxError::ZeroAmount)),
            (t1.id, DropReason::Superseded { nonce: 1 }),
        ]
    );
    assert_eq!(p.len(), 1);
    assert_eq!(
        p.select(10).iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![t2.id]
    );
    assert_eq!(p.next_nonce(&addr(0), &Account::default()), 3);
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
