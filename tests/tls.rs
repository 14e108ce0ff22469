//! TLS on every API port, end to end with real node processes (issue #16, INTERFACES §13):
//!
//! - `apis_over_tls_with_clients_nobody_here_wrote`: a node started with `--tls-cert/--tls-key`
//!   serves JSON-RPC, REST, WebSocket (wss), gRPC and metrics over TLS 1.3 to Python `requests`,
//!   `ssl`, grpcio and `websockets` and to `curl --tlsv1.3` (tests/clients/tls_client.py);
//!   TLS 1.2, 1.0/1.1, plaintext and clients that do not trust the certificate are refused, and
//!   the node keeps running.
//! - `certificates_reload_on_sighup`: new certificate files and a SIGHUP: new connections get the
//!   new certificate, the node never stops; a bad file keeps the one in use.
//! - `a_public_address_without_tls_is_refused`: binding a non-loopback API address without TLS
//!   stops the node at start with a message naming `allow_plaintext`.
//!
//! A missing tool (python3 with grpcio, requests and websockets; curl) fails the test when `CI`
//! is set and skips it loudly otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::tools::{json_output, python_has, require, run_with_limit, succeeds};
use common::{cli_fails, cli_ok, Metrics, Node};
use mameynode::rpc::client::RpcClient;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A development certificate for 127.0.0.1 in `dir` (`mameynode tls self-signed`).
fn dev_cert(dir: &Path) -> PathBuf {
    let out = cli_ok(&["tls", "self-signed", "--out", &dir.to_string_lossy()]);
    assert!(out.contains("cert.pem"), "{out}");
    dir.to_path_buf()
}

fn tls_node(certs: &Path) -> Node {
    Node::options()
        .block_interval_ms(50)
        .metrics(Metrics::PortZero)
        .tls(certs)
        .start_in_temp_dir()
}

#[test]
fn apis_over_tls_with_clients_nobody_here_wrote() {
    if !require(
        "python3 with grpcio, requests and websockets",
        python_has("grpc, requests, websockets"),
        "python3 -m pip install grpcio requests websockets",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let certs = dev_cert(&tmp.path().join("certs"));
    let mut node = tls_node(&certs);
    let ca = certs.join("cert.pem");
    assert!(node.url.starts_with("https://"));

    // Our own client, over TLS, trusting the certificate.
    let status = node.client().status().expect("mamey_status over TLS");
    // A plaintext client gets nothing from the TLS port.
    assert!(RpcClient::new(&format!("http://{}", node.rpc))
        .status()
        .is_err());

    let script = Path::new(REPO).join("tests/clients/tls_client.py");
    let out = run_with_limit(
        Command::new("python3")
            .arg(&script)
            .args(["--rpc", &node.rpc, "--grpc", &node.grpc])
            .args(["--metrics", node.metrics_addr()])
            .arg("--ca")
            .arg(&ca),
        Duration::from_secs(90),
        "tls_client.py",
    );
    let v = json_output(&out, "tls_client.py");
    assert_eq!(v["requests_status"]["chain_id"], status.chain_id, "{v}");
    assert_eq!(v["rest_status"], 200, "{v}");
    assert_eq!(v["untrusted_refused"], true, "{v}");
    assert_eq!(v["tls13"], "TLSv1.3", "{v}");
    for old in ["tls12", "tls10_11"] {
        let seen = v[old].as_str().unwrap_or_default();
        assert!(seen.starts_with("refused"), "{old} was not refused: {v}");
    }
    let plaintext = v["plaintext"].as_str().unwrap_or_default();
    assert!(
        !plaintext.contains("HTTP/1.") && !plaintext.contains("result"),
        "a plaintext request to the TLS port got an HTTP answer: {plaintext:?}"
    );
    assert_eq!(v["grpc_health"], "0801", "gRPC health over TLS: {v}");
    assert!(v["grpc_status_bytes"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["metrics_status"], 200, "{v}");
    assert_eq!(v["metrics_has_stage_counter"], true, "{v}");
    assert!(v["wss_height"].as_u64().unwrap_or(0) >= 1, "{v}");

    if require(
        "curl",
        succeeds("curl", &["--version"]),
        "apt-get install curl",
    ) {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"mamey_status","params":[]}"#;
        let curl = |extra: &[&str]| {
            Command::new("curl")
                .args(["-sS", "--max-time", "10", "--cacert"])
                .arg(&ca)
                .args(extra)
                .args(["-H", "content-type: application/json", "-d", body])
                .arg(format!("https://{}/", node.rpc))
                .output()
                .expect("run curl")
        };
        let ok = curl(&["--tlsv1.3"]);
        let text = String::from_utf8_lossy(&ok.stdout);
        assert!(
            ok.status.success() && text.contains("chain_id"),
            "curl --tlsv1.3: {text} {ok:?}"
        );
        let old = curl(&["--tlsv1.2", "--tls-max", "1.2"]);
        assert!(
            !old.status.success(),
            "curl with TLS 1.2 at most was served: {old:?}"
        );
    }
    node.assert_alive();
}

#[test]
fn certificates_reload_on_sighup() {
    let tmp = tempfile::tempdir().unwrap();
    let certs = dev_cert(&tmp.path().join("served"));
    let next = dev_cert(&tmp.path().join("next"));
    // Copies: the node keeps reading `served/`.
    let old_ca = tmp.path().join("old.pem");
    let new_ca = tmp.path().join("new.pem");
    std::fs::copy(certs.join("cert.pem"), &old_ca).unwrap();
    std::fs::copy(next.join("cert.pem"), &new_ca).unwrap();
    let mut node = tls_node(&certs);
    let trusting = |ca: &Path| RpcClient::trusting(&node.url, ca).unwrap().status();
    assert!(trusting(&old_ca).is_ok());
    assert!(
        trusting(&new_ca).is_err(),
        "a certificate the node does not serve was accepted"
    );

    let hup = |pid: u32| {
        assert!(Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    // A broken file first: the certificate in use stays.
    std::fs::write(certs.join("cert.pem"), "not a certificate").unwrap();
    hup(node.pid());
    common::wait_for(
        "the node to log the failed reload",
        Duration::from_secs(10),
        || node.log().contains("TLS certificate not reloaded"),
    );
    assert!(trusting(&old_ca).is_ok());

    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(next.join(f), certs.join(f)).unwrap();
    }
    hup(node.pid());
    common::wait_for(
        "new connections to get the new certificate",
        Duration::from_secs(10),
        || trusting(&new_ca).is_ok(),
    );
    assert!(trusting(&old_ca).is_err());
    node.assert_alive();
}

#[test]
fn a_public_address_without_tls_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let err = cli_fails(&[
        "run",
        "--dev",
        "--data-dir",
        &dir.to_string_lossy(),
        "--rpc-listen",
        "0.0.0.0:0",
        "--grpc-listen",
        "127.0.0.1:0",
        "--quic-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert!(
        err.contains("rpc.listen") && err.contains("allow_plaintext"),
        "unexpected refusal: {err}"
    );
}
