//! Ingest stage: the entry of every transaction. Enforces the size limits, decodes, and refuses
//! what is wrong without looking at state (wrong chain, fee below the minimum), so that the costly
//! signature check only sees well-formed transactions for this chain.

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{PoolLevel, SubmitBatch, SubmitError, SubmitResult, Verifier, Verify};
use crate::config::IngestConfig;
use std::sync::Arc;

use crate::execution::{check_static, ChainParams};
use crate::metrics::PipelineMetrics;
use crate::telemetry::RejectReason;
use crate::types::TxEnvelope;

/// The one way a front end (JSON-RPC, gRPC, QUIC) hands clients' transactions to the pipeline:
/// counted the same way, refused "busy" the same way when ingest's mailbox is full, answered in
/// order, one answer per transaction. `wait_max` bounds the wait for the answers (then the
/// pipeline is busy); `None` waits as long as the pipeline takes (QUIC clients keep their own
/// deadlines).
pub async fn submit(
    ingest: &Addr<Ingest>,
    metrics: &PipelineMetrics,
    txs: Vec<Vec<u8>>,
    wait_max: Option<std::time::Duration>,
) -> Vec<SubmitResult> {
    let count = txs.len();
    let (reply, answer) = oneshot::channel();
    metrics.ingest.enqueued();
    if ingest
        .try_send(SubmitRaw {
            txs,
            reply,
            gossip: true,
        })
        .is_err()
    {
        metrics.ingest.dequeued();
        metrics.busy(count);
        let busy = SubmitError::Busy { stage: "ingest" };
        metrics.telemetry.rejected((&busy).into(), count);
        return vec![Err(busy); count];
    }
    let answered = match wait_max {
        Some(limit) => match tokio::time::timeout(limit, answer).await {
            Ok(a) => a,
            Err(_) => return vec![Err(SubmitError::Busy { stage: "pipeline" }); count],
        },
        None => answer.await,
    };
    answered.unwrap_or_else(|_| vec![Err(SubmitError::ShuttingDown); count])
}

/// Raw encoded transactions from a client, and where to send one answer per transaction.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubmitRaw {
    pub txs: Vec<Vec<u8>>,
    pub reply: oneshot::Sender<Vec<SubmitResult>>,
    /// Pass what the mempool admits on to the other validators: true for clients' transactions,
    /// false for those that came from a peer (every validator is connected to every other, so one
    /// hop reaches them all).
    pub gossip: bool,
}

pub struct Ingest {
    config: IngestConfig,
    params: ChainParams,
    verifier: Addr<Verifier>,
    metrics: Arc<PipelineMetrics>,
    level: Arc<PoolLevel>,
}

impl Ingest {
    pub fn new(
        config: IngestConfig,
        params: ChainParams,
        verifier: Addr<Verifier>,
        metrics: Arc<PipelineMetrics>,
        level: Arc<PoolLevel>,
    ) -> Self {
        Self {
            config,
            params,
            verifier,
            metrics,
            level,
        }
    }

    fn check(&self, raw: Vec<u8>) -> Result<TxEnvelope, SubmitError> {
        if raw.len() > self.config.tx_bytes_max {
            return Err(SubmitError::TooLarge {
                len: raw.len(),
                max: self.config.tx_bytes_max,
            });
        }
        let tx = TxEnvelope::decode_owned(raw, self.config.tx_bytes_max)?;
        check_static(&tx.tx, &self.params)?;
        Ok(tx)
    }
}

impl Actor for Ingest {
    type Context = Context<Self>;
}

impl Handler<SubmitRaw> for Ingest {
    type Result = ();

    fn handle(&mut self, msg: SubmitRaw, _ctx: &mut Self::Context) {
        self.metrics.ingest.dequeued();
        let count = msg.txs.len();
        if count > self.config.batch_txs_max {
            let e = SubmitError::TooManyTxs {
                count,
                max: self.config.batch_txs_max,
            };
            self.metrics.telemetry.rejected((&e).into(), count);
            let _ = msg.reply.send(vec![Err(e); count]);
            return;
        }
        let started = std::time::Instant::now();
        let slots = msg.txs.into_iter().map(|raw| self.check(raw)).collect();
        let mut batch = SubmitBatch::new(slots, msg.reply);
        batch.gossip = msg.gossip;
        let refused = batch.slots.iter().filter(|s| s.is_err()).count();
        self.metrics.ingest.record(count, refused, started);
        self.metrics.rejected(&batch.slots);
        if refused == count {
            batch.respond();
            return;
        }
        if self.level.is_full() {
            // Shed load before the costly signature checks: the mempool would refuse these.
            self.metrics.busy(count - refused);
            self.metrics
                .telemetry
                .rejected(RejectReason::MempoolFull, count - refused);
            batch.fail_remaining(SubmitError::MempoolFull {
                limit: self.level.capacity,
            });
            return;
        }
        self.metrics.sigverify.enqueued();
        if let Err(e) = self.verifier.try_send(Verify(batch)) {
            let (SendError::Full(Verify(batch)) | SendError::Closed(Verify(batch))) = e;
            self.metrics.sigverify.dequeued();
            self.metrics.busy(count - refused);
            self.metrics
                .telemetry
                .rejected(RejectReason::Busy, count - refused);
            batch.fail_remaining(SubmitError::Busy { stage: "sigverify" });
        }
    }
}
