//! Genesis: the chain's parameters and initial balances, and the block at height 0 built from them.
//!
//! Invariant: total supply fits in `u64`, which is why no later credit can overflow (execution
//! conserves supply).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::execution::{BankingParams, ChainParams, StakingParams};
use crate::modules::compliance::ComplianceParams;
use crate::modules::dex::DexParams;
use crate::modules::identity::IdentityParams;
use crate::modules::payments::PaymentsParams;
use crate::state::LtHash;
use crate::types::{
    block::tx_root, Account, Address, Amount, Block, BlockHeader, ChainId, Hash, StateWrites,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    pub address: Address,
    pub balance: Amount,
}

/// A validator of the initial set: `power` tokens bonded as its self-delegation (created at
/// genesis, on top of the accounts' balances), which is its voting power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    pub address: Address,
    pub power: u64,
    /// Part of its rewards the validator keeps, in basis points.
    #[serde(default)]
    pub commission_bps: u16,
    /// Where it takes p2p connections (`IP:PORT`), published on chain from the start: nodes dial
    /// it without `p2p.peers` (a validator can change it later with `SetEndpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p2p_address: Option<std::net::SocketAddr>,
}

/// The genesis document (`genesis.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    pub chain_id: ChainId,
    pub timestamp_ms: u64,
    /// The proposer of the genesis block, and the single validator of a chain without `validators`.
    pub validator: Address,
    /// The validators that finalize blocks, with their voting power; empty means `validator` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validators: Vec<GenesisValidator>,
    /// The smallest fee a transaction may pay.
    pub min_fee: Amount,
    /// DPoS parameters; defaults when absent.
    #[serde(default)]
    pub staking: StakingParams,
    /// Banking parameters (issued assets); defaults when absent.
    #[serde(default)]
    pub banking: BankingParams,
    /// Identity parameters (DIDs, trusted issuers, claims); defaults when absent.
    #[serde(default)]
    pub identity: IdentityParams,
    /// Compliance parameters (the blocked list's authority); defaults when absent.
    #[serde(default)]
    pub compliance: ComplianceParams,
    /// Payments parameters (batches, standing orders); defaults when absent.
    #[serde(default)]
    pub payments: PaymentsParams,
    /// DEX parameters (the market authority, book limits); defaults when absent.
    #[serde(default)]
    pub dex: DexParams,
    pub accounts: Vec<GenesisAccount>,
}

/// Blocks of rewards that genesis guarantees fit in the `u64` supply (over a century at ten
/// blocks a second), so that no credit can overflow.
const REWARD_BLOCKS_MIN: u128 = 1 << 35;

#[derive(Debug, Error)]
pub enum GenesisError {
    #[error("account {0} appears twice in genesis")]
    DuplicateAccount(Address),
    #[error("total genesis supply overflows u64")]
    SupplyOverflow,
    #[error("validator {0} appears twice in genesis")]
    DuplicateValidator(Address),
    #[error("validator {0} has no voting power")]
    ZeroPower(Address),
    #[error("validator {0} has a commission over 10000 basis points")]
    CommissionTooHigh(Address),
    #[error("validator {0} has p2p_address {1}, which cannot be dialled (unspecified address or port 0)")]
    Endpoint(Address, std::net::SocketAddr),
    #[error("{0}")]
    Staking(#[from] crate::modules::staking::StakingParamsError),
    #[error("{0}")]
    Banking(String),
    #[error("{0}")]
    Identity(String),
    #[error("{0}")]
    Payments(String),
    #[error("{0}")]
    Dex(String),
    #[error("total supply with {REWARD_BLOCKS_MIN} blocks of staking.block_reward overflows u64")]
    RewardOverflow,
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid genesis file {path}: {message}")]
    Parse { path: String, message: String },
}

impl Genesis {
    pub fn load(path: &Path) -> Result<Self, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let g: Genesis = toml::from_str(&text).map_err(|e| GenesisError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        g.validate()?;
        Ok(g)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("genesis serializes to TOML")
    }

    pub fn validate(&self) -> Result<(), GenesisError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut supply: Amount = 0;
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return Err(GenesisError::DuplicateAccount(a.address));
            }
            supply = supply
                .checked_add(a.balance)
                .ok_or(GenesisError::SupplyOverflow)?;
        }
        let mut validators = std::collections::BTreeSet::new();
        for v in &self.validators {
            if !validators.insert(v.address) {
                return Err(GenesisError::DuplicateValidator(v.address));
            }
            if v.power == 0 {
                return Err(GenesisError::ZeroPower(v.address));
            }
            if v.commission_bps > crate::modules::staking::BPS_MAX {
                return Err(GenesisError::CommissionTooHigh(v.address));
            }
            if let Some(endpoint) = v.p2p_address {
                if endpoint.port() == 0 || endpoint.ip().is_unspecified() {
                    return Err(GenesisError::Endpoint(v.address, endpoint));
                }
            }
        }
        self.staking.validate()?;
        self.banking.validate().map_err(GenesisError::Banking)?;
        self.identity.validate().map_err(GenesisError::Identity)?;
        self.payments.validate().map_err(GenesisError::Payments)?;
        self.dex.validate().map_err(GenesisError::Dex)?;
        let bonded: u128 = self
            .validator_set()
            .iter()
            .map(|v| u128::from(v.power))
            .sum();
        let rewards = u128::from(self.staking.block_reward) * REWARD_BLOCKS_MIN;
        if u128::from(supply) + bonded + rewards > u128::from(u64::MAX) {
            return Err(GenesisError::RewardOverflow);
        }
        Ok(())
    }

    /// The validator set that finalizes blocks.
    pub fn validator_set(&self) -> Vec<GenesisValidator> {
        if self.validators.is_empty() {
            vec![GenesisValidator {
                address: self.validator,
                power: 1,
                commission_bps: 0,
                p2p_address: None,
            }]
        } else {
            self.validators.clone()
        }
    }

    pub fn params(&self) -> ChainParams {
        ChainParams {
            chain_id: self.chain_id,
            genesis_hash: [0; 32],
            min_fee: self.min_fee,
            staking: self.staking,
            banking: self.banking,
            identity: self.identity,
            compliance: self.compliance,
            payments: self.payments,
            dex: self.dex,
        }
    }

    /// Balances plus bonded stake at genesis.
    pub fn total_supply(&self) -> Amount {
        self.accounts.iter().map(|a| a.balance).sum::<Amount>()
            + self.validator_set().iter().map(|v| v.power).sum::<Amount>()
    }

    /// The module state the chain starts with: every genesis validator registered with its
    /// bonded power, and the active set elected from them.
    pub fn module_state(&self) -> StateWrites {
        use crate::codec::Encode;
        let validators: Vec<_> = self
            .validator_set()
            .iter()
            .map(|v| (v.address, v.power, v.commission_bps))
            .collect();
        use crate::modules::staking::state::{StakeKey, StakeValue};
        let endpoints = self.validator_set().into_iter().filter_map(|v| {
            let endpoint = v.p2p_address?;
            Some((
                StakeKey::Endpoint {
                    validator: v.address,
                },
                StakeValue::Endpoint(endpoint),
            ))
        });
        crate::modules::staking::genesis_entries(&validators, &self.staking)
            .into_iter()
            .chain(endpoints)
            .map(|(k, v)| (crate::modules::staking::state_key(&k), Some(v.to_bytes())))
            .collect()
    }

    /// The initial state: accounts with a positive balance.
    pub fn state(&self) -> BTreeMap<Address, Account> {
        self.accounts
            .iter()
            .filter(|a| a.balance > 0)
            .map(|a| {
                (
                    a.address,
                    Account {
                        balance: a.balance,
                        nonce: 0,
                    },
                )
            })
            .collect()
    }

    /// The genesis block with the state (accounts, staking entries) and commitment it starts the
    /// chain with. The state root commits to the validator set, so the genesis hash does too.
    pub fn build(&self) -> (Block, BTreeMap<Address, Account>, StateWrites, LtHash) {
        let state = self.state();
        let stake = self.module_state();
        let mut lthash = LtHash::of_state(state.iter());
        for (k, v) in &stake {
            if let Some(v) = v {
                lthash.add(&LtHash::of_entry(k, v));
            }
        }
        let header = BlockHeader {
            chain_id: self.chain_id,
            height: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: self.timestamp_ms,
            proposer: self.validator,
            tx_root: tx_root(&[]),
            state_root: lthash.root(),
            tx_count: 0,
        };
        (
            Block {
                header,
                transactions: Vec::new(),
            },
            state,
            stake,
            lthash,
        )
    }
}
