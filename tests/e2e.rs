//! End-to-end tests: the `mameynode` binary as users and scripts run it.
//!
//! Every test starts its own dev chain in its own temporary directory with the harness of
//! `tests/common` (every address on port 0, read back from `DATA_DIR/endpoints.json`), so the tests
//! run in parallel without colliding. A [`Node`] guard kills its process when dropped, and on a
//! failing test prints the tail of the node's log (stderr, kept in `DATA_DIR.log` across restarts).
//!
//! - `dev_chain_walkthrough`: the CLI path a new user takes, a clean SIGTERM stop and a restart.
//! - `kill_9_loses_nothing_committed`: three rounds of a stream of transfers, SIGKILL mid-stream,
//!   restart, and an audit: what was reported committed stays committed at the same height,
//!   balances match exactly the transfers committed after the restart, supply is conserved, and
//!   the chain goes on.
//! - `bad_input_gets_typed_errors_and_node_keeps_running`: malformed and invalid input over raw HTTP
//!   and JSON-RPC gets the documented error codes, and the node keeps serving.
//! - `transfer_wait_reports_rejection`: `transfer --wait` exits non-zero with the reason.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    balance, cli, cli_transfer_wait, faucet_key, is_committed, log_tail, new_address, stdout_of,
    transfer, transfer_with_fee, validator_address, wait_committed, wait_height_above, Node,
    CHAIN_ID, SUPPLY,
};
use ed25519_dalek::SigningKey;
use mameynode::keys;
use mameynode::rpc::client::{ClientError, RpcClient};
use mameynode::rpc::TxStatus;
use mameynode::types::{Address, BankCall, Hash, Payload, Transaction, TxEnvelope};
use serde_json::{json, Value};

const BLOCK_INTERVAL_MS: u64 = 50;

/// Starts (or resumes) the dev chain in `dir` (see [`common::NodeOptions::start`]); its log,
/// `DIR.log`, is kept across restarts.
fn start_node(dir: &Path) -> Node {
    Node::options()
        .block_interval_ms(BLOCK_INTERVAL_MS)
        .start(dir)
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP
// ---------------------------------------------------------------------------------------------

struct HttpResponse {
    status: u16,
    body: String,
}

impl HttpResponse {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {:?}", self.body))
    }
}

/// A minimal HTTP/1.1 POST to `/`. The body is written from another thread while this one reads,
/// so a server that answers (e.g. 413) before reading a large body is still heard.
fn http_post(addr: &str, body: Vec<u8>) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect to the RPC port");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set timeout");
    let mut writer = stream.try_clone().expect("clone stream");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let write = std::thread::spawn(move || {
        // The server may close early on an oversized body: a failed write is not the verdict.
        let _ = writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(&body))
            .and_then(|()| writer.flush());
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => {
                if raw.is_empty() {
                    panic!("no HTTP response from {addr}: {e}");
                }
                break;
            }
        }
        if response_complete(&raw) {
            break;
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = write.join();
    parse_http(&raw)
}

fn split_head(raw: &[u8]) -> Option<(String, &[u8])> {
    let pos = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some((
        String::from_utf8_lossy(&raw[..pos]).to_string(),
        &raw[pos + 4..],
    ))
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

fn response_complete(raw: &[u8]) -> bool {
    match split_head(raw) {
        Some((head, body)) => content_length(&head).is_some_and(|n| body.len() >= n),
        None => false,
    }
}

fn parse_http(raw: &[u8]) -> HttpResponse {
    let (head, body) = split_head(raw).unwrap_or_else(|| {
        panic!(
            "incomplete HTTP response: {:?}",
            String::from_utf8_lossy(raw)
        )
    });
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP status line in {head:?}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        let n = content_length(&head).unwrap_or(body.len()).min(body.len());
        String::from_utf8_lossy(&body[..n]).to_string()
    };
    HttpResponse { status, body }
}

fn dechunk(mut body: &[u8]) -> String {
    let mut out = Vec::new();
    while let Some(pos) = body.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&body[..pos]).to_string();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        body = &body[pos + 2..];
        if size == 0 || body.len() < size {
            break;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[(size + 2).min(body.len())..];
    }
    String::from_utf8_lossy(&out).to_string()
}

fn rpc_body(method: &str, params: Value) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        .to_string()
        .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// 1. The CLI walkthrough
// ---------------------------------------------------------------------------------------------

#[test]
fn dev_chain_walkthrough() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("chain");
    let node = start_node(&dir);
    for f in ["genesis.toml", "dev/validator.key", "dev/faucet.key", "db"] {
        assert!(dir.join(f).exists(), "dev chain did not create {f}");
    }
    let url = node.url.clone();
    let client = node.client();

    // A new key; the command prints the address alone.
    let alice_key = tmp.path().join("alice.key");
    let out = cli(&[
        "keys",
        "new",
        "--out",
        alice_key.to_str().expect("utf-8 path"),
    ]);
    let alice_text = stdout_of(&out, "keys new");
    let alice: Address = alice_text
        .parse()
        .unwrap_or_else(|e| panic!("`keys new` printed {alice_text:?}, not an address: {e}"));
    assert_eq!(
        keys::address_of(&keys::read(&alice_key).expect("read alice.key")),
        alice
    );
    // Refuses to overwrite a key.
    let again = cli(&[
        "keys",
        "new",
        "--out",
        alice_key.to_str().expect("utf-8 path"),
    ]);
    assert!(!again.status.success(), "`keys new` overwrote a key file");

    // Transfer from the faucet, waiting for the commit. Prints the id alone.
    let amount: u64 = 1_234_567;
    let faucet_file = dir.join("dev/faucet.key");
    let out = cli_transfer_wait(
        faucet_file.to_str().expect("utf-8 path"),
        &alice_text,
        &amount.to_string(),
        &url,
        &["--timeout-secs", "30"],
    );
    let id_text = stdout_of(&out, "transfer --wait");
    assert!(
        id_text.len() == 64 && id_text.bytes().all(|b| b.is_ascii_hexdigit()),
        "`transfer` printed {id_text:?}, not a transaction id"
    );
    let id: Hash = id_text.parse().expect("tx id parses");

    // `account` shows the balance.
    let out = cli(&["account", &alice_text, "--rpc", &url]);
    let account: Value = serde_json::from_str(&stdout_of(&out, "account")).expect("account JSON");
    assert_eq!(account["address"], json!(alice_text), "{account}");
    assert_eq!(account["balance"], json!(amount), "{account}");
    assert_eq!(account["nonce"], json!(0), "{account}");

    // `tx` shows it finalized at a height.
    let out = cli(&["tx", &id_text, "--rpc", &url]);
    let tx: Value = serde_json::from_str(&stdout_of(&out, "tx")).expect("tx JSON");
    assert_eq!(tx["status"], json!("finalized"), "{tx}");
    let height = tx["height"]
        .as_u64()
        .unwrap_or_else(|| panic!("no height in {tx}"));
    assert!(height >= 1, "{tx}");

    // `block H` lists it.
    let out = cli(&["block", &height.to_string(), "--rpc", &url]);
    let block: Value = serde_json::from_str(&stdout_of(&out, "block")).expect("block JSON");
    assert_eq!(block["height"], json!(height), "{block}");
    assert!(
        block["transactions"]
            .as_array()
            .unwrap_or_else(|| panic!("no transactions in {block}"))
            .contains(&json!(id_text)),
        "block {height} does not list {id_text}: {block}"
    );

    // Staking from the command line: the faucet delegates to the dev validator and sees it with
    // `stake show`; `validators` lists the validator with its power; what the staking state
    // refuses fails with its reason.
    let validator = keys::address_of(&keys::read(&dir.join("dev/validator.key")).expect("key"));
    let faucet_text = keys::address_of(&keys::read(&faucet_file).expect("faucet key")).to_string();
    let faucet_path = faucet_file.to_str().expect("utf-8 path");
    let stake_move = |verb: &str, amount: &str| {
        cli(&[
            "stake",
            verb,
            "--key",
            faucet_path,
            "--validator",
            &validator.to_string(),
            "--amount",
            amount,
            "--wait",
            "--timeout-secs",
            "30",
            "--rpc",
            &url,
        ])
    };
    stdout_of(&stake_move("delegate", "1000"), "stake delegate");
    let out = cli(&["stake", "show", &faucet_text, "--rpc", &url]);
    let stake: Value = serde_json::from_str(&stdout_of(&out, "stake show")).expect("stake JSON");
    let delegations = stake["delegations"].as_array().expect("delegations");
    assert_eq!(delegations.len(), 1, "{stake}");
    assert_eq!(
        delegations[0]["validator"],
        json!(validator.to_string()),
        "{stake}"
    );
    assert!(
        delegations[0]["tokens"].as_u64().is_some_and(|t| t >= 999),
        "{stake}"
    );
    let out = cli(&["validators", "--rpc", &url]);
    let validators: Value = serde_json::from_str(&stdout_of(&out, "validators")).expect("JSON");
    assert_eq!(
        validators["validators"][0]["address"],
        json!(validator.to_string())
    );
    assert!(
        validators["validators"][0]["power"].as_u64().is_some(),
        "{validators}"
    );
    let out = stake_move("undelegate", "5000000");
    assert!(
        !out.status.success(),
        "undelegating more than held succeeded"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("less than the 5000000 asked to undelegate"),
        "{err}"
    );

    // `status`: the height advances.
    let status = |what| -> Value {
        let out = cli(&["status", "--rpc", &url]);
        serde_json::from_str(&stdout_of(&out, what)).expect("status JSON")
    };
    let s1 = status("status");
    assert_eq!(s1["chain_id"], json!(CHAIN_ID), "{s1}");
    let h1 = s1["height"].as_u64().expect("height");
    assert!(
        h1 >= height,
        "status height {h1} below the tx's block {height}"
    );
    wait_height_above(&client, h1 + 2, Duration::from_secs(20));
    let s2 = status("status");
    let h2 = s2["height"].as_u64().expect("height");
    assert!(h2 > h1, "height did not advance: {h1} then {h2}");
    assert!(
        s2["finalized_height"].as_u64().expect("finalized_height") <= h2,
        "{s2}"
    );

    // SIGTERM: clean exit, status 0.
    let status_code = node.sigterm(Duration::from_secs(10));
    assert!(
        status_code.success(),
        "node exited with {status_code} on SIGTERM; log:\n{}",
        log_tail(&dir, 40)
    );

    // Restart on the same directory: same chain, same state.
    let node = start_node(&dir);
    let client = node.client();
    let s3 = client.status().expect("status after restart");
    assert!(
        s3.height >= h2,
        "height went back: {h2} before, {} after",
        s3.height
    );
    assert_eq!(s3.chain_id, CHAIN_ID);
    assert_eq!(
        serde_json::to_value(s3.genesis_hash).expect("json"),
        s1["genesis_hash"],
        "restart created another chain"
    );
    let out = cli(&["account", &alice_text, "--rpc", &node.url]);
    let account: Value = serde_json::from_str(&stdout_of(&out, "account")).expect("account JSON");
    assert_eq!(
        account["balance"],
        json!(amount),
        "after restart: {account}"
    );
    let v = client.transaction(&id).expect("tx after restart");
    assert!(is_committed(&v.status), "{v:?}");
    assert_eq!(v.height, Some(height), "{v:?}");
    // ...and it keeps producing blocks.
    wait_height_above(&client, s3.height, Duration::from_secs(20));
    let status_code = node.sigterm(Duration::from_secs(10));
    assert!(status_code.success(), "second stop: {status_code}");
}

// ---------------------------------------------------------------------------------------------
// 2. SIGKILL mid-stream loses nothing committed
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Sent {
    id: Hash,
    nonce: u64,
    to: usize,
    amount: u64,
    fee: u64,
}

const KILL_RECIPIENTS: usize = 10;
const KILL_FEE: u64 = 1;

/// Streams transfers from the faucet (nonces from `first_nonce` on) to `recipients` from a
/// background thread while this thread polls `mamey_getTransaction` and records in `reported` every
/// transfer the node reports committed, with its height. Once at least `min_committed` more are
/// reported and the node holds acknowledged, uncommitted transfers, SIGKILLs it mid-stream.
/// Returns every transfer the sender tried to send (admitted or not: the answer may have been
/// lost in the kill) and the head height seen just before the kill.
fn stream_then_kill(
    node: Node,
    faucet: &SigningKey,
    recipients: &[Address],
    first_nonce: u64,
    min_committed: usize,
    reported: &mut BTreeMap<u64, (Sent, u64)>,
) -> (Vec<Sent>, u64) {
    let attempted: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let acked: Arc<Mutex<Vec<Sent>>> = Arc::default();
    // Set just before the kill: from then on a failed send is expected, and ends the stream.
    let killing = Arc::new(AtomicBool::new(false));

    let sender = {
        let (attempted, acked, killing) = (attempted.clone(), acked.clone(), killing.clone());
        let (url, faucet, recipients) = (node.url.clone(), faucet.clone(), recipients.to_vec());
        std::thread::spawn(move || -> Result<(), String> {
            let client = RpcClient::new(&url);
            for nonce in first_nonce.. {
                let to = nonce as usize % recipients.len();
                let amount = 1_000 + nonce;
                let tx = transfer_with_fee(&faucet, nonce, KILL_FEE, recipients[to], amount);
                let sent = Sent {
                    id: tx.id,
                    nonce,
                    to,
                    amount,
                    fee: KILL_FEE,
                };
                attempted.lock().expect("lock").push(sent);
                loop {
                    match client.send_transaction(&tx) {
                        Ok(id) if id == tx.id => break,
                        Ok(id) => return Err(format!("node answered id {id} for {}", tx.id)),
                        // Back-pressure (mempool/sender full, busy): retry the same transaction.
                        Err(e) if matches!(e.code(), Some(2000..=2002)) => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => {
                            return if killing.load(Ordering::SeqCst) {
                                Ok(()) // the node is gone: expected
                            } else {
                                Err(format!("sending nonce {nonce}: {e}"))
                            };
                        }
                    }
                }
                acked.lock().expect("lock").push(sent);
            }
            Ok(())
        })
    };

    // Poll the acknowledged transfers, oldest first; stop a round at the first one still pending.
    let client = node.client();
    let target = reported.len() + min_committed;
    let mut next = 0usize; // index into `acked` of the oldest not yet seen committed
    let deadline = Instant::now() + Duration::from_secs(30);
    let in_flight_at_kill = loop {
        let batch: Vec<Sent> = acked.lock().expect("lock")[next..].to_vec();
        let mut saw_pending = false;
        for s in batch {
            let v = client.transaction(&s.id).expect("mamey_getTransaction");
            match v.status {
                TxStatus::Committed | TxStatus::Finalized => {
                    let h = v
                        .height
                        .unwrap_or_else(|| panic!("committed without a height: {v:?}"));
                    reported.insert(s.nonce, (s, h));
                    next += 1;
                }
                TxStatus::Pending => {
                    saw_pending = true;
                    break;
                }
                TxStatus::Rejected => panic!("transfer nonce {} rejected: {v:?}", s.nonce),
            }
        }
        if reported.len() >= target && saw_pending {
            break acked.lock().expect("lock").len() - next;
        }
        assert!(
            !sender.is_finished(),
            "sender stopped early: {:?}",
            sender.join()
        );
        assert!(
            Instant::now() < deadline,
            "only {} transfers reported committed in 30 s ({} acknowledged this round)",
            reported.len(),
            acked.lock().expect("lock").len(),
        );
        std::thread::sleep(Duration::from_millis(10));
    };

    // kill -9 mid-stream.
    let height_before_kill = client.status().expect("status before the kill").height;
    let pid = node.pid();
    killing.store(true, Ordering::SeqCst);
    node.kill9();
    let sender_result = sender.join().expect("sender thread panicked");
    assert!(sender_result.is_ok(), "sender: {sender_result:?}");
    let attempted = attempted.lock().expect("lock").clone();
    eprintln!(
        "killed node {pid} at height {height_before_kill}: {} transfers reported committed so far, \
         {} attempted this round, {in_flight_at_kill} acknowledged but not seen committed",
        reported.len(),
        attempted.len()
    );
    (attempted, height_before_kill)
}

/// After a restart: what was reported committed is still committed at the same height and listed
/// in that block; the transfers committed now are a prefix of the nonces; balances are exactly the
/// committed transfers (and at least the reported ones); supply is conserved. Returns the faucet's
/// pending nonce.
fn audit_after_restart(
    client: &RpcClient,
    faucet: &Address,
    validator: &Address,
    recipients: &[Address],
    attempted: &[Sent],
    reported: &BTreeMap<u64, (Sent, u64)>,
    height_before_kill: u64,
) -> u64 {
    let head = client.status().expect("status after restart").height;
    assert!(
        head >= height_before_kill,
        "the head went back from {height_before_kill} to {head}"
    );

    let mut blocks: HashMap<u64, Vec<Hash>> = HashMap::new();
    for (nonce, (s, h)) in reported {
        let v = client.transaction(&s.id).unwrap_or_else(|e| {
            panic!("transfer nonce {nonce} was reported committed at height {h} before a kill, now: {e}")
        });
        assert!(
            is_committed(&v.status),
            "transfer nonce {nonce} was reported committed at height {h} before a kill, now {v:?}"
        );
        assert_eq!(v.height, Some(*h), "transfer nonce {nonce} moved");
        assert!(*h <= head, "tx at height {h} above the head {head}");
        let txs = blocks.entry(*h).or_insert_with(|| {
            client
                .block(*h)
                .expect("mamey_getBlock of a committed tx's block")
                .transactions
        });
        assert!(txs.contains(&s.id), "block {h} does not list nonce {nonce}");
    }

    let mut committed_now: Vec<Sent> = Vec::new();
    for s in attempted {
        match client.transaction(&s.id) {
            Ok(v) if is_committed(&v.status) => committed_now.push(*s),
            Ok(v) => panic!("after restart, transfer nonce {} is {v:?}", s.nonce),
            Err(e) if e.code() == Some(3000) => {}
            Err(e) => panic!("mamey_getTransaction nonce {}: {e}", s.nonce),
        }
    }
    committed_now.sort_by_key(|s| s.nonce);
    for (i, s) in committed_now.iter().enumerate() {
        assert_eq!(
            s.nonce, i as u64,
            "committed transfers are not a prefix of the nonces"
        );
    }
    assert!(committed_now.len() >= reported.len());
    let faucet_view = client.account(faucet).expect("faucet account");
    assert_eq!(
        faucet_view.nonce,
        committed_now.len() as u64,
        "faucet nonce vs. committed transfers"
    );
    assert_eq!(
        faucet_view.pending_nonce, faucet_view.nonce,
        "nothing should be pending after a restart"
    );

    let mut sum_now = vec![0u64; recipients.len()];
    let mut sum_reported = vec![0u64; recipients.len()];
    for s in &committed_now {
        sum_now[s.to] += s.amount;
    }
    for (s, _) in reported.values() {
        sum_reported[s.to] += s.amount;
    }
    let mut total = 0u64;
    for (i, r) in recipients.iter().enumerate() {
        let b = balance(client, r);
        assert!(
            b >= sum_reported[i],
            "recipient {i} has {b}, less than the {} reported committed to it",
            sum_reported[i]
        );
        assert_eq!(
            b, sum_now[i],
            "recipient {i}'s balance vs. its committed transfers"
        );
        total += b;
    }
    let fees: u64 = committed_now.iter().map(|s| s.fee).sum();
    let moved: u64 = committed_now.iter().map(|s| s.amount + s.fee).sum();
    let validator_balance = balance(client, validator);
    assert_eq!(
        validator_balance, fees,
        "validator balance vs. fees committed"
    );
    assert_eq!(faucet_view.balance, SUPPLY - moved, "faucet balance");
    total += faucet_view.balance + validator_balance;
    assert_eq!(total, SUPPLY, "supply not conserved");
    eprintln!(
        "after restart: head {head}, {} transfers committed, {} lost from the mempool",
        committed_now.len(),
        attempted.len() - committed_now.len()
    );
    faucet_view.pending_nonce
}

#[test]
fn kill_9_loses_nothing_committed() {
    // Three kill/restart rounds, each killing after at least this many more commits.
    const ROUNDS: usize = 3;
    const COMMITTED_PER_ROUND: usize = 150;

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("chain");
    let mut node = start_node(&dir);
    let faucet = faucet_key(&dir);
    let faucet_addr = keys::address_of(&faucet);
    let validator = validator_address(&dir);
    let recipients: Vec<Address> = (0..KILL_RECIPIENTS).map(|_| new_address()).collect();

    // Every transfer sent in any round, by nonce. A round resumes at the faucet's pending nonce and
    // re-signs the nonces lost in the previous kill with the same content, hence the same id.
    let mut attempted: BTreeMap<u64, Sent> = BTreeMap::new();
    let mut reported: BTreeMap<u64, (Sent, u64)> = BTreeMap::new(); // nonce -> (tx, height)
    let mut next_nonce = 0;
    for _ in 0..ROUNDS {
        let (sent, height_before_kill) = stream_then_kill(
            node,
            &faucet,
            &recipients,
            next_nonce,
            COMMITTED_PER_ROUND,
            &mut reported,
        );
        for s in sent {
            if let Some(old) = attempted.insert(s.nonce, s) {
                assert_eq!(old.id, s.id, "nonce {} re-signed differently", s.nonce);
            }
        }
        node = start_node(&dir);
        next_nonce = audit_after_restart(
            &node.client(),
            &faucet_addr,
            &validator,
            &recipients,
            &attempted.values().copied().collect::<Vec<_>>(),
            &reported,
            height_before_kill,
        );
    }

    // The chain goes on and takes a new transfer at the faucet's pending nonce.
    let client = node.client();
    let head = client.status().expect("status").height;
    wait_height_above(&client, head, Duration::from_secs(20));
    let before = balance(&client, &recipients[0]);
    let extra = 777_777;
    let tx = transfer_with_fee(&faucet, next_nonce, KILL_FEE, recipients[0], extra);
    let id = client.send_transaction(&tx).expect("send after restart");
    let v = wait_committed(&client, &id, Duration::from_secs(20));
    assert!(v.height.expect("height") > head);
    assert_eq!(balance(&client, &recipients[0]), before + extra);
    // Every block, those decided around the kills included, is final: its commit certificate is
    // the validator's precommit for exactly that block.
    let last = client.status().expect("status").height;
    assert_certified(&client, &validator, 1..=last);
    let status_code = node.sigterm(Duration::from_secs(10));
    assert!(status_code.success(), "stop after the audit: {status_code}");
}

/// Blocks in `heights` carry a commit certificate: one precommit by the (single) validator for the
/// block's hash at the certificate's round, with a valid Ed25519 signature.
fn assert_certified(
    client: &RpcClient,
    validator: &Address,
    heights: std::ops::RangeInclusive<u64>,
) {
    use mameynode::consensus::context::{
        vote_sign_bytes, Address as ValidatorAddress, BlockHash, ChainTag, Height, NilOrVal, Round,
        Vote, VoteType,
    };
    // Votes are bound to the chain id and genesis hash the node reports.
    let status = client.status().expect("status");
    let chain = ChainTag {
        chain_id: status.chain_id,
        genesis_hash: status.genesis_hash.0,
    };
    let key = ed25519_dalek::VerifyingKey::from_bytes(&validator.0).expect("validator key");
    for h in heights {
        let block = client.block(h).expect("block");
        let commit = block
            .commit
            .unwrap_or_else(|| panic!("block {h} has no commit certificate"));
        assert_eq!(commit.signatures.len(), 1, "block {h}");
        let s = &commit.signatures[0];
        assert_eq!(&s.validator, validator, "block {h}");
        let vote = Vote {
            height: Height(h),
            round: Round::new(commit.round),
            value: NilOrVal::Val(BlockHash(block.hash.0)),
            kind: VoteType::Precommit,
            validator: ValidatorAddress(validator.0),
        };
        let sig: [u8; 64] = hex::decode(&s.signature)
            .expect("hex signature")
            .try_into()
            .expect("64 bytes");
        key.verify_strict(
            &vote_sign_bytes(&chain, &vote),
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .unwrap_or_else(|e| panic!("block {h}: precommit signature does not verify: {e}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Bad input gets typed errors; the node keeps running
// ---------------------------------------------------------------------------------------------

/// Collects error-code mismatches so that one run reports all of them, not just the first.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn code<T: std::fmt::Debug>(&mut self, what: &str, r: Result<T, ClientError>, want: i32) {
        match r {
            Err(e) if e.code() == Some(want) => {}
            Err(e) => self.0.push(format!("{what}: want error {want}, got {e}")),
            Ok(v) => self
                .0
                .push(format!("{what}: want error {want}, got Ok({v:?})")),
        }
    }

    fn send(&mut self, client: &RpcClient, what: &str, tx: &TxEnvelope, want: i32) {
        self.code(what, client.send_transaction(tx), want);
    }

    fn send_hex(&mut self, client: &RpcClient, what: &str, hex_tx: &str, want: i32) {
        self.code(
            what,
            client.call::<Value>("mamey_sendTransaction", json!([hex_tx])),
            want,
        );
    }

    fn http(&mut self, what: &str, r: &HttpResponse, want: i64) {
        let got = serde_json::from_str::<Value>(&r.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_i64());
        if got != Some(want) {
            self.0.push(format!(
                "{what}: want error {want}, got HTTP {} {:?}",
                r.status, r.body
            ));
        }
    }
}

#[test]
fn bad_input_gets_typed_errors_and_node_keeps_running() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("chain");
    let mut node = start_node(&dir);
    let client = node.client();
    let addr = node.rpc.clone();
    let faucet = faucet_key(&dir);
    let faucet_addr = keys::address_of(&faucet);
    let bob = new_address();
    let mut checks = Checks::default();

    // Malformed JSON, unknown method (raw HTTP).
    let r = http_post(
        &addr,
        b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ".to_vec(),
    );
    checks.http("truncated JSON", &r, -32700);
    let r = http_post(&addr, b"this is not json".to_vec());
    checks.http("not JSON", &r, -32700);
    let r = http_post(&addr, rpc_body("mamey_noSuchMethod", json!([])));
    checks.http("unknown method", &r, -32601);
    // Ids that are neither a string, an integer nor null: -32600 with id null, as client
    // libraries expect (not an empty body); in a batch, per element.
    for id in ["[1]", "{\"a\": 1}", "1.5", "true"] {
        let body = format!("{{\"jsonrpc\": \"2.0\", \"id\": {id}, \"method\": \"mamey_status\"}}");
        let r = http_post(&addr, body.into_bytes());
        checks.http(&format!("id {id}"), &r, -32600);
        if r.json()["id"] != Value::Null {
            checks
                .0
                .push(format!("id {id}: the error's id is not null: {}", r.body));
        }
    }
    let batch = br#"[{"jsonrpc": "2.0", "id": [2], "method": "mamey_status"},
                     {"jsonrpc": "2.0", "id": 3, "method": "mamey_status"}]"#;
    let r = http_post(&addr, batch.to_vec());
    let answers = r.json();
    let by_id = |id: Value| {
        answers
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"] == id).cloned())
    };
    let served = by_id(json!(3)).is_some_and(|x| x.get("result").is_some());
    let refused = by_id(Value::Null).map(|x| x["error"]["code"].clone()) == Some(json!(-32600));
    if !served || !refused {
        checks
            .0
            .push(format!("a batch with one bad id: {}", r.body));
    }
    // Subscriptions over plain HTTP say they need a WebSocket.
    let r = http_post(&addr, rpc_body("mamey_subscribe", json!(["newHeads"])));
    checks.http("mamey_subscribe over HTTP", &r, -32601);
    if !r.body.contains("WebSocket") {
        checks
            .0
            .push(format!("mamey_subscribe over HTTP: {}", r.body));
    }
    let r = http_post(&addr, rpc_body("mamey_status", json!([])));
    assert_eq!(
        r.status, 200,
        "raw mamey_status: HTTP {} {:?}",
        r.status, r.body
    );
    assert_eq!(
        r.json()["result"]["chain_id"],
        json!(CHAIN_ID),
        "{}",
        r.body
    );
    checks.code(
        "eth_blockNumber",
        client.call::<Value>("eth_blockNumber", json!([])),
        -32601,
    );

    // Bad hex, undecodable bytes, oversized.
    checks.send_hex(&client, "bad hex", "zz", -32602);
    checks.send_hex(&client, "odd-length hex", "abc", -32602);
    checks.code(
        "number instead of hex",
        client.call::<Value>("mamey_sendTransaction", json!([42])),
        -32602,
    );
    checks.send_hex(&client, "undecodable bytes", "00010203", 1000);
    let valid = transfer(&faucet, 0, bob, 5);
    let truncated = hex::encode(&valid.bytes[..valid.bytes.len() - 1]);
    checks.send_hex(&client, "truncated tx", &truncated, 1000);
    let mut trailing = valid.bytes.to_vec();
    trailing.push(0);
    checks.send_hex(&client, "trailing byte", &hex::encode(&trailing), 1000);
    checks.send_hex(&client, "3000-byte tx", &"ab".repeat(3000), 1001);

    // Wrong chain id.
    let wrong_chain = Transaction::sign(
        &faucet,
        CHAIN_ID + 1,
        0,
        1,
        Payload::Bank(BankCall::Transfer { to: bob, amount: 5 }),
    );
    checks.send(&client, "wrong chain", &wrong_chain, 1002);

    // Bad signatures: a bit flipped in R, one in S, and a signature by someone else than the sender.
    for (what, back) in [("bit flip in R", 40), ("bit flip in S", 10)] {
        let mut bytes = valid.bytes.to_vec();
        let i = bytes.len() - back;
        bytes[i] ^= 0x04;
        checks.send_hex(&client, what, &hex::encode(&bytes), 1003);
    }
    let mut bytes = valid.bytes.to_vec();
    bytes[9..41].copy_from_slice(&new_address().0);
    checks.send_hex(&client, "sender swapped", &hex::encode(&bytes), 1003);

    // None of that was admitted: the valid transaction commits, and its replay is refused.
    let id = client.send_transaction(&valid).expect("valid transfer");
    assert_eq!(id, valid.id);
    checks.send(
        &client,
        "duplicate of a pending or committed tx",
        &valid,
        1008,
    );
    wait_committed(&client, &id, Duration::from_secs(20));
    checks.send(&client, "replay of a committed tx", &valid, 1008);
    let stale = transfer(&faucet, 0, bob, 6);
    checks.send(&client, "stale nonce, other content", &stale, 1004);
    let next = client.account(&faucet_addr).expect("faucet").pending_nonce;
    assert_eq!(next, 1, "faucet pending nonce after one transfer");
    let ahead = transfer(&faucet, next + 5000, bob, 5);
    checks.send(&client, "nonce 5000 ahead", &ahead, 1005);

    // Insufficient funds, fee below the minimum, invalid amounts.
    let broke = transfer(&keys::generate(), 0, bob, 10);
    checks.send(&client, "from an empty account", &broke, 1006);
    let greedy = transfer(&faucet, next, bob, SUPPLY);
    checks.send(&client, "more than the faucet has", &greedy, 1006);
    let free = transfer_with_fee(&faucet, next, 0, bob, 5);
    checks.send(&client, "fee 0", &free, 1007);
    let overflow = transfer_with_fee(&faucet, next, 2, bob, u64::MAX);
    checks.send(&client, "amount + fee overflows", &overflow, 1010);
    let zero = transfer(&faucet, next, bob, 0);
    match client.send_transaction(&zero) {
        Err(e) if e.code() == Some(1010) => {}
        Err(e) => checks
            .0
            .push(format!("zero amount: want error 1010, got {e}")),
        Ok(id) => {
            // Admitted: it holds nonce `next` in the pool until execution discards it; wait for
            // that so that the checks below are not disturbed, and say what became of it.
            let deadline = Instant::now() + Duration::from_secs(10);
            let fate = loop {
                let v = client.transaction(&id);
                match &v {
                    Ok(v) if v.status == TxStatus::Pending && Instant::now() < deadline => {}
                    _ => break v,
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            checks.0.push(format!(
                "zero amount: want error 1010, got Ok({id}): admitted to the mempool; later {fate:?}"
            ));
        }
    }

    // Not found; invalid ids, addresses and heights.
    checks.code("unknown tx", client.transaction(&Hash([0xab; 32])), 3000);
    checks.code(
        "block far beyond the head",
        client.block(1_000_000_000),
        3000,
    );
    checks.code(
        "bad tx id",
        client.call::<Value>("mamey_getTransaction", json!(["xyz"])),
        -32602,
    );
    let bob_text = bob.to_string();
    let mut typo: Vec<char> = bob_text.chars().collect();
    typo[12] = if typo[12] == 'q' { 'p' } else { 'q' };
    let typo: String = typo.into_iter().collect();
    for bad in ["mamey1xyz", "not an address", typo.as_str(), ""] {
        checks.code(
            &format!("address {bad:?}"),
            client.call::<Value>("mamey_getAccount", json!([bad])),
            -32602,
        );
    }
    checks.code(
        "getAccount without params",
        client.call::<Value>("mamey_getAccount", json!([])),
        -32602,
    );
    checks.code(
        "negative height",
        client.call::<Value>("mamey_getBlock", json!([-1])),
        -32602,
    );

    // A body over the 1 MiB request limit: an error answer (JSON-RPC error or HTTP 413), no crash.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"mamey_sendTransaction\",\"params\":[\"{}\"]}}",
        "ab".repeat(600 * 1024)
    );
    assert!(big.len() > 1 << 20);
    let r = http_post(&addr, big.into_bytes());
    let rpc_error = serde_json::from_str::<Value>(&r.body)
        .map(|v| v.get("error").is_some())
        .unwrap_or(false);
    if r.status != 413 && !rpc_error {
        checks.0.push(format!(
            "body over 1 MiB: want HTTP 413 or a JSON-RPC error, got HTTP {} {:?}",
            r.status,
            &r.body[..r.body.len().min(300)]
        ));
    }

    // Still alive and working: a valid transfer commits.
    node.assert_alive();
    let before = balance(&client, &bob);
    let nonce = client.account(&faucet_addr).expect("faucet").pending_nonce;
    let tx = transfer(&faucet, nonce, bob, 99);
    let id = client
        .send_transaction(&tx)
        .expect("transfer after the bad input");
    wait_committed(&client, &id, Duration::from_secs(20));
    assert_eq!(balance(&client, &bob), before + 99);
    node.assert_alive();

    assert!(
        checks.0.is_empty(),
        "{} wrong answer(s):\n  {}",
        checks.0.len(),
        checks.0.join("\n  ")
    );
    let status_code = node.sigterm(Duration::from_secs(10));
    assert!(status_code.success(), "stop: {status_code}");
}

// ---------------------------------------------------------------------------------------------
// 4. `transfer --wait` reports a rejection
// ---------------------------------------------------------------------------------------------

#[test]
fn transfer_wait_reports_rejection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("chain");
    let node = start_node(&dir);
    let url = node.url.clone();
    let client = node.client();

    // Carol gets 1000 from the faucet.
    let carol_file = tmp.path().join("carol.key");
    let carol_file_s = carol_file.to_str().expect("utf-8 path");
    let carol = stdout_of(&cli(&["keys", "new", "--out", carol_file_s]), "keys new");
    let faucet_file = dir.join("dev/faucet.key");
    let faucet_file_s = faucet_file.to_str().expect("utf-8 path");
    stdout_of(
        &cli_transfer_wait(faucet_file_s, &carol, "1000", &url, &[]),
        "fund carol",
    );
    let dave = new_address().to_string();

    // Carol tries to send more than she has.
    let out = cli_transfer_wait(carol_file_s, &dave, "5000", &url, &["--timeout-secs", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an overdraft exited 0; stdout {:?}, stderr {stderr:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.to_lowercase().contains("insufficient funds"),
        "stderr does not say why: {stderr:?}"
    );

    // Exactly her balance is also too much: the fee does not fit.
    let out = cli_transfer_wait(carol_file_s, &dave, "1000", &url, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "amount == balance exited 0");
    assert!(
        stderr.to_lowercase().contains("insufficient funds"),
        "stderr does not say why: {stderr:?}"
    );

    // The faucet cannot send more than the supply either.
    let out = cli_transfer_wait(faucet_file_s, &dave, &SUPPLY.to_string(), &url, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "faucet overdraft exited 0");
    assert!(
        stderr.to_lowercase().contains("insufficient funds"),
        "stderr does not say why: {stderr:?}"
    );

    // Nothing moved; what fits still goes through.
    let dave_addr: Address = dave.parse().expect("address");
    assert_eq!(balance(&client, &dave_addr), 0);
    stdout_of(
        &cli_transfer_wait(carol_file_s, &dave, "999", &url, &[]),
        "carol pays what she can",
    );
    assert_eq!(balance(&client, &dave_addr), 999);
    let carol_addr: Address = carol.parse().expect("address");
    assert_eq!(balance(&client, &carol_addr), 0);

    // With no node to talk to, --wait fails with a message too.
    let status_code = node.sigterm(Duration::from_secs(10));
    assert!(status_code.success(), "stop: {status_code}");
    let out = cli_transfer_wait(carol_file_s, &dave, "1", &url, &[]);
    assert!(
        !out.status.success(),
        "transfer with the node down exited 0"
    );
    assert!(
        !out.stderr.is_empty(),
        "transfer with the node down printed no reason"
    );
}
