//! WebSocket subscriptions on the JSON-RPC port (`docs/API.md`, "WebSocket subscriptions"), tested
//! against real node processes with a raw WebSocket client (`tokio-tungstenite`), so that every
//! frame the node sends is seen as it is: jsonrpsee's own client ends a subscription on an error
//! notification without handing over its message, and it always reads the socket, which would hide
//! a slow reader.
//!
//! Every test starts its own dev chain in its own temporary directory on port 0 (bound addresses
//! read from `DATA_DIR/endpoints.json`); a [`Node`] guard kills the process when dropped and, on a
//! failing test, prints the tail of the node's log.
//!
//! - `new_heads_are_consecutive_and_match_get_block`: `["newHeads"]` yields consecutive heights,
//!   each notification equal to `mamey_getBlock` at that height.
//! - `transaction_subscription_follows_a_transfer_to_finalized_and_ends`: `["transaction", id]`
//!   right after submission reports the status until `finalized` (with height and block hash) and
//!   ends; for an already-final transaction it reports `finalized` at once and ends.
//! - `account_subscription_reports_each_balance_change`: `["account", address]` reports the account
//!   now and after each block that changes it, and only then.
//! - `slow_subscriber_is_told_it_lagged_and_fast_one_is_not`: a connection that stops reading gets,
//!   for each of its subscriptions, consecutive heights and then a "lagged" error notification after
//!   which the subscription is over; a subscriber on another connection reading at full speed sees
//!   every height and no error.
//! - `malformed_subscriptions_get_invalid_params_and_connection_survives`: bad params get -32602,
//!   unknown unsubscribe ids get `false`, garbage gets -32700, and the connection keeps working.
//! - `calls_over_the_rate_limit_get_2004_and_later_calls_succeed`: with `calls_per_second_max = 5`,
//!   a burst of 50 calls on one connection gets some 2004 "rate limited" errors; other connections
//!   are not affected, and after a pause the same connection is served again.

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{new_address, transfer, Metrics, Node, NodeOptions, CHAIN_ID, FEE};
use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use mameynode::keys;
use mameynode::types::TxEnvelope;
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const PARSE_ERROR: i64 = -32700;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const RATE_LIMITED: i64 = 2004;

/// How long any single expected message may take before the test gives up.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// The node
// ---------------------------------------------------------------------------------------------

/// A dev chain in a new temporary directory (see `tests/common`), its metrics endpoint (if this
/// build has one) on port 0.
fn node_options() -> NodeOptions {
    Node::options().metrics(Metrics::PortZeroIfSupported)
}

impl Node {
    /// A new WebSocket connection to the node's JSON-RPC port.
    async fn ws(&self) -> Ws {
        Ws::connect(&self.rpc, None).await
    }
}

// ---------------------------------------------------------------------------------------------
// A raw JSON-RPC WebSocket client
// ---------------------------------------------------------------------------------------------

/// One WebSocket connection. Messages that arrive while the test waits for something else are kept:
/// notifications in order for [`Ws::notification`], responses by id for [`Ws::response`] (the
/// node may answer pipelined calls in any order).
struct Ws {
    ws: WebSocketStream<TcpStream>,
    next_id: u64,
    backlog: VecDeque<Value>,
    responses: HashMap<u64, Value>,
}

fn is_notification(v: &Value) -> bool {
    v.get("method").is_some() && v.get("id").is_none()
}

impl Ws {
    /// Connects; with `recv_buffer`, the socket's receive buffer is set that small before
    /// connecting (so the TCP window stays small and a reader that stops reading is felt quickly).
    async fn connect(addr: &str, recv_buffer: Option<u32>) -> Ws {
        let sock_addr = addr.parse().expect("socket address");
        let socket = TcpSocket::new_v4().expect("TCP socket");
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes).expect("set SO_RCVBUF");
        }
        let stream = socket
            .connect(sock_addr)
            .await
            .expect("connect to the RPC port");
        let (ws, response) = tokio_tungstenite::client_async(format!("ws://{addr}/"), stream)
            .await
            .unwrap_or_else(|e| panic!("WebSocket handshake with {addr}: {e}"));
        assert_eq!(response.status().as_u16(), 101, "handshake answer");
        Ws {
            ws,
            next_id: 1,
            backlog: VecDeque::new(),
            responses: HashMap::new(),
        }
    }

    async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::text(text))
            .await
            .expect("send a WebSocket message");
    }

    /// Sends a request without waiting for its answer; returns its id.
    async fn send_request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.send_text(body.to_string()).await;
        id
    }

    /// The next JSON message from the socket, or `None` if none arrives within `limit`. Panics if
    /// the connection closes or sends something that is not JSON.
    async fn read(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("the node closed the WebSocket connection"),
                Ok(Some(Err(e))) => panic!("WebSocket error: {e}"),
                Ok(Some(Ok(m))) => m,
            };
            match msg {
                Message::Text(t) => {
                    return Some(serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                        panic!("the node sent a text frame that is not JSON ({e}): {t}")
                    }))
                }
                Message::Binary(b) => {
                    return Some(serde_json::from_slice(&b).unwrap_or_else(|e| {
                        panic!("the node sent a binary frame that is not JSON ({e}): {b:?}")
                    }))
                }
                Message::Close(frame) => panic!("the node closed the WebSocket: {frame:?}"),
                // Pings are answered by tungstenite itself.
                _ => {}
            }
        }
    }

    /// Files a message that is not the one being waited for.
    fn keep(&mut self, v: Value) {
        if is_notification(&v) {
            self.backlog.push_back(v);
        } else if let Some(id) = v["id"].as_u64() {
            let previous = self.responses.insert(id, v);
            assert!(previous.is_none(), "two responses to request {id}");
        } else {
            panic!("unexpected message from the node: {v}");
        }
    }

    /// Reads until the response with `id`; other messages on the way are kept.
    async fn response(&mut self, id: u64) -> Value {
        loop {
            if let Some(v) = self.responses.remove(&id) {
                return v;
            }
            let v = self
                .read(WAIT)
                .await
                .unwrap_or_else(|| panic!("no response to request {id} within {WAIT:?}"));
            self.keep(v);
        }
    }

    /// Calls `method` and returns the whole response object (result or error).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params).await;
        self.response(id).await
    }

    /// Calls `method` and returns its result; panics on an error.
    async fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params.clone()).await;
        match r.get("result") {
            Some(v) => v.clone(),
            None => panic!("{method} {params} failed: {r}"),
        }
    }

    /// Calls `method` and returns its error object; panics if it succeeds.
    async fn err(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params.clone()).await;
        match r.get("error") {
            Some(e) => e.clone(),
            None => panic!("{method} {params} should have failed, got {r}"),
        }
    }

    /// Subscribes; returns the subscription id.
    async fn subscribe(&mut self, params: Value) -> Value {
        let id = self.ok("mamey_subscribe", params.clone()).await;
        assert!(
            id.is_string() || id.is_u64(),
            "mamey_subscribe {params} returned {id}, not a subscription id"
        );
        id
    }

    fn take_backlog(&mut self, sub: &Value) -> Option<Value> {
        let pos = self
            .backlog
            .iter()
            .position(|n| &n["params"]["subscription"] == sub)?;
        self.backlog.remove(pos)
    }

    /// The `params` (`{"subscription", "result"|"error"}`) of the next notification of `sub`,
    /// or `None` if none arrives within `limit`. Other messages are kept.
    async fn try_notification(&mut self, sub: &Value, limit: Duration) -> Option<Value> {
        if let Some(n) = self.take_backlog(sub) {
            return Some(checked_notification(n));
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.read(left).await?;
            if is_notification(&v) && &v["params"]["subscription"] == sub {
                return Some(checked_notification(v));
            }
            self.keep(v);
        }
    }

    /// The result of the next notification of `sub`; panics on an error notification or timeout.
    async fn notification(&mut self, sub: &Value) -> Value {
        let n = self
            .try_notification(sub, WAIT)
            .await
            .unwrap_or_else(|| panic!("no notification for subscription {sub} within {WAIT:?}"));
        match n.get("result") {
            Some(r) => r.clone(),
            None => panic!("subscription {sub} got an error notification: {n}"),
        }
    }

    /// Asserts that `sub` gets no notification within `wait`.
    async fn assert_quiet(&mut self, sub: &Value, wait: Duration, why: &str) {
        if let Some(n) = self.try_notification(sub, wait).await {
            panic!("subscription {sub} should be quiet ({why}), got {n}");
        }
    }
}

/// Checks the envelope of a notification and returns its `params`.
fn checked_notification(v: Value) -> Value {
    assert_eq!(v["jsonrpc"], "2.0", "notification envelope: {v}");
    assert_eq!(
        v["method"], "mamey_subscription",
        "notification method: {v}"
    );
    assert!(v.get("id").is_none(), "a notification has no id: {v}");
    let params = v["params"].clone();
    assert!(
        params.get("result").is_some() != params.get("error").is_some(),
        "a notification carries exactly one of result and error: {v}"
    );
    params
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn u64_of(v: &Value, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what} is not a non-negative integer: {v}"))
}

/// The next nonce of `key`'s account (counting its pending transactions).
async fn next_nonce(ws: &mut Ws, key: &SigningKey) -> u64 {
    let a = ws
        .ok(
            "mamey_getAccount",
            json!([keys::address_of(key).to_string()]),
        )
        .await;
    u64_of(&a["pending_nonce"], "pending_nonce")
}

/// Submits a transfer over the WebSocket; checks and returns its id (hex).
async fn send_transfer(ws: &mut Ws, tx: &TxEnvelope) -> String {
    let id = ws
        .ok("mamey_sendTransaction", json!([hex::encode(&tx.bytes)]))
        .await;
    assert_eq!(
        id,
        json!(tx.id.to_hex()),
        "mamey_sendTransaction returns the id"
    );
    tx.id.to_hex()
}

fn status_rank(status: &str) -> u8 {
    match status {
        "pending" => 0,
        "committed" => 1,
        "finalized" => 2,
        other => panic!("unexpected transaction status {other:?}"),
    }
}

/// What one subscription of the slow connection received.
#[derive(Default, Debug)]
struct SubSeen {
    heights: Vec<u64>,
    error: Option<Value>,
    after_error: Vec<Value>,
}

fn record_notification(v: Value, seen: &mut BTreeMap<String, SubSeen>) {
    let params = checked_notification(v);
    let key = params["subscription"].to_string();
    let entry = seen
        .get_mut(&key)
        .unwrap_or_else(|| panic!("notification for an unknown subscription: {params}"));
    if entry.error.is_some() {
        entry.after_error.push(params);
    } else if let Some(e) = params.get("error") {
        entry.error = Some(e.clone());
    } else {
        entry
            .heights
            .push(u64_of(&params["result"]["height"], "newHeads height"));
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_heads_are_consecutive_and_match_get_block() {
    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let mut ws = node.ws().await;
    let sub = ws.subscribe(json!(["newHeads"])).await;
    let mut heads = Vec::new();
    for _ in 0..4 {
        heads.push(ws.notification(&sub).await);
    }
    for (i, head) in heads.iter().enumerate() {
        let height = u64_of(&head["height"], "newHeads height");
        assert!(height >= 1, "newHeads reports committed blocks: {head}");
        if i > 0 {
            let prev = &heads[i - 1];
            assert_eq!(
                height,
                u64_of(&prev["height"], "height") + 1,
                "newHeads skipped or repeated a height: {prev} then {head}"
            );
            assert_eq!(
                head["parent_hash"], prev["hash"],
                "newHeads: parent_hash of {height} is not the hash of the head before it"
            );
        }
        let block = ws.ok("mamey_getBlock", json!([height])).await;
        assert_eq!(
            head, &block,
            "the newHeads notification for {height} differs from mamey_getBlock"
        );
    }
    // Unsubscribing ends it: true once, then false.
    assert_eq!(ws.ok("mamey_unsubscribe", json!([sub])).await, json!(true));
    assert_eq!(ws.ok("mamey_unsubscribe", json!([sub])).await, json!(false));
    // Notifications already in flight may still arrive; after those, nothing more.
    while ws
        .try_notification(&sub, Duration::from_millis(300))
        .await
        .is_some()
    {}
    ws.assert_quiet(&sub, Duration::from_millis(300), "unsubscribed")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transaction_subscription_follows_a_transfer_to_finalized_and_ends() {
    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let faucet = node.faucet();
    let mut ws = node.ws().await;
    let to = new_address();
    let nonce = next_nonce(&mut ws, &faucet).await;
    let tx = transfer(&faucet, nonce, to, 777);
    // Send the transaction and the subscription back to back, without waiting in between.
    let send_id = ws
        .send_request("mamey_sendTransaction", json!([hex::encode(&tx.bytes)]))
        .await;
    let sub_id = ws
        .send_request("mamey_subscribe", json!(["transaction", tx.id.to_hex()]))
        .await;
    let sent = ws.response(send_id).await;
    assert_eq!(
        sent["result"],
        json!(tx.id.to_hex()),
        "mamey_sendTransaction: {sent}"
    );
    let subscribed = ws.response(sub_id).await;
    let sub = subscribed
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("mamey_subscribe [\"transaction\", id] failed: {subscribed}"));

    // Status objects until finalized, each a change, in order.
    let mut seen: Vec<Value> = Vec::new();
    loop {
        let v = ws.notification(&sub).await;
        assert_eq!(v["id"], json!(tx.id.to_hex()), "status of another id: {v}");
        let status = v["status"]
            .as_str()
            .unwrap_or_else(|| panic!("no status in {v}"))
            .to_string();
        assert_ne!(status, "rejected", "the transfer was rejected: {v}");
        if let Some(prev) = seen.last() {
            let prev_status = prev["status"].as_str().expect("status");
            assert!(
                status_rank(prev_status) < status_rank(&status),
                "statuses must only move forward and each notification be a change: {prev} then {v}"
            );
        } else {
            status_rank(&status);
        }
        seen.push(v);
        if status == "finalized" {
            break;
        }
    }
    let last = seen.last().expect("at least one status").clone();
    let height = u64_of(&last["height"], "finalized height");
    assert!(
        last["block_hash"].is_string(),
        "finalized has block_hash: {last}"
    );
    assert_eq!(
        last["fee_paid"],
        json!(FEE),
        "finalized has fee_paid: {last}"
    );
    assert!(last["index"].is_u64(), "finalized has index: {last}");
    let now = ws.ok("mamey_getTransaction", json!([tx.id.to_hex()])).await;
    assert_eq!(
        now, last,
        "the finalized notification equals mamey_getTransaction"
    );
    let block = ws.ok("mamey_getBlock", json!([height])).await;
    assert_eq!(block["hash"], last["block_hash"], "block hash at {height}");
    let in_block = block["transactions"]
        .as_array()
        .expect("transactions array")
        .iter()
        .filter(|t| **t == json!(tx.id.to_hex()))
        .count();
    assert_eq!(
        in_block, 1,
        "block {height} holds the transaction once: {block}"
    );

    // The subscription has ended: nothing more comes, and it is no longer active.
    ws.assert_quiet(&sub, Duration::from_millis(400), "its transaction is final")
        .await;
    assert_eq!(
        ws.ok("mamey_unsubscribe", json!([sub])).await,
        json!(false),
        "a transaction subscription ends by itself once the transaction is final"
    );

    // Subscribing to an already-final transaction: finalized at once, then the end.
    let sub2 = ws.subscribe(json!(["transaction", tx.id.to_hex()])).await;
    let first = ws.notification(&sub2).await;
    assert_eq!(
        first, last,
        "an already-final transaction is reported finalized at once"
    );
    ws.assert_quiet(
        &sub2,
        Duration::from_millis(400),
        "its transaction is final",
    )
    .await;
    assert_eq!(
        ws.ok("mamey_unsubscribe", json!([sub2])).await,
        json!(false),
        "the subscription to an already-final transaction ends by itself"
    );

    // A well-formed id that the node never saw: the subscription is accepted (the transaction may
    // still arrive) or refused with a clear error, and the connection goes on either way.
    let unknown = "ab".repeat(32);
    let r = ws
        .call("mamey_subscribe", json!(["transaction", unknown]))
        .await;
    assert!(
        r.get("result").is_some() || r.get("error").is_some(),
        "subscribe to an unknown id: {r}"
    );
    let status = ws.ok("mamey_status", json!([])).await;
    assert_eq!(status["chain_id"], json!(CHAIN_ID));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn account_subscription_reports_each_balance_change() {
    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let faucet = node.faucet();
    let mut ws = node.ws().await;
    let fresh = new_address();
    let sub = ws.subscribe(json!(["account", fresh.to_string()])).await;
    let now = ws.notification(&sub).await;
    assert_eq!(now["address"], json!(fresh.to_string()), "{now}");
    assert_eq!(now["balance"], json!(0), "a fresh account is empty: {now}");
    assert_eq!(now["nonce"], json!(0), "{now}");

    let mut expected = 0u64;
    let mut balances = Vec::new();
    for amount in [1_000u64, 2_345] {
        let nonce = next_nonce(&mut ws, &faucet).await;
        send_transfer(&mut ws, &transfer(&faucet, nonce, fresh, amount)).await;
        expected += amount;
        let update = ws.notification(&sub).await;
        assert_eq!(update["address"], json!(fresh.to_string()), "{update}");
        assert_eq!(
            update["balance"],
            json!(expected),
            "the account update after a transfer of {amount}: {update}"
        );
        assert_eq!(
            update["nonce"],
            json!(0),
            "the account sent nothing: {update}"
        );
        balances.push(expected);
    }
    assert!(balances[0] < balances[1], "balances increase: {balances:?}");
    let account = ws.ok("mamey_getAccount", json!([fresh.to_string()])).await;
    assert_eq!(
        account["balance"],
        json!(expected),
        "mamey_getAccount agrees"
    );
    // Blocks that do not touch the account (empty ones keep coming) send nothing.
    ws.assert_quiet(
        &sub,
        Duration::from_millis(500),
        "no block changed the account",
    )
    .await;
    assert_eq!(ws.ok("mamey_unsubscribe", json!([sub])).await, json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_subscriber_is_told_it_lagged_and_fast_one_is_not() {
    // Every wait inside has its own limit; this bounds the whole, so a stall fails with a message
    // instead of hanging the suite.
    tokio::time::timeout(Duration::from_secs(120), slow_subscriber_scenario())
        .await
        .expect("the slow-subscriber scenario finished within 120 s");
}

async fn slow_subscriber_scenario() {
    // Small buffers, fast blocks, no fsync per block. subscriber_buffer_blocks is 16 rather than 2
    // and blocks come every 20 ms so that the *fast* subscriber, which must not lag, has 320 ms of
    // slack for scheduling hiccups on a busy test machine.
    //
    // The kernel absorbs a lot of what a reader does not read: on Linux the node's socket send
    // buffer grows to `net.ipv4.tcp_wmem` max (4 MiB by default, ~3 MB of payload) whatever the
    // reader's receive buffer. So the slow connection holds many subscriptions (200 newHeads, about
    // 90 KB of notifications a block): it fills the kernel's buffers within a few dozen blocks and
    // then falls behind for real.
    let config = "\
[pipeline]
subscriber_buffer_blocks = 16

[rpc]
ws_buffer_messages = 4
subscriptions_per_connection_max = 256

[block]
interval_ms = 20

[storage]
durable = false
";
    const SLOW_SUBSCRIPTIONS: usize = 200;
    // 200 subscriptions × 300 blocks × ~450 bytes ≈ 27 MB: far more than the kernel's socket
    // buffers can hold, so the node's per-subscriber buffer really fills.
    const BLOCKS_UNREAD: u64 = 300;
    let mut node = node_options().config(config).start_in_temp_dir();

    // The fast subscriber reads everything on its own connection, in its own task.
    let mut fast = node.ws().await;
    let fast_sub = fast.subscribe(json!(["newHeads"])).await;
    let fast_seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let fast_task = {
        let seen = fast_seen.clone();
        let sub = fast_sub.clone();
        tokio::spawn(async move {
            loop {
                let n = fast
                    .try_notification(&sub, WAIT)
                    .await
                    .expect("the fast subscriber gets a notification every block");
                let is_error = n.get("error").is_some();
                seen.lock().expect("lock").push(n);
                if is_error {
                    return;
                }
            }
        })
    };
    let fast_height = |seen: &Arc<Mutex<Vec<Value>>>| -> u64 {
        seen.lock()
            .expect("lock")
            .iter()
            .rev()
            .find_map(|n| n["result"]["height"].as_u64())
            .unwrap_or(0)
    };

    // The slow connection: many newHeads subscriptions (so that the node has plenty to write) and
    // a small receive buffer; then it stops reading.
    // The default receive buffer: a tiny SO_RCVBUF on loopback (64 KiB segments) stalls TCP in
    // zero-window probing, which tests the kernel rather than the node. The kernel buffers
    // (a few MB each way) are overrun by the unread blocks below instead.
    let mut slow = Ws::connect(&node.rpc, None).await;
    let mut subs = Vec::new();
    for _ in 0..SLOW_SUBSCRIPTIONS {
        subs.push(slow.subscribe(json!(["newHeads"])).await);
    }
    let deadline = Instant::now() + WAIT;
    while fast_height(&fast_seen) == 0 {
        assert!(Instant::now() < deadline, "no block within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let paused_at = fast_height(&fast_seen);
    let deadline = Instant::now() + Duration::from_secs(40);
    while fast_height(&fast_seen) < paused_at + BLOCKS_UNREAD {
        assert!(
            Instant::now() < deadline,
            "the chain did not advance {BLOCKS_UNREAD} blocks in 40 s (at {} from {paused_at})",
            fast_height(&fast_seen)
        );
        assert!(
            !fast_task.is_finished(),
            "the fast subscriber stopped: {:?}",
            fast_seen.lock().expect("lock").last()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.assert_alive();

    // Now read the slow connection: per subscription, consecutive heights, then "lagged", then
    // nothing more.
    let mut seen: BTreeMap<String, SubSeen> = subs
        .iter()
        .map(|s| (s.to_string(), SubSeen::default()))
        .collect();
    for v in std::mem::take(&mut slow.backlog) {
        record_notification(v, &mut seen);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.values().any(|s| s.error.is_none()) {
        let left = deadline.saturating_duration_since(Instant::now());
        match slow.read(left.min(WAIT)).await {
            Some(v) => record_notification(v, &mut seen),
            None => break,
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    let lagged = seen.values().filter(|s| s.error.is_some()).count();
    let summary: Vec<String> = seen
        .iter()
        .filter(|(_, s)| s.error.is_none())
        .take(10)
        .map(|(k, s)| {
            format!(
                "{k}: {} heights {:?}..{:?}, error {:?}",
                s.heights.len(),
                s.heights.first(),
                s.heights.last(),
                s.error
            )
        })
        .collect();
    assert_eq!(
        lagged,
        SLOW_SUBSCRIPTIONS,
        "after {BLOCKS_UNREAD} blocks unread, every subscription of the slow connection should \
         have been told it lagged; some that were not:\n{}",
        summary.join("\n")
    );
    // A little longer: nothing may follow a lag notice.
    while let Some(v) = slow.read(Duration::from_millis(300)).await {
        record_notification(v, &mut seen);
    }
    for (sub, s) in &seen {
        let error = s.error.as_ref().expect("checked above");
        let text = error
            .as_str()
            .map(str::to_string)
            .or_else(|| error["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| error.to_string());
        assert!(
            text.contains("lagged"),
            "subscription {sub}: the error notification should say it lagged: {error}"
        );
        for w in s.heights.windows(2) {
            assert_eq!(
                w[1],
                w[0] + 1,
                "subscription {sub}: heights before the lag notice must be consecutive (none \
                 silently skipped): {:?}",
                s.heights
            );
        }
        assert!(
            s.after_error.is_empty(),
            "subscription {sub}: notifications after the lag notice: {:?}",
            s.after_error
        );
    }
    // The lagged subscriptions are over; the connection itself still works.
    for sub in &subs {
        assert_eq!(
            slow.ok("mamey_unsubscribe", json!([sub])).await,
            json!(false),
            "a lagged subscription is closed by the node"
        );
    }
    assert_eq!(
        slow.ok("mamey_status", json!([])).await["chain_id"],
        json!(CHAIN_ID)
    );

    // The fast subscriber saw every height, in order, and no error.
    assert!(
        !fast_task.is_finished(),
        "the fast subscriber ended: {:?}",
        fast_seen.lock().expect("lock").last()
    );
    fast_task.abort();
    let fast_seen = fast_seen.lock().expect("lock").clone();
    assert!(
        fast_seen.iter().all(|n| n.get("error").is_none()),
        "the fast subscriber got an error notification"
    );
    let heights: Vec<u64> = fast_seen
        .iter()
        .map(|n| u64_of(&n["result"]["height"], "height"))
        .collect();
    assert!(heights.len() as u64 >= BLOCKS_UNREAD, "{}", heights.len());
    for w in heights.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "the fast subscriber missed or repeated a height"
        );
    }
    node.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_subscriptions_get_invalid_params_and_connection_survives() {
    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let mut ws = node.ws().await;
    let bad_params = [
        json!(["nope"]),
        json!(["transaction", "zz"]),
        json!(["transaction", "ab".repeat(31)]),
        json!(["transaction"]),
        json!(["account", "bad"]),
        json!(["account", "mamey1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"]),
        json!(["newHeads", "extra"]),
        json!([]),
        json!([42]),
        json!({"topic": "newHeads"}),
    ];
    for params in bad_params {
        let e = ws.err("mamey_subscribe", params.clone()).await;
        assert_eq!(
            e["code"],
            json!(INVALID_PARAMS),
            "mamey_subscribe {params}: expected -32602, got {e}"
        );
        let message = e["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "the error says what is wrong: {e}");
    }
    // Unsubscribing from something that does not exist: false (or an error), never a crash.
    for params in [json!(["no-such-subscription"]), json!([12345]), json!([])] {
        let r = ws.call("mamey_unsubscribe", params.clone()).await;
        let ok = r.get("result") == Some(&json!(false)) || r.get("error").is_some();
        assert!(
            ok,
            "mamey_unsubscribe {params}: expected false or an error, got {r}"
        );
    }
    // Unknown method and a frame that is not JSON.
    let e = ws.err("mamey_nope", json!([])).await;
    assert_eq!(e["code"], json!(METHOD_NOT_FOUND), "{e}");
    ws.send_text("{this is not json".to_string()).await;
    let r = ws
        .read(WAIT)
        .await
        .expect("an answer to a frame that is not JSON");
    assert_eq!(r["error"]["code"], json!(PARSE_ERROR), "{r}");

    // The connection still works: calls and a subscription.
    let status = ws.ok("mamey_status", json!([])).await;
    assert_eq!(status["chain_id"], json!(CHAIN_ID));
    let sub = ws.subscribe(json!(["newHeads"])).await;
    let head = ws.notification(&sub).await;
    assert!(head["height"].is_u64(), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_over_the_rate_limit_get_2004_and_later_calls_succeed() {
    let config = "\
[rpc]
calls_per_second_max = 5
";
    let node = node_options()
        .config(config)
        .block_interval_ms(50)
        .start_in_temp_dir();
    let mut ws = node.ws().await;
    const BURST: usize = 50;
    let mut ids = Vec::new();
    for _ in 0..BURST {
        ids.push(ws.send_request("mamey_status", json!([])).await);
    }
    let mut ok = 0;
    let mut limited = 0;
    for id in ids {
        let r = ws.response(id).await;
        if r.get("result").is_some() {
            assert_eq!(r["result"]["chain_id"], json!(CHAIN_ID), "{r}");
            ok += 1;
        } else {
            let e = &r["error"];
            assert_eq!(
                e["code"],
                json!(RATE_LIMITED),
                "only rate limiting may fail: {r}"
            );
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.contains("rate limited"), "error message: {e}");
            limited += 1;
        }
    }
    assert!(
        limited > 0,
        "{BURST} calls at once with calls_per_second_max = 5: none was rate limited"
    );
    assert!(
        ok > 0,
        "the first calls (within the burst allowance) succeed"
    );

    // Another connection has its own allowance.
    let mut other = node.ws().await;
    assert_eq!(
        other.ok("mamey_status", json!([])).await["chain_id"],
        json!(CHAIN_ID),
        "a second connection is not limited by the first one's calls"
    );

    // After a pause the first connection is served again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        ws.ok("mamey_status", json!([])).await["chain_id"],
        json!(CHAIN_ID),
        "a call 1.5 s after the burst succeeds"
    );
}
