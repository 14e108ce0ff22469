//! DEX: every call and every refusal on both executors (the testkit runs each block through the
//! sequential oracle and the parallel executor and checks them equal), with each market's vault
//! checked against its locks, proceeds and fees, and its book against its invariants, after
//! every block; and a property test of random order flow over two markets.

use proptest::prelude::*;

use super::book::{Expiry, SelfTrade, Side};
use super::calls::{market_id, DexCall, MarketTerms, NewOrder, OrderRef, TimeInForce};
use super::state::{held_prefix, Held, Market};
use super::{query, vault_account, Dex};
use crate::codec::decode_exact;
use crate::execution::{BlockOutput, TxError};
use crate::modules::banking::{asset_id, AssetId, BankCall, Policy};
use crate::modules::testkit::{addr, Chain};
use crate::modules::{Access, Module};
use crate::types::{Event, Hash, Payload};

const AUTHORITY: u8 = 7;
const LOT: u128 = 10;

fn code(e: &TxError) -> u32 {
    match e {
        TxError::Module(m) => m.code,
        other => panic!("not a module refusal: {other:?}"),
    }
}

fn terms(base: AssetId, quote: AssetId, maker_fee_bps: i32) -> MarketTerms {
    MarketTerms {
        base,
        quote,
        tick: 5,
        lot: LOT,
        min_size: 20,
        maker_fee_bps,
        taker_fee_bps: 20,
    }
}

/// Accounts 0 and 1 issue BASE and QUOTE (and 0 issues ALT), traders 2..5 hold some of each;
/// the authority (7) opened BASE/QUOTE with a 10 bps maker fee.
fn with_market(maker_fee_bps: i32) -> (Chain, Hash, AssetId, AssetId) {
    let mut c = Chain::new();
    c.params.dex.authority = Some(addr(AUTHORITY));
    let create = |symbol: &str| BankCall::CreateAsset {
        symbol: symbol.into(),
        name: symbol.into(),
        decimals: 0,
        max_supply: None,
        initial_supply: 10_000_000,
        policy: Policy::default(),
        metadata_uri: String::new(),
    };
    let txs = vec![
        c.tx(0, create("BASE")),
        c.tx(1, create("QUOTE")),
        c.tx(0, create("ALT")),
    ];
    c.block(txs);
    let (base, quote) = (asset_id(&addr(0), "BASE"), asset_id(&addr(1), "QUOTE"));
    let mut txs = Vec::new();
    for t in 2..6u8 {
        for (from, asset) in [(0, base), (1, quote), (0, asset_id(&addr(0), "ALT"))] {
            txs.push(c.tx(
                from,
                BankCall::TransferAsset {
                    asset,
                    to: addr(t),
                    amount: 1_000_000,
                },
            ));
        }
    }
    let out = c.block(txs);
    assert!(out.discarded.is_empty(), "{:?}", out.discarded);
    c.run(
        AUTHORITY,
        DexCall::CreateMarket(terms(base, quote, maker_fee_bps)),
    )
    .unwrap();
    let m = market_id(&base, &quote);
    check_market(&c, &m);
    (c, m, base, quote)
}

fn limit(client_id: u64, side: Side, price: u64, size: u128) -> NewOrder {
    NewOrder {
        client_id,
        side,
        price,
        size,
        tif: TimeInForce::Gtc,
        market: false,
        self_trade: SelfTrade::CancelNewest,
    }
}

fn place(market: Hash, orders: Vec<NewOrder>) -> DexCall {
    DexCall::Place { market, orders }
}

/// A market's vault holds exactly its locks, pending and held proceeds and fees; its book keeps
/// its invariants.
pub(crate) fn check_market(c: &Chain, id: &Hash) {
    let market: Market = query::market(&c.st, id).unwrap().expect("market");
    let book = query::book(&c.st, id).unwrap();
    book.check(&super::apply::book_terms(&market.terms))
        .unwrap_or_else(|e| panic!("book of {}: {e}", id.to_hex()));
    let state = query::market_state(&c.st, id).unwrap();
    let pending = query::pending(&c.st, id).unwrap().total();
    let mut held = (0u128, 0u128);
    for (k, v) in c.st.state.range(held_prefix(id)..) {
        if !k.as_bytes().starts_with(held_prefix(id).as_bytes()) {
            break;
        }
        let h: Held = decode_exact(v, usize::MAX).unwrap();
        held.0 += h.0.base;
        held.1 += h.0.quote;
    }
    let pool = query::pool(&c.st, id).unwrap().unwrap_or_default();
    let locked = |s: &super::book::BookSide| s.iter_best_first().map(|r| r.locked).sum::<u128>();
    let vault = vault_account(id);
    let holding = |asset: &AssetId| {
        c.st.state
            .get(&crate::modules::banking::state::holding_key(asset, &vault))
            .map_or(0, |b| {
                decode_exact::<crate::modules::banking::Holding>(b, usize::MAX)
                    .unwrap()
                    .amount
            })
    };
    assert_eq!(
        holding(&market.terms.base),
        locked(&book.asks) + pending.base + held.0 + pool.base,
        "vault base"
    );
    assert_eq!(
        holding(&market.terms.quote),
        locked(&book.bids) + pending.quote + held.1 + state.fees + pool.quote,
        "vault quote"
    );
    // The pool's shares are its providers' and the locked minimum.
    if pool.shares > 0 {
        let owned: u128 = query::shares(&c.st, id)
            .unwrap()
            .iter()
            .map(|(_, s)| *s)
            .sum();
        assert_eq!(
            owned + super::pool::MINIMUM_SHARES,
            pool.shares,
            "pool shares"
        );
    }
}

fn events_of(out: &BlockOutput, kind: &str) -> Vec<Event> {
    out.receipts
        .iter()
        .flat_map(|r| r.events.iter().cloned())
        .chain(out.block_events.iter().cloned())
        .filter(|e| e.module == Dex::TAG && e.kind == kind)
        .collect()
}

fn attr(e: &Event, name: &str) -> String {
    e.attributes
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("{name} in {e:?}"))
}

#[test]
fn markets_are_opened_by_the_authority_once_per_pair_with_sound_terms() {
    let (mut c, m, base, quote) = with_market(10);
    let again = c
        .run(AUTHORITY, DexCall::CreateMarket(terms(base, quote, 10)))
        .unwrap_err();
    assert_eq!(code(&again), 10602);
    let alt = asset_id(&addr(0), "ALT");
    let e = c
        .run(2, DexCall::CreateMarket(terms(alt, quote, 10)))
        .unwrap_err();
    assert_eq!(code(&e), 10603);
    let e = c
        .run(AUTHORITY, DexCall::CreateMarket(terms(alt, quote, -30)))
        .unwrap_err();
    assert_eq!(code(&e), 10604, "a rebate over the taker fee");
    let e = c
        .run(
            AUTHORITY,
            DexCall::CreateMarket(terms(Hash([9; 32]), quote, 0)),
        )
        .unwrap_err();
    assert_eq!(code(&e), 10623);
    assert_eq!(query::markets(&c.st).unwrap().len(), 1);
    assert_eq!(query::markets(&c.st).unwrap()[0].id, m);
}

#[test]
fn a_crossing_order_fills_at_the_makers_price_and_both_sides_are_paid_with_fees() {
    let (mut c, m, base, quote) = with_market(10);
    // Maker 2 sells 50 base (5 lots) at 100 per lot; taker 3 buys 30 (3 lots) up to 110.
    c.run(2, place(m, vec![limit(1, Side::Sell, 100, 50)]))
        .unwrap();
    assert_eq!(c.held(&base, 2), 1_000_000 - 50, "the ask locks its base");
    let out = c
        .run(3, place(m, vec![limit(1, Side::Buy, 110, 30)]))
        .unwrap();
    check_market(&c, &m);
    let trades = events_of(&out, "trade");
    assert_eq!(trades.len(), 1);
    assert_eq!(attr(&trades[0], "price"), "100");
    assert_eq!(attr(&trades[0], "size"), "30");
    // Notional 300; taker fee 20 bps rounded up: 1; maker fee 10 bps rounded down: 0.
    assert_eq!(c.held(&base, 3), 1_000_000 + 30);
    assert_eq!(c.held(&quote, 3), 1_000_000 - 301);
    // The maker's proceeds wait for the next block's start.
    assert_eq!(c.held(&quote, 2), 1_000_000);
    let (waiting, _) = query::proceeds_of(&c.st, &m, &addr(2)).unwrap();
    assert_eq!(waiting.quote, 300);
    let out = c.block(vec![]);
    check_market(&c, &m);
    assert_eq!(events_of(&out, "settled").len(), 1);
    assert_eq!(c.held(&quote, 2), 1_000_000 + 300);
    assert_eq!(query::market_state(&c.st, &m).unwrap().fees, 1);
    // The rest of the ask rests: 2 lots.
    let book = query::book(&c.st, &m).unwrap();
    assert_eq!(book.asks.levels(10), vec![(100, 2)]);
    assert!(book.bids.is_empty());
}

#[test]
fn a_rebate_is_paid_out_of_the_taker_fee() {
    let (mut c, m, _, quote) = with_market(-10);
    // A bid maker with a rebate locks the notional only.
    c.run(2, place(m, vec![limit(1, Side::Buy, 1_000, 100)]))
        .unwrap();
    assert_eq!(c.held(&quote, 2), 1_000_000 - 10_000);
    c.run(3, place(m, vec![limit(1, Side::Sell, 1_000, 100)]))
        .unwrap();
    c.block(vec![]);
    check_market(&c, &m);
    // Taker fee 20 bps of 10,000 = 20; rebate 10 bps = 10; the market keeps 10.
    assert_eq!(c.held(&quote, 3), 1_000_000 + 10_000 - 20);
    assert_eq!(c.held(&quote, 2), 1_000_000 - 10_000 + 10);
    assert_eq!(query::market_state(&c.st, &m).unwrap().fees, 10);
}

#[test]
fn price_time_priority_across_levels_and_orders() {
    let (mut c, m, _, _) = with_market(0);
    let txs = vec![
        c.tx(2, place(m, vec![limit(1, Side::Sell, 105, 20)])),
        c.tx(3, place(m, vec![limit(1, Side::Sell, 100, 20)])),
        c.tx(4, place(m, vec![limit(1, Side::Sell, 100, 20)])),
    ];
    c.block(txs);
    let out = c
        .run(5, place(m, vec![limit(1, Side::Buy, 105, 50)]))
        .unwrap();
    let makers: Vec<(String, String)> = events_of(&out, "trade")
        .iter()
        .map(|e| (attr(e, "maker"), attr(e, "price")))
        .collect();
    assert_eq!(
        makers,
        vec![
            (addr(3).to_string(), "100".into()),
            (addr(4).to_string(), "100".into()),
            (addr(2).to_string(), "105".into()),
        ]
    );
    check_market(&c, &m);
}

#[test]
fn bad_orders_are_refused_and_leave_the_book_untouched() {
    let (mut c, m, _, _) = with_market(10);
    c.run(2, place(m, vec![limit(1, Side::Sell, 100, 50)]))
        .unwrap();
    let before = c.st.clone();
    let cases: Vec<(u8, DexCall, u32)> = vec![
        (3, place(m, vec![limit(1, Side::Buy, 101, 20)]), 10606),
        (3, place(m, vec![limit(1, Side::Buy, 100, 25)]), 10607),
        (3, place(m, vec![limit(1, Side::Buy, 100, 10)]), 10608),
        (
            3,
            place(
                m,
                vec![NewOrder {
                    tif: TimeInForce::PostOnly,
                    ..limit(1, Side::Buy, 100, 20)
                }],
            ),
            10609,
        ),
        (
            3,
            place(
                m,
                vec![NewOrder {
                    tif: TimeInForce::Fok,
                    ..limit(1, Side::Buy, 100, 60)
                }],
            ),
            10610,
        ),
        (2, place(m, vec![limit(1, Side::Sell, 120, 20)]), 10611),
        (
            3,
            place(
                m,
                vec![limit(4, Side::Buy, 90, 20), limit(4, Side::Buy, 95, 20)],
            ),
            10611,
        ),
        (
            3,
            DexCall::Cancel {
                market: m,
                order: OrderRef::Client(9),
            },
            10612,
        ),
        (
            3,
            DexCall::Cancel {
                market: m,
                order: OrderRef::Seq(1),
            },
            10613,
        ),
        (
            3,
            place(Hash([1; 32]), vec![limit(1, Side::Buy, 100, 20)]),
            10601,
        ),
        (3, place(m, vec![]), 10614),
        (
            3,
            place(
                m,
                vec![NewOrder {
                    tif: TimeInForce::GoodTil(Expiry::Height(1)),
                    ..limit(1, Side::Buy, 90, 20)
                }],
            ),
            10617,
        ),
        (
            3,
            place(
                m,
                vec![NewOrder {
                    market: true,
                    ..limit(1, Side::Buy, 200, 20)
                }],
            ),
            10616,
        ),
        (3, DexCall::Settle { market: m }, 10620),
    ];
    for (who, call, want) in cases {
        let e = c.run(who, call.clone()).unwrap_err();
        assert_eq!(code(&e), want, "{call:?}: {e:?}");
    }
    // Not enough unlocked balance: Banking's code, nothing moved.
    let e = c
        .run(3, place(m, vec![limit(2, Side::Buy, 95, 200_000)]))
        .unwrap_err();
    assert_eq!(code(&e) / 100, 101, "{e:?}");
    assert_eq!(
        query::book(&c.st, &m).unwrap(),
        query::book(&before, &m).unwrap()
    );
    assert_eq!(
        query::market_state(&c.st, &m).unwrap(),
        query::market_state(&before, &m).unwrap()
    );
    // Halted: orders refused, cancels work.
    c.run(
        AUTHORITY,
        DexCall::SetHalted {
            market: m,
            halted: true,
        },
    )
    .unwrap();
    let e = c
        .run(3, place(m, vec![limit(1, Side::Buy, 90, 20)]))
        .unwrap_err();
    assert_eq!(code(&e), 10605);
    c.run(
        2,
        DexCall::Cancel {
            market: m,
            order: OrderRef::Client(1),
        },
    )
    .unwrap();
    c.run(
        AUTHORITY,
        DexCall::SetHalted {
            market: m,
            halted: false,
        },
    )
    .unwrap();
    c.run(3, place(m, vec![limit(1, Side::Buy, 90, 20)]))
        .unwrap();
    check_market(&c, &m);
}

#[test]
fn ioc_market_orders_and_fok_fill_what_they_can_and_never_rest() {
    let (mut c, m, base, _) = with_market(0);
    c.run(2, place(m, vec![limit(1, Side::Sell, 100, 30)]))
        .unwrap();
    let out = c
        .run(
            3,
            place(
                m,
                vec![NewOrder {
                    tif: TimeInForce::Ioc,
                    ..limit(1, Side::Buy, 100, 50)
                }],
            ),
        )
        .unwrap();
    let order = &events_of(&out, "order")[0];
    assert_eq!(
        (attr(order, "filled"), attr(order, "resting")),
        ("30".into(), "0".into())
    );
    assert!(query::book(&c.st, &m).unwrap().bids.is_empty());
    assert_eq!(c.held(&base, 3), 1_000_000 + 30);
    // A market sell down to any price takes the best bids.
    let txs = vec![c.tx(
        4,
        place(
            m,
            vec![limit(1, Side::Buy, 90, 20), limit(2, Side::Buy, 80, 20)],
        ),
    )];
    c.block(txs);
    let out = c
        .run(
            5,
            place(
                m,
                vec![NewOrder {
                    market: true,
                    tif: TimeInForce::Fok,
                    price: 0,
                    ..limit(1, Side::Sell, 0, 40)
                }],
            ),
        )
        .unwrap();
    let prices: Vec<String> = events_of(&out, "trade")
        .iter()
        .map(|e| attr(e, "price"))
        .collect();
    assert_eq!(prices, vec!["90", "80"]);
    check_market(&c, &m);
}

#[test]
fn self_trade_prevention_on_chain() {
    let (mut c, m, _, _) = with_market(0);
    c.run(2, place(m, vec![limit(1, Side::Sell, 100, 20)]))
        .unwrap();
    // Cancel the oldest: the resting ask leaves, the bid rests.
    let out = c
        .run(
            2,
            place(
                m,
                vec![NewOrder {
                    self_trade: SelfTrade::CancelOldest,
                    ..limit(2, Side::Buy, 100, 20)
                }],
            ),
        )
        .unwrap();
    assert_eq!(
        attr(&events_of(&out, "order_cancelled")[0], "reason"),
        "self_trade"
    );
    let book = query::book(&c.st, &m).unwrap();
    assert!(book.asks.is_empty());
    assert_eq!(book.bids.levels(5), vec![(100, 2)]);
    check_market(&c, &m);
}

#[test]
fn good_til_orders_leave_the_book_at_the_start_of_their_block_and_are_refunded() {
    let (mut c, m, _, quote) = with_market(10);
    let h = c.height;
    c.run(
        2,
        place(
            m,
            vec![NewOrder {
                tif: TimeInForce::GoodTil(Expiry::Height(h + 3)),
                ..limit(1, Side::Buy, 100, 20)
            }],
        ),
    )
    .unwrap();
    assert_eq!(c.held(&quote, 2), 1_000_000 - 200);
    c.block(vec![]);
    assert_eq!(query::orders_of(&c.st, &m, &addr(2)).unwrap().len(), 1);
    let out = c.block(vec![]);
    assert_eq!(events_of(&out, "order_cancelled").len(), 1);
    assert!(query::orders_of(&c.st, &m, &addr(2)).unwrap().is_empty());
    check_market(&c, &m);
    c.block(vec![]);
    assert_eq!(c.held(&quote, 2), 1_000_000, "the whole lock came back");
    check_market(&c, &m);
}

#[test]
fn cancel_all_and_replace() {
    let (mut c, m, _, quote) = with_market(10);
    c.run(
        2,
        place(
            m,
            vec![
                limit(1, Side::Buy, 90, 20),
                limit(2, Side::Buy, 95, 20),
                limit(3, Side::Sell, 120, 20),
            ],
        ),
    )
    .unwrap();
    let out = c
        .run(
            2,
            DexCall::Replace {
                market: m,
                cancel: OrderRef::Client(1),
                order: limit(4, Side::Buy, 85, 40),
            },
        )
        .unwrap();
    assert_eq!(events_of(&out, "order_cancelled").len(), 1);
    let ids: Vec<u64> = query::orders_of(&c.st, &m, &addr(2))
        .unwrap()
        .iter()
        .map(|(_, r)| r.client_id)
        .collect();
    assert_eq!(ids, vec![2, 4, 3]);
    // Replacing an order that is no longer open (filled, cancelled) places the new one.
    let out = c
        .run(
            2,
            DexCall::Replace {
                market: m,
                cancel: OrderRef::Client(1),
                order: limit(5, Side::Buy, 80, 20),
            },
        )
        .unwrap();
    assert!(events_of(&out, "order_cancelled").is_empty());
    // Another account's order by id is refused.
    let e = c
        .run(
            3,
            DexCall::Replace {
                market: m,
                cancel: OrderRef::Seq(2),
                order: limit(1, Side::Buy, 80, 20),
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10613);
    c.run(2, DexCall::CancelAll { market: m }).unwrap();
    assert!(query::orders_of(&c.st, &m, &addr(2)).unwrap().is_empty());
    assert_eq!(c.held(&quote, 2), 1_000_000);
    check_market(&c, &m);
}

#[test]
fn orders_of_different_markets_declare_disjoint_state() {
    let (mut c, m, _, quote) = with_market(10);
    let alt = asset_id(&addr(0), "ALT");
    c.run(AUTHORITY, DexCall::CreateMarket(terms(alt, quote, 10)))
        .unwrap();
    let m2 = market_id(&alt, &quote);
    let keys = |c: &mut Chain, from: u8, market: Hash| {
        let tx = c.tx(from, place(market, vec![limit(1, Side::Buy, 90, 20)]));
        match crate::modules::access(&tx.tx, &c.st).unwrap() {
            Access::Keys { writes, .. } => writes,
            Access::Serial => panic!("an order must not run serially"),
        }
    };
    let a = keys(&mut c, 2, m);
    let b = keys(&mut c, 3, m2);
    assert!(
        a.iter().all(|k| !b.contains(k)),
        "different markets and traders"
    );
    c.resync_nonces();
    // And the block runs in parallel with the same result (the testkit compares both).
    let txs = vec![
        c.tx(2, place(m, vec![limit(1, Side::Buy, 90, 20)])),
        c.tx(3, place(m2, vec![limit(1, Side::Sell, 90, 20)])),
        c.tx(4, place(m2, vec![limit(1, Side::Buy, 90, 20)])),
    ];
    let out = c.block(txs);
    assert!(out.discarded.is_empty());
    check_market(&c, &m);
    check_market(&c, &m2);
    let Payload::Dex(call) = &out.applied[0].tx.payload else {
        panic!()
    };
    assert_eq!(
        Dex::references(call, &addr(2)),
        vec![super::market_history_digest(&m)]
    );
}

#[test]
fn liquidity_in_and_out_of_a_pool_with_its_shares() {
    let (mut c, m, base, quote) = with_market(10);
    let e = c
        .run(
            2,
            DexCall::Swap {
                market: m,
                side: Side::Buy,
                size: 20,
                limit: 200,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10624, "no pool yet");
    // 100,000 base and 1,000,000 quote: 10 quote per base unit, 100 per lot of 10.
    c.run(
        2,
        DexCall::AddLiquidity {
            market: m,
            base_max: 100_000,
            quote_max: 1_000_000,
            min_shares: 1,
        },
    )
    .unwrap();
    check_market(&c, &m);
    let pool = query::pool(&c.st, &m).unwrap().unwrap();
    assert_eq!((pool.base, pool.quote), (100_000, 1_000_000));
    let mine = query::shares_of(&c.st, &m, &addr(2)).unwrap();
    assert_eq!(mine + super::pool::MINIMUM_SHARES, pool.shares);
    // A second provider, out of ratio: only what its shares are worth is taken.
    c.run(
        3,
        DexCall::AddLiquidity {
            market: m,
            base_max: 1_000,
            quote_max: 50_000,
            min_shares: 1,
        },
    )
    .unwrap();
    assert_eq!(c.held(&quote, 3), 1_000_000 - 10_000);
    let theirs = query::shares_of(&c.st, &m, &addr(3)).unwrap();
    let e = c
        .run(
            3,
            DexCall::RemoveLiquidity {
                market: m,
                shares: theirs + 1,
                min_base: 0,
                min_quote: 0,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10627);
    let e = c
        .run(
            3,
            DexCall::RemoveLiquidity {
                market: m,
                shares: theirs,
                min_base: 2_000,
                min_quote: 0,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10626);
    c.run(
        3,
        DexCall::RemoveLiquidity {
            market: m,
            shares: theirs,
            min_base: 0,
            min_quote: 0,
        },
    )
    .unwrap();
    check_market(&c, &m);
    // Rounded for the pool: never more back than was put in.
    assert!(c.held(&base, 3) <= 1_000_000 && c.held(&quote, 3) <= 1_000_000);
    assert_eq!(query::shares_of(&c.st, &m, &addr(3)).unwrap(), 0);
}

#[test]
fn a_swap_takes_each_part_from_the_better_of_the_pool_and_the_book() {
    let (mut c, m, base, quote) = with_market(0);
    // The pool quotes about 100 per lot; the book has asks at 95 (cheaper) and 120 (dearer).
    c.run(
        2,
        DexCall::AddLiquidity {
            market: m,
            base_max: 100_000,
            quote_max: 1_000_000,
            min_shares: 1,
        },
    )
    .unwrap();
    let txs = vec![
        c.tx(3, place(m, vec![limit(1, Side::Sell, 95, 30)])),
        c.tx(4, place(m, vec![limit(1, Side::Sell, 120, 30)])),
    ];
    c.block(txs);
    let (base_before, quote_before) = (c.held(&base, 5), c.held(&quote, 5));
    let out = c
        .run(
            5,
            DexCall::Swap {
                market: m,
                side: Side::Buy,
                size: 200,
                limit: 110,
            },
        )
        .unwrap();
    check_market(&c, &m);
    let swap = &events_of(&out, "swap")[0];
    // The ask at 95 first (cheaper than the pool), then the pool up to the limit; the ask at 120
    // is never touched.
    assert_eq!(attr(swap, "from_book"), "30");
    let from_pool: u128 = attr(swap, "from_pool").parse().unwrap();
    assert!(from_pool > 0, "{swap:?}");
    let bought = c.held(&base, 5) - base_before;
    assert_eq!(bought, 30 + from_pool);
    let paid = quote_before - c.held(&quote, 5);
    // On average within the limit: 110 per lot of 10.
    assert!(
        paid * 10 <= bought * 110 + 10 * 110,
        "paid {paid} for {bought}"
    );
    let book = query::book(&c.st, &m).unwrap();
    assert_eq!(book.asks.levels(5), vec![(120, 3)]);
    // Selling back: the pool (the best bid) takes it.
    let out = c
        .run(
            5,
            DexCall::Swap {
                market: m,
                side: Side::Sell,
                size: 100,
                limit: 80,
            },
        )
        .unwrap();
    check_market(&c, &m);
    assert_eq!(attr(&events_of(&out, "swap")[0], "from_pool"), "100");
}

#[test]
fn a_payout_the_compliance_hook_refuses_is_held_and_collected_with_settle() {
    use crate::modules::compliance::{AssetRules, ComplianceCall, Condition};
    use crate::modules::identity::{ClaimType, IdentityCall, Subject};
    let (mut c, m, _, quote) = with_market(0);
    // QUOTE's issuer (1) admits receivers with a KYC claim from issuer 6 only.
    let txs = vec![
        c.tx(
            AUTHORITY,
            IdentityCall::SetIssuer {
                issuer: addr(6),
                types: vec![ClaimType::Kyc],
                name: "kyc".into(),
            },
        ),
        c.tx(
            1,
            ComplianceCall::SetRules {
                asset: quote,
                rules: AssetRules {
                    receiver: vec![Condition::Claim {
                        claim_type: ClaimType::Kyc,
                        min_level: 1,
                        issuers: vec![addr(6)],
                    }],
                    ..AssetRules::default()
                },
            },
        ),
    ];
    let out = c.block(txs);
    assert!(out.discarded.is_empty(), "{:?}", out.discarded);
    // Maker 2 (no claim) sells; taker 3 buys: the taker pays the vault, a custodian.
    c.run(2, place(m, vec![limit(1, Side::Sell, 100, 20)]))
        .unwrap();
    c.run(3, place(m, vec![limit(1, Side::Buy, 100, 20)]))
        .unwrap();
    // The payout of the maker's quote is refused: held, visible, still in the vault.
    let out = c.block(vec![]);
    assert_eq!(events_of(&out, "settlement_held").len(), 1);
    check_market(&c, &m);
    let (pending, held) = query::proceeds_of(&c.st, &m, &addr(2)).unwrap();
    assert_eq!((pending.quote, held.quote), (0, 200));
    let before = c.held(&quote, 2);
    // Refused again while the maker has no claim (kept on the record or not, nothing moves).
    let _ = c.run(2, DexCall::Settle { market: m });
    assert_eq!(c.held(&quote, 2), before);
    assert_eq!(
        query::proceeds_of(&c.st, &m, &addr(2)).unwrap().1.quote,
        200
    );
    // Once credentialed, the maker collects it.
    c.run(
        6,
        IdentityCall::IssueClaim {
            subject: Subject::Address(addr(2)),
            claim_type: ClaimType::Kyc,
            level: 1,
            jurisdiction: None,
            expires_ms: None,
            evidence: None,
        },
    )
    .unwrap();
    c.run(2, DexCall::Settle { market: m }).unwrap();
    assert_eq!(c.held(&quote, 2), before + 200);
    assert_eq!(query::proceeds_of(&c.st, &m, &addr(2)).unwrap().1.quote, 0);
    check_market(&c, &m);
}

#[test]
fn compliance_refuses_a_fill_of_a_ruled_asset_and_the_book_stays() {
    use crate::modules::compliance::{AssetRules, ComplianceCall, Condition};
    use crate::modules::identity::ClaimType;
    let (mut c, m, base, quote) = with_market(0);
    // BASE's issuer (0) admits receivers with a KYC claim from issuer 6 only; nobody has one.
    c.run(
        0,
        ComplianceCall::SetRules {
            asset: base,
            rules: AssetRules {
                receiver: vec![Condition::Claim {
                    claim_type: ClaimType::Kyc,
                    min_level: 1,
                    issuers: vec![addr(6)],
                }],
                ..AssetRules::default()
            },
        },
    )
    .unwrap();
    c.run(2, place(m, vec![limit(1, Side::Sell, 100, 20)]))
        .unwrap();
    let book = query::book(&c.st, &m).unwrap();
    let state = query::market_state(&c.st, &m).unwrap();
    let held = (c.held(&base, 3), c.held(&quote, 3));
    // Taker 3 would receive BASE from the fill: refused, on the record or not, nothing moves.
    let out = c.run(3, place(m, vec![limit(1, Side::Buy, 100, 20)]));
    if let Ok(out) = &out {
        assert!(
            matches!(
                out.receipts[0].outcome,
                crate::types::Outcome::Refused { .. }
            ),
            "{:?}",
            out.receipts[0].outcome
        );
    }
    assert_eq!(query::book(&c.st, &m).unwrap(), book);
    assert_eq!(query::market_state(&c.st, &m).unwrap(), state);
    assert_eq!((c.held(&base, 3), c.held(&quote, 3)), held);
    check_market(&c, &m);
}

/// One random step of order flow.
#[derive(Debug, Clone)]
enum Op {
    Place {
        who: u8,
        market: bool,
        side: bool,
        price: u64,
        lots: u8,
        tif: u8,
        stp: u8,
        client: u8,
    },
    Cancel {
        who: u8,
        market: bool,
        client: u8,
    },
    CancelAll {
        who: u8,
        market: bool,
    },
    Swap {
        who: u8,
        market: bool,
        side: bool,
        lots: u8,
        limit: u64,
    },
    Liquidity {
        who: u8,
        market: bool,
        add: bool,
        amount: u32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (2..6u8, any::<bool>(), any::<bool>(), 18..23u64, 1..8u8, 0..6u8, 0..3u8, 0..6u8).prop_map(
            |(who, market, side, price, lots, tif, stp, client)| Op::Place { who, market, side, price, lots, tif, stp, client }
        ),
        2 => (2..6u8, any::<bool>(), 0..6u8).prop_map(|(who, market, client)| Op::Cancel { who, market, client }),
        1 => (2..6u8, any::<bool>()).prop_map(|(who, market)| Op::CancelAll { who, market }),
        2 => (2..6u8, any::<bool>(), any::<bool>(), 1..8u8, 15..28u64).prop_map(
            |(who, market, side, lots, limit)| Op::Swap { who, market, side, lots, limit }
        ),
        1 => (2..6u8, any::<bool>(), any::<bool>(), 1..50_000u32).prop_map(
            |(who, market, add, amount)| Op::Liquidity { who, market, add, amount }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random order flow over two markets: both executors agree (the testkit), every book keeps
    /// its invariants (never crossed at rest, locks cover lots) and every vault holds exactly its
    /// locks, proceeds and fees after every block; supply is conserved (the testkit).
    #[test]
    fn order_flow_keeps_books_and_vaults_exact(
        blocks in proptest::collection::vec(proptest::collection::vec(op(), 0..16), 1..8),
    ) {
        let (mut c, m1, _, quote) = with_market(-5);
        let alt = asset_id(&addr(0), "ALT");
        c.run(AUTHORITY, DexCall::CreateMarket(terms(alt, quote, 15))).unwrap();
        let m2 = market_id(&alt, &quote);
        for ops in blocks {
            let h = c.height;
            let txs: Vec<_> = ops.into_iter().map(|o| match o {
                Op::Place { who, market, side, price, lots, tif, stp, client } => {
                    let tif = match tif {
                        0 => TimeInForce::Ioc,
                        1 => TimeInForce::Fok,
                        2 => TimeInForce::PostOnly,
                        3 => TimeInForce::GoodTil(Expiry::Height(h + 2)),
                        _ => TimeInForce::Gtc,
                    };
                    let self_trade = [SelfTrade::CancelNewest, SelfTrade::CancelOldest, SelfTrade::CancelBoth][stp as usize];
                    let o = NewOrder {
                        client_id: client.into(),
                        side: if side { Side::Buy } else { Side::Sell },
                        price: price * 5,
                        size: (u128::from(lots) + 1) * LOT,
                        tif,
                        market: false,
                        self_trade,
                    };
                    c.tx(who, place(if market { m1 } else { m2 }, vec![o]))
                }
                Op::Cancel { who, market, client } => c.tx(who, DexCall::Cancel {
                    market: if market { m1 } else { m2 },
                    order: OrderRef::Client(client.into()),
                }),
                Op::CancelAll { who, market } => c.tx(who, DexCall::CancelAll { market: if market { m1 } else { m2 } }),
                Op::Swap { who, market, side, lots, limit } => c.tx(who, DexCall::Swap {
                    market: if market { m1 } else { m2 },
                    side: if side { Side::Buy } else { Side::Sell },
                    size: (u128::from(lots) + 1) * LOT,
                    limit: limit * 5,
                }),
                Op::Liquidity { who, market, add, amount } => {
                    let market = if market { m1 } else { m2 };
                    if add {
                        c.tx(who, DexCall::AddLiquidity { market, base_max: u128::from(amount) * 10, quote_max: u128::from(amount) * 200, min_shares: 0 })
                    } else {
                        c.tx(who, DexCall::RemoveLiquidity { market, shares: u128::from(amount), min_base: 0, min_quote: 0 })
                    }
                }
            }).collect();
            c.block(txs);
            check_market(&c, &m1);
            check_market(&c, &m2);
        }
        // Everyone cancels; after the payouts the vaults hold the fees alone.
        let txs: Vec<_> = (2..6u8).flat_map(|w| [c.tx(w, DexCall::CancelAll { market: m1 }), c.tx(w, DexCall::CancelAll { market: m2 })]).collect();
        c.block(txs);
        c.block(vec![]);
        for m in [m1, m2] {
            check_market(&c, &m);
            let b = query::book(&c.st, &m).unwrap();
            prop_assert!(b.bids.is_empty() && b.asks.is_empty());
            prop_assert!(query::pending(&c.st, &m).unwrap().0.is_empty());
        }
    }
}
