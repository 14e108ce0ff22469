//! A local multi-validator network for people and tests (`mameynode devnet init`,
//! `scripts/devnet.sh`).
//!
//! `init` writes, for node `i` of `n`: `DIR/node-i/config.toml`, `DIR/node-i/validator.key` and
//! its data directory `DIR/node-i/data`; and once: `DIR/genesis.toml` (the `n` validators with equal
//! voting power, and the faucet funded) and `DIR/faucet.key`. Node `i` listens on 127.0.0.1 at
//! JSON-RPC 8545+i, gRPC 50051+i, QUIC ingest 9000+2i, QUIC p2p 9001+2i and metrics 9100+i, each
//! plus `port_offset` (so that several devnets, or tests, can run side by side), and dials every
//! other node's p2p port. Followers (`--followers M`) are nodes `n..n + M`: not in genesis, with
//! `consensus.follower = true`, dialling the validators, which dial them too. Anonymous API
//! callers may submit (`[access] anonymous = "submit"`), as on the dev chain.

use crate::modules::compliance::ComplianceParams;
use crate::modules::dex::DexParams;
use crate::modules::identity::IdentityParams;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::NodeConfig;
use crate::genesis::{Genesis, GenesisAccount, GenesisValidator};
use crate::keys::{self, KeyFileError};

/// Chain id of devnets.
pub const DEVNET_CHAIN_ID: u64 = 4_242;
/// The faucet's genesis balance.
pub const DEVNET_FAUCET_BALANCE: u64 = 1_000_000_000_000_000;
/// Each devnet validator's bonded self-delegation at genesis (its voting power).
pub const DEVNET_VALIDATOR_STAKE: u64 = 1_000_000_000;
/// Each devnet validator's balance at genesis, for fees.
pub const DEVNET_VALIDATOR_BALANCE: u64 = 1_000_000_000;
/// Devnet validators' commission: 10%.
pub const DEVNET_COMMISSION_BPS: u16 = 1_000;

/// Short epochs and unbonding so that a person sees DPoS at work within minutes.
pub fn devnet_staking() -> crate::execution::StakingParams {
    crate::execution::StakingParams {
        epoch_blocks: 20,
        unbonding_blocks: 40,
        block_reward: 1_000,
        ..Default::default()
    }
}
/// Most validators `init` sets up (ports must stay distinct).
pub const DEVNET_VALIDATORS_MAX: usize = 64;

#[derive(Debug, Error)]
pub enum DevnetError {
    #[error(
        "a devnet needs 1 to {DEVNET_VALIDATORS_MAX} nodes (and at least one validator), not {0}"
    )]
    Size(usize),
    #[error("{0} already exists; remove it or choose another --out")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error("port offset {0} pushes a port past 65535")]
    Ports(u16),
}

/// Where node `i` of a devnet listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePorts {
    pub rpc: u16,
    pub grpc: u16,
    pub quic: u16,
    pub p2p: u16,
    pub metrics: u16,
}

pub fn ports(i: usize, port_offset: u16) -> Result<NodePorts, DevnetError> {
    let p = |base: usize| {
        u16::try_from(base + usize::from(port_offset)).map_err(|_| DevnetError::Ports(port_offset))
    };
    Ok(NodePorts {
        rpc: p(8545 + i)?,
        grpc: p(50051 + i)?,
        quic: p(9000 + 2 * i)?,
        p2p: p(9001 + 2 * i)?,
        metrics: p(9100 + i)?,
    })
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Writes a devnet of `n` validators and `followers` followers (nodes `n..n + followers`: full
/// nodes that do not vote) under `out` (which must not exist yet). Returns each node's config file.
pub fn init(
    n: usize,
    followers: usize,
    out: &Path,
    port_offset: u16,
) -> Result<Vec<PathBuf>, DevnetError> {
    if n == 0 || n + followers > DEVNET_VALIDATORS_MAX {
        return Err(DevnetError::Size(n + followers));
    }
    if out.exists() {
        return Err(DevnetError::Exists(out.to_path_buf()));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DevnetError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let faucet = keys::generate();
    keys::write(&out.join("faucet.key"), &faucet)?;
    // Keys of every node: validators first, then followers (whose key is only their identity).
    let mut nodes = Vec::with_capacity(n + followers);
    for i in 0..n + followers {
        let dir = out.join(format!("node-{i}"));
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let key = keys::generate();
        keys::write(&dir.join("validator.key"), &key)?;
        nodes.push(keys::address_of(&key));
    }
    let validators = &nodes[..n];
    let p2p_ports = (0..n)
        .map(|i| Ok(ports(i, port_offset)?.p2p))
        .collect::<Result<Vec<u16>, DevnetError>>()?;
    let genesis = Genesis {
        chain_id: DEVNET_CHAIN_ID,
        timestamp_ms: crate::pipeline::now_ms(),
        validator: validators[0],
        validators: validators
            .iter()
            .zip(&p2p_ports)
            .map(|(&address, &port)| GenesisValidator {
                address,
                power: DEVNET_VALIDATOR_STAKE,
                commission_bps: DEVNET_COMMISSION_BPS,
                // Published on chain: a node added later finds them without configured peers.
                p2p_address: Some(local(port)),
            })
            .collect(),
        min_fee: 1,
        staking: devnet_staking(),
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
        accounts: std::iter::once(GenesisAccount {
            address: keys::address_of(&faucet),
            balance: DEVNET_FAUCET_BALANCE,
        })
        // Validators pay fees too (evidence of double signing, their own staking calls).
        .chain(validators.iter().map(|&address| GenesisAccount {
            address,
            balance: DEVNET_VALIDATOR_BALANCE,
        }))
        .collect(),
    };
    let genesis_path = out.join("genesis.toml");
    std::fs::write(&genesis_path, genesis.to_toml()).map_err(io(&genesis_path))?;
    let mut configs = Vec::with_capacity(n + followers);
    for i in 0..n + followers {
        let p = ports(i, port_offset)?;
        let mut c = NodeConfig {
            data_dir: PathBuf::from("data"),
            genesis_file: Some(PathBuf::from("../genesis.toml")),
            validator_key_file: Some(PathBuf::from("validator.key")),
            ..NodeConfig::default()
        };
        c.rpc.listen = local(p.rpc);
        c.grpc.listen = local(p.grpc);
        c.quic.listen = local(p.quic);
        c.p2p.listen = local(p.p2p);
        c.metrics.listen = Some(local(p.metrics));
        c.consensus.follower = i >= n;
        // A devnet is a development network on loopback: anyone there may submit, as on the
        // dev chain (elsewhere anonymous callers only read).
        c.access.anonymous = Some(crate::access::AnonymousRole::Submit);
        // Validators talk to every other node; a follower to the validators.
        let talks_to = if i < n { n + followers } else { n };
        c.p2p.peers = (0..talks_to)
            .filter(|&j| j != i)
            .map(|j| {
                Ok(format!(
                    "{}@{}",
                    nodes[j],
                    local(ports(j, port_offset)?.p2p)
                ))
            })
            .collect::<Result<_, DevnetError>>()?;
        let path = out.join(format!("node-{i}")).join("config.toml");
        let text = toml::to_string_pretty(&c).expect("a node config serializes to TOML");
        std::fs::write(&path, text).map_err(io(&path))?;
        configs.push(path);
    }
    Ok(configs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_configs_that_load_and_agree() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let out = tmp.path().join("net");
        let configs = init(4, 1, &out, 10).expect("init");
        assert_eq!(configs.len(), 5);
        let genesis = Genesis::load(&out.join("genesis.toml")).expect("genesis");
        assert_eq!(genesis.validator_set().len(), 4);
        for (i, path) in configs.iter().enumerate() {
            let c = NodeConfig::load(path).expect("config loads");
            c.validate().expect("config is valid");
            assert_eq!(c.rpc.listen.port(), 8545 + 10 + i as u16);
            // Validators talk to the 3 others and the follower; the follower to the 4 validators.
            assert_eq!(c.p2p.peers.len(), 4);
            assert_eq!(c.consensus.follower, i == 4);
            let key = keys::read(&c.validator_key_path()).expect("key");
            let address = keys::address_of(&key);
            assert_eq!(
                genesis.validators.iter().any(|v| v.address == address),
                i < 4
            );
            assert_eq!(
                c.genesis_path(),
                out.join(format!("node-{i}")).join("../genesis.toml")
            );
        }
        assert!(matches!(init(4, 0, &out, 10), Err(DevnetError::Exists(_))));
        assert!(matches!(
            init(0, 1, &tmp.path().join("x"), 0),
            Err(DevnetError::Size(1))
        ));
    }
}
