//! Assembles and runs a node: dev-chain setup, storage, genesis, pipeline, RPC, and an orderly
//! shutdown on SIGINT/SIGTERM (finish the block in hand, flush, exit 0) or on a fatal error.

use crate::modules::compliance::ComplianceParams;
use crate::modules::dex::DexParams;
use crate::modules::identity::IdentityParams;
use crate::tls::server::ServerTls;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc;

use crate::api::Api;
use crate::config::{ConfigError, NodeConfig};
use crate::genesis::{Genesis, GenesisAccount, GenesisError, GenesisValidator};
use crate::keys::{self, KeyFileError};
use crate::pipeline::{now_ms, Fatal, Pipeline};
use crate::rpc;
use crate::storage::{Storage, StorageError};
use crate::types::Hash;

/// Chain id of dev chains.
pub const DEV_CHAIN_ID: u64 = 1337;
/// The dev faucet's balance: below 2^53, so every balance is exact in JavaScript clients too.
pub const DEV_FAUCET_BALANCE: u64 = 1_000_000_000_000_000;
/// The dev validator's bonded stake: far more than anyone is likely to bond by accident, since a
/// validator elected with over a third of the power and no node behind it would halt the chain.
pub const DEV_VALIDATOR_STAKE: u64 = 1_000_000_000_000_000;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("signature verifier: {0}")]
    Sigverify(#[from] crate::sigverify::SigverifyError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error("peer-to-peer: {0}")]
    P2p(#[from] crate::p2p::P2pError),
    #[error("the data directory {dir} holds another chain (genesis hash {stored}); this genesis file has hash {configured}")]
    GenesisMismatch {
        dir: PathBuf,
        stored: Hash,
        configured: Hash,
    },
    #[error(
        "block.empty_blocks = false works only for a single validator, and this chain names peers \
         (validators with published addresses): every proposer must propose at its turn"
    )]
    EmptyBlocksWithPeers,
    #[error("cannot start the API server on {addr}: {source}")]
    Rpc {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start QUIC ingest: {0}")]
    Quic(String),
    #[error("cannot start the metrics endpoint on {addr}: {source}")]
    Metrics {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("access control: {0}")]
    Access(#[from] crate::access::AccessError),
    #[error("node stopped on a fatal error: {0}")]
    Fatal(String),
}

/// Creates a dev chain's keys and genesis in `data_dir` on first start; later starts reuse them.
/// Returns the faucet key file's path.
pub fn prepare_dev_chain(data_dir: &Path) -> Result<PathBuf, NodeError> {
    let dev = data_dir.join("dev");
    let faucet_file = dev.join("faucet.key");
    let validator_file = dev.join("validator.key");
    let genesis_file = data_dir.join("genesis.toml");
    if genesis_file.exists() {
        return Ok(faucet_file);
    }
    let validator = if validator_file.exists() {
        keys::read(&validator_file)?
    } else {
        let k = keys::generate();
        keys::write(&validator_file, &k)?;
        k
    };
    let faucet = if faucet_file.exists() {
        keys::read(&faucet_file)?
    } else {
        let k = keys::generate();
        keys::write(&faucet_file, &k)?;
        k
    };
    let genesis = Genesis {
        chain_id: DEV_CHAIN_ID,
        timestamp_ms: now_ms(),
        validator: keys::address_of(&validator),
        validators: vec![GenesisValidator {
            address: keys::address_of(&validator),
            power: DEV_VALIDATOR_STAKE,
            commission_bps: crate::devnet::DEVNET_COMMISSION_BPS,
            p2p_address: None,
        }],
        min_fee: 1,
        staking: crate::devnet::devnet_staking(),
        banking: Default::default(),
        // The faucet keeps the trusted issuers registry and the blocked list (INTERFACES §12).
        identity: IdentityParams {
            authority: Some(keys::address_of(&faucet)),
            ..Default::default()
        },
        compliance: ComplianceParams {
            authority: Some(keys::address_of(&faucet)),
        },
        payments: Default::default(),
        // ... and is the market authority.
        dex: DexParams {
            authority: Some(keys::address_of(&faucet)),
            ..Default::default()
        },
        // The faucet holds every balance; the validator earns the fees.
        accounts: vec![GenesisAccount {
            address: keys::address_of(&faucet),
            balance: DEV_FAUCET_BALANCE,
        }],
    };
    // Written last and atomically: its presence means the dev chain is fully prepared.
    let tmp = data_dir.join("genesis.toml.tmp");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| NodeError::Io { path, source }
    };
    std::fs::write(&tmp, genesis.to_toml()).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &genesis_file).map_err(io(&genesis_file))?;
    Ok(faucet_file)
}

/// Says how this node takes part: a follower, a validator of the chain, or a key the chain does
/// not know yet (it follows until the chain registers and elects it, then votes).
fn announce_role(
    config: &NodeConfig,
    genesis: &Genesis,
    storage: &Storage,
    key_file: &Path,
    own: &crate::types::Address,
) -> Result<(), NodeError> {
    if config.consensus.follower {
        tracing::info!(address = %own, "following the chain (consensus.follower): this node does not vote");
    } else if !genesis.validator_set().iter().any(|v| v.address == *own)
        && !storage.registry()?.validators.contains_key(own)
    {
        tracing::warn!(
            key_file = %key_file.display(),
            address = %own,
            "this validator key is not registered on this chain (as far as this node has synced): \
             the node follows the chain and votes once the key is registered and elected \
             (`mameynode stake register`); set consensus.follower = true for a node that never votes"
        );
    }
    Ok(())
}

/// How often the chain's peers are read again (when the head moved).
const CHAIN_PEERS_REFRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps the transport's chain peers current: after each new head, the registry's validators
/// and their published addresses are read again. A failed read keeps the last peers.
fn follow_chain_peers(
    storage: Arc<Storage>,
    p2p: crate::p2p::P2pHandle,
    own: crate::types::Address,
    dial_max: usize,
) {
    tokio::spawn(async move {
        let mut seen = None;
        let mut tick = tokio::time::interval(CHAIN_PEERS_REFRESH);
        loop {
            tick.tick().await;
            let storage = storage.clone();
            let read = tokio::task::spawn_blocking(move || {
                // The head first: the snapshot is then at least as new as the height it is
                // marked with, so no change is skipped. An unchanged head reads nothing more.
                let height = storage.head()?.height;
                if seen == Some(height) {
                    return Ok(None);
                }
                let reader = storage.reader()?;
                crate::p2p::chain::chain_peers(&reader, &own, dial_max).map(|p| Some((height, p)))
            })
            .await;
            match read {
                Ok(Ok(Some((height, peers)))) => {
                    p2p.set_chain_peers(peers.accepted, &peers.dial);
                    seen = Some(height);
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the chain's peers"),
                Err(e) => tracing::warn!(error = %e, "chain peers task failed"),
            }
        }
    });
}

/// Runs the node until SIGINT/SIGTERM or a fatal error. Must run inside an actix `System` whose
/// runtime has the tokio I/O and time drivers.
pub async fn run(config: NodeConfig) -> Result<(), NodeError> {
    config.validate()?;
    let genesis = Genesis::load(&config.genesis_path())?;
    let validator_file = config.validator_key_path();
    let validator = keys::read(&validator_file)?;
    // Outside the dev chain a validator key should be encrypted (`mameynode keys encrypt`).
    if genesis.chain_id != DEV_CHAIN_ID && !keys::is_encrypted(&validator_file)? {
        tracing::warn!(
            key_file = %validator_file.display(),
            "the validator key is stored in plaintext: encrypt it with `mameynode keys encrypt` \
             and give the node its passphrase in MAMEY_KEY_PASSPHRASE or MAMEY_KEY_PASSPHRASE_FILE"
        );
    }
    let own = keys::address_of(&validator);
    if config.sigverify.threads > 0 {
        // Fails only if the pool was already built (a second node in one process): keep that one.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(config.sigverify.threads)
            .thread_name(|i| format!("rayon-{i}"))
            .build_global();
    }

    let db_path = config.db_path();
    let storage = Arc::new(Storage::open(&db_path, &config.storage.storage_config())?);
    storage.start_indexer(std::time::Duration::from_millis(500));
    let (genesis_block, genesis_state, genesis_stake, genesis_lthash) = genesis.build();
    let genesis_hash = genesis_block.hash();
    // Consensus signatures are bound to this chain id and genesis.
    let params = crate::execution::ChainParams {
        genesis_hash: genesis_hash.0,
        ..genesis.params()
    };
    if storage.is_initialized()? {
        let stored = storage.block(0)?.map(|b| b.hash()).unwrap_or(Hash::ZERO);
        if stored != genesis_hash {
            return Err(NodeError::GenesisMismatch {
                dir: db_path,
                stored,
                configured: genesis_hash,
            });
        }
    } else {
        let json = serde_json::to_string(&genesis).expect("genesis serializes");
        storage.initialize(
            &genesis_block,
            &genesis_state,
            &genesis_stake,
            &genesis_lthash,
            &json,
        )?;
        tracing::info!(chain_id = genesis.chain_id, hash = %genesis_hash, "genesis committed");
    }
    let head = storage.head()?;
    tracing::info!(
        height = head.height,
        hash = %head.hash,
        state_root = %head.state_root,
        "resuming at the last committed block"
    );

    announce_role(&config, &genesis, &storage, &validator_file, &own)?;

    // Peers: started when the config or the chain names other validators to talk to.
    let (peer_tx, mut peer_rx) = mpsc::channel(config.p2p.inbound_queue_max);
    let configured = config
        .p2p
        .peers
        .iter()
        .map(|p| p.parse())
        .collect::<Result<Vec<crate::p2p::PeerAddr>, _>>()?;
    let chain_peers =
        crate::p2p::chain::chain_peers(&storage.reader()?, &own, config.p2p.chain_peers_max)?;
    let p2p = if configured.is_empty() && chain_peers.dial.is_empty() {
        None
    } else {
        if !config.block.empty_blocks && !config.consensus.follower {
            return Err(NodeError::EmptyBlocksWithPeers);
        }
        // Always accepted: the genesis validators and the configured peers (followers among
        // them); the registry's validators are added as the chain registers them.
        let accepted = genesis
            .validator_set()
            .iter()
            .map(|v| v.address)
            .chain(configured.iter().map(|p| p.address))
            .collect();
        let handle = crate::p2p::start(
            crate::p2p::P2pSettings {
                listen: config.p2p.listen,
                peers: configured,
                frame_bytes_max: config.p2p.frame_bytes_max,
                send_queue_max: config.p2p.send_queue_max,
                connections_max: config.p2p.connections_max,
            },
            validator.clone(),
            accepted,
            peer_tx,
        )?;
        handle.set_chain_peers(chain_peers.accepted, &chain_peers.dial);
        follow_chain_peers(
            storage.clone(),
            handle.clone(),
            own,
            config.p2p.chain_peers_max,
        );
        tracing::info!(
            p2p = %handle.local_addr(),
            peers = config.p2p.peers.len(),
            chain_peers = chain_peers.dial.len(),
            "p2p listening"
        );
        Some(handle)
    };

    let peers = p2p.as_ref().map(crate::p2p::P2pHandle::reader);
    let (fatal_tx, mut fatal_rx) = mpsc::channel::<Fatal>(4);
    let pipeline = Pipeline::start(
        &config,
        storage.clone(),
        params.clone(),
        crate::pipeline::ValidatorIdentity {
            key: validator,
            p2p,
        },
        crate::sigverify::verifier_for(&config.sigverify.settings())?,
        fatal_tx,
    )?;
    {
        // What peers send: transactions into ingest (verified like any client's, not passed on
        // again), everything else to consensus. Full mailboxes drop (peers repeat what matters).
        let consensus = pipeline.consensus.clone();
        let ingest = pipeline.ingest.clone();
        tokio::spawn(async move {
            while let Some((from, message)) = peer_rx.recv().await {
                let full = match message {
                    crate::p2p::PeerMessage::Transactions(txs) => {
                        let (reply, _) = tokio::sync::oneshot::channel();
                        ingest
                            .try_send(crate::pipeline::SubmitRaw {
                                txs,
                                reply,
                                gossip: false,
                            })
                            .is_err()
                    }
                    m => consensus
                        .try_send(crate::pipeline::FromPeer(from, m))
                        .is_err(),
                };
                if full {
                    tracing::debug!(%from, "a stage is full; a peer message is dropped");
                }
            }
        });
    }
    let quic = crate::quic::start(
        &config.quic,
        &config.ingest,
        pipeline.ingest.clone(),
        pipeline.commits.clone(),
        pipeline.metrics.clone(),
    )
    .map_err(|e| NodeError::Quic(e.to_string()))?;
    let cert_path = config.data_dir.join("ingest-cert.der");
    std::fs::write(&cert_path, &quic.certificate_der).map_err(|source| NodeError::Io {
        path: cert_path.clone(),
        source,
    })?;
    let api = Arc::new(Api {
        storage: storage.clone(),
        ingest: pipeline.ingest.clone(),
        mempool: pipeline.mempool.clone(),
        rejected: pipeline.rejected.clone(),
        head: pipeline.head.clone(),
        commits: pipeline.commits.clone(),
        params,
        genesis_hash,
        sigverify_backend: config.sigverify.backend.name().to_string(),
        tx_bytes_max: config.ingest.tx_bytes_max,
        ingest_info: rpc::IngestInfoView {
            quic: quic.local_addr.to_string(),
            certificate_der: hex::encode(&quic.certificate_der),
            batch_txs_max: config.ingest.batch_txs_max,
            tx_bytes_max: config.ingest.tx_bytes_max,
        },
        metrics: pipeline.metrics.clone(),
        network: crate::api::network::NetworkInfo::new(
            own,
            config.consensus.follower,
            peers,
            pipeline.head.clone(),
        ),
    });
    let access = crate::access::Access::open(
        &config.access,
        &config.data_dir,
        genesis.chain_id == DEV_CHAIN_ID,
    )?;
    let http_tls = ServerTls::load(&config.tls, &[b"http/1.1"])?;
    let grpc_tls = ServerTls::load(&config.tls, &[b"h2"])?;
    crate::tls::server::reload_on_sighup(
        [http_tls.clone(), grpc_tls.clone()]
            .into_iter()
            .flatten()
            .collect(),
    );
    let server = rpc::start(&config.rpc, api.clone(), access.clone(), http_tls.clone())
        .await
        .map_err(|source| NodeError::Rpc {
            addr: config.rpc.listen,
            source,
        })?;
    let grpc = crate::grpc::start(&config.grpc, api.clone(), access.clone(), grpc_tls)
        .await
        .map_err(|source| NodeError::Rpc {
            addr: config.grpc.listen,
            source,
        })?;
    let metrics_server = crate::telemetry::serve(
        &config.metrics,
        pipeline.metrics.telemetry.clone(),
        access,
        http_tls,
    )
    .await
    .map_err(|source| NodeError::Metrics {
        addr: config.metrics.listen_addr(),
        source,
    })?;
    write_endpoints(
        &config.data_dir,
        server.local_addr,
        quic.local_addr,
        grpc.local_addr,
        metrics_server.as_ref().map(|m| m.local_addr),
    )?;
    api.network.set_endpoints(crate::api::network::Endpoints {
        rpc: server.local_addr,
        grpc: grpc.local_addr,
        metrics: metrics_server.as_ref().map(|m| m.local_addr),
    });
    tracing::info!(
        rpc = %server.local_addr,
        quic = %quic.local_addr,
        grpc = %grpc.local_addr,
        chain_id = genesis.chain_id,
        "node ready"
    );

    let outcome = tokio::select! {
        s = shutdown_signal() => {
            tracing::info!(signal = s, "shutting down: finishing the block in hand");
            Ok(())
        }
        f = fatal_rx.recv() => {
            let msg = f.map(|f| f.0).unwrap_or_else(|| "pipeline stopped".to_string());
            tracing::error!(error = %msg, "stopping on a fatal error");
            Err(NodeError::Fatal(msg))
        }
    };

    let _ = server.handle.stop();
    grpc.stop();
    drop(metrics_server);
    quic.close();
    match tokio::time::timeout(Duration::from_secs(10), pipeline.drain()).await {
        Ok(Some(head)) => tracing::info!(height = head.height, "block production stopped"),
        _ => tracing::warn!("block production did not stop in time; the block in hand is dropped, committed blocks are safe"),
    }
    storage.sync()?;
    pipeline.stop();
    tracing::info!("stopped");
    outcome
}

/// Writes `DATA_DIR/endpoints.json` with the addresses actually bound (useful with port 0).
fn write_endpoints(
    data_dir: &Path,
    rpc: std::net::SocketAddr,
    quic: std::net::SocketAddr,
    grpc: std::net::SocketAddr,
    metrics: Option<std::net::SocketAddr>,
) -> Result<(), NodeError> {
    let path = data_dir.join("endpoints.json");
    let tmp = data_dir.join("endpoints.json.tmp");
    let body = serde_json::json!({
        "rpc": rpc.to_string(),
        "quic": quic.to_string(),
        "grpc": grpc.to_string(),
        "metrics": metrics.map(|a| a.to_string()),
    })
    .to_string();
    let io = |path: PathBuf| move |source| NodeError::Io { path, source };
    std::fs::write(&tmp, body).map_err(io(tmp.clone()))?;
    std::fs::rename(&tmp, &path).map_err(io(path.clone()))
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
