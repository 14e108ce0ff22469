//! Pipeline metrics: per-stage counters and busy time, cheap enough for the hot path (relaxed
//! atomics). `mamey_pipelineStats` returns a snapshot; benchmarks read it to show where time goes.
//! The same records feed the Prometheus metrics of [`crate::telemetry`] (items, latency histogram
//! and queue depth per stage), which every stage reaches through [`PipelineMetrics::telemetry`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::telemetry::{Stage, Telemetry};

/// Counters of one stage.
pub struct StageStats {
    /// Messages handled.
    pub batches: AtomicU64,
    /// Transactions (or signatures) handled.
    pub items: AtomicU64,
    /// Items this stage refused.
    pub refused: AtomicU64,
    /// Time spent handling messages, microseconds.
    pub busy_us: AtomicU64,
    items_total: Counter,
    latency: Histogram,
    /// For the stages whose senders count what they send ([`Stage::QUEUED`]).
    queue_depth: Option<Gauge>,
}

impl StageStats {
    fn new(stage: Stage, telemetry: &Telemetry) -> Self {
        Self {
            batches: AtomicU64::new(0),
            items: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            busy_us: AtomicU64::new(0),
            items_total: telemetry.stage_items(stage),
            latency: telemetry.stage_latency(stage),
            queue_depth: Stage::QUEUED
                .contains(&stage)
                .then(|| telemetry.stage_queue_depth(stage)),
        }
    }

    /// Records one handled message of `items` items that started at `started`.
    pub fn record(&self, items: usize, refused: usize, started: Instant) {
        let elapsed = started.elapsed();
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items as u64, Ordering::Relaxed);
        self.refused.fetch_add(refused as u64, Ordering::Relaxed);
        self.busy_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        self.items_total.inc_by(items as u64);
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// A message is being handed to this stage's mailbox. If the send fails, call
    /// [`StageStats::dequeued`].
    pub fn enqueued(&self) {
        if let Some(g) = &self.queue_depth {
            g.inc();
        }
    }

    /// This stage took a message from its mailbox (first thing in the handler). Never goes below
    /// zero, so a message from a sender that does not count is harmless.
    pub fn dequeued(&self) {
        if let Some(g) = &self.queue_depth {
            let _ = g
                .inner()
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    (v > 0).then_some(v - 1)
                });
        }
    }

    fn snapshot(&self) -> StageSnapshot {
        StageSnapshot {
            batches: self.batches.load(Ordering::Relaxed),
            items: self.items.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            busy_us: self.busy_us.load(Ordering::Relaxed),
        }
    }
}

pub struct PipelineMetrics {
    pub ingest: StageStats,
    pub sigverify: StageStats,
    pub mempool: StageStats,
    pub select: StageStats,
    pub execute: StageStats,
    pub commit: StageStats,
    pub notify: StageStats,
    /// Transactions answered "busy" because a stage queue was full.
    pub busy_refusals: AtomicU64,
    /// The Prometheus metrics (chain, mempool, rejections, signatures) the stages record into.
    pub telemetry: Arc<Telemetry>,
    /// Precommits each validator gave or missed, as this node saw them.
    pub votes: VoteRecords,
}

/// One validator's precommits over the heights this node decided since it started, while the
/// validator was in the set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoteRecord {
    /// Heights whose decision this node saw its precommit for.
    pub signed: u64,
    /// Heights decided without its precommit reaching this node.
    pub missed: u64,
}

/// [`VoteRecord`]s by validator. Bounded: entries are validators that were in the set, at most
/// the registry's `VALIDATORS_MAX`.
#[derive(Debug, Default)]
pub struct VoteRecords(
    std::sync::Mutex<std::collections::BTreeMap<crate::types::Address, VoteRecord>>,
);

impl VoteRecords {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<crate::types::Address, VoteRecord>>
    {
        // Every update is whole under the lock: a poisoned map is still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, validator: &crate::types::Address) -> VoteRecord {
        self.lock().get(validator).copied().unwrap_or_default()
    }

    /// Counts one decided height: `set` were expected to precommit, `signed` did. Returns the
    /// updated records of `set`.
    pub fn count(
        &self,
        set: &[crate::types::Address],
        signed: &std::collections::BTreeSet<crate::types::Address>,
    ) -> Vec<(crate::types::Address, VoteRecord)> {
        let mut records = self.lock();
        set.iter()
            .map(|a| {
                let r = records.entry(*a).or_default();
                if signed.contains(a) {
                    r.signed += 1;
                } else {
                    r.missed += 1;
                }
                (*a, *r)
            })
            .collect()
    }
}

/// Records into the process-wide [`crate::telemetry::global`] metrics.
impl Default for PipelineMetrics {
    fn default() -> Self {
        Self::new(crate::telemetry::global().clone())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageSnapshot {
    pub batches: u64,
    pub items: u64,
    pub refused: u64,
    pub busy_us: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineSnapshot {
    pub ingest: StageSnapshot,
    pub sigverify: StageSnapshot,
    pub mempool: StageSnapshot,
    pub select: StageSnapshot,
    pub execute: StageSnapshot,
    pub commit: StageSnapshot,
    pub notify: StageSnapshot,
    pub busy_refusals: u64,
}

impl PipelineMetrics {
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        let t = &telemetry;
        Self {
            ingest: StageStats::new(Stage::Ingest, t),
            sigverify: StageStats::new(Stage::Sigverify, t),
            mempool: StageStats::new(Stage::Mempool, t),
            select: StageStats::new(Stage::Select, t),
            execute: StageStats::new(Stage::Execute, t),
            commit: StageStats::new(Stage::Commit, t),
            notify: StageStats::new(Stage::Notify, t),
            busy_refusals: AtomicU64::new(0),
            telemetry,
            votes: VoteRecords::default(),
        }
    }

    pub fn snapshot(&self) -> PipelineSnapshot {
        PipelineSnapshot {
            ingest: self.ingest.snapshot(),
            sigverify: self.sigverify.snapshot(),
            mempool: self.mempool.snapshot(),
            select: self.select.snapshot(),
            execute: self.execute.snapshot(),
            commit: self.commit.snapshot(),
            notify: self.notify.snapshot(),
            busy_refusals: self.busy_refusals.load(Ordering::Relaxed),
        }
    }

    pub fn busy(&self, n: usize) {
        self.busy_refusals.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts the transactions of `slots` refused by a stage (the `Err` ones), by reason.
    pub fn rejected<T, E>(&self, slots: &[Result<T, E>])
    where
        for<'e> &'e E: Into<crate::telemetry::RejectReason>,
    {
        for e in slots.iter().filter_map(|s| s.as_ref().err()) {
            self.telemetry.rejected(e.into(), 1);
        }
    }
}
