//! Prometheus metrics: the node's counters, gauges and histograms (`prometheus-client`), and a
//! minimal HTTP server (hyper) that serves them on `[metrics] listen` (default `127.0.0.1:9100`) at
//! `/metrics`.
//!
//! Every metric is named `mamey_…` with its unit in the name (`_seconds`) and counters end in
//! `_total`. Label values come only from fixed sets defined here (stages, rejection reasons,
//! signature backends, subscriber kinds, and method names registered in code); a method name a
//! client makes up is counted as `unknown`, so no input can grow the number of series.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `mamey_block_height`, `mamey_finalized_height` | gauge | |
//! | `mamey_mempool_transactions` | gauge | |
//! | `mamey_transactions_committed_total` | counter | |
//! | `mamey_transactions_rejected_total` | counter | `reason` ([`RejectReason`]) |
//! | `mamey_block_transactions` | histogram | |
//! | `mamey_block_commit_seconds` | histogram | |
//! | `mamey_stage_items_total` | counter | `stage` ([`Stage`]) |
//! | `mamey_stage_latency_seconds` | histogram | `stage` (time to handle one message) |
//! | `mamey_stage_queue_depth` | gauge | `stage` (messages sent to a stage, not yet handled) |
//! | `mamey_sigverify_backend_info` | gauge (1) | `backend` |
//! | `mamey_sigverify_signatures_total`, `mamey_sigverify_invalid_total` | counter | `backend` (`cpu` or `gpu`: who did the work) |
//! | `mamey_sigverify_seconds_total` | counter | `backend` (time spent; signatures / seconds is the rate) |
//! | `mamey_sigverify_gpu_fallbacks_total` | counter | (batches the GPU failed, verified on the CPU) |
//! | `mamey_rpc_requests_total` | counter | `method` |
//! | `mamey_rpc_request_duration_seconds` | histogram | `method` |
//! | `mamey_grpc_requests_total` | counter | `method` |
//! | `mamey_grpc_request_duration_seconds` | histogram | `method` |
//! | `mamey_subscribers` | gauge | `kind` ([`SubscriberKind`]) |
//! | `mamey_subscriber_lag_events_total` | counter | `kind` |
//! | `mamey_build_info` | gauge (1) | `version` |
//!
//! The node records into one process-wide [`Telemetry`] ([`global`]); the pipeline reaches it
//! through [`crate::metrics::PipelineMetrics`], front ends through the free functions
//! ([`record_rpc`], [`record_grpc`], [`subscriber_opened`], …) or the middlewares
//! ([`RpcMetricsLayer`] for jsonrpsee, [`GrpcMetricsLayer`] for tonic).
//!
//! The endpoint answers in the OpenMetrics text format when the scraper asks for it (`Accept:
//! application/openmetrics-text`, as Prometheus does) and in the Prometheus text format 0.0.4
//! otherwise (curl, `promtool check metrics`).

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{header, Method, Request, Response, StatusCode};
use jsonrpsee::core::middleware::{Batch, Notification, RpcServiceT};
use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::config::MetricsConfig;
use crate::execution::TxError;
use crate::mempool::DropReason;
use crate::pipeline::SubmitError;

/// Content type of the OpenMetrics text format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The label value of a method name that is not one of the registered methods.
pub const UNKNOWN_METHOD: &str = "unknown";

/// Concurrent connections to the metrics endpoint; further ones are closed at once.
const CONNECTIONS_MAX: usize = 16;
/// A connection that has not sent its request head within this time is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection (with keep-alive, several scrapes) stays open.
const CONNECTION_TIME_MAX: Duration = Duration::from_secs(300);

// gRPC methods (`/package.Service/Method`) counted by name; anything else is `unknown`. Ours
// are generated from `proto/` (every module's service included), the standard ones listed here.
include!(concat!(env!("OUT_DIR"), "/grpc_methods.rs"));

/// The standard services served beside ours.
pub const GRPC_STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Every gRPC method counted by name: the node's services and the standard ones.
pub fn grpc_methods() -> impl Iterator<Item = &'static str> {
    GRPC_SERVICE_METHODS
        .iter()
        .chain(GRPC_STANDARD_METHODS)
        .copied()
}

/// The `method` label of a request path: the path itself when it is one of ours, else `unknown`.
fn grpc_label(path: &str) -> &'static str {
    grpc_methods()
        .find(|m| *m == path)
        .unwrap_or(UNKNOWN_METHOD)
}

// ---------------------------------------------------------------------------------------------
// Label values: fixed sets
// ---------------------------------------------------------------------------------------------

/// A pipeline stage (the `stage` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Ingest,
    Sigverify,
    Mempool,
    Select,
    Execute,
    Commit,
    Notify,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Ingest,
        Stage::Sigverify,
        Stage::Mempool,
        Stage::Select,
        Stage::Execute,
        Stage::Commit,
        Stage::Notify,
    ];

    /// Stages whose queue depth is tracked: the ones fed by messages that are counted when sent
    /// (`Select` and `Execute` have one message in flight at most).
    pub const QUEUED: [Stage; 5] = [
        Stage::Ingest,
        Stage::Sigverify,
        Stage::Mempool,
        Stage::Commit,
        Stage::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Sigverify => "sigverify",
            Stage::Mempool => "mempool",
            Stage::Select => "select",
            Stage::Execute => "execute",
            Stage::Commit => "commit",
            Stage::Notify => "notify",
        }
    }
}

/// Why a transaction was refused or dropped (the `reason` label): one value per [`SubmitError`]
/// and [`DropReason`] variant (and per [`TxError`] variant inside them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    InvalidEncoding,
    TxTooLarge,
    TooManyTxs,
    BadSignature,
    WrongChain,
    FeeTooLow,
    NonceTooLow,
    NonceTooHigh,
    InsufficientFunds,
    AmountOverflow,
    ZeroAmount,
    /// The staking state refuses the call.
    StakingRefused,
    /// A module refuses the call (its code is in the error; the label stays bounded).
    ModuleRefused,
    AlreadyPending,
    AlreadyCommitted,
    NonceAlreadyPending,
    MempoolFull,
    SenderFull,
    GappedFull,
    Busy,
    ShuttingDown,
    Internal,
    /// Admitted, then left out of a block because it could no longer apply.
    Discarded,
    /// Admitted, then dropped after waiting longer than `mempool.expiry_secs`.
    Expired,
    /// Admitted, then its nonce was used by another transaction of the sender.
    Superseded,
}

impl RejectReason {
    pub const ALL: [RejectReason; 25] = [
        RejectReason::InvalidEncoding,
        RejectReason::TxTooLarge,
        RejectReason::TooManyTxs,
        RejectReason::BadSignature,
        RejectReason::WrongChain,
        RejectReason::FeeTooLow,
        RejectReason::NonceTooLow,
        RejectReason::NonceTooHigh,
        RejectReason::InsufficientFunds,
        RejectReason::AmountOverflow,
        RejectReason::ZeroAmount,
        RejectReason::StakingRefused,
        RejectReason::ModuleRefused,
        RejectReason::AlreadyPending,
        RejectReason::AlreadyCommitted,
        RejectReason::NonceAlreadyPending,
        RejectReason::MempoolFull,
        RejectReason::SenderFull,
        RejectReason::GappedFull,
        RejectReason::Busy,
        RejectReason::ShuttingDown,
        RejectReason::Internal,
        RejectReason::Discarded,
        RejectReason::Expired,
        RejectReason::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidEncoding => "invalid_encoding",
            RejectReason::TxTooLarge => "tx_too_large",
            RejectReason::TooManyTxs => "too_many_txs",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::WrongChain => "wrong_chain",
            RejectReason::FeeTooLow => "fee_too_low",
            RejectReason::NonceTooLow => "nonce_too_low",
            RejectReason::NonceTooHigh => "nonce_too_high",
            RejectReason::InsufficientFunds => "insufficient_funds",
            RejectReason::AmountOverflow => "amount_overflow",
            RejectReason::ZeroAmount => "zero_amount",
            RejectReason::StakingRefused => "staking_refused",
            RejectReason::ModuleRefused => "module_refused",
            RejectReason::AlreadyPending => "already_pending",
            RejectReason::AlreadyCommitted => "already_committed",
            RejectReason::NonceAlreadyPending => "nonce_already_pending",
            RejectReason::MempoolFull => "mempool_full",
            RejectReason::SenderFull => "sender_full",
            RejectReason::GappedFull => "gapped_full",
            RejectReason::Busy => "busy",
            RejectReason::ShuttingDown => "shutting_down",
            RejectReason::Internal => "internal",
            RejectReason::Discarded => "discarded",
            RejectReason::Expired => "expired",
            RejectReason::Superseded => "superseded",
        }
    }
}

impl From<&TxError> for RejectReason {
    fn from(e: &TxError) -> Self {
        match e {
            TxError::WrongChain { .. } => RejectReason::WrongChain,
            TxError::FeeTooLow { .. } => RejectReason::FeeTooLow,
            TxError::NonceTooLow { .. } => RejectReason::NonceTooLow,
            TxError::NonceTooHigh { .. } => RejectReason::NonceTooHigh,
            TxError::InsufficientFunds { .. } => RejectReason::InsufficientFunds,
            TxError::AmountOverflow => RejectReason::AmountOverflow,
            TxError::ZeroAmount => RejectReason::ZeroAmount,
            TxError::Module(_) => RejectReason::ModuleRefused,
            e => {
                debug_assert!(e.is_staking_refusal(), "{e:?} has no reason of its own");
                RejectReason::StakingRefused
            }
        }
    }
}

impl From<&SubmitError> for RejectReason {
    fn from(e: &SubmitError) -> Self {
        match e {
            SubmitError::Decode(_) => RejectReason::InvalidEncoding,
            SubmitError::TooLarge { .. } => RejectReason::TxTooLarge,
            SubmitError::TooManyTxs { .. } => RejectReason::TooManyTxs,
            SubmitError::BadSignature => RejectReason::BadSignature,
            SubmitError::Invalid(e) => e.into(),
            SubmitError::AlreadyPending => RejectReason::AlreadyPending,
            SubmitError::AlreadyCommitted { .. } => RejectReason::AlreadyCommitted,
            SubmitError::NonceAlreadyPending { .. } => RejectReason::NonceAlreadyPending,
            SubmitError::MempoolFull { .. } => RejectReason::MempoolFull,
            SubmitError::SenderFull { .. } => RejectReason::SenderFull,
            SubmitError::GappedFull { .. } => RejectReason::GappedFull,
            SubmitError::Busy { .. } => RejectReason::Busy,
            SubmitError::ShuttingDown => RejectReason::ShuttingDown,
            SubmitError::Internal(_) => RejectReason::Internal,
        }
    }
}

impl From<&DropReason> for RejectReason {
    fn from(r: &DropReason) -> Self {
        match r {
            DropReason::Discarded(_) => RejectReason::Discarded,
            DropReason::Expired { .. } => RejectReason::Expired,
            DropReason::Superseded { .. } => RejectReason::Superseded,
        }
    }
}

/// Who holds a live stream of committed blocks (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberKind {
    /// QUIC commit stream.
    Quic,
    /// JSON-RPC subscription over WebSocket.
    WebSocket,
    /// gRPC `StreamService.Subscribe`.
    Grpc,
}

impl SubscriberKind {
    pub const ALL: [SubscriberKind; 3] = [
        SubscriberKind::Quic,
        SubscriberKind::WebSocket,
        SubscriberKind::Grpc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberKind::Quic => "quic",
            SubscriberKind::WebSocket => "websocket",
            SubscriberKind::Grpc => "grpc",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

// ---------------------------------------------------------------------------------------------
// The metrics
// ---------------------------------------------------------------------------------------------

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn stage_latency_histogram() -> Histogram {
    Histogram::new([
        0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01,
        0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn request_duration_histogram() -> Histogram {
    Histogram::new([
        0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        2.5, 5.0, 10.0,
    ])
}

fn block_commit_histogram() -> Histogram {
    Histogram::new([
        0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

fn block_transactions_histogram() -> Histogram {
    Histogram::new([
        0.0, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0,
        10_000.0, 20_000.0, 50_000.0,
    ])
}

/// The node's Prometheus metrics and their registry. Cheap to record into: relaxed atomics, and a
/// short lock per histogram observation (one per batch, block or request, never per transaction).
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    block_height: Gauge,
    finalized_height: Gauge,
    mempool_transactions: Gauge,
    transactions_committed: Counter,
    transactions_rejected: Family<ReasonLabels, Counter>,
    /// The series of `transactions_rejected`, indexed by `RejectReason as usize`.
    rejected_by_reason: Vec<Counter>,
    block_transactions: Histogram,
    block_commit_seconds: Histogram,
    stage_items: Family<StageLabels, Counter>,
    stage_latency: HistogramFamily<StageLabels>,
    stage_queue_depth: Family<StageLabels, Gauge>,
    sigverify_backend_info: Family<BackendLabels, Gauge>,
    sigverify_signatures: Family<BackendLabels, Counter>,
    sigverify_invalid: Family<BackendLabels, Counter>,
    sigverify_seconds: Family<BackendLabels, Counter<f64, AtomicU64>>,
    sigverify_gpu_fallbacks: Counter,
    rpc_requests: Family<MethodLabels, Counter>,
    rpc_duration: HistogramFamily<MethodLabels>,
    grpc_requests: Family<MethodLabels, Counter>,
    grpc_duration: HistogramFamily<MethodLabels>,
    subscribers: Family<KindLabels, Gauge>,
    subscriber_lag_events: Family<KindLabels, Counter>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

static GLOBAL: LazyLock<Arc<Telemetry>> = LazyLock::new(|| Arc::new(Telemetry::new()));

/// The process-wide metrics the node records into and serves.
pub fn global() -> &'static Arc<Telemetry> {
    &GLOBAL
}

impl Telemetry {
    /// Fresh metrics with every fixed-label series present (at zero), so that rates and dashboards
    /// work from the first scrape.
    pub fn new() -> Self {
        let mut t = Telemetry {
            registry: Registry::default(),
            block_height: Gauge::default(),
            finalized_height: Gauge::default(),
            mempool_transactions: Gauge::default(),
            transactions_committed: Counter::default(),
            transactions_rejected: Family::default(),
            rejected_by_reason: Vec::new(),
            block_transactions: block_transactions_histogram(),
            block_commit_seconds: block_commit_histogram(),
            stage_items: Family::default(),
            stage_latency: Family::new_with_constructor(stage_latency_histogram),
            stage_queue_depth: Family::default(),
            sigverify_backend_info: Family::default(),
            sigverify_signatures: Family::default(),
            sigverify_invalid: Family::default(),
            sigverify_seconds: Family::default(),
            sigverify_gpu_fallbacks: Counter::default(),
            rpc_requests: Family::default(),
            rpc_duration: Family::new_with_constructor(request_duration_histogram),
            grpc_requests: Family::default(),
            grpc_duration: Family::new_with_constructor(request_duration_histogram),
            subscribers: Family::default(),
            subscriber_lag_events: Family::default(),
        };
        t.rejected_by_reason = RejectReason::ALL
            .iter()
            .map(|r| t.transactions_rejected.get_or_create(&reason(*r)).clone())
            .collect();
        for s in Stage::ALL {
            let _ = t.stage_items.get_or_create(&stage(s));
            let _ = t.stage_latency.get_or_create(&stage(s));
        }
        for s in Stage::QUEUED {
            let _ = t.stage_queue_depth.get_or_create(&stage(s));
        }
        for k in SubscriberKind::ALL {
            let _ = t.subscribers.get_or_create(&kind(k));
            let _ = t.subscriber_lag_events.get_or_create(&kind(k));
        }
        for m in grpc_methods() {
            let _ = t.grpc_requests.get_or_create(&method(m));
        }
        t.register()
    }

    fn register(mut self) -> Self {
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        let r = &mut self.registry;
        r.register(
            "mamey_build_info",
            "The node's version; always 1",
            build_info,
        );
        r.register(
            "mamey_block_height",
            "Height of the last committed block",
            self.block_height.clone(),
        );
        r.register(
            "mamey_finalized_height",
            "Height of the last finalized block (committed blocks are final)",
            self.finalized_height.clone(),
        );
        r.register(
            "mamey_mempool_transactions",
            "Transactions waiting in the mempool",
            self.mempool_transactions.clone(),
        );
        r.register(
            "mamey_transactions_committed",
            "Transactions committed in blocks",
            self.transactions_committed.clone(),
        );
        r.register(
            "mamey_transactions_rejected",
            "Transactions refused on submission or dropped from the mempool, by reason",
            self.transactions_rejected.clone(),
        );
        r.register(
            "mamey_block_transactions",
            "Transactions per committed block",
            self.block_transactions.clone(),
        );
        r.register(
            "mamey_block_commit_seconds",
            "Time to write a block to storage (one durable LMDB transaction)",
            self.block_commit_seconds.clone(),
        );
        r.register(
            "mamey_stage_items",
            "Items (transactions or signatures) handled by each pipeline stage",
            self.stage_items.clone(),
        );
        r.register(
            "mamey_stage_latency_seconds",
            "Time a pipeline stage spends handling one message (a batch or a block)",
            self.stage_latency.clone(),
        );
        r.register(
            "mamey_stage_queue_depth",
            "Messages sent to a pipeline stage and not yet handled",
            self.stage_queue_depth.clone(),
        );
        r.register(
            "mamey_sigverify_backend_info",
            "The signature verification backend in use; always 1",
            self.sigverify_backend_info.clone(),
        );
        r.register(
            "mamey_sigverify_signatures",
            "Signatures verified, by backend",
            self.sigverify_signatures.clone(),
        );
        r.register(
            "mamey_sigverify_invalid",
            "Signatures that failed verification, by backend",
            self.sigverify_invalid.clone(),
        );
        r.register(
            "mamey_sigverify_seconds",
            "Seconds spent verifying signatures, by the backend that did the work",
            self.sigverify_seconds.clone(),
        );
        r.register(
            "mamey_sigverify_gpu_fallbacks",
            "Batches the GPU failed to verify (error, device lost, timeout) and the CPU verified instead",
            self.sigverify_gpu_fallbacks.clone(),
        );
        r.register(
            "mamey_rpc_requests",
            "JSON-RPC calls, by method (unregistered methods count as unknown)",
            self.rpc_requests.clone(),
        );
        r.register(
            "mamey_rpc_request_duration_seconds",
            "Time to answer a JSON-RPC call, by method (calls in a batch: the whole batch)",
            self.rpc_duration.clone(),
        );
        r.register(
            "mamey_grpc_requests",
            "gRPC calls, by method (unknown methods count as unknown)",
            self.grpc_requests.clone(),
        );
        r.register(
            "mamey_grpc_request_duration_seconds",
            "Time to the response headers of a gRPC call, by method (streams: until opened)",
            self.grpc_duration.clone(),
        );
        r.register(
            "mamey_subscribers",
            "Open streams of committed blocks, by kind",
            self.subscribers.clone(),
        );
        r.register(
            "mamey_subscriber_lag_events",
            "Subscribers that fell too far behind and were told so, by kind",
            self.subscriber_lag_events.clone(),
        );
        self
    }

    // ----- chain and mempool -----

    /// The head moved to `height` (committed blocks are final: both heights move together).
    pub fn set_head(&self, height: u64) {
        let h = i64::try_from(height).unwrap_or(i64::MAX);
        self.block_height.set(h);
        self.finalized_height.set(h);
    }

    pub fn set_mempool_transactions(&self, count: usize) {
        self.mempool_transactions
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// A block of `txs` transactions was written to storage in `elapsed`.
    pub fn block_committed(&self, txs: usize, elapsed: Duration) {
        self.transactions_committed.inc_by(txs as u64);
        self.block_transactions.observe(txs as f64);
        self.block_commit_seconds.observe(elapsed.as_secs_f64());
    }

    /// `count` transactions were refused or dropped for `reason`.
    pub fn rejected(&self, reason: RejectReason, count: usize) {
        if count > 0 {
            match self.rejected_by_reason.get(reason as usize) {
                Some(c) => c.inc_by(count as u64),
                None => self
                    .transactions_rejected
                    .get_or_create(&self::reason(reason))
                    .inc_by(count as u64),
            };
        }
    }

    // ----- pipeline stages -----

    /// The counter of items a stage handled (kept by the stage, so no lookup per message).
    pub fn stage_items(&self, s: Stage) -> Counter {
        self.stage_items.get_or_create(&stage(s)).clone()
    }

    /// The latency histogram of a stage (kept by the stage).
    pub fn stage_latency(&self, s: Stage) -> Histogram {
        self.stage_latency.get_or_create(&stage(s)).clone()
    }

    /// The queue-depth gauge of a stage (kept by the stage).
    pub fn stage_queue_depth(&self, s: Stage) -> Gauge {
        self.stage_queue_depth.get_or_create(&stage(s)).clone()
    }

    /// A message was handed to the mailbox of `s` (call when the send succeeded, or before it and
    /// [`Telemetry::dequeued`] if it failed). For senders outside the pipeline.
    pub fn enqueued(&self, s: Stage) {
        self.stage_queue_depth.get_or_create(&stage(s)).inc();
    }

    /// `s` took a message from its mailbox. Never goes below zero.
    pub fn dequeued(&self, s: Stage) {
        dec_saturating(&self.stage_queue_depth.get_or_create(&stage(s)));
    }

    // ----- signature verification -----

    /// Sets the `mamey_sigverify_backend_info{backend}` series of the backend in use.
    pub fn set_sigverify_backend(&self, backend: crate::sigverify::Backend) {
        self.sigverify_backend_info
            .get_or_create(&BackendLabels {
                backend: backend.name(),
            })
            .set(1);
        let labels = BackendLabels {
            backend: backend.name(),
        };
        let _ = self.sigverify_signatures.get_or_create(&labels);
        let _ = self.sigverify_invalid.get_or_create(&labels);
        let _ = self.sigverify_seconds.get_or_create(&labels);
    }

    /// The GPU failed a batch and the CPU verified it.
    pub fn sigverify_gpu_fallback(&self) {
        self.sigverify_gpu_fallbacks.inc();
    }

    /// `checked` signatures were verified by `backend` in `elapsed`, of which `invalid` failed.
    pub fn sigverify(
        &self,
        backend: crate::sigverify::Backend,
        checked: usize,
        invalid: usize,
        elapsed: std::time::Duration,
    ) {
        let labels = BackendLabels {
            backend: backend.name(),
        };
        self.sigverify_seconds
            .get_or_create(&labels)
            .inc_by(elapsed.as_secs_f64());
        self.sigverify_signatures
            .get_or_create(&labels)
            .inc_by(checked as u64);
        if invalid > 0 {
            self.sigverify_invalid
                .get_or_create(&labels)
                .inc_by(invalid as u64);
        }
    }

    // ----- front ends -----

    /// Creates the series of these JSON-RPC methods (at zero).
    pub fn register_rpc_methods(&self, methods: impl IntoIterator<Item = &'static str>) {
        for m in methods {
            let _ = self.rpc_requests.get_or_create(&method(m));
        }
    }

    /// One JSON-RPC call of `method` (a label from a fixed set: see [`MethodSet`]) took `elapsed`.
    pub fn record_rpc(&self, method_label: &'static str, elapsed: Duration) {
        let labels = method(method_label);
        self.rpc_requests.get_or_create(&labels).inc();
        self.rpc_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// One gRPC call of `path` (`/package.Service/Method`) took `elapsed`. Paths not in
    /// [`grpc_methods`] count as `unknown`.
    pub fn record_grpc(&self, path: &str, elapsed: Duration) {
        let label = grpc_label(path);
        let labels = method(label);
        self.grpc_requests.get_or_create(&labels).inc();
        self.grpc_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn subscriber_opened(&self, k: SubscriberKind) {
        self.subscribers.get_or_create(&kind(k)).inc();
    }

    pub fn subscriber_closed(&self, k: SubscriberKind) {
        dec_saturating(&self.subscribers.get_or_create(&kind(k)));
    }

    pub fn lag_event(&self, k: SubscriberKind) {
        self.subscriber_lag_events.get_or_create(&kind(k)).inc();
    }

    // ----- exposition -----

    /// The metrics in the OpenMetrics text format (ends with `# EOF`).
    pub fn encode_openmetrics(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail; the encoder has no other error.
        if text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("metrics encoding failed");
        }
        out
    }

    /// The metrics in the Prometheus text format 0.0.4 (what `promtool check metrics` reads).
    pub fn encode_prometheus(&self) -> String {
        openmetrics_to_prometheus(&self.encode_openmetrics())
    }
}

fn stage(s: Stage) -> StageLabels {
    StageLabels { stage: s.as_str() }
}

fn reason(r: RejectReason) -> ReasonLabels {
    ReasonLabels { reason: r.as_str() }
}

fn kind(k: SubscriberKind) -> KindLabels {
    KindLabels { kind: k.as_str() }
}

fn method(m: &'static str) -> MethodLabels {
    MethodLabels { method: m }
}

/// Decrements a gauge unless it is already zero (a decrement without its increment, e.g. from a
/// sender that is not instrumented, must not drive it negative).
fn dec_saturating(g: &Gauge) {
    let _ = g
        .inner()
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            (v > 0).then_some(v - 1)
        });
}

/// Rewrites the OpenMetrics text of `prometheus-client` as the Prometheus text format 0.0.4: a
/// counter family `x` (samples `x_total`) is declared as `x_total`, an info family `x` (samples
/// `x_info`) as the gauge `x_info`, `unknown` becomes `untyped`, and `# UNIT` and `# EOF` go.
pub fn openmetrics_to_prometheus(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len() + 1024);
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some(h) = help.replace(rest) {
                push_lines(&mut out, &["# HELP ", h]);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.rsplit_once(' ').unwrap_or((rest, "untyped"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", "counter"),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                other => ("", other),
            };
            if let Some(h) = help.take() {
                let (_, text) = h.split_once(' ').unwrap_or((h, ""));
                push_lines(&mut out, &["# HELP ", name, suffix, " ", text]);
            }
            push_lines(&mut out, &["# TYPE ", name, suffix, " ", kind]);
            continue;
        }
        if let Some(h) = help.take() {
            push_lines(&mut out, &["# HELP ", h]);
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        push_lines(&mut out, &[line]);
    }
    if let Some(h) = help {
        push_lines(&mut out, &["# HELP ", h]);
    }
    out
}

fn push_lines(out: &mut String, parts: &[&str]) {
    for p in parts {
        out.push_str(p);
    }
    out.push('\n');
}

// ---------------------------------------------------------------------------------------------
// Free functions on the process-wide metrics, for front ends
// ---------------------------------------------------------------------------------------------

/// One JSON-RPC call took `elapsed` (`method` must come from a fixed set; see [`MethodSet`]).
pub fn record_rpc(method: &'static str, elapsed: Duration) {
    global().record_rpc(method, elapsed);
}

/// One gRPC call of `path` (`/package.Service/Method`) took `elapsed`.
pub fn record_grpc(path: &str, elapsed: Duration) {
    global().record_grpc(path, elapsed);
}

/// A stream of committed blocks was opened (pair it with [`subscriber_closed`], or hold a
/// [`SubscriberGuard`] instead).
pub fn subscriber_opened(kind: SubscriberKind) {
    global().subscriber_opened(kind);
}

pub fn subscriber_closed(kind: SubscriberKind) {
    global().subscriber_closed(kind);
}

/// A subscriber fell too far behind and was told so (and disconnected).
pub fn lag_event(kind: SubscriberKind) {
    global().lag_event(kind);
}

/// `count` transactions were refused with `e` outside the pipeline (e.g. the ingest queue was full
/// when a front end tried to submit).
pub fn rejected(e: &SubmitError, count: usize) {
    global().rejected(e.into(), count);
}

/// A front end handed a message to the mailbox of `stage` (e.g. `SubmitRaw` to ingest).
pub fn enqueued(stage: Stage) {
    global().enqueued(stage);
}

/// Counts an open subscriber for as long as it lives: [`subscriber_opened`] now,
/// [`subscriber_closed`] when dropped, whichever way the stream ends.
#[derive(Debug)]
pub struct SubscriberGuard {
    kind: SubscriberKind,
    telemetry: Arc<Telemetry>,
}

impl SubscriberGuard {
    pub fn new(kind: SubscriberKind) -> Self {
        Self::with(global().clone(), kind)
    }

    pub fn with(telemetry: Arc<Telemetry>, kind: SubscriberKind) -> Self {
        telemetry.subscriber_opened(kind);
        Self { kind, telemetry }
    }

    /// The subscriber lagged (it is usually dropped right after).
    pub fn lagged(&self) {
        self.telemetry.lag_event(self.kind);
    }
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.telemetry.subscriber_closed(self.kind);
    }
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC middleware (jsonrpsee)
// ---------------------------------------------------------------------------------------------

/// Method names that may appear as label values: the ones registered in code.
#[derive(Debug, Clone)]
pub struct MethodSet(Arc<HashSet<&'static str>>);

impl MethodSet {
    pub fn new(names: impl IntoIterator<Item = &'static str>) -> Self {
        Self(Arc::new(names.into_iter().collect()))
    }

    /// `name` as a label value: itself if registered, else [`UNKNOWN_METHOD`].
    pub fn label(&self, name: &str) -> &'static str {
        self.0.get(name).copied().unwrap_or(UNKNOWN_METHOD)
    }
}

/// jsonrpsee RPC middleware counting and timing every call by method. Install with
/// `Server::builder().set_rpc_middleware(RpcServiceBuilder::new().layer(RpcMetricsLayer::new(
/// methods.method_names())))`, where `methods` is the `RpcModule` the server will serve.
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    methods: MethodSet,
    telemetry: Arc<Telemetry>,
}

impl RpcMetricsLayer {
    /// Counts into the process-wide metrics; `methods` are the registered method names.
    pub fn new(methods: impl IntoIterator<Item = &'static str>) -> Self {
        Self::with(global().clone(), methods)
    }

    pub fn with(
        telemetry: Arc<Telemetry>,
        methods: impl IntoIterator<Item = &'static str>,
    ) -> Self {
        let methods = MethodSet::new(methods);
        telemetry.register_rpc_methods(methods.0.iter().copied());
        Self { methods, telemetry }
    }
}

impl<S> tower_layer::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, service: S) -> Self::Service {
        RpcMetrics {
            service,
            methods: self.methods.clone(),
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service of [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    service: S,
    methods: MethodSet,
    telemetry: Arc<Telemetry>,
}

impl<S> RpcServiceT for RpcMetrics<S>
where
    S: RpcServiceT + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: jsonrpsee::types::Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let label = self.methods.label(request.method_name());
        let service = self.service.clone();
        let telemetry = self.telemetry.clone();
        async move {
            let started = Instant::now();
            let response = service.call(request).await;
            telemetry.record_rpc(label, started.elapsed());
            response
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        // jsonrpsee answers the calls of a batch inside the inner service, out of this
        // middleware's sight: each call is counted under its method and timed as the whole batch.
        let labels: Vec<&'static str> = batch
            .iter()
            .filter_map(|entry| entry.as_ref().ok())
            .map(|entry| self.methods.label(entry.method_name()))
            .collect();
        let service = self.service.clone();
        let telemetry = self.telemetry.clone();
        async move {
            let started = Instant::now();
            let response = service.batch(batch).await;
            let elapsed = started.elapsed();
            for label in labels {
                telemetry.record_rpc(label, elapsed);
            }
            response
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let label = self.methods.label(&n.method);
        let service = self.service.clone();
        let telemetry = self.telemetry.clone();
        async move {
            let started = Instant::now();
            let response = service.notification(n).await;
            telemetry.record_rpc(label, started.elapsed());
            response
        }
    }
}

// ---------------------------------------------------------------------------------------------
// gRPC middleware (a tower layer for tonic's `Server::builder().layer(…)`)
// ---------------------------------------------------------------------------------------------

/// Tower layer counting and timing every gRPC call by method (see [`grpc_methods`]). The time is
/// until the response headers: for a server stream, until the stream is open.
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer {
    telemetry: Arc<Telemetry>,
}

impl Default for GrpcMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcMetricsLayer {
    /// Counts into the process-wide metrics.
    pub fn new() -> Self {
        Self::with(global().clone())
    }

    pub fn with(telemetry: Arc<Telemetry>) -> Self {
        Self { telemetry }
    }
}

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, service: S) -> Self::Service {
        GrpcMetrics {
            service,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service of [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    service: S,
    telemetry: Arc<Telemetry>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower_service::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Match against the fixed set now: the label is 'static, the path is not kept.
        let label = grpc_label(request.uri().path());
        let telemetry = self.telemetry.clone();
        let started = Instant::now();
        let future = self.service.call(request);
        Box::pin(async move {
            let response = future.await;
            telemetry.record_grpc(label, started.elapsed());
            response
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP endpoint
// ---------------------------------------------------------------------------------------------

/// A running metrics endpoint; it stops accepting connections when dropped (a scrape in progress
/// finishes).
#[derive(Debug)]
pub struct MetricsServer {
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the endpoint of `config` serving `telemetry`, unless metrics are disabled (`None`).
///
/// With `listen` set explicitly, failing to bind is an error. When it is not set, the default
/// address is tried and, if it is taken (say, by another node on this machine), the node runs
/// without metrics and logs a warning. Must run inside a tokio runtime.
pub async fn serve(
    config: &MetricsConfig,
    telemetry: Arc<Telemetry>,
) -> std::io::Result<Option<MetricsServer>> {
    if !config.enabled {
        return Ok(None);
    }
    let addr = config.listen_addr();
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if config.listen.is_none() => {
            tracing::warn!(
                %addr,
                error = %e,
                "metrics endpoint not started: the default address is unavailable; set \
                 [metrics] listen (or --metrics-listen) to choose another"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let local_addr = listener.local_addr()?;
    let task = tokio::spawn(accept_loop(listener, telemetry));
    Ok(Some(MetricsServer { local_addr, task }))
}

async fn accept_loop(listener: TcpListener, telemetry: Arc<Telemetry>) {
    let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "metrics endpoint cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%remote, "metrics connection refused: too many connections");
            continue; // dropping the stream closes it
        };
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let response = respond(&telemetry, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // A connection past its time is dropped (closed); errors are the client's business.
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_TIME_MAX, connection).await {
                tracing::debug!(%remote, error = %e, "metrics connection error");
            }
        });
    }
}

fn respond(telemetry: &Telemetry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    if req.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let openmetrics = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (body, content_type) = if openmetrics {
        (telemetry.encode_openmetrics(), OPENMETRICS_CONTENT_TYPE)
    } else {
        (telemetry.encode_prometheus(), PROMETHEUS_CONTENT_TYPE)
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample line `name{labels} value` (or `name value`), if present.
    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    fn recorded() -> Telemetry {
        let t = Telemetry::new();
        t.set_head(42);
        t.set_mempool_transactions(7);
        t.block_committed(3, Duration::from_millis(2));
        t.block_committed(0, Duration::from_micros(300));
        t.rejected((&SubmitError::BadSignature).into(), 2);
        t.rejected(
            (&SubmitError::Invalid(TxError::NonceTooLow {
                expected: 2,
                got: 1,
            }))
                .into(),
            1,
        );
        t.rejected((&DropReason::Expired { waited_ms: 5 }).into(), 4);
        t.set_sigverify_backend(crate::sigverify::Backend::Cpu);
        t.sigverify(
            crate::sigverify::Backend::Cpu,
            10,
            2,
            std::time::Duration::from_millis(5),
        );
        t.stage_items(Stage::Ingest).inc_by(5);
        t.stage_latency(Stage::Ingest).observe(0.000_3);
        t.enqueued(Stage::Sigverify);
        t.enqueued(Stage::Sigverify);
        t.dequeued(Stage::Sigverify);
        t.dequeued(Stage::Mempool); // no matching enqueue: stays at 0
        t.register_rpc_methods(["mamey_status", "mamey_getBlock"]);
        t.record_rpc("mamey_status", Duration::from_millis(1));
        t.record_grpc("/mamey.v1.NodeService/GetStatus", Duration::from_millis(1));
        t.record_grpc("/made.up/Method", Duration::from_millis(1));
        let sub = SubscriberGuard::with(Arc::new(Telemetry::new()), SubscriberKind::Quic);
        drop(sub);
        t.subscriber_opened(SubscriberKind::Quic);
        t.subscriber_opened(SubscriberKind::Quic);
        t.subscriber_closed(SubscriberKind::Quic);
        t.subscriber_closed(SubscriberKind::Grpc); // never below 0
        t.lag_event(SubscriberKind::WebSocket);
        t
    }

    #[test]
    fn encodes_key_lines_in_both_formats() {
        let t = recorded();
        let om = t.encode_openmetrics();
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE mamey_transactions_committed counter\n"));
        assert_eq!(sample(&om, "mamey_transactions_committed_total"), Some("3"));

        let text = t.encode_prometheus();
        for (series, value) in [
            ("mamey_block_height", "42"),
            ("mamey_finalized_height", "42"),
            ("mamey_mempool_transactions", "7"),
            ("mamey_transactions_committed_total", "3"),
            (
                "mamey_transactions_rejected_total{reason=\"bad_signature\"}",
                "2",
            ),
            (
                "mamey_transactions_rejected_total{reason=\"nonce_too_low\"}",
                "1",
            ),
            ("mamey_transactions_rejected_total{reason=\"expired\"}", "4"),
            ("mamey_transactions_rejected_total{reason=\"busy\"}", "0"),
            ("mamey_block_transactions_count", "2"),
            ("mamey_block_transactions_sum", "3.0"),
            ("mamey_block_transactions_bucket{le=\"0.0\"}", "1"),
            ("mamey_block_transactions_bucket{le=\"+Inf\"}", "2"),
            ("mamey_block_commit_seconds_count", "2"),
            ("mamey_sigverify_backend_info{backend=\"cpu\"}", "1"),
            ("mamey_sigverify_signatures_total{backend=\"cpu\"}", "10"),
            ("mamey_sigverify_invalid_total{backend=\"cpu\"}", "2"),
            ("mamey_stage_items_total{stage=\"ingest\"}", "5"),
            ("mamey_stage_items_total{stage=\"notify\"}", "0"),
            ("mamey_stage_latency_seconds_count{stage=\"ingest\"}", "1"),
            (
                "mamey_stage_latency_seconds_bucket{le=\"0.0005\",stage=\"ingest\"}",
                "1",
            ),
            (
                "mamey_stage_latency_seconds_bucket{le=\"0.00025\",stage=\"ingest\"}",
                "0",
            ),
            ("mamey_stage_queue_depth{stage=\"sigverify\"}", "1"),
            ("mamey_stage_queue_depth{stage=\"mempool\"}", "0"),
            ("mamey_rpc_requests_total{method=\"mamey_status\"}", "1"),
            ("mamey_rpc_requests_total{method=\"mamey_getBlock\"}", "0"),
            (
                "mamey_rpc_request_duration_seconds_count{method=\"mamey_status\"}",
                "1",
            ),
            (
                "mamey_grpc_requests_total{method=\"/mamey.v1.NodeService/GetStatus\"}",
                "1",
            ),
            ("mamey_grpc_requests_total{method=\"unknown\"}", "1"),
            ("mamey_subscribers{kind=\"quic\"}", "1"),
            ("mamey_subscribers{kind=\"grpc\"}", "0"),
            ("mamey_subscriber_lag_events_total{kind=\"websocket\"}", "1"),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
        }
        assert!(!text.contains("made.up"));
        // Prometheus text format: counters declared with their `_total` name, no OpenMetrics-only
        // lines.
        assert!(text.contains("# TYPE mamey_transactions_committed_total counter\n"));
        assert!(text.contains("# HELP mamey_transactions_committed_total Transactions"));
        assert!(text.contains("# TYPE mamey_stage_latency_seconds histogram\n"));
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("# UNIT"));
        // Every family has help and a type, each declared once, before its samples.
        let types: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(types.len(), helps);
        let names: HashSet<&str> = types.iter().filter_map(|t| t.split(' ').next()).collect();
        assert_eq!(names.len(), types.len(), "a family declared twice");
        assert!(names.iter().all(|n| n.starts_with("mamey_")));
    }

    #[test]
    fn openmetrics_conversion() {
        let om = "# HELP a_seconds Time.\n# TYPE a_seconds histogram\n# UNIT a_seconds seconds\n\
                  a_seconds_sum 1.0\n# HELP b Count.\n# TYPE b counter\nb_total{x=\"1\"} 2\n\
                  # HELP c Build.\n# TYPE c info\nc_info{v=\"1\"} 1\n# TYPE d unknown\nd 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP a_seconds Time.\n# TYPE a_seconds histogram\na_seconds_sum 1.0\n\
             # HELP b_total Count.\n# TYPE b_total counter\nb_total{x=\"1\"} 2\n\
             # HELP c_info Build.\n# TYPE c_info gauge\nc_info{v=\"1\"} 1\n# TYPE d untyped\nd 1\n"
        );
    }

    #[test]
    fn labels_come_from_fixed_sets() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "RejectReason::ALL is in declaration order");
        }
        let set = MethodSet::new(["mamey_status"]);
        assert_eq!(set.label("mamey_status"), "mamey_status");
        assert_eq!(set.label("anything else"), UNKNOWN_METHOD);
        let names: HashSet<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names.len(),
            RejectReason::ALL.len(),
            "reason labels are distinct"
        );
        assert!(names
            .iter()
            .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }

    /// Every `rpc` of every proto under `proto/` is counted by name (a read of the files
    /// independent of the build script that generates the list), and so is the banking module's.
    #[test]
    fn grpc_methods_match_the_protos() {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto")];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read proto dir") {
                let path = entry.expect("read proto dir").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().and_then(|e| e.to_str()) != Some("proto") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read proto");
                let mut package = "";
                let mut service = None;
                for line in text.lines().map(str::trim) {
                    if let Some(rest) = line.strip_prefix("package ") {
                        package = rest.trim_end_matches(';').trim();
                    } else if let Some(rest) = line.strip_prefix("service ") {
                        service = rest.split_whitespace().next();
                    } else if let (Some(rest), Some(s)) = (line.strip_prefix("rpc "), service) {
                        let name = rest.split('(').next().unwrap_or("").trim();
                        let full = format!("/{package}.{s}/{name}");
                        assert_eq!(grpc_label(&full), full, "{}", path.display());
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen >= 13, "read the rpcs of proto/");
        assert_eq!(
            grpc_label("/mamey.banking.v1.BankingService/GetAsset"),
            "/mamey.banking.v1.BankingService/GetAsset"
        );
        assert_eq!(grpc_label("/nope.Service/Method"), UNKNOWN_METHOD);
    }
}
