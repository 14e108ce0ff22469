use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;

use super::*;
use crate::execution::{execute_block, BlockEnv, ChainParams};
use crate::genesis::{Genesis, GenesisAccount};
use crate::types::{block::tx_root, BankCall, BlockHeader, Payload, Transaction};

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[i + 1; 32])
}
fn addr(i: u8) -> Address {
    Address(key(i).verifying_key().to_bytes())
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: 9,
        timestamp_ms: 1,
        validator: addr(9),
        validators: vec![],
        min_fee: 1,
        staking: Default::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
        accounts: vec![GenesisAccount {
            address: addr(0),
            balance: 1_000_000_000,
        }],
    }
}

fn open(dir: &Path, map_size_mb: u64) -> Storage {
    Storage::open(
        dir,
        &StorageConfig {
            map_size_mb,
            durable: true,
        },
    )
    .expect("open store")
}

/// Executes and commits a block of transfers from account 0 on top of the store's head.
fn commit_transfers(s: &Storage, nonce0: u64, n: u64) -> Result<ChainHead> {
    let head = s.head()?;
    let params = ChainParams {
        genesis_hash: [0; 32],
        chain_id: 9,
        min_fee: 1,
        staking: Default::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
    };
    let txs = (0..n)
        .map(|i| {
            Transaction::sign(
                &key(0),
                9,
                nonce0 + i,
                1,
                Payload::Bank(BankCall::Transfer {
                    to: addr(1),
                    amount: 1,
                }),
            )
        })
        .collect();
    let out = {
        let r = s.reader()?;
        let env = BlockEnv {
            height: head.height + 1,
            proposer: addr(9),
            time_ms: 0,
        };
        execute_block(&r, &s.lthash()?, &params, &env, txs)?
    };
    assert!(out.discarded.is_empty());
    let ids: Vec<_> = out.applied.iter().map(|t| t.id).collect();
    let block = Block {
        header: BlockHeader {
            chain_id: 9,
            height: head.height + 1,
            parent_hash: head.hash,
            timestamp_ms: head.timestamp_ms + 1,
            proposer: addr(9),
            tx_root: tx_root(&ids),
            state_root: out.lthash.root(),
            tx_count: ids.len() as u32,
        },
        transactions: out.applied,
    };
    s.commit_block(&BlockCommit {
        certificate: None,
        block: &block,
        receipts: &out.receipts,
        writes: &out.writes,
        state_writes: &out.state_writes,
        lthash: &out.lthash,
    })
}

#[test]
fn genesis_commit_reopen_and_read_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = genesis();
    {
        let s = open(dir.path(), 64);
        assert!(!s.is_initialized().expect("read"));
        let (block, state, stake, lthash) = g.build();
        s.initialize(&block, &state, &stake, &lthash, "{}")
            .expect("genesis");
        let head = commit_transfers(&s, 0, 3).expect("commit");
        assert_eq!(head.height, 1);
        let b = s.block(1).expect("read").expect("block 1 exists");
        assert_eq!(b.transactions.len(), 3);
        assert_eq!(
            s.tx_location(&b.transactions[2].id).expect("read"),
            Some(TxLocation {
                height: 1,
                index: 2
            })
        );
        assert_eq!(s.receipts(1).expect("read").len(), 3);
        // The block's account writes are kept for replay: sender, recipient, proposer.
        let diff = s.account_diff(1).expect("read");
        assert_eq!(
            diff.iter()
                .map(|(a, _)| *a)
                .collect::<std::collections::BTreeSet<_>>(),
            [addr(0), addr(1), addr(9)].into_iter().collect()
        );
        assert_eq!(
            s.account_diff(0).expect("read").len(),
            1,
            "genesis wrote the faucet"
        );
    }
    // Reopen: same head, same state, same commitment.
    let s = open(dir.path(), 64);
    let head = s.head().expect("head");
    assert_eq!(head.height, 1);
    assert_eq!(
        s.account(&addr(0)).expect("read").balance,
        1_000_000_000 - 6
    );
    assert_eq!(s.account(&addr(1)).expect("read").balance, 3);
    assert_eq!(s.account(&addr(9)).expect("read").balance, 3);
    let state: BTreeMap<Address, Account> = [0, 1, 9]
        .iter()
        .map(|i| (addr(*i), s.account(&addr(*i)).expect("read")))
        .collect();
    // The commitment covers the accounts and the staking entries, read back from the store.
    let mut full = LtHash::of_state(state.iter());
    for (key, _) in g.module_state() {
        let value = s
            .state_entry(&key)
            .expect("read")
            .expect("genesis staking entry");
        full.add(&LtHash::of_entry(&key, &value));
    }
    // And the proposer schedule, which every block moves on.
    let schedule = crate::modules::staking::state_key(&StakeKey::Leaders);
    let value = s
        .state_entry(&schedule)
        .expect("read")
        .expect("the proposer schedule");
    full.add(&LtHash::of_entry(&schedule, &value));
    assert_eq!(full.root(), head.state_root);
}

/// The index is written behind commits: lookups find a committed transaction before, while and
/// after it is indexed, and after a restart that lost the in-memory part.
#[test]
fn transactions_are_found_before_and_after_indexing_and_after_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id_at = |s: &Storage, h: u64, i: usize| {
        s.block(h).expect("read").expect("block").transactions[i].id
    };
    let loc = |height, index| Some(TxLocation { height, index });
    {
        let s = open(dir.path(), 64);
        let (block, state, stake, lthash) = genesis().build();
        s.initialize(&block, &state, &stake, &lthash, "{}")
            .expect("genesis");
        commit_transfers(&s, 0, 3).expect("block 1");
        assert_eq!(s.unindexed_len(), 3);
        assert_eq!(s.tx_location(&id_at(&s, 1, 2)).expect("read"), loc(1, 2));
        assert_eq!(s.index_pending().expect("index"), 3);
        assert_eq!(s.unindexed_len(), 0);
        assert_eq!(s.index_pending().expect("nothing left"), 0);
        assert_eq!(
            s.reader()
                .expect("reader")
                .tx_location(&id_at(&s, 1, 2))
                .expect("read"),
            loc(1, 2)
        );
        commit_transfers(&s, 3, 2).expect("block 2");
        commit_transfers(&s, 5, 2).expect("block 3");
        assert_eq!(s.unindexed_len(), 4);
        // Dropped here without indexing blocks 2 and 3: as after kill -9.
    }
    let s = open(dir.path(), 64);
    assert_eq!(
        s.unindexed_len(),
        4,
        "blocks above the indexed height are read back"
    );
    assert_eq!(s.tx_location(&id_at(&s, 1, 0)).expect("read"), loc(1, 0));
    assert_eq!(s.tx_location(&id_at(&s, 3, 1)).expect("read"), loc(3, 1));
    assert_eq!(s.index_pending().expect("index"), 4);
    assert_eq!(s.tx_location(&id_at(&s, 2, 1)).expect("read"), loc(2, 1));
    assert_eq!(
        s.tx_location(&Hash::sha256(b"never sent")).expect("read"),
        None
    );
    drop(s);
    assert_eq!(open(dir.path(), 64).unindexed_len(), 0);
}

#[test]
fn out_of_order_block_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path(), 64);
    let (block, state, stake, lthash) = genesis().build();
    s.initialize(&block, &state, &stake, &lthash, "{}")
        .expect("genesis");
    // Re-committing genesis as if it were the next block must fail.
    let err = s
        .commit_block(&BlockCommit {
            certificate: None,
            block: &block,
            receipts: &[],
            writes: &state,
            state_writes: &stake,
            lthash: &lthash,
        })
        .expect_err("not the next block");
    assert!(matches!(
        err,
        StorageError::NotNextBlock { head: 0, got: 0 }
    ));
}

#[test]
fn full_map_is_a_clear_error_and_a_larger_map_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut committed = 0;
    {
        let s = open(dir.path(), 1);
        let (block, state, stake, lthash) = genesis().build();
        s.initialize(&block, &state, &stake, &lthash, "{}")
            .expect("genesis");
        let err = loop {
            match commit_transfers(&s, committed, 200) {
                Ok(_) => committed += 200,
                Err(e) => break e,
            }
            assert!(committed < 50_000, "a 1 MiB map must fill up");
        };
        assert!(
            matches!(err, StorageError::MapFull { map_size_mb: 1 }),
            "{err}"
        );
        assert!(err.to_string().contains("map_size_mb"));
        // Nothing half-written: the head is the last block that committed.
        assert_eq!(s.head().expect("head").height, committed / 200);
    }
    let s = open(dir.path(), 16);
    assert_eq!(s.head().expect("head").height, committed / 200);
    commit_transfers(&s, committed, 200).expect("room again");
}

/// An address's history is newest first and whole, whether its entries wait in memory or were
/// written by the indexer, across a reopen (as after kill -9), and pages of any size (up to the
/// largest) chain by cursor with no gap and no repeat.
#[test]
fn history_pages_are_newest_first_across_indexing_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = |s: &Storage, who: &Address| {
        s.account_history(who, None, HISTORY_PAGE_MAX)
            .expect("history")
    };
    {
        let s = open(dir.path(), 64);
        let (block, state, stake, lthash) = genesis().build();
        s.initialize(&block, &state, &stake, &lthash, "{}")
            .expect("genesis");
        commit_transfers(&s, 0, 3).expect("block 1");
        s.index_pending().expect("index");
        commit_transfers(&s, 3, 4).expect("block 2");
        // Block 2 is not indexed when the store is dropped.
    }
    let s = open(dir.path(), 64);
    commit_transfers(&s, 7, 2).expect("block 3");
    let expected: Vec<TxLocation> = [
        (3, 1),
        (3, 0),
        (2, 3),
        (2, 2),
        (2, 1),
        (2, 0),
        (1, 2),
        (1, 1),
        (1, 0),
    ]
    .into_iter()
    .map(|(height, index)| TxLocation { height, index })
    .collect();
    // The sender and the recipient of every transfer.
    assert_eq!(all(&s, &addr(0)), expected);
    assert_eq!(all(&s, &addr(1)), expected);
    assert!(all(&s, &addr(7)).is_empty());
    for page in [1, 2, 4, HISTORY_PAGE_MAX + 1] {
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let p = s.account_history(&addr(1), before, page).expect("page");
            if p.is_empty() {
                break;
            }
            assert!(p.len() <= page);
            before = p.last().copied();
            got.extend(p);
        }
        assert_eq!(got, expected, "pages of {page}");
    }
    s.index_pending().expect("index the rest");
    assert_eq!(all(&s, &addr(1)), expected, "once everything is indexed");
    // A caller asking for one more than the largest page gets it, so that it can tell that a
    // full page has a next one.
    commit_transfers(&s, 9, HISTORY_PAGE_MAX as u64).expect("a large block");
    assert_eq!(
        s.account_history(&addr(1), None, HISTORY_PAGE_MAX + 1)
            .expect("history")
            .len(),
        HISTORY_PAGE_MAX + 1
    );
}

/// One transaction (or the header) of a stored block reads the same as in the whole block.
#[test]
fn one_transaction_of_a_block_reads_as_in_the_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path(), 64);
    let (block, state, stake, lthash) = genesis().build();
    s.initialize(&block, &state, &stake, &lthash, "{}")
        .expect("genesis");
    commit_transfers(&s, 0, 5).expect("block 1");
    let whole = s.block(1).expect("read").expect("block 1");
    assert_eq!(s.block_header(1).expect("read"), Some(whole.header.clone()));
    for (i, tx) in whole.transactions.iter().enumerate() {
        assert_eq!(s.block_tx(1, i as u32).expect("read").as_ref(), Some(tx));
    }
    assert_eq!(s.block_tx(1, 5).expect("read"), None, "past the last");
    assert_eq!(s.block_tx(2, 0).expect("read"), None, "no such block");
    assert_eq!(s.block_header(2).expect("read"), None);
}
