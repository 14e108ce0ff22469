//! The DEX API: markets, L2 books with their sequence and height, an account's open orders and
//! proceeds, recent trades and 24 h statistics. JSON-RPC `dex_*`, gRPC `DEXService` and the CLI
//! serve these views. Prices are quote units per lot and sizes base units, as decimal strings.

use serde::{Deserialize, Serialize};

use super::{Api, ApiError, ErrorCode};
use crate::modules::dex::book::{Book, Expiry, Resting, Side};
use crate::modules::dex::state::{Hour, Market, MarketState, Owed};
use crate::modules::dex::{market_history_digest, query, vault_account};
use crate::storage::TxLocation;
use crate::types::{Address, AttrValue, Hash};

/// Price levels a book query returns when the caller names none.
pub const DEPTH_DEFAULT: usize = 20;
/// Trades a trades query returns when the caller names none, and at most.
pub const TRADES_DEFAULT: usize = 100;
pub const TRADES_MAX: usize = 1_000;
/// Transactions of a market's history one trades query walks at most.
const TRADES_SCAN_MAX: usize = 10_000;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("internal error: {e}"))
}

fn unknown_market(id: &Hash) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("unknown market {}", id.to_hex()),
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketView {
    pub id: Hash,
    pub base: Hash,
    pub quote: Hash,
    /// Quote units; prices are multiples of it.
    pub tick: String,
    /// Base units per lot; sizes are multiples of it.
    pub lot: String,
    pub min_size: String,
    pub maker_fee_bps: i32,
    pub taker_fee_bps: u32,
    pub halted: bool,
    /// The module account that holds the market's locks, proceeds and fees.
    pub vault: Address,
    pub created_height: u64,
    /// The book's sequence: it moves with every change of the book.
    pub sequence: u64,
    pub best_bid: Option<String>,
    pub best_ask: Option<String>,
    pub bid_orders: usize,
    pub ask_orders: usize,
    pub last_price: Option<String>,
    pub trades: u64,
    /// Fees collected, quote units (held by the vault).
    pub fees: String,
    pub height: u64,
}

/// L2 depth: `[price, size]` per level, best first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookView {
    pub market: Hash,
    pub bids: Vec<[String; 2]>,
    pub asks: Vec<[String; 2]>,
    pub sequence: u64,
    pub height: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    /// The order's id in its market (its sequence).
    pub order: u64,
    pub client_id: u64,
    pub owner: Address,
    pub side: String,
    pub price: String,
    /// Base units still open.
    pub size: String,
    /// Locked for it: quote units for a bid, base units for an ask.
    pub locked: String,
    /// `{"height": h}`, `{"time_ms": t}` or null.
    pub expires: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwedView {
    pub base: String,
    pub quote: String,
}

impl From<Owed> for OwedView {
    fn from(o: Owed) -> Self {
        OwedView {
            base: o.base.to_string(),
            quote: o.quote.to_string(),
        }
    }
}

/// An account in one market: its open orders and its proceeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DexAccountView {
    pub market: Hash,
    pub address: Address,
    pub orders: Vec<OrderView>,
    /// Proceeds paid out at the start of the next block.
    pub pending: OwedView,
    /// Proceeds a payout could not pay (a compliance refusal): `dex settle` collects them.
    pub held: OwedView,
    pub height: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeView {
    pub market: Hash,
    pub price: String,
    pub size: String,
    pub quote: String,
    pub maker: Address,
    pub taker: Address,
    pub maker_order: u64,
    pub taker_order: u64,
    /// The taker's side: `buy` or `sell`.
    pub taker_side: String,
    pub sequence: u64,
    pub height: u64,
    pub transaction: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourView {
    pub hour_start_ms: u64,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume_base: String,
    pub volume_quote: String,
    pub trades: u64,
}

/// The last 24 hours of block time, from hourly buckets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsView {
    pub market: Hash,
    pub open: Option<String>,
    pub high: Option<String>,
    pub low: Option<String>,
    pub last: Option<String>,
    pub volume_base: String,
    pub volume_quote: String,
    pub trades: u64,
    pub hours: Vec<HourView>,
    pub height: u64,
}

fn market_view(m: &Market, s: &MarketState, book: &Book, height: u64) -> MarketView {
    let t = &m.terms;
    MarketView {
        id: m.id,
        base: t.base,
        quote: t.quote,
        tick: t.tick.to_string(),
        lot: t.lot.to_string(),
        min_size: t.min_size.to_string(),
        maker_fee_bps: t.maker_fee_bps,
        taker_fee_bps: t.taker_fee_bps,
        halted: m.halted,
        vault: vault_account(&m.id),
        created_height: m.created_height,
        sequence: s.sequence,
        best_bid: book.bids.best().map(|r| r.price.to_string()),
        best_ask: book.asks.best().map(|r| r.price.to_string()),
        bid_orders: book.bids.len(),
        ask_orders: book.asks.len(),
        last_price: (s.trades > 0).then(|| s.last_price.to_string()),
        trades: s.trades,
        fees: s.fees.to_string(),
        height,
    }
}

pub fn order_view(side: Side, r: &Resting, lot: u128) -> OrderView {
    OrderView {
        order: r.seq,
        client_id: r.client_id,
        owner: r.owner,
        side: side.name().into(),
        price: r.price.to_string(),
        size: (u128::from(r.lots) * lot).to_string(),
        locked: r.locked.to_string(),
        expires: match r.expiry {
            Expiry::Never => None,
            Expiry::Height(h) => Some(serde_json::json!({ "height": h })),
            Expiry::TimeMs(t) => Some(serde_json::json!({ "time_ms": t })),
        },
    }
}

/// Up to `depth` levels of a book as decimal strings.
pub fn levels(book: &Book, side: Side, depth: usize, lot: u128) -> Vec<[String; 2]> {
    book.side(side)
        .levels(depth)
        .into_iter()
        // A level's lots times the lot can pass u128 only for absurd markets: saturate.
        .map(|(p, lots)| [p.to_string(), lots.saturating_mul(lot).to_string()])
        .collect()
}

/// A market's constant-product pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    pub market: Hash,
    /// Base and quote units held (by the market's vault).
    pub base: String,
    pub quote: String,
    /// Shares outstanding, the locked minimum included.
    pub shares: String,
    pub fee_bps: u32,
    /// Quote units per lot at the pool's current reserves (rounded down), before its fee.
    pub price: Option<String>,
    /// The asked address's shares, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_shares: Option<String>,
    pub height: u64,
}

/// A book feed's message (gRPC `StreamBook`, WebSocket `["dexBook", market]`): the snapshot, or
/// the levels that changed since the previous message (size "0": the level is gone) with the
/// sequence it had, so that a client sees a gap (`prev_sequence` is not the sequence it holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookUpdateView {
    pub market: Hash,
    pub snapshot: bool,
    pub bids: Vec<[String; 2]>,
    pub asks: Vec<[String; 2]>,
    pub sequence: u64,
    /// The sequence of the previous message (0 for a snapshot).
    pub prev_sequence: u64,
    pub height: u64,
}

impl BookUpdateView {
    pub fn snapshot(b: &BookView) -> Self {
        BookUpdateView {
            market: b.market,
            snapshot: true,
            bids: b.bids.clone(),
            asks: b.asks.clone(),
            sequence: b.sequence,
            prev_sequence: 0,
            height: b.height,
        }
    }

    /// What changed from `old` to `new`.
    pub fn delta(old: &BookView, new: &BookView) -> Self {
        BookUpdateView {
            market: new.market,
            snapshot: false,
            bids: changed_levels(&old.bids, &new.bids, true),
            asks: changed_levels(&old.asks, &new.asks, false),
            sequence: new.sequence,
            prev_sequence: old.sequence,
            height: new.height,
        }
    }
}

/// The levels of one side that differ between `old` and `new` (both best first), best first; a
/// level in `old` that `new` lacks comes with size "0".
pub fn changed_levels(old: &[[String; 2]], new: &[[String; 2]], bids: bool) -> Vec<[String; 2]> {
    use std::collections::BTreeMap;
    let by_price = |levels: &[[String; 2]]| -> BTreeMap<u128, [String; 2]> {
        levels
            .iter()
            .map(|l| (l[0].parse::<u128>().unwrap_or(0), l.clone()))
            .collect()
    };
    let (old, new) = (by_price(old), by_price(new));
    let mut out: BTreeMap<u128, [String; 2]> = BTreeMap::new();
    for (k, level) in &new {
        if old.get(k).map(|l| &l[1]) != Some(&level[1]) {
            out.insert(*k, level.clone());
        }
    }
    for (k, level) in &old {
        if !new.contains_key(k) {
            out.insert(*k, [level[0].clone(), "0".into()]);
        }
    }
    if bids {
        out.into_values().rev().collect()
    } else {
        out.into_values().collect()
    }
}

fn text(v: Option<&AttrValue>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

impl Api {
    fn dex_market_at<S: crate::execution::StateView>(
        state: &S,
        id: &Hash,
    ) -> Result<Market, ApiError> {
        query::market(state, id)
            .map_err(internal)?
            .ok_or_else(|| unknown_market(id))
    }

    /// The market's book sequence at the committed head (cheap: one small entry).
    pub fn dex_sequence(&self, id: &Hash) -> Result<u64, ApiError> {
        let r = self.storage.reader().map_err(internal)?;
        Ok(query::market_state(&r, id).map_err(internal)?.sequence)
    }

    /// `dex_getMarkets`: every market.
    pub fn dex_markets(&self) -> Result<Vec<MarketView>, ApiError> {
        let r = self.storage.reader().map_err(internal)?;
        let height = r.head().map_err(internal)?.height;
        query::markets(&r)
            .map_err(internal)?
            .iter()
            .map(|m| {
                let s = query::market_state(&r, &m.id).map_err(internal)?;
                let book = query::book(&r, &m.id).map_err(internal)?;
                Ok(market_view(m, &s, &book, height))
            })
            .collect()
    }

    /// `dex_getMarket`: one market with its top of book.
    pub fn dex_market(&self, id: &Hash) -> Result<MarketView, ApiError> {
        let r = self.storage.reader().map_err(internal)?;
        let height = r.head().map_err(internal)?.height;
        let m = Self::dex_market_at(&r, id)?;
        let s = query::market_state(&r, id).map_err(internal)?;
        let book = query::book(&r, id).map_err(internal)?;
        Ok(market_view(&m, &s, &book, height))
    }

    /// `dex_getBook`: L2 depth, best first, with the book's sequence and the height it is at.
    pub fn dex_book(&self, id: &Hash, depth: Option<usize>) -> Result<BookView, ApiError> {
        let depth = depth.unwrap_or(DEPTH_DEFAULT).clamp(1, query::DEPTH_MAX);
        let r = self.storage.reader().map_err(internal)?;
        let height = r.head().map_err(internal)?.height;
        let m = Self::dex_market_at(&r, id)?;
        let s = query::market_state(&r, id).map_err(internal)?;
        let book = query::book(&r, id).map_err(internal)?;
        Ok(BookView {
            market: *id,
            bids: levels(&book, Side::Buy, depth, m.terms.lot),
            asks: levels(&book, Side::Sell, depth, m.terms.lot),
            sequence: s.sequence,
            height,
        })
    }

    /// `dex_getAccount`: an account's open orders in a market and its proceeds.
    pub fn dex_account(&self, id: &Hash, owner: &Address) -> Result<DexAccountView, ApiError> {
        let r = self.storage.reader().map_err(internal)?;
        let height = r.head().map_err(internal)?.height;
        let m = Self::dex_market_at(&r, id)?;
        let orders = query::orders_of(&r, id, owner)
            .map_err(internal)?
            .iter()
            .map(|(side, o)| order_view(*side, o, m.terms.lot))
            .collect();
        let (pending, held) = query::proceeds_of(&r, id, owner).map_err(internal)?;
        Ok(DexAccountView {
            market: *id,
            address: *owner,
            orders,
            pending: pending.into(),
            held: held.into(),
            height,
        })
    }

    /// `dex_getTrades`: the market's trades, newest first, from the transactions the history
    /// index lists under the market.
    pub fn dex_trades(&self, id: &Hash, limit: Option<usize>) -> Result<Vec<TradeView>, ApiError> {
        let limit = limit.unwrap_or(TRADES_DEFAULT).clamp(1, TRADES_MAX);
        {
            let r = self.storage.reader().map_err(internal)?;
            Self::dex_market_at(&r, id)?;
        }
        let key = Address(market_history_digest(id).0);
        let mut out = Vec::new();
        let mut before: Option<TxLocation> = None;
        let mut scanned = 0;
        // Receipts come a block at a time: consecutive locations share their block's.
        let mut block: Option<(u64, Vec<crate::types::Receipt>)> = None;
        while out.len() < limit && scanned < TRADES_SCAN_MAX {
            let page = self
                .storage
                .account_history(&key, before, crate::storage::HISTORY_PAGE_MAX)
                .map_err(internal)?;
            if page.is_empty() {
                break;
            }
            for loc in &page {
                scanned += 1;
                if block.as_ref().map(|(h, _)| *h) != Some(loc.height) {
                    block = Some((
                        loc.height,
                        self.storage.receipts(loc.height).map_err(internal)?,
                    ));
                }
                let Some(receipt) = block.as_ref().and_then(|(_, r)| r.get(loc.index as usize))
                else {
                    continue;
                };
                // Newest first within a transaction too.
                for e in receipt.events.iter().rev() {
                    if e.module != <crate::modules::dex::Dex as crate::modules::Module>::TAG
                        || e.kind != "trade"
                    {
                        continue;
                    }
                    let get = |k: &str| e.attributes.iter().find(|(n, _)| n == k).map(|(_, v)| v);
                    if get("market") != Some(&AttrValue::Id(*id)) {
                        continue;
                    }
                    let addr = |k: &str| match get(k) {
                        Some(AttrValue::Address(a)) => *a,
                        _ => Address([0; 32]),
                    };
                    let num = |k: &str| text(get(k)).parse::<u64>().unwrap_or(0);
                    out.push(TradeView {
                        market: *id,
                        price: text(get("price")),
                        size: text(get("size")),
                        quote: text(get("quote")),
                        maker: addr("maker"),
                        taker: addr("taker"),
                        maker_order: num("maker_order"),
                        taker_order: num("taker_order"),
                        taker_side: text(get("taker_side")),
                        sequence: num("sequence"),
                        height: loc.height,
                        transaction: receipt.tx_id,
                    });
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            before = page.last().copied();
        }
        Ok(out)
    }

    /// `dex_getPool`: the market's pool (and an owner's shares of it).
    pub fn dex_pool(&self, id: &Hash, owner: Option<&Address>) -> Result<PoolView, ApiError> {
        let r = self.storage.reader().map_err(internal)?;
        let height = r.head().map_err(internal)?.height;
        let m = Self::dex_market_at(&r, id)?;
        let p = query::pool(&r, id).map_err(internal)?.unwrap_or_default();
        let owner_shares = match owner {
            Some(o) => Some(query::shares_of(&r, id, o).map_err(internal)?.to_string()),
            None => None,
        };
        Ok(PoolView {
            market: *id,
            base: p.base.to_string(),
            quote: p.quote.to_string(),
            shares: p.shares.to_string(),
            fee_bps: p.fee_bps,
            // Reserves are at most 2^62, but a market's lot may be large: checked.
            price: (p.base > 0)
                .then(|| {
                    p.quote
                        .checked_mul(m.terms.lot)
                        .map(|v| (v / p.base).to_string())
                })
                .flatten(),
            owner_shares,
            height,
        })
    }

    /// `dex_getStats`: the last 24 hours of block time.
    pub fn dex_stats(&self, id: &Hash) -> Result<StatsView, ApiError> {
        let r = self.storage.reader().map_err(internal)?;
        let head = r.head().map_err(internal)?;
        Self::dex_market_at(&r, id)?;
        let hours: Vec<Hour> = query::stats(&r, id, head.timestamp_ms).map_err(internal)?;
        let mut v = StatsView {
            market: *id,
            open: hours.first().map(|h| h.open.to_string()),
            high: hours.iter().map(|h| h.high).max().map(|p| p.to_string()),
            low: hours.iter().map(|h| h.low).min().map(|p| p.to_string()),
            last: hours.last().map(|h| h.close.to_string()),
            volume_base: hours
                .iter()
                .map(|h| h.volume_base)
                .sum::<u128>()
                .to_string(),
            volume_quote: hours
                .iter()
                .map(|h| h.volume_quote)
                .sum::<u128>()
                .to_string(),
            trades: hours.iter().map(|h| h.trades).sum(),
            hours: Vec::new(),
            height: head.height,
        };
        v.hours = hours
            .iter()
            .map(|h| HourView {
                hour_start_ms: (h.hour - 1) * 3_600_000,
                open: h.open.to_string(),
                high: h.high.to_string(),
                low: h.low.to_string(),
                close: h.close.to_string(),
                volume_base: h.volume_base.to_string(),
                volume_quote: h.volume_quote.to_string(),
                trades: h.trades,
            })
            .collect();
        Ok(v)
    }
}
