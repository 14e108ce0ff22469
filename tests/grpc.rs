//! The gRPC API (`docs/API.md`, "gRPC"; `proto/mamey/v1`) against real node processes, with the
//! client code tonic generates from the same protos.
//!
//! Every test starts its own dev chain in its own temporary directory on port 0 (bound addresses
//! read from `DATA_DIR/endpoints.json`); a [`Node`] guard kills the process when dropped and, on a
//! failing test, prints the tail of the node's log.
//!
//! - `node_service_answers_and_maps_errors`: `GetStatus`, `SubmitTransaction` → `GetTransaction`
//!   (finalized, with height and block hash) → `GetBlock` and `GetAccount`, the same answers as
//!   JSON-RPC; refusals get the documented status codes and `mamey-error-code` metadata.
//! - `replay_joins_live_with_no_gap_and_no_duplicate`: `Subscribe` from height 1 while transfers
//!   keep arriving: blocks 1, 2, 3, … each exactly once up to past the live head, each block's
//!   transactions right after it and exactly as `GetBlock` lists them, every transfer exactly once
//!   at its committed height.
//! - `filters_yield_only_what_touches_the_accounts`: `accounts: [A]` yields exactly the transfers
//!   A sends or receives and A's account after each block that changed it; no block updates
//!   without `blocks`; bad requests are refused with INVALID_ARGUMENT.
//! - `replay_from_far_behind_is_not_lag`: with a tiny `stream_lag_blocks_max`, a replay from height
//!   1 of a longer chain is served (replay is not lag).
//! - `slow_stream_ends_with_resource_exhausted_and_resumes_without_gap`: a stream that stops
//!   reading falls behind and ends with RESOURCE_EXHAUSTED naming `from_height`, which is exactly
//!   the next block it did not get; resuming there continues with no gap.
//! - `health_and_reflection`: the standard health service reports SERVING; reflection lists the
//!   services and serves their descriptors.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{new_address, transfer, Metrics, Node, NodeOptions, CHAIN_ID, FEE};
use ed25519_dalek::SigningKey;
use mameynode::grpc::proto::node_service_client::NodeServiceClient;
use mameynode::grpc::proto::stream_service_client::StreamServiceClient;
use mameynode::grpc::proto::subscribe_update::Update;
use mameynode::grpc::proto::{
    BlockHeader, Commitment, GetAccountRequest, GetBlockRequest, GetStatusRequest,
    GetTransactionRequest, SubmitTransactionRequest, SubscribeRequest, SubscribeUpdate, TxStatus,
};
use mameynode::keys;
use mameynode::types::{Address, BankCall, Payload, Transaction, TxEnvelope};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

/// How long any single expected answer or update may take before the test gives up.
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
    fn endpoint(&self) -> Endpoint {
        Endpoint::from_shared(format!("http://{}", self.grpc))
            .expect("gRPC endpoint")
            .connect_timeout(Duration::from_secs(5))
    }

    async fn channel(&self) -> Channel {
        self.endpoint()
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect to gRPC at {}: {e}", self.grpc))
    }

    async fn node_client(&self) -> NodeServiceClient<Channel> {
        NodeServiceClient::new(self.channel().await)
    }

    async fn stream_client(&self) -> StreamServiceClient<Channel> {
        StreamServiceClient::new(self.channel().await)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The `mamey-error-code` metadata of a status, if any.
fn error_code(s: &Status) -> Option<String> {
    s.metadata()
        .get("mamey-error-code")
        .map(|v| v.to_str().expect("ASCII metadata").to_string())
}

/// Asserts a gRPC error's status code and, when given, its `mamey-error-code`.
fn assert_status(
    r: Result<impl std::fmt::Debug, Status>,
    code: Code,
    mamey: Option<&str>,
    what: &str,
) {
    let s = match r {
        Ok(v) => panic!("{what}: expected {code:?}, got a success: {v:?}"),
        Err(s) => s,
    };
    assert_eq!(s.code(), code, "{what}: status code ({s:?})");
    assert!(
        !s.message().is_empty(),
        "{what}: the status says what went wrong"
    );
    if let Some(m) = mamey {
        assert_eq!(
            error_code(&s).as_deref(),
            Some(m),
            "{what}: mamey-error-code metadata ({s:?})"
        );
    }
}

async fn pending_nonce(client: &mut NodeServiceClient<Channel>, key: &SigningKey) -> u64 {
    client
        .get_account(GetAccountRequest {
            address: keys::address_of(key).to_string(),
        })
        .await
        .expect("GetAccount")
        .into_inner()
        .pending_nonce
}

async fn submit(client: &mut NodeServiceClient<Channel>, tx: &TxEnvelope) {
    let id = client
        .submit_transaction(SubmitTransactionRequest {
            transaction: tx.bytes.to_vec(),
        })
        .await
        .unwrap_or_else(|s| panic!("SubmitTransaction {}: {s:?}", tx.id))
        .into_inner()
        .id;
    assert_eq!(id, tx.id.0.to_vec(), "SubmitTransaction returns the id");
}

/// `Subscribe` to blocks only (the other fields their defaults) from `from_height`; panics with
/// `what` if refused.
async fn subscribe_blocks(
    mut client: StreamServiceClient<Channel>,
    from_height: u64,
    what: &str,
) -> Streaming<SubscribeUpdate> {
    client
        .subscribe(SubscribeRequest {
            blocks: true,
            from_height: Some(from_height),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("{what}: {s:?}"))
        .into_inner()
}

/// Polls `GetTransaction` until the transaction is finalized; returns its height.
async fn wait_finalized(client: &mut NodeServiceClient<Channel>, tx: &TxEnvelope) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = client
            .get_transaction(GetTransactionRequest {
                id: tx.id.0.to_vec(),
            })
            .await
            .unwrap_or_else(|s| panic!("GetTransaction {}: {s:?}", tx.id))
            .into_inner();
        match TxStatus::try_from(r.status) {
            Ok(TxStatus::Finalized) => {
                return r
                    .height
                    .unwrap_or_else(|| panic!("finalized without height: {r:?}"))
            }
            Ok(TxStatus::Pending | TxStatus::Committed) => {}
            other => panic!("transaction {} is {other:?}: {r:?}", tx.id),
        }
        assert!(
            Instant::now() < deadline,
            "transaction {} not finalized within {WAIT:?}",
            tx.id
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn head(client: &mut NodeServiceClient<Channel>) -> u64 {
    client
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner()
        .height
}

async fn wait_head_at_least(client: &mut NodeServiceClient<Channel>, height: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = head(client).await;
        if h >= height {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the chain did not reach height {height} (at {h})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn block_header(
    client: &mut NodeServiceClient<Channel>,
    height: u64,
) -> (BlockHeader, Vec<Vec<u8>>) {
    let b = client
        .get_block(GetBlockRequest { height })
        .await
        .unwrap_or_else(|s| panic!("GetBlock {height}: {s:?}"))
        .into_inner();
    (
        b.header
            .unwrap_or_else(|| panic!("GetBlock {height} has no header")),
        b.transactions,
    )
}

/// The next update of a stream; panics on an error, the end of the stream, or a timeout.
async fn next_update(stream: &mut Streaming<SubscribeUpdate>, what: &str) -> Update {
    match tokio::time::timeout(WAIT, stream.message()).await {
        Err(_) => panic!("{what}: no update within {WAIT:?}"),
        Ok(Err(s)) => panic!("{what}: the stream failed: {s:?}"),
        Ok(Ok(None)) => panic!("{what}: the stream ended"),
        Ok(Ok(Some(u))) => u
            .update
            .unwrap_or_else(|| panic!("{what}: an update with nothing in it")),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_service_answers_and_maps_errors() {
    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let mut client = node.node_client().await;
    let rpc = node.client();

    let status = client
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus")
        .into_inner();
    assert_eq!(status.chain_id, CHAIN_ID, "{status:?}");
    assert_eq!(status.finalized_height, status.height, "{status:?}");
    assert_eq!(status.genesis_hash.len(), 32, "{status:?}");
    assert_eq!(status.head_hash.len(), 32, "{status:?}");
    assert_eq!(status.min_fee, FEE, "{status:?}");
    assert!(!status.version.is_empty(), "{status:?}");
    let rpc_status = tokio::task::block_in_place(|| rpc.status()).expect("mamey_status");
    assert_eq!(
        status.genesis_hash,
        rpc_status.genesis_hash.0.to_vec(),
        "same chain as JSON-RPC"
    );

    // A transfer through gRPC, followed to finality.
    let faucet = node.faucet();
    let to = new_address();
    let nonce = pending_nonce(&mut client, &faucet).await;
    let tx = transfer(&faucet, nonce, to, 4_321);
    submit(&mut client, &tx).await;
    let height = wait_finalized(&mut client, &tx).await;
    let t = client
        .get_transaction(GetTransactionRequest {
            id: tx.id.0.to_vec(),
        })
        .await
        .expect("GetTransaction")
        .into_inner();
    assert_eq!(t.id, tx.id.0.to_vec());
    assert_eq!(t.status, TxStatus::Finalized as i32, "{t:?}");
    assert_eq!(t.height, Some(height));
    assert_eq!(t.fee_paid, Some(FEE), "{t:?}");
    assert!(t.error.is_empty(), "{t:?}");
    let (header, txs) = block_header(&mut client, height).await;
    assert_eq!(header.height, height);
    assert_eq!(
        header.hash, t.block_hash,
        "GetTransaction block_hash is the block's hash"
    );
    assert_eq!(header.tx_count as usize, txs.len(), "{header:?}");
    let index = t.index.expect("finalized has index") as usize;
    assert_eq!(
        txs.get(index),
        Some(&tx.id.0.to_vec()),
        "the block holds it at its index"
    );

    // The same answers as JSON-RPC.
    let rpc_block = tokio::task::block_in_place(|| rpc.block(height)).expect("mamey_getBlock");
    assert_eq!(header.hash, rpc_block.hash.0.to_vec());
    assert_eq!(header.parent_hash, rpc_block.parent_hash.0.to_vec());
    assert_eq!(header.state_root, rpc_block.state_root.0.to_vec());
    assert_eq!(header.tx_root, rpc_block.tx_root.0.to_vec());
    assert_eq!(header.proposer, rpc_block.proposer.to_string());
    assert_eq!(header.timestamp_ms, rpc_block.timestamp_ms);
    let rpc_txs: Vec<Vec<u8>> = rpc_block
        .transactions
        .iter()
        .map(|h| h.0.to_vec())
        .collect();
    assert_eq!(txs, rpc_txs);

    let account = client
        .get_account(GetAccountRequest {
            address: to.to_string(),
        })
        .await
        .expect("GetAccount")
        .into_inner();
    assert_eq!(account.address, to.to_string());
    assert_eq!(account.balance, 4_321, "{account:?}");
    assert_eq!(
        (account.nonce, account.pending_nonce),
        (0, 0),
        "{account:?}"
    );
    let rpc_account = tokio::task::block_in_place(|| rpc.account(&to)).expect("mamey_getAccount");
    assert_eq!(account.balance, rpc_account.balance);
    let sender = client
        .get_account(GetAccountRequest {
            address: keys::address_of(&faucet).to_string(),
        })
        .await
        .expect("GetAccount faucet")
        .into_inner();
    assert!(
        sender.nonce > nonce,
        "the faucet's nonce moved on: {sender:?}"
    );

    // Errors: status code and mamey-error-code.
    let far = head(&mut client).await + 1_000_000;
    assert_status(
        client.get_block(GetBlockRequest { height: far }).await,
        Code::NotFound,
        Some("3000"),
        "GetBlock far ahead",
    );
    assert_status(
        client
            .get_transaction(GetTransactionRequest { id: vec![7; 32] })
            .await,
        Code::NotFound,
        Some("3000"),
        "GetTransaction of an unknown id",
    );
    assert_status(
        client
            .submit_transaction(SubmitTransactionRequest {
                transaction: vec![0xde, 0xad, 0xbe, 0xef],
            })
            .await,
        Code::InvalidArgument,
        Some("1000"),
        "SubmitTransaction of garbage",
    );
    assert_status(
        client
            .submit_transaction(SubmitTransactionRequest {
                transaction: tx.bytes.to_vec(),
            })
            .await,
        Code::AlreadyExists,
        Some("1008"),
        "SubmitTransaction of a committed transaction",
    );
    let wrong_chain = Transaction::sign(
        &faucet,
        CHAIN_ID + 1,
        nonce + 1,
        FEE,
        Payload::Bank(BankCall::Transfer { to, amount: 1 }),
    );
    assert_status(
        client
            .submit_transaction(SubmitTransactionRequest {
                transaction: wrong_chain.bytes.to_vec(),
            })
            .await,
        Code::InvalidArgument,
        Some("1002"),
        "SubmitTransaction for another chain",
    );
    let broke = transfer(&keys::generate(), 0, to, 10);
    assert_status(
        client
            .submit_transaction(SubmitTransactionRequest {
                transaction: broke.bytes.to_vec(),
            })
            .await,
        Code::FailedPrecondition,
        Some("1006"),
        "SubmitTransaction from an empty account",
    );
    // Over grpc.message_bytes_max (64 KiB): refused by the transport (tonic says OUT_OF_RANGE, the
    // gRPC convention is RESOURCE_EXHAUSTED); either way refused, not served.
    let huge = client
        .submit_transaction(SubmitTransactionRequest {
            transaction: vec![0; 70_000],
        })
        .await;
    match huge {
        Err(s) if matches!(s.code(), Code::OutOfRange | Code::ResourceExhausted) => {}
        other => panic!("SubmitTransaction over grpc.message_bytes_max: {other:?}"),
    }
    let bad_address = client
        .get_account(GetAccountRequest {
            address: "mamey1notanaddress".to_string(),
        })
        .await
        .map(|r| r.into_inner());
    let bad_id = client
        .get_transaction(GetTransactionRequest { id: vec![1, 2, 3] })
        .await
        .map(|r| r.into_inner());
    assert_status(
        bad_address.clone(),
        Code::InvalidArgument,
        None,
        "GetAccount of a bad address",
    );
    assert_status(
        bad_id.clone(),
        Code::InvalidArgument,
        None,
        "GetTransaction of a 3-byte id",
    );

    // The node still serves.
    assert!(head(&mut client).await >= height);

    // docs/API.md: gRPC errors "carry the JSON-RPC code above in the mamey-error-code metadata";
    // for wrong params that code is -32602.
    assert_status(
        bad_address,
        Code::InvalidArgument,
        Some("-32602"),
        "GetAccount of a bad address (docs/API.md: errors carry the JSON-RPC code)",
    );
    assert_status(
        bad_id,
        Code::InvalidArgument,
        Some("-32602"),
        "GetTransaction of a 3-byte id (docs/API.md: errors carry the JSON-RPC code)",
    );
}

/// A transfer as submitted, to compare with what the stream reports.
#[derive(Clone, Debug)]
struct Sent {
    tx: TxEnvelope,
    to: Address,
    amount: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_joins_live_with_no_gap_and_no_duplicate() {
    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let mut client = node.node_client().await;
    let faucet = node.faucet();
    let recipients: Vec<Address> = (0..3).map(|_| new_address()).collect();
    let mut nonce = pending_nonce(&mut client, &faucet).await;
    let mut sent: Vec<Sent> = Vec::new();

    // History: three rounds of four transfers, each round committed before the next.
    for round in 0..3u64 {
        let mut this_round = Vec::new();
        for i in 0..4u64 {
            let to = recipients[(i % 3) as usize];
            let amount = 100 + round * 10 + i;
            let tx = transfer(&faucet, nonce, to, amount);
            nonce += 1;
            submit(&mut client, &tx).await;
            this_round.push(Sent { tx, to, amount });
        }
        for s in &this_round {
            wait_finalized(&mut client, &s.tx).await;
        }
        sent.extend(this_round);
    }
    let head_at_subscribe = head(&mut client).await;

    // Live: more transfers keep arriving while the stream replays and joins the live blocks.
    let submitter = {
        let mut client = client.clone();
        let faucet = faucet.clone();
        let recipients = recipients.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..12u64 {
                let to = recipients[(i % 3) as usize];
                let amount = 1_000 + i;
                let tx = transfer(&faucet, nonce + i, to, amount);
                submit(&mut client, &tx).await;
                sent.push(Sent { tx, to, amount });
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            sent
        })
    };
    let mut stream = node
        .stream_client()
        .await
        .subscribe(SubscribeRequest {
            blocks: true,
            transactions: true,
            accounts: Vec::new(),
            commitment: Commitment::Committed as i32,
            from_height: Some(1),
            events: None,
        })
        .await
        .expect("Subscribe")
        .into_inner();
    let live_sent = submitter.await.expect("submitter task");
    let mut last_tx_height = 0;
    for s in &live_sent {
        last_tx_height = last_tx_height.max(wait_finalized(&mut client, &s.tx).await);
    }
    sent.extend(live_sent);
    // Read past the head at subscription time (so live blocks follow replayed ones) and past the
    // block of the last transfer (its transactions come before the next block update).
    let read_to = (head_at_subscribe + 5).max(last_tx_height + 1);

    let mut headers: BTreeMap<u64, BlockHeader> = BTreeMap::new();
    let mut txs_at: BTreeMap<u64, Vec<mameynode::grpc::proto::TransactionUpdate>> = BTreeMap::new();
    let mut current = 0u64;
    while current < read_to {
        match next_update(&mut stream, "replay stream").await {
            Update::Event(e) => panic!("no events filter, got an event update {e:?}"),
            Update::Block(b) => {
                assert_eq!(
                    b.height,
                    current + 1,
                    "block updates must be 1, 2, 3, … with no gap and no repeat (after {current})"
                );
                let header = b
                    .header
                    .unwrap_or_else(|| panic!("block {} has no header", b.height));
                assert_eq!(header.height, b.height, "{header:?}");
                current = b.height;
                headers.insert(current, header);
                txs_at.insert(current, Vec::new());
            }
            Update::Transaction(t) => {
                assert!(current > 0, "a transaction before any block: {t:?}");
                assert_eq!(
                    t.height, current,
                    "a transaction update comes right after its block's update: {t:?}"
                );
                let list = txs_at.get_mut(&current).expect("block seen");
                assert_eq!(
                    t.index as usize,
                    list.len(),
                    "indexes in block order: {t:?}"
                );
                list.push(t);
            }
            Update::Account(a) => panic!("no accounts were asked for, got {a:?}"),
        }
    }
    assert!(current > head_at_subscribe, "the stream went live");

    // Every block as GetBlock has it, linked to its parent, with its transactions.
    let mut seen_ids: HashMap<Vec<u8>, u64> = HashMap::new();
    for (&h, header) in &headers {
        let (stored, stored_txs) = block_header(&mut client, h).await;
        assert_eq!(
            header, &stored,
            "block {h}: the stream's header differs from GetBlock"
        );
        if h > 1 {
            assert_eq!(
                header.parent_hash,
                headers[&(h - 1)].hash,
                "block {h}'s parent"
            );
        }
        let streamed: Vec<Vec<u8>> = txs_at[&h].iter().map(|t| t.id.clone()).collect();
        assert_eq!(
            streamed, stored_txs,
            "block {h}: the stream's transactions differ from GetBlock's"
        );
        assert_eq!(
            header.tx_count as usize,
            streamed.len(),
            "block {h} tx_count"
        );
        for id in streamed {
            let previous = seen_ids.insert(id.clone(), h);
            assert!(
                previous.is_none(),
                "transaction {} streamed twice (heights {previous:?} and {h})",
                hex::encode(&id)
            );
        }
    }
    // Every transfer exactly once, at its committed height, as it was sent.
    let by_id: HashMap<Vec<u8>, &mameynode::grpc::proto::TransactionUpdate> = txs_at
        .values()
        .flatten()
        .map(|t| (t.id.clone(), t))
        .collect();
    for s in &sent {
        let id = s.tx.id.0.to_vec();
        let height = wait_finalized(&mut client, &s.tx).await;
        let t = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("transfer {} (height {height}) not streamed", s.tx.id));
        assert_eq!(t.height, height, "transfer {} height", s.tx.id);
        assert_eq!(t.sender, keys::address_of(&faucet).to_string());
        assert_eq!(t.nonce, s.tx.tx.nonce);
        assert_eq!(t.fee, FEE);
        assert_eq!(t.to, s.to.to_string());
        assert_eq!(t.amount, s.amount);
    }
    assert_eq!(
        by_id.len(),
        sent.len(),
        "only our transfers are on the chain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn filters_yield_only_what_touches_the_accounts() {
    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let mut client = node.node_client().await;
    let mut streams = node.stream_client().await;
    let faucet = node.faucet();
    let a_key = keys::generate();
    let b_key = keys::generate();
    let a = keys::address_of(&a_key);
    let b = keys::address_of(&b_key);
    let c = new_address();

    // Bad requests.
    for (req, what) in [
        (
            SubscribeRequest {
                blocks: true,
                from_height: Some(0),
                ..Default::default()
            },
            "from_height 0",
        ),
        (SubscribeRequest::default(), "nothing asked for"),
        (
            SubscribeRequest {
                transactions: true,
                accounts: vec!["mamey1bad".to_string()],
                ..Default::default()
            },
            "a bad address",
        ),
        (
            SubscribeRequest {
                blocks: true,
                commitment: 7,
                ..Default::default()
            },
            "an unknown commitment",
        ),
    ] {
        let r = streams.subscribe(req).await.map(|_| ());
        assert_status(
            r,
            Code::InvalidArgument,
            None,
            &format!("Subscribe with {what}"),
        );
    }

    let mut n = pending_nonce(&mut client, &faucet).await;
    let mut next = || {
        n += 1;
        n - 1
    };
    // Before the subscription (replayed): faucet → A (relevant), faucet → C (not).
    let t1 = transfer(&faucet, next(), a, 1_000);
    let t2 = transfer(&faucet, next(), c, 500);
    submit(&mut client, &t1).await;
    submit(&mut client, &t2).await;
    let h1 = wait_finalized(&mut client, &t1).await;
    let h2 = wait_finalized(&mut client, &t2).await;

    let updates: Arc<Mutex<Vec<Update>>> = Arc::default();
    let mut stream = streams
        .subscribe(SubscribeRequest {
            blocks: false,
            transactions: true,
            accounts: vec![a.to_string()],
            commitment: Commitment::Finalized as i32,
            from_height: Some(1),
            events: None,
        })
        .await
        .expect("Subscribe with accounts")
        .into_inner();
    let reader = {
        let updates = updates.clone();
        tokio::spawn(async move {
            while let Ok(Some(u)) = stream.message().await {
                updates
                    .lock()
                    .expect("lock")
                    .push(u.update.expect("an update with something in it"));
            }
        })
    };

    // After the subscription (live): A → B (relevant), faucet → B (not), then B → A (relevant).
    let t3 = transfer(&a_key, 0, b, 100);
    let t4 = transfer(&faucet, next(), b, 50);
    submit(&mut client, &t3).await;
    submit(&mut client, &t4).await;
    let h3 = wait_finalized(&mut client, &t3).await;
    let h4 = wait_finalized(&mut client, &t4).await;
    let t5 = transfer(&b_key, 0, a, 20);
    submit(&mut client, &t5).await;
    let h5 = wait_finalized(&mut client, &t5).await;
    assert!(
        h2.max(h4) <= h5,
        "the unrelated transfers are committed before the last one"
    );

    // Wait for A's account update at h5 (it comes after the block's transactions), then a little
    // longer to see that nothing else comes.
    let deadline = Instant::now() + WAIT;
    loop {
        let done = updates
            .lock()
            .expect("lock")
            .iter()
            .any(|u| matches!(u, Update::Account(acc) if acc.height == h5));
        if done {
            break;
        }
        assert!(
            !reader.is_finished(),
            "the filtered stream ended: {:?}",
            updates.lock().expect("lock")
        );
        assert!(
            Instant::now() < deadline,
            "no account update for A at height {h5}: {:?}",
            updates.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    reader.abort();
    let updates = updates.lock().expect("lock").clone();

    let a_str = a.to_string();
    let mut tx_updates = Vec::new();
    let mut account_updates = Vec::new();
    let mut last_height = 0;
    for u in &updates {
        let height = match u {
            Update::Block(b) => panic!("blocks: false, got a block update {b:?}"),
            Update::Event(e) => panic!("no events filter, got an event update {e:?}"),
            Update::Transaction(t) => {
                assert!(
                    t.sender == a_str || t.to == a_str,
                    "a transaction that does not touch A: {t:?}"
                );
                tx_updates.push((t.id.clone(), t.height));
                t.height
            }
            Update::Account(acc) => {
                let account = acc.account.clone().expect("account in an account update");
                assert_eq!(account.address, a_str, "only A's account: {acc:?}");
                account_updates.push((acc.height, account.balance, account.nonce));
                acc.height
            }
        };
        assert!(
            height >= last_height,
            "updates in height order: {updates:?}"
        );
        last_height = height;
    }
    let expected_txs: Vec<(Vec<u8>, u64)> = [(&t1, h1), (&t3, h3), (&t5, h5)]
        .iter()
        .map(|(t, h)| (t.id.0.to_vec(), *h))
        .collect();
    assert_eq!(
        tx_updates, expected_txs,
        "exactly the transfers A sent or received, each once, at its height"
    );
    let expected_accounts = vec![
        (h1, 1_000, 0),
        (h3, 1_000 - 100 - FEE, 1),
        (h5, 1_000 - 100 - FEE + 20, 1),
    ];
    assert_eq!(
        account_updates, expected_accounts,
        "A's account after each block that changed it (height, balance, nonce)"
    );
    let now = client
        .get_account(GetAccountRequest { address: a_str })
        .await
        .expect("GetAccount A")
        .into_inner();
    let last = account_updates.last().expect("account updates");
    assert_eq!(
        (now.balance, now.nonce),
        (last.1, last.2),
        "the last update is A's state now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_from_far_behind_is_not_lag() {
    let config = "\
[grpc]
stream_lag_blocks_max = 3

[block]
interval_ms = 20
";
    let node = node_options().config(config).start_in_temp_dir();
    let mut client = node.node_client().await;
    wait_head_at_least(&mut client, 40).await;
    let mut stream = subscribe_blocks(node.stream_client().await, 1, "Subscribe from 1").await;
    // docs/API.md: from_height replays from that height, then goes live; the lag bound is about a
    // subscriber that falls behind, and the resume advice ("resume with from_height = N") has to
    // work when N is further back than the bound.
    for expected in 1..=30u64 {
        match tokio::time::timeout(WAIT, stream.message()).await {
            Ok(Ok(Some(SubscribeUpdate {
                update: Some(Update::Block(b)),
            }))) => assert_eq!(b.height, expected, "replay from 1"),
            other => panic!(
                "a replay from height 1 with stream_lag_blocks_max = 3 (head at least 40) should \
                 yield block {expected}, got {other:?}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_stream_ends_with_resource_exhausted_and_resumes_without_gap() {
    let config = "\
[grpc]
stream_lag_blocks_max = 3
stream_buffer_updates = 1

[block]
interval_ms = 10

[storage]
durable = false
";
    const BLOCKS_UNREAD: u64 = 100;
    let mut node = node_options().config(config).start_in_temp_dir();
    let mut client = node.node_client().await;
    wait_head_at_least(&mut client, 2).await;

    // Small HTTP/2 windows on the stream's own connection, so that a reader that stops reading is
    // felt by the node after a few updates rather than after megabytes.
    let slow_channel = node
        .endpoint()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(65_535))
        .http2_adaptive_window(false)
        .connect()
        .await
        .expect("connect the slow channel");
    let start = head(&mut client).await;
    let mut stream =
        subscribe_blocks(StreamServiceClient::new(slow_channel), start, "Subscribe").await;

    let mut heights: Vec<u64> = Vec::new();
    let mut hashes: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut ended: Option<Status> = None;
    let mut take = |item: Result<Option<SubscribeUpdate>, Status>,
                    heights: &mut Vec<u64>,
                    ended: &mut Option<Status>| match item {
        Ok(Some(SubscribeUpdate {
            update: Some(Update::Block(b)),
        })) => {
            if let Some(&last) = heights.last() {
                assert_eq!(b.height, last + 1, "block updates with no gap: {heights:?}");
            }
            heights.push(b.height);
            hashes.insert(b.height, b.header.expect("header").hash);
        }
        Ok(other) => panic!("unexpected item on a blocks-only stream: {other:?}"),
        Err(s) => *ended = Some(s),
    };
    // Read a few blocks at full speed...
    while heights.len() < 5 && ended.is_none() {
        let item = tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("a block within 10 s");
        take(item, &mut heights, &mut ended);
    }
    // ...then stop reading while the chain moves on.
    let stopped_after = heights.last().copied().unwrap_or(start - 1);
    if ended.is_none() {
        wait_head_at_least(&mut client, stopped_after + BLOCKS_UNREAD).await;
        node.assert_alive();
        let behind = head(&mut client).await - stopped_after;
        // Read on: what was buffered, then the end.
        let deadline = Instant::now() + Duration::from_secs(15);
        while ended.is_none() {
            assert!(
                Instant::now() < deadline,
                "a stream that fell {behind} blocks behind (stream_lag_blocks_max = 3) did not end \
                 with RESOURCE_EXHAUSTED within 15 s; it delivered heights {:?}..{:?} ({} blocks) \
                 after the pause, the head is now {}",
                heights.get(5),
                heights.last(),
                heights.len().saturating_sub(5),
                head(&mut client).await
            );
            match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                Ok(Ok(None)) => panic!("the stream ended without a status after {heights:?}"),
                Ok(item) => take(item, &mut heights, &mut ended),
                Err(_) => {}
            }
        }
    }
    let status = ended.expect("ended");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let message = status.message();
    assert!(
        message.contains("lagged"),
        "the status says it lagged: {message:?}"
    );
    let resume: u64 = message
        .split("from_height")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest
                .chars()
                .skip_while(|c| !c.is_ascii_digit())
                .take_while(|c| c.is_ascii_digit())
                .collect();
            digits.parse().ok()
        })
        .unwrap_or_else(|| panic!("the status names from_height = N: {message:?}"));
    let last = heights.last().copied().unwrap_or(start - 1);
    assert_eq!(
        resume,
        last + 1,
        "from_height to resume from is exactly the next block the stream did not deliver"
    );

    // Resume there once the chain is well past it: no gap, no duplicate.
    wait_head_at_least(&mut client, resume + 30).await;
    let mut resumed =
        subscribe_blocks(node.stream_client().await, resume, "Subscribe to resume").await;
    for expected in resume..resume + 20 {
        match tokio::time::timeout(WAIT, resumed.message()).await {
            Ok(Ok(Some(SubscribeUpdate {
                update: Some(Update::Block(b)),
            }))) => {
                assert_eq!(
                    b.height, expected,
                    "the resumed stream continues with no gap"
                );
                let (stored, _) = block_header(&mut client, expected).await;
                assert_eq!(
                    b.header.expect("header").hash,
                    stored.hash,
                    "block {expected}"
                );
            }
            other => panic!(
                "resuming with from_height = {resume} (the node's own advice) should yield block \
                 {expected}, got {other:?}"
            ),
        }
    }
    for (h, hash) in hashes.iter().filter(|(h, _)| **h > 0) {
        let (stored, _) = block_header(&mut client, *h).await;
        assert_eq!(&stored.hash, hash, "block {h} before the lag");
    }
    node.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_reflection() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;

    let node = node_options().block_interval_ms(50).start_in_temp_dir();
    let channel = node.channel().await;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "mamey.v1.NodeService", "mamey.v1.StreamService"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap_or_else(|s| panic!("Health.Check({service:?}): {s:?}"))
            .into_inner();
        assert_eq!(
            r.status,
            ServingStatus::Serving as i32,
            "Health.Check({service:?}): {r:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".to_string(),
        })
        .await;
    assert_status(
        unknown,
        Code::NotFound,
        None,
        "Health.Check of an unknown service",
    );

    /// One request on a new `ServerReflectionInfo` stream, and the one answer to it.
    async fn ask(
        reflection: &mut ServerReflectionClient<Channel>,
        req: MessageRequest,
    ) -> Option<MessageResponse> {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(req),
        };
        reflection
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .expect("ServerReflectionInfo")
            .into_inner()
            .message()
            .await
            .expect("reflection answer")
            .expect("one answer")
            .message_response
    }

    // The v1alpha service answers too (the Python grpcio-reflection client speaks only it).
    {
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as Alpha;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;
        let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(AlphaRequest::ListServices(String::new())),
        };
        let answer = Alpha::new(channel.clone())
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .expect("v1alpha ServerReflectionInfo")
            .into_inner()
            .message()
            .await
            .expect("v1alpha answer")
            .expect("one v1alpha answer")
            .message_response;
        match answer {
            Some(AlphaResponse::ListServicesResponse(l)) => assert!(
                l.service
                    .iter()
                    .any(|s| s.name == "mamey.payments.v1.PaymentService"),
                "v1alpha lists the services: {l:?}"
            ),
            other => panic!("v1alpha list_services answered {other:?}"),
        }
    }

    let mut reflection = ServerReflectionClient::new(channel);
    let names: HashSet<String> =
        match ask(&mut reflection, MessageRequest::ListServices(String::new())).await {
            Some(MessageResponse::ListServicesResponse(l)) => {
                l.service.into_iter().map(|s| s.name).collect()
            }
            other => panic!("list_services answered {other:?}"),
        };
    for service in [
        "mamey.v1.NodeService",
        "mamey.v1.StreamService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.contains(service),
            "reflection lists {service}: {names:?}"
        );
    }
    for (symbol, file) in [
        ("mamey.v1.NodeService", "mamey/v1/node.proto"),
        ("mamey.v1.StreamService", "mamey/v1/stream.proto"),
    ] {
        let req = MessageRequest::FileContainingSymbol(symbol.to_string());
        match ask(&mut reflection, req).await {
            Some(MessageResponse::FileDescriptorResponse(f)) => {
                assert!(
                    f.file_descriptor_proto
                        .iter()
                        .any(|d| d.windows(file.len()).any(|w| w == file.as_bytes())),
                    "the descriptors for {symbol} include {file}"
                );
            }
            other => panic!("file_containing_symbol {symbol} answered {other:?}"),
        }
    }
}
