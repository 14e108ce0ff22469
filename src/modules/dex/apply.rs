//! Apply of every DEX call: the book changes from the matching engine, the money they move
//! through Banking's one transfer path (so through the compliance hook), and their events.
//!
//! Money model (OpenBook's, made settled by the runtime): a market's vault, a module account,
//! holds what its resting orders lock, the makers' proceeds until they are paid out, and the
//! fees. A call moves funds only between its sender and the vault, so that it declares every
//! key it touches; a maker's proceeds (and the refund of an order that left the book without its
//! owner's call) wait in the market's `Pending` entry and are paid at the start of the next block
//! ([`super::settle`]). Every DEX call may fail after writing: the runtime's savepoint undoes it.

use super::book::{
    bps_ceil, bps_floor, Book, BookSide, Incoming, Now, Removal, Resting, Side, Step, Terms,
};
use super::calls::{market_id, DexCall, MarketTerms, NewOrder, OrderRef, TimeInForce};
use super::error::DexError;
use super::pool::Pool;
use super::state::pool_key;
use super::state::{
    asks_key, bids_key, held_key, market_key, markets_key, pending_key, state_key, stats_key, Held,
    Market, MarketList, MarketState, Pending, Stats,
};
use super::{vault_account, Dex, DexParams};
use crate::execution::{Applied, BlockEnv, ChainParams, Overlay, StateView, TxError};
use crate::modules::banking::native::fee_only;
use crate::modules::banking::state::asset_key;
use crate::modules::banking::{transfer_for_module, AssetInfo};
use crate::modules::{put, read, write, Module};
use crate::types::{Address, AttrValue, Event, Hash, Transaction};

/// The value of a step, or the refusal returned at once.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

pub(super) type Res<T> = Result<T, DexError>;

pub(super) fn event(kind: &str, attributes: Vec<(&str, AttrValue)>) -> Event {
    Event {
        module: Dex::TAG,
        kind: kind.into(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

pub(super) fn apply<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
    tx: &Transaction,
    call: &DexCall,
) -> Result<Result<Applied, TxError>, V::Error> {
    fee_only(overlay, tx, &env.proposer, |overlay| {
        apply_call(overlay, &params.dex, env, &tx.sender, call)
    })
}

fn apply_call<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &DexParams,
    env: &BlockEnv,
    sender: &Address,
    call: &DexCall,
) -> Result<Res<Vec<Event>>, V::Error> {
    match call {
        DexCall::CreateMarket(terms) => create_market(overlay, params, env, sender, terms),
        DexCall::SetHalted { market, halted } => {
            set_halted(overlay, params, sender, market, *halted)
        }
        DexCall::Place { market, orders } => {
            let mut s = step!(Session::open(overlay, market, env, sender)?);
            step!(s.check_open());
            for o in orders {
                step!(s.place(params, o));
            }
            s.finish(overlay)
        }
        DexCall::Cancel { market, order } => {
            let mut s = step!(Session::open(overlay, market, env, sender)?);
            step!(s.cancel(*order));
            s.finish(overlay)
        }
        DexCall::CancelAll { market } => {
            let mut s = step!(Session::open(overlay, market, env, sender)?);
            step!(s.cancel_all());
            s.finish(overlay)
        }
        DexCall::Replace {
            market,
            cancel,
            order,
        } => {
            let mut s = step!(Session::open(overlay, market, env, sender)?);
            step!(s.check_open());
            // XRPL's OfferCreate with OfferSequence: an order that filled (or left) meanwhile
            // is no reason to refuse its replacement; another account's order is.
            match s.cancel(*cancel) {
                Ok(()) | Err(DexError::UnknownOrder(_)) => {}
                Err(e) => return Ok(Err(e)),
            }
            step!(s.place(params, order));
            s.finish(overlay)
        }
        DexCall::Settle { market } => settle_held(overlay, env, sender, market),
        DexCall::AddLiquidity {
            market,
            base_max,
            quote_max,
            min_shares,
        } => super::swap::add_liquidity(
            overlay,
            params,
            env,
            sender,
            market,
            (*base_max, *quote_max, *min_shares),
        ),
        DexCall::RemoveLiquidity {
            market,
            shares,
            min_base,
            min_quote,
        } => super::swap::remove_liquidity(
            overlay,
            env,
            sender,
            market,
            (*shares, *min_base, *min_quote),
        ),
        DexCall::Swap {
            market,
            side,
            size,
            limit,
        } => {
            let mut s = step!(Session::open(overlay, market, env, sender)?);
            step!(s.check_open());
            s.load_pool(overlay)?;
            step!(s.swap(params, *side, *size, *limit));
            s.finish(overlay)
        }
    }
}

fn check_authority(params: &DexParams, sender: &Address) -> Res<()> {
    if params.authority != Some(*sender) {
        return Err(DexError::NotAuthority { sender: *sender });
    }
    Ok(())
}

fn create_market<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &DexParams,
    env: &BlockEnv,
    sender: &Address,
    terms: &MarketTerms,
) -> Result<Res<Vec<Event>>, V::Error> {
    step!(check_authority(params, sender));
    for asset in [&terms.base, &terms.quote] {
        if read::<AssetInfo, _>(overlay, &asset_key(asset))?.is_none() {
            return Ok(Err(DexError::UnknownAsset(*asset)));
        }
    }
    let id = market_id(&terms.base, &terms.quote);
    if read::<Market, _>(overlay, &market_key(&id))?.is_some() {
        return Ok(Err(DexError::MarketExists(id)));
    }
    let mut list: MarketList = read(overlay, &markets_key())?.unwrap_or_default();
    if list.0.len() >= params.markets_max as usize {
        return Ok(Err(DexError::TooManyMarkets(params.markets_max)));
    }
    list.0.push(id);
    write(overlay, markets_key(), &list);
    let market = Market {
        id,
        terms: *terms,
        halted: false,
        created_height: env.height,
    };
    write(overlay, market_key(&id), &market);
    put(
        overlay,
        state_key(&id),
        Some(crate::codec::Encode::to_bytes(&MarketState::new())),
    )?;
    Ok(Ok(vec![event(
        "market_created",
        vec![
            ("market", AttrValue::Id(id)),
            ("base", AttrValue::Id(terms.base)),
            ("quote", AttrValue::Id(terms.quote)),
            ("tick", AttrValue::Amount(terms.tick.into())),
            ("lot", AttrValue::Amount(terms.lot)),
            ("min_size", AttrValue::Amount(terms.min_size)),
            (
                "maker_fee_bps",
                AttrValue::Text(terms.maker_fee_bps.to_string()),
            ),
            (
                "taker_fee_bps",
                AttrValue::Amount(terms.taker_fee_bps.into()),
            ),
        ],
    )]))
}

fn set_halted<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &DexParams,
    sender: &Address,
    id: &Hash,
    halted: bool,
) -> Result<Res<Vec<Event>>, V::Error> {
    step!(check_authority(params, sender));
    let Some(mut market) = read::<Market, _>(overlay, &market_key(id))? else {
        return Ok(Err(DexError::UnknownMarket(*id)));
    };
    market.halted = halted;
    write(overlay, market_key(id), &market);
    Ok(Ok(vec![event(
        if halted {
            "market_halted"
        } else {
            "market_resumed"
        },
        vec![("market", AttrValue::Id(*id))],
    )]))
}

/// Pays out the sender's held proceeds.
fn settle_held<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    sender: &Address,
    id: &Hash,
) -> Result<Res<Vec<Event>>, V::Error> {
    let Some(market) = read::<Market, _>(overlay, &market_key(id))? else {
        return Ok(Err(DexError::UnknownMarket(*id)));
    };
    let key = held_key(id, sender);
    let Some(Held(owed)) = read::<Held, _>(overlay, &key)? else {
        return Ok(Err(DexError::NothingHeld(*id)));
    };
    let vault = vault_account(id);
    let mut events = Vec::new();
    for (asset, amount) in [
        (market.terms.base, owed.base),
        (market.terms.quote, owed.quote),
    ] {
        if amount > 0 {
            events.extend(step!(transfer_for_module(
                overlay,
                env.time_ms,
                &asset,
                &vault,
                sender,
                amount,
                false,
                None
            )?
            .map_err(DexError::Bank)));
        }
    }
    overlay.write(key, None);
    events.push(event(
        "settled",
        vec![
            ("market", AttrValue::Id(*id)),
            ("owner", AttrValue::Address(*sender)),
            ("base", AttrValue::Amount(owed.base)),
            ("quote", AttrValue::Amount(owed.quote)),
        ],
    ));
    Ok(Ok(events))
}

/// Reads a book side as state holds it.
pub(super) fn read_side<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    id: &Hash,
    side: Side,
) -> Result<BookSide, V::Error> {
    let key = match side {
        Side::Buy => bids_key(id),
        Side::Sell => asks_key(id),
    };
    let bytes = overlay.read(&key)?.unwrap_or_default();
    Ok(BookSide::from_bytes(side, bytes)
        .unwrap_or_else(|| panic!("book side {key:?} is not whole records: corrupt state")))
}

pub(super) fn write_side<V: StateView>(overlay: &mut Overlay<'_, V>, id: &Hash, side: BookSide) {
    let key = match side.side() {
        Side::Buy => bids_key(id),
        Side::Sell => asks_key(id),
    };
    let bytes = side.into_bytes();
    overlay.write(key, (!bytes.is_empty()).then_some(bytes));
}

/// The fees of a fill of `notional` quote units: the taker's (rounded up), the maker's (rounded
/// down) and the maker's rebate (rounded down, at most the taker fee).
pub(super) fn fill_fees(terms: &MarketTerms, notional: u128) -> (u128, u128, u128) {
    let taker = bps_ceil(notional, u128::from(terms.taker_fee_bps));
    let maker = book_terms(terms).maker_fee(notional);
    let rebate = if terms.maker_fee_bps < 0 {
        bps_floor(notional, u128::from(terms.maker_fee_bps.unsigned_abs()))
    } else {
        0
    };
    debug_assert!(rebate <= taker, "a rebate never exceeds the taker fee");
    (taker, maker, rebate)
}

pub(super) fn book_terms(t: &MarketTerms) -> Terms {
    Terms {
        lot: t.lot,
        maker_fee_bps: t.maker_fee_bps,
    }
}

/// Funds between the sender and the vault, per asset, netted at the end of the call.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Flows {
    /// Sender to vault.
    pub(super) pay_base: u128,
    pub(super) pay_quote: u128,
    /// Vault to sender.
    pub(super) get_base: u128,
    pub(super) get_quote: u128,
}

/// One call's work on one market: the market read once, changed in memory, written once.
pub(super) struct Session {
    pub(super) market: Market,
    pub(super) state: MarketState,
    pub(super) book: Book,
    /// Credits to owners other than the sender (makers' proceeds, refunds), added to the
    /// market's pending proceeds at the end: a call that credits nobody never reads them.
    credits: Vec<(Address, u128, u128)>,
    /// The call's fills (price, base, quote), added to the market's statistics at the end.
    fills: Vec<(u64, u128, u128)>,
    pub(super) flows: Flows,
    pub(super) events: Vec<Event>,
    pub(super) sender: Address,
    pub(super) now: Now,
    bids_changed: bool,
    asks_changed: bool,
    /// The market's pool, loaded for a swap.
    pub(super) pool: Option<Pool>,
    pub(super) pool_changed: bool,
}

impl Session {
    fn open<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        id: &Hash,
        env: &BlockEnv,
        sender: &Address,
    ) -> Result<Res<Session>, V::Error> {
        let Some(market) = read::<Market, _>(overlay, &market_key(id))? else {
            return Ok(Err(DexError::UnknownMarket(*id)));
        };
        let state = read(overlay, &state_key(id))?.unwrap_or_else(MarketState::new);
        let book = Book {
            bids: read_side(overlay, id, Side::Buy)?,
            asks: read_side(overlay, id, Side::Sell)?,
        };
        Ok(Ok(Session {
            market,
            state,
            book,
            credits: Vec::new(),
            fills: Vec::new(),
            flows: Flows::default(),
            events: Vec::new(),
            sender: *sender,
            now: Now {
                height: env.height,
                time_ms: env.time_ms,
            },
            bids_changed: false,
            asks_changed: false,
            pool: None,
            pool_changed: false,
        }))
    }

    fn id(&self) -> Hash {
        self.market.id
    }

    fn check_open(&self) -> Res<()> {
        if self.market.halted {
            return Err(DexError::Halted(self.id()));
        }
        Ok(())
    }

    fn terms(&self) -> &MarketTerms {
        &self.market.terms
    }

    /// Credits `amount` of the asset `side`'s orders lock to `owner`: at once when the owner is
    /// the sender, else through the pending proceeds.
    fn refund(&mut self, owner: &Address, side: Side, amount: u128) -> Res<()> {
        let (base, quote) = match side {
            Side::Buy => (0, amount),
            Side::Sell => (amount, 0),
        };
        self.credit(owner, base, quote)
    }

    fn credit(&mut self, owner: &Address, base: u128, quote: u128) -> Res<()> {
        if *owner == self.sender {
            self.flows.get_base = add(self.flows.get_base, base)?;
            self.flows.get_quote = add(self.flows.get_quote, quote)?;
            return Ok(());
        }
        self.credits.push((*owner, base, quote));
        Ok(())
    }

    pub(super) fn changed(&mut self, side: Side) {
        match side {
            Side::Buy => self.bids_changed = true,
            Side::Sell => self.asks_changed = true,
        }
    }

    fn removed_event(&mut self, order: &Resting, side: Side, reason: &str) {
        let id = self.id();
        self.events.push(event(
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
                    AttrValue::Amount(u128::from(order.lots) * self.terms().lot),
                ),
                ("reason", AttrValue::Text(reason.into())),
            ],
        ));
    }

    /// Places one order: checks, matching, what rests.
    fn place(&mut self, params: &DexParams, o: &NewOrder) -> Res<()> {
        let t = *self.terms();
        if !o.market && o.price % t.tick != 0 {
            return Err(DexError::OffTick {
                price: o.price,
                tick: t.tick,
            });
        }
        if o.size % t.lot != 0 {
            return Err(DexError::OffLot {
                size: o.size,
                lot: t.lot,
            });
        }
        if o.size < t.min_size {
            return Err(DexError::BelowMinimum {
                size: o.size,
                min: t.min_size,
            });
        }
        let lots = u64::try_from(o.size / t.lot).map_err(|_| DexError::Overflow("lots"))?;
        let sender = self.sender;
        if self.book.bids.find_client(&sender, o.client_id).is_some()
            || self.book.asks.find_client(&sender, o.client_id).is_some()
        {
            return Err(DexError::DuplicateClientId(o.client_id));
        }
        let expiry = match o.tif {
            TimeInForce::GoodTil(e) => e,
            _ => super::book::Expiry::Never,
        };
        if expiry.passed(self.now) {
            return Err(DexError::AlreadyExpired {
                client_id: o.client_id,
                expiry: format!("{expiry:?}"),
                now: format!("height {} time {} ms", self.now.height, self.now.time_ms),
            });
        }
        if o.tif == TimeInForce::PostOnly && self.book.would_cross(o.side, o.price, self.now) {
            return Err(DexError::PostOnlyWouldCross {
                client_id: o.client_id,
                price: o.price,
            });
        }
        let incoming = Incoming {
            side: o.side,
            owner: &sender,
            limit: o.price,
            lots,
            self_trade: o.self_trade,
        };
        if o.tif == TimeInForce::Fok {
            let fillable = self.book.fillable(&incoming, self.now);
            if fillable < lots {
                return Err(DexError::FokCannotFill {
                    client_id: o.client_id,
                    wanted: lots,
                    fillable,
                });
            }
        }
        let seq = self.state.next_order;
        self.state.next_order += 1;
        let mut steps = Vec::new();
        let matched = self
            .book
            .match_order(&incoming, &book_terms(&t), self.now, &mut steps);
        if !steps.is_empty() {
            self.changed(o.side.opposite());
        }
        for s in steps {
            self.apply_step(o, seq, s)?;
        }
        let left = lots - matched.lots;
        let mut resting = 0u64;
        if left > 0 && o.tif.rests() && !matched.stopped {
            let side = self.book.side(o.side);
            if side.len() >= params.orders_per_side_max as usize {
                return Err(DexError::BookFull {
                    side: o.side.name(),
                    max: params.orders_per_side_max,
                });
            }
            let locked = book_terms(&t)
                .lock_needed(o.side, o.price, left)
                .ok_or(DexError::Overflow("order lock"))?;
            match o.side {
                Side::Buy => self.flows.pay_quote = add(self.flows.pay_quote, locked)?,
                Side::Sell => self.flows.pay_base = add(self.flows.pay_base, locked)?,
            }
            self.book.side_mut(o.side).insert(&Resting {
                seq,
                owner: sender,
                client_id: o.client_id,
                price: o.price,
                lots: left,
                locked,
                expiry,
            });
            match expiry {
                super::book::Expiry::Height(h) => {
                    self.state.next_expiry_height = self.state.next_expiry_height.min(h)
                }
                super::book::Expiry::TimeMs(ms) => {
                    self.state.next_expiry_time_ms = self.state.next_expiry_time_ms.min(ms)
                }
                super::book::Expiry::Never => {}
            }
            self.changed(o.side);
            resting = left;
        }
        let id = self.id();
        self.events.push(event(
            "order",
            vec![
                ("market", AttrValue::Id(id)),
                ("owner", AttrValue::Address(sender)),
                ("order", AttrValue::Amount(seq.into())),
                ("client_id", AttrValue::Amount(o.client_id.into())),
                ("side", AttrValue::Text(o.side.name().into())),
                ("price", AttrValue::Amount(o.price.into())),
                ("size", AttrValue::Amount(o.size)),
                (
                    "filled",
                    AttrValue::Amount(u128::from(matched.lots) * t.lot),
                ),
                ("resting", AttrValue::Amount(u128::from(resting) * t.lot)),
                (
                    "tif",
                    AttrValue::Text(if o.market { "market" } else { o.tif.name() }.into()),
                ),
            ],
        ));
        Ok(())
    }

    /// Settles one matching step between the sender (taker) and a maker.
    pub(super) fn apply_step(&mut self, o: &NewOrder, taker_seq: u64, s: Step) -> Res<()> {
        let t = *self.terms();
        let maker_side = o.side.opposite();
        match s {
            Step::Removed { order, reason } => {
                self.refund(&order.owner, maker_side, order.locked)?;
                let why = match reason {
                    Removal::Expired => "expired",
                    Removal::SelfTrade => "self_trade",
                };
                self.removed_event(&order, maker_side, why);
            }
            Step::Fill {
                maker,
                price,
                lots,
                refund,
                ..
            } => {
                let base = u128::from(lots) * t.lot;
                let notional = u128::from(price) * u128::from(lots);
                let (taker_fee, maker_fee, rebate) = fill_fees(&t, notional);
                match o.side {
                    Side::Buy => {
                        // The maker sold: its base (locked in the vault) goes to the taker; the
                        // notional, less its fee or plus its rebate, to the maker.
                        self.flows.pay_quote =
                            add(self.flows.pay_quote, add(notional, taker_fee)?)?;
                        self.flows.get_base = add(self.flows.get_base, base)?;
                        self.credit(&maker.owner, 0, add(notional - maker_fee, rebate)?)?;
                    }
                    Side::Sell => {
                        // The maker bought: its locked notional and fee pay for the base.
                        self.flows.pay_base = add(self.flows.pay_base, base)?;
                        self.flows.get_quote = add(self.flows.get_quote, notional - taker_fee)?;
                        self.credit(&maker.owner, base, rebate)?;
                    }
                }
                self.state.fees = add(self.state.fees, add(taker_fee, maker_fee)? - rebate)?;
                if refund > 0 {
                    self.refund(&maker.owner, maker_side, refund)?;
                }
                self.state.last_price = price;
                self.state.trades += 1;
                self.fills.push((price, base, notional));
                let id = self.id();
                self.events.push(event(
                    "trade",
                    vec![
                        ("market", AttrValue::Id(id)),
                        ("price", AttrValue::Amount(price.into())),
                        ("size", AttrValue::Amount(base)),
                        ("quote", AttrValue::Amount(notional)),
                        ("maker", AttrValue::Address(maker.owner)),
                        ("taker", AttrValue::Address(self.sender)),
                        ("maker_order", AttrValue::Amount(maker.seq.into())),
                        ("taker_order", AttrValue::Amount(taker_seq.into())),
                        ("taker_side", AttrValue::Text(o.side.name().into())),
                        ("taker_fee", AttrValue::Amount(taker_fee)),
                        ("maker_fee", AttrValue::Amount(maker_fee)),
                        ("maker_rebate", AttrValue::Amount(rebate)),
                    ],
                ));
            }
        }
        Ok(())
    }

    /// Cancels one of the sender's orders.
    fn cancel(&mut self, r: OrderRef) -> Res<()> {
        let sender = self.sender;
        for side in [Side::Buy, Side::Sell] {
            let book_side = self.book.side(side);
            let found = match r {
                OrderRef::Client(id) => book_side.find_client(&sender, id),
                OrderRef::Seq(seq) => book_side.find_seq(seq),
            };
            let Some(i) = found else { continue };
            let order = book_side.get(i);
            if order.owner != sender {
                return Err(DexError::NotOrderOwner {
                    seq: order.seq,
                    owner: order.owner,
                });
            }
            self.book.side_mut(side).remove(i);
            self.changed(side);
            self.refund(&sender, side, order.locked)?;
            self.removed_event(&order, side, "cancelled");
            return Ok(());
        }
        Err(DexError::UnknownOrder(match r {
            OrderRef::Client(id) => format!("with client id {id}"),
            OrderRef::Seq(seq) => format!("with id {seq}"),
        }))
    }

    fn cancel_all(&mut self) -> Res<()> {
        let sender = self.sender;
        for side in [Side::Buy, Side::Sell] {
            let mut at = self.book.side(side).of_owner(&sender);
            // Remove from the back so that earlier positions stay valid.
            at.sort_unstable_by(|a, b| b.cmp(a));
            for i in at {
                let order = self.book.side_mut(side).remove(i);
                self.changed(side);
                self.refund(&sender, side, order.locked)?;
                self.removed_event(&order, side, "cancelled");
            }
        }
        Ok(())
    }

    /// Writes the market back and moves the netted funds; the events of the call.
    fn finish<V: StateView>(
        mut self,
        overlay: &mut Overlay<'_, V>,
    ) -> Result<Res<Vec<Event>>, V::Error> {
        let id = self.id();
        let vault = vault_account(&id);
        let f = self.flows;
        let mut events = Vec::new();
        for (asset, pay, get) in [
            (self.market.terms.base, f.pay_base, f.get_base),
            (self.market.terms.quote, f.pay_quote, f.get_quote),
        ] {
            let (from, to, amount) = if pay >= get {
                (&self.sender, &vault, pay - get)
            } else {
                (&vault, &self.sender, get - pay)
            };
            if amount > 0 {
                events.extend(step!(transfer_for_module(
                    overlay,
                    self.now.time_ms,
                    &asset,
                    from,
                    to,
                    amount,
                    false,
                    None
                )?
                .map_err(DexError::Bank)));
            }
        }
        if self.bids_changed || self.asks_changed {
            self.state.sequence += 1;
        }
        if self.bids_changed {
            write_side(overlay, &id, self.book.bids);
        }
        if let (true, Some(pool)) = (self.pool_changed, &self.pool) {
            write(overlay, pool_key(&id), pool);
        }
        if self.asks_changed {
            write_side(overlay, &id, self.book.asks);
        }
        if !self.credits.is_empty() {
            let mut pending: Pending = read(overlay, &pending_key(&id))?.unwrap_or_default();
            for (owner, base, quote) in &self.credits {
                step!(pending
                    .add(owner, *base, *quote)
                    .ok_or(DexError::Overflow("pending proceeds")));
            }
            write(overlay, pending_key(&id), &pending);
        }
        if !self.fills.is_empty() {
            let mut stats: Stats = read(overlay, &stats_key(&id))?.unwrap_or_default();
            for (price, base, quote) in &self.fills {
                stats.add(self.now.time_ms, *price, *base, *quote);
            }
            write(overlay, stats_key(&id), &stats);
        }
        write(overlay, state_key(&id), &self.state);
        for e in &mut self.events {
            e.attributes.push((
                "sequence".into(),
                AttrValue::Amount(self.state.sequence.into()),
            ));
        }
        events.append(&mut self.events);
        Ok(Ok(events))
    }
}

fn add(a: u128, b: u128) -> Res<u128> {
    a.checked_add(b).ok_or(DexError::Overflow("amounts"))
}
