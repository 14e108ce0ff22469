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
//! What each call does belongs to its module (`crate::modules`, one list of them); execution owns
//! the order, the overlay of writes, all-or-nothing per transaction, the schedule of the parallel
//! executor and the state commitment. After the transactions, every module's end-block hook runs
//! (staking pays block rewards, returns unbonded stake and, at epoch ends, elects the next set).
//!
//! Supply invariant: every transaction conserves the sum of all native balances and bonded,
//! unbonding stake (fees move to the proposer); only block rewards add to it and only slashing
//! burns. Each issued asset's holdings sum to its supply, which only mint, burn and clawback change.

mod parallel;

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use thiserror::Error;

use crate::codec::Decode;
use crate::modules;
use crate::state::LtHash;
use crate::types::{
    Account, Address, Amount, ChainId, Event, Height, Outcome, Receipt, StateKey, StateWrites,
    Transaction, TxEnvelope, TxId,
};

pub use crate::modules::banking::BankingParams;
pub use crate::modules::staking::{elect, StakingParams};
pub use crate::modules::ChainParams;
pub use parallel::execute_block_parallel;

/// What a block's execution knows of the block itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockEnv {
    pub height: Height,
    /// Receives the fees.
    pub proposer: Address,
    /// The block's timestamp (its header's, set by the proposer above its parent's): the only
    /// clock execution knows (expiries, periods, validity dates).
    pub time_ms: u64,
}

/// A module's refusal of a call: its stable code (in the module's block of 100, INTERFACES §10)
/// and a message that names the object and the reason. Modules build these from their own typed
/// errors, so nothing outside a module changes when it gains a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ModuleError {
    /// Payload tag of the refusing module.
    pub module: u8,
    pub code: u32,
    /// Short stable name of the refusal (a metrics label and a machine-readable reason).
    pub reason: &'static str,
    pub message: String,
    /// A refusal kept on the record (compliance decisions): the transaction is included, pays
    /// its fee, moves nothing, and its receipt holds this event and the refusal.
    pub record: Option<Box<Event>>,
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
    InvalidEvidence(crate::consensus::wire::EvidenceError),
    #[error("validator {0} was already slashed and jailed for double signing")]
    AlreadyJailed(Address),
    #[error(
        "equivocation evidence of height {height} is too old: evidence is accepted for \
         {unbonding_blocks} blocks (the unbonding period), until height {last}"
    )]
    EvidenceTooOld {
        height: u64,
        unbonding_blocks: u64,
        last: u64,
    },
    #[error(
        "stake that left validator {validator} is already unbonding at {max} heights; wait \
         for the next release before undelegating from it again"
    )]
    TooManyUnbondings { validator: Address, max: usize },
    #[error(
        "endpoint {endpoint} cannot be dialled: publish the IP address and port the node's \
         p2p.listen is reached at (not an unspecified address or port 0)"
    )]
    InvalidEndpoint { endpoint: std::net::SocketAddr },
    /// Any module's own refusal (issued assets, and every module after them).
    #[error(transparent)]
    Module(ModuleError),
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
                | TxError::EvidenceTooOld { .. }
                | TxError::TooManyUnbondings { .. }
                | TxError::InvalidEndpoint { .. }
        )
    }
}

/// Read access to the committed state that a block executes on.
pub trait StateView {
    type Error: std::error::Error + Send + Sync + 'static;
    /// The account at `address`; an account never written reads as [`Account::default`].
    fn account(&self, address: &Address) -> Result<Account, Self::Error>;
    /// The module state entry at `key`, if there is one.
    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>, Self::Error>;
}

/// A state whose module entries can be walked in key order (queries over committed state).
pub trait StateScan: StateView {
    /// Up to `limit` entries whose keys start with `prefix`, in key order, after `start_after`
    /// when given.
    #[allow(clippy::type_complexity)]
    fn scan(
        &self,
        prefix: &StateKey,
        start_after: Option<&StateKey>,
        limit: usize,
    ) -> Result<Vec<(StateKey, Vec<u8>)>, Self::Error>;
}

/// Accounts only (tests and benchmarks): no module state.
impl StateView for BTreeMap<Address, Account> {
    type Error = std::convert::Infallible;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        Ok(self.get(address).copied().unwrap_or_default())
    }
    fn get(&self, _key: &StateKey) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(None)
    }
}

/// A whole state in memory (tests and simulations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    pub accounts: BTreeMap<Address, Account>,
    pub state: BTreeMap<StateKey, Vec<u8>>,
}

impl MemState {
    /// Applies a block's writes, as storage does.
    pub fn apply(&mut self, out: &BlockOutput) {
        for (a, acc) in &out.writes {
            self.accounts.insert(*a, *acc);
        }
        for (k, v) in &out.state_writes {
            match v {
                Some(v) => self.state.insert(k.clone(), v.clone()),
                None => self.state.remove(k),
            };
        }
    }

    /// The commitment of this state from scratch.
    pub fn lthash(&self) -> LtHash {
        let mut h = LtHash::of_state(self.accounts.iter().filter(|(_, a)| !a.is_empty()));
        for (k, v) in &self.state {
            h.add(&LtHash::of_entry(k, v));
        }
        h
    }
}

impl StateView for MemState {
    type Error = std::convert::Infallible;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        Ok(self.accounts.get(address).copied().unwrap_or_default())
    }
    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.state.get(key).cloned())
    }
}

impl StateScan for MemState {
    fn scan(
        &self,
        prefix: &StateKey,
        start_after: Option<&StateKey>,
        limit: usize,
    ) -> Result<Vec<(StateKey, Vec<u8>)>, Self::Error> {
        use std::ops::Bound;
        let lower = match start_after {
            Some(k) => Bound::Excluded(k.clone()),
            None => Bound::Included(prefix.clone()),
        };
        Ok(self
            .state
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.as_bytes().starts_with(prefix.as_bytes()))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// A state with a block's writes so far on top of `base`.
struct Layered<'a, V> {
    accounts: &'a BTreeMap<Address, Account>,
    state: &'a StateWrites,
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
    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>, Self::Error> {
        match self.state.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }
}

/// One state access of a call, recorded in debug builds to check it against the call's
/// declaration (see [`modules::Access`]).
#[cfg(debug_assertions)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Touch {
    Account(Address),
    Read(StateKey),
    Write(StateKey),
}

/// Accounts and module state read and written while executing one block, over an untouched base
/// state.
///
/// Keeps each touched entry's value before the block so that the state commitment can be updated
/// by difference, and so that a discarded transaction's writes can be dropped.
pub struct Overlay<'v, V: StateView> {
    base: &'v V,
    before: BTreeMap<Address, Option<Account>>,
    after: BTreeMap<Address, Account>,
    state_before: BTreeMap<StateKey, Option<Vec<u8>>>,
    state_after: StateWrites,
    journaling: bool,
    journal: Vec<Undo>,
    /// Entries decoded by [`Overlay::read_cached`], dropped when their key is written: settled
    /// entries that every transaction of a block reads (an asset's rules, an issuer's trust) are
    /// decoded once per block, not once per transaction. Only looked up, never iterated.
    /// `None`: known absent.
    decoded: HashMap<StateKey, Option<Arc<dyn Any + Send + Sync>>>,
    #[cfg(debug_assertions)]
    pub(crate) touches: Vec<Touch>,
}

impl<'v, V: StateView> Overlay<'v, V> {
    pub fn new(base: &'v V) -> Self {
        Self {
            base,
            before: BTreeMap::new(),
            after: BTreeMap::new(),
            state_before: BTreeMap::new(),
            state_after: BTreeMap::new(),
            journaling: false,
            journal: Vec::new(),
            decoded: HashMap::new(),
            #[cfg(debug_assertions)]
            touches: Vec::new(),
        }
    }

    /// The module state entry at `key` as the block has it so far.
    pub fn read(&mut self, key: &StateKey) -> Result<Option<Vec<u8>>, V::Error> {
        #[cfg(debug_assertions)]
        self.touches.push(Touch::Read(key.clone()));
        if let Some(v) = self.state_after.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.state_before.get(key) {
            return Ok(v.clone());
        }
        let v = self.base.get(key)?;
        self.state_before.insert(key.clone(), v.clone());
        Ok(v)
    }

    /// Writes (or, with `None`, deletes) a module state entry read before.
    /// The entry at `key` decoded as the module's `T`, shared: decoded once until the key is
    /// written. The module wrote it: a value that does not decode is corruption.
    pub fn read_cached<T: Decode + Send + Sync + 'static>(
        &mut self,
        key: &StateKey,
    ) -> Result<Option<Arc<T>>, V::Error> {
        match self.decoded.get(key) {
            Some(None) => {
                #[cfg(debug_assertions)]
                self.touches.push(Touch::Read(key.clone()));
                return Ok(None);
            }
            Some(Some(v)) => {
                if let Ok(t) = Arc::clone(v).downcast::<T>() {
                    #[cfg(debug_assertions)]
                    self.touches.push(Touch::Read(key.clone()));
                    return Ok(Some(t));
                }
            }
            None => {}
        }
        let Some(bytes) = self.read(key)? else {
            self.decoded.insert(key.clone(), None);
            return Ok(None);
        };
        let t = Arc::new(
            crate::codec::decode_exact::<T>(&bytes, usize::MAX).unwrap_or_else(|e| {
                panic!("state entry {key:?} does not decode ({e}): corrupt state")
            }),
        );
        self.decoded.insert(
            key.clone(),
            Some(Arc::clone(&t) as Arc<dyn Any + Send + Sync>),
        );
        Ok(Some(t))
    }

    pub fn write(&mut self, key: StateKey, value: Option<Vec<u8>>) {
        self.decoded.remove(&key);
        debug_assert!(
            self.state_before.contains_key(&key),
            "a state entry is read before it is written"
        );
        #[cfg(debug_assertions)]
        self.touches.push(Touch::Write(key.clone()));
        let previous = self.state_after.insert(key.clone(), value);
        if self.journaling {
            self.journal.push(Undo::State(key, previous));
        }
    }

    /// Turns what the overlay holds into writes and the commitment after them.
    fn finish(self, base_lthash: &LtHash) -> (BTreeMap<Address, Account>, StateWrites, LtHash) {
        let (writes, mut lthash) = commit_overlay(self.before, self.after, base_lthash);
        let state_writes = commit_state(&self.state_before, self.state_after, &mut lthash);
        (writes, state_writes, lthash)
    }

    pub fn get(&mut self, address: &Address) -> Result<Account, V::Error> {
        #[cfg(debug_assertions)]
        self.touches.push(Touch::Account(*address));
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
        let previous = self.after.insert(address, account);
        if self.journaling {
            self.journal.push(Undo::Account(address, previous));
        }
    }

    /// Starts recording what later writes replace, so that [`Overlay::rollback`] can undo them:
    /// the runtime wraps every module call (but native transfers, which check before they
    /// write) in one, so a call that fails midway leaves no trace.
    pub(crate) fn savepoint(&mut self) -> Savepoint {
        self.journaling = true;
        Savepoint(self.journal.len())
    }

    /// Undoes every write since `sp`.
    pub(crate) fn rollback(&mut self, sp: Savepoint) {
        while self.journal.len() > sp.0 {
            match self.journal.pop() {
                Some(Undo::Account(a, Some(v))) => {
                    self.after.insert(a, v);
                }
                Some(Undo::Account(a, None)) => {
                    self.after.remove(&a);
                }
                Some(Undo::State(k, Some(v))) => {
                    self.decoded.remove(&k);
                    self.state_after.insert(k, v);
                }
                Some(Undo::State(k, None)) => {
                    self.decoded.remove(&k);
                    self.state_after.remove(&k);
                }
                None => break,
            }
        }
        self.release(sp);
    }

    /// Keeps every write since `sp`.
    pub(crate) fn release(&mut self, sp: Savepoint) {
        self.journal.truncate(sp.0);
        if sp.0 == 0 {
            self.journaling = false;
        }
    }
}

/// The state an overlay holds so far, read without recording touches (declarations are made on
/// it in debug builds, as the parallel executor makes them on the state before the block).
#[cfg(debug_assertions)]
struct Peek<'o, 'v, V: StateView>(&'o Overlay<'v, V>);

#[cfg(debug_assertions)]
impl<V: StateView> StateView for Peek<'_, '_, V> {
    type Error = V::Error;
    fn account(&self, address: &Address) -> Result<Account, Self::Error> {
        match self.0.after.get(address) {
            Some(a) => Ok(*a),
            None => self.0.base.account(address),
        }
    }
    fn get(&self, key: &StateKey) -> Result<Option<Vec<u8>>, Self::Error> {
        match self.0.state_after.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.0.base.get(key),
        }
    }
}

/// A point in an overlay's journal (see [`Overlay::savepoint`]).
pub(crate) struct Savepoint(usize);

/// What a write replaced in an overlay: the previous written value, or `None` if the entry had
/// not been written in this block.
enum Undo {
    Account(Address, Option<Account>),
    State(StateKey, Option<Option<Vec<u8>>>),
}

/// Everything a block's execution produces.
#[derive(Debug, Clone)]
pub struct BlockOutput {
    pub applied: Vec<TxEnvelope>,
    pub receipts: Vec<Receipt>,
    pub discarded: Vec<(TxId, TxError)>,
    /// Accounts whose value changed, with their new value; ordered by address.
    pub writes: BTreeMap<Address, Account>,
    /// Module state entries that changed: their new value, or `None` where the entry is deleted.
    pub state_writes: StateWrites,
    /// The state commitment after the block.
    pub lthash: LtHash,
    /// Events of the block itself rather than of a transaction (begin-block work such as
    /// standing orders), in the order they happened; stored after the block's receipts.
    pub block_events: Vec<Event>,
}

/// The checks that need no state: right chain, fee at least the minimum, and the module's own
/// checks of its call (a positive amount, a cost that fits, ...). Ingest runs them, so a
/// transaction that could never apply is refused on submission and never holds a nonce in the
/// mempool; execution runs them again because a block from elsewhere is not trusted. Returns the
/// cost in the native asset (fee and what the call moves out of the sender's balance).
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
    modules::check_static(tx, params)?;
    tx.cost().ok_or(TxError::AmountOverflow)
}

/// What a call returns when it applies: the fee it paid and its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub fee_paid: Amount,
    pub events: Vec<Event>,
    /// Set when the call was refused on the record (see [`ModuleError::record`]).
    pub refused: Option<ModuleError>,
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
    #[cfg(debug_assertions)]
    let declared = modules::access(t, &Peek(overlay))?;
    #[cfg(debug_assertions)]
    overlay.touches.clear();
    let result = modules::apply(overlay, params, env, t)?;
    #[cfg(debug_assertions)]
    check_declared(&declared, t, &env.proposer, &overlay.touches);
    Ok(result.map(|applied| Receipt {
        tx_id: tx.id,
        outcome: match applied.refused {
            None => Outcome::Success,
            Some(e) => Outcome::Refused {
                module: e.module,
                code: e.code,
                message: truncated(e.message, crate::types::REFUSAL_MESSAGE_LEN_MAX),
            },
        },
        fee_paid: applied.fee_paid,
        events: applied.events,
    }))
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn truncated(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Debug builds: a call touched only what its module declared for it (the parallel schedule
/// depends on it).
#[cfg(debug_assertions)]
fn check_declared(
    access: &modules::Access,
    tx: &Transaction,
    proposer: &Address,
    touches: &[Touch],
) {
    let modules::Access::Keys {
        accounts,
        reads,
        writes,
    } = access
    else {
        return;
    };
    for t in touches {
        let ok = match t {
            Touch::Account(a) => a == &tx.sender || a == proposer || accounts.contains(a),
            Touch::Read(k) => reads.contains(k) || writes.contains(k),
            Touch::Write(k) => writes.contains(k),
        };
        assert!(ok, "{tx:?} touched {t:?}, which its module did not declare");
    }
}

/// Executes the block `txs` at `env` on `base`, whose commitment is `base_lthash`: the block's
/// start (every module's begin-block hook), the transactions in order, then the block's end.
/// Sequential reference implementation: any faster executor must return exactly this.
pub fn execute_block<V: StateView>(
    base: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    let Some(begun) = begin_block(base, base_lthash, params, env)? else {
        return execute_body(base, base_lthash, params, env, txs);
    };
    let out = execute_body(&begun.layered(base), &begun.lthash, params, env, txs)?;
    Ok(begun.then(out))
}

/// The transactions and the block's end, on the state after the block's start.
pub(crate) fn execute_body<V: StateView>(
    base: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
    txs: Vec<TxEnvelope>,
) -> Result<BlockOutput, V::Error> {
    let out = execute_txs(base, base_lthash, params, env, txs)?;
    finish_block(base, out, params, env)
}

/// What a block's start wrote, before its transactions.
pub(crate) struct Begun {
    writes: BTreeMap<Address, Account>,
    state_writes: StateWrites,
    lthash: LtHash,
    events: Vec<Event>,
}

impl Begun {
    pub(crate) fn layered<'a, V: StateView>(
        &'a self,
        base: &'a V,
    ) -> impl StateView<Error = V::Error> + 'a {
        Layered {
            accounts: &self.writes,
            state: &self.state_writes,
            base,
        }
    }

    /// The whole block: the start's writes under the rest's, the start's events first.
    pub(crate) fn then(self, mut rest: BlockOutput) -> BlockOutput {
        let mut writes = self.writes;
        writes.append(&mut rest.writes);
        let mut state_writes = self.state_writes;
        state_writes.append(&mut rest.state_writes);
        let mut events = self.events;
        events.append(&mut rest.block_events);
        BlockOutput {
            writes,
            state_writes,
            block_events: events,
            ..rest
        }
    }
}

/// Every module's begin-block hook on `base`; `None` when the block's start did nothing (the
/// usual case, which then costs no layer).
pub(crate) fn begin_block<V: StateView>(
    base: &V,
    base_lthash: &LtHash,
    params: &ChainParams,
    env: &BlockEnv,
) -> Result<Option<Begun>, V::Error> {
    let mut overlay = Overlay::new(base);
    let events = modules::begin_block(&mut overlay, params, env)?;
    let (writes, state_writes, lthash) = overlay.finish(base_lthash);
    if writes.is_empty() && state_writes.is_empty() && events.is_empty() {
        return Ok(None);
    }
    Ok(Some(Begun {
        writes,
        state_writes,
        lthash,
        events,
    }))
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
    let (writes, state_writes, lthash) = overlay.finish(base_lthash);
    Ok(BlockOutput {
        applied,
        receipts,
        discarded,
        writes,
        state_writes,
        lthash,
        block_events: Vec::new(),
    })
}

/// The block's end (every module's end-block hook, in the order of the module list) on top of
/// what its transactions wrote to `base`; the same for every executor.
pub(crate) fn finish_block<V: StateView>(
    base: &V,
    mut out: BlockOutput,
    params: &ChainParams,
    env: &BlockEnv,
) -> Result<BlockOutput, V::Error> {
    let layered = Layered {
        accounts: &out.writes,
        state: &out.state_writes,
        base,
    };
    let mut overlay = Overlay::new(&layered);
    modules::end_block(&mut overlay, params, env)?;
    let (writes, state_writes, lthash) = overlay.finish(&out.lthash);
    out.writes.extend(writes);
    out.state_writes.extend(state_writes);
    out.lthash = lthash;
    Ok(out)
}

/// The sums of the state elements that `changes` add and remove, expanded on rayon: `element`
/// adds a change's new element to its first sum and its old one to its second. Lane-wise
/// wrapping addition commutes, so the result does not depend on the split.
fn lthash_delta<T: Sync>(
    changes: &[T],
    element: impl Fn(&T, &mut LtHash, &mut LtHash) + Sync + Send,
) -> (LtHash, LtHash) {
    use rayon::prelude::*;
    changes
        .par_iter()
        .fold(
            || (LtHash::identity(), LtHash::identity()),
            |(mut add, mut sub), change| {
                element(change, &mut add, &mut sub);
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
        )
}

/// Turns an overlay's module state before/after into the block's state writes (changed entries
/// only), updating the commitment. Like [`commit_overlay`], the expansions run on rayon.
pub(crate) fn commit_state(
    before: &BTreeMap<StateKey, Option<Vec<u8>>>,
    after: StateWrites,
    lthash: &mut LtHash,
) -> StateWrites {
    // (key, value before the block, value after it)
    type Change<'b> = (StateKey, Option<&'b [u8]>, Option<Vec<u8>>);
    let changed: Vec<Change<'_>> = after
        .into_iter()
        .filter_map(|(key, new)| {
            let old = before.get(&key).and_then(|v| v.as_deref());
            (old != new.as_deref()).then_some((key, old, new))
        })
        .collect();
    let (added, removed) = lthash_delta(&changed, |(key, old, new), add, sub| {
        if let Some(new) = new {
            add.add(&LtHash::of_entry(key, new));
        }
        if let Some(old) = old {
            sub.add(&LtHash::of_entry(key, old));
        }
    });
    lthash.add(&added);
    lthash.sub(&removed);
    changed.into_iter().map(|(k, _, new)| (k, new)).collect()
}

/// Turns an overlay's before/after values into the block's writes (changed accounts only) and the
/// updated state commitment. The LtHash expansions run on rayon; lane-wise wrapping addition is
/// commutative and associative, so the result does not depend on the split.
pub(crate) fn commit_overlay(
    before: BTreeMap<Address, Option<Account>>,
    after: BTreeMap<Address, Account>,
    base_lthash: &LtHash,
) -> (BTreeMap<Address, Account>, LtHash) {
    let changed: Vec<(Address, Option<Account>, Account)> = after
        .into_iter()
        .filter_map(|(address, new)| {
            let old = before.get(&address).copied().flatten();
            (old.as_ref() != Some(&new)).then_some((address, old, new))
        })
        .collect();
    let (added, removed) = lthash_delta(&changed, |(address, old, new), add, sub| {
        // An emptied account (a module account paid out in full) is as if it never existed.
        if !new.is_empty() {
            add.add(&LtHash::of_account(address, new));
        }
        if let Some(old) = old {
            sub.add(&LtHash::of_account(address, old));
        }
    });
    let mut lthash = base_lthash.clone();
    lthash.add(&added);
    lthash.sub(&removed);
    let writes = changed.into_iter().map(|(a, _, new)| (a, new)).collect();
    (writes, lthash)
}

#[cfg(test)]
mod tests;
