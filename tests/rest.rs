//! The REST API under `/v1/` (issue #16 item 5) against a real dev node (see `tests/common`):
//!
//! - `rest_routes_answer_as_json_rpc_does`: status, account, block and module queries answer what
//!   the JSON-RPC methods they call answer; a signed transfer and a module call (an asset
//!   creation) submitted with `POST /v1/transactions` commit and are then read back over REST;
//!   errors carry the JSON-RPC code with the mapped HTTP status (a malformed address 400 -32602,
//!   an address with a bad checksum 400 -32602, a block that does not exist 404 3000, a replayed
//!   transaction 400, an unknown path 404 -32601, a wrong verb 405 with `Allow`); the admin route
//!   refuses anonymous callers (401/403) and serves an admin key; `/v1/openapi.json` is an OpenAPI
//!   3.1 document listing every route of the table. Then Schemathesis (PyPI `schemathesis`, an
//!   independent OpenAPI fuzzer) runs against the live document with the checks
//!   `not_a_server_error`, `response_schema_conformance`, `status_code_conformance` and
//!   `content_type_conformance`: no 5xx, and every answer matches the documented status, media
//!   type and schema. A missing Schemathesis fails the test when the `CI` environment variable is
//!   set, and otherwise skips that part with a loud `SKIPPED:` line (`scripts/test.sh` installs
//!   it).
//! - `rate_limited_rest_calls_get_429_with_retry_after`: with an anonymous quota of one call a
//!   second (`[access.rate] anonymous_per_second = 1`), a burst gets 429 with the JSON-RPC code
//!   (4029) and a `Retry-After` of whole seconds, and a call after that wait is served.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::tools::{python_has, require, run_with_limit};
use common::{cli_ok, new_address, pending_nonce, transfer, Node, CHAIN_ID, FEE};
use mameynode::keys;
use mameynode::modules::banking::{asset_id, Policy};
use mameynode::types::{BankCall, Payload, Transaction, TxEnvelope};
use serde_json::{json, Value};

/// How long Schemathesis may run (the run itself takes well under this on 2 cores).
const SCHEMATHESIS_LIMIT: Duration = Duration::from_secs(150);
/// Test cases per operation and phase: ~40 operations, bounded so the run stays short.
const SCHEMATHESIS_EXAMPLES: &str = "20";

/// A REST answer: status, headers (names lowercase) and JSON body (null when not JSON).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error body's JSON-RPC code; panics when the body is not an error.
    fn code(&self) -> i64 {
        self.body["error"]["code"]
            .as_i64()
            .unwrap_or_else(|| panic!("not an error body: {} {}", self.status, self.body))
    }
}

fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<&Value>) -> Reply {
    let req = agent.request(method, url);
    let response = match body {
        Some(b) => req.send_json(b.clone()),
        None => req.call(),
    };
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or_default().to_string();
            (n.to_ascii_lowercase(), v)
        })
        .collect();
    let text = response.into_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build()
}

/// A GET that must answer 200; its body.
fn get_ok(agent: &ureq::Agent, url: &str) -> Value {
    let r = call(agent, "GET", url, None);
    assert_eq!(r.status, 200, "GET {url}: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"), "{url}");
    r.body
}

/// `POST /v1/transactions` of a signed transaction that must be admitted; waits until a REST
/// read says it is finalized.
fn submit_and_wait(agent: &ureq::Agent, base: &str, tx: &TxEnvelope) {
    let body = json!({ "tx": hex::encode(&tx.bytes) });
    let r = call(
        agent,
        "POST",
        &format!("{base}/v1/transactions"),
        Some(&body),
    );
    assert_eq!(r.status, 200, "submit: {}", r.body);
    assert_eq!(
        r.body,
        json!(tx.id.to_hex()),
        "the answer is the transaction id"
    );
    let url = format!("{base}/v1/transactions/{}", tx.id.to_hex());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = get_ok(agent, &url);
        match v["status"].as_str() {
            Some("finalized" | "committed") => {
                assert!(v["height"].is_u64(), "{v}");
                return;
            }
            Some("pending") => {}
            _ => panic!("transaction {} not committed: {v}", tx.id),
        }
        assert!(Instant::now() < deadline, "still pending: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_node(config: Option<&str>) -> Node {
    let options = Node::options().block_interval_ms(50);
    match config {
        Some(c) => options.config(c),
        None => options,
    }
    .start_in_temp_dir()
}

#[test]
fn rest_routes_answer_as_json_rpc_does() {
    let node = start_node(None);
    let client = node.client();
    let agent = agent();
    let base = node.url.clone();
    let faucet = node.faucet();
    let faucet_address = keys::address_of(&faucet);

    // Queries answer what JSON-RPC answers.
    let status = get_ok(&agent, &format!("{base}/v1/status"));
    assert_eq!(status["chain_id"], CHAIN_ID);
    node.wait_height(2);
    let rpc_block = client.block(1).expect("mamey_getBlock");
    let block = get_ok(&agent, &format!("{base}/v1/blocks/1"));
    assert_eq!(block["hash"], json!(rpc_block.hash.to_hex()));
    let validators = get_ok(&agent, &format!("{base}/v1/staking/validators"));
    let rpc_validators: Value = common::rpc(&node, "staking_getValidators", json!([]));
    assert_eq!(validators["validators"], rpc_validators["validators"]);
    let assets = get_ok(&agent, &format!("{base}/v1/banking/assets?limit=5"));
    assert!(assets["items"].is_array(), "{assets}");

    // A transfer and a module call (an asset creation), submitted over REST.
    let to = new_address();
    let nonce = pending_nonce(&client, &faucet_address);
    let tx = transfer(&faucet, nonce, to, 777);
    submit_and_wait(&agent, &base, &tx);
    let account = get_ok(&agent, &format!("{base}/v1/accounts/{to}"));
    assert_eq!(account["balance"], 777);
    let create = Transaction::sign(
        &faucet,
        CHAIN_ID,
        nonce + 1,
        FEE,
        Payload::Bank(BankCall::CreateAsset {
            symbol: "REST".into(),
            name: "REST test".into(),
            decimals: 2,
            max_supply: None,
            initial_supply: 5_000,
            policy: Policy::default(),
            metadata_uri: String::new(),
        }),
    );
    submit_and_wait(&agent, &base, &create);
    let asset = asset_id(&faucet_address, "REST").to_hex();
    let view = get_ok(&agent, &format!("{base}/v1/banking/assets/{asset}"));
    assert_eq!(view["symbol"], "REST");
    assert_eq!(view["supply"], "5000");
    let balances = get_ok(
        &agent,
        &format!("{base}/v1/banking/balances/{faucet_address}"),
    );
    assert_eq!(balances["balances"][0]["amount"], "5000", "{balances}");
    let history = get_ok(
        &agent,
        &format!("{base}/v1/accounts/{faucet_address}/transactions?limit=1"),
    );
    assert_eq!(history["transactions"][0]["id"], json!(create.id.to_hex()));
    assert!(history["next_cursor"].is_string(), "{history}");

    assert_errors(&agent, &base, &tx);
    assert_admin_route(&node, &agent, &base);
    assert_openapi(&agent, &base);
    schemathesis(&node);
}

/// Errors: the JSON-RPC code with its HTTP status.
fn assert_errors(agent: &ureq::Agent, base: &str, tx: &TxEnvelope) {
    let r = call(
        agent,
        "GET",
        &format!("{base}/v1/accounts/mamey1nope"),
        None,
    );
    assert_eq!((r.status, r.code()), (400, -32602), "{}", r.body);
    // Fits the pattern, fails the Bech32m checksum: the method's own check, same code.
    let bad_checksum = format!("mamey1{}", "q".repeat(58));
    let r = call(
        agent,
        "GET",
        &format!("{base}/v1/accounts/{bad_checksum}"),
        None,
    );
    assert_eq!((r.status, r.code()), (400, -32602), "{}", r.body);
    let r = call(agent, "GET", &format!("{base}/v1/blocks/999999999"), None);
    assert_eq!((r.status, r.code()), (404, 3000), "{}", r.body);
    let r = call(agent, "GET", &format!("{base}/v1/blocks/-1"), None);
    assert_eq!((r.status, r.code()), (400, -32602), "{}", r.body);
    let r = call(agent, "GET", &format!("{base}/v1/no/such/route"), None);
    assert_eq!((r.status, r.code()), (404, -32601), "{}", r.body);
    let r = call(agent, "DELETE", &format!("{base}/v1/status"), None);
    assert_eq!(r.status, 405, "{}", r.body);
    assert_eq!(r.header("allow"), Some("GET"));
    let r = call(agent, "GET", &format!("{base}/v1/transactions"), None);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    // The same transaction again: already committed (1008) or its nonce used (1004).
    let body = json!({ "tx": hex::encode(&tx.bytes) });
    let r = call(
        agent,
        "POST",
        &format!("{base}/v1/transactions"),
        Some(&body),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!([1004, 1008].contains(&r.code()), "{}", r.body);
    let r = call(
        agent,
        "POST",
        &format!("{base}/v1/transactions"),
        Some(&json!({"tx": 1})),
    );
    assert_eq!((r.status, r.code()), (400, -32602), "{}", r.body);
    let r = call(
        agent,
        "GET",
        &format!("{base}/v1/dex/markets/{}/book?depth=0", "0".repeat(64)),
        None,
    );
    assert_eq!((r.status, r.code()), (400, -32602), "{}", r.body);
}

/// `GET /v1/node/pipeline` needs the admin role: anonymous callers are refused with the access
/// code's status, an admin key is served.
fn assert_admin_route(node: &Node, agent: &ureq::Agent, base: &str) {
    let url = format!("{base}/v1/node/pipeline");
    let r = call(agent, "GET", &url, None);
    match r.status {
        401 => {
            assert_eq!(r.code(), 4001, "{}", r.body);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        }
        403 => assert_eq!(r.code(), 4003, "{}", r.body),
        other => panic!(
            "anonymous GET /v1/node/pipeline answered {other}: {}",
            r.body
        ),
    }
    let data_dir = node.dir.to_str().expect("utf-8 path");
    let key = cli_ok(&[
        "access",
        "key",
        "new",
        "--data-dir",
        data_dir,
        "--role",
        "admin",
    ]);
    // The node picks new keys up without a restart.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = agent.get(&url).set("x-api-key", key.trim()).call();
        match r {
            Ok(r) => {
                let v: Value = r.into_json().expect("JSON");
                assert!(v["busy_refusals"].is_u64(), "{v}");
                return;
            }
            Err(e) => assert!(Instant::now() < deadline, "admin key refused: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_openapi(agent: &ureq::Agent, base: &str) {
    let doc = get_ok(agent, &format!("{base}/v1/openapi.json"));
    assert_eq!(doc["openapi"], "3.1.0");
    let routes = mameynode::rpc::rest_route_list();
    assert!(routes.len() > 40, "{routes:?}");
    for (verb, path, method) in routes {
        let op = &doc["paths"][path][verb.to_ascii_lowercase()];
        assert_eq!(op["x-jsonrpc-method"], method, "{verb} {path}");
    }
}

// ---------------------------------------------------------------------------------------------
// Schemathesis
// ---------------------------------------------------------------------------------------------

/// Whether Schemathesis can run; without it, fails under CI and says loudly that it skips
/// otherwise.
fn schemathesis_available() -> bool {
    require(
        "schemathesis (for the Schemathesis run of tests/rest.rs)",
        python_has("schemathesis"),
        "python3 -m pip install schemathesis (scripts/test.sh does)",
    )
}

/// Schemathesis against the node's live document: no server error, and every answer's status,
/// media type and body as documented. One worker: Schemathesis' threads race in CPython 3.11's
/// `ast` module ("AST constructor recursion depth mismatch"), an error of the tool, not the node.
fn schemathesis(node: &Node) {
    if !schemathesis_available() {
        return;
    }
    let scratch = tempfile::tempdir().expect("temporary directory");
    let url = format!("{}/v1/openapi.json", node.url);
    let out = run_with_limit(
        Command::new("python3")
            .args(["-m", "schemathesis.cli", "--no-color", "run", &url])
            .args([
                "--checks",
                "not_a_server_error,response_schema_conformance,status_code_conformance,\
                 content_type_conformance",
            ])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", SCHEMATHESIS_EXAMPLES])
            .args(["--workers", "1", "--request-timeout", "20"])
            .args(["--generation-database", "none"])
            .current_dir(scratch.path()),
        SCHEMATHESIS_LIMIT,
        "schemathesis",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = summary_line(&stdout);
    common::tools::loud(&format!("schemathesis: {summary}"));
    assert!(
        out.status.success(),
        "Schemathesis found failures ({}):\n{stdout}\n{}\nnode log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        node.log_tail(40)
    );
    assert!(stdout.contains("passed"), "no test case ran:\n{stdout}");
}

/// Schemathesis' closing `== ... in N.NNs ==` line, and the test case counts before it.
fn summary_line(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let cases = lines
        .iter()
        .position(|l| l.starts_with("Test cases:"))
        .and_then(|i| lines.get(i + 1))
        .copied()
        .unwrap_or("");
    let last = lines.iter().rev().find(|l| l.starts_with('='));
    let last = last.map_or("(no summary line)", |l| l.trim_matches('=').trim());
    format!("{cases}; {last}")
}

#[test]
fn rate_limited_rest_calls_get_429_with_retry_after() {
    let node = start_node(Some("[access.rate]\nanonymous_per_second = 1\n"));
    let agent = agent();
    let url = format!("{}/v1/status", node.url);
    let limited = (0..20)
        .map(|_| call(&agent, "GET", &url, None))
        .find(|r| r.status == 429)
        .expect("20 calls at once with a quota of one a second: none was rate limited");
    assert_eq!(limited.code(), 4029, "{}", limited.body);
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After of whole seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(call(&agent, "GET", &url, None).status, 200);
}
