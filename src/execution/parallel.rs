//! Parallel execution with a deterministic schedule.
//!
//! Transactions are grouped by the accounts they touch (sender and recipient, joined with a
//! union-find): transactions in different groups touch disjoint accounts, so the groups run on rayon
//! at the same time, each in block order. The one account every transaction touches, the proposer
//! (fees), is kept out of the groups: fee credits commute, so each group reports its fee total and the
//! proposer is credited once at the end. A block in which the proposer also sends or receives runs
//! sequentially, since then its balance could be read mid-block. So does a block with staking
//! calls: they share the validator registry (they are rare next to transfers). The block's end
//! (`staking::end_block`) runs after the groups, on their merged writes, as in the oracle.
//!
//! The schedule is a pure function of the block, and the output is exactly that of the sequential
//! oracle [`super::execute_block`] (property-tested in `tests.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;

use super::{
    apply_tx, commit_overlay, execute_block, finish_block, BlockEnv, BlockOutput, ChainParams,
    Overlay, StateView, TxError,
};
use crate::state::LtHash;
use crate::types::{Account, Address, Payload, Receipt, TxEnvelope, TxId};

/// Every account a block's execution may read or write.
pub fn touched_accounts<'a>(
    txs: impl IntoIterator<Item = &'a TxEnvelope>,
    proposer: &Address,
) -> BTreeSet<Address> {
    let mut set = BTreeSet::new();
    set.insert(*proposer);
    for tx in txs {
        set.insert(tx.tx.sender);
        if let Some(to) = tx.tx.recipient() {
            set.insert(*to);
        }
    }
    set
}

fn recipient(tx: &TxEnvelope) -> &Address {
    tx.tx.recipient().unwrap_or(&tx.tx.sender)
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // The smaller index wins, so roots do not depend on the order of unions.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }
}

/// Groups of transaction indices that touch disjoint accounts, each in block order; groups are
/// ordered by their first transaction.
fn schedule(txs: &[TxEnvelope]) -> Vec<Vec<usize>> {
    let mut index: HashMap<Address, usize> = HashMap::with_capacity(txs.len() * 2);
    let mut uf = UnionFind { parent: Vec::new() };
    let mut id = |a: &Address, uf: &mut UnionFind| {
        *index.entry(*a).or_insert_with(|| {
            uf.parent.push(uf.parent.len());
            uf.parent.len() - 1
        })
    };
    let pairs: Vec<(usize, usize)> = txs
        .iter()
        .map(|t| (id(&t.tx.sender, &mut uf), id(recipient(t), &mut uf)))
        .collect();
    for &(a, b) in &pairs {
        uf.union(a, b);
    }
    let mut group_of_root: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, &(a, _)) in pairs.iter().enumerate() {
        let root = uf.find(a);
        let g = *group_of_root.entry(root).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

struct GroupResult {
    outcomes: Vec<(usize, Result<Receipt, TxError>)>,
    before: BTreeMap<Address, Option<Account>>,
    after: BTreeMap<Address, Account>,
    fees: u64,
}

/// Executes a block with the result of [`execute_block`] on `full`, using every core when the
/// block allows.
///
/// `base` must hold every account in [`touched_accounts`] of `full` (others read as empty), so that
/// it can be shared between threads: callers prefetch them from storage. The block's end and
/// blocks that must run sequentially read `full` itself.
pub fn execute_block_parallel<V: StateView>(
    base: &BTreeMap<Address, Account>,
    full: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    let proposer = &env.proposer;
    let sequential = txs.len() < 2
        || txs.iter().any(|t| {
            t.tx.sender == *proposer
                || recipient(t) == proposer
                || matches!(t.tx.payload, Payload::Staking(_))
        });
    if sequential {
        return execute_block(full, base_lthash, params, env, txs);
    }
    let groups = schedule(&txs);
    let results: Vec<GroupResult> = groups
        .par_iter()
        .map(|group| {
            let mut overlay = Overlay::new(base);
            let proposer_before = base.get(proposer).copied().unwrap_or_default();
            let mut outcomes = Vec::with_capacity(group.len());
            for &i in group {
                let r = apply_tx(&mut overlay, params, env, &txs[i])
                    .unwrap_or_else(|e: std::convert::Infallible| match e {});
                outcomes.push((i, r));
            }
            debug_assert!(overlay.stake_after.is_empty(), "transfers touch no stake");
            let Overlay {
                mut before,
                mut after,
                ..
            } = overlay;
            // Take the proposer out: its credit is the sum of this group's fees.
            let fees = after
                .remove(proposer)
                .map_or(0, |p| p.balance - proposer_before.balance);
            before.remove(proposer);
            GroupResult {
                outcomes,
                before,
                after,
                fees,
            }
        })
        .collect();

    let mut outcomes: Vec<Option<Result<Receipt, TxError>>> = vec![None; txs.len()];
    let mut before = BTreeMap::new();
    let mut after = BTreeMap::new();
    let mut fees: u64 = 0;
    for g in results {
        for (i, r) in g.outcomes {
            outcomes[i] = Some(r);
        }
        before.extend(g.before);
        after.extend(g.after);
        fees = fees
            .checked_add(g.fees)
            .expect("supply is conserved and fits in u64");
    }
    if fees > 0 {
        let p = base.get(proposer).copied().unwrap_or_default();
        before.insert(*proposer, if p.is_empty() { None } else { Some(p) });
        after.insert(
            *proposer,
            Account {
                balance: p
                    .balance
                    .checked_add(fees)
                    .expect("supply is conserved and fits in u64"),
                nonce: p.nonce,
            },
        );
    }

    let mut applied = Vec::with_capacity(txs.len());
    let mut receipts = Vec::with_capacity(txs.len());
    let mut discarded: Vec<(TxId, TxError)> = Vec::new();
    for (tx, outcome) in txs.into_iter().zip(outcomes) {
        match outcome.expect("every transaction belongs to exactly one group") {
            Ok(r) => {
                receipts.push(r);
                applied.push(tx);
            }
            Err(e) => discarded.push((tx.id, e)),
        }
    }
    let (writes, lthash) = commit_overlay(before, after, base_lthash);
    let out = BlockOutput {
        applied,
        receipts,
        discarded,
        writes,
        stake_writes: BTreeMap::new(),
        lthash,
    };
    finish_block(full, out, params, env)
}

/// Reads every account the block touches, so that execution can run on threads without storage.
pub fn prefetch<V: StateView>(
    view: &V,
    accounts: &BTreeSet<Address>,
) -> Result<BTreeMap<Address, Account>, V::Error> {
    let mut out = BTreeMap::new();
    for a in accounts {
        let acc = view.account(a)?;
        if !acc.is_empty() {
            out.insert(*a, acc);
        }
    }
    Ok(out)
}
