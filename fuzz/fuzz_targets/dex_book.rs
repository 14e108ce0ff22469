//! The DEX order book and matching engine (`modules::dex::book`) under arbitrary sequences of
//! operations: the input's first bytes give the market's lot and maker fee, the rest is read as
//! operations (place a limit order as the module does: duplicate check, post-only and
//! fill-or-kill checks, matching, then what is left rests; a taker order with any limit and any
//! self-trade mode; cancel by client id, by sequence, all of an owner's; remove expired orders;
//! move the block on; insert an order that does not cross).
//!
//! After every operation the book's invariants hold (`Book::check`) and the book equals a plain
//! reference model (a sorted `Vec` per side, matched by a direct reading of the rules). Around
//! every match: the steps are the model's, the side that takes is untouched, and lots and locks
//! are conserved on the side that makes: its locks before equal its locks after plus, over the
//! steps, `maker_used + refund` of every fill and the whole lock of every removed order (the same
//! for lots); `fillable` (the fill-or-kill dry run) predicted the lots matched exactly. Prices
//! and lots are small so that orders cross often.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::modules::dex::book::{
    Book, Expiry, Incoming, Matched, Now, Removal, Resting, SelfTrade, Side, Step, Terms,
};
use mameynode::types::Address;

/// The input, read a byte at a time (zeros once it runs out).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: u8) -> u8 {
        self.byte() % n
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn side(&mut self) -> Side {
        if self.byte() & 1 == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    fn owner(&mut self) -> Address {
        Address([1 + self.below(4); 32])
    }

    fn self_trade(&mut self) -> SelfTrade {
        match self.below(3) {
            0 => SelfTrade::CancelNewest,
            1 => SelfTrade::CancelOldest,
            _ => SelfTrade::CancelBoth,
        }
    }

    /// A resting price: small, so that orders meet.
    fn price(&mut self) -> u64 {
        1 + u64::from(self.below(16))
    }
}

/// Priority key, smaller first: bids by price descending, asks by price ascending, then sequence.
fn key(side: Side, r: &Resting) -> (u64, u64) {
    match side {
        Side::Buy => (u64::MAX - r.price, r.seq),
        Side::Sell => (r.price, r.seq),
    }
}

fn crosses(side: Side, limit: u64, price: u64) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

/// The reference: each side a `Vec` best first, the rules read directly.
#[derive(Default)]
struct Model {
    bids: Vec<Resting>,
    asks: Vec<Resting>,
}

impl Model {
    fn side(&mut self, side: Side) -> &mut Vec<Resting> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn insert(&mut self, side: Side, r: Resting) {
        let v = self.side(side);
        let at = v.partition_point(|x| key(side, x) < key(side, &r));
        v.insert(at, r);
    }

    fn match_order(
        &mut self,
        side: Side,
        owner: &Address,
        limit: u64,
        lots: u64,
        mode: SelfTrade,
        terms: &Terms,
        now: Now,
    ) -> (Matched, Vec<Step>) {
        let maker_side = side.opposite();
        let makers = self.side(maker_side);
        let mut m = Matched::default();
        let mut steps = Vec::new();
        while m.lots < lots && !makers.is_empty() {
            let best = makers[0];
            if best.expiry.passed(now) {
                makers.remove(0);
                steps.push(Step::Removed {
                    order: best,
                    reason: Removal::Expired,
                });
                continue;
            }
            if !crosses(side, limit, best.price) {
                break;
            }
            if best.owner == *owner {
                if mode != SelfTrade::CancelNewest {
                    makers.remove(0);
                    steps.push(Step::Removed {
                        order: best,
                        reason: Removal::SelfTrade,
                    });
                }
                if mode == SelfTrade::CancelOldest {
                    continue;
                }
                m.stopped = true;
                break;
            }
            let n = best.lots.min(lots - m.lots);
            let used = terms
                .lock_needed(maker_side, best.price, n)
                .expect("small prices");
            let mut after = best;
            after.lots -= n;
            after.locked -= used;
            let done = after.lots == 0;
            if done {
                makers.remove(0);
            } else {
                makers[0] = after;
            }
            steps.push(Step::Fill {
                maker: after,
                price: best.price,
                lots: n,
                maker_used: used,
                maker_done: done,
                refund: if done { after.locked } else { 0 },
            });
            m.lots += n;
        }
        (m, steps)
    }

    fn assert_same(&self, book: &Book) {
        let bids: Vec<Resting> = book.bids.iter_best_first().collect();
        let asks: Vec<Resting> = book.asks.iter_best_first().collect();
        assert_eq!(bids, self.bids, "bids differ from the model");
        assert_eq!(asks, self.asks, "asks differ from the model");
    }
}

fn totals(book: &Book, side: Side) -> (u128, u128) {
    book.side(side)
        .iter_best_first()
        .fold((0, 0), |(l, k), r| (l + r.locked, k + u128::from(r.lots)))
}

struct Run {
    book: Book,
    model: Model,
    terms: Terms,
    now: Now,
    next_seq: u64,
}

impl Run {
    /// Matches on the book and the model, compares them and checks conservation.
    fn matched(
        &mut self,
        side: Side,
        owner: &Address,
        limit: u64,
        lots: u64,
        mode: SelfTrade,
    ) -> Matched {
        let incoming = Incoming {
            side,
            owner,
            limit,
            lots,
            self_trade: mode,
        };
        let fillable = self.book.fillable(&incoming, self.now);
        let own_before = self.book.side(side).clone();
        let (locks_before, lots_before) = totals(&self.book, side.opposite());
        let mut steps = Vec::new();
        let m = self
            .book
            .match_order(&incoming, &self.terms, self.now, &mut steps);
        let (m_model, steps_model) =
            self.model
                .match_order(side, owner, limit, lots, mode, &self.terms, self.now);
        assert_eq!(m, m_model, "matched differs from the model");
        assert_eq!(steps, steps_model, "steps differ from the model");
        assert_eq!(
            self.book.side(side),
            &own_before,
            "matching touched the taking side"
        );
        assert_eq!(fillable, m.lots, "fillable did not predict the match");
        assert!(m.lots <= lots);

        let (locks_after, lots_after) = totals(&self.book, side.opposite());
        let (mut locks_out, mut lots_out, mut filled) = (0u128, 0u128, 0u64);
        for s in &steps {
            match s {
                Step::Fill {
                    maker,
                    price,
                    lots,
                    maker_used,
                    maker_done,
                    refund,
                } => {
                    assert_eq!(*price, maker.price);
                    assert!(*lots > 0);
                    assert!(crosses(side, limit, *price), "filled beyond the limit");
                    assert_ne!(maker.owner, *owner, "a self-trade filled");
                    assert_eq!(
                        Some(*maker_used),
                        self.terms.lock_needed(side.opposite(), *price, *lots)
                    );
                    assert_eq!(*maker_done, maker.lots == 0);
                    assert_eq!(*refund, if *maker_done { maker.locked } else { 0 });
                    locks_out += maker_used + refund;
                    lots_out += u128::from(*lots);
                    filled += lots;
                }
                Step::Removed { order, reason } => {
                    match reason {
                        Removal::Expired => assert!(order.expiry.passed(self.now)),
                        Removal::SelfTrade => {
                            assert_eq!(order.owner, *owner);
                            assert_ne!(mode, SelfTrade::CancelNewest);
                        }
                    }
                    locks_out += order.locked;
                    lots_out += u128::from(order.lots);
                }
            }
        }
        assert_eq!(filled, m.lots, "fills do not add up to the lots matched");
        assert_eq!(
            locks_before,
            locks_after + locks_out,
            "locks not conserved on the making side"
        );
        assert_eq!(
            lots_before,
            lots_after + lots_out,
            "lots not conserved on the making side"
        );
        if m.stopped {
            assert_ne!(mode, SelfTrade::CancelOldest);
        }
        m
    }

    fn rest(&mut self, side: Side, r: Resting) {
        self.book.side_mut(side).insert(&r);
        self.model.insert(side, r);
    }

    fn remove(&mut self, side: Side, i: usize) -> Resting {
        let len = self.book.side(side).len();
        let r = self.book.side_mut(side).remove(i);
        // Storage is worst first, the model best first.
        let m = self.model.side(side).remove(len - 1 - i);
        assert_eq!(r, m, "removed order differs from the model");
        r
    }

    fn step(&mut self, input: &mut Input<'_>) {
        match input.below(9) {
            0 | 1 => {
                // A limit order placed as the module places it.
                let side = input.side();
                let owner = input.owner();
                let client_id = u64::from(input.below(8));
                let price = input.price();
                let lots = 1 + u64::from(input.below(8));
                let extra = u128::from(input.below(4));
                let expiry = match input.below(4) {
                    0 | 1 => Expiry::Never,
                    2 => Expiry::Height(self.now.height + u64::from(input.below(4))),
                    _ => Expiry::TimeMs(self.now.time_ms + u64::from(input.below(4))),
                };
                let mode = input.self_trade();
                let tif = input.below(4); // 0 gtc, 1 ioc, 2 post-only, 3 fill-or-kill
                if self.book.bids.find_client(&owner, client_id).is_some()
                    || self.book.asks.find_client(&owner, client_id).is_some()
                    || expiry.passed(self.now)
                {
                    return; // refused
                }
                if tif == 2 && self.book.would_cross(side, price, self.now) {
                    return; // refused
                }
                if tif == 3 {
                    let fillable = self.book.fillable(
                        &Incoming {
                            side,
                            owner: &owner,
                            limit: price,
                            lots,
                            self_trade: mode,
                        },
                        self.now,
                    );
                    if fillable < lots {
                        return; // refused
                    }
                }
                let seq = self.next_seq;
                self.next_seq += 1;
                let m = self.matched(side, &owner, price, lots, mode);
                if tif == 2 {
                    assert_eq!(m.lots, 0, "a post-only order took liquidity");
                }
                if tif == 3 {
                    assert_eq!(m.lots, lots, "a fill-or-kill did not fill");
                }
                let left = lots - m.lots;
                if left > 0 && (tif == 0 || tif == 2) && !m.stopped {
                    let locked = self
                        .terms
                        .lock_needed(side, price, left)
                        .expect("small prices")
                        + extra;
                    self.rest(
                        side,
                        Resting {
                            seq,
                            owner,
                            client_id,
                            price,
                            lots: left,
                            locked,
                            expiry,
                        },
                    );
                }
            }
            2 => {
                // A taker: any limit, market orders included, any size.
                let side = input.side();
                let owner = input.owner();
                let limit = match input.below(8) {
                    0 => 0,
                    1 => u64::MAX,
                    _ => input.price(),
                };
                let lots = match input.below(8) {
                    0 => u64::MAX,
                    1 => 1_000,
                    _ => 1 + u64::from(input.below(12)),
                };
                let mode = input.self_trade();
                self.next_seq += 1;
                self.matched(side, &owner, limit, lots, mode);
            }
            3 => {
                // Cancel by client id, as a cancel call looks for it: bids, then asks.
                let owner = input.owner();
                let client_id = u64::from(input.below(8));
                for side in [Side::Buy, Side::Sell] {
                    if let Some(i) = self.book.side(side).find_client(&owner, client_id) {
                        let r = self.remove(side, i);
                        assert_eq!((r.owner, r.client_id), (owner, client_id));
                        break;
                    }
                }
                assert!(self.book.bids.find_client(&owner, client_id).is_none());
                assert!(self.book.asks.find_client(&owner, client_id).is_none());
            }
            4 => {
                // Cancel by sequence.
                let seq = u64::from(input.byte()) % self.next_seq.max(1);
                for side in [Side::Buy, Side::Sell] {
                    if let Some(i) = self.book.side(side).find_seq(seq) {
                        assert_eq!(self.remove(side, i).seq, seq);
                        break;
                    }
                }
                assert!(self.book.bids.find_seq(seq).is_none());
                assert!(self.book.asks.find_seq(seq).is_none());
            }
            5 => {
                // Cancel all of an owner's orders, back to front as the module does.
                let owner = input.owner();
                for side in [Side::Buy, Side::Sell] {
                    let mut at = self.book.side(side).of_owner(&owner);
                    at.sort_unstable_by(|a, b| b.cmp(a));
                    for i in at {
                        assert_eq!(self.remove(side, i).owner, owner);
                    }
                    assert!(self.book.side(side).of_owner(&owner).is_empty());
                }
            }
            6 => {
                // Expired orders leave at the start of a block, within a budget.
                let side = input.side();
                let max = 1 + usize::from(input.below(4));
                let now = self.now;
                let (locks_before, _) = totals(&self.book, side);
                let removed = self.book.side_mut(side).remove_expired(now, max);
                assert!(removed.len() <= max);
                // The model: best first, up to the budget; returned in storage order (worst first).
                let model = self.model.side(side);
                let mut expected = Vec::new();
                let mut i = 0;
                while i < model.len() && expected.len() < max {
                    if model[i].expiry.passed(now) {
                        expected.push(model.remove(i));
                    } else {
                        i += 1;
                    }
                }
                expected.reverse();
                assert_eq!(removed, expected, "remove_expired differs from the model");
                if removed.len() < max {
                    assert!(
                        self.book
                            .side(side)
                            .iter_best_first()
                            .all(|r| !r.expiry.passed(now)),
                        "an expired order stayed within the budget"
                    );
                }
                let (locks_after, _) = totals(&self.book, side);
                let out: u128 = removed.iter().map(|r| r.locked).sum();
                assert_eq!(locks_before, locks_after + out);
                let (h, t) = self.book.side(side).next_expiry();
                assert!(self
                    .book
                    .side(side)
                    .iter_best_first()
                    .all(|r| match r.expiry {
                        Expiry::Height(v) => v >= h,
                        Expiry::TimeMs(v) => v >= t,
                        Expiry::Never => true,
                    }));
            }
            7 => {
                // The next block.
                self.now.height += u64::from(input.below(3));
                self.now.time_ms += u64::from(input.below(4));
            }
            _ => {
                // A resting order inserted directly, where it crosses nothing (expired or not).
                let side = input.side();
                let owner = input.owner();
                let price = input.price();
                let lots = 1 + u64::from(input.below(8));
                let crosses_best = self
                    .book
                    .side(side.opposite())
                    .best()
                    .is_some_and(|b| crosses(side, price, b.price));
                if crosses_best {
                    return;
                }
                let seq = self.next_seq;
                self.next_seq += 1;
                // A client id no placed order uses (those are below 8).
                let client_id = 8 + seq;
                let locked = self
                    .terms
                    .lock_needed(side, price, lots)
                    .expect("small prices");
                self.rest(
                    side,
                    Resting {
                        seq,
                        owner,
                        client_id,
                        price,
                        lots,
                        locked,
                        expiry: Expiry::Never,
                    },
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let terms = Terms {
        lot: 1 + u128::from(input.below(4)),
        // -1,000 to about +1,000 basis points (the bounds a market's terms allow).
        maker_fee_bps: (i32::from(input.byte()) - 128) * 1_000 / 128,
    };
    let mut run = Run {
        book: Book::default(),
        model: Model::default(),
        terms,
        now: Now {
            height: 1,
            time_ms: 1_000,
        },
        next_seq: 1,
    };
    while !input.is_empty() {
        run.step(&mut input);
        if let Err(e) = run.book.check(&run.terms) {
            panic!("invariant broken: {e}");
        }
        run.model.assert_same(&run.book);
    }
});
