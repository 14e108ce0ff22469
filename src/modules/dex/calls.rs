//! DEX calls and their encoding (after payload tag 6), and the checks that need no state.
//!
//! Units: a market's **price** is quote units (the quote asset's base units) per **lot**, a
//! lot being `lot` base units of the base asset; an order's **size** is in base units and a
//! multiple of the lot. So a fill of `n` lots at price `p` moves exactly `n × lot` base units and
//! `n × p` quote units: no rounding anywhere but the fees (basis points of the quote notional:
//! a taker's rounded up, a maker's fee and rebate rounded down).

use crate::codec::{put_u128, put_u32, put_u64, put_u8, DecodeError, Reader};
use crate::modules::banking::AssetId;
use crate::types::Hash;

use super::book::{Expiry, SelfTrade, Side};
use super::error::DexError;

/// Protocol bound on the orders of one `place` call (genesis `dex.orders_per_tx_max` is at most
/// this).
pub const ORDERS_PER_TX_MAX: usize = 64;
/// Highest taker fee: 10 % (1,000 basis points).
pub const TAKER_FEE_BPS_MAX: u32 = 1_000;

/// How long an order may rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Good till a block height or a block time (the order leaves the book at the start of the
    /// block where it expires).
    GoodTil(Expiry),
    /// Immediate or cancel: what does not fill at once is cancelled.
    Ioc,
    /// Fill or kill: fills entirely at once, or is refused and nothing happens.
    Fok,
    /// Rests only: refused if any part of it would take liquidity.
    PostOnly,
}

impl TimeInForce {
    pub fn name(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "gtc",
            TimeInForce::GoodTil(Expiry::Height(_)) => "good_til_height",
            TimeInForce::GoodTil(_) => "good_til_time",
            TimeInForce::Ioc => "ioc",
            TimeInForce::Fok => "fok",
            TimeInForce::PostOnly => "post_only",
        }
    }

    /// Whether what does not fill at once rests on the book.
    pub fn rests(self) -> bool {
        matches!(
            self,
            TimeInForce::Gtc | TimeInForce::GoodTil(_) | TimeInForce::PostOnly
        )
    }
}

/// A limit order, or a market order: immediate-or-cancel down to a worst price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrder {
    /// The owner's id for it, unique among the owner's open orders in the market.
    pub client_id: u64,
    pub side: Side,
    /// Limit price (quote units per lot); for a market order, the worst price it accepts.
    pub price: u64,
    /// Base units, a multiple of the market's lot.
    pub size: u128,
    pub tif: TimeInForce,
    /// A market order: IOC at any price up to `price`; `tif` must be IOC or FOK.
    pub market: bool,
    pub self_trade: SelfTrade,
}

/// Which of the sender's orders a cancel names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRef {
    /// By the owner's client id.
    Client(u64),
    /// By the market's order sequence (the order id the book shows).
    Seq(u64),
}

/// A new market's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketTerms {
    pub base: AssetId,
    pub quote: AssetId,
    /// Prices are multiples of this.
    pub tick: u64,
    /// Base units per lot.
    pub lot: u128,
    /// Smallest order size, base units (a multiple of the lot).
    pub min_size: u128,
    /// Negative: a rebate, at most the taker fee.
    pub maker_fee_bps: i32,
    pub taker_fee_bps: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DexCall {
    /// The market authority opens a market for a pair (one per pair).
    CreateMarket(MarketTerms),
    /// The market authority halts (no orders, no fills; cancels still work) or resumes a market.
    SetHalted {
        market: Hash,
        halted: bool,
    },
    /// Places orders in one market, all or nothing, in order.
    Place {
        market: Hash,
        orders: Vec<NewOrder>,
    },
    Cancel {
        market: Hash,
        order: OrderRef,
    },
    /// Cancels all of the sender's orders in the market.
    CancelAll {
        market: Hash,
    },
    /// Cancels an order if it is still open and places another, in one step (a market maker's
    /// re-quote: an order that filled meanwhile does not stop its replacement, as XRPL's
    /// OfferCreate with OfferSequence).
    Replace {
        market: Hash,
        cancel: OrderRef,
        order: NewOrder,
    },
    /// Pays out the sender's proceeds that a settlement could not pay (a compliance refusal).
    Settle {
        market: Hash,
    },
    /// Adds liquidity to the market's constant-product pool (opening it with the first
    /// deposit): takes at most the amounts offered, in the pool's ratio, for at least
    /// `min_shares` shares.
    AddLiquidity {
        market: Hash,
        base_max: u128,
        quote_max: u128,
        min_shares: u128,
    },
    /// Burns shares for their part of the pool, at least `min_base` and `min_quote`.
    RemoveLiquidity {
        market: Hash,
        shares: u128,
        min_base: u128,
        min_quote: u128,
    },
    /// Buys or sells `size` base units (a multiple of the lot) immediately, each part from the
    /// pool or the book, whichever is better for it, never at a price per lot worse than
    /// `limit`; what cannot be done within the limit is not done.
    Swap {
        market: Hash,
        side: Side,
        size: u128,
        limit: u64,
    },
}

const TAG_CREATE_MARKET: u8 = 1;
const TAG_SET_HALTED: u8 = 2;
const TAG_PLACE: u8 = 3;
const TAG_CANCEL: u8 = 4;
const TAG_CANCEL_ALL: u8 = 5;
const TAG_REPLACE: u8 = 6;
const TAG_SETTLE: u8 = 7;
const TAG_ADD_LIQUIDITY: u8 = 8;
const TAG_REMOVE_LIQUIDITY: u8 = 9;
const TAG_SWAP: u8 = 10;

/// The id of the market for a pair: one market per (base, quote).
pub fn market_id(base: &AssetId, quote: &AssetId) -> Hash {
    Hash::sha256_tagged(b"mamey/dex-market", &[&base.0, &quote.0])
}

fn put_side(out: &mut Vec<u8>, s: Side) {
    put_u8(out, matches!(s, Side::Sell) as u8);
}

fn read_side(r: &mut Reader<'_>) -> Result<Side, DecodeError> {
    match r.u8("side")? {
        0 => Ok(Side::Buy),
        1 => Ok(Side::Sell),
        tag => Err(DecodeError::UnknownTag { what: "side", tag }),
    }
}

fn put_tif(out: &mut Vec<u8>, t: TimeInForce) {
    match t {
        TimeInForce::Gtc => put_u8(out, 0),
        TimeInForce::GoodTil(Expiry::Height(h)) => {
            put_u8(out, 1);
            put_u64(out, h);
        }
        TimeInForce::GoodTil(Expiry::TimeMs(t)) => {
            put_u8(out, 2);
            put_u64(out, t);
        }
        // Never encoded: check_static refuses a good-til without a bound.
        TimeInForce::GoodTil(Expiry::Never) => put_u8(out, 0),
        TimeInForce::Ioc => put_u8(out, 3),
        TimeInForce::Fok => put_u8(out, 4),
        TimeInForce::PostOnly => put_u8(out, 5),
    }
}

fn read_tif(r: &mut Reader<'_>) -> Result<TimeInForce, DecodeError> {
    Ok(match r.u8("time in force")? {
        0 => TimeInForce::Gtc,
        1 => TimeInForce::GoodTil(Expiry::Height(r.u64("good-til height")?)),
        2 => TimeInForce::GoodTil(Expiry::TimeMs(r.u64("good-til time")?)),
        3 => TimeInForce::Ioc,
        4 => TimeInForce::Fok,
        5 => TimeInForce::PostOnly,
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "time in force",
                tag,
            })
        }
    })
}

fn put_self_trade(out: &mut Vec<u8>, s: SelfTrade) {
    put_u8(
        out,
        match s {
            SelfTrade::CancelNewest => 0,
            SelfTrade::CancelOldest => 1,
            SelfTrade::CancelBoth => 2,
        },
    );
}

fn read_self_trade(r: &mut Reader<'_>) -> Result<SelfTrade, DecodeError> {
    Ok(match r.u8("self-trade prevention")? {
        0 => SelfTrade::CancelNewest,
        1 => SelfTrade::CancelOldest,
        2 => SelfTrade::CancelBoth,
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "self-trade prevention",
                tag,
            })
        }
    })
}

fn put_order(out: &mut Vec<u8>, o: &NewOrder) {
    put_u64(out, o.client_id);
    put_side(out, o.side);
    put_u64(out, o.price);
    put_u128(out, o.size);
    put_tif(out, o.tif);
    put_u8(out, o.market as u8);
    put_self_trade(out, o.self_trade);
}

fn read_order(r: &mut Reader<'_>) -> Result<NewOrder, DecodeError> {
    Ok(NewOrder {
        client_id: r.u64("client id")?,
        side: read_side(r)?,
        price: r.u64("price")?,
        size: r.u128("size")?,
        tif: read_tif(r)?,
        market: r.bool("market order")?,
        self_trade: read_self_trade(r)?,
    })
}

fn put_ref(out: &mut Vec<u8>, o: OrderRef) {
    match o {
        OrderRef::Client(id) => {
            put_u8(out, 0);
            put_u64(out, id);
        }
        OrderRef::Seq(seq) => {
            put_u8(out, 1);
            put_u64(out, seq);
        }
    }
}

fn read_ref(r: &mut Reader<'_>) -> Result<OrderRef, DecodeError> {
    match r.u8("order reference")? {
        0 => Ok(OrderRef::Client(r.u64("client id")?)),
        1 => Ok(OrderRef::Seq(r.u64("order id")?)),
        tag => Err(DecodeError::UnknownTag {
            what: "order reference",
            tag,
        }),
    }
}

fn read_hash(r: &mut Reader<'_>, what: &'static str) -> Result<Hash, DecodeError> {
    Ok(Hash(r.array(what)?))
}

pub(super) fn encode(call: &DexCall, out: &mut Vec<u8>) {
    match call {
        DexCall::CreateMarket(t) => {
            put_u8(out, TAG_CREATE_MARKET);
            out.extend_from_slice(&t.base.0);
            out.extend_from_slice(&t.quote.0);
            put_u64(out, t.tick);
            put_u128(out, t.lot);
            put_u128(out, t.min_size);
            put_u32(out, t.maker_fee_bps as u32);
            put_u32(out, t.taker_fee_bps);
        }
        DexCall::SetHalted { market, halted } => {
            put_u8(out, TAG_SET_HALTED);
            out.extend_from_slice(&market.0);
            put_u8(out, *halted as u8);
        }
        DexCall::Place { market, orders } => {
            put_u8(out, TAG_PLACE);
            out.extend_from_slice(&market.0);
            put_u32(out, orders.len() as u32);
            for o in orders {
                put_order(out, o);
            }
        }
        DexCall::Cancel { market, order } => {
            put_u8(out, TAG_CANCEL);
            out.extend_from_slice(&market.0);
            put_ref(out, *order);
        }
        DexCall::CancelAll { market } => {
            put_u8(out, TAG_CANCEL_ALL);
            out.extend_from_slice(&market.0);
        }
        DexCall::Replace {
            market,
            cancel,
            order,
        } => {
            put_u8(out, TAG_REPLACE);
            out.extend_from_slice(&market.0);
            put_ref(out, *cancel);
            put_order(out, order);
        }
        DexCall::Settle { market } => {
            put_u8(out, TAG_SETTLE);
            out.extend_from_slice(&market.0);
        }
        DexCall::AddLiquidity {
            market,
            base_max,
            quote_max,
            min_shares,
        } => {
            put_u8(out, TAG_ADD_LIQUIDITY);
            out.extend_from_slice(&market.0);
            put_u128(out, *base_max);
            put_u128(out, *quote_max);
            put_u128(out, *min_shares);
        }
        DexCall::RemoveLiquidity {
            market,
            shares,
            min_base,
            min_quote,
        } => {
            put_u8(out, TAG_REMOVE_LIQUIDITY);
            out.extend_from_slice(&market.0);
            put_u128(out, *shares);
            put_u128(out, *min_base);
            put_u128(out, *min_quote);
        }
        DexCall::Swap {
            market,
            side,
            size,
            limit,
        } => {
            put_u8(out, TAG_SWAP);
            out.extend_from_slice(&market.0);
            put_side(out, *side);
            put_u128(out, *size);
            put_u64(out, *limit);
        }
    }
}

pub(super) fn decode(r: &mut Reader<'_>) -> Result<DexCall, DecodeError> {
    Ok(match r.u8("dex call")? {
        TAG_CREATE_MARKET => DexCall::CreateMarket(MarketTerms {
            base: read_hash(r, "base asset")?,
            quote: read_hash(r, "quote asset")?,
            tick: r.u64("tick")?,
            lot: r.u128("lot")?,
            min_size: r.u128("minimum size")?,
            maker_fee_bps: r.u32("maker fee")? as i32,
            taker_fee_bps: r.u32("taker fee")?,
        }),
        TAG_SET_HALTED => DexCall::SetHalted {
            market: read_hash(r, "market")?,
            halted: r.bool("halted")?,
        },
        TAG_PLACE => {
            let market = read_hash(r, "market")?;
            // An order is at least 8 + 1 + 8 + 16 + 1 + 1 + 1 bytes.
            let n = r.len_prefix("orders", ORDERS_PER_TX_MAX, 36)?;
            let mut orders = Vec::with_capacity(n);
            for _ in 0..n {
                orders.push(read_order(r)?);
            }
            DexCall::Place { market, orders }
        }
        TAG_CANCEL => DexCall::Cancel {
            market: read_hash(r, "market")?,
            order: read_ref(r)?,
        },
        TAG_CANCEL_ALL => DexCall::CancelAll {
            market: read_hash(r, "market")?,
        },
        TAG_REPLACE => DexCall::Replace {
            market: read_hash(r, "market")?,
            cancel: read_ref(r)?,
            order: read_order(r)?,
        },
        TAG_SETTLE => DexCall::Settle {
            market: read_hash(r, "market")?,
        },
        TAG_ADD_LIQUIDITY => DexCall::AddLiquidity {
            market: read_hash(r, "market")?,
            base_max: r.u128("base")?,
            quote_max: r.u128("quote")?,
            min_shares: r.u128("minimum shares")?,
        },
        TAG_REMOVE_LIQUIDITY => DexCall::RemoveLiquidity {
            market: read_hash(r, "market")?,
            shares: r.u128("shares")?,
            min_base: r.u128("minimum base")?,
            min_quote: r.u128("minimum quote")?,
        },
        TAG_SWAP => DexCall::Swap {
            market: read_hash(r, "market")?,
            side: read_side(r)?,
            size: r.u128("size")?,
            limit: r.u64("limit")?,
        },
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "dex call",
                tag,
            })
        }
    })
}

/// An order's checks that need no market: a size, a price for a limit order, a time in force
/// that fits the kind.
fn check_order(o: &NewOrder) -> Result<(), DexError> {
    if o.size == 0 {
        return Err(DexError::InvalidOrder("size must be positive".into()));
    }
    if o.price == 0 && !(o.market && o.side == Side::Sell) {
        return Err(DexError::InvalidOrder(
            "price must be positive (a market sell may give 0: any price)".into(),
        ));
    }
    if o.market && !matches!(o.tif, TimeInForce::Ioc | TimeInForce::Fok) {
        return Err(DexError::InvalidOrder(format!(
            "a market order is immediate: its time in force must be ioc or fok, not {}",
            o.tif.name()
        )));
    }
    if o.tif == TimeInForce::GoodTil(Expiry::Never) {
        return Err(DexError::InvalidOrder(
            "good-til needs a height or a time".into(),
        ));
    }
    Ok(())
}

pub(super) fn check_static(call: &DexCall, orders_per_tx_max: usize) -> Result<(), DexError> {
    match call {
        DexCall::CreateMarket(t) => check_terms(t),
        DexCall::Place { orders, .. } => {
            if orders.is_empty() {
                return Err(DexError::NoOrders);
            }
            if orders.len() > orders_per_tx_max {
                return Err(DexError::TooManyOrders {
                    got: orders.len(),
                    max: orders_per_tx_max,
                });
            }
            let mut ids: Vec<u64> = orders.iter().map(|o| o.client_id).collect();
            ids.sort_unstable();
            if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
                return Err(DexError::DuplicateClientId(w[0]));
            }
            orders.iter().try_for_each(check_order)
        }
        DexCall::Replace { order, .. } => check_order(order),
        DexCall::AddLiquidity {
            base_max,
            quote_max,
            ..
        } if *base_max == 0 || *quote_max == 0 => Err(DexError::InvalidLiquidity(
            "a deposit needs both assets".into(),
        )),
        DexCall::RemoveLiquidity { shares: 0, .. } => {
            Err(DexError::InvalidLiquidity("no shares to burn".into()))
        }
        DexCall::Swap { size: 0, .. } => {
            Err(DexError::InvalidOrder("size must be positive".into()))
        }
        DexCall::SetHalted { .. }
        | DexCall::AddLiquidity { .. }
        | DexCall::RemoveLiquidity { .. }
        | DexCall::Swap { .. }
        | DexCall::Cancel { .. }
        | DexCall::CancelAll { .. }
        | DexCall::Settle { .. } => Ok(()),
    }
}

pub(super) fn check_terms(t: &MarketTerms) -> Result<(), DexError> {
    let bad = |why: String| Err(DexError::InvalidMarket(why));
    if t.base == t.quote {
        return bad("base and quote are the same asset".into());
    }
    if t.tick == 0 || t.lot == 0 {
        return bad("tick and lot must be positive".into());
    }
    if t.min_size == 0 || t.min_size % t.lot != 0 {
        return bad(format!(
            "the minimum size {} must be a positive multiple of the lot {}",
            t.min_size, t.lot
        ));
    }
    if t.taker_fee_bps > TAKER_FEE_BPS_MAX {
        return bad(format!(
            "taker fee {} bps is over {TAKER_FEE_BPS_MAX}",
            t.taker_fee_bps
        ));
    }
    if t.maker_fee_bps > t.taker_fee_bps as i32
        || -(t.maker_fee_bps as i64) > t.taker_fee_bps as i64
    {
        return bad(format!(
            "maker fee {} bps must lie between minus the taker fee and the taker fee ({} bps): a \
             rebate never pays out more than the taker fee takes",
            t.maker_fee_bps, t.taker_fee_bps
        ));
    }
    Ok(())
}
