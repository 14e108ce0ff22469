//! Producer: sets the block cadence. A block is due `block.interval_ms` after its parent was
//! built (the parent's timestamp, or the local time this node committed the parent if that is
//! earlier, so that a proposer whose clock runs ahead delays nobody by more than one interval);
//! when it is due the producer asks the mempool for the block's transactions and hands them, with
//! the parent and a timestamp, to the executor. It keeps one block in flight and learns of commits
//! from the notifier. It builds only a block consensus may propose: for the height in `wanted`
//! (set by the consensus stage when this validator is a proposer of that height), so that
//! validators do not execute blocks nobody will use.
//!
//! Why the parent's time and not a local timer: with several validators, each proposer's timer
//! has its own phase, and the wait for the next proposer's tick (anything from 0 to an interval)
//! made the pace depend on how the processes' phases happened to fall. Measured from the parent,
//! every height takes one interval (or consensus' latency, when that is longer).
//!
//! The timestamp is the proposer's wall clock, forced strictly above the parent's: it is an input to
//! the block, chosen here, never read during execution.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the producer checks whether a block is due: the cadence's granularity.
const POLL_MS_MAX: u64 = 10;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{now_ms, BlockCommitted, Execute, Executor, MempoolActor, Notifier, Select, Subscribe};
use crate::config::BlockConfig;
use crate::storage::ChainHead;

/// Stop producing once the block in hand is committed; answers with the final head.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain(pub oneshot::Sender<ChainHead>);

pub struct Producer {
    config: BlockConfig,
    /// The height consensus wants a block for (0: none yet).
    wanted: Arc<AtomicU64>,
    head: ChainHead,
    /// Local time (Unix ms) this node committed `head`.
    head_committed_ms: u64,
    mempool: Addr<MempoolActor>,
    executor: Addr<Executor>,
    notifier: Addr<Notifier>,
    in_flight: bool,
    draining: Vec<oneshot::Sender<ChainHead>>,
    stopped: bool,
}

impl Producer {
    pub fn new(
        config: BlockConfig,
        wanted: Arc<AtomicU64>,
        head: ChainHead,
        mempool: Addr<MempoolActor>,
        executor: Addr<Executor>,
        notifier: Addr<Notifier>,
    ) -> Self {
        Self {
            config,
            wanted,
            head,
            head_committed_ms: now_ms(),
            mempool,
            executor,
            notifier,
            in_flight: false,
            draining: Vec::new(),
            stopped: false,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.stopped {
            return;
        }
        if self.wanted.load(Ordering::Acquire) != self.head.height + 1 {
            return;
        }
        let built_ms = self.head.timestamp_ms.min(self.head_committed_ms);
        if now_ms() < built_ms.saturating_add(self.config.interval_ms) {
            return;
        }
        self.in_flight = true;
        let select = self.mempool.send(Select {
            count_max: self.config.txs_max,
        });
        ctx.spawn(select.into_actor(self).map(|res, act, _ctx| {
            let txs = match res {
                Ok(txs) => txs,
                Err(e) => {
                    tracing::error!(error = %e, "mempool did not answer; skipping this block");
                    act.in_flight = false;
                    return;
                }
            };
            if txs.is_empty() && !act.config.empty_blocks {
                act.in_flight = false;
                return;
            }
            let timestamp_ms = now_ms().max(act.head.timestamp_ms + 1);
            act.executor.do_send(Execute {
                parent: act.head,
                timestamp_ms,
                txs,
            });
        }));
    }

    fn finish_drain(&mut self) {
        if self.stopped && !self.in_flight {
            for d in self.draining.drain(..) {
                let _ = d.send(self.head);
            }
        }
    }
}

impl Actor for Producer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.notifier.do_send(Subscribe(ctx.address().recipient()));
        ctx.run_interval(
            Duration::from_millis(self.config.interval_ms.min(POLL_MS_MAX)),
            |act, ctx| act.tick(ctx),
        );
    }
}

impl Handler<BlockCommitted> for Producer {
    type Result = ();

    fn handle(&mut self, BlockCommitted(c): BlockCommitted, _ctx: &mut Self::Context) {
        debug_assert_eq!(c.head.height, self.head.height + 1, "one block in flight");
        self.head = c.head;
        self.head_committed_ms = now_ms();
        self.in_flight = false;
        self.finish_drain();
    }
}

impl Handler<Drain> for Producer {
    type Result = ();

    fn handle(&mut self, Drain(reply): Drain, _ctx: &mut Self::Context) {
        self.stopped = true;
        self.draining.push(reply);
        self.finish_drain();
    }
}
