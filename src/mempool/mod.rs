//! The mempool: admitted transactions waiting for a block.
//!
//! Per sender, transactions are kept in nonce order; a sender's transactions are *ready* from its
//! committed nonce on, as long as the nonces are consecutive. Block selection takes ready transactions
//! across senders by highest fee, ties broken by arrival order, so the selection is a deterministic
//! function of the pool's contents and arrival sequence (no hash-map iteration order).
//!
//! Limits (each with a defined answer when reached):
//! - `txs_max` transactions in all: a new one is refused with [`PoolError::Full`];
//! - `per_sender_max` per sender: [`PoolError::SenderFull`];
//! - nonces at most `nonce_ahead_max` past the committed nonce: [`TxError::NonceTooHigh`];
//! - at most `gapped_max` transactions waiting behind a missing nonce (not ready):
//!   [`PoolError::GappedFull`]. Without it, transactions that can never become ready (a client
//!   that lost one transaction, or an attacker) could fill the whole pool and starve every ready
//!   one; with it, ready transactions always have `txs_max - gapped_max` places;
//! - transactions older than `expiry` are dropped and reported as expired.
//!
//! Admission checks against the sender's committed state and what its pending transactions already
//! reserve, so a sender cannot queue more than it can pay for. Execution remains the final judge.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::execution::{check_static, ChainParams, TxError};
use crate::types::{Account, Address, Amount, TxEnvelope, TxId};

#[derive(Debug, Clone)]
pub struct MempoolConfig {
    pub txs_max: usize,
    pub per_sender_max: usize,
    pub nonce_ahead_max: u64,
    /// Transactions waiting behind a missing nonce, at most.
    pub gapped_max: usize,
    pub expiry: Duration,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            txs_max: 200_000,
            per_sender_max: 1_024,
            nonce_ahead_max: 1_024,
            gapped_max: 50_000,
            expiry: Duration::from_secs(120),
        }
    }
}

/// Why the pool refused a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PoolError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error("transaction is already pending")]
    AlreadyPending,
    #[error("a transaction with nonce {nonce} from this sender is already pending")]
    NonceAlreadyPending { nonce: u64 },
    #[error("mempool is full ({limit} transactions): try again shortly")]
    Full { limit: usize },
    #[error("sender has {limit} transactions pending, the most allowed: wait for some to commit")]
    SenderFull { limit: usize },
    #[error(
        "mempool holds {limit} transactions waiting for earlier nonces, the most allowed: send the \
         missing nonces first"
    )]
    GappedFull { limit: usize },
}

/// Why a transaction left the pool without being committed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DropReason {
    #[error("discarded from block: {0}")]
    Discarded(TxError),
    #[error("expired after waiting {waited_ms} ms in the mempool")]
    Expired { waited_ms: u64 },
    #[error("nonce {nonce} was used by another transaction of the same sender")]
    Superseded { nonce: u64 },
}

struct PoolTx {
    tx: TxEnvelope,
    cost: Amount,
    seq: u64,
}

#[derive(Default)]
struct SenderQueue {
    /// Committed state of the sender as the pool last learned it.
    committed: Account,
    txs: BTreeMap<u64, PoolTx>,
    /// Sum of the costs of `txs`.
    reserved: Amount,
    /// Next nonce block selection may take; transactions below it are in a block in flight.
    select_from: u64,
    /// End of the run of consecutive nonces from `committed.nonce`: transactions below it are
    /// ready (or in flight), the ones at or above it wait behind a missing nonce.
    ready_end: u64,
    /// Transactions at or above `ready_end`.
    gapped: usize,
}

impl SenderQueue {
    /// Recomputes the ready run and the gapped count from scratch: O(transactions of the sender).
    fn recount(&mut self) {
        self.ready_end = self.committed.nonce;
        while self.txs.contains_key(&self.ready_end) {
            self.ready_end += 1;
        }
        self.gapped = self.txs.range(self.ready_end..).count();
    }
}

pub struct Mempool {
    config: MempoolConfig,
    params: ChainParams,
    senders: BTreeMap<Address, SenderQueue>,
    by_id: HashMap<TxId, (Address, u64)>,
    arrivals: VecDeque<(Instant, TxId)>,
    seq: u64,
    /// Sum of the senders' `gapped`.
    gapped: usize,
}

impl Mempool {
    pub fn new(config: MempoolConfig, params: ChainParams) -> Self {
        assert!(config.txs_max > 0 && config.per_sender_max > 0);
        Self {
            config,
            params,
            senders: BTreeMap::new(),
            by_id: HashMap::new(),
            arrivals: VecDeque::new(),
            seq: 0,
            gapped: 0,
        }
    }

    /// Transactions waiting behind a missing nonce.
    pub fn gapped(&self) -> usize {
        self.gapped
    }

    /// Recounts one sender after a change that may split its ready run; keeps the pool's total.
    fn recount(&mut self, sender: &Address) {
        if let Some(q) = self.senders.get_mut(sender) {
            let before = q.gapped;
            q.recount();
            self.gapped = self.gapped - before + q.gapped;
            if q.txs.is_empty() {
                self.senders.remove(sender);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.by_id.contains_key(id)
    }

    /// The nonce a sender's next new transaction should carry, counting its pending ones.
    pub fn next_nonce(&self, sender: &Address, committed: &Account) -> u64 {
        let Some(q) = self.senders.get(sender) else {
            return committed.nonce;
        };
        let mut n = q.committed.nonce.max(committed.nonce);
        while q.txs.contains_key(&n) {
            n += 1;
        }
        n
    }

    /// Admits a verified transaction; `committed` is the sender's committed account.
    pub fn insert(
        &mut self,
        tx: TxEnvelope,
        committed: Account,
        now: Instant,
    ) -> Result<(), PoolError> {
        if self.by_id.contains_key(&tx.id) {
            return Err(PoolError::AlreadyPending);
        }
        let t = &tx.tx;
        let cost = check_static(t, &self.params)?;
        let queue = self.senders.entry(t.sender).or_default();
        if committed.nonce > queue.committed.nonce || queue.txs.is_empty() {
            queue.committed = committed;
            queue.select_from = queue.select_from.max(committed.nonce);
            let before = queue.gapped;
            queue.recount();
            self.gapped = self.gapped - before + queue.gapped;
        } else if committed.nonce == queue.committed.nonce {
            queue.committed = committed;
        }
        let next = queue.committed.nonce;
        let would_gap = t.nonce > queue.ready_end;
        let result = if t.nonce < next {
            Err(TxError::NonceTooLow {
                expected: next,
                got: t.nonce,
            }
            .into())
        } else if t.nonce - next >= self.config.nonce_ahead_max {
            Err(TxError::NonceTooHigh {
                expected: next,
                got: t.nonce,
            }
            .into())
        } else if queue.txs.contains_key(&t.nonce) {
            Err(PoolError::NonceAlreadyPending { nonce: t.nonce })
        } else if queue.txs.len() >= self.config.per_sender_max {
            Err(PoolError::SenderFull {
                limit: self.config.per_sender_max,
            })
        } else if self.by_id.len() >= self.config.txs_max {
            Err(PoolError::Full {
                limit: self.config.txs_max,
            })
        } else if would_gap && self.gapped >= self.config.gapped_max {
            Err(PoolError::GappedFull {
                limit: self.config.gapped_max,
            })
        } else {
            match queue.reserved.checked_add(cost) {
                Some(needed) if needed <= queue.committed.balance => Ok(needed),
                needed => Err(TxError::InsufficientFunds {
                    balance: queue.committed.balance,
                    needed: needed.unwrap_or(Amount::MAX),
                }
                .into()),
            }
        };
        let reserved = match result {
            Ok(r) => r,
            Err(e) => {
                if queue.txs.is_empty() {
                    self.senders.remove(&t.sender);
                }
                return Err(e);
            }
        };
        queue.reserved = reserved;
        let (sender, nonce, id) = (t.sender, t.nonce, tx.id);
        self.seq += 1;
        queue.txs.insert(
            nonce,
            PoolTx {
                tx,
                cost,
                seq: self.seq,
            },
        );
        if nonce == queue.ready_end {
            // The new transaction closes the gap: it and every transaction behind it are ready.
            let mut joined = 0;
            queue.ready_end += 1;
            while queue.txs.contains_key(&queue.ready_end) {
                queue.ready_end += 1;
                joined += 1;
            }
            queue.gapped -= joined;
            self.gapped -= joined;
        } else if nonce > queue.ready_end {
            queue.gapped += 1;
            self.gapped += 1;
        }
        self.by_id.insert(id, (sender, nonce));
        self.arrivals.push_back((now, id));
        Ok(())
    }

    /// Takes up to `count_max` ready transactions for the next block, best fee first, each sender's
    /// in nonce order. They stay in the pool (still pending) until [`Mempool::on_committed`].
    pub fn select(&mut self, count_max: usize) -> Vec<TxEnvelope> {
        // Heap of each sender's next selectable transaction: (fee, earliest arrival, sender).
        let mut heap = BinaryHeap::new();
        for (sender, q) in &self.senders {
            if let Some(p) = q.txs.get(&q.select_from) {
                heap.push((p.tx.tx.fee, Reverse(p.seq), *sender));
            }
        }
        let mut out = Vec::with_capacity(count_max.min(self.by_id.len()));
        while out.len() < count_max {
            let Some((_, _, sender)) = heap.pop() else {
                break;
            };
            let q = self
                .senders
                .get_mut(&sender)
                .expect("heap holds senders of the pool");
            let p = q.txs.get(&q.select_from).expect("heap entry is selectable");
            out.push(p.tx.clone());
            q.select_from += 1;
            if let Some(next) = q.txs.get(&q.select_from) {
                heap.push((next.tx.tx.fee, Reverse(next.seq), sender));
            }
        }
        out
    }

    /// Takes in a committed block: `applied` leave the pool, `discarded` leave it with their reason,
    /// and senders' committed state is refreshed from `accounts` (the block's writes). Transactions
    /// whose nonce the chain has passed are dropped as superseded. Returns what was dropped.
    pub fn on_committed<'a>(
        &mut self,
        applied: impl IntoIterator<Item = &'a TxId>,
        discarded: &[(TxId, TxError)],
        accounts: &BTreeMap<Address, Account>,
    ) -> Vec<(TxId, DropReason)> {
        let applied: std::collections::HashSet<&TxId> = applied.into_iter().collect();
        let mut dropped = Vec::new();
        // Senders first: their committed nonce moves past what the block applied, so those
        // transactions leave from the front of the ready run. Any other transaction below the new
        // nonce lost its nonce to one the pool never saw.
        for (address, account) in accounts {
            let Some(q) = self.senders.get_mut(address) else {
                continue;
            };
            if account.nonce < q.committed.nonce {
                continue;
            }
            q.committed = *account;
            q.select_from = q.select_from.max(account.nonce);
            let stale: Vec<u64> = q.txs.range(..account.nonce).map(|(n, _)| *n).collect();
            for n in stale {
                if let Some(p) = q.txs.remove(&n) {
                    q.reserved -= p.cost;
                    self.by_id.remove(&p.tx.id);
                    if !applied.contains(&p.tx.id) {
                        dropped.push((p.tx.id, DropReason::Superseded { nonce: n }));
                    }
                }
            }
            self.recount(address);
        }
        for id in applied {
            self.remove(id);
        }
        for (id, e) in discarded {
            if self.remove(id).is_some() {
                dropped.push((*id, DropReason::Discarded(e.clone())));
            }
        }
        // Selection starts again from each sender's committed nonce: transactions selected for a
        // block that was not the one decided (another validator's proposal won the height) are
        // offered again. One block is in flight at a time, so nothing is selected twice for
        // blocks that both commit.
        for q in self.senders.values_mut() {
            q.select_from = q.committed.nonce;
        }
        dropped
    }

    /// Drops transactions that have waited longer than the configured expiry.
    pub fn expire(&mut self, now: Instant) -> Vec<(TxId, DropReason)> {
        let mut dropped = Vec::new();
        while let Some(&(added, id)) = self.arrivals.front() {
            let waited = now.saturating_duration_since(added);
            if waited < self.config.expiry {
                break;
            }
            self.arrivals.pop_front();
            if self.remove(&id).is_some() {
                dropped.push((
                    id,
                    DropReason::Expired {
                        waited_ms: waited.as_millis() as u64,
                    },
                ));
            }
        }
        // Ids of transactions that left the pool earlier stay in `arrivals` until they reach the
        // front; compact when they dominate so the queue stays bounded by a multiple of the pool.
        if self.arrivals.len() > 2 * self.config.txs_max {
            let by_id = &self.by_id;
            self.arrivals.retain(|(_, id)| by_id.contains_key(id));
        }
        dropped
    }

    fn remove(&mut self, id: &TxId) -> Option<(Address, u64)> {
        let (sender, nonce) = self.by_id.remove(id)?;
        if let Some(q) = self.senders.get_mut(&sender) {
            if let Some(p) = q.txs.remove(&nonce) {
                q.reserved -= p.cost;
            }
        }
        // Removing from the middle of the ready run leaves what follows waiting behind a gap.
        self.recount(&sender);
        Some((sender, nonce))
    }
}

#[cfg(test)]
impl Mempool {
    /// Checks the incremental accounting against a recount from scratch.
    fn assert_consistent(&self) {
        let mut total = 0;
        for q in self.senders.values() {
            let mut fresh = SenderQueue {
                committed: q.committed,
                ..SenderQueue::default()
            };
            fresh.txs = q
                .txs
                .iter()
                .map(|(n, p)| {
                    (
                        *n,
                        PoolTx {
                            tx: p.tx.clone(),
                            cost: p.cost,
                            seq: p.seq,
                        },
                    )
                })
                .collect();
            fresh.recount();
            assert_eq!((q.ready_end, q.gapped), (fresh.ready_end, fresh.gapped));
            assert_eq!(q.reserved, q.txs.values().map(|p| p.cost).sum::<Amount>());
            total += q.gapped;
        }
        assert_eq!(self.gapped, total);
        assert_eq!(
            self.by_id.len(),
            self.senders.values().map(|q| q.txs.len()).sum::<usize>()
        );
    }
}

#[cfg(test)]
mod tests;
