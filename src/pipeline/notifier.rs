//! Notifier stage: the last stage. Publishes the new head (for RPC and, later, subscriptions) and
//! tells the mempool and every subscriber (the producer) that a block committed.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::{broadcast, watch};

use super::{BlockCommitted, CommittedBlock, MempoolActor};
use crate::metrics::PipelineMetrics;
use crate::storage::ChainHead;

/// Register for a notice of every committed block.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<BlockCommitted>);

pub struct Notifier {
    head: watch::Sender<ChainHead>,
    mempool: Addr<MempoolActor>,
    subscribers: Vec<Recipient<BlockCommitted>>,
    /// External subscribers (commit streams): bounded per subscriber; a slow one sees `Lagged`.
    commits: broadcast::Sender<Arc<CommittedBlock>>,
    metrics: Arc<PipelineMetrics>,
}

impl Notifier {
    pub fn new(
        head: watch::Sender<ChainHead>,
        mempool: Addr<MempoolActor>,
        commits: broadcast::Sender<Arc<CommittedBlock>>,
        metrics: Arc<PipelineMetrics>,
    ) -> Self {
        metrics.telemetry.set_head(head.borrow().height);
        Self {
            head,
            mempool,
            subscribers: Vec::new(),
            commits,
            metrics,
        }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;
}

impl Handler<Subscribe> for Notifier {
    type Result = ();

    fn handle(&mut self, Subscribe(r): Subscribe, _ctx: &mut Self::Context) {
        self.subscribers.push(r);
    }
}

impl Handler<BlockCommitted> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: BlockCommitted, _ctx: &mut Self::Context) {
        self.metrics.notify.dequeued();
        let started = std::time::Instant::now();
        self.head.send_replace(msg.0.head);
        self.metrics.telemetry.set_head(msg.0.head.height);
        // The mempool first: it must have pruned block h before the producer can ask for h + 1.
        self.mempool.do_send(msg.clone());
        for s in &self.subscribers {
            s.do_send(msg.clone());
        }
        // No receivers is fine: nobody is streaming commits.
        let _ = self.commits.send(msg.0.clone());
        self.metrics
            .notify
            .record(msg.0.block.transactions.len(), 0, started);
    }
}
