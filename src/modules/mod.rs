//! The application modules, and the one list that registers them (like a Cosmos chain's `app.go`).
//!
//! A module owns, in its folder: its calls and their encoding (after its payload tag, INTERFACES
//! §10, never reused), static checks, the state each call reads and writes (declared from the call
//! alone, [`Access`]), apply, its end-block hook, its genesis section and params, typed events,
//! queries, and errors with stable codes in its own block of 100. It implements [`Module`].
//!
//! **Adding a module** is a folder here, one line in [`modules!`] below, its params in
//! [`ChainParams`] (below the list) and its genesis section when it has any, and its front-end
//! glue (JSON-RPC, gRPC, CLI). Execution, storage, the state root, the parallel scheduler, the error mapping and
//! the metrics take it as it is: state is generic ([`StateKey`] namespaced by the tag), refusals
//! carry their own code ([`ModuleError`]), events are generic ([`Event`]).
//!
//! Everything here is static dispatch: the list expands to a `match` per operation.

pub mod banking;
pub mod compliance;
pub mod dex;
pub mod hooks;
pub mod identity;
pub mod payments;
pub mod staking;
#[cfg(test)]
pub(crate) mod testkit;

use crate::codec::{put_u8, Decode, DecodeError, Encode, Reader};
use crate::execution::{Applied, BlockEnv, Overlay, StateView, TxError};
use crate::types::{Address, Amount, ChainId, Event, Hash, StateKey, Transaction};

#[cfg(doc)]
use crate::execution::ModuleError;

/// What a call may touch, declared before it runs: the parallel executor schedules by it, and
/// debug builds check every call against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The call declares nothing: any block holding it runs sequentially (fails closed).
    Serial,
    /// Everything the call may touch besides the sender's account and the proposer's fee.
    Keys {
        /// Native accounts it may read or write.
        accounts: Vec<Address>,
        /// Module state it only reads.
        reads: Vec<StateKey>,
        /// Module state it may write (and read).
        writes: Vec<StateKey>,
    },
}

/// One application module. Associated functions only: the list below dispatches statically.
pub trait Module {
    /// Payload tag (INTERFACES §10); also the first byte of every state key of the module.
    const TAG: u8;
    /// The name in JSON-RPC prefixes, events and metrics.
    const NAME: &'static str;
    type Call: Clone + PartialEq + Eq + std::fmt::Debug;

    /// The call's encoding after the module tag.
    fn encode_call(call: &Self::Call, out: &mut Vec<u8>);
    fn decode_call(r: &mut Reader<'_>) -> Result<Self::Call, DecodeError>;

    /// Checks that need no state (ingest runs them too).
    fn check_static(
        call: &Self::Call,
        tx: &Transaction,
        params: &ChainParams,
    ) -> Result<(), TxError>;

    /// Native funds the call moves out of the sender's balance (besides the fee).
    fn native_debit(_call: &Self::Call) -> Amount {
        0
    }

    /// The one other party of a call whose events are implied rather than stored (a transfer's
    /// recipient): the history index lists the transaction under it too.
    fn counterparty(_call: &Self::Call) -> Option<&Address> {
        None
    }

    /// Events a committed call implies without storing them (a transfer's `transfer`, a
    /// payment's `payment`): the hot paths keep their receipts small. Never called for a call
    /// refused on the record.
    fn implied_events(_call: &Self::Call, _sender: &Address) -> Vec<Event> {
        Vec::new()
    }

    /// Parties besides the sender and the counterparty that a call's implied events name (a
    /// batch's recipients): the history index lists the transaction under them too.
    fn parties(_call: &Self::Call) -> Vec<Address> {
        Vec::new()
    }

    /// Digests of the references a call carries (payments' UETRs and end-to-end ids), under
    /// which the node's history index lists the transaction (node-local, not consensus state).
    fn references(_call: &Self::Call, _sender: &Address) -> Vec<Hash> {
        Vec::new()
    }

    /// What the call may touch. The default declares nothing, which runs serially.
    ///
    /// `settled` is the state before the block. A declaration may read from it only *settled*
    /// state: entries that only [`Access::Serial`] calls write (compliance rules, claims). A block
    /// that runs in parallel holds no serial call, so those entries are the same for all of its
    /// transactions and the declaration is exact; a block that holds one runs sequentially.
    fn access<S: StateView>(
        _call: &Self::Call,
        _tx: &Transaction,
        _settled: &S,
    ) -> Result<Access, S::Error> {
        Ok(Access::Serial)
    }

    /// Whether the call may fail after it has written (then the runtime undoes its writes). Calls
    /// that check everything before they write return `false` and save the journal's cost.
    fn may_fail_after_writing(_call: &Self::Call) -> bool {
        true
    }

    /// Applies the call: charges the fee, moves what it moves, returns its events.
    fn apply<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
        tx: &Transaction,
        call: &Self::Call,
    ) -> Result<Result<Applied, TxError>, V::Error>;

    /// Runs at the start of every block, before its transactions, in the order of the list;
    /// returns the block's events. Work that grows with state is bounded per block.
    fn begin_block<V: StateView>(
        _overlay: &mut Overlay<'_, V>,
        _params: &ChainParams,
        _env: &BlockEnv,
    ) -> Result<Vec<Event>, V::Error> {
        Ok(Vec::new())
    }

    /// Runs at the end of every block, after its transactions, in the order of the list.
    fn end_block<V: StateView>(
        _overlay: &mut Overlay<'_, V>,
        _params: &ChainParams,
        _env: &BlockEnv,
    ) -> Result<(), V::Error> {
        Ok(())
    }
}

/// Expands the list of modules into the payload enum and one static dispatch per operation.
macro_rules! modules {
    ($($variant:ident => $module:ty),* $(,)?) => {
        /// A call into one of the node's application modules.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Payload {
            $($variant(<$module as Module>::Call),)*
        }

        /// Payload tag and name of every module, in list order.
        pub const MODULES: &[(u8, &str)] = &[$((<$module>::TAG, <$module>::NAME),)*];

        impl Payload {
            /// Payload tag of the module the call is for.
            pub fn module_tag(&self) -> u8 {
                match self { $(Payload::$variant(_) => <$module>::TAG,)* }
            }

            pub(crate) fn native_debit(&self) -> Amount {
                match self { $(Payload::$variant(c) => <$module>::native_debit(c),)* }
            }

            /// Parties of the call's implied events besides the counterparty (see
            /// [`Module::parties`]).
            pub fn parties(&self) -> Vec<Address> {
                match self { $(Payload::$variant(c) => <$module>::parties(c),)* }
            }

            /// Digests the history index lists the call under (see [`Module::references`]).
            pub fn references(&self, sender: &Address) -> Vec<Hash> {
                match self { $(Payload::$variant(c) => <$module>::references(c, sender),)* }
            }

            /// The other party of a call whose events are implied (see [`Module::counterparty`]).
            pub fn counterparty(&self) -> Option<&Address> {
                match self { $(Payload::$variant(c) => <$module>::counterparty(c),)* }
            }
        }

        $(impl From<<$module as Module>::Call> for Payload {
            fn from(c: <$module as Module>::Call) -> Self {
                Payload::$variant(c)
            }
        })*

        impl Encode for Payload {
            fn encode_to(&self, out: &mut Vec<u8>) {
                match self {
                    $(Payload::$variant(c) => {
                        put_u8(out, <$module>::TAG);
                        <$module>::encode_call(c, out);
                    })*
                }
            }
        }

        impl Decode for Payload {
            const WHAT: &'static str = "payload";
            fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                match r.u8("payload module tag")? {
                    $(tag if tag == <$module>::TAG => {
                        Ok(Payload::$variant(<$module>::decode_call(r)?))
                    })*
                    tag => Err(DecodeError::UnknownTag { what: "payload module", tag }),
                }
            }
        }

        /// The module's static checks of a transaction's call.
        pub fn check_static(tx: &Transaction, params: &ChainParams) -> Result<(), TxError> {
            match &tx.payload {
                $(Payload::$variant(c) => <$module>::check_static(c, tx, params),)*
            }
        }

        /// What a transaction's call may touch, declared on the state before its block (see
        /// [`Module::access`]).
        pub fn access<S: StateView>(tx: &Transaction, settled: &S) -> Result<Access, S::Error> {
            match &tx.payload {
                $(Payload::$variant(c) => <$module>::access(c, tx, settled),)*
            }
        }

        /// Applies a transaction's call, all or nothing.
        pub fn apply<V: StateView>(
            overlay: &mut Overlay<'_, V>,
            params: &ChainParams,
            env: &BlockEnv,
            tx: &Transaction,
        ) -> Result<Result<Applied, TxError>, V::Error> {
            match &tx.payload {
                $(Payload::$variant(c) => {
                    // Calls that check before they write refuse with nothing written, recorded
                    // refusals included.
                    let r = if !<$module>::may_fail_after_writing(c) {
                        <$module>::apply(overlay, params, env, tx, c)?
                    } else {
                        let sp = overlay.savepoint();
                        let r = <$module>::apply(overlay, params, env, tx, c)?;
                        match &r {
                            Ok(_) => overlay.release(sp),
                            Err(_) => overlay.rollback(sp),
                        }
                        r
                    };
                    match r {
                        Err(TxError::Module(e)) if e.record.is_some() => {
                            keep_refusal(overlay, env, tx, e)
                        }
                        r => Ok(r),
                    }
                })*
            }
        }

        /// Events a committed transaction implies without storing them (see
        /// [`Module::implied_events`]); none for one refused on the record (its `receipt` says so),
        /// which moved nothing.
        pub fn implied_events(
            tx: &Transaction,
            receipt: Option<&crate::types::Receipt>,
        ) -> Vec<Event> {
            if receipt.is_some_and(|r| r.outcome != crate::types::Outcome::Success) {
                return Vec::new();
            }
            match &tx.payload {
                $(Payload::$variant(c) => <$module>::implied_events(c, &tx.sender),)*
            }
        }

        /// Every module's begin-block hook, in list order, and the block events they report.
        pub fn begin_block<V: StateView>(
            overlay: &mut Overlay<'_, V>,
            params: &ChainParams,
            env: &BlockEnv,
        ) -> Result<Vec<Event>, V::Error> {
            let mut events = Vec::new();
            $(events.extend(<$module>::begin_block(overlay, params, env)?);)*
            Ok(events)
        }

        /// Every module's end-block hook, in list order.
        pub fn end_block<V: StateView>(
            overlay: &mut Overlay<'_, V>,
            params: &ChainParams,
            env: &BlockEnv,
        ) -> Result<(), V::Error> {
            $(<$module>::end_block(overlay, params, env)?;)*
            Ok(())
        }
    };
}

// The one list of modules: payload variant => module. Order is the order of end-block hooks.
modules! {
    Bank => banking::Banking,
    Staking => staking::Staking,
    Identity => identity::Identity,
    Compliance => compliance::Compliance,
    Payments => payments::Payments,
    Dex => dex::Dex,
}

/// Chain parameters that execution depends on, fixed by genesis: the chain's own and each
/// module's section (a module with parameters adds its field here, beside the list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainParams {
    pub chain_id: ChainId,
    /// The genesis block's hash (zero in `Genesis::params`; the node sets it once genesis is
    /// built): with the chain id, what consensus signatures are bound to.
    pub genesis_hash: [u8; 32],
    pub min_fee: Amount,
    pub staking: staking::StakingParams,
    pub banking: banking::BankingParams,
    pub identity: identity::IdentityParams,
    pub compliance: compliance::ComplianceParams,
    pub payments: payments::PaymentsParams,
    pub dex: dex::DexParams,
}

impl ChainParams {
    /// What every consensus signature of this chain is bound to.
    pub fn chain_tag(&self) -> crate::consensus::context::ChainTag {
        crate::consensus::context::ChainTag {
            chain_id: self.chain_id,
            genesis_hash: self.genesis_hash,
        }
    }
}

/// A refusal kept on the record: with the call's writes undone, the sender pays the fee and uses
/// the nonce, and the receipt holds the refusal and its event.
fn keep_refusal<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    tx: &Transaction,
    mut refusal: crate::execution::ModuleError,
) -> Result<Result<Applied, TxError>, V::Error> {
    let events = refusal.record.take().map(|e| vec![*e]).unwrap_or_default();
    let applied =
        banking::native::fee_only(overlay, tx, &env.proposer, |_| Ok(Ok::<_, TxError>(events)))?;
    Ok(applied.map(|a| Applied {
        refused: Some(refusal),
        ..a
    }))
}

/// A module's own entry at `key` as the block has it, decoded. The module wrote it: a value it
/// cannot decode is corruption, and stops the node rather than fork it.
pub(crate) fn read<T: Decode, V: StateView>(
    overlay: &mut Overlay<'_, V>,
    key: &StateKey,
) -> Result<Option<T>, V::Error> {
    Ok(overlay.read(key)?.map(|b| decode_entry(key, &b)))
}

/// A module's own entry at `key` in a state (queries, declarations), decoded.
pub(crate) fn get<T: Decode, S: StateView>(
    state: &S,
    key: &StateKey,
) -> Result<Option<T>, S::Error> {
    Ok(state.get(key)?.map(|b| decode_entry(key, &b)))
}

/// Writes a module's own entry.
pub(crate) fn write<T: Encode, V: StateView>(overlay: &mut Overlay<'_, V>, key: StateKey, v: &T) {
    overlay.write(key, Some(v.to_bytes()));
}

/// Writes an entry (or deletes it, `None`) that the call has not read: the overlay keeps every
/// entry's value before the block, so it reads it first.
pub(crate) fn put<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    key: StateKey,
    value: Option<Vec<u8>>,
) -> Result<(), V::Error> {
    overlay.read(&key)?;
    overlay.write(key, value);
    Ok(())
}

fn decode_entry<T: Decode>(key: &StateKey, bytes: &[u8]) -> T {
    crate::codec::decode_exact::<T>(bytes, usize::MAX)
        .unwrap_or_else(|e| panic!("state entry {key:?} does not decode ({e}): corrupt state"))
}

/// The name of the module with payload tag `tag`.
pub fn module_name(tag: u8) -> Option<&'static str> {
    MODULES.iter().find(|(t, _)| *t == tag).map(|(_, n)| *n)
}
