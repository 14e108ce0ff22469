//! End-to-end tests of the transaction pipeline through QUIC ingest and the commit stream.
//!
//! Every test starts its own dev chain (the `mameynode` binary) in its own temporary directory with
//! `--rpc-listen 127.0.0.1:0 --quic-listen 127.0.0.1:0`, reads the bound addresses from
//! `DATA_DIR/endpoints.json` and the certificate to pin from `mamey_ingestInfo`. A [`Node`] guard
//! kills the process when dropped and, on a failing test, prints the tail of the node's log.
//!
//! - `quic_pipeline_commits_every_transfer_exactly_once`: 3000 transfers of 20 senders on two
//!   connections; every admitted transaction is committed exactly once (commit stream and
//!   `mamey_getBlock` agree), each sender's in nonce order, balances and supply add up, and a
//!   resubmission is refused as already known.
//! - `overload_with_tiny_limits_pushes_back_and_loses_nothing`: tiny queues and pool, 40 senders in
//!   parallel; the node pushes back (2000/2001/2002), never holds more than its pool, and everything
//!   it admitted commits exactly once; it keeps serving afterwards.
//! - `commit_stream_reports_lag_to_a_slow_subscriber`: a subscriber that stops reading is told it
//!   lagged and its stream ends; a fast one beside it does not lag.
//! - `malformed_quic_batches_get_clear_refusals`: oversized, truncated and unknown requests are
//!   refused as a whole with a message; bad transactions inside a batch get their own codes while
//!   their neighbours are admitted.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{
    is_committed, new_address, transfer, validator_address, wait_committed, Node, CHAIN_ID, FEE,
    SUPPLY,
};
use ed25519_dalek::SigningKey;
use mameynode::keys;
use mameynode::quic::client::{CommitStream, IngestClient};
use mameynode::quic::{CommitEvent, QuicError};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, BankCall, Hash, Payload, Transaction, TxEnvelope};

const INVALID_ENCODING: i32 = 1000;
const WRONG_CHAIN: i32 = 1002;
const BAD_SIGNATURE: i32 = 1003;
const ALREADY_KNOWN: i32 = 1008;
const MEMPOOL_FULL: i32 = 2000;
const SENDER_FULL: i32 = 2001;
const BUSY: i32 = 2002;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A small deterministic PRNG (xorshift64), so that a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A transfer of 1 to 1000 from `key`, sender `i` of the load (its address is `recipients[i]`),
/// to a random other one of `recipients`.
fn random_transfer(
    rng: &mut Rng,
    key: &SigningKey,
    i: usize,
    nonce: u64,
    recipients: &[Address],
) -> TxEnvelope {
    let mut r = rng.below(recipients.len() as u64) as usize;
    if r == i {
        r = (r + 1) % recipients.len();
    }
    let amount = 1 + rng.below(1000);
    transfer(key, nonce, recipients[r], amount)
}

async fn connect(node: &Node) -> Arc<IngestClient> {
    Arc::new(
        IngestClient::connect(node.quic, node.cert())
            .await
            .unwrap_or_else(|e| panic!("QUIC connect to {}: {e}", node.quic)),
    )
}

/// `n` QUIC connections to the node, made one after the other.
fn connect_many(rt: &tokio::runtime::Runtime, node: &Node, n: usize) -> Vec<Arc<IngestClient>> {
    rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(connect(node).await);
        }
        v
    })
}

/// A block event as recorded: height, committed ids in block order, discarded ids with codes.
type BlockSeen = (u64, Vec<Hash>, Vec<(Hash, i32)>);

/// What a commit-stream reader has seen so far.
#[derive(Default)]
struct Seen {
    /// Block events in arrival order: (height, committed ids in block order, discarded).
    blocks: Vec<BlockSeen>,
    /// How often each id appeared as committed, across all block events.
    count: HashMap<Hash, usize>,
    /// `Lagged { missed }` events.
    lagged: Vec<u64>,
    /// The stream ended (`None`).
    ended: bool,
    /// The stream failed.
    error: Option<String>,
}

impl Seen {
    fn last_height(&self) -> u64 {
        self.blocks.last().map(|b| b.0).unwrap_or(0)
    }

    fn height_of(&self) -> HashMap<Hash, u64> {
        let mut m = HashMap::new();
        for (h, ids, _) in &self.blocks {
            for id in ids {
                m.insert(*id, *h);
            }
        }
        m
    }

    /// Heights of the block events are consecutive (nothing skipped, nothing repeated).
    fn assert_consecutive(&self, who: &str) {
        for w in self.blocks.windows(2) {
            assert_eq!(
                w[1].0,
                w[0].0 + 1,
                "{who}: block event at height {} followed by height {}",
                w[0].0,
                w[1].0
            );
        }
    }
}

/// Reads a commit stream continuously on the runtime, recording every event.
#[derive(Clone)]
struct Collector(Arc<Mutex<Seen>>);

impl Collector {
    fn spawn(rt: &tokio::runtime::Runtime, mut stream: CommitStream) -> Collector {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        rt.spawn(async move {
            loop {
                let event = stream.next().await;
                let mut g = s.lock().expect("collector lock");
                match event {
                    Ok(Some(CommitEvent::Block {
                        height,
                        committed,
                        discarded,
                        ..
                    })) => {
                        for id in &committed {
                            *g.count.entry(*id).or_default() += 1;
                        }
                        g.blocks.push((height, committed, discarded));
                    }
                    Ok(Some(CommitEvent::Lagged { missed })) => g.lagged.push(missed),
                    Ok(None) => {
                        g.ended = true;
                        return;
                    }
                    Err(e) => {
                        g.error = Some(e.to_string());
                        return;
                    }
                }
            }
        });
        Collector(seen)
    }

    /// Opens a commit stream on `client` and reads it with [`Collector::spawn`]; returns once the
    /// first block arrived, when the subscription is there for sure (empty blocks are produced).
    fn subscribe(rt: &tokio::runtime::Runtime, client: &IngestClient) -> Collector {
        let stream = rt
            .block_on(client.commits())
            .expect("open the commit stream");
        let commits = Collector::spawn(rt, stream);
        commits.wait(
            "the first block on the commit stream",
            Duration::from_secs(10),
            |s| !s.blocks.is_empty(),
        );
        commits
    }

    fn lock(&self) -> MutexGuard<'_, Seen> {
        self.0.lock().expect("collector lock")
    }

    /// Waits (blocking the calling thread) until `cond` holds; panics after `limit`.
    fn wait(&self, what: &str, limit: Duration, cond: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            {
                let s = self.lock();
                if cond(&s) {
                    return;
                }
                assert!(
                    s.error.is_none() && !s.ended && s.lagged.is_empty(),
                    "commit stream stopped while waiting for {what}: error {:?}, ended {}, lagged {:?}",
                    s.error,
                    s.ended,
                    s.lagged
                );
                assert!(
                    Instant::now() < deadline,
                    "{what}: not within {limit:?} (commit stream at height {}, {} blocks seen)",
                    s.last_height(),
                    s.blocks.len()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Counts of what the node answered to submissions.
#[derive(Default)]
struct Tally {
    admitted: AtomicUsize,
    refusals: Mutex<BTreeMap<i32, usize>>,
}

impl Tally {
    fn refusals(&self) -> BTreeMap<i32, usize> {
        self.refusals.lock().expect("tally lock").clone()
    }
}

fn is_pushback(code: i32) -> bool {
    matches!(code, MEMPOOL_FULL | SENDER_FULL | BUSY)
}

/// Submits `txs` as one batch and resubmits those refused with a push-back code (mempool full,
/// sender queue full, busy) after a short pause, until every one is admitted. Any other refusal,
/// an id that is not the transaction's, or a transport error is an `Err`.
async fn submit_until_admitted(
    client: &IngestClient,
    txs: &[TxEnvelope],
    tally: &Tally,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut pending: Vec<&TxEnvelope> = txs.iter().collect();
    let mut pause = Duration::from_millis(5);
    while !pending.is_empty() {
        let bytes: Vec<&[u8]> = pending.iter().map(|t| &t.bytes[..]).collect();
        let answers = client
            .submit(&bytes)
            .await
            .map_err(|e| format!("submit of {} transactions failed: {e}", bytes.len()))?;
        if answers.len() != pending.len() {
            return Err(format!(
                "{} answers for {} transactions",
                answers.len(),
                pending.len()
            ));
        }
        let mut retry = Vec::new();
        for (tx, answer) in pending.iter().zip(answers) {
            match answer {
                Ok(id) if id == tx.id => {
                    tally.admitted.fetch_add(1, Ordering::SeqCst);
                }
                Ok(id) => {
                    return Err(format!(
                        "transaction {} admitted under another id {id}",
                        tx.id
                    ))
                }
                Err(r) => {
                    *tally
                        .refusals
                        .lock()
                        .expect("tally lock")
                        .entry(r.code)
                        .or_default() += 1;
                    if !is_pushback(r.code) {
                        return Err(format!(
                            "transaction {} (nonce {}) refused with {}: {}",
                            tx.id, tx.tx.nonce, r.code, r.message
                        ));
                    }
                    retry.push(*tx);
                }
            }
        }
        pending = retry;
        if !pending.is_empty() {
            if Instant::now() > deadline {
                return Err(format!(
                    "{} transactions still pushed back after {limit:?}",
                    pending.len()
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        } else {
            pause = Duration::from_millis(5);
        }
    }
    Ok(())
}

/// Submits every job at once: each `(client, batches)` on a task of its own, which submits its
/// batches in order with [`submit_until_admitted`] (`limit` for each). Panics with the first
/// failure, prefixed with `what`.
fn submit_all(
    rt: &tokio::runtime::Runtime,
    jobs: Vec<(Arc<IngestClient>, Vec<Vec<TxEnvelope>>)>,
    tally: &Arc<Tally>,
    limit: Duration,
    what: &str,
) {
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for (client, batches) in jobs {
            let tally = tally.clone();
            tasks.push(tokio::spawn(async move {
                for b in &batches {
                    submit_until_admitted(&client, b, &tally, limit).await?;
                }
                Ok::<(), String>(())
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("submit task"));
        }
        out
    });
    for r in results {
        r.unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// Funds `to` from the faucet (nonces from `first_nonce`), over QUIC, and waits until the commit
/// stream reported every funding transfer. Returns the funding transactions.
fn fund(
    rt: &tokio::runtime::Runtime,
    client: &IngestClient,
    commits: &Collector,
    faucet: &SigningKey,
    first_nonce: u64,
    to: &[Address],
    amount: u64,
) -> Vec<TxEnvelope> {
    let txs: Vec<TxEnvelope> = to
        .iter()
        .enumerate()
        .map(|(i, a)| transfer(faucet, first_nonce + i as u64, *a, amount))
        .collect();
    let tally = Tally::default();
    for chunk in txs.chunks(16) {
        rt.block_on(submit_until_admitted(
            client,
            chunk,
            &tally,
            Duration::from_secs(30),
        ))
        .unwrap_or_else(|e| panic!("funding: {e}"));
    }
    commits.wait(
        "the funding transfers committed",
        Duration::from_secs(30),
        |s| txs.iter().all(|t| s.count.contains_key(&t.id)),
    );
    txs
}

/// `n` new keys, each funded by the faucet (nonces 0 to n - 1) with `amount` (see [`fund`]).
/// Returns the keys, their addresses and the funding transactions.
fn funded_senders(
    rt: &tokio::runtime::Runtime,
    client: &IngestClient,
    commits: &Collector,
    faucet: &SigningKey,
    n: usize,
    amount: u64,
) -> (Vec<SigningKey>, Vec<Address>, Vec<TxEnvelope>) {
    let senders: Vec<SigningKey> = (0..n).map(|_| keys::generate()).collect();
    let addrs: Vec<Address> = senders.iter().map(keys::address_of).collect();
    let funding = fund(rt, client, commits, faucet, 0, &addrs, amount);
    (senders, addrs, funding)
}

/// The audit shared by the load tests, once every transaction in `txs` (all sent on the chain,
/// each sender's nonces from 0 on) has been seen committed:
/// the commit stream saw every height once, none of `ours` was discarded, each was committed
/// exactly once and nothing else was committed; `mamey_getBlock` agrees block by block; each
/// sender's transactions were committed in nonce order. Returns each transaction's height.
fn audit_commits(rpc: &RpcClient, commits: &Collector, txs: &[&TxEnvelope]) -> HashMap<Hash, u64> {
    let ours: HashMap<Hash, (Address, u64)> = txs
        .iter()
        .map(|t| (t.id, (t.tx.sender, t.tx.nonce)))
        .collect();
    // A duplicate would come in a later block: let a few more blocks pass first.
    let height = commits.lock().last_height();
    commits.wait("three more blocks", Duration::from_secs(20), |s| {
        s.last_height() >= height + 3
    });
    let s = commits.lock();
    assert!(s.error.is_none(), "commit stream failed: {:?}", s.error);
    assert!(
        s.lagged.is_empty(),
        "the commit stream reader lagged: {:?}",
        s.lagged
    );
    assert!(!s.ended, "the commit stream ended");
    s.assert_consecutive("commit stream");
    for (h, _, discarded) in &s.blocks {
        assert!(
            discarded.is_empty(),
            "block {h} discarded transactions: {discarded:?}"
        );
    }
    let missing: Vec<&Hash> = ours.keys().filter(|id| !s.count.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} admitted transactions never committed, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let twice: Vec<(&Hash, &usize)> = s.count.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "transactions committed more than once (commit stream): {twice:?}"
    );
    let strangers: Vec<&Hash> = s.count.keys().filter(|id| !ours.contains_key(id)).collect();
    assert!(
        strangers.is_empty(),
        "committed transactions nobody sent: {strangers:?}"
    );

    // mamey_getBlock, from height 1 to the last height seen, agrees with the stream.
    let by_height: HashMap<u64, &Vec<Hash>> =
        s.blocks.iter().map(|(h, ids, _)| (*h, ids)).collect();
    let mut rpc_count: HashMap<Hash, usize> = HashMap::new();
    for h in 1..=s.last_height() {
        let block = rpc
            .block(h)
            .unwrap_or_else(|e| panic!("mamey_getBlock({h}): {e}"));
        assert_eq!(block.height, h);
        if let Some(ids) = by_height.get(&h) {
            assert_eq!(
                &block.transactions, *ids,
                "block {h}: mamey_getBlock and the commit stream list different transactions"
            );
        }
        for id in block.transactions {
            *rpc_count.entry(id).or_default() += 1;
        }
    }
    for id in ours.keys() {
        assert_eq!(
            rpc_count.get(id).copied().unwrap_or(0),
            1,
            "transaction {id} is in {} blocks per mamey_getBlock",
            rpc_count.get(id).copied().unwrap_or(0)
        );
    }
    assert_eq!(
        rpc_count.len(),
        ours.len(),
        "mamey_getBlock lists transactions nobody sent"
    );

    // Each sender's transactions in nonce order, by height then position in the block.
    let mut next: HashMap<Address, u64> = ours.values().map(|(sender, _)| (*sender, 0)).collect();
    for (h, ids, _) in &s.blocks {
        for (pos, id) in ids.iter().enumerate() {
            let (sender, nonce) = ours[id];
            let want = next.get_mut(&sender).expect("known sender");
            assert_eq!(
                nonce, *want,
                "block {h} position {pos}: sender {sender} nonce {nonce} committed when {want} was next"
            );
            *want += 1;
        }
    }
    s.height_of()
}

/// Expected balances after the transfers: each sender starts with `funding` (the faucet with the
/// rest of the supply), pays amount + fee per transfer, each recipient receives the amount and the
/// validator every fee.
fn expected_balances(
    faucet: Address,
    validator: Address,
    txs: &[&TxEnvelope],
) -> BTreeMap<Address, u64> {
    let mut b: BTreeMap<Address, i128> = BTreeMap::new();
    b.insert(faucet, SUPPLY as i128);
    b.insert(validator, 0);
    for t in txs {
        let Payload::Bank(BankCall::Transfer { to, amount }) = t.tx.payload else {
            panic!("this test sends transfers only");
        };
        *b.entry(t.tx.sender).or_default() -= (amount + t.tx.fee) as i128;
        *b.entry(to).or_default() += amount as i128;
        *b.entry(validator).or_default() += t.tx.fee as i128;
    }
    b.into_iter()
        .map(|(a, v)| {
            assert!(v >= 0, "the test overspent {a}");
            (a, v as u64)
        })
        .collect()
}

fn check_balances(rpc: &RpcClient, expected: &BTreeMap<Address, u64>) {
    let mut total: u128 = 0;
    let mut wrong = Vec::new();
    for (a, want) in expected {
        let got = rpc.account(a).expect("mamey_getAccount").balance;
        total += got as u128;
        if got != *want {
            wrong.push(format!("{a}: balance {got}, expected {want}"));
        }
    }
    assert!(wrong.is_empty(), "wrong balances:\n{}", wrong.join("\n"));
    assert_eq!(total, SUPPLY as u128, "supply is not conserved");
}

/// After a load: the faucet funded each of `senders` (one nonce each), and each sender sent
/// `per_sender` transfers; none is pending.
fn check_nonces(rpc: &RpcClient, faucet: Address, senders: &[Address], per_sender: u64) {
    let mut nonces: BTreeMap<Address, u64> = senders.iter().map(|a| (*a, per_sender)).collect();
    nonces.insert(faucet, senders.len() as u64);
    for (a, want) in &nonces {
        let acct = rpc.account(a).expect("mamey_getAccount");
        assert_eq!(acct.nonce, *want, "committed nonce of {a}");
        assert_eq!(acct.pending_nonce, *want, "pending nonce of {a}");
    }
}

// ---------------------------------------------------------------------------------------------
// Raw QUIC (for what IngestClient does not do: small windows, malformed requests)
// ---------------------------------------------------------------------------------------------

/// A QUIC connection to the node trusting its certificate; with `window`, the client's stream
/// and connection receive windows are that small, so a reader that stops reading holds the node
/// back after `window` bytes.
async fn raw_connect(node: &Node, window: Option<u32>) -> (quinn::Endpoint, quinn::Connection) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            node.cert().to_vec(),
        ))
        .expect("add the node's certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![mameynode::quic::ALPN.to_vec()];
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC client crypto");
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    if let Some(w) = window {
        let mut transport = quinn::TransportConfig::default();
        transport
            .stream_receive_window(quinn::VarInt::from_u32(w))
            .receive_window(quinn::VarInt::from_u32(w));
        config.transport_config(Arc::new(transport));
    }
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("client endpoint");
    endpoint.set_default_client_config(config);
    let conn = endpoint
        .connect(node.quic, mameynode::quic::SERVER_NAME)
        .expect("connect")
        .await
        .expect("QUIC handshake");
    (endpoint, conn)
}

/// Sends `request` on a new stream, finishes it and reads the whole reply.
async fn raw_request(conn: &quinn::Connection, request: &[u8]) -> Vec<u8> {
    let (mut send, mut recv) = conn.open_bi().await.expect("open stream");
    send.write_all(request).await.expect("write request");
    send.finish().expect("finish request");
    recv.read_to_end(1 << 20).await.expect("read reply")
}

async fn read_array<const N: usize>(recv: &mut quinn::RecvStream) -> Result<[u8; N], String> {
    let mut b = [0u8; N];
    recv.read_exact(&mut b).await.map_err(|e| e.to_string())?;
    Ok(b)
}

/// One commit-stream frame from a raw stream (same format as `CommitStream::next`).
async fn read_frame(recv: &mut quinn::RecvStream) -> Result<Option<CommitEvent>, String> {
    let mut kind = [0u8; 1];
    match recv.read_exact(&mut kind).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    match kind[0] {
        1 => {
            let height = u64::from_le_bytes(read_array(recv).await?);
            let timestamp_ms = u64::from_le_bytes(read_array(recv).await?);
            let n = u32::from_le_bytes(read_array(recv).await?);
            let mut committed = Vec::new();
            for _ in 0..n {
                committed.push(Hash(read_array(recv).await?));
            }
            let m = u32::from_le_bytes(read_array(recv).await?);
            let mut discarded = Vec::new();
            for _ in 0..m {
                let id = Hash(read_array(recv).await?);
                discarded.push((id, i32::from_le_bytes(read_array(recv).await?)));
            }
            Ok(Some(CommitEvent::Block {
                height,
                timestamp_ms,
                committed,
                discarded,
            }))
        }
        2 => Ok(Some(CommitEvent::Lagged {
            missed: u64::from_le_bytes(read_array(recv).await?),
        })),
        k => Err(format!("unknown commit frame kind {k}")),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Every transfer committed exactly once
// ---------------------------------------------------------------------------------------------

#[test]
fn quic_pipeline_commits_every_transfer_exactly_once() {
    const SENDERS: usize = 20;
    const PER_SENDER: u64 = 150;
    const FRESH: usize = 10;
    const BATCH: usize = 100;
    const FUNDING: u64 = 1_000_000_000;

    let mut node = Node::options()
        .block_interval_ms(100)
        .with_ingest_cert()
        .start_in_temp_dir();
    let rpc = node.client();
    let rt = runtime();
    let faucet = node.faucet();
    let faucet_addr = keys::address_of(&faucet);
    let validator = validator_address(&node.dir);

    let clients = connect_many(&rt, &node, 2);
    let commits = Collector::subscribe(&rt, &clients[0]);
    let (senders, sender_addrs, funding) =
        funded_senders(&rt, &clients[0], &commits, &faucet, SENDERS, FUNDING);
    let fresh: Vec<Address> = (0..FRESH).map(|_| new_address()).collect();

    // Nonce-major order: each batch of 100 holds 5 consecutive nonces of every sender; the two
    // connections take alternate batches, so a sender's nonces may arrive out of order.
    let recipients: Vec<Address> = sender_addrs.iter().chain(&fresh).copied().collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut all: Vec<TxEnvelope> = Vec::new();
    for nonce in 0..PER_SENDER {
        for (i, key) in senders.iter().enumerate() {
            all.push(random_transfer(&mut rng, key, i, nonce, &recipients));
        }
    }
    let batches: Vec<Vec<TxEnvelope>> = all.chunks(BATCH).map(|c| c.to_vec()).collect();
    let tally = Arc::new(Tally::default());
    let jobs = clients
        .iter()
        .enumerate()
        .map(|(c, client)| {
            let mine: Vec<Vec<TxEnvelope>> = batches
                .iter()
                .skip(c)
                .step_by(clients.len())
                .cloned()
                .collect();
            (client.clone(), mine)
        })
        .collect();
    submit_all(&rt, jobs, &tally, Duration::from_secs(30), "transfers");
    assert_eq!(tally.admitted.load(Ordering::SeqCst), all.len());
    eprintln!("refusals while sending: {:?}", tally.refusals());

    commits.wait("every transfer committed", Duration::from_secs(60), |s| {
        all.iter().all(|t| s.count.contains_key(&t.id))
    });

    let txs: Vec<&TxEnvelope> = funding.iter().chain(&all).collect();
    let heights = audit_commits(&rpc, &commits, &txs);

    // mamey_getTransaction agrees on a sample.
    for t in funding.iter().chain(all.iter().step_by(10)) {
        let v = rpc.transaction(&t.id).expect("mamey_getTransaction");
        assert!(
            is_committed(&v.status),
            "{} is {:?} per mamey_getTransaction",
            t.id,
            v.status
        );
        assert_eq!(v.height, Some(heights[&t.id]), "height of {}", t.id);
    }

    let expected = expected_balances(faucet_addr, validator, &txs);
    assert_eq!(expected[&validator], txs.len() as u64 * FEE);
    check_balances(&rpc, &expected);
    check_nonces(&rpc, faucet_addr, &sender_addrs, PER_SENDER);

    // Resubmitting committed transactions: already known, on either connection.
    let again = [&all[0], &all[all.len() - 1], &funding[0]];
    let bytes: Vec<&[u8]> = again.iter().map(|t| &t.bytes[..]).collect();
    for client in &clients {
        let answers = rt.block_on(client.submit(&bytes)).expect("resubmit");
        for (t, a) in again.iter().zip(&answers) {
            match a {
                Err(r) => assert_eq!(
                    r.code, ALREADY_KNOWN,
                    "resubmitted committed {}: {r:?}",
                    t.id
                ),
                Ok(id) => panic!("committed transaction {id} admitted again"),
            }
        }
    }
    node.assert_alive();
}

// ---------------------------------------------------------------------------------------------
// 2. Overload with tiny limits
// ---------------------------------------------------------------------------------------------

const TINY_POOL: usize = 200;
const TINY_BLOCK: usize = 50;

#[test]
fn overload_with_tiny_limits_pushes_back_and_loses_nothing() {
    const SENDERS: usize = 40;
    const PER_SENDER: u64 = 100;
    const FRESH: usize = 10;
    const BATCH: usize = 10;
    const CONNECTIONS: usize = 4;
    const FUNDING: u64 = 1_000_000;

    let config = format!(
        "[block]\ninterval_ms = 100\ntxs_max = {TINY_BLOCK}\n\n\
         [pipeline]\nqueue_batches_max = 1\n\n\
         [mempool]\ntxs_max = {TINY_POOL}\nper_sender_max = 64\n\n\
         [sigverify]\nbatch_size_max = 32\nbatch_deadline_us = 500\n\n\
         [ingest]\nbatch_txs_max = 64\n"
    );
    let mut node = Node::options()
        .config(&config)
        .with_ingest_cert()
        .start_in_temp_dir();
    let rpc = node.client();
    let rt = runtime();
    let faucet = node.faucet();
    let faucet_addr = keys::address_of(&faucet);
    let validator = validator_address(&node.dir);

    let clients = connect_many(&rt, &node, CONNECTIONS);
    let commits = Collector::subscribe(&rt, &clients[0]);
    let (senders, sender_addrs, funding) =
        funded_senders(&rt, &clients[0], &commits, &faucet, SENDERS, FUNDING);
    let fresh: Vec<Address> = (0..FRESH).map(|_| new_address()).collect();

    let recipients: Vec<Address> = sender_addrs.iter().chain(&fresh).copied().collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let per_sender: Vec<Vec<TxEnvelope>> = senders
        .iter()
        .enumerate()
        .map(|(i, key)| {
            (0..PER_SENDER)
                .map(|nonce| random_transfer(&mut rng, key, i, nonce, &recipients))
                .collect()
        })
        .collect();
    let blast: Arc<HashSet<Hash>> = Arc::new(per_sender.iter().flatten().map(|t| t.id).collect());

    // Sample: admitted so far minus committed so far never exceeds the pool plus one block.
    let tally = Arc::new(Tally::default());
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (commits, tally, done, blast) =
            (commits.clone(), tally.clone(), done.clone(), blast.clone());
        std::thread::spawn(move || {
            let mut max_outstanding = 0usize;
            let mut samples = 0usize;
            while !done.load(Ordering::SeqCst) {
                // Committed first, then admitted: errs towards counting more outstanding.
                let committed = {
                    let s = commits.lock();
                    s.count.keys().filter(|id| blast.contains(id)).count()
                };
                let admitted = tally.admitted.load(Ordering::SeqCst);
                max_outstanding = max_outstanding.max(admitted.saturating_sub(committed));
                samples += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (max_outstanding, samples)
        })
    };

    // Every sender in parallel, spread over the connections; each sends its batches in nonce order
    // (resubmitting what was pushed back), so the pool never fills with transactions that wait on
    // a gap.
    let jobs = per_sender
        .iter()
        .enumerate()
        .map(|(i, txs)| {
            let batches = txs.chunks(BATCH).map(|c| c.to_vec()).collect();
            (clients[i % CONNECTIONS].clone(), batches)
        })
        .collect();
    submit_all(&rt, jobs, &tally, Duration::from_secs(60), "blast");
    let admitted = tally.admitted.load(Ordering::SeqCst);
    assert_eq!(
        admitted,
        blast.len(),
        "every transaction was admitted in the end"
    );
    commits.wait(
        "every admitted transaction committed",
        Duration::from_secs(60),
        |s| blast.iter().all(|id| s.count.contains_key(id)),
    );
    done.store(true, Ordering::SeqCst);
    let (max_outstanding, samples) = sampler.join().expect("sampler");
    let refusals = tally.refusals();
    eprintln!(
        "refusals: {refusals:?}; admitted-not-committed at most {max_outstanding} over {samples} samples; stats: {:?}",
        rpc.pipeline_stats().map(|s| s.busy_refusals)
    );

    let pushbacks: usize = refusals
        .iter()
        .filter(|(c, _)| is_pushback(**c))
        .map(|(_, n)| n)
        .sum();
    assert!(
        pushbacks > 0,
        "the node never pushed back (refusals: {refusals:?})"
    );
    assert!(
        max_outstanding <= TINY_POOL + TINY_BLOCK,
        "{max_outstanding} transactions admitted but not committed at once; the pool holds {TINY_POOL} and a block {TINY_BLOCK}"
    );

    let txs: Vec<&TxEnvelope> = funding.iter().chain(per_sender.iter().flatten()).collect();
    let heights = audit_commits(&rpc, &commits, &txs);
    {
        let s = commits.lock();
        for (h, ids, _) in &s.blocks {
            assert!(
                ids.len() <= TINY_BLOCK,
                "block {h} holds {} transactions, over block.txs_max {TINY_BLOCK}",
                ids.len()
            );
        }
    }
    assert_eq!(heights.len(), txs.len());

    check_balances(&rpc, &expected_balances(faucet_addr, validator, &txs));
    check_nonces(&rpc, faucet_addr, &sender_addrs, PER_SENDER);

    // Still alive and serving: a plain transfer over JSON-RPC and one over QUIC commit.
    node.assert_alive();
    let over_rpc = transfer(&faucet, SENDERS as u64, fresh[0], 7);
    let id = rpc
        .send_transaction(&over_rpc)
        .expect("mamey_sendTransaction after the overload");
    assert_eq!(id, over_rpc.id);
    wait_committed(&rpc, &id, Duration::from_secs(20));
    let over_quic = transfer(&senders[0], PER_SENDER, fresh[1], 9);
    let answers = rt
        .block_on(clients[1].submit(&[&over_quic.bytes[..]]))
        .expect("submit after the overload");
    assert_eq!(answers, vec![Ok(over_quic.id)]);
    commits.wait(
        "the transfer after the overload committed",
        Duration::from_secs(20),
        |s| s.count.contains_key(&over_quic.id),
    );
    node.assert_alive();
}

// ---------------------------------------------------------------------------------------------
// 3. Lag notice to a slow commit-stream subscriber
// ---------------------------------------------------------------------------------------------

#[test]
fn commit_stream_reports_lag_to_a_slow_subscriber() {
    // The node buffers 2 blocks per subscriber; quinn buffers what the client's receive window
    // allows (1.25 MB per stream by default, about 50 000 empty-block frames), so the slow reader
    // uses a 1 KiB window: after ~40 frames the node's writer blocks and the subscriber lags.
    const WINDOW: u32 = 1024;
    let config = "[block]\ninterval_ms = 20\nempty_blocks = true\n\n\
                  [pipeline]\nsubscriber_buffer_blocks = 2\n";
    let mut node = Node::options()
        .config(config)
        .with_ingest_cert()
        .start_in_temp_dir();
    let rt = runtime();

    let fast_client = rt.block_on(connect(&node));
    let fast = Collector::spawn(
        &rt,
        rt.block_on(fast_client.commits())
            .expect("open the fast commit stream"),
    );
    let (_slow_endpoint, slow_conn, mut slow) = rt.block_on(async {
        let (endpoint, conn) = raw_connect(&node, Some(WINDOW)).await;
        let (mut send, recv) = conn.open_bi().await.expect("open the slow commit stream");
        send.write_all(&[mameynode::quic::REQUEST_COMMITS])
            .await
            .expect("request commits");
        send.finish().expect("finish the request");
        (endpoint, conn, recv)
    });
    fast.wait(
        "the first block on the fast commit stream",
        Duration::from_secs(10),
        |s| !s.blocks.is_empty(),
    );

    // Not reading the slow stream: ~100 blocks are produced meanwhile.
    std::thread::sleep(Duration::from_secs(2));
    let slow_events: Vec<CommitEvent> = rt.block_on(async {
        let mut events = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), read_frame(&mut slow)).await {
                Err(_) => panic!(
                    "slow commit stream: no frame and no end within 10 s after {} events: {:?}",
                    events.len(),
                    events.last()
                ),
                Ok(Err(e)) => panic!(
                    "slow commit stream failed after {} events: {e}",
                    events.len()
                ),
                Ok(Ok(None)) => return events,
                Ok(Ok(Some(e))) => {
                    events.push(e);
                    assert!(events.len() < 100_000, "the slow commit stream never ends");
                }
            }
        }
    });
    let (last, blocks) = slow_events
        .split_last()
        .expect("the slow commit stream yielded nothing before it ended");
    let missed = match last {
        CommitEvent::Lagged { missed } => *missed,
        other => panic!(
            "the slow commit stream ended after {} events without a lag notice; last: {other:?}",
            slow_events.len()
        ),
    };
    assert!(missed > 0, "lag notice with missed = 0");
    let mut heights = Vec::new();
    for e in blocks {
        match e {
            CommitEvent::Block { height, .. } => heights.push(*height),
            CommitEvent::Lagged { .. } => {
                panic!("more than one lag notice on the slow stream: {slow_events:?}")
            }
        }
    }
    for w in heights.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "slow stream: block {} followed by {}",
            w[0],
            w[1]
        );
    }
    eprintln!(
        "slow subscriber: {} blocks ({:?}..{:?}) then lagged, missed {missed}",
        heights.len(),
        heights.first(),
        heights.last()
    );
    assert!(
        node.log().contains("commit-stream subscriber lagged"),
        "the node did not log the lag"
    );

    // The fast subscriber, read all along, keeps going without a lag notice past the slow one's end.
    let lag_point = heights.last().copied().unwrap_or(0) + missed;
    fast.wait(
        "the fast stream past the slow one's lag point",
        Duration::from_secs(20),
        |s| s.last_height() > lag_point + 2,
    );
    {
        let s = fast.lock();
        assert!(
            s.lagged.is_empty(),
            "the fast subscriber lagged: {:?}",
            s.lagged
        );
        assert!(s.error.is_none(), "fast stream failed: {:?}", s.error);
        assert!(!s.ended, "the fast stream ended");
        s.assert_consecutive("fast stream");
    }

    // Only the stream ended: the slow connection can subscribe again.
    let again = rt.block_on(async {
        let (mut send, mut recv) = slow_conn.open_bi().await.expect("open a new stream");
        send.write_all(&[mameynode::quic::REQUEST_COMMITS])
            .await
            .expect("request commits");
        send.finish().expect("finish the request");
        tokio::time::timeout(Duration::from_secs(10), read_frame(&mut recv))
            .await
            .expect("a frame on the new stream within 10 s")
    });
    assert!(
        matches!(again, Ok(Some(CommitEvent::Block { .. }))),
        "resubscribing on the slow connection: {again:?}"
    );
    node.assert_alive();
    node.client().status().expect("mamey_status after the lag");
}

// ---------------------------------------------------------------------------------------------
// 4. Malformed batches
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_quic_batches_get_clear_refusals() {
    const BATCH_MAX: usize = 8;
    let config = format!("[ingest]\nbatch_txs_max = {BATCH_MAX}\n");
    let mut node = Node::options()
        .config(&config)
        .block_interval_ms(50)
        .with_ingest_cert()
        .start_in_temp_dir();
    let rpc = node.client();
    let rt = runtime();
    let faucet = node.faucet();
    let faucet_addr = keys::address_of(&faucet);
    let to = new_address();
    assert_eq!(
        rpc.ingest_info().expect("mamey_ingestInfo").batch_txs_max,
        BATCH_MAX
    );
    let client = rt.block_on(connect(&node));
    let tx = |nonce: u64| transfer(&faucet, nonce, to, 100 + nonce);

    // A batch over ingest.batch_txs_max is refused as a whole, with a message.
    let nine: Vec<TxEnvelope> = (0..BATCH_MAX as u64 + 1).map(tx).collect();
    let bytes: Vec<&[u8]> = nine.iter().map(|t| &t.bytes[..]).collect();
    match rt.block_on(client.submit(&bytes)) {
        Err(QuicError::BatchRefused(m)) => {
            assert!(!m.is_empty(), "batch refusal without a message");
            eprintln!("oversized batch refused: {m}");
        }
        other => panic!("a batch of {} transactions: {other:?}", BATCH_MAX + 1),
    }
    assert_eq!(
        rpc.account(&faucet_addr).expect("account").pending_nonce,
        0,
        "nothing of the refused batch was admitted"
    );

    // Undecodable transactions among valid ones: those refused with 1000, the others admitted.
    let (t0, t1, t2) = (tx(0), tx(1), tx(2));
    let truncated = &t2.bytes[..t2.bytes.len() / 2];
    let mut trailing = t2.bytes.to_vec();
    trailing.push(0);
    let batch: Vec<&[u8]> = vec![
        &t0.bytes[..],
        &b"definitely not a transaction"[..],
        &t1.bytes[..],
        truncated,
        &trailing[..],
        &[0u8; 0][..],
        &t2.bytes[..],
    ];
    let answers = rt.block_on(client.submit(&batch)).expect("mixed batch");
    assert_eq!(answers.len(), batch.len());
    assert_eq!(answers[0], Ok(t0.id));
    assert_eq!(answers[2], Ok(t1.id));
    assert_eq!(answers[6], Ok(t2.id));
    for i in [1, 3, 4, 5] {
        match &answers[i] {
            Err(r) => {
                assert_eq!(r.code, INVALID_ENCODING, "transaction {i}: {r:?}");
                assert!(!r.message.is_empty());
            }
            Ok(id) => panic!("undecodable transaction {i} admitted as {id}"),
        }
    }

    // A bad signature (tampered signature; tampered fee under a valid signature): 1003. The same
    // nonce correctly signed, in the same batch, is admitted. A wrong chain id: 1002.
    let t3 = tx(3);
    let mut bad_sig = t3.bytes.to_vec();
    let n = bad_sig.len();
    bad_sig[n - 20] ^= 0x40;
    let t4 = tx(4);
    let mut bad_fee = t4.bytes.to_vec();
    // version u8 | chain_id u64 | sender [32] | nonce u64 | fee u64: the fee's low byte.
    assert_eq!(bad_fee[49], FEE as u8);
    bad_fee[49] = 3;
    let wrong_chain = Transaction::sign(
        &faucet,
        CHAIN_ID + 1,
        4,
        FEE,
        Payload::Bank(BankCall::Transfer { to, amount: 1 }),
    );
    let batch: Vec<&[u8]> = vec![
        &bad_sig[..],
        &t3.bytes[..],
        &bad_fee[..],
        &wrong_chain.bytes[..],
    ];
    let answers = rt.block_on(client.submit(&batch)).expect("signature batch");
    let code = |a: &Result<Hash, mameynode::quic::Refusal>| a.as_ref().err().map(|r| r.code);
    assert_eq!(code(&answers[0]), Some(BAD_SIGNATURE), "{:?}", answers[0]);
    assert_eq!(answers[1], Ok(t3.id));
    assert_eq!(code(&answers[2]), Some(BAD_SIGNATURE), "{:?}", answers[2]);
    assert_eq!(code(&answers[3]), Some(WRONG_CHAIN), "{:?}", answers[3]);

    // Raw requests: unknown kind, truncated body, trailing bytes, count over the limit.
    rt.block_on(async {
        let (_endpoint, conn) = raw_connect(&node, None).await;
        let refused = |reply: Vec<u8>, what: &str| match mameynode::quic::decode_answers(&reply, 64)
        {
            Err(QuicError::BatchRefused(m)) => {
                assert!(!m.is_empty(), "{what}: refusal without a message");
                m
            }
            other => panic!("{what}: {other:?}"),
        };
        let m = refused(raw_request(&conn, &[0x07, 1, 2, 3]).await, "unknown kind");
        assert!(
            m.contains('7'),
            "unknown kind refusal does not name it: {m}"
        );
        let mut body = vec![mameynode::quic::REQUEST_SUBMIT];
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(&(t0.bytes.len() as u32).to_le_bytes());
        body.extend_from_slice(&t0.bytes);
        refused(
            raw_request(&conn, &body).await,
            "count 3 with one transaction",
        );
        let mut body = mameynode::quic::encode_submit(&[&t0.bytes]);
        body.extend_from_slice(b"junk");
        refused(raw_request(&conn, &body).await, "trailing bytes");
        let mut body = vec![mameynode::quic::REQUEST_SUBMIT];
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        refused(raw_request(&conn, &body).await, "count u32::MAX");
    });

    // What was admitted commits; the node keeps going, and a full batch of exactly the limit of
    // valid transactions is admitted whole.
    for t in [&t0, &t1, &t2, &t3] {
        wait_committed(&rpc, &t.id, Duration::from_secs(20));
    }
    let full: Vec<TxEnvelope> = (4..4 + BATCH_MAX as u64).map(tx).collect();
    let bytes: Vec<&[u8]> = full.iter().map(|t| &t.bytes[..]).collect();
    let answers = rt.block_on(client.submit(&bytes)).expect("full batch");
    let ids: Vec<Result<Hash, mameynode::quic::Refusal>> = full.iter().map(|t| Ok(t.id)).collect();
    assert_eq!(answers, ids);
    for t in &full {
        wait_committed(&rpc, &t.id, Duration::from_secs(20));
    }
    let acct = rpc.account(&faucet_addr).expect("account");
    assert_eq!(acct.nonce, 4 + BATCH_MAX as u64);
    node.assert_alive();
}
