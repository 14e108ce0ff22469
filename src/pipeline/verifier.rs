//! Sigverify stage: gathers submissions into batches (by size or deadline) and verifies every
//! signature with the configured backend, which answers per signature. Failed signatures are
//! refused; the rest go on to the mempool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::{Admit, MempoolActor, SubmitBatch, SubmitError};
use crate::metrics::PipelineMetrics;
use crate::sigverify::{BatchVerifier, SigItem, VerifiedIds};

#[derive(Message)]
#[rtype(result = "()")]
pub struct Verify(pub SubmitBatch);

pub struct Verifier {
    backend: Box<dyn BatchVerifier>,
    batch_size_max: usize,
    deadline: Duration,
    mempool: Addr<MempoolActor>,
    pending: Vec<SubmitBatch>,
    pending_sigs: usize,
    flush_timer: Option<SpawnHandle>,
    metrics: Arc<PipelineMetrics>,
    /// With peers: where valid signatures are remembered, so peers' blocks skip them.
    verified: Option<Arc<VerifiedIds>>,
}

impl Verifier {
    pub fn new(
        backend: Box<dyn BatchVerifier>,
        batch_size_max: usize,
        deadline: Duration,
        mempool: Addr<MempoolActor>,
        metrics: Arc<PipelineMetrics>,
        verified: Option<Arc<VerifiedIds>>,
    ) -> Self {
        metrics.telemetry.set_sigverify_backend(backend.backend());
        Self {
            backend,
            batch_size_max,
            deadline,
            mempool,
            pending: Vec::new(),
            pending_sigs: 0,
            flush_timer: None,
            metrics,
            verified,
        }
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.flush_timer.take() {
            ctx.cancel_future(t);
        }
        let started = Instant::now();
        let mut batches = std::mem::take(&mut self.pending);
        self.pending_sigs = 0;
        let answers = {
            let items: Vec<SigItem<'_>> = batches
                .iter()
                .flat_map(|b| b.slots.iter())
                .filter_map(|s| s.as_ref().ok())
                .map(crate::sigverify::SigItem::of)
                .collect();
            let (answers, report) = self.backend.verify_batch_report(&items);
            assert_eq!(answers.len(), items.len(), "one answer per signature");
            (answers, report)
        };
        let (answers, report) = answers;
        let telemetry = &self.metrics.telemetry;
        if report.fallback.is_some() {
            telemetry.sigverify_gpu_fallback();
        }
        // Shares are contiguous runs of the batch, in order.
        let mut offset = 0;
        for share in &report.shares {
            let end = (offset + share.signatures).min(answers.len());
            let failed = answers[offset..end].iter().filter(|ok| !**ok).count();
            telemetry.sigverify(share.backend, share.signatures, failed, share.elapsed);
            offset = end;
        }
        let checked = answers.len();
        let mut invalid = 0;
        let mut answers = answers.into_iter();
        for batch in &mut batches {
            for slot in batch.slots.iter_mut().filter(|s| s.is_ok()) {
                if answers.next() != Some(true) {
                    *slot = Err(SubmitError::BadSignature);
                    invalid += 1;
                }
            }
        }
        if let Some(v) = &self.verified {
            v.insert_all(
                batches
                    .iter()
                    .flat_map(|b| b.slots.iter())
                    .filter_map(|s| s.as_ref().ok())
                    .map(|tx| tx.id),
            );
        }
        self.metrics.sigverify.record(checked, invalid, started);
        let telemetry = &self.metrics.telemetry;
        telemetry.rejected(crate::telemetry::RejectReason::BadSignature, invalid);
        for batch in batches {
            if batch.slots.iter().all(|s| s.is_err()) {
                batch.respond();
                continue;
            }
            self.metrics.mempool.enqueued();
            if let Err(e) = self.mempool.try_send(Admit(batch)) {
                let (SendError::Full(Admit(batch)) | SendError::Closed(Admit(batch))) = e;
                self.metrics.mempool.dequeued();
                let remaining = batch.slots.iter().filter(|s| s.is_ok()).count();
                self.metrics.busy(remaining);
                self.metrics
                    .telemetry
                    .rejected(crate::telemetry::RejectReason::Busy, remaining);
                batch.fail_remaining(SubmitError::Busy { stage: "mempool" });
            }
        }
    }
}

impl Actor for Verifier {
    type Context = Context<Self>;
}

impl Handler<Verify> for Verifier {
    type Result = ();

    fn handle(&mut self, Verify(batch): Verify, ctx: &mut Self::Context) {
        self.metrics.sigverify.dequeued();
        self.pending_sigs += batch.slots.iter().filter(|s| s.is_ok()).count();
        self.pending.push(batch);
        if self.pending_sigs >= self.batch_size_max {
            self.flush(ctx);
        } else if self.flush_timer.is_none() {
            self.flush_timer = Some(ctx.run_later(self.deadline, |act, ctx| {
                act.flush_timer = None;
                act.flush(ctx);
            }));
        }
    }
}
