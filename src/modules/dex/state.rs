//! The DEX's state in the generic module state. Every key of a market is named by the market id
//! alone, so that a call declares exactly what it touches from the call and the market's
//! settled terms: orders of one market conflict with each other, orders of different markets do
//! not.
//!
//! | key (after tag 6)       | value                                                          |
//! |-------------------------|----------------------------------------------------------------|
//! | `1 | market`            | [`Market`]: its terms and whether it is halted                  |
//! | `2 | market`            | [`MarketState`]: sequences, next expiry, fees, last price       |
//! | `3 | market`            | bids: the side's records ([`super::book`]), raw bytes           |
//! | `4 | market`            | asks, likewise                                                  |
//! | `5 | market`            | [`Pending`]: makers' proceeds not yet paid out, per owner       |
//! | `6 | market | owner`    | [`Held`]: proceeds a settlement could not pay (compliance)      |
//! | `7`                     | [`MarketList`]: every market id, in creation order              |
//! | `8 | market`            | [`Stats`]: the last 24 hours of trading in hourly buckets       |
//! | `9 | market`            | [`super::pool::Pool`]: the constant-product pool's reserves     |
//! | `10 | market | owner`   | [`super::pool::Shares`]: a liquidity provider's shares          |
//!
//! The market's vault ([`super::vault_account`]) holds, per asset, exactly what its orders lock,
//! its pending and held proceeds, its pool's reserves, and its fees: `check_market` in the tests
//! proves it after every block. A market's terms change only by serial calls (create, halt): declarations read them
//! from the settled state.

use crate::codec::{put_u128, put_u32, put_u64, put_u8, Decode, DecodeError, Encode, Reader};
use crate::modules::Module;
use crate::types::{Address, Hash, StateKey};

use super::calls::MarketTerms;
use super::Dex;

const KEY_MARKET: u8 = 1;
const KEY_STATE: u8 = 2;
const KEY_BIDS: u8 = 3;
const KEY_ASKS: u8 = 4;
const KEY_PENDING: u8 = 5;
const KEY_HELD: u8 = 6;
const KEY_MARKETS: u8 = 7;
const KEY_STATS: u8 = 8;
const KEY_POOL: u8 = 9;
const KEY_SHARES: u8 = 10;

pub fn market_key(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_MARKET], &id.0])
}

pub fn state_key(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_STATE], &id.0])
}

pub fn bids_key(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_BIDS], &id.0])
}

pub fn asks_key(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_ASKS], &id.0])
}

pub fn pending_key(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_PENDING], &id.0])
}

pub fn held_key(id: &Hash, owner: &Address) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_HELD], &id.0, &owner.0])
}

pub fn held_prefix(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_HELD], &id.0])
}

pub fn markets_key() -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_MARKETS]])
}

pub fn stats_key(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_STATS], &id.0])
}

pub fn pool_key(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_POOL], &id.0])
}

pub fn shares_key(id: &Hash, owner: &Address) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_SHARES], &id.0, &owner.0])
}

pub fn shares_prefix(id: &Hash) -> StateKey {
    StateKey::new(Dex::TAG, &[&[KEY_SHARES], &id.0])
}

/// A market: its terms, fixed at creation, and whether it is halted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Market {
    pub id: Hash,
    pub terms: MarketTerms,
    pub halted: bool,
    pub created_height: u64,
}

impl Encode for Market {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, 1);
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.terms.base.0);
        out.extend_from_slice(&self.terms.quote.0);
        put_u64(out, self.terms.tick);
        put_u128(out, self.terms.lot);
        put_u128(out, self.terms.min_size);
        put_u32(out, self.terms.maker_fee_bps as u32);
        put_u32(out, self.terms.taker_fee_bps);
        put_u8(out, self.halted as u8);
        put_u64(out, self.created_height);
    }
}

impl Decode for Market {
    const WHAT: &'static str = "market";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version("market", 1)?;
        Ok(Market {
            id: Hash(r.array("market id")?),
            terms: MarketTerms {
                base: Hash(r.array("base")?),
                quote: Hash(r.array("quote")?),
                tick: r.u64("tick")?,
                lot: r.u128("lot")?,
                min_size: r.u128("minimum size")?,
                maker_fee_bps: r.u32("maker fee")? as i32,
                taker_fee_bps: r.u32("taker fee")?,
            },
            halted: r.bool("halted")?,
            created_height: r.u64("created at")?,
        })
    }
}

/// What changes with every call in a market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MarketState {
    /// Incremented by every call (and every begin-block change) that changes the book: a feed
    /// that sees it skip knows it missed a change.
    pub sequence: u64,
    /// The next order's sequence (its id and time priority).
    pub next_order: u64,
    /// The earliest good-til height and time among resting orders (`u64::MAX`: none).
    pub next_expiry_height: u64,
    pub next_expiry_time_ms: u64,
    /// Fees collected, in quote units, held by the vault.
    pub fees: u128,
    pub last_price: u64,
    pub trades: u64,
}

impl MarketState {
    pub fn new() -> Self {
        MarketState {
            next_order: 1,
            next_expiry_height: u64::MAX,
            next_expiry_time_ms: u64::MAX,
            ..MarketState::default()
        }
    }
}

impl Encode for MarketState {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u64(out, self.sequence);
        put_u64(out, self.next_order);
        put_u64(out, self.next_expiry_height);
        put_u64(out, self.next_expiry_time_ms);
        put_u128(out, self.fees);
        put_u64(out, self.last_price);
        put_u64(out, self.trades);
    }
}

impl Decode for MarketState {
    const WHAT: &'static str = "market state";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(MarketState {
            sequence: r.u64("sequence")?,
            next_order: r.u64("next order")?,
            next_expiry_height: r.u64("next expiry height")?,
            next_expiry_time_ms: r.u64("next expiry time")?,
            fees: r.u128("fees")?,
            last_price: r.u64("last price")?,
            trades: r.u64("trades")?,
        })
    }
}

/// Proceeds owed to one owner: base and quote units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Owed {
    pub base: u128,
    pub quote: u128,
}

impl Owed {
    pub fn is_zero(&self) -> bool {
        self.base == 0 && self.quote == 0
    }
}

/// Makers' proceeds (and refunds of orders that left the book without their owner's call),
/// paid out at the start of the next block, by owner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pending(pub Vec<(Address, Owed)>);

impl Pending {
    /// Adds to `owner`'s entry (sorted by owner).
    pub fn add(&mut self, owner: &Address, base: u128, quote: u128) -> Option<()> {
        if base == 0 && quote == 0 {
            return Some(());
        }
        match self.0.binary_search_by(|(a, _)| a.cmp(owner)) {
            Ok(i) => {
                let o = &mut self.0[i].1;
                o.base = o.base.checked_add(base)?;
                o.quote = o.quote.checked_add(quote)?;
            }
            Err(i) => self.0.insert(i, (*owner, Owed { base, quote })),
        }
        Some(())
    }

    pub fn total(&self) -> Owed {
        let mut t = Owed::default();
        for (_, o) in &self.0 {
            t.base += o.base;
            t.quote += o.quote;
        }
        t
    }
}

impl Encode for Pending {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u32(out, self.0.len() as u32);
        for (a, o) in &self.0 {
            out.extend_from_slice(&a.0);
            put_u128(out, o.base);
            put_u128(out, o.quote);
        }
    }

    fn encoded_len_hint(&self) -> usize {
        4 + self.0.len() * 64
    }
}

impl Decode for Pending {
    const WHAT: &'static str = "pending proceeds";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.len_prefix("pending owners", u32::MAX as usize, 64)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push((
                Address(r.array("owner")?),
                Owed {
                    base: r.u128("base")?,
                    quote: r.u128("quote")?,
                },
            ));
        }
        Ok(Pending(v))
    }
}

/// Proceeds a settlement could not pay out; the owner collects them with `settle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Held(pub Owed);

impl Encode for Held {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u128(out, self.0.base);
        put_u128(out, self.0.quote);
    }
}

impl Decode for Held {
    const WHAT: &'static str = "held proceeds";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Held(Owed {
            base: r.u128("base")?,
            quote: r.u128("quote")?,
        }))
    }
}

/// Every market id, in creation order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MarketList(pub Vec<Hash>);

impl Encode for MarketList {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u32(out, self.0.len() as u32);
        for id in &self.0 {
            out.extend_from_slice(&id.0);
        }
    }
}

impl Decode for MarketList {
    const WHAT: &'static str = "market list";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.len_prefix("markets", u32::MAX as usize, 32)?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(Hash(r.array("market")?));
        }
        Ok(MarketList(v))
    }
}

/// Hours of trading kept in [`Stats`].
pub const STATS_HOURS: usize = 24;

/// One hour of trading (block time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hour {
    /// Hours since the epoch; 0: an empty bucket.
    pub hour: u64,
    pub open: u64,
    pub high: u64,
    pub low: u64,
    pub close: u64,
    /// Base units traded.
    pub volume_base: u128,
    /// Quote units traded.
    pub volume_quote: u128,
    pub trades: u64,
}

/// The last 24 hours of a market's trading, by hour of block time: bucket `hour % 24`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats(pub [Hour; STATS_HOURS]);

impl Default for Stats {
    fn default() -> Self {
        Stats([Hour::default(); STATS_HOURS])
    }
}

impl Stats {
    /// Adds a trade of `lots` at `price` at block time `time_ms`.
    pub fn add(&mut self, time_ms: u64, price: u64, base: u128, quote: u128) {
        let hour = time_ms / 3_600_000 + 1;
        let b = &mut self.0[(hour % STATS_HOURS as u64) as usize];
        if b.hour != hour {
            *b = Hour {
                hour,
                open: price,
                high: price,
                low: price,
                ..Hour::default()
            };
        }
        b.high = b.high.max(price);
        b.low = b.low.min(price);
        b.close = price;
        b.volume_base = b.volume_base.saturating_add(base);
        b.volume_quote = b.volume_quote.saturating_add(quote);
        b.trades += 1;
    }

    /// The buckets within the 24 hours before `time_ms`, oldest first.
    pub fn window(&self, time_ms: u64) -> Vec<Hour> {
        let now = time_ms / 3_600_000 + 1;
        let mut v: Vec<Hour> = self
            .0
            .iter()
            .filter(|b| b.hour != 0 && b.hour + (STATS_HOURS as u64) > now && b.hour <= now)
            .copied()
            .collect();
        v.sort_by_key(|b| b.hour);
        v
    }
}

impl Encode for Stats {
    fn encode_to(&self, out: &mut Vec<u8>) {
        for b in &self.0 {
            put_u64(out, b.hour);
            put_u64(out, b.open);
            put_u64(out, b.high);
            put_u64(out, b.low);
            put_u64(out, b.close);
            put_u128(out, b.volume_base);
            put_u128(out, b.volume_quote);
            put_u64(out, b.trades);
        }
    }

    fn encoded_len_hint(&self) -> usize {
        STATS_HOURS * 80
    }
}

impl Decode for Stats {
    const WHAT: &'static str = "market stats";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut s = Stats::default();
        for b in s.0.iter_mut() {
            *b = Hour {
                hour: r.u64("hour")?,
                open: r.u64("open")?,
                high: r.u64("high")?,
                low: r.u64("low")?,
                close: r.u64("close")?,
                volume_base: r.u128("base volume")?,
                volume_quote: r.u128("quote volume")?,
                trades: r.u64("trades")?,
            };
        }
        Ok(s)
    }
}
