//! `mamey.metrics.v1.MetricsService`: the node's Prometheus metrics, as the text its metrics
//! endpoint serves ([`crate::telemetry::Telemetry::encode_prometheus`]), and the pipeline
//! counters of JSON-RPC `mamey_pipelineStats` ([`Api::pipeline_stats`]) as typed messages, once
//! or every few seconds.
//!
//! Bounded: a stream reads and sends one message per interval (at least one second) into a
//! one-message channel, so a slow client delays its own next reading rather than queueing them,
//! and the task ends as soon as the client goes away. The number of streams is bounded by the
//! server's per-connection stream limit like every other stream.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::invalid_argument;
use crate::api::Api;
use crate::metrics::StageSnapshot;

/// Generated code for `mamey.metrics.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod metrics_proto {
    tonic::include_proto!("mamey.metrics.v1");
}

use metrics_proto::metrics_service_server::MetricsService;

pub use metrics_proto::metrics_service_server::MetricsServiceServer;

/// `StreamMetrics` with `interval_s` 0.
pub const STREAM_INTERVAL_DEFAULT_S: u32 = 5;
/// The longest `interval_s` accepted: an hour.
pub const STREAM_INTERVAL_MAX_S: u32 = 3_600;

/// The interval a `StreamMetrics` request asks for, or INVALID_ARGUMENT.
fn interval_of(interval_s: u32) -> Result<Duration, Status> {
    match interval_s {
        0 => Ok(Duration::from_secs(STREAM_INTERVAL_DEFAULT_S.into())),
        1..=STREAM_INTERVAL_MAX_S => Ok(Duration::from_secs(interval_s.into())),
        _ => Err(invalid_argument(format!(
            "interval_s {interval_s}: must be 1 to {STREAM_INTERVAL_MAX_S} seconds (0: \
             {STREAM_INTERVAL_DEFAULT_S})"
        ))),
    }
}

fn stage_of(s: StageSnapshot) -> Option<metrics_proto::StageStats> {
    Some(metrics_proto::StageStats {
        batches: s.batches,
        items: s.items,
        refused: s.refused,
        busy_us: s.busy_us,
    })
}

/// One reading of everything the service reports.
fn read(api: &Api) -> metrics_proto::Metrics {
    let p = api.pipeline_stats();
    metrics_proto::Metrics {
        timestamp_ms: crate::pipeline::now_ms(),
        height: api.head(),
        pipeline: Some(metrics_proto::PipelineStats {
            ingest: stage_of(p.ingest),
            sigverify: stage_of(p.sigverify),
            mempool: stage_of(p.mempool),
            select: stage_of(p.select),
            execute: stage_of(p.execute),
            commit: stage_of(p.commit),
            notify: stage_of(p.notify),
            busy_refusals: p.busy_refusals,
        }),
        prometheus_text: api.metrics.telemetry.encode_prometheus(),
    }
}

type MetricsStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<metrics_proto::Metrics, Status>> + Send>>;

pub struct MetricsGrpc {
    pub api: Arc<Api>,
}

#[tonic::async_trait]
impl MetricsService for MetricsGrpc {
    async fn get_metrics(
        &self,
        _req: Request<metrics_proto::GetMetricsRequest>,
    ) -> Result<Response<metrics_proto::Metrics>, Status> {
        Ok(Response::new(read(&self.api)))
    }

    type StreamMetricsStream = MetricsStream;

    async fn stream_metrics(
        &self,
        req: Request<metrics_proto::StreamMetricsRequest>,
    ) -> Result<Response<MetricsStream>, Status> {
        let period = interval_of(req.into_inner().interval_s)?;
        // One message in flight: a reading waiting for a slow client is not worth a second one.
        let (tx, rx) = mpsc::channel(1);
        let api = self.api.clone();
        tokio::spawn(async move {
            let _subscriber =
                crate::telemetry::SubscriberGuard::new(crate::telemetry::SubscriberKind::Grpc);
            let mut ticks = tokio::time::interval(period);
            // After a slow send, wait a whole period again rather than sending a burst.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = tx.closed() => return,
                }
                if tx.send(Ok(read(&api))).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(interval_of(0).ok(), Some(Duration::from_secs(5)));
        assert_eq!(interval_of(1).ok(), Some(Duration::from_secs(1)));
        assert_eq!(interval_of(3_600).ok(), Some(Duration::from_secs(3_600)));
        for bad in [3_601, 100_000, u32::MAX] {
            let e = interval_of(bad).expect_err("refused");
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.metadata().get("mamey-error-code").is_some(), "{e:?}");
        }
    }
}
