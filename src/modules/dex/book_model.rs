//! The matching engine against a reference model (property test): a plain list of resting
//! orders, matched by searching it for the best order at every step. Random order streams (rests,
//! takers with any limit, size and self-trade mode, cancels, expiries) must give the same fills,
//! the same removals and the same book, and the book must keep its invariants throughout.

use proptest::prelude::*;

use super::book::{Book, Expiry, Incoming, Now, Removal, Resting, SelfTrade, Side, Step, Terms};
use crate::types::Address;

const TERMS: Terms = Terms {
    lot: 10,
    maker_fee_bps: 7,
};

/// What an operation did, in terms both implementations can give.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Did {
    Fill {
        maker: u64,
        price: u64,
        lots: u64,
        done: bool,
    },
    Removed {
        order: u64,
        expired: bool,
    },
}

#[derive(Default)]
struct Model {
    bids: Vec<Resting>,
    asks: Vec<Resting>,
}

fn better(side: Side, a: &Resting, b: &Resting) -> bool {
    match side {
        Side::Buy => (a.price, std::cmp::Reverse(a.seq)) > (b.price, std::cmp::Reverse(b.seq)),
        Side::Sell => {
            (std::cmp::Reverse(a.price), std::cmp::Reverse(a.seq))
                > (std::cmp::Reverse(b.price), std::cmp::Reverse(b.seq))
        }
    }
}

impl Model {
    fn side(&mut self, side: Side) -> &mut Vec<Resting> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn best(&mut self, side: Side) -> Option<usize> {
        let orders = self.side(side);
        (0..orders.len()).reduce(|b, i| {
            if better(side, &orders[i], &orders[b]) {
                i
            } else {
                b
            }
        })
    }

    fn take(&mut self, o: &Incoming<'_>, now: Now, did: &mut Vec<Did>) -> (u64, bool) {
        let makers = o.side.opposite();
        let (mut filled, mut stopped) = (0u64, false);
        while filled < o.lots {
            let Some(i) = self.best(makers) else { break };
            let m = self.side(makers)[i];
            if m.expiry.passed(now) {
                self.side(makers).remove(i);
                did.push(Did::Removed {
                    order: m.seq,
                    expired: true,
                });
                continue;
            }
            let crosses = match o.side {
                Side::Buy => m.price <= o.limit,
                Side::Sell => m.price >= o.limit,
            };
            if !crosses {
                break;
            }
            if m.owner == *o.owner {
                if o.self_trade != SelfTrade::CancelNewest {
                    self.side(makers).remove(i);
                    did.push(Did::Removed {
                        order: m.seq,
                        expired: false,
                    });
                }
                if o.self_trade == SelfTrade::CancelOldest {
                    continue;
                }
                stopped = true;
                break;
            }
            let lots = m.lots.min(o.lots - filled);
            let used = TERMS
                .lock_needed(makers, m.price, lots)
                .expect("small numbers");
            let r = &mut self.side(makers)[i];
            r.lots -= lots;
            r.locked -= used;
            let done = r.lots == 0;
            if done {
                self.side(makers).remove(i);
            }
            did.push(Did::Fill {
                maker: m.seq,
                price: m.price,
                lots,
                done,
            });
            filled += lots;
        }
        (filled, stopped)
    }

    /// Both sides as (price, seq, lots, locked), best first.
    fn sorted(&mut self) -> Vec<(u64, u64, u64, u128)> {
        let mut out = Vec::new();
        for side in [Side::Buy, Side::Sell] {
            let mut v = self.side(side).clone();
            v.sort_by(|a, b| {
                if better(side, a, b) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            });
            out.extend(v.iter().map(|r| (r.price, r.seq, r.lots, r.locked)));
        }
        out
    }
}

fn engine_sorted(book: &Book) -> Vec<(u64, u64, u64, u128)> {
    [&book.bids, &book.asks]
        .iter()
        .flat_map(|s| {
            s.iter_best_first()
                .map(|r| (r.price, r.seq, r.lots, r.locked))
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    /// An order from `owner`: it takes what crosses, and rests its remainder when `rest`.
    Order {
        sell: bool,
        owner: u8,
        price: u64,
        lots: u64,
        stp: u8,
        rest: bool,
        expires_in: Option<u64>,
    },
    Cancel {
        owner: u8,
        client: u64,
    },
    /// The next block: heights and times move on, expiries come due.
    Next,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), 0..4u8, 95..106u64, 1..6u64, 0..3u8, any::<bool>(), proptest::option::of(1..4u64))
            .prop_map(|(sell, owner, price, lots, stp, rest, expires_in)| Op::Order { sell, owner, price, lots, stp, rest, expires_in }),
        2 => (0..4u8, 0..40u64).prop_map(|(owner, client)| Op::Cancel { owner, client }),
        1 => Just(Op::Next),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_engine_equals_the_reference_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut book = Book::default();
        let mut model = Model::default();
        let mut now = Now { height: 1, time_ms: 1_000 };
        let mut seq = 0u64;
        for o in ops {
            match o {
                Op::Order { sell, owner, price, lots, stp, rest, expires_in } => {
                    seq += 1;
                    let side = if sell { Side::Sell } else { Side::Buy };
                    let who = Address([owner; 32]);
                    let incoming = Incoming {
                        side,
                        owner: &who,
                        limit: price,
                        lots,
                        self_trade: [SelfTrade::CancelNewest, SelfTrade::CancelOldest, SelfTrade::CancelBoth][stp as usize],
                    };
                    let mut steps = Vec::new();
                    let matched = book.match_order(&incoming, &TERMS, now, &mut steps);
                    let got: Vec<Did> = steps.iter().map(|s| match s {
                        Step::Fill { maker, price, lots, maker_done, .. } => Did::Fill { maker: maker.seq, price: *price, lots: *lots, done: *maker_done },
                        Step::Removed { order, reason } => Did::Removed { order: order.seq, expired: *reason == Removal::Expired },
                    }).collect();
                    let mut want = Vec::new();
                    let (filled, stopped) = model.take(&incoming, now, &mut want);
                    prop_assert_eq!(&got, &want);
                    prop_assert_eq!((matched.lots, matched.stopped), (filled, stopped));
                    let left = lots - filled;
                    if rest && left > 0 && !stopped {
                        let r = Resting {
                            seq,
                            owner: who,
                            client_id: seq,
                            price,
                            lots: left,
                            locked: TERMS.lock_needed(side, price, left).expect("small"),
                            expiry: expires_in.map_or(Expiry::Never, |h| Expiry::Height(now.height + h)),
                        };
                        book.side_mut(side).insert(&r);
                        model.side(side).push(r);
                    }
                }
                Op::Cancel { owner, client } => {
                    let who = Address([owner; 32]);
                    for side in [Side::Buy, Side::Sell] {
                        let found = book.side(side).find_client(&who, client);
                        let in_model = model.side(side).iter().position(|r| r.owner == who && r.client_id == client);
                        prop_assert_eq!(found.is_some(), in_model.is_some());
                        if let (Some(i), Some(j)) = (found, in_model) {
                            let a = book.side_mut(side).remove(i);
                            let b = model.side(side).remove(j);
                            prop_assert_eq!(a, b);
                        }
                    }
                }
                Op::Next => {
                    now = Now { height: now.height + 1, time_ms: now.time_ms + 1_000 };
                }
            }
            prop_assert_eq!(engine_sorted(&book), model.sorted());
            prop_assert!(book.check(&TERMS).is_ok(), "{:?}", book.check(&TERMS));
        }
    }
}
