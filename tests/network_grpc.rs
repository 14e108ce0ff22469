//! gRPC `mamey.network.v1.NetworkService` and `mamey.metrics.v1.MetricsService` end to end, on a
//! real dev node process (`tests/common`), with the client code tonic generates from the protos:
//!
//! - `network_service_answers_like_json_rpc`: `GetNodeInfo` gives the chain id, genesis hash,
//!   version and signature backend `mamey_status` gives, the dev validator's address (active, not
//!   a follower) and every address the node bound (`endpoints.json`); `GetValidators` and
//!   `GetStake` equal `mamey_getValidators` and `mamey_getStake`, and a malformed delegator is
//!   INVALID_ARGUMENT; `GetSyncStatus`'s head advances and is not catching up; `GetPeers` is
//!   admin-only (UNAUTHENTICATED for an anonymous caller). Health reports both services
//!   SERVING and reflection (v1 and v1alpha) lists them and serves their files.
//! - `metrics_service_reads_and_streams`: after a transfer, `GetMetrics` carries the Prometheus
//!   text (with `mamey_block_height`) and every pipeline stage, counters at least those
//!   `mamey_pipelineStats` gave before; `StreamMetrics` with `interval_s` 1 yields two readings a
//!   second apart and counts as a gRPC subscriber until the client drops it; `interval_s` over
//!   3600 is INVALID_ARGUMENT with the `mamey-error-code` of invalid params; `GetPeers` answers
//!   with no peers and p2p off on a single dev node. (These need the admin role, which this
//!   test's node gives anonymous callers.)
//!
//! Every node listens on port 0, so this file runs in parallel with the other node tests.

mod common;

use std::time::{Duration, Instant};

use common::{new_address, transfer, validator_address, wait_committed, Metrics, Node};
use mameynode::grpc::metrics_proto::metrics_service_client::MetricsServiceClient;
use mameynode::grpc::metrics_proto::{self, GetMetricsRequest, StreamMetricsRequest};
use mameynode::grpc::network_proto::network_service_client::NetworkServiceClient;
use mameynode::grpc::network_proto::{
    GetNodeInfoRequest, GetPeersRequest, GetStakeRequest, GetSyncStatusRequest,
    GetValidatorsRequest,
};
use mameynode::metrics::StageSnapshot;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// How long an expected answer, message or change may take.
const WAIT: Duration = Duration::from_secs(10);

const NETWORK: &str = "mamey.network.v1.NetworkService";
const METRICS: &str = "mamey.metrics.v1.MetricsService";

async fn channel(node: &Node) -> Channel {
    Endpoint::from_shared(format!("http://{}", node.grpc))
        .expect("gRPC endpoint")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to gRPC at {}: {e}", node.grpc))
}

/// Refused with `code` and, in metadata, JSON-RPC's invalid-params code.
fn assert_invalid(r: Result<impl std::fmt::Debug, Status>, what: &str) {
    let s = match r {
        Ok(v) => panic!("{what}: expected INVALID_ARGUMENT, got {v:?}"),
        Err(s) => s,
    };
    assert_eq!(s.code(), Code::InvalidArgument, "{what}: {s:?}");
    assert!(!s.message().is_empty(), "{what}: says why");
    assert_eq!(
        s.metadata()
            .get("mamey-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("-32602"),
        "{what}: mamey-error-code ({s:?})"
    );
}

/// A sample's value in Prometheus text, by its exact name and labels.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_service_answers_like_json_rpc() {
    let mut node = Node::options()
        .block_interval_ms(50)
        .metrics(Metrics::PortZero)
        .start_in_temp_dir();
    let rpc = node.client();
    let channel = channel(&node).await;
    let mut c = NetworkServiceClient::new(channel.clone());

    let status = rpc.status().expect("mamey_status");
    let info = c
        .get_node_info(GetNodeInfoRequest {})
        .await
        .expect("GetNodeInfo")
        .into_inner();
    assert_eq!(info.chain_id, status.chain_id, "{info:?}");
    assert_eq!(info.genesis_hash, status.genesis_hash.0.to_vec());
    assert_eq!(info.version, status.version);
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.sigverify_backend, status.sigverify_backend);
    let validator = validator_address(&node.dir);
    assert_eq!(info.validator_address, validator.to_string());
    assert!(!info.follower && info.active_validator, "{info:?}");
    assert!(info.head_height >= status.height, "{info:?}");
    assert_eq!(info.finalized_height, info.head_height);
    assert_eq!(info.head_hash.len(), 32);
    let listening = |kind: &str| {
        info.listen_addresses
            .iter()
            .find(|l| l.kind == kind)
            .map(|l| l.address.clone())
    };
    assert_eq!(listening("json-rpc").as_deref(), Some(node.rpc.as_str()));
    assert_eq!(listening("grpc").as_deref(), Some(node.grpc.as_str()));
    assert_eq!(listening("metrics"), node.metrics);
    assert_eq!(listening("quic-ingest"), Some(node.quic.to_string()));
    assert_eq!(listening("p2p"), None, "a single dev node runs no p2p");

    let validators = c
        .get_validators(GetValidatorsRequest {})
        .await
        .expect("GetValidators")
        .into_inner();
    let expected = rpc.validators().expect("mamey_getValidators");
    // The head may move between the two reads; the dev chain's set does not.
    assert_eq!(
        (
            validators.epoch_blocks,
            validators.active_set_max,
            validators.total_power
        ),
        (
            expected.epoch_blocks,
            expected.active_set_max,
            expected.total_power
        )
    );
    let seen: Vec<_> = validators
        .validators
        .iter()
        .map(|v| {
            (
                v.address.clone(),
                v.tokens,
                v.commission_bps,
                v.jailed,
                v.power,
            )
        })
        .collect();
    let want: Vec<_> = expected
        .validators
        .iter()
        .map(|v| {
            (
                v.address.to_string(),
                v.tokens,
                u32::from(v.commission_bps),
                v.jailed,
                v.power,
            )
        })
        .collect();
    assert_eq!(seen, want);
    assert!(seen.iter().any(|v| v.0 == validator.to_string()));

    let stake = c
        .get_stake(GetStakeRequest {
            delegator: validator.to_string(),
        })
        .await
        .expect("GetStake")
        .into_inner();
    let expected = rpc.stake(&validator).expect("mamey_getStake");
    assert_eq!(stake.delegator, expected.delegator.to_string());
    let seen: Vec<_> = stake
        .delegations
        .iter()
        .map(|d| (d.validator.clone(), d.shares.clone(), d.tokens))
        .collect();
    let want: Vec<_> = expected
        .delegations
        .iter()
        .map(|d| (d.validator.to_string(), d.shares.clone(), d.tokens))
        .collect();
    assert_eq!(seen, want);
    assert_invalid(
        c.get_stake(GetStakeRequest {
            delegator: "mamey1nonsense".into(),
        })
        .await,
        "GetStake of a malformed address",
    );

    let first = c
        .get_sync_status(GetSyncStatusRequest {})
        .await
        .expect("GetSyncStatus")
        .into_inner();
    assert_eq!(first.finalized_height, first.head_height, "{first:?}");
    assert!(!first.catching_up, "a live dev node: {first:?}");
    assert!(first.head_age_ms < 10_000, "{first:?}");
    assert_eq!((first.peers_connected, first.peers_known), (0, 0));
    let deadline = Instant::now() + WAIT;
    loop {
        let now = c
            .get_sync_status(GetSyncStatusRequest {})
            .await
            .expect("GetSyncStatus")
            .into_inner();
        if now.head_height > first.head_height {
            assert_ne!(now.head_hash, first.head_hash);
            assert!(now.head_timestamp_ms >= first.head_timestamp_ms, "{now:?}");
            break;
        }
        assert!(Instant::now() < deadline, "the head stayed at {first:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The peer list is admin-only (peers' addresses): an anonymous caller is asked to log in.
    let refused = c.get_peers(GetPeersRequest {}).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    registered(channel).await;
    node.assert_alive();
}

/// Health reports both services SERVING; reflection, in both versions, lists them and serves
/// their files.
async fn registered(channel: Channel) {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as Alpha;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;

    for service in [NETWORK, METRICS] {
        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("Health.Check")
            .into_inner();
        assert_eq!(health.status, ServingStatus::Serving as i32, "{service}");
    }
    let ask = |req| {
        let mut reflection = ServerReflectionClient::new(channel.clone());
        async move {
            reflection
                .server_reflection_info(tokio_stream::iter(vec![ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(req),
                }]))
                .await
                .expect("ServerReflectionInfo")
                .into_inner()
                .message()
                .await
                .expect("reflection answer")
                .expect("one answer")
                .message_response
        }
    };
    let names: Vec<String> = match ask(MessageRequest::ListServices(String::new())).await {
        Some(MessageResponse::ListServicesResponse(l)) => {
            l.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("list_services answered {other:?}"),
    };
    for (service, file) in [
        (NETWORK, "mamey/network/v1/network.proto"),
        (METRICS, "mamey/metrics/v1/metrics.proto"),
    ] {
        assert!(
            names.iter().any(|n| n == service),
            "reflection lists {service}: {names:?}"
        );
        match ask(MessageRequest::FileContainingSymbol(service.into())).await {
            Some(MessageResponse::FileDescriptorResponse(f)) => assert!(
                f.file_descriptor_proto
                    .iter()
                    .any(|d| d.windows(file.len()).any(|w| w == file.as_bytes())),
                "the descriptors for {service} include {file}"
            ),
            other => panic!("file_containing_symbol {service} answered {other:?}"),
        }
    }
    let alpha = Alpha::new(channel)
        .server_reflection_info(tokio_stream::iter(vec![
            tonic_reflection::pb::v1alpha::ServerReflectionRequest {
                host: String::new(),
                message_request: Some(AlphaRequest::ListServices(String::new())),
            },
        ]))
        .await
        .expect("v1alpha ServerReflectionInfo")
        .into_inner()
        .message()
        .await
        .expect("v1alpha answer")
        .expect("one v1alpha answer")
        .message_response;
    match alpha {
        Some(AlphaResponse::ListServicesResponse(l)) => {
            for service in [NETWORK, METRICS] {
                assert!(
                    l.service.iter().any(|s| s.name == service),
                    "v1alpha lists {service}: {l:?}"
                );
            }
        }
        other => panic!("v1alpha list_services answered {other:?}"),
    }
}

/// The stages of a `PipelineStats`, named as `mamey_pipelineStats` names them.
fn stages(p: &metrics_proto::PipelineStats) -> Vec<(&'static str, metrics_proto::StageStats)> {
    [
        ("ingest", p.ingest),
        ("sigverify", p.sigverify),
        ("mempool", p.mempool),
        ("select", p.select),
        ("execute", p.execute),
        ("commit", p.commit),
        ("notify", p.notify),
    ]
    .into_iter()
    .map(|(name, s)| (name, s.unwrap_or_else(|| panic!("stage {name} is missing"))))
    .collect()
}

fn snapshot_stages(p: &mameynode::metrics::PipelineSnapshot) -> [StageSnapshot; 7] {
    [
        p.ingest,
        p.sigverify,
        p.mempool,
        p.select,
        p.execute,
        p.commit,
        p.notify,
    ]
}

async fn next_reading(
    stream: &mut tonic::Streaming<metrics_proto::Metrics>,
) -> metrics_proto::Metrics {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("a reading within 5 s")
        .expect("the stream is healthy")
        .expect("the stream goes on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_service_reads_and_streams() {
    // `MetricsService` and `mamey_pipelineStats` need the admin role (`src/access/policy.rs`):
    // this node gives it to callers without credentials.
    let mut node = Node::options()
        .block_interval_ms(50)
        .metrics(Metrics::PortZeroIfSupported)
        .config("[access]\nanonymous = \"admin\"\n")
        .start_in_temp_dir();
    let peers = NetworkServiceClient::new(channel(&node).await)
        .get_peers(GetPeersRequest {})
        .await
        .expect("GetPeers")
        .into_inner();
    assert!(!peers.p2p_enabled, "{peers:?}");
    assert!(peers.listen_address.is_empty() && peers.peers.is_empty());

    let rpc = node.client();
    let faucet = node.faucet();
    let tx = transfer(&faucet, 0, new_address(), 5);
    rpc.send_transaction(&tx).expect("submit a transfer");
    wait_committed(&rpc, &tx.id, WAIT);
    let before = rpc.pipeline_stats().expect("mamey_pipelineStats");
    let mut c = MetricsServiceClient::new(channel(&node).await);

    let m = c
        .get_metrics(GetMetricsRequest {})
        .await
        .expect("GetMetrics")
        .into_inner();
    assert!(
        m.prometheus_text
            .contains("# TYPE mamey_block_height gauge"),
        "{}",
        m.prometheus_text
    );
    let height = sample(&m.prometheus_text, "mamey_block_height").expect("mamey_block_height");
    assert!(height >= 1.0, "{height}");
    assert!(m.height >= 1 && m.timestamp_ms > 0, "{m:?}");
    let pipeline = m.pipeline.expect("pipeline stats");
    let stages = stages(&pipeline);
    for ((name, s), earlier) in stages.iter().zip(snapshot_stages(&before)) {
        assert!(
            s.batches >= earlier.batches
                && s.items >= earlier.items
                && s.refused >= earlier.refused
                && s.busy_us >= earlier.busy_us,
            "stage {name}: {s:?} went back from {earlier:?}"
        );
    }
    assert!(pipeline.busy_refusals >= before.busy_refusals);
    let ingest = stages[0].1;
    assert!(
        ingest.items >= 1,
        "the transfer went through ingest: {ingest:?}"
    );
    assert!(
        stages[5].1.batches >= 1,
        "blocks were committed: {stages:?}"
    );

    for bad in [3_601, 100_000, u32::MAX] {
        assert_invalid(
            c.stream_metrics(StreamMetricsRequest { interval_s: bad })
                .await
                .map(|_| ()),
            &format!("StreamMetrics interval_s {bad}"),
        );
    }

    let mut stream = c
        .stream_metrics(StreamMetricsRequest { interval_s: 1 })
        .await
        .expect("StreamMetrics")
        .into_inner();
    let started = Instant::now();
    let one = next_reading(&mut stream).await;
    let two = next_reading(&mut stream).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        two.timestamp_ms >= one.timestamp_ms + 900,
        "a second apart: {} then {}",
        one.timestamp_ms,
        two.timestamp_ms
    );
    assert!(two.height >= one.height);
    for m in [&one, &two] {
        assert!(m.pipeline.is_some() && m.prometheus_text.contains("mamey_block_height"));
    }
    let grpc_subscribers = "mamey_subscribers{kind=\"grpc\"}";
    assert_eq!(
        sample(&two.prometheus_text, grpc_subscribers),
        Some(1.0),
        "the stream counts as a subscriber"
    );
    drop(stream);
    // The server's task ends when the client goes away, and with it the subscriber.
    let deadline = Instant::now() + WAIT;
    loop {
        let text = c
            .get_metrics(GetMetricsRequest {})
            .await
            .expect("GetMetrics")
            .into_inner()
            .prometheus_text;
        if sample(&text, grpc_subscribers) == Some(0.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stream's task outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.assert_alive();
}
