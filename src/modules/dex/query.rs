//! DEX queries over committed state: markets, books, an account's open orders and proceeds,
//! statistics. Read the book and the market state from one state so that the book and its
//! sequence agree.

use super::book::{Book, BookSide, Resting, Side};
use super::pool::{Pool, Shares};
use super::state::{
    asks_key, bids_key, held_key, market_key, markets_key, pending_key, state_key, stats_key, Held,
    Hour, Market, MarketList, MarketState, Owed, Pending, Stats,
};
use super::state::{pool_key, shares_key, shares_prefix};
use crate::execution::{StateScan, StateView};
use crate::modules::get;
use crate::types::{Address, Hash};

/// Most price levels a depth query returns.
pub const DEPTH_MAX: usize = 1_000;

pub fn markets<S: StateView>(state: &S) -> Result<Vec<Market>, S::Error> {
    let list: MarketList = get(state, &markets_key())?.unwrap_or_default();
    let mut out = Vec::with_capacity(list.0.len());
    for id in &list.0 {
        out.extend(market(state, id)?);
    }
    Ok(out)
}

pub fn market<S: StateView>(state: &S, id: &Hash) -> Result<Option<Market>, S::Error> {
    get(state, &market_key(id))
}

pub fn market_state<S: StateView>(state: &S, id: &Hash) -> Result<MarketState, S::Error> {
    Ok(get(state, &state_key(id))?.unwrap_or_else(MarketState::new))
}

fn side<S: StateView>(state: &S, id: &Hash, side: Side) -> Result<BookSide, S::Error> {
    let key = match side {
        Side::Buy => bids_key(id),
        Side::Sell => asks_key(id),
    };
    let bytes = state.get(&key)?.unwrap_or_default();
    Ok(BookSide::from_bytes(side, bytes)
        .unwrap_or_else(|| panic!("book side {key:?} is not whole records: corrupt state")))
}

pub fn book<S: StateView>(state: &S, id: &Hash) -> Result<Book, S::Error> {
    Ok(Book {
        bids: side(state, id, Side::Buy)?,
        asks: side(state, id, Side::Sell)?,
    })
}

/// An account's open orders in a market, bids then asks, best first.
pub fn orders_of<S: StateView>(
    state: &S,
    id: &Hash,
    owner: &Address,
) -> Result<Vec<(Side, Resting)>, S::Error> {
    let b = book(state, id)?;
    let mut out = Vec::new();
    for s in [&b.bids, &b.asks] {
        for i in s.of_owner(owner) {
            out.push((s.side(), s.get(i)));
        }
    }
    Ok(out)
}

/// Proceeds waiting for the next block's payout, and proceeds held after a refused payout.
pub fn proceeds_of<S: StateView>(
    state: &S,
    id: &Hash,
    owner: &Address,
) -> Result<(Owed, Owed), S::Error> {
    let pending: Pending = get(state, &pending_key(id))?.unwrap_or_default();
    let waiting = pending
        .0
        .iter()
        .find(|(a, _)| a == owner)
        .map(|(_, o)| *o)
        .unwrap_or_default();
    let held = get::<Held, S>(state, &held_key(id, owner))?.map_or(Owed::default(), |h| h.0);
    Ok((waiting, held))
}

/// All pending proceeds of a market.
pub fn pending<S: StateView>(state: &S, id: &Hash) -> Result<Pending, S::Error> {
    Ok(get(state, &pending_key(id))?.unwrap_or_default())
}

/// The hours of trading within the 24 hours before `time_ms`, oldest first.
pub fn stats<S: StateView>(state: &S, id: &Hash, time_ms: u64) -> Result<Vec<Hour>, S::Error> {
    let s: Stats = get(state, &stats_key(id))?.unwrap_or_default();
    Ok(s.window(time_ms))
}

/// The market's pool, if it was opened.
pub fn pool<S: StateView>(state: &S, id: &Hash) -> Result<Option<Pool>, S::Error> {
    get(state, &pool_key(id))
}

/// An owner's shares of the market's pool.
pub fn shares_of<S: StateView>(state: &S, id: &Hash, owner: &Address) -> Result<u128, S::Error> {
    Ok(get::<Shares, S>(state, &shares_key(id, owner))?.map_or(0, |s| s.0))
}

/// Every provider's shares of the market's pool, by owner (bounded by the number of providers).
pub fn shares<S: StateScan>(state: &S, id: &Hash) -> Result<Vec<(Address, u128)>, S::Error> {
    let prefix = shares_prefix(id);
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let rows = state.scan(&prefix, after.as_ref(), 1_000)?;
        let Some((last, _)) = rows.last() else { break };
        after = Some(last.clone());
        for (k, v) in &rows {
            let s = k.suffix();
            let mut a = [0u8; 32];
            a.copy_from_slice(&s[s.len() - 32..]);
            let shares: Shares = crate::codec::decode_exact(v, usize::MAX)
                .unwrap_or_else(|e| panic!("pool shares {k:?} do not decode ({e}): corrupt state"));
            out.push((Address(a), shares.0));
        }
        if rows.len() < 1_000 {
            break;
        }
    }
    Ok(out)
}
