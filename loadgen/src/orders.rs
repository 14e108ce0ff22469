//! `--workload orders`: DEX order flow, pre-signed like every workload.
//!
//! The faucet (the market authority in dev mode) issues a quote asset and one base asset per
//! market, hands every account a share of each, and opens the markets (tick 1, lot 1, fees 2 bps
//! maker and 5 bps taker). Account `i` trades in market `i % markets`. Four accounts in five are
//! market makers: each transaction re-quotes the maker's one resting order (cancel-replace by
//! client id, the nonce: the order it replaces may have filled meanwhile) 1 to 10 ticks from the
//! mid price, on the maker's own side (`--requote same-side`, the default: half the makers bid,
//! half ask) or on alternating sides (`--requote alternate`). One account in five is a taker: immediate-or-cancel orders
//! 20 ticks through the mid, alternating buy and sell, so they cross the spread and fill against
//! the makers. Each book holds at most one order per maker, and every order is valid whatever
//! the order of arrival: nothing is refused by the workload's own making.

use std::time::Instant;

use anyhow::Result;
use ed25519_dalek::SigningKey;
use mameynode::keys;
use mameynode::modules::banking::{asset_id, Policy};
use mameynode::modules::dex::book::{SelfTrade, Side};
use mameynode::modules::dex::{market_id, DexCall, MarketTerms, NewOrder, OrderRef, TimeInForce};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, BankCall, Hash, Payload};

use super::Funder;

/// The mid price, quote units per lot.
const MID: u64 = 10_000;
/// What each account gets of every asset: far more than a run can spend.
const SHARE: u128 = 1 << 60;

/// Issues the assets, shares them out and opens the markets; their ids.
pub(crate) async fn setup(
    funder: &mut Funder<'_>,
    faucet: &SigningKey,
    addresses: &[Address],
    markets: usize,
    salt: Instant,
) -> Result<Vec<Hash>> {
    let me = keys::address_of(faucet);
    let tag = salt.elapsed().as_nanos() % 1_000_000;
    let supply = SHARE * addresses.len() as u128;
    let create = |symbol: String| {
        Payload::Bank(BankCall::CreateAsset {
            symbol,
            name: "loadgen market asset".into(),
            decimals: 0,
            max_supply: None,
            initial_supply: supply,
            policy: Policy::default(),
            metadata_uri: String::new(),
        })
    };
    let mut assets = Vec::new();
    for symbol in
        std::iter::once(format!("Q{tag}")).chain((0..markets).map(|k| format!("B{k}N{tag}")))
    {
        let id = asset_id(&me, &symbol);
        let call = create(symbol);
        funder.fund(&[me], &|_: &Address| call.clone()).await?;
        let share = |to: &Address| {
            Payload::Bank(BankCall::TransferAsset {
                asset: id,
                to: *to,
                amount: SHARE,
            })
        };
        funder.fund(addresses, &share).await?;
        assets.push(id);
    }
    let quote = assets[0];
    let mut ids = Vec::new();
    for base in &assets[1..] {
        let call = Payload::Dex(DexCall::CreateMarket(MarketTerms {
            base: *base,
            quote,
            tick: 1,
            lot: 1,
            min_size: 1,
            maker_fee_bps: 2,
            taker_fee_bps: 5,
        }));
        funder.fund(&[me], &|_: &Address| call.clone()).await?;
        ids.push(market_id(base, &quote));
    }
    Ok(ids)
}

/// How a market maker re-quotes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Requote {
    /// Each maker quotes one side (half the makers bid, half ask) and replaces its order on it,
    /// as a market maker moves its quote.
    SameSide,
    /// Each re-quote switches side: the replace cancels on one side and rests on the other.
    Alternate,
}

/// The order of account `from`'s transaction with nonce `nonce`.
pub(crate) fn order(markets: &[Hash], requote: Requote, from: usize, nonce: usize) -> Payload {
    let market = markets[from % markets.len()];
    let k = nonce as u64;
    let spread = 1 + (from as u64 + k) % 10;
    let lots = 1 + (from as u64 * 7 + k * 3) % 10;
    let taker = matches!(from % 5, 0);
    let buy = if taker || requote == Requote::Alternate {
        matches!((from + nonce) % 2, 0)
    } else {
        matches!((from / 5) % 2, 0)
    };
    let side = if buy { Side::Buy } else { Side::Sell };
    if taker {
        // A taker: through the mid, immediate or cancel.
        let price = if buy { MID + 20 } else { MID - 20 };
        return Payload::Dex(DexCall::Place {
            market,
            orders: vec![NewOrder {
                client_id: k,
                side,
                price,
                size: u128::from(lots),
                tif: TimeInForce::Ioc,
                market: false,
                self_trade: SelfTrade::CancelNewest,
            }],
        });
    }
    let price = if buy { MID - spread } else { MID + spread };
    Payload::Dex(DexCall::Replace {
        market,
        // The maker's previous quote (none before its first: u64::MAX is never used).
        cancel: OrderRef::Client(k.checked_sub(1).unwrap_or(u64::MAX)),
        order: NewOrder {
            client_id: k,
            side,
            price,
            size: u128::from(lots),
            tif: TimeInForce::Gtc,
            market: false,
            self_trade: SelfTrade::CancelNewest,
        },
    })
}

/// Fills so far in the markets (their trade counts).
pub(crate) fn fills(rpc: &RpcClient, markets: &[Hash]) -> Result<u64> {
    let mut n = 0;
    for m in markets {
        let v: serde_json::Value = rpc.call("dex_getMarket", serde_json::json!([m.to_string()]))?;
        n += v["trades"].as_u64().unwrap_or(0);
    }
    Ok(n)
}
