//! Authentication, roles, quotas and the audit log, end to end with real node processes (issue
//! #16, INTERFACES §13):
//!
//! - `every_route_for_every_role`: API keys made by `mameynode access key new` while the node runs
//!   and JWTs minted by PyJWT (RS256, ES256, EdDSA; tests/clients/jwt_tokens.py) call every
//!   JSON-RPC method of the node (the OpenAPI document lists them, so REST routes are covered
//!   too) and are allowed or refused (4001 / 4003) exactly as the policy table says; REST answers
//!   401/403, gRPC UNAUTHENTICATED/PERMISSION_DENIED; bad tokens and revoked keys are refused;
//!   the audit log has the admin calls and the refusals.
//! - `quotas_and_slow_clients`: over quota, JSON-RPC says 4029 with `retry_after_ms`, REST 429
//!   with `Retry-After`, gRPC RESOURCE_EXHAUSTED with `retry-after`; slow and oversize headers
//!   are cut off; the node keeps serving.
//!
//! A missing python3 with PyJWT and cryptography fails the test under CI and skips it elsewhere.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tools::{json_output, python_has, require, run_with_limit};
use common::{cli_ok, wait_for, Node};
use mameynode::access::policy::Policy;
use mameynode::access::Role;
use mameynode::rpc::client::RpcClient;
use serde_json::{json, Value};

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "mameynode";

/// Mints the test tokens and writes the issuer's JWKS to `jwks`.
fn mint_tokens(jwks: &Path) -> BTreeMap<String, String> {
    let script = Path::new(REPO).join("tests/clients/jwt_tokens.py");
    let out = run_with_limit(
        Command::new("python3")
            .arg(script)
            .arg("--jwks")
            .arg(jwks)
            .args(["--issuer", ISSUER, "--audience", AUDIENCE]),
        Duration::from_secs(60),
        "jwt_tokens.py",
    );
    serde_json::from_value(json_output(&out, "jwt_tokens.py")).expect("name → token")
}

fn new_key(node: &Node, role: &str) -> String {
    cli_ok(&[
        "access",
        "key",
        "new",
        "--data-dir",
        &node.dir.to_string_lossy(),
        "--role",
        role,
        "--name",
        &format!("{role} test key"),
    ])
    .trim()
    .to_string()
}

/// The JSON-RPC error code of a call (`None`: it answered a result).
fn code_of(client: &RpcClient, method: &str, params: Value) -> Option<i32> {
    match client.call::<Value>(method, params) {
        Ok(_) => None,
        Err(e) => Some(
            e.code()
                .unwrap_or_else(|| panic!("{method}: transport error {e}")),
        ),
    }
}

/// Every JSON-RPC method, from the node's own OpenAPI document.
fn every_method(node: &Node) -> Vec<String> {
    let doc: Value = ureq::get(&format!("{}/v1/openapi.json", node.url))
        .call()
        .expect("GET /v1/openapi.json")
        .into_json()
        .expect("JSON");
    let mut methods: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|ops| ops.values()))
        .filter_map(|op| op["x-jsonrpc-method"].as_str().map(String::from))
        .chain(
            doc["x-jsonrpc-without-route"]
                .as_object()
                .expect("x-jsonrpc-without-route")
                .keys()
                .cloned(),
        )
        .collect();
    methods.sort();
    methods.dedup();
    assert!(methods.len() >= 40, "too few methods: {methods:?}");
    methods
}

/// A REST call's status and headers.
fn rest(url: &str, credential: Option<(&str, &str)>) -> (u16, Option<String>) {
    let mut req = ureq::get(url);
    if let Some((h, v)) = credential {
        req = req.set(h, v);
    }
    match req.call() {
        Ok(r) => (r.status(), None),
        Err(ureq::Error::Status(s, r)) => (s, r.header("www-authenticate").map(String::from)),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn audit_lines(node: &Node) -> Vec<Value> {
    std::fs::read_to_string(node.dir.join("access/audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line {l:?}: {e}")))
        .collect()
}

#[test]
fn every_route_for_every_role() {
    if !require(
        "python3 with PyJWT and cryptography",
        python_has("jwt, cryptography"),
        "python3 -m pip install pyjwt cryptography",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let jwks = tmp.path().join("jwks.json");
    let tokens = mint_tokens(&jwks);
    let config = format!(
        "[access]\nanonymous = \"read\"\n\n[access.jwt]\njwks_file = {:?}\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\n",
        jwks.to_string_lossy()
    );
    let mut node = Node::options()
        .block_interval_ms(50)
        .config(config)
        .start_in_temp_dir();
    // Made while the node runs: it picks them up without a restart.
    let keys: BTreeMap<&str, String> = ["read", "submit", "admin"]
        .into_iter()
        .map(|r| (r, new_key(&node, r)))
        .collect();
    let admin = node.client().with_api_key(Some(&keys["admin"]));
    wait_for(
        "the node to pick up the new keys",
        Duration::from_secs(10),
        || code_of(&admin, "mamey_pipelineStats", json!([])).is_none(),
    );

    // (who, client, role, anonymous)
    let callers: Vec<(String, RpcClient, Role, bool)> = vec![
        ("anonymous".into(), node.client(), Role::Read, true),
        (
            "key read".into(),
            node.client().with_api_key(Some(&keys["read"])),
            Role::Read,
            false,
        ),
        (
            "key submit".into(),
            node.client().with_api_key(Some(&keys["submit"])),
            Role::Submit,
            false,
        ),
        (
            "key admin".into(),
            node.client().with_api_key(Some(&keys["admin"])),
            Role::Admin,
            false,
        ),
        (
            "RS256 read".into(),
            node.client().with_bearer(&tokens["rs256_read"]),
            Role::Read,
            false,
        ),
        (
            "ES256 submit".into(),
            node.client().with_bearer(&tokens["es256_submit"]),
            Role::Submit,
            false,
        ),
        (
            "EdDSA admin".into(),
            node.client().with_bearer(&tokens["eddsa_admin"]),
            Role::Admin,
            false,
        ),
        (
            "scope submit".into(),
            node.client().with_bearer(&tokens["scope_submit"]),
            Role::Submit,
            false,
        ),
    ];
    let policy = Policy::new(&BTreeMap::new());
    let methods = every_method(&node);
    let mut refused = 0;
    for method in &methods {
        let required = policy.required(method);
        for (who, client, role, anonymous) in &callers {
            let code = code_of(client, method, json!([]));
            if *role >= required {
                assert!(
                    !matches!(code, Some(4001 | 4003)),
                    "{who} may call {method} (needs {required:?}) but got {code:?}"
                );
            } else {
                let expected = if *anonymous { 4001 } else { 4003 };
                assert_eq!(
                    code,
                    Some(expected),
                    "{who} calling {method} (needs {required:?})"
                );
                refused += 1;
            }
        }
    }
    assert!(refused >= 6, "the policy refused only {refused} calls");

    // REST: the same table, with HTTP statuses.
    let pipeline = format!("{}/v1/node/pipeline", node.url);
    let (status, challenge) = rest(&pipeline, None);
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert_eq!(rest(&pipeline, Some(("x-api-key", &keys["read"]))).0, 403);
    assert_eq!(rest(&pipeline, Some(("x-api-key", &keys["admin"]))).0, 200);
    let bearer = format!("Bearer {}", tokens["eddsa_admin"]);
    assert_eq!(rest(&pipeline, Some(("authorization", &bearer))).0, 200);

    // Every bad token, a forged key and a malformed header: 4001 even on a read method, 401 on
    // REST.
    for bad in [
        "expired",
        "not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "bad_signature",
        "unknown_kid",
        "no_role",
        "no_expiry",
        "alg_none",
        "hs256_confusion",
    ] {
        let client = node.client().with_bearer(&tokens[bad]);
        assert_eq!(
            code_of(&client, "mamey_status", json!([])),
            Some(4001),
            "{bad}"
        );
        let header = format!("Bearer {}", tokens[bad]);
        let status = rest(
            &format!("{}/v1/status", node.url),
            Some(("authorization", &header)),
        );
        assert_eq!(status.0, 401, "{bad} over REST");
    }
    let forged = format!("{}0", &keys["read"][..keys["read"].len() - 1]);
    let forged = if forged == keys["read"] {
        format!("{}1", &forged[..forged.len() - 1])
    } else {
        forged
    };
    let client = node.client().with_api_key(Some(&forged));
    assert_eq!(code_of(&client, "mamey_status", json!([])), Some(4001));

    // gRPC: the same table, with gRPC codes.
    grpc_roles(&node, &keys);

    // A revoked key is refused once the node rereads the file (at most a second or so).
    let id = &keys["read"]["mamey_".len().."mamey_".len() + 8];
    cli_ok(&[
        "access",
        "key",
        "revoke",
        "--data-dir",
        &node.dir.to_string_lossy(),
        id,
    ]);
    let reader = node.client().with_api_key(Some(&keys["read"]));
    wait_for(
        "the revoked key to be refused",
        Duration::from_secs(10),
        || code_of(&reader, "mamey_status", json!([])) == Some(4001),
    );
    let listed: Value = serde_json::from_str(&cli_ok(&[
        "access",
        "key",
        "list",
        "--data-dir",
        &node.dir.to_string_lossy(),
    ]))
    .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(
        !listed
            .iter()
            .any(|k| k.to_string().contains(&keys["admin"])),
        "a key was listed"
    );

    // The audit log: admin calls with who made them, and the refusals.
    let admin_id = &keys["admin"]["mamey_".len().."mamey_".len() + 8];
    wait_for(
        "the audit log to be written",
        Duration::from_secs(10),
        || {
            let lines = audit_lines(&node);
            lines.iter().any(|l| {
                l["what"] == "mamey_pipelineStats"
                    && l["result"] == "allowed"
                    && l["who"] == format!("key:{admin_id}")
            }) && lines
                .iter()
                .any(|l| l["result"] == "forbidden" && l["code"] == 4003)
                && lines
                    .iter()
                    .any(|l| l["result"] == "unauthenticated" && l["who"] == "invalid")
                && lines.iter().any(|l| l["api"] == "grpc")
        },
    );
    node.assert_alive();
}

/// A gRPC request carrying `key` in `x-api-key` metadata.
fn with_key<T>(req: T, key: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(req);
    if let Some(k) = key {
        req.metadata_mut()
            .insert("x-api-key", k.parse().expect("an ASCII key"));
    }
    req
}

fn grpc_roles(node: &Node, keys: &BTreeMap<&str, String>) {
    use mameynode::grpc::proto::node_service_client::NodeServiceClient;
    use mameynode::grpc::proto::{GetStatusRequest, SubmitTransactionRequest};
    use tonic::Code;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let mut client = NodeServiceClient::connect(format!("http://{}", node.grpc))
            .await
            .expect("gRPC connects");
        assert!(client
            .get_status(with_key(GetStatusRequest {}, None))
            .await
            .is_ok());
        let refused = client
            .submit_transaction(with_key(
                SubmitTransactionRequest::default(),
                Some(&keys["read"]),
            ))
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert_eq!(
            refused
                .metadata()
                .get("mamey-error-code")
                .expect("mamey-error-code"),
            "4003"
        );
        let allowed = client
            .submit_transaction(with_key(
                SubmitTransactionRequest::default(),
                Some(&keys["submit"]),
            ))
            .await
            .expect_err("refused");
        assert_eq!(allowed.code(), Code::InvalidArgument, "{allowed:?}");
        let bad = client
            .get_status(with_key(GetStatusRequest {}, Some("mamey_0000")))
            .await
            .expect_err("refused");
        assert_eq!(bad.code(), Code::Unauthenticated, "{bad:?}");
    });
}

#[test]
fn quotas_and_slow_clients() {
    let config =
        "[rpc]\nheader_read_timeout_ms = 1000\n\n[access.rate]\nanonymous_per_second = 5\n";
    let mut node = Node::options().config(config).start_in_temp_dir();
    let client = node.client();

    // JSON-RPC: 4029 with the wait in its data.
    let mut limited = None;
    for _ in 0..50 {
        if let Err(e) = client.call::<Value>("mamey_status", json!([])) {
            assert_eq!(e.code(), Some(4029), "{e}");
            limited = Some(e);
            break;
        }
    }
    let Some(mameynode::rpc::client::ClientError::Rpc { data, message, .. }) = limited else {
        panic!("50 calls at once were not limited at 5 a second");
    };
    let wait = data
        .as_ref()
        .and_then(|d| d["retry_after_ms"].as_u64())
        .expect("retry_after_ms");
    assert!(
        (1..=1000).contains(&wait),
        "retry_after_ms {wait}: {message}"
    );

    // REST: 429 with Retry-After in seconds.
    let url = format!("{}/v1/status", node.url);
    let mut retry_after = None;
    for _ in 0..50 {
        match ureq::get(&url).call() {
            Ok(_) => continue,
            Err(ureq::Error::Status(429, r)) => {
                retry_after = r.header("retry-after").map(String::from);
                break;
            }
            Err(e) => panic!("GET /v1/status: {e}"),
        }
    }
    let retry_after: u64 = retry_after
        .expect("a 429 with Retry-After")
        .parse()
        .unwrap();
    assert!(retry_after >= 1);

    // gRPC: RESOURCE_EXHAUSTED with retry-after metadata.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use mameynode::grpc::proto::node_service_client::NodeServiceClient;
        let mut grpc = NodeServiceClient::connect(format!("http://{}", node.grpc))
            .await
            .unwrap();
        for _ in 0..50 {
            let req = mameynode::grpc::proto::GetStatusRequest {};
            if let Err(s) = grpc.get_status(req).await {
                assert_eq!(s.code(), tonic::Code::ResourceExhausted, "{s:?}");
                assert!(s.metadata().get("retry-after").is_some(), "{s:?}");
                assert_eq!(s.metadata().get("mamey-error-code").unwrap(), "4029");
                return;
            }
        }
        panic!("50 gRPC calls at once were not limited");
    });

    // Slowloris: headers dribbled slower than header_read_timeout_ms get the connection closed.
    let mut slow = TcpStream::connect(&node.rpc).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(4) {
        let _ = slow.write_all(b"X-Slow: 1\r\n");
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {
                // hyper may answer 408 before closing; keep reading until the close.
            }
        }
    }
    assert!(
        closed,
        "a slowloris connection stayed open {:?}",
        started.elapsed()
    );
    // An idle connection that never sends a request is closed too.
    let mut idle = TcpStream::connect(&node.rpc).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "idle connection kept {:?}",
        started.elapsed()
    );

    // Oversize headers: 431.
    let mut big = TcpStream::connect(&node.rpc).unwrap();
    let header = format!(
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 << 10)
    );
    let _ = big.write_all(header.as_bytes());
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "oversize headers got {answer:?}"
    );

    std::thread::sleep(Duration::from_millis(1100));
    assert!(client.status().is_ok(), "the node stopped serving");
    wait_for(
        "the audit log to record the refusals",
        Duration::from_secs(10),
        || {
            audit_lines(&node)
                .iter()
                .any(|l| l["result"] == "rate_limited" && l["code"] == 4029)
        },
    );
    node.assert_alive();
}

/// A process killed when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn jwks_from_the_issuers_url_follows_key_rotation() {
    if !require(
        "python3 with PyJWT and cryptography",
        python_has("jwt, cryptography"),
        "python3 -m pip install pyjwt cryptography",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let jwks = tmp.path().join("jwks.json");
    let first = mint_tokens(&jwks);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The issuer: Python's own HTTP server publishing the key set.
    let _issuer = KillOnDrop(
        Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(tmp.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server"),
    );
    let url = format!("http://127.0.0.1:{port}/jwks.json");
    wait_for(
        "the issuer to serve its key set",
        Duration::from_secs(10),
        || ureq::get(&url).call().is_ok(),
    );
    let config = format!(
        "[access]\nanonymous = \"none\"\n\n[access.jwt]\njwks_url = {url:?}\njwks_refresh_s = 1\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\n"
    );
    // Anonymous callers have no role here: the harness needs a token to see the node start.
    let node = Node::options()
        .config(config)
        .bearer(&first["rs256_read"])
        .start_in_temp_dir();
    let anonymous = RpcClient::new(&node.url).with_api_key(None);
    assert_eq!(code_of(&anonymous, "mamey_status", json!([])), Some(4001));
    let reader = node.client().with_bearer(&first["rs256_read"]);
    assert_eq!(code_of(&reader, "mamey_status", json!([])), None);
    assert_eq!(
        code_of(&reader, "mamey_pipelineStats", json!([])),
        Some(4003)
    );

    // The issuer rotates its keys (same key ids, new keys): old tokens stop verifying once the
    // node fetches the new set, new ones start.
    let second = mint_tokens(&jwks);
    let rotated = node.client().with_bearer(&second["es256_submit"]);
    wait_for(
        "the node to fetch the rotated key set",
        Duration::from_secs(15),
        || code_of(&rotated, "mamey_status", json!([])).is_none(),
    );
    assert_eq!(code_of(&reader, "mamey_status", json!([])), Some(4001));
}

#[test]
fn the_per_connection_limit_holds_across_http_requests() {
    let node = Node::options()
        .config("[rpc]\ncalls_per_second_max = 5\n")
        .start_in_temp_dir();
    // One client keeps its connection alive between requests.
    let client = node.client();
    let limited = (0..30)
        .filter(|_| code_of(&client, "mamey_status", json!([])) == Some(2004))
        .count();
    assert!(
        limited > 0,
        "30 requests on one connection at 5 a second: none limited"
    );
    // Another connection has its own budget.
    assert_eq!(code_of(&node.client(), "mamey_status", json!([])), None);
}
