//! The order book of one market and its matching engine: a pure, deterministic function of the
//! book, the incoming order and the block's height and time. It knows lots and prices, never
//! balances: what a fill moves is for `apply` to settle through Banking.
//!
//! **Representation.** Each side is one byte string of fixed-size records ([`RECORD_LEN`]) in
//! priority order, worst first, so that the best order is the last record: matching pops from
//! the end, and a side goes to and from state with one copy and no parsing.
//!
//! **Invariants** (checked by `check` in tests, fuzzed by `fuzz/fuzz_targets/dex_book.rs`):
//! - price-time priority: bids by price descending then sequence ascending; asks by price
//!   ascending then sequence ascending; sequences are unique;
//! - every resting order has at least one lot and a lock that covers what its lots may still
//!   need (`lock_needed`);
//! - at rest the book is not crossed: the best bid is below the best ask (matching runs before an
//!   order rests, and a post-only order that would cross is refused).

use crate::types::Address;

/// Bytes of one resting order.
pub const RECORD_LEN: usize = 96;

/// Basis points in one whole.
pub const BPS: u128 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// When a good-til order leaves the book: at the start of the block at this height, or of the
/// first block whose time is at least this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    Height(u64),
    TimeMs(u64),
}

impl Expiry {
    /// Whether the order has expired in a block at `height` with time `time_ms`.
    pub fn passed(self, now: Now) -> bool {
        match self {
            Expiry::Never => false,
            Expiry::Height(h) => now.height >= h,
            Expiry::TimeMs(t) => now.time_ms >= t,
        }
    }

    fn encode(self) -> (u8, u64) {
        match self {
            Expiry::Never => (0, 0),
            Expiry::Height(h) => (1, h),
            Expiry::TimeMs(t) => (2, t),
        }
    }

    fn decode(kind: u8, v: u64) -> Expiry {
        match kind {
            1 => Expiry::Height(v),
            2 => Expiry::TimeMs(v),
            _ => Expiry::Never,
        }
    }
}

/// The block an operation runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub height: u64,
    pub time_ms: u64,
}

/// Self-trade prevention: what happens when an order would fill against its owner's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelfTrade {
    /// The incoming order stops (its rest is cancelled); the resting one stays.
    CancelNewest,
    /// The resting order is cancelled and matching goes on.
    CancelOldest,
    /// Both are cancelled.
    CancelBoth,
}

/// One resting order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resting {
    /// The market's order sequence: time priority, and the order's id in its market.
    pub seq: u64,
    pub owner: Address,
    pub client_id: u64,
    /// Quote units per lot.
    pub price: u64,
    /// Lots still open.
    pub lots: u64,
    /// What is still locked for it: quote units for a bid, base units for an ask.
    pub locked: u128,
    pub expiry: Expiry,
}

impl Resting {
    fn write(&self, out: &mut [u8]) {
        debug_assert_eq!(out.len(), RECORD_LEN);
        out[0..8].copy_from_slice(&self.price.to_le_bytes());
        out[8..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..48].copy_from_slice(&self.owner.0);
        out[48..56].copy_from_slice(&self.client_id.to_le_bytes());
        out[56..64].copy_from_slice(&self.lots.to_le_bytes());
        out[64..80].copy_from_slice(&self.locked.to_le_bytes());
        let (kind, v) = self.expiry.encode();
        out[80..88].copy_from_slice(&v.to_le_bytes());
        out[88] = kind;
        out[89..96].fill(0);
    }

    fn read(r: &[u8]) -> Resting {
        let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().expect("8 bytes"));
        let mut owner = [0u8; 32];
        owner.copy_from_slice(&r[16..48]);
        Resting {
            price: u64_at(0),
            seq: u64_at(8),
            owner: Address(owner),
            client_id: u64_at(48),
            lots: u64_at(56),
            locked: u128::from_le_bytes(r[64..80].try_into().expect("16 bytes")),
            expiry: Expiry::decode(r[88], u64_at(80)),
        }
    }
}

/// `floor(amount × bps / 10,000)` without overflow for any amount (`bps` at most 10,000).
pub fn bps_floor(amount: u128, bps: u128) -> u128 {
    debug_assert!(bps <= BPS, "fees are at most 100%");
    (amount / BPS) * bps + (amount % BPS) * bps / BPS
}

/// `ceil(amount × bps / 10,000)` without overflow for any amount (`bps` at most 10,000).
pub fn bps_ceil(amount: u128, bps: u128) -> u128 {
    debug_assert!(bps <= BPS, "fees are at most 100%");
    (amount / BPS) * bps + ((amount % BPS) * bps).div_ceil(BPS)
}

/// What a market's fills cost its makers, for the locks: the lot size and the maker fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// Base units per lot.
    pub lot: u128,
    /// Maker fee in basis points of the notional; negative: a rebate (paid out of the taker's fee).
    pub maker_fee_bps: i32,
}

impl Terms {
    /// The maker fee of a fill of `notional` quote units: rounded down, 0 for a rebate.
    pub fn maker_fee(&self, notional: u128) -> u128 {
        if self.maker_fee_bps > 0 {
            bps_floor(notional, self.maker_fee_bps as u128)
        } else {
            0
        }
    }

    /// The lock of `lots` at `price` on `side`: a bid locks the notional and its maker fee (both
    /// in quote), an ask its base. `None` on overflow.
    pub fn lock_needed(&self, side: Side, price: u64, lots: u64) -> Option<u128> {
        match side {
            Side::Buy => {
                let notional = u128::from(price).checked_mul(u128::from(lots))?;
                notional.checked_add(self.maker_fee(notional))
            }
            Side::Sell => self.lot.checked_mul(u128::from(lots)),
        }
    }
}

/// One side of a book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookSide {
    side: Side,
    bytes: Vec<u8>,
}

impl BookSide {
    pub fn new(side: Side) -> Self {
        BookSide {
            side,
            bytes: Vec::new(),
        }
    }

    /// A side as state holds it; `None` when its length is not whole records (corruption).
    pub fn from_bytes(side: Side, bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() % RECORD_LEN == 0).then_some(BookSide { side, bytes })
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn len(&self) -> usize {
        self.bytes.len() / RECORD_LEN
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn record(&self, i: usize) -> &[u8] {
        &self.bytes[i * RECORD_LEN..(i + 1) * RECORD_LEN]
    }

    pub fn get(&self, i: usize) -> Resting {
        Resting::read(self.record(i))
    }

    fn set(&mut self, i: usize, r: &Resting) {
        r.write(&mut self.bytes[i * RECORD_LEN..(i + 1) * RECORD_LEN]);
    }

    /// Priority rank: larger is better (matched first).
    fn rank(&self, price: u64, seq: u64) -> (u64, u64) {
        match self.side {
            Side::Buy => (price, !seq),
            Side::Sell => (!price, !seq),
        }
    }

    fn rank_at(&self, i: usize) -> (u64, u64) {
        let r = self.record(i);
        let u64_at = |o: usize| u64::from_le_bytes(r[o..o + 8].try_into().expect("8 bytes"));
        self.rank(u64_at(0), u64_at(8))
    }

    /// The best order, last in the string.
    pub fn best(&self) -> Option<Resting> {
        (!self.is_empty()).then(|| self.get(self.len() - 1))
    }

    /// Inserts an order at its priority.
    pub fn insert(&mut self, r: &Resting) {
        assert!(r.lots > 0, "a resting order has lots");
        let rank = self.rank(r.price, r.seq);
        // Records are sorted by rank ascending: the first one not below it is where it goes.
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.rank_at(mid) < rank {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let at = lo * RECORD_LEN;
        let end = self.bytes.len();
        self.bytes.resize(end + RECORD_LEN, 0);
        self.bytes.copy_within(at..end, at + RECORD_LEN);
        r.write(&mut self.bytes[at..at + RECORD_LEN]);
    }

    /// Removes and returns the order at `i`.
    pub fn remove(&mut self, i: usize) -> Resting {
        let r = self.get(i);
        self.bytes.drain(i * RECORD_LEN..(i + 1) * RECORD_LEN);
        r
    }

    /// The position of `owner`'s order with `client_id`.
    pub fn find_client(&self, owner: &Address, client_id: u64) -> Option<usize> {
        // The client id first: eight bytes as one integer rule out nearly every record.
        (0..self.len()).find(|&i| {
            let r = self.record(i);
            u64::from_le_bytes(r[48..56].try_into().expect("8 bytes")) == client_id
                && r[16..48] == owner.0
        })
    }

    /// The position of the order with sequence `seq`.
    pub fn find_seq(&self, seq: u64) -> Option<usize> {
        (0..self.len()).find(|&i| {
            u64::from_le_bytes(self.record(i)[8..16].try_into().expect("8 bytes")) == seq
        })
    }

    /// Positions of `owner`'s orders, best first.
    pub fn of_owner(&self, owner: &Address) -> Vec<usize> {
        (0..self.len())
            .rev()
            .filter(|&i| self.record(i)[16..48] == owner.0)
            .collect()
    }

    /// Orders best first.
    pub fn iter_best_first(&self) -> impl Iterator<Item = Resting> + '_ {
        (0..self.len()).rev().map(|i| self.get(i))
    }

    /// Up to `depth` price levels, best first: (price, lots).
    pub fn levels(&self, depth: usize) -> Vec<(u64, u128)> {
        let mut out: Vec<(u64, u128)> = Vec::new();
        for r in self.iter_best_first() {
            match out.last_mut() {
                Some((p, lots)) if *p == r.price => *lots += u128::from(r.lots),
                _ => {
                    if out.len() == depth {
                        break;
                    }
                    out.push((r.price, u128::from(r.lots)));
                }
            }
        }
        out
    }

    /// Removes up to `max` orders that expired by `now`; returns them in book order.
    pub fn remove_expired(&mut self, now: Now, max: usize) -> Vec<Resting> {
        let mut removed = Vec::new();
        let mut i = self.len();
        while i > 0 && removed.len() < max {
            i -= 1;
            if self.get(i).expiry.passed(now) {
                removed.push(self.remove(i));
            }
        }
        removed.reverse();
        removed
    }

    /// The earliest expiry among the side's orders: (height, time), `u64::MAX` where none.
    pub fn next_expiry(&self) -> (u64, u64) {
        let (mut h, mut t) = (u64::MAX, u64::MAX);
        for i in 0..self.len() {
            match Resting::read(self.record(i)).expiry {
                Expiry::Height(v) => h = h.min(v),
                Expiry::TimeMs(v) => t = t.min(v),
                Expiry::Never => {}
            }
        }
        (h, t)
    }
}

/// An order arriving at the book: it takes from the other side while it crosses.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub side: Side,
    pub owner: &'a Address,
    /// The worst price it accepts (a market buy: `u64::MAX`; a market sell: 0).
    pub limit: u64,
    pub lots: u64,
    pub self_trade: SelfTrade,
}

impl Incoming<'_> {
    fn crosses(&self, price: u64) -> bool {
        match self.side {
            Side::Buy => price <= self.limit,
            Side::Sell => price >= self.limit,
        }
    }
}

/// What matching did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `lots` traded at the maker's price. `maker` is the resting order after the fill (its
    /// `locked` reduced by `maker_used`); `refund` is its lock left over when it is done.
    Fill {
        maker: Resting,
        price: u64,
        lots: u64,
        /// What the maker's lock paid: for a bid the notional and the maker fee, for an ask the
        /// base.
        maker_used: u128,
        maker_done: bool,
        refund: u128,
    },
    /// A resting order left the book without trading (expired, or cancelled by self-trade
    /// prevention); its whole lock goes back to its owner.
    Removed { order: Resting, reason: Removal },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Expired,
    SelfTrade,
}

impl Removal {
    pub fn name(self) -> &'static str {
        match self {
            Removal::Expired => "expired",
            Removal::SelfTrade => "self_trade",
        }
    }
}

/// How an incoming order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Matched {
    pub lots: u64,
    /// Self-trade prevention stopped it (its rest must not rest).
    pub stopped: bool,
}

/// Both sides of one market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Book {
    pub bids: BookSide,
    pub asks: BookSide,
}

impl Default for Book {
    fn default() -> Self {
        Book {
            bids: BookSide::new(Side::Buy),
            asks: BookSide::new(Side::Sell),
        }
    }
}

impl Book {
    pub fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    pub fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Matches `order` against the other side in price-time priority; fills are at the resting
    /// order's price. Expired resting orders met on the way leave the book.
    pub fn match_order(
        &mut self,
        order: &Incoming<'_>,
        terms: &Terms,
        now: Now,
        steps: &mut Vec<Step>,
    ) -> Matched {
        let makers = self.side_mut(order.side.opposite());
        let mut matched = Matched::default();
        while matched.lots < order.lots {
            let Some(i) = makers.len().checked_sub(1) else {
                break;
            };
            let mut best = makers.get(i);
            if best.expiry.passed(now) {
                makers.remove(i);
                steps.push(Step::Removed {
                    order: best,
                    reason: Removal::Expired,
                });
                continue;
            }
            if !order.crosses(best.price) {
                break;
            }
            if best.owner == *order.owner {
                if order.self_trade != SelfTrade::CancelNewest {
                    makers.remove(i);
                    steps.push(Step::Removed {
                        order: best,
                        reason: Removal::SelfTrade,
                    });
                }
                if order.self_trade == SelfTrade::CancelOldest {
                    continue;
                }
                matched.stopped = true;
                break;
            }
            let lots = best.lots.min(order.lots - matched.lots);
            let used = terms
                .lock_needed(makers.side, best.price, lots)
                .expect("a part of a lock that was computed fits");
            assert!(
                best.locked >= used,
                "a resting order's lock covers its lots"
            );
            best.lots -= lots;
            best.locked -= used;
            let done = best.lots == 0;
            let refund = if done {
                makers.remove(i);
                best.locked
            } else {
                makers.set(i, &best);
                0
            };
            steps.push(Step::Fill {
                maker: best,
                price: best.price,
                lots,
                maker_used: used,
                maker_done: done,
                refund,
            });
            matched.lots += lots;
        }
        matched
    }

    /// Lots `order` would fill now, without touching the book (fill-or-kill).
    pub fn fillable(&self, order: &Incoming<'_>, now: Now) -> u64 {
        let mut lots = 0u64;
        for best in self.side(order.side.opposite()).iter_best_first() {
            if lots >= order.lots {
                break;
            }
            if best.expiry.passed(now) {
                continue;
            }
            if !order.crosses(best.price) {
                break;
            }
            if best.owner == *order.owner {
                match order.self_trade {
                    SelfTrade::CancelOldest => continue,
                    _ => break,
                }
            }
            lots = lots.saturating_add(best.lots);
        }
        lots.min(order.lots)
    }

    /// Whether an order at `price` on `side` would take liquidity (post-only refuses it).
    pub fn would_cross(&self, side: Side, price: u64, now: Now) -> bool {
        let order = Incoming {
            side,
            owner: &Address([0; 32]),
            limit: price,
            lots: 1,
            self_trade: SelfTrade::CancelNewest,
        };
        self.side(side.opposite())
            .iter_best_first()
            .find(|r| !r.expiry.passed(now))
            .is_some_and(|r| order.crosses(r.price))
    }

    /// Checks the invariants (tests, fuzzing): priority order, unique sequences, positive lots,
    /// locks that cover the lots, not crossed.
    pub fn check(&self, terms: &Terms) -> Result<(), String> {
        let mut seqs = std::collections::BTreeSet::new();
        for side in [&self.bids, &self.asks] {
            for i in 0..side.len() {
                let r = side.get(i);
                if r.lots == 0 {
                    return Err(format!("order {} rests with no lots", r.seq));
                }
                let need = terms
                    .lock_needed(side.side, r.price, r.lots)
                    .ok_or("lock overflow")?;
                if r.locked < need {
                    return Err(format!("order {} locks {} < {need}", r.seq, r.locked));
                }
                if !seqs.insert(r.seq) {
                    return Err(format!("sequence {} twice", r.seq));
                }
                if i > 0 && side.rank_at(i - 1) >= side.rank_at(i) {
                    return Err(format!("{:?} side out of order at {i}", side.side));
                }
            }
        }
        if let (Some(b), Some(a)) = (self.bids.best(), self.asks.best()) {
            if b.price >= a.price {
                return Err(format!("crossed: bid {} >= ask {}", b.price, a.price));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERMS: Terms = Terms {
        lot: 10,
        maker_fee_bps: 10,
    };
    const NOW: Now = Now {
        height: 5,
        time_ms: 5_000,
    };

    fn who(n: u8) -> Address {
        Address([n; 32])
    }

    fn rest(book: &mut Book, side: Side, seq: u64, owner: u8, price: u64, lots: u64) {
        let locked = TERMS.lock_needed(side, price, lots).unwrap();
        book.side_mut(side).insert(&Resting {
            seq,
            owner: who(owner),
            client_id: seq,
            price,
            lots,
            locked,
            expiry: Expiry::Never,
        });
    }

    fn take(book: &mut Book, side: Side, owner: u8, limit: u64, lots: u64) -> (Matched, Vec<Step>) {
        let owner = who(owner);
        let mut steps = Vec::new();
        let m = book.match_order(
            &Incoming {
                side,
                owner: &owner,
                limit,
                lots,
                self_trade: SelfTrade::CancelNewest,
            },
            &TERMS,
            NOW,
            &mut steps,
        );
        (m, steps)
    }

    #[test]
    fn price_then_time_priority_and_maker_price() {
        let mut book = Book::default();
        rest(&mut book, Side::Sell, 1, 1, 101, 5);
        rest(&mut book, Side::Sell, 2, 2, 100, 5);
        rest(&mut book, Side::Sell, 3, 3, 100, 5);
        rest(&mut book, Side::Buy, 4, 4, 99, 5);
        book.check(&TERMS).unwrap();
        assert_eq!(book.asks.levels(10), vec![(100, 10), (101, 5)]);
        let (m, steps) = take(&mut book, Side::Buy, 9, 101, 12);
        assert_eq!(m.lots, 12);
        let fills: Vec<(u64, u64, u64)> = steps
            .iter()
            .map(|s| match s {
                Step::Fill {
                    maker, price, lots, ..
                } => (maker.seq, *price, *lots),
                other => panic!("{other:?}"),
            })
            .collect();
        // The older order at 100 first, then the newer, then 101.
        assert_eq!(fills, vec![(2, 100, 5), (3, 100, 5), (1, 101, 2)]);
        assert_eq!(book.asks.best().unwrap().lots, 3);
        book.check(&TERMS).unwrap();
    }

    #[test]
    fn a_bid_makers_lock_pays_notional_and_fee_and_refunds_the_rest() {
        let mut book = Book::default();
        rest(&mut book, Side::Buy, 1, 1, 1_000, 3);
        let (_, steps) = take(&mut book, Side::Sell, 2, 0, 1);
        let Step::Fill {
            maker_used, refund, ..
        } = steps[0]
        else {
            panic!()
        };
        assert_eq!(maker_used, 1_000 + 1);
        assert_eq!(refund, 0);
        let (_, steps) = take(&mut book, Side::Sell, 2, 0, 5);
        let Step::Fill {
            lots,
            maker_done,
            refund,
            ..
        } = steps[0]
        else {
            panic!()
        };
        assert_eq!((lots, maker_done), (2, true));
        // 3,000 + 3 locked, 1,001 + 2,002 used.
        assert_eq!(refund, 0);
        assert!(book.bids.is_empty());
    }

    #[test]
    fn self_trade_modes() {
        for (mode, removed, stopped, filled) in [
            (SelfTrade::CancelNewest, false, true, 0),
            (SelfTrade::CancelOldest, true, false, 2),
            (SelfTrade::CancelBoth, true, true, 0),
        ] {
            let mut book = Book::default();
            rest(&mut book, Side::Sell, 1, 7, 100, 2);
            rest(&mut book, Side::Sell, 2, 8, 101, 2);
            let owner = who(7);
            let mut steps = Vec::new();
            let m = book.match_order(
                &Incoming {
                    side: Side::Buy,
                    owner: &owner,
                    limit: 200,
                    lots: 2,
                    self_trade: mode,
                },
                &TERMS,
                NOW,
                &mut steps,
            );
            assert_eq!(m.stopped, stopped, "{mode:?}");
            assert_eq!(m.lots, filled, "{mode:?}");
            assert_eq!(book.asks.find_seq(1).is_none(), removed, "{mode:?}");
        }
    }

    #[test]
    fn expired_orders_leave_instead_of_filling() {
        let mut book = Book::default();
        book.asks.insert(&Resting {
            seq: 1,
            owner: who(1),
            client_id: 1,
            price: 100,
            lots: 1,
            locked: 10,
            expiry: Expiry::Height(5),
        });
        rest(&mut book, Side::Sell, 2, 2, 100, 1);
        assert_eq!(book.asks.next_expiry(), (5, u64::MAX));
        assert!(book.would_cross(Side::Buy, 100, NOW));
        let (m, steps) = take(&mut book, Side::Buy, 9, 100, 1);
        assert_eq!(m.lots, 1);
        assert!(matches!(
            steps[0],
            Step::Removed {
                reason: Removal::Expired,
                ..
            }
        ));
        assert!(book.asks.is_empty());
    }

    #[test]
    fn fillable_is_a_dry_run() {
        let mut book = Book::default();
        rest(&mut book, Side::Buy, 1, 1, 100, 2);
        rest(&mut book, Side::Buy, 2, 2, 99, 2);
        let before = book.clone();
        let owner = who(3);
        let order = Incoming {
            side: Side::Sell,
            owner: &owner,
            limit: 99,
            lots: 5,
            self_trade: SelfTrade::CancelNewest,
        };
        assert_eq!(book.fillable(&order, NOW), 4);
        assert_eq!(book, before);
    }

    #[test]
    fn fees_in_basis_points_never_overflow_and_round_each_way() {
        for bps in [0u128, 1, 7, 20, 1_000, BPS] {
            for amount in [
                0u128,
                1,
                9_999,
                10_000,
                123_456_789,
                u128::MAX / 3,
                u128::MAX,
            ] {
                let floor = bps_floor(amount, bps);
                let ceil = bps_ceil(amount, bps);
                assert!(floor <= ceil && ceil - floor <= 1, "{amount} {bps}");
                if let Some(exact) = amount.checked_mul(bps) {
                    assert_eq!(floor, exact / BPS);
                    assert_eq!(ceil, exact.div_ceil(BPS));
                }
            }
        }
        // The fuzzer's find: a bid of u64::MAX lots at u64::MAX is an overflow reported as
        // such (no panic, no wrapped lock).
        let t = Terms {
            lot: 1,
            maker_fee_bps: 1_000,
        };
        assert_eq!(t.lock_needed(Side::Buy, u64::MAX, u64::MAX), None);
        assert_eq!(
            t.lock_needed(Side::Buy, u64::MAX, 1 << 32),
            Some(
                u128::from(u64::MAX) * (1 << 32)
                    + bps_floor(u128::from(u64::MAX) * (1 << 32), 1_000)
            )
        );
    }

    #[test]
    fn find_and_remove_by_client_id() {
        let mut book = Book::default();
        rest(&mut book, Side::Buy, 1, 1, 100, 2);
        rest(&mut book, Side::Buy, 2, 2, 100, 2);
        let i = book.bids.find_client(&who(2), 2).unwrap();
        assert_eq!(book.bids.remove(i).seq, 2);
        assert!(book.bids.find_client(&who(2), 2).is_none());
        assert_eq!(book.bids.of_owner(&who(1)).len(), 1);
    }
}
