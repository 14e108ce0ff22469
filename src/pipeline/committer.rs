//! Committer stage: writes each finalized block, with its commit certificate, in one durable LMDB
//! transaction, then tells the notifier.
//! A storage failure (map full, I/O error) is fatal: the node stops rather than continue with
//! state it cannot persist.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::{BlockCommitted, CommittedBlock, Fatal, Notifier};
use crate::execution::BlockOutput;
use crate::metrics::PipelineMetrics;
use crate::storage::{BlockCommit, Storage};
use crate::types::Block;

/// A block and its execution output, ready to persist.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CommitBlock {
    pub block: Block,
    pub output: BlockOutput,
    /// The encoded consensus decision that finalized the block (`consensus::wire`).
    pub certificate: Option<Vec<u8>>,
}

pub struct Committer {
    storage: Arc<Storage>,
    notifier: Addr<Notifier>,
    fatal: mpsc::Sender<Fatal>,
    metrics: Arc<PipelineMetrics>,
    failed: bool,
}

impl Committer {
    pub fn new(
        storage: Arc<Storage>,
        notifier: Addr<Notifier>,
        fatal: mpsc::Sender<Fatal>,
        metrics: Arc<PipelineMetrics>,
    ) -> Self {
        Self {
            storage,
            notifier,
            fatal,
            metrics,
            failed: false,
        }
    }
}

impl Actor for Committer {
    type Context = Context<Self>;
}

impl Handler<CommitBlock> for Committer {
    type Result = ();

    fn handle(&mut self, msg: CommitBlock, _ctx: &mut Self::Context) {
        self.metrics.commit.dequeued();
        if self.failed {
            return;
        }
        let CommitBlock {
            block,
            mut output,
            certificate,
        } = msg;
        // The block's own events (its start's work) are stored after its transactions' receipts.
        if !output.block_events.is_empty() {
            let events = std::mem::take(&mut output.block_events);
            output
                .receipts
                .push(crate::types::Receipt::of_block(events));
        }
        let started = std::time::Instant::now();
        let result = self.storage.commit_block(&BlockCommit {
            certificate: certificate.as_deref(),
            block: &block,
            receipts: &output.receipts,
            writes: &output.writes,
            state_writes: &output.state_writes,
            lthash: &output.lthash,
        });
        match result {
            Ok(head) => {
                self.metrics
                    .commit
                    .record(block.transactions.len(), 0, started);
                self.metrics
                    .telemetry
                    .block_committed(block.transactions.len(), started.elapsed());
                let refused = output
                    .receipts
                    .iter()
                    .filter(|r| r.outcome != crate::types::Outcome::Success)
                    .count();
                self.metrics
                    .telemetry
                    .rejected(crate::telemetry::RejectReason::RefusedOnRecord, refused);
                if !block.transactions.is_empty() || !output.discarded.is_empty() {
                    tracing::info!(
                        height = head.height,
                        txs = block.transactions.len(),
                        discarded = output.discarded.len(),
                        commit_us = started.elapsed().as_micros() as u64,
                        hash = %head.hash,
                        "block committed"
                    );
                } else {
                    tracing::debug!(height = head.height, "empty block committed");
                }
                self.metrics.notify.enqueued();
                self.notifier
                    .do_send(BlockCommitted(Arc::new(CommittedBlock {
                        head,
                        block,
                        receipts: output.receipts,
                        discarded: output.discarded,
                        writes: output.writes,
                    })));
            }
            Err(e) => {
                self.failed = true;
                tracing::error!(error = %e, height = block.header.height, "block commit failed");
                let _ = self.fatal.try_send(Fatal(e.to_string()));
            }
        }
    }
}
