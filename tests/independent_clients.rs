//! The node's APIs through clients nobody on this project wrote, so that what our own clients
//! accept is also what the rest of the world's tooling accepts:
//!
//! - `python_grpcio_client`: Python code generated from `proto/` by `grpc_tools.protoc` and the
//!   official `grpcio` runtime (`tests/clients/grpc_client.py`): `BankingService` (an issued
//!   asset, the asset list and its holders), `GetStatus`, a
//!   `Subscribe(blocks=True, from_height=1)` stream, `SubmitTransaction` of a transfer signed here,
//!   and the NOT_FOUND status with its `mamey-error-code` trailer, all checked against JSON-RPC.
//! - `python_websockets_client`: the Python `websockets` package subscribes to `newHeads`
//!   (`tests/clients/ws_client.py`); the heads are consecutive and match `mamey_getBlock`.
//! - `python_verifies_dids_and_credentials`: Python `requests`, PyJWT and gzip
//!   (`tests/clients/vc_client.py`) resolve a DID over `GET /1.0/identifiers/{did}` in the W3C
//!   shape (and its 404 and 400 errors), verify a credential issued by the CLI with the key the
//!   DID document publishes (and reject a tampered one), and read its Bitstring Status List bit:
//!   clear, then set once the claim is revoked.
//! - `promtool_checks_the_metrics`: `promtool check metrics` on a scrape of `/metrics` (when the node
//!   has a metrics endpoint, i.e. `metrics` in `DATA_DIR/endpoints.json`).
//!
//! A missing tool (python3, grpcio/grpcio-tools, websockets, requests/PyJWT, promtool) fails the test when the
//! `CI` environment variable is set, and otherwise skips it with a loud `SKIPPED:` line.
//! `scripts/test.sh` installs the Python packages.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::tools::{json_output, loud, python_has, require, run_with_limit, succeeds};
use common::{new_address, pending_nonce, transfer, wait_committed, Metrics, Node, CHAIN_ID, FEE};
use mameynode::keys;
use mameynode::modules::banking::{asset_id, Policy};
use mameynode::types::{BankCall, Payload, Transaction};
use serde_json::{json, Value};

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A dev chain in a new temporary directory (see `tests/common`) making a block every 50 ms, its
/// metrics endpoint (if this build has one) on port 0.
fn start_node() -> Node {
    Node::options()
        .block_interval_ms(50)
        .metrics(Metrics::PortZeroIfSupported)
        .start_in_temp_dir()
}

// ---------------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn python_grpcio_client() {
    if !require(
        "python3",
        succeeds("python3", &["--version"]),
        "e.g. apt-get install python3",
    ) || !require(
        "Python grpcio and grpcio-tools",
        python_has("grpc, grpc_tools"),
        "python3 -m pip install grpcio grpcio-tools",
    ) {
        return;
    }
    // Generate the Python code from the protos, as any outside user would.
    let generated = tempfile::tempdir().expect("temporary directory");
    let proto_dir = Path::new(REPO).join("proto");
    // Every package: mamey/v1 and each module's mamey/<module>/v1.
    let mut protos: Vec<PathBuf> = Vec::new();
    let mut dirs = vec![proto_dir.join("mamey")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("read a proto directory") {
            let path = e.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "proto") {
                protos.push(path);
            }
        }
    }
    protos.sort();
    assert!(
        protos
            .iter()
            .any(|p| p.ends_with("mamey/banking/v1/banking.proto")),
        "no banking.proto under proto/mamey"
    );
    let out = run_with_limit(
        Command::new("python3")
            .args(["-m", "grpc_tools.protoc", "-I"])
            .arg(&proto_dir)
            .arg(format!("--python_out={}", generated.path().display()))
            .arg(format!("--grpc_python_out={}", generated.path().display()))
            .args(&protos),
        Duration::from_secs(60),
        "grpc_tools.protoc",
    );
    assert!(
        out.status.success(),
        "grpc_tools.protoc failed on proto/ (the protos must compile with the reference \
         compiler): {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let node = start_node();
    let client = node.client();
    let faucet = node.faucet();
    let nonce = pending_nonce(&client, &keys::address_of(&faucet));
    let to = new_address();
    // An issued asset for BankingService, created before the client runs.
    let create = Transaction::sign(
        &faucet,
        CHAIN_ID,
        nonce,
        FEE,
        Payload::Bank(BankCall::CreateAsset {
            symbol: "GRPC".into(),
            name: "grpcio test".into(),
            decimals: 2,
            max_supply: None,
            initial_supply: 12_345,
            policy: Policy {
                mintable: true,
                freezable: true,
                ..Policy::default()
            },
            metadata_uri: String::new(),
        }),
    );
    client.send_transaction(&create).expect("create an asset");
    wait_committed(&client, &create.id, Duration::from_secs(20));
    let asset = asset_id(&keys::address_of(&faucet), "GRPC");
    let tx = transfer(&faucet, nonce + 1, to, 9_999);
    node.wait_height(5);

    let out = run_with_limit(
        Command::new("python3")
            .arg(Path::new(REPO).join("tests/clients/grpc_client.py"))
            .args(["--addr", &node.grpc, "--blocks", "5"])
            .args(["--tx-hex", &hex::encode(&tx.bytes)])
            .args(["--asset", &asset.to_hex()])
            .env("PYTHONPATH", generated.path()),
        Duration::from_secs(60),
        "tests/clients/grpc_client.py",
    );
    let v = json_output(&out, "tests/clients/grpc_client.py");

    let status = client.status().expect("mamey_status");
    assert_eq!(v["status"]["chain_id"], CHAIN_ID, "{v}");
    assert_eq!(
        v["status"]["genesis_hash"],
        status.genesis_hash.to_hex(),
        "{v}"
    );
    assert_eq!(v["status"]["min_fee"], status.min_fee, "{v}");

    let blocks = v["blocks"].as_array().expect("blocks array");
    assert_eq!(blocks.len(), 5, "{v}");
    for (i, b) in blocks.iter().enumerate() {
        let height = i as u64 + 1;
        assert_eq!(
            b["height"], height,
            "Subscribe from_height=1 yields 1, 2, 3, …: {v}"
        );
        let stored = client.block(height).expect("mamey_getBlock");
        assert_eq!(b["hash"], stored.hash.to_hex(), "block {height}");
        assert_eq!(
            b["parent_hash"],
            stored.parent_hash.to_hex(),
            "block {height}"
        );
        assert_eq!(
            b["state_root"],
            stored.state_root.to_hex(),
            "block {height}"
        );
        assert_eq!(b["tx_root"], stored.tx_root.to_hex(), "block {height}");
        assert_eq!(b["proposer"], stored.proposer.to_string(), "block {height}");
        assert_eq!(b["timestamp_ms"], stored.timestamp_ms, "block {height}");
        assert_eq!(b["tx_count"], stored.transactions.len(), "block {height}");
    }

    let submitted = &v["submitted"];
    assert_eq!(submitted["id"], tx.id.to_hex(), "{v}");
    assert_eq!(submitted["status"], "TX_STATUS_FINALIZED", "{v}");
    let seen = client.transaction(&tx.id).expect("mamey_getTransaction");
    assert_eq!(submitted["height"], seen.height.expect("height"), "{v}");
    assert_eq!(
        submitted["block_hash"],
        seen.block_hash.expect("block_hash").to_hex(),
        "{v}"
    );
    assert_eq!(client.account(&to).expect("account").balance, 9_999);

    let a = &v["asset"];
    assert_eq!(a["id"], asset.to_hex(), "BankingService.GetAsset: {v}");
    assert_eq!(a["symbol"], "GRPC", "{v}");
    assert_eq!(a["decimals"], 2, "{v}");
    assert_eq!(a["supply"], "12345", "amounts are decimal strings: {v}");
    assert_eq!(a["issuer"], keys::address_of(&faucet).to_string(), "{v}");
    assert_eq!(a["freezable"], true, "{v}");
    assert_eq!(a["clawback"], false, "{v}");
    assert_eq!(a["listed"], json!([asset.to_hex()]), "ListAssets: {v}");
    assert_eq!(
        a["holders"],
        json!([[keys::address_of(&faucet).to_string(), "12345"]]),
        "GetHolders: {v}"
    );

    let nf = &v["not_found"];
    assert_eq!(nf["code"], "NOT_FOUND", "GetBlock far ahead: {v}");
    assert_eq!(
        nf["mamey_error_code"], "3000",
        "grpcio sees the mamey-error-code metadata: {v}"
    );
}

#[test]
fn python_websockets_client() {
    if !require(
        "python3",
        succeeds("python3", &["--version"]),
        "e.g. apt-get install python3",
    ) || !require(
        "Python websockets",
        python_has("websockets"),
        "python3 -m pip install websockets",
    ) {
        return;
    }
    let node = start_node();
    let out = run_with_limit(
        Command::new("python3")
            .arg(Path::new(REPO).join("tests/clients/ws_client.py"))
            .args(["--url", &format!("ws://{}", node.rpc), "--heads", "3"]),
        Duration::from_secs(60),
        "tests/clients/ws_client.py",
    );
    let v = json_output(&out, "tests/clients/ws_client.py");
    assert!(
        v["subscription"].is_string() || v["subscription"].is_u64(),
        "{v}"
    );
    let heads = v["heads"].as_array().expect("heads array");
    assert_eq!(heads.len(), 3, "{v}");
    let client = node.client();
    for (i, h) in heads.iter().enumerate() {
        let height = h["height"]
            .as_u64()
            .unwrap_or_else(|| panic!("height is an integer: {v}"));
        if i > 0 {
            assert_eq!(
                height,
                heads[i - 1]["height"].as_u64().expect("height") + 1,
                "consecutive heads: {v}"
            );
            assert_eq!(h["parent_hash"], heads[i - 1]["hash"], "linked heads: {v}");
        }
        let stored = client.block(height).expect("mamey_getBlock");
        assert_eq!(h["hash"], stored.hash.to_hex(), "head {height}: {v}");
    }
}

/// The trimmed stdout of a CLI command that must succeed.
fn cli_ok(args: &[&str]) -> String {
    common::stdout_of(&common::cli(args), &args.join(" "))
}

#[test]
fn python_verifies_dids_and_credentials() {
    if !require(
        "python3",
        succeeds("python3", &["--version"]),
        "e.g. apt-get install python3",
    ) || !require(
        "Python requests, PyJWT and cryptography",
        python_has("requests, jwt, cryptography"),
        "python3 -m pip install requests pyjwt cryptography",
    ) {
        return;
    }
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("data");
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let faucet = dir.join("dev/faucet.key");
    let faucet = faucet.to_str().expect("utf-8");
    let key = root.path().join("kyc.key");
    let key = key.to_str().expect("utf-8");
    let kyc = cli_ok(&["keys", "new", "--out", key]);
    let subject = new_address();
    let w = ["--rpc", url.as_str(), "--wait"];
    let run = |args: &[&str]| cli_ok(&[args, &w[..]].concat());
    run(&[
        "transfer", "--key", faucet, "--to", &kyc, "--amount", "100000",
    ]);
    let did = run(&["identity", "did", "create", "--key", key]);
    run(&[
        "identity", "issuer", "add", "--key", faucet, "--issuer", &kyc, "--types", "kyc",
    ]);
    let token = run(&[
        "identity",
        "vc",
        "issue",
        "--key",
        key,
        "--did",
        &did,
        "--subject",
        &subject.to_string(),
        "--type",
        "kyc",
        "--level",
        "2",
    ]);
    let vc = root.path().join("vc.jwt");
    std::fs::write(&vc, &token).expect("write the credential");
    let check = || {
        let out = run_with_limit(
            Command::new("python3")
                .arg(Path::new(REPO).join("tests/clients/vc_client.py"))
                .args(["--url", &url, "--vc", vc.to_str().expect("utf-8")]),
            Duration::from_secs(60),
            "tests/clients/vc_client.py",
        );
        json_output(&out, "tests/clients/vc_client.py")
    };
    let v = check();
    assert_eq!(v["resolution_status"], 200, "{v}");
    assert_eq!(
        v["resolution_keys"],
        json!([
            "didDocument",
            "didDocumentMetadata",
            "didResolutionMetadata"
        ]),
        "{v}"
    );
    assert_eq!(v["not_found"], json!([404, "notFound"]), "{v}");
    assert_eq!(v["invalid"], json!([400, "invalidDid"]), "{v}");
    assert_eq!(v["signature_verified"], true, "{v}");
    assert_eq!(v["tampered_rejected"], true, "{v}");
    assert_eq!(
        (v["issuer"].clone(), v["subject_level"].clone()),
        (json!(did), json!(2)),
        "{v}"
    );
    assert_eq!(
        v["status"],
        json!({"revocation": false, "suspension": false}),
        "{v}"
    );
    // Revoked on chain: the independent verifier sees the bit set.
    let payload = token.split('.').nth(1).expect("a JWS");
    let claim = {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url");
        let c: Value = serde_json::from_slice(&body).expect("JSON");
        c["id"]
            .as_str()
            .expect("id")
            .trim_start_matches("urn:mamey:claim:")
            .to_string()
    };
    run(&[
        "identity", "claim", "revoke", "--key", key, "--claim", &claim,
    ]);
    let v = check();
    assert_eq!(
        v["status"],
        json!({"revocation": true, "suspension": false}),
        "{v}"
    );
}

#[test]
fn promtool_checks_the_metrics() {
    let node = start_node();
    let Some(metrics) = node.metrics.clone() else {
        loud(
            "SKIPPED: the node has no metrics endpoint (no \"metrics\" in endpoints.json), \
             nothing for promtool to check",
        );
        return;
    };
    if !require(
        "promtool",
        succeeds("promtool", &["--version"]),
        "Debian/Ubuntu: apt-get install prometheus; or a release from https://prometheus.io/download/",
    ) {
        return;
    }
    // Some activity first, so that counters and histograms have samples.
    let client = node.client();
    let faucet = node.faucet();
    let nonce = pending_nonce(&client, &keys::address_of(&faucet));
    let tx = transfer(&faucet, nonce, new_address(), 5);
    client.send_transaction(&tx).expect("mamey_sendTransaction");
    let _ = client.block(1_000_000);
    node.wait_height(client.status().expect("status").height + 3);

    // The Prometheus text format, as Prometheus itself asks for it.
    let url = format!("http://{metrics}/metrics");
    let response = ureq::get(&url)
        .set("Accept", "text/plain;version=0.0.4")
        .timeout(Duration::from_secs(10))
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let body = response.into_string().expect("metrics body");
    assert!(!body.trim().is_empty(), "GET {url} returned nothing");
    let scrape = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(scrape.path(), &body).expect("write scrape");
    let out = run_with_limit(
        Command::new("sh")
            .arg("-c")
            .arg("promtool check metrics < \"$1\"")
            .arg("sh")
            .arg(scrape.path()),
        Duration::from_secs(60),
        "promtool check metrics",
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}):\nstdout: {}\nstderr: {}\n--- scrape ---\n{body}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
