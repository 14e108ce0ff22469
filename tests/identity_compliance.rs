//! Identity and compliance end to end, on a real node process, as a bank, a KYC provider and a
//! regulator would use them (INTERFACES §12):
//!
//! - `kyc_gated_asset_end_to_end`: the faucet (the dev chain's identity and compliance authority)
//!   trusts a KYC provider; a bank creates an asset whose receivers need KYC level 2 and senders
//!   KYC level 1, with a travel-rule threshold; transfers to holders without the credential are
//!   refused on the record with the rule that failed (code, message, fee paid, `refused` event);
//!   the provider issues a verifiable credential with the CLI, which `vc verify` accepts; the
//!   travel rule, the blocked list and the dry run; revoking the credential stops its holder's
//!   transfers at once and `vc verify` then rejects it; a redemption to the issuer still goes;
//!   the regulator's CSV and JSON report; gRPC `IdentityService` and `ComplianceService`; then
//!   kill -9 and a restart keep every rule, claim and record.
//! - `did_lifecycle_over_http`: create, update with a JSON document, rotate keys, deactivate;
//!   `GET /1.0/identifiers/{did}` with `versionId` and `versionTime`, 404 and 400 in the W3C
//!   shape, 410 once deactivated; a change by a non-controller refused with 10302.

mod common;

use std::time::Duration;

use common::{cli, cli_fails as fails, cli_ok as ok, rpc, Node};
use mameynode::grpc::compliance_proto::compliance_service_client::ComplianceServiceClient;
use mameynode::grpc::compliance_proto::{CheckTransferRequest, ReportRequest};
use mameynode::grpc::identity_proto::identity_service_client::IdentityServiceClient;
use mameynode::grpc::identity_proto::ResolveRequest;
use serde_json::{json, Value};

/// The refused transaction named in a `--wait` failure, as `mamey_getTransaction` shows it.
fn refusal(node: &Node, stderr: &str) -> Value {
    let id = stderr
        .split("transaction ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no transaction id in {stderr:?}"));
    rpc(node, "mamey_getTransaction", json!([id]))
}

fn http_get(url: &str) -> (u16, Value) {
    match ureq::get(url).call() {
        Ok(r) => (r.status(), r.into_json().expect("JSON body")),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().expect("JSON body")),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

struct Keys {
    root: tempfile::TempDir,
}

impl Keys {
    /// A new key file `name.key`; its address.
    fn new_key(&self, name: &str) -> (String, String) {
        let path = self.root.path().join(format!("{name}.key"));
        let path = path.to_str().expect("utf-8 path").to_string();
        let address = ok(&["keys", "new", "--out", &path]);
        (path, address)
    }
}

#[test]
fn kyc_gated_asset_end_to_end() {
    let keys = Keys {
        root: tempfile::tempdir().expect("temporary directory"),
    };
    let dir = keys.root.path().join("data");
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let faucet = dir
        .join("dev/faucet.key")
        .to_str()
        .expect("utf-8")
        .to_string();
    let w = ["--rpc", url.as_str(), "--wait"];
    let run = |args: &[&str]| ok(&[args, &w[..]].concat());
    let refused = |args: &[&str]| fails(&[args, &w[..]].concat());

    let (kyc_key, kyc) = keys.new_key("kyc");
    let (bank_key, bank) = keys.new_key("bank");
    let (alice_key, alice) = keys.new_key("alice");
    let (bob_key, bob) = keys.new_key("bob");
    for to in [&kyc, &bank, &alice, &bob] {
        run(&[
            "transfer", "--key", &faucet, "--to", to, "--amount", "1000000",
        ]);
    }
    // The provider's DID (its key signs credentials); the authority trusts it for KYC.
    let kyc_did = run(&["identity", "did", "create", "--key", &kyc_key]);
    assert!(kyc_did.starts_with("did:mamey:"), "{kyc_did}");
    let e = refused(&[
        "identity", "issuer", "add", "--key", &bank_key, "--issuer", &kyc, "--types", "kyc",
    ]);
    assert!(e.contains("not the identity authority"), "{e}");
    run(&[
        "identity",
        "issuer",
        "add",
        "--key",
        &faucet,
        "--issuer",
        &kyc,
        "--types",
        "kyc,jurisdiction",
        "--name",
        "KYC Co",
    ]);

    // The bank's KYC-gated asset.
    let asset = run(&[
        "asset",
        "create",
        "--key",
        &bank_key,
        "--symbol",
        "EURB",
        "--decimals",
        "2",
        "--freezable",
        "--clawback",
    ]);
    run(&[
        "compliance",
        "rule",
        "set",
        "--key",
        &bank_key,
        "--asset",
        &asset,
        "--receiver-claim",
        "kyc:2",
        "--sender-claim",
        "kyc:1",
        "--travel-threshold",
        "100000",
    ]);
    let rules = rpc(&node, "compliance_getRules", json!([asset]));
    assert_eq!(
        rules["description"],
        "sender:kyc>=1; receiver:kyc>=2; travel_threshold=100000"
    );

    // Minting to alice before she holds a credential: refused, on the record.
    let e = refused(&[
        "asset", "mint", "--key", &bank_key, "--asset", &asset, "--to", &alice, "--amount",
        "500000",
    ]);
    assert!(e.contains("does not meet the rule \"kyc>=2\""), "{e}");
    let tx = refusal(&node, &e);
    assert_eq!(tx["status"], "rejected");
    assert_eq!(tx["error_code"], 10413);
    assert!(
        tx["height"].as_u64().is_some() && tx["fee_paid"].as_u64() == Some(1),
        "{tx}"
    );
    assert_eq!(tx["events"][0]["type"], "refused");
    assert_eq!(tx["events"][0]["rule"], "receiver_condition");

    // The provider credentials alice (level 2) with a verifiable credential.
    let vc_path = keys.root.path().join("alice.jwt");
    let token = run(&[
        "identity",
        "vc",
        "issue",
        "--key",
        &kyc_key,
        "--did",
        &kyc_did,
        "--subject",
        &alice,
        "--type",
        "kyc",
        "--level",
        "2",
    ]);
    std::fs::write(&vc_path, &token).expect("write the credential");
    let vc_file = vc_path.to_str().expect("utf-8");
    let verified: Value = serde_json::from_str(&ok(&[
        "identity", "vc", "verify", "--vc", vc_file, "--rpc", &url,
    ]))
    .expect("JSON");
    assert_eq!(verified["verified"], true, "{verified}");
    let claim = verified["id"]
        .as_str()
        .expect("id")
        .trim_start_matches("urn:mamey:claim:")
        .to_string();

    run(&[
        "asset", "mint", "--key", &bank_key, "--asset", &asset, "--to", &alice, "--amount",
        "500000",
    ]);
    // Bob has no credential, then one of level 1: refused; level 2: received.
    let e = refused(&[
        "transfer", "--key", &alice_key, "--to", &bob, "--amount", "10", "--asset", &asset,
    ]);
    assert_eq!(refusal(&node, &e)["error_code"], 10413);
    run(&[
        "identity",
        "claim",
        "issue",
        "--key",
        &kyc_key,
        "--subject",
        &bob,
        "--type",
        "kyc",
        "--level",
        "1",
    ]);
    let e = refused(&[
        "transfer", "--key", &alice_key, "--to", &bob, "--amount", "10", "--asset", &asset,
    ]);
    assert_eq!(refusal(&node, &e)["error_code"], 10413);
    let dry = rpc(
        &node,
        "compliance_checkTransfer",
        json!([{"asset": asset, "from": alice, "to": bob, "amount": "10"}]),
    );
    assert_eq!(
        (dry["allowed"].clone(), dry["reason"].clone()),
        (json!(false), json!("receiver_condition"))
    );
    run(&[
        "identity",
        "claim",
        "issue",
        "--key",
        &kyc_key,
        "--subject",
        &bob,
        "--type",
        "kyc",
        "--level",
        "2",
    ]);
    let dry = rpc(
        &node,
        "compliance_checkTransfer",
        json!([{"asset": asset, "from": alice, "to": bob, "amount": "10"}]),
    );
    assert_eq!(dry["allowed"], true, "{dry}");
    let id = run(&[
        "transfer", "--key", &alice_key, "--to", &bob, "--amount", "10", "--asset", &asset,
    ]);
    let tx = rpc(&node, "mamey_getTransaction", json!([id]));
    let allowed = tx["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["type"] == "allowed")
        .cloned();
    assert_eq!(
        allowed.expect("an allowed event")["rules"],
        "sender:kyc>=1,receiver:kyc>=2"
    );

    // Travel rule: at the threshold a transfer carries the record.
    let e = refused(&[
        "transfer", "--key", &alice_key, "--to", &bob, "--amount", "100000", "--asset", &asset,
    ]);
    assert_eq!(refusal(&node, &e)["error_code"], 10417);
    let payload = "ab".repeat(32);
    run(&[
        "transfer",
        "--key",
        &alice_key,
        "--to",
        &bob,
        "--amount",
        "100000",
        "--asset",
        &asset,
        "--travel-originator",
        "LEI:5493001KJTIIGC8Y1R12",
        "--travel-beneficiary",
        "LEI:529900T8BM49AURSDO55",
        "--travel-payload-hash",
        &payload,
    ]);

    // The blocked list: bob can neither receive nor send.
    run(&[
        "compliance",
        "block",
        "--key",
        &faucet,
        "--address",
        &bob,
        "--reason",
        "OFAC SDN",
    ]);
    let e = refused(&[
        "transfer", "--key", &alice_key, "--to", &bob, "--amount", "1", "--asset", &asset,
    ]);
    assert_eq!(refusal(&node, &e)["error_code"], 10411);
    let e = refused(&[
        "transfer", "--key", &bob_key, "--to", &alice, "--amount", "1", "--asset", &asset,
    ]);
    assert!(e.contains("blocked list"), "{e}");
    run(&["compliance", "unblock", "--key", &faucet, "--address", &bob]);

    // Revoked: alice's transfers stop at once, and her credential no longer verifies.
    run(&[
        "identity", "claim", "revoke", "--key", &kyc_key, "--claim", &claim,
    ]);
    let e = refused(&[
        "transfer", "--key", &alice_key, "--to", &bob, "--amount", "1", "--asset", &asset,
    ]);
    assert_eq!(refusal(&node, &e)["error_code"], 10412);
    let e = fails(&["identity", "vc", "verify", "--vc", vc_file, "--rpc", &url]);
    assert!(e.contains("does not verify"), "{e}");
    let out = cli(&["identity", "vc", "verify", "--vc", vc_file, "--rpc", &url]);
    let checks: Value = serde_json::from_slice(&out.stdout).expect("JSON checks");
    assert_eq!(checks["checks"]["revocation"]["ok"], false);
    assert_eq!(checks["checks"]["signature"]["ok"], true);
    // A tampered credential fails its signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = parts[1].replacen('e', "f", 1);
    std::fs::write(&vc_path, parts.join(".")).expect("write");
    let out = cli(&["identity", "vc", "verify", "--vc", vc_file, "--rpc", &url]);
    assert!(!out.status.success());
    // A redemption to the issuer still goes; the issuer freezes and claws back bob.
    run(&[
        "transfer", "--key", &alice_key, "--to", &bank, "--amount", "5", "--asset", &asset,
    ]);
    run(&[
        "asset", "freeze", "--key", &bank_key, "--asset", &asset, "--holder", &bob,
    ]);
    run(&[
        "asset", "clawback", "--key", &bank_key, "--asset", &asset, "--from", &bob, "--amount",
        "10",
    ]);

    // The regulator's report.
    let csv = ok(&[
        "compliance",
        "report",
        "--asset",
        &asset,
        "--format",
        "csv",
        "--rpc",
        &url,
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "height,time_ms,transaction,index,sender,module,event,from,to,amount,rule"
    );
    let count = |event: &str| {
        lines
            .iter()
            .filter(|l| l.split(',').nth(6) == Some(event))
            .count()
    };
    assert_eq!(count("refused"), 7, "{csv}");
    assert!(count("allowed") >= 3 && count("transfer") >= 3, "{csv}");
    assert_eq!(
        (
            count("frozen"),
            count("clawback"),
            count("rules_set"),
            count("minted")
        ),
        (1, 1, 1, 1),
        "{csv}"
    );
    assert!(
        csv.contains("receiver_condition")
            && csv.contains("travel_rule_required")
            && csv.contains("blocked_address")
    );
    let json_report: Value = serde_json::from_str(&ok(&[
        "compliance",
        "report",
        "--asset",
        &asset,
        "--format",
        "json",
        "--rpc",
        &url,
    ]))
    .expect("JSON report");
    assert_eq!(
        json_report["rows"].as_array().expect("rows").len(),
        lines.len() - 1
    );

    // gRPC.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let grpc = format!("http://{}", node.grpc);
    let (resolved, check, report) = runtime.block_on(async {
        let mut id = IdentityServiceClient::connect(grpc.clone())
            .await
            .expect("connect");
        let r = id
            .resolve(ResolveRequest {
                did: kyc_did.clone(),
                ..Default::default()
            })
            .await
            .expect("Resolve")
            .into_inner();
        let mut c = ComplianceServiceClient::connect(grpc)
            .await
            .expect("connect");
        let check = c
            .check_transfer(CheckTransferRequest {
                asset: asset.clone(),
                from: alice.clone(),
                to: bob.clone(),
                amount: "1".into(),
                travel_record: false,
            })
            .await
            .expect("CheckTransfer")
            .into_inner();
        let report = c
            .report(ReportRequest {
                asset: asset.clone(),
                from_height: 1,
                to_height: 0,
            })
            .await
            .expect("Report")
            .into_inner();
        (r, check, report)
    });
    assert!(resolved.error.is_empty() && resolved.did_document_json.contains(&kyc_did));
    assert_eq!(
        (check.allowed, check.code, check.reason.as_str()),
        (false, 10412, "sender_condition")
    );
    assert_eq!(report.rows.len(), lines.len() - 1);

    // Kill -9 and restart: every rule, claim, DID and record is still there.
    let before = csv.clone();
    node.kill9();
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    assert_eq!(
        ok(&["compliance", "report", "--asset", &asset, "--rpc", &url]),
        before
    );
    assert_eq!(rpc(&node, "compliance_getRules", json!([asset])), rules);
    let claims = rpc(&node, "identity_getClaims", json!([bob]));
    assert_eq!(claims["items"].as_array().expect("claims").len(), 2);
    // (bob is frozen now: alice tries the provider, and her own revoked credential refuses it.)
    let e = fails(&[
        "transfer", "--key", &alice_key, "--to", &kyc, "--amount", "1", "--asset", &asset, "--rpc",
        &url, "--wait",
    ]);
    let tx = refusal(&node, &e);
    assert_eq!(tx["error_code"], 10412, "{e} {tx}");
    let (status, doc) = http_get(&format!("{url}/1.0/identifiers/{kyc_did}"));
    assert_eq!(
        (status, doc["didDocument"]["id"].clone()),
        (200, json!(kyc_did))
    );
}

#[test]
fn did_lifecycle_over_http() {
    let keys = Keys {
        root: tempfile::tempdir().expect("temporary directory"),
    };
    let dir = keys.root.path().join("data");
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let faucet = dir
        .join("dev/faucet.key")
        .to_str()
        .expect("utf-8")
        .to_string();
    let w = ["--rpc", url.as_str(), "--wait"];
    let run = |args: &[&str]| ok(&[args, &w[..]].concat());
    let (holder_key, holder) = keys.new_key("holder");
    let (other_key, other) = keys.new_key("other");
    let (new_key, _) = keys.new_key("rotated");
    for to in [&holder, &other] {
        run(&[
            "transfer", "--key", &faucet, "--to", to, "--amount", "100000",
        ]);
    }
    let did = run(&["identity", "did", "create", "--key", &holder_key]);
    let resolve = |q: &str| http_get(&format!("{url}/1.0/identifiers/{did}{q}"));
    let (status, v1) = resolve("");
    assert_eq!(status, 200);
    for k in [
        "didDocument",
        "didResolutionMetadata",
        "didDocumentMetadata",
    ] {
        assert!(v1.get(k).is_some(), "{k} missing: {v1}");
    }
    assert_eq!(v1["didDocumentMetadata"]["versionId"], "1");
    assert_eq!(
        v1["didDocument"]["verificationMethod"][0]["publicKeyJwk"]["crv"],
        "Ed25519"
    );
    let created = v1["didDocumentMetadata"]["created"]
        .as_str()
        .expect("created")
        .to_string();

    // Update with a document: a second key for assertions, a service, the other as co-controller.
    std::thread::sleep(Duration::from_millis(1100));
    let doc = json!({
        "controller": [holder, other],
        "verificationMethod": [
            {"id": "#key-1", "type": "JsonWebKey2020", "publicKeyJwk": v1["didDocument"]["verificationMethod"][0]["publicKeyJwk"]},
            {"id": "#signing", "type": "Multikey", "publicKeyMultibase": "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"},
        ],
        "authentication": ["#key-1"],
        "assertionMethod": ["#signing"],
        "service": [{"id": "#files", "type": "LinkedDomains", "serviceEndpoint": "https://bank.example"}],
    });
    let doc_path = keys.root.path().join("doc.json");
    std::fs::write(&doc_path, doc.to_string()).expect("write");
    run(&[
        "identity",
        "did",
        "update",
        "--key",
        &holder_key,
        "--did",
        &did,
        "--document",
        doc_path.to_str().expect("utf-8"),
    ]);
    let (_, v2) = resolve("");
    assert_eq!(v2["didDocumentMetadata"]["versionId"], "2");
    assert_eq!(
        v2["didDocument"]["service"][0]["serviceEndpoint"],
        "https://bank.example"
    );
    assert_eq!(
        v2["didDocument"]["assertionMethod"][0],
        format!("{did}#signing")
    );
    // Version 1 by id, and by the time it was created.
    let (_, old) = resolve("?versionId=1");
    assert_eq!(old["didDocumentMetadata"]["nextVersionId"], "2");
    assert!(old["didDocument"].get("service").is_none());
    let (_, at) = resolve(&format!("?versionTime={created}"));
    assert_eq!(at["didDocumentMetadata"]["versionId"], "1");

    // A bad document is refused before it is sent; the co-controller rotates the keys.
    let p256 = json!({"verificationMethod": [{"id": "#k", "type": "JsonWebKey2020", "publicKeyJwk": {"kty": "EC", "crv": "P-256"}}]});
    std::fs::write(&doc_path, p256.to_string()).expect("write");
    let e = fails(&[
        "identity",
        "did",
        "update",
        "--key",
        &holder_key,
        "--did",
        &did,
        "--document",
        doc_path.to_str().expect("utf-8"),
        "--rpc",
        &url,
    ]);
    assert!(e.contains("unknown key type"), "{e}");
    run(&[
        "identity",
        "did",
        "rotate-key",
        "--key",
        &other_key,
        "--did",
        &did,
        "--new-key",
        &new_key,
    ]);
    let (_, v3) = resolve("");
    assert_eq!(
        v3["didDocument"]["verificationMethod"]
            .as_array()
            .expect("methods")
            .len(),
        1
    );
    assert_eq!(
        v3["didDocument"]["verificationMethod"][0]["id"],
        format!("{did}#key-3")
    );
    assert_eq!(
        v3["didDocument"]["service"][0]["serviceEndpoint"],
        "https://bank.example"
    );

    // Not a controller: refused with its code.
    let stranger = keys.new_key("stranger");
    run(&[
        "transfer",
        "--key",
        &faucet,
        "--to",
        &stranger.1,
        "--amount",
        "100000",
    ]);
    let e = fails(&[
        "identity",
        "did",
        "deactivate",
        "--key",
        &stranger.0,
        "--did",
        &did,
        "--rpc",
        &url,
        "--wait",
    ]);
    assert!(e.contains("is not a controller"), "{e}");

    // Deactivated: 410 with the document, never "not found"; later changes are refused.
    run(&[
        "identity",
        "did",
        "deactivate",
        "--key",
        &holder_key,
        "--did",
        &did,
    ]);
    let (status, gone) = resolve("");
    assert_eq!(status, 410);
    assert_eq!(gone["didDocumentMetadata"]["deactivated"], true);
    let e = fails(&[
        "identity",
        "did",
        "deactivate",
        "--key",
        &holder_key,
        "--did",
        &did,
        "--rpc",
        &url,
        "--wait",
    ]);
    assert!(e.contains("deactivated"), "{e}");
    // Not found and invalid, in the W3C shape.
    let (status, nf) = http_get(&format!(
        "{url}/1.0/identifiers/did:mamey:{}",
        "0".repeat(32)
    ));
    assert_eq!(
        (status, nf["didResolutionMetadata"]["error"].clone()),
        (404, json!("notFound"))
    );
    let (status, bad) = http_get(&format!("{url}/1.0/identifiers/did:mamey:nothex"));
    assert_eq!(
        (status, bad["didResolutionMetadata"]["error"].clone()),
        (400, json!("invalidDid"))
    );
    let (status, other_method) = http_get(&format!("{url}/1.0/identifiers/did:web:example.com"));
    assert_eq!(
        (
            status,
            other_method["didResolutionMetadata"]["error"].clone()
        ),
        (501, json!("methodNotSupported"))
    );
}
