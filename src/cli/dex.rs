//! `mameynode dex …`: markets, orders, cancels, books, trades (INTERFACES §12). Prices are quote
//! units per lot and sizes base units, as in the chain's calls.

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use mameynode::modules::banking::AssetId;
use mameynode::modules::dex::book::{Expiry, SelfTrade, Side};
use mameynode::modules::dex::{market_id, DexCall, MarketTerms, NewOrder, OrderRef, TimeInForce};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, Hash, Payload};
use serde_json::{json, Value};

use super::{print_json, send, send_quiet, RpcArg, TxOptions};

#[derive(Subcommand)]
pub(super) enum DexCommand {
    /// Markets: create (the market authority), halt, resume, list, show.
    #[command(subcommand)]
    Market(MarketCommand),
    /// Place an order; prints the transaction id.
    Order(OrderArgs),
    /// Cancel one of your orders (by client id or order id) or all of them in a market.
    Cancel(CancelArgs),
    /// Cancel an order and place another in one transaction.
    Replace {
        /// The client id of the order to cancel.
        #[arg(long)]
        cancel_client_id: u64,
        #[command(flatten)]
        order: OrderFields,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Collect proceeds that a payout could not pay (after a compliance refusal).
    Settle {
        #[arg(long)]
        market: Hash,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// The market's constant-product pool: add or remove liquidity, show it.
    #[command(subcommand)]
    Pool(PoolCommand),
    /// Buy or sell now, each part from the better of the pool and the book, within a limit
    /// price per lot.
    Swap {
        #[arg(long)]
        market: Hash,
        #[arg(long, value_enum)]
        side: SideArg,
        /// Base units, a multiple of the lot.
        #[arg(long)]
        size: u128,
        /// The worst price per lot (quote units) any part may have.
        #[arg(long)]
        limit: u64,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// The book's L2 depth, best first, with its sequence and height.
    Book {
        #[arg(long)]
        market: Hash,
        #[arg(long, default_value_t = 20)]
        depth: usize,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Recent trades, newest first.
    Trades {
        #[arg(long)]
        market: Hash,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// An account's open orders and proceeds in a market.
    Orders {
        #[arg(long)]
        market: Hash,
        #[arg(long)]
        address: Address,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// The last 24 hours of trading.
    Stats {
        #[arg(long)]
        market: Hash,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

#[derive(Subcommand)]
pub(super) enum PoolCommand {
    /// Deposit (the first deposit opens the pool); takes at most the amounts, in the pool's
    /// ratio.
    Add {
        #[arg(long)]
        market: Hash,
        #[arg(long)]
        base: u128,
        #[arg(long)]
        quote: u128,
        /// Refuse if fewer shares would be minted.
        #[arg(long, default_value_t = 0)]
        min_shares: u128,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Burn shares for their part of the reserves.
    Remove {
        #[arg(long)]
        market: Hash,
        #[arg(long)]
        shares: u128,
        #[arg(long, default_value_t = 0)]
        min_base: u128,
        #[arg(long, default_value_t = 0)]
        min_quote: u128,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// The pool's reserves, shares and price (and an address's shares).
    Show {
        #[arg(long)]
        market: Hash,
        #[arg(long)]
        address: Option<Address>,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

#[derive(Subcommand)]
pub(super) enum MarketCommand {
    /// Open a market for a pair (one per pair); prints the market id.
    Create {
        /// Base asset id.
        #[arg(long)]
        base: AssetId,
        /// Quote asset id.
        #[arg(long)]
        quote: AssetId,
        /// Prices are multiples of this (quote units per lot).
        #[arg(long)]
        tick: u64,
        /// Base units per lot; sizes are multiples of it.
        #[arg(long)]
        lot: u128,
        /// Smallest order size in base units (default: one lot).
        #[arg(long)]
        min_size: Option<u128>,
        /// Maker fee in basis points (negative: a rebate, at most the taker fee).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        maker_fee_bps: i32,
        /// Taker fee in basis points (at most 1000).
        #[arg(long, default_value_t = 0)]
        taker_fee_bps: u32,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Halt a market: no orders and no fills until it resumes (cancels still work).
    Halt {
        #[arg(long)]
        market: Hash,
        #[command(flatten)]
        tx: TxOptions,
    },
    Resume {
        #[arg(long)]
        market: Hash,
        #[command(flatten)]
        tx: TxOptions,
    },
    List(RpcArg),
    Show {
        #[arg(long)]
        market: Hash,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(super) enum SideArg {
    Buy,
    Sell,
}

#[derive(Clone, Copy, ValueEnum)]
enum TifArg {
    Gtc,
    Ioc,
    Fok,
    PostOnly,
}

/// Self-trade prevention: which order is cancelled.
#[derive(Clone, Copy, ValueEnum)]
enum SelfTradeArg {
    #[value(name = "cancel-newest")]
    Newest,
    #[value(name = "cancel-oldest")]
    Oldest,
    #[value(name = "cancel-both")]
    Both,
}

/// An order's fields.
#[derive(Args)]
pub(super) struct OrderFields {
    #[arg(long)]
    market: Hash,
    #[arg(long, value_enum)]
    side: SideArg,
    /// Limit price in quote units per lot (a market order: the worst price it accepts; 0 for a
    /// market sell at any price).
    #[arg(long)]
    price: u64,
    /// Size in base units, a multiple of the market's lot.
    #[arg(long)]
    size: u128,
    #[arg(long, value_enum, default_value = "gtc")]
    tif: TifArg,
    /// Good till this block height (instead of --tif).
    #[arg(long, conflicts_with_all = ["tif", "good_til_ms"])]
    good_til_height: Option<u64>,
    /// Good till this block time, ms since the epoch (instead of --tif).
    #[arg(long, conflicts_with = "tif")]
    good_til_ms: Option<u64>,
    /// A market order: immediate or cancel (or --tif fok) down to --price.
    #[arg(long)]
    market_order: bool,
    /// Your id for the order, unique among your open orders in the market (default: the
    /// current time in ms).
    #[arg(long)]
    client_id: Option<u64>,
    #[arg(long, value_enum, default_value = "cancel-newest")]
    self_trade: SelfTradeArg,
}

impl OrderFields {
    fn order(&self) -> Result<NewOrder> {
        let tif = match (self.good_til_height, self.good_til_ms, self.tif) {
            (Some(h), _, _) => TimeInForce::GoodTil(Expiry::Height(h)),
            (None, Some(t), _) => TimeInForce::GoodTil(Expiry::TimeMs(t)),
            (None, None, TifArg::Gtc) if self.market_order => TimeInForce::Ioc,
            (None, None, TifArg::Gtc) => TimeInForce::Gtc,
            (None, None, TifArg::Ioc) => TimeInForce::Ioc,
            (None, None, TifArg::Fok) => TimeInForce::Fok,
            (None, None, TifArg::PostOnly) => TimeInForce::PostOnly,
        };
        let client_id = match self.client_id {
            Some(c) => c,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as u64,
        };
        Ok(NewOrder {
            client_id,
            side: match self.side {
                SideArg::Buy => Side::Buy,
                SideArg::Sell => Side::Sell,
            },
            price: self.price,
            size: self.size,
            tif,
            market: self.market_order,
            self_trade: match self.self_trade {
                SelfTradeArg::Newest => SelfTrade::CancelNewest,
                SelfTradeArg::Oldest => SelfTrade::CancelOldest,
                SelfTradeArg::Both => SelfTrade::CancelBoth,
            },
        })
    }
}

#[derive(Args)]
pub(super) struct OrderArgs {
    #[command(flatten)]
    order: OrderFields,
    #[command(flatten)]
    tx: TxOptions,
}

#[derive(Args)]
pub(super) struct CancelArgs {
    #[arg(long)]
    market: Hash,
    #[arg(long, conflicts_with_all = ["order", "all"])]
    client_id: Option<u64>,
    /// The order id (its sequence in the market, as books and events show it).
    #[arg(long, conflicts_with = "all")]
    order: Option<u64>,
    /// Every one of your orders in the market.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    tx: TxOptions,
}

fn query(rpc: &RpcArg, method: &str, params: Value) -> Result<()> {
    print_json(&RpcClient::new(&rpc.rpc).call::<Value>(method, params)?)
}

fn dex(call: DexCall) -> Payload {
    Payload::Dex(call)
}

pub(super) fn command(c: DexCommand) -> Result<()> {
    match c {
        DexCommand::Market(m) => market_command(m),
        DexCommand::Order(a) => {
            let order = a.order.order()?;
            send(
                a.tx,
                dex(DexCall::Place {
                    market: a.order.market,
                    orders: vec![order],
                }),
            )
        }
        DexCommand::Cancel(a) => {
            let call = match (a.client_id, a.order, a.all) {
                (_, _, true) => DexCall::CancelAll { market: a.market },
                (Some(id), _, _) => DexCall::Cancel {
                    market: a.market,
                    order: OrderRef::Client(id),
                },
                (None, Some(seq), _) => DexCall::Cancel {
                    market: a.market,
                    order: OrderRef::Seq(seq),
                },
                (None, None, false) => bail!("give --client-id, --order or --all"),
            };
            send(a.tx, dex(call))
        }
        DexCommand::Replace {
            cancel_client_id,
            order,
            tx,
        } => {
            let new = order.order()?;
            send(
                tx,
                dex(DexCall::Replace {
                    market: order.market,
                    cancel: OrderRef::Client(cancel_client_id),
                    order: new,
                }),
            )
        }
        DexCommand::Settle { market, tx } => send(tx, dex(DexCall::Settle { market })),
        DexCommand::Pool(p) => pool_command(p),
        DexCommand::Swap {
            market,
            side,
            size,
            limit,
            tx,
        } => send(
            tx,
            dex(DexCall::Swap {
                market,
                side: match side {
                    SideArg::Buy => Side::Buy,
                    SideArg::Sell => Side::Sell,
                },
                size,
                limit,
            }),
        ),
        DexCommand::Book { market, depth, rpc } => {
            query(&rpc, "dex_getBook", json!([market.to_string(), depth]))
        }
        DexCommand::Trades { market, limit, rpc } => query(
            &rpc,
            "dex_getTrades",
            json!([market.to_string(), { "limit": limit }]),
        ),
        DexCommand::Orders {
            market,
            address,
            rpc,
        } => query(
            &rpc,
            "dex_getAccount",
            json!([market.to_string(), address.to_string()]),
        ),
        DexCommand::Stats { market, rpc } => {
            query(&rpc, "dex_getStats", json!([market.to_string()]))
        }
    }
}

fn pool_command(c: PoolCommand) -> Result<()> {
    match c {
        PoolCommand::Add {
            market,
            base,
            quote,
            min_shares,
            tx,
        } => send(
            tx,
            dex(DexCall::AddLiquidity {
                market,
                base_max: base,
                quote_max: quote,
                min_shares,
            }),
        ),
        PoolCommand::Remove {
            market,
            shares,
            min_base,
            min_quote,
            tx,
        } => send(
            tx,
            dex(DexCall::RemoveLiquidity {
                market,
                shares,
                min_base,
                min_quote,
            }),
        ),
        PoolCommand::Show {
            market,
            address,
            rpc,
        } => {
            let mut params = vec![json!(market.to_string())];
            if let Some(a) = address {
                params.push(json!(a.to_string()));
            }
            query(&rpc, "dex_getPool", Value::Array(params))
        }
    }
}

fn market_command(c: MarketCommand) -> Result<()> {
    match c {
        MarketCommand::Create {
            base,
            quote,
            tick,
            lot,
            min_size,
            maker_fee_bps,
            taker_fee_bps,
            tx,
        } => {
            let terms = MarketTerms {
                base,
                quote,
                tick,
                lot,
                min_size: min_size.unwrap_or(lot),
                maker_fee_bps,
                taker_fee_bps,
            };
            send_quiet(tx, dex(DexCall::CreateMarket(terms)))?;
            println!("{}", market_id(&base, &quote));
            Ok(())
        }
        MarketCommand::Halt { market, tx } => send(
            tx,
            dex(DexCall::SetHalted {
                market,
                halted: true,
            }),
        ),
        MarketCommand::Resume { market, tx } => send(
            tx,
            dex(DexCall::SetHalted {
                market,
                halted: false,
            }),
        ),
        MarketCommand::List(rpc) => query(&rpc, "dex_getMarkets", json!([])),
        MarketCommand::Show { market, rpc } => {
            query(&rpc, "dex_getMarket", json!([market.to_string()]))
        }
    }
}
