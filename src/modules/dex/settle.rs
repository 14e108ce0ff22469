//! The DEX's begin-block work, bounded per block: good-til orders that expired leave their books
//! (their locks go to their owners' pending proceeds), then pending proceeds are paid out of the
//! vaults through Banking's transfer path (so the compliance hook sees every maker's receipt).
//!
//! Markets are visited in creation order; within one, expired orders best first and proceeds by
//! owner. What does not fit the block's budgets waits, in the same order, for the next block:
//! an expired order that is still on the book never fills (matching removes it), and pending
//! proceeds stay in the vault, visible in queries. A payout the hook refuses moves to the owner's
//! `Held` entry (event `settlement_held`), which the owner collects with a `settle` call.

use super::apply::{event, read_side, write_side};
use super::book::{Now, Side};
use super::state::{
    held_key, market_key, markets_key, pending_key, state_key, Held, Market, MarketList,
    MarketState, Owed, Pending,
};
use super::{vault_account, DexParams};
use crate::execution::{BlockEnv, Overlay, StateView};
use crate::modules::banking::transfer_for_module;
use crate::modules::{read, write};
use crate::types::{AttrValue, Event, Hash};

pub(super) fn begin_block<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &DexParams,
    env: &BlockEnv,
) -> Result<Vec<Event>, V::Error> {
    let mut events = Vec::new();
    if !params.enabled {
        return Ok(events);
    }
    let Some(MarketList(markets)) = read::<MarketList, _>(overlay, &markets_key())? else {
        return Ok(events);
    };
    let now = Now {
        height: env.height,
        time_ms: env.time_ms,
    };
    let mut expiries = params.expiries_per_block_max as usize;
    let mut payouts = params.settlements_per_block_max as usize;
    for id in &markets {
        let Some(mut state) = read::<MarketState, _>(overlay, &state_key(id))? else {
            continue;
        };
        let due =
            now.height >= state.next_expiry_height || now.time_ms >= state.next_expiry_time_ms;
        if due && expiries > 0 {
            let Some(market) = read::<Market, _>(overlay, &market_key(id))? else {
                continue;
            };
            expire(
                overlay,
                &market,
                &mut state,
                now,
                &mut expiries,
                &mut events,
            )?;
        }
        if payouts > 0 {
            pay_out(overlay, id, env, &mut payouts, &mut events)?;
        }
    }
    Ok(events)
}

/// Removes expired orders of one market (up to the budget) into its pending proceeds.
fn expire<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    market: &Market,
    state: &mut MarketState,
    now: Now,
    budget: &mut usize,
    events: &mut Vec<Event>,
) -> Result<(), V::Error> {
    let id = market.id;
    let mut pending: Pending = read(overlay, &pending_key(&id))?.unwrap_or_default();
    let mut removed_any = false;
    let mut next = (u64::MAX, u64::MAX);
    for side in [Side::Buy, Side::Sell] {
        let mut book = read_side(overlay, &id, side)?;
        let removed = book.remove_expired(now, *budget);
        *budget -= removed.len();
        for order in &removed {
            let (base, quote) = match side {
                Side::Buy => (0, order.locked),
                Side::Sell => (order.locked, 0),
            };
            pending
                .add(&order.owner, base, quote)
                .expect("a lock held by the vault fits the pending sum");
            events.push(event(
                "order_cancelled",
                vec![
                    ("market", AttrValue::Id(id)),
                    ("owner", AttrValue::Address(order.owner)),
                    ("order", AttrValue::Amount(order.seq.into())),
                    ("client_id", AttrValue::Amount(order.client_id.into())),
                    ("side", AttrValue::Text(side.name().into())),
                    ("price", AttrValue::Amount(order.price.into())),
                    (
                        "size",
                        AttrValue::Amount(u128::from(order.lots) * market.terms.lot),
                    ),
                    ("reason", AttrValue::Text("expired".into())),
                ],
            ));
        }
        let (h, t) = book.next_expiry();
        next = (next.0.min(h), next.1.min(t));
        if !removed.is_empty() {
            removed_any = true;
            write_side(overlay, &id, book);
        }
    }
    state.next_expiry_height = next.0;
    state.next_expiry_time_ms = next.1;
    if removed_any {
        state.sequence += 1;
        write(overlay, pending_key(&id), &pending);
    }
    write(overlay, state_key(&id), state);
    Ok(())
}

/// Pays pending proceeds of one market out of its vault (up to the budget).
fn pay_out<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    id: &Hash,
    env: &BlockEnv,
    budget: &mut usize,
    events: &mut Vec<Event>,
) -> Result<(), V::Error> {
    let Some(mut pending) = read::<Pending, _>(overlay, &pending_key(id))? else {
        return Ok(());
    };
    if pending.0.is_empty() {
        return Ok(());
    }
    let Some(market) = read::<Market, _>(overlay, &market_key(id))? else {
        return Ok(());
    };
    let vault = vault_account(id);
    let take = pending.0.len().min(*budget);
    *budget -= take;
    let due: Vec<_> = pending.0.drain(..take).collect();
    for (owner, owed) in due {
        let mut held = Owed::default();
        for (asset, amount, slot) in [
            (market.terms.base, owed.base, &mut held.base),
            (market.terms.quote, owed.quote, &mut held.quote),
        ] {
            if amount == 0 {
                continue;
            }
            match transfer_for_module(
                overlay,
                env.time_ms,
                &asset,
                &vault,
                &owner,
                amount,
                false,
                None,
            )? {
                Ok(hook) => events.extend(hook),
                Err(e) => {
                    *slot = amount;
                    events.push(event(
                        "settlement_held",
                        vec![
                            ("market", AttrValue::Id(*id)),
                            ("owner", AttrValue::Address(owner)),
                            ("asset", AttrValue::Id(asset)),
                            ("amount", AttrValue::Amount(amount)),
                            ("code", AttrValue::Amount(e.code().into())),
                            ("reason", AttrValue::Text(e.to_string())),
                        ],
                    ));
                }
            }
        }
        let paid = Owed {
            base: owed.base - held.base,
            quote: owed.quote - held.quote,
        };
        if !paid.is_zero() {
            events.push(event(
                "settled",
                vec![
                    ("market", AttrValue::Id(*id)),
                    ("owner", AttrValue::Address(owner)),
                    ("base", AttrValue::Amount(paid.base)),
                    ("quote", AttrValue::Amount(paid.quote)),
                ],
            ));
        }
        if !held.is_zero() {
            let key = held_key(id, &owner);
            let mut h: Held = read(overlay, &key)?.unwrap_or_default();
            h.0.base = h.0.base.saturating_add(held.base);
            h.0.quote = h.0.quote.saturating_add(held.quote);
            write(overlay, key, &h);
        }
    }
    if pending.0.is_empty() {
        overlay.write(pending_key(id), None);
    } else {
        write(overlay, pending_key(id), &pending);
    }
    Ok(())
}
