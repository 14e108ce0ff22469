//! Mempool stage: owns the [`Mempool`], admits verified transactions against committed state,
//! hands ready transactions to the producer, and prunes on each committed block.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{BlockCommitted, PoolLevel, RejectedCache, SubmitBatch, SubmitError};
use crate::execution::StateView;
use crate::mempool::{DropReason, Mempool};
use crate::metrics::PipelineMetrics;
use crate::storage::Storage;
use crate::telemetry::RejectReason;
use crate::types::{Address, TxEnvelope, TxId};

/// Verified transactions to admit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Admit(pub SubmitBatch);

/// The producer asks for the next block's transactions.
#[derive(Message)]
#[rtype(result = "Vec<TxEnvelope>")]
pub struct Select {
    pub count_max: usize,
}

/// Is this transaction waiting in the pool?
#[derive(Message)]
#[rtype(result = "bool")]
pub struct TxPending(pub TxId);

/// The nonce the sender's next transaction should carry, counting pending ones.
#[derive(Message)]
#[rtype(result = "Result<u64, String>")]
pub struct NextNonce(pub Address);

pub struct MempoolActor {
    pool: Mempool,
    storage: Arc<Storage>,
    rejected: Arc<RejectedCache>,
    metrics: Arc<PipelineMetrics>,
    level: Arc<PoolLevel>,
    /// Peers to pass clients' transactions on to (none for a single validator).
    peers: Option<crate::p2p::P2pHandle>,
}

impl MempoolActor {
    pub fn new(
        pool: Mempool,
        storage: Arc<Storage>,
        rejected: Arc<RejectedCache>,
        metrics: Arc<PipelineMetrics>,
        level: Arc<PoolLevel>,
        peers: Option<crate::p2p::P2pHandle>,
    ) -> Self {
        Self {
            pool,
            storage,
            rejected,
            metrics,
            level,
            peers,
        }
    }

    /// Passes clients' admitted transactions on to the other validators, so that whoever proposes
    /// next can include them.
    fn gossip(&self, batch: &SubmitBatch) {
        let Some(peers) = &self.peers else { return };
        if !batch.gossip || !peers.has_peers() {
            return;
        }
        let txs: Vec<Vec<u8>> = batch
            .slots
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .map(|tx| tx.bytes.to_vec())
            .collect();
        // Pieces a peer's decoder accepts whatever `ingest.batch_txs_max` is.
        for piece in txs.chunks(crate::p2p::GOSSIP_TXS_MAX) {
            peers.broadcast(&crate::p2p::PeerMessage::Transactions(piece.to_vec()));
        }
    }

    /// Publishes the pool's size for ingest's load shedding.
    fn publish_level(&self) {
        self.level
            .len
            .store(self.pool.len(), std::sync::atomic::Ordering::Relaxed);
    }

    fn admit(&mut self, batch: &mut SubmitBatch) -> Result<(), crate::storage::StorageError> {
        let reader = self.storage.reader()?;
        let now = Instant::now();
        for slot in batch.slots.iter_mut() {
            let Ok(tx) = slot else { continue };
            if let Some(loc) = reader.tx_location(&tx.id)? {
                self.metrics
                    .telemetry
                    .rejected(RejectReason::AlreadyCommitted, 1);
                *slot = Err(SubmitError::AlreadyCommitted { height: loc.height });
                continue;
            }
            let committed = reader.account(&tx.tx.sender)?;
            if let Err(e) = self.pool.insert(tx.clone(), committed, now) {
                let e = SubmitError::from(e);
                self.metrics.telemetry.rejected((&e).into(), 1);
                *slot = Err(e);
            }
        }
        Ok(())
    }

    /// Counts transactions that left the pool without being committed, and the pool's new size.
    fn record_drops(&self, dropped: &[(TxId, DropReason)]) {
        let telemetry = &self.metrics.telemetry;
        for (_, reason) in dropped {
            telemetry.rejected(reason.into(), 1);
        }
        telemetry.set_mempool_transactions(self.pool.len());
    }
}

impl Actor for MempoolActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(1), |act, _| {
            let expired = act.pool.expire(Instant::now());
            act.publish_level();
            if !expired.is_empty() {
                tracing::info!(
                    count = expired.len(),
                    "expired transactions dropped from the mempool"
                );
                act.record_drops(&expired);
                act.rejected.record(expired);
            }
        });
    }
}

impl Handler<Admit> for MempoolActor {
    type Result = ();

    fn handle(&mut self, Admit(mut batch): Admit, _ctx: &mut Self::Context) {
        self.metrics.mempool.dequeued();
        let started = Instant::now();
        let before = batch.slots.iter().filter(|s| s.is_ok()).count();
        let admitted = self.admit(&mut batch);
        self.publish_level();
        match admitted {
            Ok(()) => {
                let after = batch.slots.iter().filter(|s| s.is_ok()).count();
                self.metrics.mempool.record(before, before - after, started);
                self.metrics
                    .telemetry
                    .set_mempool_transactions(self.pool.len());
                self.gossip(&batch);
                batch.respond()
            }
            Err(e) => {
                tracing::error!(error = %e, "mempool cannot read state");
                let remaining = batch.slots.iter().filter(|s| s.is_ok()).count();
                self.metrics
                    .telemetry
                    .rejected(RejectReason::Internal, remaining);
                batch.fail_remaining(SubmitError::Internal(e.to_string()));
            }
        }
    }
}

impl Handler<Select> for MempoolActor {
    type Result = MessageResult<Select>;

    fn handle(&mut self, msg: Select, _ctx: &mut Self::Context) -> Self::Result {
        let started = Instant::now();
        let txs = self.pool.select(msg.count_max);
        self.metrics.select.record(txs.len(), 0, started);
        MessageResult(txs)
    }
}

impl Handler<BlockCommitted> for MempoolActor {
    type Result = ();

    fn handle(&mut self, BlockCommitted(c): BlockCommitted, _ctx: &mut Self::Context) {
        let applied = c.block.transactions.iter().map(|t| &t.id);
        let dropped = self.pool.on_committed(applied, &c.discarded, &c.writes);
        self.publish_level();
        if !dropped.is_empty() {
            self.record_drops(&dropped);
            self.rejected.record(dropped);
        }
        self.metrics
            .telemetry
            .set_mempool_transactions(self.pool.len());
    }
}

impl Handler<TxPending> for MempoolActor {
    type Result = bool;

    fn handle(&mut self, TxPending(id): TxPending, _ctx: &mut Self::Context) -> bool {
        self.pool.contains(&id)
    }
}

impl Handler<NextNonce> for MempoolActor {
    type Result = Result<u64, String>;

    fn handle(&mut self, NextNonce(address): NextNonce, _ctx: &mut Self::Context) -> Self::Result {
        let committed = self.storage.account(&address).map_err(|e| e.to_string())?;
        Ok(self.pool.next_nonce(&address, &committed))
    }
}
