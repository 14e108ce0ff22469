//! The DEX module (payload tag 6): central limit order books matched by the validators in block
//! order, with markets opened by the market authority of genesis.
//!
//! Owns: markets (a pair of issued assets with tick, lot, minimum size and fees; halted or not),
//! their books ([`book`]: price-time priority, self-trade prevention, good-til expiry), the
//! vault of each market (a module account holding locks, makers' proceeds and fees), makers'
//! pending and held proceeds, and 24 hours of trading statistics per market.
//!
//! Invariants (property-tested in `tests.rs`, fuzzed in `fuzz/fuzz_targets/dex_book.rs`):
//! - at rest no book is crossed, and every resting order's lock covers what it may still pay;
//! - a market's vault holds, per asset, exactly its orders' locks, its pending and held proceeds
//!   and (in quote) its fees: supply is conserved and nothing is held where queries cannot see
//!   it;
//! - matching is a pure function of the book, the call and the block's height and time, applied
//!   in block order; a call touches only its market's keys and its sender's balances, so orders
//!   of one market conflict and orders of different markets run in parallel;
//! - a refused call changes nothing (its writes are undone by the runtime's savepoint); a fill
//!   or kill that cannot fill, a post-only that would cross, a duplicate client id: refused.

pub mod book;
pub mod calls;
pub mod error;
pub mod query;
pub mod state;

mod apply;
#[cfg(test)]
mod book_model;
pub mod pool;
mod settle;
mod swap;
#[cfg(test)]
pub(crate) mod tests;

use serde::{Deserialize, Serialize};

use super::banking::transfer_access;
use super::{get, Access, Module};
use crate::codec::{DecodeError, Reader};
use crate::execution::{Applied, BlockEnv, ChainParams, Overlay, StateView, TxError};
use crate::types::{Address, Event, Hash, StateKey, Transaction};

pub use calls::{market_id, DexCall, MarketTerms, NewOrder, OrderRef, TimeInForce};
pub use error::DexError;
pub use state::{Market, MarketState};

use state::{asks_key, bids_key, held_key, market_key, pending_key, state_key, stats_key};

/// DEX parameters, fixed by genesis (`[dex]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DexParams {
    /// The module's feature switch.
    pub enabled: bool,
    /// Who may open, halt and resume markets (none: no markets).
    pub authority: Option<Address>,
    /// Most markets on the chain.
    pub markets_max: u32,
    /// Most orders of one `place` call (at most 64, the protocol bound).
    pub orders_per_tx_max: u32,
    /// Most resting orders on one side of one book; more are refused (`book_full`).
    pub orders_per_side_max: u32,
    /// Most owners' proceeds paid out at the start of one block (the rest wait, in order).
    pub settlements_per_block_max: u32,
    /// Most expired orders removed at the start of one block (the rest wait; they never fill).
    pub expiries_per_block_max: u32,
    /// The fee of a pool opened from now on, basis points of what a swap pays in (at most 1000);
    /// it stays in the pool for its liquidity providers.
    pub pool_fee_bps: u32,
}

impl Default for DexParams {
    fn default() -> Self {
        Self {
            enabled: true,
            authority: None,
            markets_max: 256,
            orders_per_tx_max: 32,
            orders_per_side_max: 10_000,
            settlements_per_block_max: 4_096,
            expiries_per_block_max: 4_096,
            pool_fee_bps: 30,
        }
    }
}

impl DexParams {
    pub fn validate(&self) -> Result<(), String> {
        if self.orders_per_tx_max == 0 || self.orders_per_tx_max as usize > calls::ORDERS_PER_TX_MAX
        {
            return Err(format!(
                "dex.orders_per_tx_max must be between 1 and {}",
                calls::ORDERS_PER_TX_MAX
            ));
        }
        if self.markets_max == 0
            || self.orders_per_side_max == 0
            || self.settlements_per_block_max == 0
            || self.expiries_per_block_max == 0
        {
            return Err("dex limits must be at least 1".into());
        }
        if self.pool_fee_bps > calls::TAKER_FEE_BPS_MAX {
            return Err("dex.pool_fee_bps must be at most 1000".into());
        }
        if self.orders_per_side_max > 100_000 {
            return Err(
                "dex.orders_per_side_max must be at most 100000 (a side is one entry)".into(),
            );
        }
        Ok(())
    }
}

/// The first bytes of every DEX vault's address: module accounts are recognized by them.
pub const VAULT_PREFIX: [u8; 12] = *b"\0mamey/vault";

/// The vault of a market: a module account no key controls (its address is a hash under
/// [`VAULT_PREFIX`]); only this module moves funds out of it.
pub fn vault_account(market: &Hash) -> Address {
    let h = Hash::sha256_tagged(b"mamey/module-account", &[b"dex/vault", &market.0]);
    let mut a = [0u8; 32];
    a[..12].copy_from_slice(&VAULT_PREFIX);
    a[12..].copy_from_slice(&h.0[..20]);
    Address(a)
}

/// Whether `address` is a DEX vault.
pub fn is_vault(address: &Address) -> bool {
    address.0[..12] == VAULT_PREFIX
}

/// The digest under which the node's history index lists a market's trading calls (how
/// `dex_getTrades` finds a market's trades, newest first).
pub fn market_history_digest(market: &Hash) -> Hash {
    Hash::sha256_tagged(b"mamey/dex-market-history", &[&market.0])
}

/// The DEX module.
pub struct Dex;

impl Module for Dex {
    const TAG: u8 = 6;
    const NAME: &'static str = "dex";
    type Call = DexCall;

    fn encode_call(call: &DexCall, out: &mut Vec<u8>) {
        calls::encode(call, out)
    }

    fn decode_call(r: &mut Reader<'_>) -> Result<DexCall, DecodeError> {
        calls::decode(r)
    }

    fn check_static(
        call: &DexCall,
        _tx: &Transaction,
        params: &ChainParams,
    ) -> Result<(), TxError> {
        if !params.dex.enabled {
            return Err(DexError::Disabled.into());
        }
        calls::check_static(call, params.dex.orders_per_tx_max as usize)?;
        Ok(())
    }

    fn references(call: &DexCall, _sender: &Address) -> Vec<Hash> {
        match call {
            DexCall::Place { market, .. }
            | DexCall::Replace { market, .. }
            | DexCall::Swap { market, .. } => vec![market_history_digest(market)],
            _ => Vec::new(),
        }
    }

    fn access<S: StateView>(
        call: &DexCall,
        tx: &Transaction,
        settled: &S,
    ) -> Result<Access, S::Error> {
        let market = match call {
            DexCall::CreateMarket(_) | DexCall::SetHalted { .. } => return Ok(Access::Serial),
            DexCall::Place { market, .. }
            | DexCall::Cancel { market, .. }
            | DexCall::CancelAll { market }
            | DexCall::Replace { market, .. }
            | DexCall::Settle { market }
            | DexCall::AddLiquidity { market, .. }
            | DexCall::RemoveLiquidity { market, .. }
            | DexCall::Swap { market, .. } => market,
        };
        // A market's terms change only by serial calls: the settled ones are the block's.
        let Some(m) = get::<Market, S>(settled, &market_key(market))? else {
            return Ok(Access::Serial);
        };
        let vault = vault_account(market);
        let mut reads = vec![market_key(market)];
        let mut writes: Vec<StateKey> = vec![
            state_key(market),
            bids_key(market),
            asks_key(market),
            pending_key(market),
            stats_key(market),
        ];
        if matches!(call, DexCall::Settle { .. }) {
            writes.push(held_key(market, &tx.sender));
        }
        if matches!(
            call,
            DexCall::AddLiquidity { .. } | DexCall::RemoveLiquidity { .. } | DexCall::Swap { .. }
        ) {
            writes.push(state::pool_key(market));
            writes.push(state::shares_key(market, &tx.sender));
        }
        for asset in [&m.terms.base, &m.terms.quote] {
            transfer_access(settled, asset, &tx.sender, &vault, &mut reads, &mut writes)?;
            transfer_access(settled, asset, &vault, &tx.sender, &mut reads, &mut writes)?;
        }
        // Both directions name the same keys: each once (a written key is read too), so that
        // the block's scheduler and prefetch sort and hash a third as many.
        writes.sort_unstable();
        writes.dedup();
        reads.sort_unstable();
        reads.dedup();
        reads.retain(|k| writes.binary_search(k).is_err());
        Ok(Access::Keys {
            accounts: Vec::new(),
            reads,
            writes,
        })
    }

    fn apply<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
        tx: &Transaction,
        call: &DexCall,
    ) -> Result<Result<Applied, TxError>, V::Error> {
        apply::apply(overlay, params, env, tx, call)
    }

    fn begin_block<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
    ) -> Result<Vec<Event>, V::Error> {
        settle::begin_block(overlay, &params.dex, env)
    }
}
