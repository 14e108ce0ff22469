//! Standing orders at the start of a block: the block's execution time with 100,000 active
//! orders (a full budget of them due) against the same block with none. Prints figures; the
//! budget bounds the work, whatever the number of active orders.
//!
//! `cargo bench --bench standing_orders`

use std::time::Instant;

use ed25519_dalek::SigningKey;
use mameynode::execution::{execute_block, BlockEnv, ChainParams, MemState};
use mameynode::modules::payments::{OnFailure, PaymentOrder, PaymentsCall, Period, References};
use mameynode::types::{Account, Address, Payload, Transaction, TxEnvelope};

const CHAIN: u64 = 7;
const ORDERS: usize = 100_000;
const OWNERS: usize = 1_000;

fn params() -> ChainParams {
    ChainParams {
        genesis_hash: [0; 32],
        chain_id: CHAIN,
        min_fee: 1,
        staking: Default::default(),
        banking: Default::default(),
        identity: Default::default(),
        compliance: Default::default(),
        payments: Default::default(),
        dex: Default::default(),
    }
}

fn run(st: &mut MemState, env: BlockEnv, txs: Vec<TxEnvelope>) -> (f64, usize) {
    let lthash = st.lthash();
    let t = Instant::now();
    let out = execute_block(&*st, &lthash, &params(), &env, txs).expect("in memory");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    st.apply(&out);
    let paid = out
        .block_events
        .iter()
        .filter(|e| e.kind == "standing_order_paid")
        .count();
    (ms, paid)
}

fn main() {
    let keys: Vec<SigningKey> = (0..OWNERS)
        .map(|i| SigningKey::from_bytes(&mamey_seed(i)))
        .collect();
    let mut st = MemState::default();
    for k in &keys {
        st.accounts.insert(
            Address(k.verifying_key().to_bytes()),
            Account {
                balance: 1 << 40,
                nonce: 0,
            },
        );
    }
    let env = |h: u64| BlockEnv {
        height: h,
        proposer: Address([0xee; 32]),
        time_ms: h * 100,
    };
    // 100 orders per owner, every 100 blocks: created over 10 blocks, so about 1,000 fall due at
    // every block once the schedule is full.
    let per_owner = ORDERS / OWNERS;
    let t = Instant::now();
    for round in 0..per_owner {
        let txs: Vec<TxEnvelope> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let call = PaymentsCall::StandingOrderCreate {
                    payment: PaymentOrder {
                        asset: None,
                        to: Address([(i % 250) as u8 + 1; 32]),
                        amount: 1,
                        refs: References::default(),
                    },
                    period: Period::Blocks(100),
                    count: None,
                    on_failure: OnFailure::Retry,
                };
                Transaction::sign(k, CHAIN, round as u64, 1, Payload::Payments(call))
            })
            .collect();
        run(&mut st, env(1 + round as u64 / 10), txs);
    }
    eprintln!(
        "created {ORDERS} standing orders in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut with = Vec::new();
    for h in 100..140u64 {
        with.push(run(&mut st, env(h), Vec::new()));
    }
    let mut empty = MemState::default();
    let mut without = Vec::new();
    for h in 100..140u64 {
        without.push(run(&mut empty, env(h), Vec::new()).0);
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[v.len() - 1])
    };
    let paid: Vec<usize> = with.iter().map(|w| w.1).collect();
    let mut with_ms: Vec<f64> = with.iter().map(|w| w.0).collect();
    let (p50, max) = stats(&mut with_ms);
    let (q50, qmax) = stats(&mut without);
    println!(
        "{{\"active_orders\": {ORDERS}, \"budget_per_block\": {}, \"paid_per_block_max\": {}, \"paid_per_block_min\": {}, \"block_ms_p50_with\": {p50:.2}, \"block_ms_max_with\": {max:.2}, \"block_ms_p50_without\": {q50:.3}, \"block_ms_max_without\": {qmax:.3}}}",
        params().payments.standing_orders_per_block_max,
        paid.iter().max().unwrap_or(&0),
        paid.iter().min().unwrap_or(&0),
    );
}

fn mamey_seed(i: usize) -> [u8; 32] {
    let mut s = [7u8; 32];
    s[..8].copy_from_slice(&(i as u64).to_be_bytes());
    s
}
