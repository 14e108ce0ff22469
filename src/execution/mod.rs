//! Execution: the pure state transition of a block.
//!
//! Given the state before a block (through [`StateView`]), the chain parameters and an ordered list of
//! transactions, [`execute_block`] returns which transactions apply, their receipts, the accounts they
//! write and the new state commitment. It reads no clock, no randomness and no map iteration order:
//! the result is a pure function of its inputs, which is what lets every validator agree on it.
//!
//! A transaction that cannot apply (stale nonce, funds spent by an earlier one in the same block) is
//! *discarded*: it is left out of the block with its reason, and nothing it would have written is kept.
//! A block proposed by someone else that contains a discarded transaction is invalid.
//!
//! After the transactions, the block's end (`staking::end_block`) pays block rewards, returns
//! unbonded stake and, at epoch ends, elects the next active validator set.
//!
//! Supply invariant: every transaction conserves the sum of all balances and bonded, unbonding
//! stake (fees move to the proposer); only block rewards add to it and only slashing burns.

mod bank;
mod parallel;
pub mod staking;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::consensus::wire::{Evidence, EvidenceError};
use crate::state::LtHash;
use crate::types::{
    Account, Address, Amount, BankCall, ChainId, Height, Outcome, Payload, Receipt, StakeKey,
    StakeValue, StakingCall, Transaction, TxEnvelope, TxId,
};

pub use parallel::{execute_block_parallel, prefetch, touched_accounts};
pub use staking::{elect, StakingParams};

/// Chain parameters that execution depends on; fixed by genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainParams {
    pub chain_id: ChainId,
    pub min_fee: Amount,
    pub staking: StakingParams,
}

/// What a block's execution knows of the block itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEnv {
    pub height: Height,
    /// Receives the fees.
    pub proposer: Address,
}

/// Why a transaction cannot apply to a state. Also the reasons the mempool gives at admission, so a
/// client sees the same words whether its transaction was refused early or discarded late.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxError {
    #[error("wrong chain id {got}: this node runs chain {expected}")]
    WrongChain { expected: ChainId, got: ChainId },
    #[error("fee {got} is below the minimum fee {min}")]
    FeeTooLow { min: Amount, got: Amount },
    #[error("nonce {got} was already used: the account's next nonce is {expected}")]
    NonceTooLow { expected: u64, got: u64 },
    #[error("nonce {got} is ahead of the account's next nonce {expected}")]
    NonceTooHigh { expected: u64, got: u64 },
    #[error("insufficient funds: balance {balance}, needed {needed} (amount + fee)")]
    InsufficientFunds { balance: Amount, needed: Amount },
    #[error("amount overflows: transfers of this size cannot exist")]
    AmountOverflow,
    #[error("zero amounts are not allowed")]
    ZeroAmount,
    #[error("commission {got} basis points is over 10000 (100%)")]
    CommissionTooHigh { got: u16 },
    #[error("self-delegation {got} is below the minimum {min} for a validator")]
    SelfStakeTooLow { min: Amount, got: Amount },
    #[error("{0} is already a registered validator")]
    AlreadyValidator(Address),
    #[error("{0} is not a registered validator")]
    UnknownValidator(Address),
    #[error("validator {0} is jailed for double signing and takes no delegations")]
    ValidatorJailed(Address),
    #[error("the validator registry is full ({max} validators)")]
    TooManyValidators { max: usize },
    #[error("amount {amount} is too small to buy one share of this validator's pool")]
    StakeTooSmall { amount: Amount },
    #[error("stake with this validator is {held}, less than the {wanted} asked to undelegate")]
    InsufficientStake { held: Amount, wanted: Amount },
    #[error("invalid equivocation evidence: {0}")]
    InvalidEvidence(EvidenceError),
    #[error("validator {0} was already slashed and jailed for double signing")]
    AlreadyJailed(Address),
}

impl TxError {
    /// A refusal by the staking module (as opposed to the bank's checks every transaction gets).
    pub fn is_staking_refusal(&self) -> bool {
        matches!(
            self,
            TxError::CommissionTooHigh { .. }
                | TxError::SelfStakeTooLow { .. }
                | TxError::AlreadyValidator(_)
                | TxError::UnknownValidator(_)
                | TxError::ValidatorJailed(_)
                | TxError::TooManyValidators { .. }
                | TxError::StakeTooSmall { .. }
                | TxError::InsufficientStake { .. }
                | TxError::InvalidEvidence(_)
                | TxError::AlreadyJailed(_)
        )
    }
}

/// Read access to the committed state that a block executes on.
pub trait StateView {
    type Error: std::error::Error + Send + Sync + 'static;
    /// The account at `address`; an account never written reads as [`Account::default`].
    fn account(&self, address: &Address) -> Result<Account, Self::Error>;
    /// The staking entry at `key`, if there is one.
    fn stake(&self, key: &StakeKey) -> Result<Option<StakeValue>, Self::Error>;
}

/// Accounts only (tests, benchmarks and the parallel executor's prefetched accounts): no staking
/// entries.
impl StateView for BTreeMap<Address, Account> {
    type Error = std::convert::Infallible;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        Ok(self.get(address).copied().unwrap_or_default())
    }
    fn stake(&self, _key: &StakeKey) -> Result<Option<StakeValue>, Self::Error> {
        Ok(None)
    }
}

/// A whole state in memory (tests and simulations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    pub accounts: BTreeMap<Address, Account>,
    pub stake: BTreeMap<StakeKey, StakeValue>,
}

impl MemState {
    /// Applies a block's writes, as storage does.
    pub fn apply(&mut self, out: &BlockOutput) {
        for (a, acc) in &out.writes {
            self.accounts.insert(*a, *acc);
        }
        for (k, v) in &out.stake_writes {
            match v {
                Some(v) => self.stake.insert(*k, v.clone()),
                None => self.stake.remove(k),
            };
        }
    }

    /// The commitment of this state from scratch.
    pub fn lthash(&self) -> LtHash {
        let mut h = LtHash::of_state(self.accounts.iter().filter(|(_, a)| !a.is_empty()));
        for (k, v) in &self.stake {
            h.add(&LtHash::of_stake(k, v));
        }
        h
    }
}

impl StateView for MemState {
    type Error = std::convert::Infallible;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        Ok(self.accounts.get(address).copied().unwrap_or_default())
    }
    fn stake(&self, key: &StakeKey) -> Result<Option<StakeValue>, Self::Error> {
        Ok(self.stake.get(key).cloned())
    }
}

/// A state with a block's writes so far on top of `base`.
struct Layered<'a, V> {
    accounts: &'a BTreeMap<Address, Account>,
    stake: &'a BTreeMap<StakeKey, Option<StakeValue>>,
    base: &'a V,
}

impl<V: StateView> StateView for Layered<'_, V> {
    type Error = V::Error;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        match self.accounts.get(address) {
            Some(a) => Ok(*a),
            None => self.base.account(address),
        }
    }
    fn stake(&self, key: &StakeKey) -> Result<Option<StakeValue>, Self::Error> {
        match self.stake.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.stake(key),
        }
    }
}

/// Accounts read and written while executing one block, over an untouched base state.
///
/// Keeps each touched account's value before the block so that the state commitment can be updated
/// by difference, and so that a discarded transaction's writes can be dropped.
pub struct Overlay<'v, V: StateView> {
    base: &'v V,
    before: BTreeMap<Address, Option<Account>>,
    after: BTreeMap<Address, Account>,
    stake_before: BTreeMap<StakeKey, Option<StakeValue>>,
    stake_after: BTreeMap<StakeKey, Option<StakeValue>>,
}

impl<'v, V: StateView> Overlay<'v, V> {
    pub fn new(base: &'v V) -> Self {
        Self {
            base,
            before: BTreeMap::new(),
            after: BTreeMap::new(),
            stake_before: BTreeMap::new(),
            stake_after: BTreeMap::new(),
        }
    }

    pub fn stake(&mut self, key: &StakeKey) -> Result<Option<StakeValue>, V::Error> {
        if let Some(v) = self.stake_after.get(key) {
            return Ok(v.clone());
        }
        let v = self.base.stake(key)?;
        self.stake_before.entry(*key).or_insert_with(|| v.clone());
        Ok(v)
    }

    /// Writes (or, with `None`, deletes) a staking entry read before.
    pub fn set_stake(&mut self, key: StakeKey, value: Option<StakeValue>) {
        debug_assert!(
            self.stake_before.contains_key(&key),
            "a staking entry is read before it is written"
        );
        self.stake_after.insert(key, value);
    }

    /// Turns what the overlay holds into writes and the commitment after them.
    fn finish(self, base_lthash: &LtHash) -> (BTreeMap<Address, Account>, StakeWrites, LtHash) {
        let (writes, mut lthash) = commit_overlay(self.before, self.after, base_lthash);
        let mut stake_writes = BTreeMap::new();
        for (key, new) in self.stake_after {
            let old = self.stake_before.get(&key).cloned().flatten();
            if old == new {
                continue;
            }
            if let Some(old) = &old {
                lthash.sub(&LtHash::of_stake(&key, old));
            }
            if let Some(new) = &new {
                lthash.add(&LtHash::of_stake(&key, new));
            }
            stake_writes.insert(key, new);
        }
        (writes, stake_writes, lthash)
    }

    pub fn get(&mut self, address: &Address) -> Result<Account, V::Error> {
        if let Some(a) = self.after.get(address) {
            return Ok(*a);
        }
        let a = self.base.account(address)?;
        self.before
            .entry(*address)
            .or_insert(if a.is_empty() { None } else { Some(a) });
        Ok(a)
    }

    pub fn set(&mut self, address: Address, account: Account) {
        debug_assert!(
            self.before.contains_key(&address),
            "an account is read before it is written"
        );
        self.after.insert(address, account);
    }
}

/// Staking entries a block changed: the new value, `None` for a deleted entry.
pub type StakeWrites = BTreeMap<StakeKey, Option<StakeValue>>;

/// Everything a block's execution produces.
#[derive(Debug, Clone)]
pub struct BlockOutput {
    pub applied: Vec<TxEnvelope>,
    pub receipts: Vec<Receipt>,
    pub discarded: Vec<(TxId, TxError)>,
    /// Accounts whose value changed, with their new value; ordered by address.
    pub writes: BTreeMap<Address, Account>,
    /// Staking entries that changed: their new value, or `None` where the entry is deleted.
    pub stake_writes: StakeWrites,
    /// The state commitment after the block.
    pub lthash: LtHash,
}

/// The checks that need no state: right chain, fee at least the minimum, a positive amount, and a
/// cost (amount + fee) that fits. Ingest runs them, so a transaction that could never apply is
/// refused on submission and never holds a nonce in the mempool; execution runs them again because
/// a block from elsewhere is not trusted. Returns the cost.
pub fn check_static(tx: &Transaction, params: &ChainParams) -> Result<Amount, TxError> {
    if tx.chain_id != params.chain_id {
        return Err(TxError::WrongChain {
            expected: params.chain_id,
            got: tx.chain_id,
        });
    }
    if tx.fee < params.min_fee {
        return Err(TxError::FeeTooLow {
            min: params.min_fee,
            got: tx.fee,
        });
    }
    match &tx.payload {
        Payload::Bank(BankCall::Transfer { amount, .. })
        | Payload::Staking(StakingCall::Delegate { amount, .. })
        | Payload::Staking(StakingCall::Undelegate { amount, .. }) => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
        }
        Payload::Staking(StakingCall::RegisterValidator {
            commission_bps,
            amount,
        }) => {
            if *commission_bps > staking::BPS_MAX {
                return Err(TxError::CommissionTooHigh {
                    got: *commission_bps,
                });
            }
            if *amount < params.staking.min_self_stake.max(1) {
                return Err(TxError::SelfStakeTooLow {
                    min: params.staking.min_self_stake.max(1),
                    got: *amount,
                });
            }
        }
        Payload::Staking(StakingCall::ReportEquivocation { evidence }) => {
            Evidence::decode_and_check(evidence).map_err(TxError::InvalidEvidence)?;
        }
    }
    tx.cost().ok_or(TxError::AmountOverflow)
}

/// Applies one transaction to the overlay, all or nothing.
pub fn apply_tx<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
    tx: &TxEnvelope,
) -> Result<Result<Receipt, TxError>, V::Error> {
    let t = &tx.tx;
    if let Err(e) = check_static(t, params) {
        return Ok(Err(e));
    }
    let result = match &t.payload {
        Payload::Bank(call) => bank::apply(overlay, &env.proposer, t, call)?,
        Payload::Staking(call) => staking::apply(overlay, params, env, t, call)?,
    };
    Ok(result.map(|fee_paid| Receipt {
        tx_id: tx.id,
        outcome: Outcome::Success,
        fee_paid,
    }))
}

/// Executes the block `txs` at `env` on `base`, whose commitment is `base_lthash`: the
/// transactions in order, then the block's end. Sequential reference implementation: any faster
/// executor must return exactly this.
pub fn execute_block<V: StateView>(
    base: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    let out = execute_txs(base, base_lthash, params, env, txs)?;
    finish_block(base, out, params, env)
}

/// The transactions of a block, in order, without the block's end.
fn execute_txs<V: StateView>(
    base: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    let mut overlay = Overlay::new(base);
    let mut applied = Vec::with_capacity(txs.len());
    let mut receipts = Vec::with_capacity(txs.len());
    let mut discarded = Vec::new();
    for tx in txs {
        match apply_tx(&mut overlay, params, env, &tx)? {
            Ok(receipt) => {
                receipts.push(receipt);
                applied.push(tx);
            }
            Err(e) => discarded.push((tx.id, e)),
        }
    }
    let (writes, stake_writes, lthash) = overlay.finish(base_lthash);
    Ok(BlockOutput {
        applied,
        receipts,
        discarded,
        writes,
        stake_writes,
        lthash,
    })
}

/// The block's end (rewards, unbonding, elections) on top of what its transactions wrote to
/// `base`; the same for every executor.
pub(crate) fn finish_block<V: StateView>(
    base: &V,
    mut out: BlockOutput,
    params: &ChainParams,
    env: &BlockEnv,
) -> Result<BlockOutput, V::Error> {
    let layered = Layered {
        accounts: &out.writes,
        stake: &out.stake_writes,
        base,
    };
    let mut overlay = Overlay::new(&layered);
    staking::end_block(&mut overlay, params, env)?;
    let (writes, stake_writes, lthash) = overlay.finish(&out.lthash);
    out.writes.extend(writes);
    out.stake_writes.extend(stake_writes);
    out.lthash = lthash;
    Ok(out)
}

/// Turns an overlay's before/after values into the block's writes (changed accounts only) and the
/// updated state commitment. The LtHash expansions run on rayon; lane-wise wrapping addition is
/// commutative and associative, so the result does not depend on the split.
pub(crate) fn commit_overlay(
    before: BTreeMap<Address, Option<Account>>,
    after: BTreeMap<Address, Account>,
    base_lthash: &LtHash,
) -> (BTreeMap<Address, Account>, LtHash) {
    use rayon::prelude::*;
    let changed: Vec<(Address, Option<Account>, Account)> = after
        .into_iter()
        .filter_map(|(address, new)| {
            let old = before.get(&address).copied().flatten();
            (old.as_ref() != Some(&new)).then_some((address, old, new))
        })
        .collect();
    let (added, removed) = changed
        .par_iter()
        .fold(
            || (LtHash::identity(), LtHash::identity()),
            |(mut add, mut sub), (address, old, new)| {
                add.add(&LtHash::of_account(address, new));
                if let Some(old) = old {
                    sub.add(&LtHash::of_account(address, old));
                }
                (add, sub)
            },
        )
        .reduce(
            || (LtHash::identity(), LtHash::identity()),
            |(mut a1, mut s1), (a2, s2)| {
                a1.add(&a2);
                s1.add(&s2);
                (a1, s1)
            },
        );
    let mut lthash = base_lthash.clone();
    lthash.add(&added);
    lthash.sub(&removed);
    let writes = changed.into_iter().map(|(a, _, new)| (a, new)).collect();
    (writes, lthash)
}

#[cfg(test)]
mod tests;
