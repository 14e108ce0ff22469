//! Node configuration: one TOML file (documented in `config/node.toml`), every field optional with
//! a default, unknown fields rejected so that a typo is an error rather than a silently ignored
//! setting. Relative paths are taken from the config file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::mempool::MempoolConfig;
use crate::sigverify::Backend;
use crate::storage::StorageConfig;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where the node keeps its database and, in dev mode, its keys and genesis.
    pub data_dir: PathBuf,
    /// Genesis document; in dev mode `DATA_DIR/genesis.toml`, written on first start.
    pub genesis_file: Option<PathBuf>,
    /// This validator's key file; in dev mode `DATA_DIR/dev/validator.key`.
    pub validator_key_file: Option<PathBuf>,
    pub rpc: RpcConfig,
    pub grpc: GrpcConfig,
    pub quic: QuicConfig,
    pub block: BlockConfig,
    pub ingest: IngestConfig,
    pub sigverify: SigverifyConfig,
    pub mempool: MempoolSettings,
    pub pipeline: PipelineConfig,
    pub consensus: ConsensusConfig,
    pub p2p: P2pConfig,
    pub storage: StorageSettings,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    /// TLS for every API port.
    pub tls: crate::tls::TlsConfig,
    /// Who may call what on the APIs.
    pub access: crate::access::AccessConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            genesis_file: None,
            validator_key_file: None,
            rpc: RpcConfig::default(),
            grpc: GrpcConfig::default(),
            quic: QuicConfig::default(),
            block: BlockConfig::default(),
            ingest: IngestConfig::default(),
            sigverify: SigverifyConfig::default(),
            mempool: MempoolSettings::default(),
            pipeline: PipelineConfig::default(),
            consensus: ConsensusConfig::default(),
            p2p: P2pConfig::default(),
            storage: StorageSettings::default(),
            metrics: MetricsConfig::default(),
            log: LogConfig::default(),
            tls: crate::tls::TlsConfig::default(),
            access: crate::access::AccessConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpcConfig {
    /// JSON-RPC over HTTP (and WebSocket, later) listen address.
    pub listen: SocketAddr,
    /// Largest request body accepted; bigger requests get an error, not a crash.
    pub request_bytes_max: u32,
    pub response_bytes_max: u32,
    pub connections_max: u32,
    /// Largest JSON-RPC batch request (number of calls).
    pub batch_calls_max: u32,
    /// Calls per second per connection (HTTP or WebSocket); more get error 2004.
    pub calls_per_second_max: u32,
    /// WebSocket subscriptions per connection.
    pub subscriptions_per_connection_max: u32,
    /// Messages buffered per WebSocket connection before a subscriber counts as lagging.
    pub ws_buffer_messages: u32,
    /// Origins allowed by CORS (`["*"]` for any); empty turns CORS off.
    pub cors_allowed_origins: Vec<String>,
    /// A request's headers must arrive within this time, and a new connection's first request
    /// too; slower clients are disconnected.
    pub header_read_timeout_ms: u64,
    /// The request line and headers together; bigger requests get 431.
    pub header_bytes_max: usize,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8545)),
            request_bytes_max: 1 << 20,
            response_bytes_max: 16 << 20,
            connections_max: 1024,
            batch_calls_max: 256,
            calls_per_second_max: 1000,
            subscriptions_per_connection_max: 64,
            ws_buffer_messages: 1024,
            cors_allowed_origins: Vec::new(),
            header_read_timeout_ms: 10_000,
            header_bytes_max: 16 << 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Largest request message.
    pub message_bytes_max: usize,
    /// Concurrent HTTP/2 streams (calls and subscriptions) per connection.
    pub streams_per_connection_max: u32,
    /// Requests handled at once per connection.
    /// Connections open at once; further ones are closed at once.
    pub connections_max: usize,
    pub concurrent_requests_per_connection_max: usize,
    /// Updates buffered per subscription stream.
    pub stream_buffer_updates: usize,
    /// A stream that falls this many blocks behind the head is ended with RESOURCE_EXHAUSTED.
    pub stream_lag_blocks_max: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            message_bytes_max: 64 * 1024,
            streams_per_connection_max: 128,
            connections_max: 1024,
            concurrent_requests_per_connection_max: 64,
            stream_buffer_updates: 4096,
            stream_lag_blocks_max: 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuicConfig {
    /// QUIC transaction ingest listen address (UDP).
    pub listen: SocketAddr,
    /// Concurrent client connections; more are refused.
    pub connections_max: u32,
    /// Concurrent streams (batches in flight) per connection; QUIC flow control holds clients back.
    pub streams_per_connection_max: u32,
}

impl Default for QuicConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9000)),
            connections_max: 256,
            streams_per_connection_max: 64,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockConfig {
    /// Time between blocks.
    pub interval_ms: u64,
    /// Most transactions in one block.
    pub txs_max: usize,
    /// Produce blocks with no transactions (the height then advances with time, as on most chains).
    pub empty_blocks: bool,
}

impl Default for BlockConfig {
    fn default() -> Self {
        Self {
            interval_ms: 250,
            txs_max: 20_000,
            empty_blocks: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest encoded transaction accepted (at most the protocol limit of 4096).
    pub tx_bytes_max: usize,
    /// Most transactions in one submission (a JSON-RPC call carries one; QUIC clients more).
    pub batch_txs_max: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            tx_bytes_max: 1024,
            batch_txs_max: 4096,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SigverifyConfig {
    pub backend: Backend,
    /// Signatures gathered before a batch is verified...
    pub batch_size_max: usize,
    /// ...or this long after the first one arrived, whichever comes first.
    pub batch_deadline_us: u64,
    /// Signatures per batch equation (the unit of work of one rayon task).
    pub chunk_size_max: usize,
    /// Threads of the verification pool (0: one per core).
    pub threads: usize,
    /// GPU backends: most signatures in one dispatch.
    pub gpu_dispatch_size_max: usize,
    /// GPU backends: a dispatch not finished after this long sends its batch to the CPU.
    pub gpu_timeout_ms: u64,
    /// `auto`: batches smaller than this stay on the CPU.
    pub auto_gpu_batch_min: usize,
}

impl SigverifyConfig {
    /// What [`crate::sigverify::verifier_for`] needs.
    pub fn settings(&self) -> crate::sigverify::VerifierSettings {
        crate::sigverify::VerifierSettings {
            backend: self.backend,
            chunk_size_max: self.chunk_size_max,
            gpu: crate::sigverify::GpuConfig {
                dispatch_size_max: self.gpu_dispatch_size_max,
                timeout: std::time::Duration::from_millis(self.gpu_timeout_ms),
            },
            auto_gpu_batch_min: self.auto_gpu_batch_min,
        }
    }
}

impl Default for SigverifyConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Cpu,
            batch_size_max: 4_096,
            batch_deadline_us: 2_000,
            chunk_size_max: 1_024,
            threads: 0,
            gpu_dispatch_size_max: 65_536,
            gpu_timeout_ms: 10_000,
            auto_gpu_batch_min: 256,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolSettings {
    pub txs_max: usize,
    pub per_sender_max: usize,
    pub nonce_ahead_max: u64,
    /// Transactions waiting behind a missing nonce, at most (keeps room for ready ones).
    /// Default: a quarter of `txs_max`.
    pub gapped_max: Option<usize>,
    pub expiry_secs: u64,
    /// Rejection reasons remembered for `mamey_getTransaction` after a transaction left the pool.
    pub rejected_remembered_max: usize,
}

impl Default for MempoolSettings {
    fn default() -> Self {
        let d = MempoolConfig::default();
        Self {
            txs_max: d.txs_max,
            per_sender_max: d.per_sender_max,
            nonce_ahead_max: d.nonce_ahead_max,
            gapped_max: None,
            expiry_secs: d.expiry.as_secs(),
            rejected_remembered_max: 100_000,
        }
    }
}

impl MempoolSettings {
    pub fn pool_config(&self) -> MempoolConfig {
        MempoolConfig {
            txs_max: self.txs_max,
            per_sender_max: self.per_sender_max,
            nonce_ahead_max: self.nonce_ahead_max,
            gapped_max: self.gapped_max.unwrap_or(self.txs_max / 4),
            expiry: Duration::from_secs(self.expiry_secs),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Messages (each a batch) waiting at a stage before it pushes back with "busy".
    pub queue_batches_max: usize,
    /// Committed blocks buffered for each commit-stream subscriber; one that falls further behind
    /// is told it lagged and is disconnected.
    pub subscriber_buffer_blocks: usize,
    /// Blocks with at least this many transactions are executed in parallel. The default keeps
    /// the sequential executor: on 2 cores it is faster (benches/pipeline.rs: 5.2 ms against
    /// 8.3 ms for 5,000 transfers); lower it on machines with more cores, after measuring.
    pub parallel_execution_txs_min: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            queue_batches_max: 256,
            subscriber_buffer_blocks: 256,
            parallel_execution_txs_min: 50_000,
        }
    }
}

/// BFT consensus (Tendermint rounds, `crate::consensus`). Round `r` of a step waits
/// `step_ms + r * step_delta_ms`, at most `timeout_max_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusConfig {
    pub propose_ms: u64,
    pub propose_delta_ms: u64,
    pub prevote_ms: u64,
    pub prevote_delta_ms: u64,
    pub precommit_ms: u64,
    pub precommit_delta_ms: u64,
    /// How often a validator repeats its latest messages of the round (lost messages).
    pub rebroadcast_ms: u64,
    pub timeout_max_ms: u64,
    /// Largest write-ahead log of one height; past it the node stops rather than sign unlogged.
    pub wal_bytes_max: u64,
    /// Follow the chain without being a genesis validator (a full node for RPC): the key is only
    /// this node's p2p identity. Validators list the follower in their `p2p.peers`, so that they
    /// send it consensus messages and blocks; it checks every certificate and block itself.
    pub follower: bool,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        Self {
            propose_ms: 3_000,
            propose_delta_ms: 500,
            prevote_ms: 1_000,
            prevote_delta_ms: 500,
            precommit_ms: 1_000,
            precommit_delta_ms: 500,
            rebroadcast_ms: 1_000,
            timeout_max_ms: 60_000,
            wal_bytes_max: 64 << 20,
            follower: false,
        }
    }
}

impl ConsensusConfig {
    pub fn timeouts(&self) -> crate::consensus::context::LinearTimeouts {
        use std::time::Duration;
        crate::consensus::context::LinearTimeouts {
            propose: Duration::from_millis(self.propose_ms),
            propose_delta: Duration::from_millis(self.propose_delta_ms),
            prevote: Duration::from_millis(self.prevote_ms),
            prevote_delta: Duration::from_millis(self.prevote_delta_ms),
            precommit: Duration::from_millis(self.precommit_ms),
            precommit_delta: Duration::from_millis(self.precommit_delta_ms),
            rebroadcast: Duration::from_millis(self.rebroadcast_ms),
            max_timeout: Duration::from_millis(self.timeout_max_ms),
        }
    }
}

/// Validator-to-validator networking (`crate::p2p`). Started when `peers` is not empty or the
/// chain registers another validator with a published address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct P2pConfig {
    /// QUIC (UDP) listen address for peers.
    pub listen: SocketAddr,
    /// Peers to dial, `ADDRESS@HOST:PORT` (the validator address, then where it listens).
    pub peers: Vec<String>,
    /// Most validators dialled at the addresses they published on chain (the active set first,
    /// then candidates by stake), besides `peers`; 0 dials configured peers only.
    pub chain_peers_max: usize,
    /// Largest frame a peer may send (a block with headroom); bigger ends the connection.
    pub frame_bytes_max: usize,
    /// Messages waiting for one peer; more are dropped (consensus repeats what matters).
    pub send_queue_max: usize,
    /// Messages from peers waiting for the consensus stage; more are dropped.
    pub inbound_queue_max: usize,
    /// Inbound peer connections at once.
    pub connections_max: usize,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 26656)),
            peers: Vec::new(),
            chain_peers_max: 64,
            frame_bytes_max: crate::p2p::FRAME_BYTES_MAX_DEFAULT,
            send_queue_max: 4_096,
            inbound_queue_max: 16_384,
            connections_max: 128,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSettings {
    pub map_size_mb: u64,
    pub durable: bool,
}

impl Default for StorageSettings {
    fn default() -> Self {
        let d = StorageConfig::default();
        Self {
            map_size_mb: d.map_size_mb,
            durable: d.durable,
        }
    }
}

impl StorageSettings {
    pub fn storage_config(&self) -> StorageConfig {
        StorageConfig {
            map_size_mb: self.map_size_mb,
            durable: self.durable,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics over HTTP at `http://LISTEN/metrics`.
    pub enabled: bool,
    /// Listen address of the metrics endpoint (port 0 picks a free port; see
    /// `DATA_DIR/endpoints.json`). When set, failing to bind it stops the node; when not set,
    /// [`MetricsConfig::DEFAULT_LISTEN`] is used if it is free, else the node runs without metrics.
    pub listen: Option<SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

impl MetricsConfig {
    pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        9100,
    ));

    /// The address to listen on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.unwrap_or(Self::DEFAULT_LISTEN)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// Filter in `RUST_LOG` syntax; the `RUST_LOG` environment variable wins over it.
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            filter: "info".to_string(),
        }
    }
}

impl NodeConfig {
    /// Loads a config file; relative paths in it are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut c.data_dir);
        if let Some(p) = c.genesis_file.as_mut() {
            resolve(p);
        }
        if let Some(p) = c.validator_key_file.as_mut() {
            resolve(p);
        }
        for p in [c.tls.cert_file.as_mut(), c.tls.key_file.as_mut()]
            .into_iter()
            .flatten()
        {
            resolve(p);
        }
        Ok(c)
    }

    /// Checks the limits are usable; every limit must be positive.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid {
                    field,
                    reason: "must be greater than 0".into(),
                })
            } else {
                Ok(())
            }
        };
        let mut api_addresses = vec![
            ("rpc.listen", self.rpc.listen),
            ("grpc.listen", self.grpc.listen),
        ];
        if self.metrics.enabled {
            api_addresses.push(("metrics.listen", self.metrics.listen_addr()));
        }
        if let Some((field, reason)) = self.tls.problem(&api_addresses) {
            return Err(ConfigError::Invalid { field, reason });
        }
        positive("block.interval_ms", self.block.interval_ms)?;
        positive("block.txs_max", self.block.txs_max as u64)?;
        positive("ingest.tx_bytes_max", self.ingest.tx_bytes_max as u64)?;
        positive("ingest.batch_txs_max", self.ingest.batch_txs_max as u64)?;
        positive(
            "sigverify.batch_size_max",
            self.sigverify.batch_size_max as u64,
        )?;
        positive(
            "sigverify.chunk_size_max",
            self.sigverify.chunk_size_max as u64,
        )?;
        positive(
            "sigverify.gpu_dispatch_size_max",
            self.sigverify.gpu_dispatch_size_max as u64,
        )?;
        positive("sigverify.gpu_timeout_ms", self.sigverify.gpu_timeout_ms)?;
        positive("mempool.txs_max", self.mempool.txs_max as u64)?;
        positive("consensus.propose_ms", self.consensus.propose_ms)?;
        positive("consensus.prevote_ms", self.consensus.prevote_ms)?;
        positive("consensus.precommit_ms", self.consensus.precommit_ms)?;
        positive("consensus.rebroadcast_ms", self.consensus.rebroadcast_ms)?;
        positive("consensus.timeout_max_ms", self.consensus.timeout_max_ms)?;
        positive("consensus.wal_bytes_max", self.consensus.wal_bytes_max)?;
        positive("p2p.frame_bytes_max", self.p2p.frame_bytes_max as u64)?;
        positive("p2p.send_queue_max", self.p2p.send_queue_max as u64)?;
        positive("p2p.inbound_queue_max", self.p2p.inbound_queue_max as u64)?;
        // A block must fit in one peer frame, or peers could never receive it.
        let block_bytes_max = (self.block.txs_max as u64)
            .saturating_mul(self.ingest.tx_bytes_max as u64 + 4)
            .saturating_add(1 << 20);
        if !self.p2p.peers.is_empty() && (self.p2p.frame_bytes_max as u64) < block_bytes_max {
            return Err(ConfigError::Invalid {
                field: "p2p.frame_bytes_max",
                reason: format!(
                    "{} bytes cannot carry a full block ({} transactions of up to {} bytes, about \
                     {block_bytes_max} bytes): raise it or lower block.txs_max",
                    self.p2p.frame_bytes_max, self.block.txs_max, self.ingest.tx_bytes_max
                ),
            });
        }
        // The others wait for a proposer's block at its turn; one that skips empty blocks would
        // make every idle turn a timed-out round.
        if !self.p2p.peers.is_empty() && !self.block.empty_blocks && !self.consensus.follower {
            return Err(ConfigError::Invalid {
                field: "block.empty_blocks",
                reason: "false works only for a single validator: with peers, every proposer must \
                         propose at its turn, empty or not"
                    .into(),
            });
        }
        for peer in &self.p2p.peers {
            if peer.parse::<crate::p2p::PeerAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    field: "p2p.peers",
                    reason: format!("\"{peer}\" is not ADDRESS@HOST:PORT"),
                });
            }
        }
        positive("mempool.per_sender_max", self.mempool.per_sender_max as u64)?;
        positive("mempool.nonce_ahead_max", self.mempool.nonce_ahead_max)?;
        positive("mempool.expiry_secs", self.mempool.expiry_secs)?;
        if self
            .mempool
            .gapped_max
            .is_some_and(|g| g >= self.mempool.txs_max)
        {
            return Err(ConfigError::Invalid {
                field: "mempool.gapped_max",
                reason: "must be below mempool.txs_max, so that ready transactions keep room"
                    .into(),
            });
        }
        positive(
            "mempool.rejected_remembered_max",
            self.mempool.rejected_remembered_max as u64,
        )?;
        positive(
            "pipeline.queue_batches_max",
            self.pipeline.queue_batches_max as u64,
        )?;
        positive("storage.map_size_mb", self.storage.map_size_mb)?;
        if self.ingest.tx_bytes_max > crate::types::TX_SIZE_MAX {
            return Err(ConfigError::Invalid {
                field: "ingest.tx_bytes_max",
                reason: format!("above the protocol limit of {}", crate::types::TX_SIZE_MAX),
            });
        }
        if self.block.txs_max > crate::types::block::BLOCK_TXS_MAX {
            return Err(ConfigError::Invalid {
                field: "block.txs_max",
                reason: format!(
                    "above the protocol limit of {}",
                    crate::types::block::BLOCK_TXS_MAX
                ),
            });
        }
        Ok(())
    }

    pub fn genesis_path(&self) -> PathBuf {
        self.genesis_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("genesis.toml"))
    }

    pub fn validator_key_path(&self) -> PathBuf {
        self.validator_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("dev").join("validator.key"))
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("db")
    }

    /// Consensus state beside the database: the write-ahead log and the block last proposed.
    pub fn consensus_path(&self) -> PathBuf {
        self.data_dir.join("consensus")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_need_frames_that_carry_a_full_block() {
        let mut c = NodeConfig::default();
        c.p2p.peers = vec![format!(
            "{}@127.0.0.1:9001",
            crate::keys::address_of(&ed25519_dalek::SigningKey::from_bytes(&[1; 32]))
        )];
        c.validate().expect("the defaults fit");
        c.p2p.frame_bytes_max = 1 << 20;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                field: "p2p.frame_bytes_max",
                ..
            })
        ));
        c.p2p.frame_bytes_max = crate::p2p::FRAME_BYTES_MAX_DEFAULT;
        c.block.empty_blocks = false;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                field: "block.empty_blocks",
                ..
            })
        ));
        c.p2p.peers.clear();
        c.p2p.frame_bytes_max = 1 << 20;
        c.validate()
            .expect("without peers no frame is sent, and empty blocks may be skipped");
    }

    #[test]
    fn shipped_config_parses_and_typos_are_rejected() {
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/node.toml");
        let c = NodeConfig::load(Path::new(shipped)).expect("config/node.toml parses");
        c.validate().expect("and is valid");
        assert_eq!(c.block.interval_ms, 250);
        assert!(toml::from_str::<NodeConfig>("[block]\nintervall_ms = 5\n").is_err());
        let zero: NodeConfig = toml::from_str("[block]\ninterval_ms = 0\n").expect("parses");
        assert!(zero.validate().is_err());
    }
}
