//! Parallel execution with a deterministic schedule, from the state each call declares.
//!
//! Every module declares, from the call alone and before execution, the native accounts and the
//! module state keys a call may read and write ([`modules::Access`]). Transactions are grouped
//! with a union-find over what they write (Sealevel-style conflict groups): two transactions are
//! in one group when one writes something the other reads or writes, directly or through others.
//! Groups touch disjoint state, so they run on rayon at the same time, each in block order, on a
//! snapshot of exactly the declared state read beforehand. A read outside the declaration finds
//! nothing in the snapshot and stops the node (debug builds also check every call against its
//! declaration as it runs): the scheduler fails closed, never open.
//!
//! The one account every transaction touches, the proposer (fees), is kept out of the groups: fee
//! credits commute, so each group reports its fee total and the proposer is credited once at the
//! end. A block runs sequentially when any call declares nothing ([`modules::Access::Serial`],
//! e.g. staking, whose calls share the validator registry) or touches the proposer's account
//! otherwise than through its fee. The block's end runs after the groups, on their merged writes,
//! as in the oracle.
//!
//! The schedule is a pure function of the block, and the output is exactly that of the sequential
//! oracle [`super::execute_block`] (property-tested over every module's calls in `tests.rs`).

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use super::{
    apply_tx, begin_block, commit_overlay, execute_body, finish_block, BlockEnv, BlockOutput,
    ChainParams, Overlay, StateView, TxError,
};
use crate::modules::{self, Access};
use crate::state::LtHash;
use crate::types::{Account, Address, Receipt, StateKey, StateWrites, TxEnvelope, TxId};

/// Exactly the state a block declared, read before its groups run, so that they can share it
/// between threads without storage.
#[derive(Debug, Default)]
struct Prefetched {
    accounts: BTreeMap<Address, Account>,
    state: BTreeMap<StateKey, Option<Vec<u8>>>,
}

/// A read of state no call declared: a module's declaration is wrong. Executing on would let
/// validators with different parallel settings compute different states, so this stops the node.
fn undeclared(what: &dyn std::fmt::Debug) -> ! {
    panic!("a call read {what:?}, which it did not declare: the module's access list is wrong")
}

impl StateView for Prefetched {
    type Error = std::convert::Infallible;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        match self.accounts.get(address) {
            Some(a) => Ok(*a),
            None => undeclared(address),
        }
    }
    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>, Self::Error> {
        match self.state.get(key) {
            Some(v) => Ok(v.clone()),
            None => undeclared(key),
        }
    }
}

/// Reads everything the declared accesses name (and the proposer), so that execution can run on
/// threads without storage. Keys are sorted and deduplicated first: storage is read in key order
/// and the maps are built in bulk.
fn prefetch<V: StateView>(
    view: &V,
    accesses: &[Access],
    senders: impl Iterator<Item = Address>,
    proposer: &Address,
) -> Result<Prefetched, V::Error> {
    let mut addresses: Vec<Address> = vec![*proposer];
    let mut keys: Vec<&StateKey> = Vec::new();
    for (access, sender) in accesses.iter().zip(senders) {
        addresses.push(sender);
        if let Access::Keys {
            accounts,
            reads,
            writes,
        } = access
        {
            addresses.extend_from_slice(accounts);
            keys.extend(reads.iter().chain(writes));
        }
    }
    addresses.sort_unstable();
    addresses.dedup();
    keys.sort_unstable();
    keys.dedup();
    let accounts = addresses
        .into_iter()
        .map(|a| Ok((a, view.account(&a)?)))
        .collect::<Result<BTreeMap<_, _>, V::Error>>()?;
    let state = keys
        .into_iter()
        .map(|k| Ok((k.clone(), view.get(k)?)))
        .collect::<Result<BTreeMap<_, _>, V::Error>>()?;
    Ok(Prefetched { accounts, state })
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

/// One thing a transaction touches, for conflicts.
#[derive(PartialEq, Eq, Hash)]
enum Resource<'a> {
    Account(&'a Address),
    Key(&'a StateKey),
}

/// Groups of transaction indices whose declared state is disjoint, each in block order; groups
/// are ordered by their first transaction. Every access must be [`Access::Keys`].
fn schedule(txs: &[TxEnvelope], accesses: &[Access]) -> Vec<Vec<usize>> {
    let mut index: HashMap<Resource<'_>, usize> = HashMap::with_capacity(txs.len() * 2);
    let mut uf = UnionFind { parent: Vec::new() };
    fn node<'a>(
        index: &mut HashMap<Resource<'a>, usize>,
        r: Resource<'a>,
        uf: &mut UnionFind,
    ) -> usize {
        *index.entry(r).or_insert_with(|| {
            uf.parent.push(uf.parent.len());
            uf.parent.len() - 1
        })
    }
    // Pass 1: everything written (accounts count as written) gets a node, and a transaction's
    // writes are one group.
    let mut firsts = Vec::with_capacity(txs.len());
    for (tx, access) in txs.iter().zip(accesses) {
        let first = node(&mut index, Resource::Account(&tx.tx.sender), &mut uf);
        firsts.push(first);
        if let Access::Keys {
            accounts, writes, ..
        } = access
        {
            for a in accounts {
                let n = node(&mut index, Resource::Account(a), &mut uf);
                uf.union(first, n);
            }
            for k in writes {
                let n = node(&mut index, Resource::Key(k), &mut uf);
                uf.union(first, n);
            }
        }
    }
    // Pass 2: a read joins the group of whoever writes that key; keys only read conflict with
    // nothing.
    for (i, access) in accesses.iter().enumerate() {
        if let Access::Keys { reads, .. } = access {
            for k in reads {
                if let Some(&n) = index.get(&Resource::Key(k)) {
                    uf.union(firsts[i], n);
                }
            }
        }
    }
    let mut group_of_root: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, &first) in firsts.iter().enumerate() {
        let root = uf.find(first);
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
    state_before: BTreeMap<StateKey, Option<Vec<u8>>>,
    state_after: StateWrites,
    fees: u64,
}

/// Whether a block must run on the sequential path: a call that declares nothing, or one that
/// touches the proposer's account beyond its fee.
fn must_run_sequentially(txs: &[TxEnvelope], accesses: &[Access], proposer: &Address) -> bool {
    txs.len() < 2
        || txs.iter().zip(accesses).any(|(t, access)| match access {
            Access::Serial => true,
            Access::Keys { accounts, .. } => {
                t.tx.sender == *proposer || accounts.contains(proposer)
            }
        })
}

/// Executes a block with the result of [`execute_block`] on `full`, using every core when the
/// block allows. Reads what the block declared from `full` first (on this thread: LMDB read
/// transactions are single-threaded), then runs the groups on that snapshot.
pub fn execute_block_parallel<V: StateView>(
    full: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    // The block's start runs first, as in the oracle; the transactions see what it wrote.
    let Some(begun) = begin_block(full, base_lthash, params, env)? else {
        return execute_body_parallel(full, base_lthash, params, env, txs);
    };
    let out = execute_body_parallel(&begun.layered(full), &begun.lthash, params, env, txs)?;
    Ok(begun.then(out))
}

/// The transactions (on every core the block allows) and the block's end.
fn execute_body_parallel<V: StateView>(
    full: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    let proposer = &env.proposer;
    let accesses = txs
        .iter()
        .map(|t| modules::access(&t.tx, full))
        .collect::<Result<Vec<Access>, V::Error>>()?;
    if must_run_sequentially(&txs, &accesses, proposer) {
        return execute_body(full, base_lthash, params, env, txs);
    }
    let base = prefetch(full, &accesses, txs.iter().map(|t| t.tx.sender), proposer)?;
    let groups = schedule(&txs, &accesses);
    let proposer_before = base.account(proposer).unwrap_or_else(|e| match e {});
    let results: Vec<GroupResult> = groups
        .par_iter()
        .map(|group| {
            let mut overlay = Overlay::new(&base);
            let mut outcomes = Vec::with_capacity(group.len());
            for &i in group {
                let r = apply_tx(&mut overlay, params, env, &txs[i])
                    .unwrap_or_else(|e: std::convert::Infallible| match e {});
                outcomes.push((i, r));
            }
            let Overlay {
                mut before,
                mut after,
                state_before,
                state_after,
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
                state_before,
                state_after,
                fees,
            }
        })
        .collect();
    merge(
        base_lthash,
        params,
        env,
        full,
        txs,
        results,
        proposer_before,
    )
}

/// Puts the groups' results together in block order, credits the proposer once, and runs the
/// block's end.
fn merge<V: StateView>(
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    full: &V,
    txs: Vec<TxEnvelope>,
    results: Vec<GroupResult>,
    proposer_before: Account,
) -> Result<BlockOutput, V::Error> {
    let proposer = &env.proposer;
    let mut outcomes: Vec<Option<Result<Receipt, TxError>>> = vec![None; txs.len()];
    // Groups touch disjoint state: their entries are collected and each map is built once.
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut state_before = Vec::new();
    let mut state_after = Vec::new();
    let mut fees: u64 = 0;
    for g in results {
        for (i, r) in g.outcomes {
            outcomes[i] = Some(r);
        }
        before.extend(g.before);
        after.extend(g.after);
        state_before.extend(g.state_before);
        state_after.extend(g.state_after);
        fees = fees
            .checked_add(g.fees)
            .expect("supply is conserved and fits in u64");
    }
    let mut before: BTreeMap<Address, Option<Account>> = before.into_iter().collect();
    let mut after: BTreeMap<Address, Account> = after.into_iter().collect();
    let state_before: BTreeMap<StateKey, Option<Vec<u8>>> = state_before.into_iter().collect();
    let state_after: StateWrites = state_after.into_iter().collect();
    if fees > 0 {
        let p = proposer_before;
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
    let (writes, mut lthash) = commit_overlay(before, after, base_lthash);
    let state_writes = super::commit_state(&state_before, state_after, &mut lthash);
    let out = BlockOutput {
        applied,
        receipts,
        discarded,
        writes,
        state_writes,
        lthash,
        block_events: Vec::new(),
    };
    finish_block(full, out, params, env)
}
