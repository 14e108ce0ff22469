//! The Prometheus endpoint of a real node: `mameynode run --dev … --metrics-listen 127.0.0.1:0`
//! (the bound address is `"metrics"` in `DATA_DIR/endpoints.json`), scraped with a raw HTTP GET.
//!
//! Checks that heights, committed and rejected transactions, signature counts, stage histograms
//! and commit-stream subscribers show up as the node works, that only `/metrics` is served, that
//! the endpoint speaks OpenMetrics to scrapers that ask for it, and that `promtool check metrics`
//! accepts what it serves. Without `promtool` on PATH that last check is skipped with a loud notice,
//! except under CI (`CI` set), where it fails: CI must not silently skip it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{balance, new_address, transfer, wait_committed, Metrics, Node};
use mameynode::quic::client::IngestClient;
use mameynode::types::TxEnvelope;
use serde_json::{json, Value};

struct HttpResponse {
    status: u16,
    head: String,
    body: String,
}

/// A raw HTTP/1.1 GET (the connection is closed by the server after the answer).
fn http_get(addr: &str, path: &str, accept: Option<&str>) -> HttpResponse {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}Connection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "unexpected chunked body"
    );
    HttpResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of a series (`name` or `name{labels}`) in an exposition, if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a numeric sample value"))
}

/// Scrapes until `ok` holds for the text (metrics are recorded right around the events the test
/// observes over RPC), or panics after 10 s with the last scrape.
fn scrape_until(addr: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http_get(addr, "/metrics", None);
        assert_eq!(r.status, 200, "GET /metrics: {}", r.head);
        if ok(&r.body) {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "metrics never showed {what}:\n{}",
            r.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `promtool check metrics` on `text` if promtool is installed. Without it: a loud skip
/// notice, or a failure under CI.
fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"));
            assert!(
                !ci,
                "promtool is not on PATH, and CI is set: the exposition format check must run in CI \
                 (scripts/test.sh installs promtool with apt-get install prometheus)"
            );
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED: `promtool check metrics` (promtool is not on PATH).           !!!\n\
                 !!! Install it (Debian: apt-get install prometheus) to check the format.   !!!\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("wait for promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\n{}{}\n---- exposition ----\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("promtool check metrics: ok");
}

#[test]
fn prometheus_endpoint_reports_the_node() {
    let node = Node::options()
        .block_interval_ms(50)
        .metrics(Metrics::PortZero)
        .start_in_temp_dir();
    let client = node.client();
    let faucet = node.faucet();
    let bob = new_address();

    // Two transfers commit.
    let txs: Vec<TxEnvelope> = (0..2).map(|n| transfer(&faucet, n, bob, 10 + n)).collect();
    for tx in &txs {
        assert_eq!(client.send_transaction(tx).expect("send transfer"), tx.id);
    }
    for tx in &txs {
        wait_committed(&client, &tx.id, Duration::from_secs(30));
    }

    // A bad signature (a bit flipped in S) is refused.
    let mut bad = transfer(&faucet, 2, bob, 5).bytes.to_vec();
    let i = bad.len() - 10;
    bad[i] ^= 0x04;
    let err = client
        .call::<Value>("mamey_sendTransaction", json!([hex::encode(&bad)]))
        .expect_err("a bad signature is refused");
    assert_eq!(err.code(), Some(1003), "{err}");

    let text = scrape_until(
        node.metrics_addr(),
        "the transfers and the bad signature",
        |t| {
            value(t, "mamey_transactions_committed_total").unwrap_or(0.0) >= 2.0
                && value(
                    t,
                    "mamey_transactions_rejected_total{reason=\"bad_signature\"}",
                )
                .unwrap_or(0.0)
                    >= 1.0
        },
    );
    let v =
        |series: &str| value(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert!(v("mamey_block_height") > 0.0);
    assert!(v("mamey_finalized_height") > 0.0);
    assert!(v("mamey_finalized_height") <= v("mamey_block_height"));
    assert_eq!(v("mamey_sigverify_backend_info{backend=\"cpu\"}"), 1.0);
    assert!(v("mamey_sigverify_signatures_total{backend=\"cpu\"}") >= 3.0);
    assert!(v("mamey_sigverify_invalid_total{backend=\"cpu\"}") >= 1.0);
    assert!(v("mamey_stage_items_total{stage=\"ingest\"}") >= 3.0);
    assert!(v("mamey_stage_latency_seconds_count{stage=\"commit\"}") >= 1.0);
    assert!(v("mamey_stage_latency_seconds_bucket{le=\"+Inf\",stage=\"commit\"}") >= 1.0);
    assert!(v("mamey_block_transactions_count") >= 1.0);
    assert!(v("mamey_block_transactions_sum") >= 2.0);
    assert!(v("mamey_block_commit_seconds_count") >= 1.0);
    assert!(v("mamey_mempool_transactions") >= 0.0);
    assert!(v("mamey_stage_queue_depth{stage=\"sigverify\"}") >= 0.0);
    assert_eq!(
        v("mamey_transactions_rejected_total{reason=\"mempool_full\"}"),
        0.0
    );
    assert_eq!(v("mamey_subscribers{kind=\"quic\"}"), 0.0);
    assert!(text.contains("# TYPE mamey_transactions_committed_total counter\n"));
    // JSON-RPC calls by method, once `telemetry::RpcMetricsLayer` is installed in `rpc::start`.
    match value(
        &text,
        "mamey_rpc_requests_total{method=\"mamey_sendTransaction\"}",
    ) {
        Some(n) => {
            assert!(n >= 3.0, "3 mamey_sendTransaction calls, counted {n}");
            assert!(
                v("mamey_rpc_request_duration_seconds_count{method=\"mamey_sendTransaction\"}")
                    >= 3.0
            );
            assert!(value(&text, "mamey_rpc_requests_total{method=\"unknown\"}").is_none());
        }
        None => eprintln!("note: no JSON-RPC metrics (RpcMetricsLayer is not installed)"),
    }

    promtool_check(&text);

    // A QUIC commit-stream subscriber is counted while it is connected.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cert = std::fs::read(node.dir.join("ingest-cert.der")).expect("ingest certificate");
    let quic = runtime.block_on(async {
        let quic = IngestClient::connect(node.quic, &cert)
            .await
            .expect("QUIC connect");
        let mut commits = quic.commits().await.expect("open commit stream");
        let event = tokio::time::timeout(Duration::from_secs(10), commits.next())
            .await
            .expect("a commit event within 10 s")
            .expect("read commit stream");
        assert!(event.is_some(), "the commit stream ended");
        (quic, commits)
    });
    scrape_until(node.metrics_addr(), "one QUIC subscriber", |t| {
        value(t, "mamey_subscribers{kind=\"quic\"}") == Some(1.0)
    });
    // Close the connection and let the endpoint send the close before the runtime goes.
    runtime.block_on(async move {
        drop(quic);
        tokio::time::sleep(Duration::from_millis(200)).await;
    });
    drop(runtime);
    scrape_until(node.metrics_addr(), "the QUIC subscriber gone", |t| {
        value(t, "mamey_subscribers{kind=\"quic\"}") == Some(0.0)
    });

    // OpenMetrics for scrapers that ask for it (Prometheus does).
    let om = http_get(
        node.metrics_addr(),
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert_eq!(om.status, 200);
    assert!(
        om.head
            .to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{}",
        om.head
    );
    assert!(om.body.ends_with("# EOF\n"));
    assert!(om
        .body
        .contains("# TYPE mamey_transactions_committed counter\n"));

    let plain = http_get(node.metrics_addr(), "/metrics", None);
    assert!(
        plain
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        plain.head
    );

    // Only /metrics is served.
    assert_eq!(http_get(node.metrics_addr(), "/", None).status, 404);
    assert_eq!(
        http_get(node.metrics_addr(), "/metrics/x", None).status,
        404
    );
}

/// A node configured with `backend = "gpu"` (lavapipe in CI) verifies every signature on the GPU:
/// transfers commit, a bad signature is refused, and the metrics name the GPU as the backend that
/// did the work, with its time.
#[test]
fn node_runs_with_the_gpu_backend() {
    let test = "node_runs_with_the_gpu_backend";
    // Skips loudly (fails under CI) without an adapter; the node itself would refuse to start.
    if common::gpu::context(test).is_none() {
        return;
    }
    let node = Node::options()
        .block_interval_ms(50)
        .metrics(Metrics::PortZero)
        .config("[sigverify]\nbackend = \"gpu\"\nbatch_deadline_us = 500\n")
        .startup_limit(Duration::from_secs(900))
        .start_in_temp_dir();
    let client = node.client();
    let faucet = node.faucet();
    let bob = new_address();
    let txs: Vec<TxEnvelope> = (0..20).map(|n| transfer(&faucet, n, bob, 1 + n)).collect();
    for tx in &txs {
        assert_eq!(client.send_transaction(tx).expect("send transfer"), tx.id);
    }
    for tx in &txs {
        wait_committed(&client, &tx.id, Duration::from_secs(60));
    }
    assert_eq!(balance(&client, &bob), (1..=20).sum::<u64>());

    let mut bad = transfer(&faucet, 20, bob, 5).bytes.to_vec();
    let i = bad.len() - 10;
    bad[i] ^= 0x04;
    let err = client
        .call::<Value>("mamey_sendTransaction", json!([hex::encode(&bad)]))
        .expect_err("a bad signature is refused");
    assert_eq!(err.code(), Some(1003), "{err}");

    let text = scrape_until(node.metrics_addr(), "GPU verification", |t| {
        value(t, "mamey_sigverify_signatures_total{backend=\"gpu\"}").unwrap_or(0.0) >= 21.0
    });
    assert_eq!(
        value(&text, "mamey_sigverify_backend_info{backend=\"gpu\"}"),
        Some(1.0)
    );
    assert!(value(&text, "mamey_sigverify_seconds_total{backend=\"gpu\"}").unwrap_or(0.0) > 0.0);
    assert!(value(&text, "mamey_sigverify_invalid_total{backend=\"gpu\"}").unwrap_or(0.0) >= 1.0);
    assert_eq!(
        value(&text, "mamey_sigverify_gpu_fallbacks_total"),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "mamey_sigverify_signatures_total{backend=\"cpu\"}").unwrap_or(0.0),
        0.0,
        "nothing may have been verified on the CPU"
    );
}
