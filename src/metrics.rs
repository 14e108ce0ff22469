//! Pipeline metrics: per-stage counters and busy time, cheap enough for the hot path (relaxed
//! atomics). `mamey_pipelineStats` returns a snapshot; benchmarks read it to show where time goes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Counters of one stage.
#[derive(Default)]
pub struct StageStats {
    /// Messages handled.
    pub batches: AtomicU64,
    /// Transactions (or signatures) handled.
    pub items: AtomicU64,
    /// Items this stage refused.
    pub refused: AtomicU64,
    /// Time spent handling messages, microseconds.
    pub busy_us: AtomicU64,
}

impl StageStats {
    /// Records one handled message of `items` items that started at `started`.
    pub fn record(&self, items: usize, refused: usize, started: Instant) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.items.fetch_add(items as u64, Ordering::Relaxed);
        self.refused.fetch_add(refused as u64, Ordering::Relaxed);
        self.busy_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
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

#[derive(Default)]
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
}
