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
//! Supply invariant: every transaction conserves the sum of all balances (fees move to the proposer).

mod bank;
mod parallel;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::state::LtHash;
use crate::types::{
    Account, Address, Amount, BankCall, ChainId, Outcome, Payload, Receipt, Transaction,
    TxEnvelope, TxId,
};

pub use parallel::{execute_block_parallel, prefetch, touched_accounts};

/// Chain parameters that execution depends on; fixed by genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainParams {
    pub chain_id: ChainId,
    pub min_fee: Amount,
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
    #[error("zero-amount transfers are not allowed")]
    ZeroAmount,
}

/// Read access to the committed state that a block executes on.
pub trait StateView {
    type Error: std::error::Error + Send + Sync + 'static;
    /// The account at `address`; an account never written reads as [`Account::default`].
    fn account(&self, address: &Address) -> Result<Account, Self::Error>;
}

impl StateView for BTreeMap<Address, Account> {
    type Error = std::convert::Infallible;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        Ok(self.get(address).copied().unwrap_or_default())
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
}

impl<'v, V: StateView> Overlay<'v, V> {
    pub fn new(base: &'v V) -> Self {
        Self {
            base,
            before: BTreeMap::new(),
            after: BTreeMap::new(),
        }
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

/// Everything a block's execution produces.
#[derive(Debug, Clone)]
pub struct BlockOutput {
    pub applied: Vec<TxEnvelope>,
    pub receipts: Vec<Receipt>,
    pub discarded: Vec<(TxId, TxError)>,
    /// Accounts whose value changed, with their new value; ordered by address.
    pub writes: BTreeMap<Address, Account>,
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
        Payload::Bank(BankCall::Transfer { amount, .. }) => {
            if *amount == 0 {
                return Err(TxError::ZeroAmount);
            }
        }
    }
    tx.cost().ok_or(TxError::AmountOverflow)
}

/// Applies one transaction to the overlay, all or nothing.
pub fn apply_tx<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    proposer: &Address,
    tx: &TxEnvelope,
) -> Result<Result<Receipt, TxError>, V::Error> {
    let t = &tx.tx;
    if let Err(e) = check_static(t, params) {
        return Ok(Err(e));
    }
    let result = match &t.payload {
        Payload::Bank(call) => bank::apply(overlay, proposer, t, call)?,
    };
    Ok(result.map(|fee_paid| Receipt {
        tx_id: tx.id,
        outcome: Outcome::Success,
        fee_paid,
    }))
}

/// Executes `txs` in order on `base`, whose commitment is `base_lthash`. Sequential reference
/// implementation: any faster executor must return exactly this.
pub fn execute_block<V: StateView>(
    base: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    proposer: &Address,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    let mut overlay = Overlay::new(base);
    let mut applied = Vec::with_capacity(txs.len());
    let mut receipts = Vec::with_capacity(txs.len());
    let mut discarded = Vec::new();
    for tx in txs {
        match apply_tx(&mut overlay, params, proposer, &tx)? {
            Ok(receipt) => {
                receipts.push(receipt);
                applied.push(tx);
            }
            Err(e) => discarded.push((tx.id, e)),
        }
    }
    let Overlay { before, after, .. } = overlay;
    let (writes, lthash) = commit_overlay(before, after, base_lthash);
    Ok(BlockOutput {
        applied,
        receipts,
        discarded,
        writes,
        lthash,
    })
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
