use super::*;
use crate::pipeline::SubmitError;

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
