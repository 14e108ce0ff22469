//! The DEX matching engine alone (`modules::dex::book`), on one core: a pre-generated stream of
//! order operations on a book of a few hundred resting orders around a fixed mid price. The mix
//! is about 60 % resting limit orders placed near the mid (`insert`), 25 % cancels by client id
//! (`find_client` on bids then asks, then `remove`, as a `cancel` call does) and 15 % crossing
//! orders that take one to three price levels (`match_order`, which removes the makers it fills
//! completely). The stream is generated once, from a seeded xorshift, by running it on a copy of
//! the book; the book's size stays within a band around its start.
//!
//! A second group, `place_path`, adds what a `place` call asks of the book besides the engine:
//! the duplicate client id search on both sides and a `match_order` before a limit order rests.
//!
//! `cargo bench --bench dex_matching -- --warm-up-time 1 --measurement-time 3`. Before criterion
//! runs, one plain line `dex matching: N ops/s` gives the throughput over 1,000,000 operations
//! timed with `Instant` (skipped with `--list`, smaller with `--test`; `DEX_BENCH_BOOK=N` and
//! `DEX_BENCH_OPS=N` change its book size and operation count).

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput};
use mameynode::modules::dex::book::{
    Book, Expiry, Incoming, Now, Resting, SelfTrade, Side, Step, Terms,
};
use mameynode::types::Address;

/// Quote units per lot at the mid.
const MID: u64 = 1_000_000;
/// Resting prices lie within this many ticks of the mid.
const SPREAD_TICKS: u64 = 64;
/// Resting orders in the book at the start, and the band the generator keeps it in.
const BOOK_ORDERS: usize = 400;
const BAND: usize = 60;
/// Distinct makers, and the one taker (never a maker: no self-trade in this stream).
const MAKERS: usize = 64;
/// Operations per criterion iteration (each iteration replays them on a fresh copy of the book).
const CHUNK: usize = 20_000;
/// Operations timed for the plain line.
const TIMED_OPS: usize = 1_000_000;

const TERMS: Terms = Terms {
    lot: 1_000,
    maker_fee_bps: 5,
};
const NOW: Now = Now {
    height: 1_000,
    time_ms: 1_000_000,
};

/// A small xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n small: the modulo bias does not matter here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn owners() -> Vec<Address> {
    (0..=MAKERS)
        .map(|i| {
            let mut a = [0u8; 32];
            a[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            a[31] = 0xd0;
            Address(a)
        })
        .collect()
}

/// One operation of the stream, compact (owners by index into `owners()`).
#[derive(Clone, Copy)]
enum Op {
    /// A limit order that does not cross rests.
    Post {
        side: Side,
        owner: u16,
        client_id: u64,
        seq: u64,
        price: u64,
        lots: u64,
        expiry: Expiry,
    },
    /// The owner cancels its order by client id (the side is not known to the call).
    Cancel { owner: u16, client_id: u64 },
    /// An order that takes liquidity; what it does not fill does not rest.
    Cross { side: Side, limit: u64, lots: u64 },
}

fn resting(owners: &[Address], o: &Op) -> Resting {
    match *o {
        Op::Post {
            side,
            owner,
            client_id,
            seq,
            price,
            lots,
            expiry,
        } => Resting {
            seq,
            owner: owners[owner as usize],
            client_id,
            price,
            lots,
            locked: TERMS
                .lock_needed(side, price, lots)
                .expect("small prices and lots"),
            expiry,
        },
        _ => unreachable!("only posts rest"),
    }
}

/// Applies `op` to `book` as the engine runs it; returns the lots filled (0 for a post).
#[inline]
fn apply(book: &mut Book, owners: &[Address], steps: &mut Vec<Step>, op: &Op) -> u64 {
    match *op {
        Op::Post { side, .. } => {
            book.side_mut(side).insert(&resting(owners, op));
            0
        }
        Op::Cancel { owner, client_id } => {
            let owner = &owners[owner as usize];
            for side in [Side::Buy, Side::Sell] {
                if let Some(i) = book.side(side).find_client(owner, client_id) {
                    book.side_mut(side).remove(i);
                    return 0;
                }
            }
            unreachable!("the stream cancels only live orders")
        }
        Op::Cross { side, limit, lots } => {
            steps.clear();
            let m = book.match_order(
                &Incoming {
                    side,
                    owner: &owners[MAKERS],
                    limit,
                    lots,
                    self_trade: SelfTrade::CancelNewest,
                },
                &TERMS,
                NOW,
                steps,
            );
            m.lots
        }
    }
}

/// The same operation as a `place` call asks it of the book: a new order's client id is looked
/// up on both sides first, and a limit order is matched before it rests (here it never crosses).
#[inline]
fn apply_place_path(book: &mut Book, owners: &[Address], steps: &mut Vec<Step>, op: &Op) -> u64 {
    match *op {
        Op::Post {
            side,
            owner,
            client_id,
            price,
            lots,
            ..
        } => {
            let who = &owners[owner as usize];
            assert!(
                book.bids.find_client(who, client_id).is_none()
                    && book.asks.find_client(who, client_id).is_none()
            );
            steps.clear();
            let m = book.match_order(
                &Incoming {
                    side,
                    owner: who,
                    limit: price,
                    lots,
                    self_trade: SelfTrade::CancelNewest,
                },
                &TERMS,
                NOW,
                steps,
            );
            debug_assert_eq!(m.lots, 0);
            book.side_mut(side).insert(&resting(owners, op));
            0
        }
        Op::Cancel { .. } => apply(book, owners, steps, op),
        Op::Cross { .. } => {
            // The taker's client id is looked up too (it is a new order).
            let taker = &owners[MAKERS];
            black_box(book.bids.find_client(taker, u64::MAX));
            black_box(book.asks.find_client(taker, u64::MAX));
            apply(book, owners, steps, op)
        }
    }
}

/// The starting book and a stream of `n` operations on it, with the counts of each kind.
fn generate(n: usize, seed: u64, book_orders: usize) -> (Book, Vec<Op>, [usize; 3]) {
    let band = (book_orders * BAND / BOOK_ORDERS).max(1);
    let owners = owners();
    let mut rng = Rng(seed);
    let mut seq = 1u64;
    let mut next_client = vec![1u64; MAKERS];
    // Live orders, for cancels: (owner, client id); order does not matter.
    let mut live: Vec<(u16, u64)> = Vec::new();
    let mut live_at: std::collections::HashMap<(u16, u64), usize> = Default::default();
    let remove_live = |live: &mut Vec<(u16, u64)>,
                       live_at: &mut std::collections::HashMap<(u16, u64), usize>,
                       k: (u16, u64)| {
        let i = live_at.remove(&k).expect("a live order");
        live.swap_remove(i);
        if i < live.len() {
            live_at.insert(live[i], i);
        }
    };
    let mut post = |rng: &mut Rng, book: &Book, seq: &mut u64| -> Op {
        let side = if rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        // Near the mid more often: the smaller of two uniform distances.
        let d = 1 + rng.below(SPREAD_TICKS).min(rng.below(SPREAD_TICKS));
        let mut price = match side {
            Side::Buy => MID - d,
            Side::Sell => MID + d,
        };
        // A post does not cross: behind the other side's best.
        if let Some(best) = book.side(side.opposite()).best() {
            price = match side {
                Side::Buy => price.min(best.price - 1),
                Side::Sell => price.max(best.price + 1),
            };
        }
        let owner = rng.below(MAKERS as u64) as u16;
        let client_id = next_client[owner as usize];
        next_client[owner as usize] += 1;
        let op = Op::Post {
            side,
            owner,
            client_id,
            seq: *seq,
            price,
            lots: 1 + rng.below(20),
            // One in eight is good-til (far ahead: it never expires in the stream).
            expiry: if rng.below(8) == 0 {
                Expiry::Height(u64::MAX)
            } else {
                Expiry::Never
            },
        };
        *seq += 1;
        op
    };

    let mut book = Book::default();
    for _ in 0..book_orders {
        let op = post(&mut rng, &book, &mut seq);
        if let Op::Post {
            side,
            owner,
            client_id,
            ..
        } = op
        {
            book.side_mut(side).insert(&resting(&owners, &op));
            live_at.insert((owner, client_id), live.len());
            live.push((owner, client_id));
        }
    }
    book.check(&TERMS).expect("a valid starting book");
    let start = book.clone();

    let mut ops = Vec::with_capacity(n);
    let mut counts = [0usize; 3];
    let mut steps = Vec::new();
    while ops.len() < n {
        let roll = rng.below(100);
        let size = live.len();
        let kind = if size < book_orders - band {
            0
        } else if size > book_orders + band {
            1
        } else if roll < 60 {
            0
        } else if roll < 85 {
            1
        } else {
            2
        };
        let op = match kind {
            0 => {
                let op = post(&mut rng, &book, &mut seq);
                if let Op::Post {
                    owner, client_id, ..
                } = op
                {
                    live_at.insert((owner, client_id), live.len());
                    live.push((owner, client_id));
                }
                op
            }
            1 => {
                let (owner, client_id) = live[rng.below(live.len() as u64) as usize];
                remove_live(&mut live, &mut live_at, (owner, client_id));
                Op::Cancel { owner, client_id }
            }
            _ => {
                let side = if rng.below(2) == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let levels = book.side(side.opposite()).levels(3);
                if levels.is_empty() {
                    continue;
                }
                // Takes the levels before the k-th whole and part of the k-th.
                let k = 1 + rng.below(levels.len() as u64) as usize;
                let whole: u128 = levels[..k - 1].iter().map(|l| l.1).sum();
                let part = 1 + rng.below(levels[k - 1].1 as u64) as u128;
                seq += 1;
                Op::Cross {
                    side,
                    limit: levels[k - 1].0,
                    lots: (whole + part) as u64,
                }
            }
        };
        counts[kind] += 1;
        apply(&mut book, &owners, &mut steps, &op);
        for s in &steps {
            if let Step::Fill {
                maker,
                maker_done: true,
                ..
            } = s
            {
                let owner = owners
                    .iter()
                    .position(|a| *a == maker.owner)
                    .expect("a maker") as u16;
                remove_live(&mut live, &mut live_at, (owner, maker.client_id));
            }
        }
        steps.clear();
        ops.push(op);
    }
    book.check(&TERMS).expect("a valid book after the stream");
    assert_eq!(book.bids.len() + book.asks.len(), live.len());
    (start, ops, counts)
}

fn run(book: &mut Book, owners: &[Address], ops: &[Op], place_path: bool) -> u64 {
    let mut steps = Vec::with_capacity(16);
    let mut filled = 0;
    for op in ops {
        filled += if place_path {
            apply_place_path(book, owners, &mut steps, op)
        } else {
            apply(book, owners, &mut steps, op)
        };
    }
    filled
}

/// The plain line: operations per second over `n` operations, timed with `Instant`.
fn timed(n: usize, book_orders: usize) {
    let owners = owners();
    let (start, ops, counts) = generate(n, 0x6d61_6d65_795f_6478, book_orders);
    let mut end = 0;
    for (place_path, label) in [(false, "dex matching"), (true, "dex matching (place path)")] {
        let mut book = start.clone();
        let t = Instant::now();
        let filled = run(&mut book, &owners, &ops, place_path);
        let secs = t.elapsed().as_secs_f64();
        black_box(filled);
        book.check(&TERMS).expect("a valid book");
        end = book.bids.len() + book.asks.len();
        println!("{label}: {:.0} ops/s", n as f64 / secs);
    }
    println!(
        "  ({n} ops: {} posts, {} cancels, {} crossing; book of {} orders at the start, {end} at the end)",
        counts[0],
        counts[1],
        counts[2],
        start.bids.len() + start.asks.len(),
    );
}

fn benches(c: &mut Criterion) {
    let owners = owners();
    let (start, ops, _) = generate(CHUNK, 0x0ddb_a11c_0ffe_e000, BOOK_ORDERS);
    let mut g = c.benchmark_group("dex_matching");
    g.throughput(Throughput::Elements(CHUNK as u64));
    for (place_path, name) in [(false, "mixed_ops"), (true, "place_path")] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || start.clone(),
                |mut book| {
                    black_box(run(&mut book, &owners, &ops, place_path));
                    book
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--list") {
        let test = args.iter().any(|a| a == "--test");
        // `DEX_BENCH_BOOK` and `DEX_BENCH_OPS` change the plain line's book size and operation
        // count (e.g. a book near `dex.orders_per_side_max`); criterion's groups keep theirs.
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
        };
        let ops = env("DEX_BENCH_OPS").unwrap_or(if test { 10_000 } else { TIMED_OPS });
        timed(ops, env("DEX_BENCH_BOOK").unwrap_or(BOOK_ORDERS).max(2));
    }
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
