//! The staking module (DPoS): validator registration, delegation, unbonding, block rewards,
//! slashing for double signing, and the election of the active set at each epoch's end.
//!
//! State (see [`crate::types::stake`]): one [`Registry`] of validators and the active set,
//! delegations as shares of validators' pools, and per-height unbonding queues. All arithmetic is
//! on integers (`u128` intermediates, rounding down); nothing reads a clock or iterates a hash map,
//! so every validator computes the same stake, rewards and set.
//!
//! Rules:
//! - **Register**: the sender becomes a candidate, bonding at least `min_self_stake` of its own.
//! - **Delegate**: tokens move from the sender's balance into the validator's pool, for shares at
//!   the pool's current price. Jailed validators take no delegations.
//! - **Undelegate**: shares are burned (rounding against the delegator) and the tokens wait in
//!   the queue of height `h + unbonding_blocks`, recorded under the validator they left; at that
//!   block's end they return to the balance. Each validator keeps the heights at which stake that
//!   left it is still unbonding (at most `RELEASE_HEIGHTS_MAX`: one more is refused).
//! - **Rewards**: each block mints `block_reward`, split between the active validators by power
//!   (the remainder to the first; none to a validator jailed in the block); of each part the validator's commission becomes new shares of
//!   its own self-delegation and the rest is added to its pool (so delegators' stake compounds).
//! - **Slashing**: valid evidence of double signing (both votes signed on this chain: the chain
//!   id and genesis hash are in what validators sign) burns `slash_bps` of the validator's pool,
//!   and `slash_bps` of every unbonding entry that left it at or after the offence's height (that
//!   stake was bonded when the offence happened), and jails it for good; the set is elected again
//!   at the end of that block, without it. Evidence older than `unbonding_blocks` is refused
//!   (`EvidenceTooOld`): no stake bonded at the offence could still be reached.
//! - **Endpoints**: a registered validator publishes where it takes p2p connections
//!   (`SetEndpoint`, `IP:PORT`; genesis validators may have one in genesis); nodes dial the
//!   published addresses (`crate::p2p`), so a validator elected later joins without config edits.
//! - **Elections**: at the end of every block whose height is a multiple of `epoch_blocks` (and
//!   after a slash), the top `active_set_max` validators by bonded tokens, not jailed, become the
//!   set of the following heights, with power = bonded tokens. Ties go to the lower address. A
//!   validator whose own stake is under `min_self_stake` is not elected.
//!
//! - **The proposer schedule** (`StakeKey::Leaders`, [`crate::consensus::leader`]): advanced at
//!   the end of every block from the block's builder; consensus reads it with the set.
//!

pub mod state;
mod unbonding;

use serde::{Deserialize, Serialize};

use super::banking::native::{check_sender, credit, debit_sender};
use super::Module;
use crate::codec::{decode_exact, put_bytes, put_u64, put_u8, DecodeError, Reader};
use crate::consensus::context::ValidatorSet;
use crate::consensus::leader::LeaderState;
use crate::consensus::wire::Evidence;
use crate::execution::{Applied, BlockEnv, ChainParams, Overlay, StateView, TxError};
use crate::types::{Address, Amount, StateKey, Transaction};
use state::{Registry, StakeKey, StakeValue, ValidatorInfo, RELEASE_HEIGHTS_MAX, VALIDATORS_MAX};
use std::net::SocketAddr;
use unbonding::{release, release_heights, slash, undelegate};

/// Largest equivocation evidence a transaction may carry (two signed votes need about 300 bytes).
pub const EVIDENCE_BYTES_MAX: usize = 1024;

/// Calls into the staking (DPoS) module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakingCall {
    /// Make the sender a validator candidate, bonding `amount` of its own as self-delegation;
    /// `commission_bps` (basis points) of its rewards go to it before the rest is shared.
    RegisterValidator { commission_bps: u16, amount: Amount },
    /// Bond `amount` of the sender's balance to `validator`.
    Delegate { validator: Address, amount: Amount },
    /// Unbond `amount` of the sender's stake with `validator`; it returns to the sender's balance
    /// after the unbonding period.
    Undelegate { validator: Address, amount: Amount },
    /// Proof that a validator signed two different votes for one height, round and kind: the
    /// consensus wire encoding of the two signed votes. Slashes and jails the validator.
    ReportEquivocation { evidence: Vec<u8> },
    /// Publish (or change) where the sender, a registered validator, takes p2p connections:
    /// nodes dial the published addresses of the validators they connect to.
    SetEndpoint { endpoint: SocketAddr },
}

const STAKING_TAG_REGISTER: u8 = 1;
const STAKING_TAG_DELEGATE: u8 = 2;
const STAKING_TAG_UNDELEGATE: u8 = 3;
const STAKING_TAG_EVIDENCE: u8 = 4;
const STAKING_TAG_ENDPOINT: u8 = 5;

/// The staking module (payload tag 2).
pub struct Staking;

impl Module for Staking {
    const TAG: u8 = 2;
    const NAME: &'static str = "staking";
    type Call = StakingCall;

    fn encode_call(call: &StakingCall, out: &mut Vec<u8>) {
        match call {
            StakingCall::RegisterValidator {
                commission_bps,
                amount,
            } => {
                put_u8(out, STAKING_TAG_REGISTER);
                out.extend_from_slice(&commission_bps.to_le_bytes());
                put_u64(out, *amount);
            }
            StakingCall::Delegate { validator, amount } => {
                put_u8(out, STAKING_TAG_DELEGATE);
                out.extend_from_slice(&validator.0);
                put_u64(out, *amount);
            }
            StakingCall::Undelegate { validator, amount } => {
                put_u8(out, STAKING_TAG_UNDELEGATE);
                out.extend_from_slice(&validator.0);
                put_u64(out, *amount);
            }
            StakingCall::ReportEquivocation { evidence } => {
                put_u8(out, STAKING_TAG_EVIDENCE);
                put_bytes(out, evidence);
            }
            StakingCall::SetEndpoint { endpoint } => {
                put_u8(out, STAKING_TAG_ENDPOINT);
                put_bytes(out, endpoint.to_string().as_bytes());
            }
        }
    }

    fn decode_call(r: &mut Reader<'_>) -> Result<StakingCall, DecodeError> {
        Ok(match r.u8("staking call tag")? {
            STAKING_TAG_REGISTER => StakingCall::RegisterValidator {
                commission_bps: u16::from_le_bytes(r.array("commission")?),
                amount: r.u64("self-delegation amount")?,
            },
            STAKING_TAG_DELEGATE => StakingCall::Delegate {
                validator: Address(r.array("validator")?),
                amount: r.u64("delegation amount")?,
            },
            STAKING_TAG_UNDELEGATE => StakingCall::Undelegate {
                validator: Address(r.array("validator")?),
                amount: r.u64("undelegation amount")?,
            },
            STAKING_TAG_EVIDENCE => StakingCall::ReportEquivocation {
                evidence: r.bytes("evidence", EVIDENCE_BYTES_MAX)?.to_vec(),
            },
            STAKING_TAG_ENDPOINT => StakingCall::SetEndpoint {
                endpoint: std::str::from_utf8(r.bytes("endpoint", state::ENDPOINT_BYTES_MAX)?)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or(DecodeError::InvalidValue {
                        what: "endpoint",
                        reason: "not an IP:PORT socket address",
                    })?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "staking call",
                    tag,
                })
            }
        })
    }

    fn check_static(
        call: &StakingCall,
        _tx: &Transaction,
        params: &ChainParams,
    ) -> Result<(), TxError> {
        match call {
            StakingCall::Delegate { amount, .. } | StakingCall::Undelegate { amount, .. } => {
                if *amount == 0 {
                    return Err(TxError::ZeroAmount);
                }
            }
            StakingCall::RegisterValidator {
                commission_bps,
                amount,
            } => {
                if *commission_bps > BPS_MAX {
                    return Err(TxError::CommissionTooHigh {
                        got: *commission_bps,
                    });
                }
                let min = params.staking.min_self_stake.max(1);
                if *amount < min {
                    return Err(TxError::SelfStakeTooLow { min, got: *amount });
                }
            }
            StakingCall::ReportEquivocation { evidence } => {
                Evidence::decode_and_check(evidence, &params.chain_tag())
                    .map_err(TxError::InvalidEvidence)?;
            }
            StakingCall::SetEndpoint { endpoint } => {
                if endpoint.port() == 0 || endpoint.ip().is_unspecified() {
                    return Err(TxError::InvalidEndpoint {
                        endpoint: *endpoint,
                    });
                }
            }
        }
        Ok(())
    }

    fn native_debit(call: &StakingCall) -> Amount {
        match call {
            StakingCall::RegisterValidator { amount, .. }
            | StakingCall::Delegate { amount, .. } => *amount,
            StakingCall::Undelegate { .. }
            | StakingCall::ReportEquivocation { .. }
            | StakingCall::SetEndpoint { .. } => 0,
        }
    }

    /// Staking calls check everything before they write.
    fn may_fail_after_writing(_call: &StakingCall) -> bool {
        false
    }

    fn apply<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
        tx: &Transaction,
        call: &StakingCall,
    ) -> Result<Result<Applied, TxError>, V::Error> {
        Ok(
            apply(overlay, params, env, tx, call)?.map(|fee_paid| Applied {
                fee_paid,
                events: Vec::new(),
                refused: None,
            }),
        )
    }

    fn end_block<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
    ) -> Result<(), V::Error> {
        end_block(overlay, params, env)
    }
}

/// Where a staking entry lives in the generic module state.
pub fn state_key(key: &StakeKey) -> StateKey {
    StateKey::new(Staking::TAG, &[&key.to_key_bytes()])
}

/// A staking entry of a committed state, decoded (queries).
pub fn read_entry<S: StateView>(state: &S, key: &StakeKey) -> Result<Option<StakeValue>, S::Error> {
    Ok(state.get(&state_key(key))?.map(|bytes| {
        decode_exact::<StakeValue>(&bytes, usize::MAX)
            .expect("staking entries in the state were encoded by this module")
    }))
}

/// A staking entry at `key`, decoded.
fn stake_get<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    key: &StakeKey,
) -> Result<Option<StakeValue>, V::Error> {
    Ok(overlay.read(&state_key(key))?.map(|bytes| {
        decode_exact::<StakeValue>(&bytes, usize::MAX)
            .expect("staking entries in the state were encoded by this module")
    }))
}

fn stake_set<V: StateView>(overlay: &mut Overlay<'_, V>, key: StakeKey, value: Option<StakeValue>) {
    use crate::codec::Encode;
    overlay.write(state_key(&key), value.map(|v| v.to_bytes()));
}

/// 100% in basis points.
pub const BPS_MAX: u16 = 10_000;

/// Staking parameters, fixed by genesis (`[staking]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StakingParams {
    /// Blocks per epoch: the set is elected at the end of each multiple of this height.
    pub epoch_blocks: u64,
    /// K: validators in the active set at most.
    pub active_set_max: u32,
    /// Blocks between an undelegation and the return of its tokens.
    pub unbonding_blocks: u64,
    /// Tokens minted per block for the active validators and their delegators.
    pub block_reward: Amount,
    /// Part of a double signer's pool that is burned, in basis points.
    pub slash_bps: u16,
    /// Smallest self-delegation of a new validator.
    pub min_self_stake: Amount,
}

impl Default for StakingParams {
    fn default() -> Self {
        Self {
            epoch_blocks: 100,
            active_set_max: 21,
            unbonding_blocks: 1_000,
            block_reward: 0,
            slash_bps: 500,
            min_self_stake: 1,
        }
    }
}

/// Why staking parameters cannot run a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StakingParamsError {
    #[error("staking.epoch_blocks must be at least 1")]
    ZeroEpoch,
    #[error("staking.active_set_max must be between 1 and {VALIDATORS_MAX}")]
    ActiveSetSize,
    #[error("staking.slash_bps must be at most {BPS_MAX}")]
    SlashTooHigh,
}

impl StakingParams {
    pub fn validate(&self) -> Result<(), StakingParamsError> {
        if self.epoch_blocks == 0 {
            return Err(StakingParamsError::ZeroEpoch);
        }
        if self.active_set_max == 0 || self.active_set_max as usize > VALIDATORS_MAX {
            return Err(StakingParamsError::ActiveSetSize);
        }
        if self.slash_bps > BPS_MAX {
            return Err(StakingParamsError::SlashTooHigh);
        }
        Ok(())
    }
}

/// The top `k` validators by bonded tokens that may validate, as an active set sorted by address
/// with power = bonded tokens.
pub fn elect(registry: &Registry, k: usize) -> Vec<(Address, u64)> {
    elect_among(registry, k, |_| true)
}

/// [`elect`] among the validators `may_serve` admits.
pub fn elect_among(
    registry: &Registry,
    k: usize,
    may_serve: impl Fn(&Address) -> bool,
) -> Vec<(Address, u64)> {
    let mut candidates: Vec<(&Address, &ValidatorInfo)> = registry
        .validators
        .iter()
        .filter(|(a, v)| !v.jailed && v.tokens > 0 && may_serve(a))
        .collect();
    candidates.sort_by(|a, b| b.1.tokens.cmp(&a.1.tokens).then(a.0.cmp(b.0)));
    let mut set: Vec<(Address, u64)> = candidates
        .into_iter()
        .take(k)
        .map(|(a, v)| (*a, v.tokens))
        .collect();
    set.sort_by_key(|(a, _)| *a);
    set
}

/// The staking entries of a chain whose genesis validators bond `(address, tokens,
/// commission_bps)` each, all active from height 1.
pub fn genesis_entries(
    validators: &[(Address, Amount, u16)],
    params: &StakingParams,
) -> Vec<(StakeKey, StakeValue)> {
    let mut registry = Registry::default();
    let mut entries = Vec::new();
    for &(address, tokens, commission_bps) in validators {
        registry.validators.insert(
            address,
            ValidatorInfo {
                tokens,
                shares: u128::from(tokens),
                commission_bps,
                jailed: false,
            },
        );
        entries.push((
            StakeKey::Delegation {
                validator: address,
                delegator: address,
            },
            StakeValue::Shares(u128::from(tokens)),
        ));
    }
    registry.active = elect(&registry, params.active_set_max as usize);
    entries.push((StakeKey::Registry, StakeValue::Registry(registry)));
    entries
}

fn registry<V: StateView>(overlay: &mut Overlay<'_, V>) -> Result<Option<Registry>, V::Error> {
    Ok(match stake_get(overlay, &StakeKey::Registry)? {
        Some(StakeValue::Registry(r)) => Some(r),
        _ => None,
    })
}

fn set_registry<V: StateView>(overlay: &mut Overlay<'_, V>, r: Registry) {
    stake_set(overlay, StakeKey::Registry, Some(StakeValue::Registry(r)));
}

fn shares<V: StateView>(overlay: &mut Overlay<'_, V>, key: &StakeKey) -> Result<u128, V::Error> {
    Ok(match stake_get(overlay, key)? {
        Some(StakeValue::Shares(s)) => s,
        _ => 0,
    })
}

fn set_shares<V: StateView>(overlay: &mut Overlay<'_, V>, key: StakeKey, shares: u128) {
    stake_set(
        overlay,
        key,
        (shares > 0).then_some(StakeValue::Shares(shares)),
    );
}

fn delegation(validator: Address, delegator: Address) -> StakeKey {
    StakeKey::Delegation {
        validator,
        delegator,
    }
}

/// Shares that `amount` tokens buy in `v`'s pool.
fn shares_for(v: &ValidatorInfo, amount: Amount) -> u128 {
    if v.shares == 0 || v.tokens == 0 {
        u128::from(amount)
    } else {
        u128::from(amount) * v.shares / u128::from(v.tokens)
    }
}

/// Adds `amount` bought at the pool's price to `delegator`'s shares of `validator`.
fn bond<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    reg: &mut Registry,
    validator: Address,
    delegator: Address,
    amount: Amount,
) -> Result<(), V::Error> {
    let v = reg
        .validators
        .get_mut(&validator)
        .expect("bond is called for registered validators");
    let new = shares_for(v, amount);
    v.shares += new;
    v.tokens = v
        .tokens
        .checked_add(amount)
        .expect("supply fits in u64 (genesis guarantees)");
    let key = delegation(validator, delegator);
    let held = shares(overlay, &key)?;
    set_shares(overlay, key, held + new);
    Ok(())
}

/// Applies a staking call: checks everything, then writes. Returns the fee paid.
fn apply<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
    tx: &Transaction,
    call: &StakingCall,
) -> Result<Result<Amount, TxError>, V::Error> {
    let bonded = match call {
        StakingCall::RegisterValidator { amount, .. } | StakingCall::Delegate { amount, .. } => {
            *amount
        }
        StakingCall::Undelegate { .. }
        | StakingCall::ReportEquivocation { .. }
        | StakingCall::SetEndpoint { .. } => 0,
    };
    let sender = match check_sender(overlay, tx, bonded)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // The double signer named by evidence. `apply_tx` ran `check_static`, which verified the
    // evidence (both signatures) a moment ago: here it is only decoded, once.
    let culprit = match call {
        StakingCall::ReportEquivocation { evidence } => {
            match decode_exact::<Evidence>(evidence, EVIDENCE_BYTES_MAX) {
                Ok(e) => {
                    // Stake that unbonded since has left the validator: evidence older than the
                    // unbonding period could no longer reach it, and is refused.
                    let height = e.0.message.height.0;
                    let unbonding_blocks = params.staking.unbonding_blocks;
                    let last = height.saturating_add(unbonding_blocks);
                    if env.height > last {
                        return Ok(Err(TxError::EvidenceTooOld {
                            height,
                            unbonding_blocks,
                            last,
                        }));
                    }
                    Some((Address(e.validator().0), height))
                }
                Err(e) => return Ok(Err(TxError::InvalidEvidence(e.into()))),
            }
        }
        _ => None,
    };
    let mut reg = registry(overlay)?.unwrap_or_default();
    // Checks.
    match call {
        StakingCall::RegisterValidator { .. } => {
            if reg.validators.contains_key(&tx.sender) {
                return Ok(Err(TxError::AlreadyValidator(tx.sender)));
            }
            if reg.validators.len() >= VALIDATORS_MAX {
                return Ok(Err(TxError::TooManyValidators {
                    max: VALIDATORS_MAX,
                }));
            }
        }
        StakingCall::Delegate { validator, amount } => match reg.validators.get(validator) {
            None => return Ok(Err(TxError::UnknownValidator(*validator))),
            Some(v) if v.jailed => return Ok(Err(TxError::ValidatorJailed(*validator))),
            Some(v) if shares_for(v, *amount) == 0 => {
                return Ok(Err(TxError::StakeTooSmall { amount: *amount }))
            }
            Some(_) => {}
        },
        StakingCall::Undelegate { validator, amount } => {
            let Some(v) = reg.validators.get(validator) else {
                return Ok(Err(TxError::UnknownValidator(*validator)));
            };
            let held = v.tokens_for(shares(overlay, &delegation(*validator, tx.sender))?);
            if held < *amount {
                return Ok(Err(TxError::InsufficientStake {
                    held,
                    wanted: *amount,
                }));
            }
            let heights = release_heights(overlay, *validator, env.height)?;
            let release_height = env.height + params.staking.unbonding_blocks;
            if heights.len() >= RELEASE_HEIGHTS_MAX && heights.last() != Some(&release_height) {
                return Ok(Err(TxError::TooManyUnbondings {
                    validator: *validator,
                    max: RELEASE_HEIGHTS_MAX,
                }));
            }
        }
        StakingCall::ReportEquivocation { .. } => {
            let (culprit, _) = culprit.expect("decoded above");
            match reg.validators.get(&culprit) {
                None => return Ok(Err(TxError::UnknownValidator(culprit))),
                Some(v) if v.jailed => return Ok(Err(TxError::AlreadyJailed(culprit))),
                Some(_) => {}
            }
        }
        StakingCall::SetEndpoint { .. } => {
            if !reg.validators.contains_key(&tx.sender) {
                return Ok(Err(TxError::UnknownValidator(tx.sender)));
            }
        }
    }
    // Writes.
    debit_sender(overlay, tx, sender, bonded);
    credit(overlay, &env.proposer, tx.fee)?;
    match call {
        StakingCall::RegisterValidator {
            commission_bps,
            amount,
        } => {
            reg.validators.insert(
                tx.sender,
                ValidatorInfo {
                    tokens: 0,
                    shares: 0,
                    commission_bps: *commission_bps,
                    jailed: false,
                },
            );
            bond(overlay, &mut reg, tx.sender, tx.sender, *amount)?;
        }
        StakingCall::Delegate { validator, amount } => {
            bond(overlay, &mut reg, *validator, tx.sender, *amount)?;
        }
        StakingCall::Undelegate { validator, amount } => {
            undelegate(
                overlay, params, env, &mut reg, *validator, tx.sender, *amount,
            )?;
        }
        StakingCall::ReportEquivocation { .. } => {
            let (culprit, offence_height) = culprit.expect("decoded above");
            slash(overlay, params, env, &mut reg, culprit, offence_height)?;
        }
        StakingCall::SetEndpoint { endpoint } => {
            let key = StakeKey::Endpoint {
                validator: tx.sender,
            };
            // The write replaces the published address (read first, as every write is).
            stake_get(overlay, &key)?;
            stake_set(overlay, key, Some(StakeValue::Endpoint(*endpoint)));
        }
    }
    set_registry(overlay, reg);
    Ok(Ok(tx.fee))
}

/// The end of a block: rewards, unbonded stake returned, and the election when one is due.
fn end_block<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
) -> Result<(), V::Error> {
    let p = &params.staking;
    // A state without a registry has no staking (some tests run bare bank states).
    let Some(mut reg) = registry(overlay)? else {
        return Ok(());
    };
    let mut changed = false;
    if p.block_reward > 0
        && reg
            .active
            .iter()
            .any(|(a, _)| reg.validators.get(a).is_some_and(|v| !v.jailed))
    {
        reward(overlay, &mut reg, p.block_reward)?;
        changed = true;
    }
    release(overlay, env)?;
    let active_before = reg.active.clone();
    if reg.reelect || env.height % p.epoch_blocks == 0 {
        // A validator whose own stake fell below the minimum (it undelegated, or was slashed)
        // is not elected again until it bonds enough.
        let mut self_staked = std::collections::BTreeSet::new();
        for (a, v) in &reg.validators {
            let own = v.tokens_for(shares(overlay, &delegation(*a, *a))?);
            if own >= p.min_self_stake.max(1) {
                self_staked.insert(*a);
            }
        }
        let set = elect_among(&reg, p.active_set_max as usize, |a| self_staked.contains(a));
        // A chain never runs without validators: with nobody electable the set stays.
        if set.is_empty() {
            tracing::error!(
                height = env.height,
                "no validator can be elected; the active set stays"
            );
        } else if set != reg.active {
            tracing::info!(
                height = env.height,
                validators = set.len(),
                "new active validator set"
            );
            reg.active = set;
        }
        reg.reelect = false;
        changed = true;
    }
    advance_leaders(overlay, &active_before, &reg.active, env)?;
    if changed {
        set_registry(overlay, reg);
    }
    Ok(())
}

/// The active set as consensus sees it; `None` for an empty or invalid one.
fn consensus_set(active: &[(Address, u64)]) -> Option<ValidatorSet> {
    ValidatorSet::new(
        active
            .iter()
            .map(|(a, power)| crate::consensus::context::Validator {
                address: crate::consensus::context::Address(a.0),
                voting_power: *power,
            })
            .collect(),
    )
    .ok()
}

/// The proposer schedule for the next height: this block's builder found its turn, those
/// scheduled before it missed theirs ([`crate::consensus::leader`]).
fn advance_leaders<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    active: &[(Address, u64)],
    next_active: &[(Address, u64)],
    env: &BlockEnv,
) -> Result<(), V::Error> {
    let (Some(set), Some(next_set)) = (consensus_set(active), consensus_set(next_active)) else {
        return Ok(());
    };
    let state = match stake_get(overlay, &StakeKey::Leaders)? {
        Some(StakeValue::Leaders(l)) => l,
        _ => LeaderState::default(),
    };
    let builder = crate::consensus::context::Address(env.proposer.0);
    let next = state.advance(&set, env.height, &builder, &next_set);
    stake_set(overlay, StakeKey::Leaders, Some(StakeValue::Leaders(next)));
    Ok(())
}

/// Mints `amount` to the active validators by power; see the module docs.
fn reward<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    reg: &mut Registry,
    amount: Amount,
) -> Result<(), V::Error> {
    // A validator jailed in this block earns nothing for it.
    let earning: Vec<(Address, u64)> = reg
        .active
        .iter()
        .filter(|(a, _)| reg.validators.get(a).is_some_and(|v| !v.jailed))
        .copied()
        .collect();
    let total: u128 = earning.iter().map(|(_, p)| u128::from(*p)).sum();
    let mut parts: Vec<(Address, Amount)> = earning
        .iter()
        .map(|(a, p)| {
            let part = u128::from(amount) * u128::from(*p) / total.max(1);
            (*a, u64::try_from(part).expect("at most the reward"))
        })
        .collect();
    let paid: Amount = parts.iter().map(|(_, x)| x).sum();
    if let Some(first) = parts.first_mut() {
        first.1 += amount - paid;
    }
    for (address, part) in parts {
        let Some(v) = reg.validators.get_mut(&address) else {
            continue;
        };
        let commission =
            u64::try_from(u128::from(part) * u128::from(v.commission_bps) / u128::from(BPS_MAX))
                .expect("at most the part");
        v.tokens = v
            .tokens
            .checked_add(part - commission)
            .expect("supply fits in u64 (genesis guarantees)");
        if commission > 0 {
            bond(overlay, reg, address, address, commission)?;
        }
    }
    Ok(())
}
