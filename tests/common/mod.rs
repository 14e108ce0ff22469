//! The harness shared by the integration tests that run the `mameynode` binary as a real node
//! process: `e2e`, `pipeline`, `ws`, `grpc`, `metrics` and `independent_clients`. Each of those
//! files says `mod common;` and uses what it needs.
//!
//! # Starting a node
//!
//! [`Node::options`] returns [`NodeOptions`] (block interval, LMDB map size, extra config TOML,
//! metrics endpoint, environment, the QUIC certificate); [`NodeOptions::start`] runs
//!
//! ```text
//! mameynode run --dev --data-dir DIR --rpc-listen 127.0.0.1:0 --quic-listen 127.0.0.1:0 \
//!     --grpc-listen 127.0.0.1:0 --map-size-mb N [--metrics-listen 127.0.0.1:0] \
//!     [--block-interval-ms N] [--config DIR.toml]
//! ```
//!
//! and waits until the node wrote the addresses it bound to `DIR/endpoints.json` and answers
//! `mamey_status`. Every node listens on port 0, so tests run in parallel without colliding.
//! [`NodeOptions::start_in_temp_dir`] does the same in a new temporary directory (`ROOT/data`) that
//! the [`Node`] owns and removes when dropped; [`NodeOptions::start`] takes the data directory
//! from the caller, so that a test can stop a node and start another on the same chain.
//!
//! Beside the data directory (not in it: the node creates that itself on first start) lie
//! `DIR.log`, the node's stderr, appended to across restarts with a `===== starting node =====`
//! line per start, and `DIR.toml`, the extra configuration when there is one.
//!
//! # The guard
//!
//! A [`Node`] kills its process when dropped and, when the test is failing (the thread panics),
//! prints the tail of the node's log. [`Node::sigterm`] (a clean stop, returning the exit status)
//! and [`Node::kill9`] consume it.
//!
//! # Helpers
//!
//! The dev chain's keys ([`faucet_key`], [`validator_address`]), signed transfers ([`transfer`],
//! [`transfer_with_fee`]), waiting for a commit or a height over JSON-RPC ([`wait_committed`],
//! [`wait_height_above`], [`wait_height_at_least`]), and the binary's client commands ([`cli`],
//! [`cli_transfer_wait`], [`stdout_of`]).

// Each test file is a crate of its own that compiles this module and uses only a subset of it; what
// one crate leaves unused is not dead code in the others.
#![allow(dead_code)]

pub mod gpu;
pub mod tools;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use mameynode::keys;
use mameynode::rpc::client::RpcClient;
use mameynode::rpc::{TxStatus, TxView};
use mameynode::types::{Address, BankCall, Hash, Payload, Transaction, TxEnvelope};
use serde_json::Value;

/// The node binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_mameynode");
/// The dev chain's chain id.
pub const CHAIN_ID: u64 = 1337;
/// The dev chain's total supply, all of it the faucet's at genesis.
pub const SUPPLY: u64 = 1_000_000_000_000_000;
/// The fee [`transfer`] pays (the dev chain's minimum).
pub const FEE: u64 = 1;
/// `--map-size-mb` unless [`NodeOptions::map_size_mb`] says otherwise.
pub const MAP_SIZE_MB: u64 = 1024;

/// How long a node may take to write `endpoints.json`.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
/// How long a node may take, once `endpoints.json` is written, to answer `mamey_status`.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);
/// How often the waiting helpers poll.
const POLL: Duration = Duration::from_millis(20);
/// How many lines of the node's log a failing test prints.
const LOG_TAIL_LINES: usize = 80;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// What to do about the node's Prometheus endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Metrics {
    /// Pass no `--metrics-listen`: the node uses its default (`127.0.0.1:9100` if that is free,
    /// else no metrics endpoint).
    #[default]
    NodeDefault,
    /// `--metrics-listen 127.0.0.1:0` if this build of the node has that flag (never the default
    /// port: tests run in parallel); [`Node::metrics`] is the address if the node serves metrics.
    PortZeroIfSupported,
    /// `--metrics-listen 127.0.0.1:0`, and the start fails unless `endpoints.json` names the
    /// metrics address ([`Node::metrics_addr`]).
    PortZero,
}

/// How to start a node: see [`Node::options`].
#[derive(Clone, Debug)]
pub struct NodeOptions {
    block_interval_ms: Option<u64>,
    map_size_mb: u64,
    config: Option<String>,
    metrics: Metrics,
    env: Vec<(String, String)>,
    ingest_cert: bool,
    startup_limit: Duration,
    /// `DIR` of `cert.pem` and `key.pem` to serve the APIs over TLS with.
    tls: Option<PathBuf>,
    /// A bearer token [`Node::client`] sends (for nodes whose anonymous callers have no role).
    bearer: Option<String>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            block_interval_ms: None,
            map_size_mb: MAP_SIZE_MB,
            config: None,
            metrics: Metrics::NodeDefault,
            env: Vec::new(),
            ingest_cert: false,
            startup_limit: STARTUP_LIMIT,
            tls: None,
            bearer: None,
        }
    }
}

impl NodeOptions {
    /// `--block-interval-ms MS` (it wins over an interval in [`NodeOptions::config`]); without it,
    /// the node's default or the config's.
    pub fn block_interval_ms(mut self, ms: u64) -> Self {
        self.block_interval_ms = Some(ms);
        self
    }

    /// `--map-size-mb MB` instead of [`MAP_SIZE_MB`].
    pub fn map_size_mb(mut self, mb: u64) -> Self {
        self.map_size_mb = mb;
        self
    }

    /// Extra configuration: the TOML text is written to `DIR.toml`, beside the data directory,
    /// and passed with `--config`.
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.config = Some(toml.into());
        self
    }

    /// The metrics endpoint; [`Metrics::NodeDefault`] unless set.
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// How long the node may take to bind its endpoints (a GPU backend compiles its shaders first).
    pub fn startup_limit(mut self, limit: Duration) -> Self {
        self.startup_limit = limit;
        self
    }

    /// An environment variable for the node process (besides `RUST_LOG=info`, which this can
    /// override).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Serve the APIs over TLS with `DIR/cert.pem` and `DIR/key.pem` (`--tls-cert`,
    /// `--tls-key`); [`Node::url`] is then `https://…` and [`Node::client`] trusts `cert.pem`.
    pub fn tls(mut self, dir: &Path) -> Self {
        self.tls = Some(dir.to_path_buf());
        self
    }

    /// [`Node::client`] sends `Authorization: Bearer token`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_string());
        self
    }

    /// Fetch the node's QUIC certificate with `mamey_ingestInfo` once it answers, for
    /// [`Node::cert`].
    pub fn with_ingest_cert(mut self) -> Self {
        self.ingest_cert = true;
        self
    }

    /// Starts (or resumes) a dev chain in the data directory `dir` and waits until it serves
    /// JSON-RPC. Starting again on the same directory continues the same chain.
    pub fn start(&self, dir: &Path) -> Node {
        self.spawn(dir, None)
    }

    /// Starts a dev chain in `ROOT/data` of a new temporary directory, which the node owns: it
    /// is removed after the process is killed.
    pub fn start_in_temp_dir(&self) -> Node {
        let root = tempfile::tempdir().expect("temporary directory");
        let dir = root.path().join("data");
        self.spawn(&dir, Some(root))
    }

    fn spawn(&self, dir: &Path, root: Option<tempfile::TempDir>) -> Node {
        let endpoints = dir.join("endpoints.json");
        // A stale file from a previous run would point at ports nobody listens on any more.
        let _ = std::fs::remove_file(&endpoints);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path(dir))
            .expect("open node log");
        writeln!(&log, "===== starting node =====").expect("write node log");
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--dev", "--data-dir"])
            .arg(dir)
            .args(["--rpc-listen", "127.0.0.1:0"])
            .args(["--quic-listen", "127.0.0.1:0"])
            .args(["--grpc-listen", "127.0.0.1:0"])
            .args(["--map-size-mb", &self.map_size_mb.to_string()]);
        let metrics_flag = match self.metrics {
            Metrics::NodeDefault => false,
            Metrics::PortZeroIfSupported => metrics_flag_exists(),
            Metrics::PortZero => true,
        };
        if metrics_flag {
            cmd.args(["--metrics-listen", "127.0.0.1:0"]);
        }
        if let Some(ms) = self.block_interval_ms {
            cmd.args(["--block-interval-ms", &ms.to_string()]);
        }
        if let Some(tls) = &self.tls {
            cmd.arg("--tls-cert")
                .arg(tls.join("cert.pem"))
                .arg("--tls-key")
                .arg(tls.join("key.pem"));
        }
        if let Some(text) = &self.config {
            let path = config_path(dir);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            cmd.arg("--config").arg(&path);
        }
        cmd.env("RUST_LOG", "info");
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn mameynode run");
        let mut node = Node {
            child: Some(child),
            dir: dir.to_path_buf(),
            rpc: String::new(),
            url: String::new(),
            quic: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc: String::new(),
            metrics: None,
            cert: None,
            ca: self.tls.as_ref().map(|d| d.join("cert.pem")),
            bearer: self.bearer.clone(),
            _root: root,
        };

        // The file is written (atomically) once every server is bound.
        let deadline = Instant::now() + self.startup_limit;
        let v = loop {
            if let Some(v) = std::fs::read_to_string(&endpoints)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .filter(|v| ["rpc", "quic", "grpc"].iter().all(|k| v[k].is_string()))
            {
                break v;
            }
            if let Some(status) = node.try_exit() {
                panic!(
                    "node exited during startup with {status}; log:\n{}",
                    node.log_tail(60)
                );
            }
            assert!(
                Instant::now() < deadline,
                "node did not write rpc, quic and grpc to {} within {:?}; log:\n{}",
                endpoints.display(),
                self.startup_limit,
                node.log_tail(60)
            );
            std::thread::sleep(POLL);
        };
        let text = |key: &str| v[key].as_str().expect("checked above").to_string();
        node.rpc = text("rpc");
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        node.url = format!("{scheme}://{}", node.rpc);
        node.grpc = text("grpc");
        let quic = text("quic");
        node.quic = quic
            .parse()
            .unwrap_or_else(|e| panic!("endpoints.json quic {quic:?}: {e}"));
        node.metrics = v["metrics"].as_str().map(str::to_string);
        if self.metrics == Metrics::PortZero && node.metrics.is_none() {
            panic!("no \"metrics\" in endpoints.json: {v}");
        }

        // Bound is not yet serving: make sure it answers.
        let client = node.client();
        let deadline = Instant::now() + ANSWER_LIMIT;
        while let Err(e) = client.status() {
            assert!(
                Instant::now() < deadline,
                "node at {} does not answer mamey_status: {e}",
                node.url
            );
            std::thread::sleep(POLL);
        }
        if self.ingest_cert {
            let info = client.ingest_info().expect("mamey_ingestInfo");
            node.cert = Some(hex::decode(&info.certificate_der).expect("certificate_der is hex"));
        }
        node
    }
}

// ---------------------------------------------------------------------------------------------
// A node process and its guard
// ---------------------------------------------------------------------------------------------

/// A running node (see the module docs). The addresses are those `endpoints.json` names.
pub struct Node {
    child: Option<Child>,
    /// The data directory.
    pub dir: PathBuf,
    /// `127.0.0.1:PORT` of JSON-RPC (HTTP and WebSocket).
    pub rpc: String,
    /// `http://127.0.0.1:PORT`, the JSON-RPC URL.
    pub url: String,
    /// The QUIC ingest and commit-stream address.
    pub quic: SocketAddr,
    /// `127.0.0.1:PORT` of gRPC.
    pub grpc: String,
    /// `127.0.0.1:PORT` of the metrics endpoint, when the node serves one.
    pub metrics: Option<String>,
    /// DER of the node's QUIC certificate, with [`NodeOptions::with_ingest_cert`].
    cert: Option<Vec<u8>>,
    /// The certificate the APIs serve, with [`NodeOptions::tls`].
    pub ca: Option<PathBuf>,
    /// The bearer token of [`NodeOptions::bearer`].
    bearer: Option<String>,
    /// The temporary directory of [`NodeOptions::start_in_temp_dir`]; dropped (removed) after
    /// [`Drop::drop`] killed the process.
    _root: Option<tempfile::TempDir>,
}

impl Node {
    /// Options for a node: no `--block-interval-ms`, `--map-size-mb` [`MAP_SIZE_MB`], no extra
    /// config, [`Metrics::NodeDefault`], `RUST_LOG=info`.
    pub fn options() -> NodeOptions {
        NodeOptions::default()
    }

    /// A JSON-RPC client of the node.
    pub fn client(&self) -> RpcClient {
        let client = match &self.ca {
            Some(ca) => RpcClient::trusting(&self.url, ca).expect("the node's certificate loads"),
            None => RpcClient::new(&self.url),
        };
        match &self.bearer {
            Some(token) => client.with_bearer(token),
            None => client,
        }
    }

    /// The metrics endpoint's address; panics if the node serves none.
    pub fn metrics_addr(&self) -> &str {
        self.metrics
            .as_deref()
            .unwrap_or_else(|| panic!("the node at {} serves no metrics", self.rpc))
    }

    /// DER of the node's QUIC certificate; panics unless started
    /// [`NodeOptions::with_ingest_cert`].
    pub fn cert(&self) -> &[u8] {
        self.cert
            .as_deref()
            .expect("the node was started without NodeOptions::with_ingest_cert")
    }

    /// The dev chain's faucet key.
    pub fn faucet(&self) -> SigningKey {
        faucet_key(&self.dir)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("node is running").id()
    }

    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .expect("node is running")
            .try_wait()
            .expect("try_wait")
    }

    /// Panics with the log's tail if the process has exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.try_exit() {
            panic!(
                "node died with {status}; log:\n{}",
                self.log_tail(LOG_TAIL_LINES)
            );
        }
    }

    /// Waits (at most 30 s) until the head is at least `height`.
    pub fn wait_height(&self, height: u64) {
        wait_height_at_least(&self.client(), height, Duration::from_secs(30));
    }

    /// Sends SIGTERM and waits (at most `limit`) for the process to exit; returns its status.
    pub fn sigterm(mut self, limit: Duration) -> ExitStatus {
        let pid = self.pid();
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(ok.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_exit() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node did not exit within {limit:?} of SIGTERM; log:\n{}",
                self.log_tail(60)
            );
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("node is running");
        child.kill().expect("SIGKILL the node");
        let status = child.wait().expect("wait for the killed node");
        assert!(
            !status.success(),
            "a SIGKILLed node cannot exit 0: {status}"
        );
    }

    /// The last `lines` lines of the node's log (of every start on this data directory).
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.dir, lines)
    }

    /// The node's whole log (of every start on this data directory).
    pub fn log(&self) -> String {
        std::fs::read_to_string(log_path(&self.dir)).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- node log ({}) ----\n{}",
                self.dir.display(),
                self.log_tail(LOG_TAIL_LINES)
            );
        }
    }
}

/// The node's log (its stderr): beside the data directory, not in it.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.with_extension("log")
}

/// The last `lines` lines of the log of the node(s) run on `dir`.
pub fn log_tail(dir: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log_path(dir)).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The extra configuration of [`NodeOptions::config`]: beside the data directory, not in it.
pub fn config_path(dir: &Path) -> PathBuf {
    dir.with_extension("toml")
}

/// Whether this build of the node has `run --metrics-listen` (a metrics endpoint).
pub fn metrics_flag_exists() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let out = Command::new(BIN)
            .args(["run", "--help"])
            .output()
            .expect("run mameynode run --help");
        String::from_utf8_lossy(&out.stdout).contains("--metrics-listen")
    })
}

// ---------------------------------------------------------------------------------------------
// The binary's client commands
// ---------------------------------------------------------------------------------------------

/// Runs a client command of the binary and returns its output (never panics on a non-zero exit).
pub fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mameynode")
}

/// `mameynode transfer --key KEY --to TO --amount AMOUNT --rpc URL --wait EXTRA...` (see [`cli`]).
pub fn cli_transfer_wait(key: &str, to: &str, amount: &str, url: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "transfer", "--key", key, "--to", to, "--amount", amount, "--rpc", url, "--wait",
    ];
    args.extend_from_slice(extra);
    cli(&args)
}

/// The trimmed stdout of a command that must have succeeded.
pub fn stdout_of(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "`{what}` failed with {}: stdout {:?}, stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 stdout")
        .trim()
        .to_string()
}

/// Runs a CLI command that must succeed; its trimmed stdout.
pub fn cli_ok(args: &[&str]) -> String {
    stdout_of(&cli(args), &args.join(" "))
}

/// Runs a CLI command that must fail; its stderr.
pub fn cli_fails(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        !out.status.success(),
        "`{}` succeeded: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `check` every 100 ms until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A JSON-RPC call that must succeed; its result.
pub fn rpc(node: &Node, method: &str, params: Value) -> Value {
    node.client()
        .call::<Value>(method, params)
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Keys and transfers
// ---------------------------------------------------------------------------------------------

/// The faucet key of the dev chain in `dir`.
pub fn faucet_key(dir: &Path) -> SigningKey {
    keys::read(&dir.join("dev/faucet.key")).expect("read the faucet key")
}

/// The address of the validator key of the dev chain in `dir`; panics unless `genesis.toml`
/// names it.
pub fn validator_address(dir: &Path) -> Address {
    let key = keys::read(&dir.join("dev/validator.key")).expect("read the validator key");
    let from_key = keys::address_of(&key);
    let genesis = std::fs::read_to_string(dir.join("genesis.toml")).expect("read genesis.toml");
    assert!(
        genesis.contains(&from_key.to_string()),
        "genesis.toml does not name the validator key's address {from_key}:\n{genesis}"
    );
    from_key
}

/// The address of a new random key.
pub fn new_address() -> Address {
    keys::address_of(&keys::generate())
}

/// A transfer on the dev chain, paying [`FEE`].
pub fn transfer(key: &SigningKey, nonce: u64, to: Address, amount: u64) -> TxEnvelope {
    transfer_with_fee(key, nonce, FEE, to, amount)
}

/// A transfer on the dev chain with the given fee.
pub fn transfer_with_fee(
    key: &SigningKey,
    nonce: u64,
    fee: u64,
    to: Address,
    amount: u64,
) -> TxEnvelope {
    Transaction::sign(
        key,
        CHAIN_ID,
        nonce,
        fee,
        Payload::Bank(BankCall::Transfer { to, amount }),
    )
}

// ---------------------------------------------------------------------------------------------
// Waiting over JSON-RPC
// ---------------------------------------------------------------------------------------------

pub fn is_committed(status: &TxStatus) -> bool {
    matches!(status, TxStatus::Committed | TxStatus::Finalized)
}

/// Polls until the transaction is committed (and returns its view, which has a height); panics
/// if it is rejected, committed without a height or still pending after `limit`.
pub fn wait_committed(client: &RpcClient, id: &Hash, limit: Duration) -> TxView {
    let deadline = Instant::now() + limit;
    loop {
        let v = client.transaction(id).expect("mamey_getTransaction");
        match v.status {
            TxStatus::Committed | TxStatus::Finalized => {
                assert!(
                    v.height.is_some(),
                    "a committed transaction has a height: {v:?}"
                );
                return v;
            }
            TxStatus::Rejected => panic!("transaction {id} was rejected: {:?}", v.error),
            TxStatus::Pending => {}
        }
        assert!(
            Instant::now() < deadline,
            "transaction {id} still pending after {limit:?}"
        );
        std::thread::sleep(POLL);
    }
}

/// Waits until the head is at least `height`; returns the head's height.
pub fn wait_height_at_least(client: &RpcClient, height: u64, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    loop {
        let h = client.status().expect("mamey_status").height;
        if h >= height {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "the chain did not reach height {height} within {limit:?} (at {h})"
        );
        std::thread::sleep(POLL);
    }
}

/// Waits until the head is above `height`; returns the new height.
pub fn wait_height_above(client: &RpcClient, height: u64, limit: Duration) -> u64 {
    wait_height_at_least(client, height + 1, limit)
}

/// The account, waiting out the node's per-connection rate limit (code 2004): audits read
/// thousands of accounts over one kept-alive connection, faster than `rpc.calls_per_second_max`.
fn account_patiently(client: &RpcClient, a: &Address) -> mameynode::rpc::AccountView {
    for _ in 0..50 {
        match client.account(a) {
            Err(e) if e.code() == Some(2004) => std::thread::sleep(Duration::from_millis(100)),
            r => return r.expect("mamey_getAccount"),
        }
    }
    panic!("mamey_getAccount: still rate limited after 5 s");
}

/// The account's balance (0 for an account nobody paid yet).
pub fn balance(client: &RpcClient, a: &Address) -> u64 {
    account_patiently(client, a).balance
}

/// The account's next nonce, counting its pending transactions.
pub fn pending_nonce(client: &RpcClient, a: &Address) -> u64 {
    account_patiently(client, a).pending_nonce
}

/// A small deterministic generator (SplitMix64) for seeded test cases: a failing case reproduces
/// from its seed.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for chunk in out.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&w[..chunk.len()]);
        }
        out
    }
    pub fn vec(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The two traders of the DEX tests, funded by the dev faucet: the maker issued `GOLD` (the base
/// asset) and the taker `USDX` (the quote asset), 10,000,000 each, and each gave the other
/// 1,000,000 of it. Key files lie in `root`.
pub struct DexTraders {
    pub maker_key: String,
    pub maker: String,
    pub taker_key: String,
    pub taker: String,
    pub base: String,
    pub quote: String,
}

/// Creates the DEX tests' traders and assets on the node at `url` (see [`DexTraders`]).
pub fn dex_traders(root: &Path, faucet: &str, url: &str) -> DexTraders {
    let new_key = |name: &str| {
        let path = root.join(format!("{name}.key"));
        let path = path.to_str().expect("utf-8").to_string();
        let address = cli_ok(&["keys", "new", "--out", &path]);
        (path, address)
    };
    let run = |args: &[&str]| cli_ok(&[args, &["--rpc", url, "--wait"][..]].concat());
    let (maker_key, maker) = new_key("maker");
    let (taker_key, taker) = new_key("taker");
    for to in [&maker, &taker] {
        run(&[
            "transfer", "--key", faucet, "--to", to, "--amount", "1000000",
        ]);
    }
    let create = |key: &str, symbol: &str| {
        run(&[
            "asset",
            "create",
            "--key",
            key,
            "--symbol",
            symbol,
            "--decimals",
            "0",
            "--initial-supply",
            "10000000",
        ])
    };
    let base = create(&maker_key, "GOLD");
    let quote = create(&taker_key, "USDX");
    run(&[
        "transfer", "--key", &maker_key, "--asset", &base, "--to", &taker, "--amount", "1000000",
    ]);
    run(&[
        "transfer", "--key", &taker_key, "--asset", &quote, "--to", &maker, "--amount", "1000000",
    ]);
    DexTraders {
        maker_key,
        maker,
        taker_key,
        taker,
        base,
        quote,
    }
}
