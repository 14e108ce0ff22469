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
//! | `mamey_validator_missed_proposals`, `mamey_validator_proposed_blocks` | gauge | `validator` (the active set's addresses, from committed state: at most `VALIDATORS_MAX`) |
//! | `mamey_validator_signed_votes`, `mamey_validator_missed_votes` | gauge | `validator` (validators that were in the set since the node started: at most `VALIDATORS_MAX`) |
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

use crate::config::MetricsConfig;
use crate::execution::TxError;
use crate::mempool::DropReason;

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

mod grpc_layer;
mod labels;
mod rpc_layer;
mod server;
#[cfg(test)]
mod tests;

pub use grpc_layer::*;
pub use labels::*;
pub use rpc_layer::*;
pub use server::*;

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
    validator_missed_proposals: Family<ValidatorLabels, Gauge>,
    validator_proposed: Family<ValidatorLabels, Gauge>,
    validator_signed_votes: Family<ValidatorLabels, Gauge>,
    validator_missed_votes: Family<ValidatorLabels, Gauge>,
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
            validator_missed_proposals: Family::default(),
            validator_proposed: Family::default(),
            validator_signed_votes: Family::default(),
            validator_missed_votes: Family::default(),
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
            "mamey_validator_missed_proposals",
            "Proposer turns that passed without the validator's block decided, while in the active set",
            self.validator_missed_proposals.clone(),
        );
        r.register(
            "mamey_validator_proposed_blocks",
            "Blocks the validator built that were decided, while in the active set",
            self.validator_proposed.clone(),
        );
        r.register(
            "mamey_validator_signed_votes",
            "Heights this node decided, since it started, with the validator's precommit (in the certificate or arriving before the next decision)",
            self.validator_signed_votes.clone(),
        );
        r.register(
            "mamey_validator_missed_votes",
            "Heights this node decided, since it started, without the validator's precommit, while it was in the set",
            self.validator_missed_votes.clone(),
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

    /// The active set's proposer records, `(address, missed, proposed)`; validators that left
    /// the set disappear from the metrics.
    pub fn set_proposer_records(&self, records: impl IntoIterator<Item = (String, u64, u64)>) {
        self.validator_missed_proposals.clear();
        self.validator_proposed.clear();
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for (validator, missed, proposed) in records {
            let labels = ValidatorLabels { validator };
            self.validator_missed_proposals
                .get_or_create(&labels)
                .set(as_i64(missed));
            self.validator_proposed
                .get_or_create(&labels)
                .set(as_i64(proposed));
        }
    }

    /// One validator's precommit counts as this node saw them (kept for validators that left
    /// the set: they are counts since the node started).
    pub fn set_vote_record(&self, validator: String, signed: u64, missed: u64) {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let labels = ValidatorLabels { validator };
        self.validator_signed_votes
            .get_or_create(&labels)
            .set(as_i64(signed));
        self.validator_missed_votes
            .get_or_create(&labels)
            .set(as_i64(missed));
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
pub fn rejected(reason: RejectReason, count: usize) {
    global().rejected(reason, count);
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

// Label sets of the metric families.

/// A validator's address (Bech32m): values come from the committed active set, bounded by
/// `VALIDATORS_MAX`, not from clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ValidatorLabels {
    validator: String,
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
