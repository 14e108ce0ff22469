//! Liquidity and swaps: deposits into and withdrawals from a market's pool, and swaps that take
//! each part of their size from the pool or the book, whichever is better for it (best
//! execution across both, as XRPL payments route across its AMM and order books).
//!
//! A swap alternates: the pool trades down (or up) to the best book price, then the book level
//! at that price fills, then the pool again up to the next level, and so on, never at a price
//! per lot worse than the caller's limit. Book fills pay the market's taker fee like any order;
//! pool trades pay the pool's fee, which stays in the pool for its liquidity providers.

use super::apply::{book_terms, event, Res, Session};
use super::book::{Incoming, SelfTrade, Side};
use super::calls::{NewOrder, TimeInForce};
use super::error::DexError;
use super::pool::{
    deposit, lots_to_buy_up_to, lots_to_sell_down_to, quote_in_for, quote_out_for, withdraw, Pool,
    Shares, MINIMUM_SHARES, RESERVE_MAX,
};
use super::state::{market_key, pool_key, shares_key, Market};
use super::{vault_account, DexParams};
use crate::execution::{BlockEnv, Overlay, StateView};
use crate::modules::banking::transfer_for_module;
use crate::modules::{read, write};
use crate::types::{Address, AttrValue, Event, Hash};

/// The value of a step, or the refusal returned at once.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

/// Moves `amount` of `asset` for a liquidity call through Banking.
#[allow(clippy::too_many_arguments)]
fn move_asset<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    asset: &Hash,
    from: &Address,
    to: &Address,
    amount: u128,
    events: &mut Vec<Event>,
) -> Result<Res<()>, V::Error> {
    if amount == 0 {
        return Ok(Ok(()));
    }
    let hook =
        step!(
            transfer_for_module(overlay, env.time_ms, asset, from, to, amount, false, None)?
                .map_err(DexError::Bank)
        );
    events.extend(hook);
    Ok(Ok(()))
}

fn open_market<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    id: &Hash,
) -> Result<Res<Market>, V::Error> {
    Ok(read::<Market, _>(overlay, &market_key(id))?.ok_or(DexError::UnknownMarket(*id)))
}

/// `add_liquidity`: opens the pool with the first deposit.
pub(super) fn add_liquidity<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &DexParams,
    env: &BlockEnv,
    sender: &Address,
    id: &Hash,
    (base_max, quote_max, min_shares): (u128, u128, u128),
) -> Result<Res<Vec<Event>>, V::Error> {
    let market = step!(open_market(overlay, id)?);
    if market.halted {
        return Ok(Err(DexError::Halted(*id)));
    }
    let mut pool: Pool = read(overlay, &pool_key(id))?.unwrap_or(Pool {
        fee_bps: params.pool_fee_bps,
        ..Pool::default()
    });
    let Some((minted, base, quote)) = deposit(&pool, base_max, quote_max) else {
        return Ok(Err(DexError::InvalidLiquidity(format!(
            "a deposit of {base_max} base and {quote_max} quote mints no shares (the first needs \
             more than {MINIMUM_SHARES}² in base × quote; each reserve at most {RESERVE_MAX})"
        ))));
    };
    if minted < min_shares {
        return Ok(Err(DexError::Slippage {
            got: format!("{minted} shares"),
            min: format!("{min_shares} shares"),
        }));
    }
    let vault = vault_account(id);
    let mut events = Vec::new();
    step!(move_asset(
        overlay,
        env,
        &market.terms.base,
        sender,
        &vault,
        base,
        &mut events
    )?);
    step!(move_asset(
        overlay,
        env,
        &market.terms.quote,
        sender,
        &vault,
        quote,
        &mut events
    )?);
    let locked = if pool.shares == 0 { MINIMUM_SHARES } else { 0 };
    pool.shares += minted + locked;
    pool.base += base;
    pool.quote += quote;
    write(overlay, pool_key(id), &pool);
    let key = shares_key(id, sender);
    let held: Shares = read(overlay, &key)?.unwrap_or_default();
    write(overlay, key, &Shares(held.0 + minted));
    events.push(event(
        "liquidity_added",
        vec![
            ("market", AttrValue::Id(*id)),
            ("owner", AttrValue::Address(*sender)),
            ("base", AttrValue::Amount(base)),
            ("quote", AttrValue::Amount(quote)),
            ("shares", AttrValue::Amount(minted)),
        ],
    ));
    Ok(Ok(events))
}

/// `remove_liquidity`: burns shares for their part of the reserves.
pub(super) fn remove_liquidity<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    sender: &Address,
    id: &Hash,
    (shares, min_base, min_quote): (u128, u128, u128),
) -> Result<Res<Vec<Event>>, V::Error> {
    let market = step!(open_market(overlay, id)?);
    let Some(mut pool) = read::<Pool, _>(overlay, &pool_key(id))?.filter(|p| p.shares > 0) else {
        return Ok(Err(DexError::NoPool(*id)));
    };
    let key = shares_key(id, sender);
    let held: Shares = read(overlay, &key)?.unwrap_or_default();
    if held.0 < shares {
        return Ok(Err(DexError::InsufficientShares {
            owner: *sender,
            held: held.0,
            wanted: shares,
        }));
    }
    let Some((base, quote)) = withdraw(&pool, shares) else {
        return Ok(Err(DexError::InvalidLiquidity(format!(
            "{shares} shares of a pool of {}",
            pool.shares
        ))));
    };
    if base < min_base || quote < min_quote {
        return Ok(Err(DexError::Slippage {
            got: format!("{base} base and {quote} quote"),
            min: format!("{min_base} base and {min_quote} quote"),
        }));
    }
    let vault = vault_account(id);
    let mut events = Vec::new();
    step!(move_asset(
        overlay,
        env,
        &market.terms.base,
        &vault,
        sender,
        base,
        &mut events
    )?);
    step!(move_asset(
        overlay,
        env,
        &market.terms.quote,
        &vault,
        sender,
        quote,
        &mut events
    )?);
    pool.shares -= shares;
    pool.base -= base;
    pool.quote -= quote;
    write(overlay, pool_key(id), &pool);
    let left = held.0 - shares;
    overlay.write(
        key,
        (left > 0).then(|| crate::codec::Encode::to_bytes(&Shares(left))),
    );
    events.push(event(
        "liquidity_removed",
        vec![
            ("market", AttrValue::Id(*id)),
            ("owner", AttrValue::Address(*sender)),
            ("base", AttrValue::Amount(base)),
            ("quote", AttrValue::Amount(quote)),
            ("shares", AttrValue::Amount(shares)),
        ],
    ));
    Ok(Ok(events))
}

impl Session {
    /// Loads the market's pool for a swap.
    pub(super) fn load_pool<V: StateView>(
        &mut self,
        overlay: &mut Overlay<'_, V>,
    ) -> Result<(), V::Error> {
        self.pool = read(overlay, &pool_key(&self.market.id))?;
        Ok(())
    }

    /// One pool trade of up to `lots`, at no worse than `target` per lot on average; the lots
    /// it traded (0 when not even one lot is worth it).
    fn pool_trade(&mut self, side: Side, mut lots: u64, target: u64) -> Res<u64> {
        let lot = self.market.terms.lot;
        let Some(pool) = self.pool.as_mut() else {
            return Ok(0);
        };
        while lots > 0 {
            let base = u128::from(lots) * lot;
            let bound = u128::from(lots) * u128::from(target);
            let quote = match side {
                Side::Buy => quote_in_for(pool, base).filter(|q| *q <= bound),
                Side::Sell => quote_out_for(pool, base).filter(|q| *q >= bound && *q > 0),
            };
            let fits = match side {
                Side::Buy => quote.is_some_and(|q| pool.quote + q <= RESERVE_MAX),
                Side::Sell => pool.base + base <= RESERVE_MAX,
            };
            if let (Some(quote), true) = (quote, fits) {
                match side {
                    Side::Buy => {
                        pool.base -= base;
                        pool.quote += quote;
                        self.flows.pay_quote = self
                            .flows
                            .pay_quote
                            .checked_add(quote)
                            .ok_or(DexError::Overflow("swap"))?;
                        self.flows.get_base += base;
                    }
                    Side::Sell => {
                        pool.base += base;
                        pool.quote -= quote;
                        self.flows.pay_base += base;
                        self.flows.get_quote += quote;
                    }
                }
                let id = self.market.id;
                self.events.push(event(
                    "pool_trade",
                    vec![
                        ("market", AttrValue::Id(id)),
                        ("owner", AttrValue::Address(self.sender)),
                        ("side", AttrValue::Text(side.name().into())),
                        ("size", AttrValue::Amount(base)),
                        ("quote", AttrValue::Amount(quote)),
                    ],
                ));
                self.pool_changed = true;
                return Ok(lots);
            }
            lots /= 2;
        }
        Ok(0)
    }

    /// A swap of `size` base units on `side`, each part from the better of the pool and the
    /// book, within `limit` per lot.
    pub(super) fn swap(
        &mut self,
        params: &DexParams,
        side: Side,
        size: u128,
        limit: u64,
    ) -> Res<()> {
        let t = self.market.terms;
        if size % t.lot != 0 {
            return Err(DexError::OffLot { size, lot: t.lot });
        }
        if size < t.min_size {
            return Err(DexError::BelowMinimum {
                size,
                min: t.min_size,
            });
        }
        if !self.pool.is_some_and(|p| p.shares > 0) {
            return Err(DexError::NoPool(self.market.id));
        }
        let lots = u64::try_from(size / t.lot).map_err(|_| DexError::Overflow("lots"))?;
        let seq = self.state.next_order;
        self.state.next_order += 1;
        // Book fills settle as a market order's (taker fee, trade events).
        let order = NewOrder {
            client_id: 0,
            side,
            price: limit,
            size,
            tif: TimeInForce::Ioc,
            market: true,
            self_trade: SelfTrade::CancelNewest,
        };
        let crosses = |p: u64| match side {
            Side::Buy => p <= limit,
            Side::Sell => p >= limit,
        };
        let sender = self.sender;
        let (mut left, mut from_pool, mut from_book) = (lots, 0u64, 0u64);
        // Each round takes from the pool or empties a book level: bounded by the book's size.
        let rounds_max = 2 * params.orders_per_side_max as usize + 4;
        for _ in 0..rounds_max {
            if left == 0 {
                break;
            }
            let best = self
                .book
                .side(side.opposite())
                .iter_best_first()
                .find(|r| !r.expiry.passed(self.now))
                .map(|r| r.price)
                .filter(|p| crosses(*p));
            let target = best.unwrap_or(limit);
            let pool = self.pool.unwrap_or_default();
            let room = match side {
                Side::Buy => lots_to_buy_up_to(&pool, t.lot, target),
                Side::Sell => lots_to_sell_down_to(&pool, t.lot, target),
            };
            let want = u64::try_from(room.min(u128::from(left))).unwrap_or(left);
            let traded = self.pool_trade(side, want, target)?;
            if traded > 0 {
                left -= traded;
                from_pool += traded;
                continue;
            }
            let Some(price) = best else { break };
            let incoming = Incoming {
                side,
                owner: &sender,
                limit: price,
                lots: left,
                self_trade: SelfTrade::CancelNewest,
            };
            let mut steps = Vec::new();
            let matched = self
                .book
                .match_order(&incoming, &book_terms(&t), self.now, &mut steps);
            let progressed = !steps.is_empty();
            if progressed {
                self.changed(side.opposite());
            }
            for s in steps {
                self.apply_step(&order, seq, s)?;
            }
            left -= matched.lots;
            from_book += matched.lots;
            if matched.stopped || !progressed {
                break;
            }
        }
        let id = self.market.id;
        self.events.push(event(
            "swap",
            vec![
                ("market", AttrValue::Id(id)),
                ("owner", AttrValue::Address(sender)),
                ("order", AttrValue::Amount(seq.into())),
                ("side", AttrValue::Text(side.name().into())),
                ("size", AttrValue::Amount(size)),
                ("limit", AttrValue::Amount(limit.into())),
                (
                    "from_pool",
                    AttrValue::Amount(u128::from(from_pool) * t.lot),
                ),
                (
                    "from_book",
                    AttrValue::Amount(u128::from(from_book) * t.lot),
                ),
            ],
        ));
        Ok(())
    }
}
