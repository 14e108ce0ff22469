//! `mamey.dex.v1.DEXService`: each query calls the same [`Api`] function as its JSON-RPC twin
//! (`dex_*`) and maps the view to its message. Two live streams run on the node's commit broadcast
//! (`Api::commits`), subscribed before anything is read so that no block falls in between:
//!
//! - `StreamBook` sends a snapshot of the L2 book, then, after every committed block in which the
//!   market's sequence moved, the levels that changed since the last message (a diff of the depth
//!   it last sent against the depth read from committed state now), with the new sequence and the
//!   previous one, so that a client detects a gap. Several blocks may fold into one delta (the
//!   state it reads may already be past the block that woke it); the sequences still chain.
//! - `StreamTrades` sends every `trade` event of the market from each committed block.
//!
//! Lag: a stream that falls behind the commit broadcast (`Lagged`), or more than
//! `grpc.stream_lag_blocks_max` blocks behind the head, ends with RESOURCE_EXHAUSTED
//! (`lagged: ...`), as `StreamService` and the WebSocket subscriptions end theirs: a book stream
//! cannot replay the states it missed, so it is never silently skipped; the client opens it
//! again and gets a fresh snapshot.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{page_limit as limit, parse_address as address, parse_hash as hash, status_of};
use crate::api::dex::{
    BookUpdateView, BookView, DexAccountView, HourView, MarketView, OrderView, OwedView, StatsView,
    TradeView,
};
use crate::api::Api;
use crate::config::GrpcConfig;
use crate::modules::dex::{query, Dex};
use crate::modules::Module;
use crate::pipeline::CommittedBlock;
use crate::types::{AttrValue, Event, Hash, TxId};

/// Generated code for `mamey.dex.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod dex_proto {
    tonic::include_proto!("mamey.dex.v1");
}

use dex_proto::dex_service_server::DexService;

pub use dex_proto::dex_service_server::DexServiceServer;

fn text<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn market_of(m: MarketView) -> dex_proto::Market {
    dex_proto::Market {
        id: m.id.to_hex(),
        base: m.base.to_hex(),
        quote: m.quote.to_hex(),
        tick: m.tick,
        lot: m.lot,
        min_size: m.min_size,
        maker_fee_bps: m.maker_fee_bps,
        taker_fee_bps: m.taker_fee_bps,
        halted: m.halted,
        vault: m.vault.to_string(),
        created_height: m.created_height,
        sequence: m.sequence,
        best_bid: text(m.best_bid),
        best_ask: text(m.best_ask),
        bid_orders: m.bid_orders as u64,
        ask_orders: m.ask_orders as u64,
        last_price: text(m.last_price),
        trades: m.trades,
        fees: m.fees,
        height: m.height,
    }
}

fn levels_of(levels: &[[String; 2]]) -> Vec<dex_proto::Level> {
    levels
        .iter()
        .map(|[price, size]| dex_proto::Level {
            price: price.clone(),
            size: size.clone(),
        })
        .collect()
}

fn book_of(b: &BookView) -> dex_proto::Book {
    dex_proto::Book {
        market: b.market.to_hex(),
        bids: levels_of(&b.bids),
        asks: levels_of(&b.asks),
        sequence: b.sequence,
        height: b.height,
    }
}

fn order_of(o: OrderView) -> dex_proto::Order {
    use dex_proto::order::Expires;
    let expires = o.expires.as_ref().and_then(|e| {
        e["height"]
            .as_u64()
            .map(Expires::ExpiresHeight)
            .or_else(|| e["time_ms"].as_u64().map(Expires::ExpiresTimeMs))
    });
    dex_proto::Order {
        order: o.order,
        client_id: o.client_id,
        owner: o.owner.to_string(),
        side: o.side,
        price: o.price,
        size: o.size,
        locked: o.locked,
        expires,
    }
}

fn owed_of(o: OwedView) -> dex_proto::Owed {
    dex_proto::Owed {
        base: o.base,
        quote: o.quote,
    }
}

fn account_of(a: DexAccountView) -> dex_proto::Account {
    dex_proto::Account {
        market: a.market.to_hex(),
        address: a.address.to_string(),
        orders: a.orders.into_iter().map(order_of).collect(),
        pending: Some(owed_of(a.pending)),
        held: Some(owed_of(a.held)),
        height: a.height,
    }
}

fn trade_of(t: TradeView) -> dex_proto::Trade {
    dex_proto::Trade {
        market: t.market.to_hex(),
        price: t.price,
        size: t.size,
        quote: t.quote,
        maker: t.maker.to_string(),
        taker: t.taker.to_string(),
        maker_order: t.maker_order,
        taker_order: t.taker_order,
        taker_side: t.taker_side,
        sequence: t.sequence,
        height: t.height,
        transaction: t.transaction.to_hex(),
        // `dex_getTrades` does not carry the fees.
        taker_fee: None,
        maker_fee: None,
        maker_rebate: None,
    }
}

fn hour_of(h: HourView) -> dex_proto::Hour {
    dex_proto::Hour {
        hour_start_ms: h.hour_start_ms,
        open: h.open,
        high: h.high,
        low: h.low,
        close: h.close,
        volume_base: h.volume_base,
        volume_quote: h.volume_quote,
        trades: h.trades,
    }
}

fn stats_of(s: StatsView) -> dex_proto::Stats {
    dex_proto::Stats {
        market: s.market.to_hex(),
        open: text(s.open),
        high: text(s.high),
        low: text(s.low),
        last: text(s.last),
        volume_base: s.volume_base,
        volume_quote: s.volume_quote,
        trades: s.trades,
        hours: s.hours.into_iter().map(hour_of).collect(),
        height: s.height,
    }
}

/// A `trade` event of the DEX as a `Trade`, when it is one of `market`'s.
fn trade_of_event(e: &Event, market: &Hash, height: u64, tx: TxId) -> Option<dex_proto::Trade> {
    if e.module != Dex::TAG || e.kind != "trade" {
        return None;
    }
    let get = |k: &str| e.attributes.iter().find(|(n, _)| n == k).map(|(_, v)| v);
    if get("market") != Some(&AttrValue::Id(*market)) {
        return None;
    }
    let s = |k: &str| text(get(k));
    let num = |k: &str| s(k).parse::<u64>().unwrap_or(0);
    Some(dex_proto::Trade {
        market: market.to_hex(),
        price: s("price"),
        size: s("size"),
        quote: s("quote"),
        maker: s("maker"),
        taker: s("taker"),
        maker_order: num("maker_order"),
        taker_order: num("taker_order"),
        taker_side: s("taker_side"),
        sequence: num("sequence"),
        height,
        transaction: tx.to_hex(),
        taker_fee: get("taker_fee").map(ToString::to_string),
        maker_fee: get("maker_fee").map(ToString::to_string),
        maker_rebate: get("maker_rebate").map(ToString::to_string),
    })
}

fn update_of(u: BookUpdateView) -> dex_proto::BookUpdate {
    dex_proto::BookUpdate {
        market: u.market.to_hex(),
        snapshot: u.snapshot,
        bids: levels_of(&u.bids),
        asks: levels_of(&u.asks),
        sequence: u.sequence,
        prev_sequence: u.prev_sequence,
        height: u.height,
    }
}

fn snapshot_of(b: &BookView) -> dex_proto::BookUpdate {
    update_of(BookUpdateView::snapshot(b))
}

fn delta_of(old: &BookView, new: &BookView) -> dex_proto::BookUpdate {
    update_of(BookUpdateView::delta(old, new))
}

pub struct DexGrpc {
    pub api: Arc<Api>,
    /// Updates buffered per stream (`grpc.stream_buffer_updates`).
    pub buffer: usize,
    /// Blocks a stream may fall behind the head (`grpc.stream_lag_blocks_max`).
    pub lag_blocks_max: u64,
}

impl DexGrpc {
    pub fn new(api: Arc<Api>, config: &GrpcConfig) -> Self {
        Self {
            api,
            buffer: config.stream_buffer_updates,
            lag_blocks_max: config.stream_lag_blocks_max,
        }
    }

    /// Runs `pump` in its own task, feeding a bounded channel the client reads; an error it ends
    /// with is the stream's last item.
    fn spawn<T, F>(&self, pump: impl FnOnce(mpsc::Sender<Result<T, Status>>) -> F) -> BoxStream<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<(), Status>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(self.buffer);
        let run = pump(tx.clone());
        tokio::spawn(async move {
            let subscriber =
                crate::telemetry::SubscriberGuard::new(crate::telemetry::SubscriberKind::Grpc);
            if let Err(status) = run.await {
                if status.code() == tonic::Code::ResourceExhausted {
                    subscriber.lagged();
                }
                let _ = tx.send(Err(status)).await;
            }
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

type BoxStream<T> = Pin<Box<dyn tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

/// The next committed block, or the status that ends the stream: lagged (the broadcast dropped
/// blocks for it, or it is more than `lag_max` blocks behind the head), shutting down, or the
/// client gone.
async fn next_block<T>(
    api: &Api,
    live: &mut broadcast::Receiver<Arc<CommittedBlock>>,
    lag_max: u64,
    tx: &mpsc::Sender<Result<T, Status>>,
) -> Result<Arc<CommittedBlock>, Status> {
    let c = next_live(live, tx).await?;
    let behind = api.head().saturating_sub(c.head.height);
    if behind > lag_max {
        return Err(Status::resource_exhausted(format!(
            "lagged: this stream fell more than {lag_max} blocks behind the head and is closed; \
             open it again (a book stream starts with a fresh snapshot)"
        )));
    }
    Ok(c)
}

/// The next item of the broadcast, or the status that ends the stream: `Lagged` (never skipped
/// silently), closed (the node is stopping), or the client gone (whichever comes first).
async fn next_live<B: Clone, T>(
    live: &mut broadcast::Receiver<B>,
    tx: &mpsc::Sender<Result<T, Status>>,
) -> Result<B, Status> {
    let r = tokio::select! {
        r = live.recv() => r,
        () = tx.closed() => return Err(Status::cancelled("client went away")),
    };
    r.map_err(|e| match e {
        broadcast::error::RecvError::Lagged(missed) => Status::resource_exhausted(format!(
            "lagged: this stream fell {missed} blocks behind the node's commits and is closed; \
             open it again (a book stream starts with a fresh snapshot)"
        )),
        broadcast::error::RecvError::Closed => Status::unavailable("node shutting down"),
    })
}

async fn send<T>(tx: &mpsc::Sender<Result<T, Status>>, item: T) -> Result<(), Status> {
    tx.send(Ok(item))
        .await
        .map_err(|_| Status::cancelled("client went away"))
}

/// The market's book sequence in committed state (one small read: the book itself is read only
/// when it moved).
fn sequence_of(api: &Api, market: &Hash) -> Result<u64, Status> {
    let r = api
        .storage
        .reader()
        .map_err(|e| Status::internal(format!("internal error: {e}")))?;
    query::market_state(&r, market)
        .map(|s| s.sequence)
        .map_err(|e| Status::internal(format!("internal error: {e}")))
}

/// `StreamBook`: the snapshot `held`, then a delta after each block that moved the sequence.
async fn pump_book(
    api: Arc<Api>,
    market: Hash,
    depth: Option<usize>,
    mut held: BookView,
    mut live: broadcast::Receiver<Arc<CommittedBlock>>,
    lag_max: u64,
    tx: mpsc::Sender<Result<dex_proto::BookUpdate, Status>>,
) -> Result<(), Status> {
    send(&tx, snapshot_of(&held)).await?;
    loop {
        next_block(&api, &mut live, lag_max, &tx).await?;
        if sequence_of(&api, &market)? == held.sequence {
            continue;
        }
        let now = api.dex_book(&market, depth).map_err(|e| status_of(&e))?;
        if now.sequence == held.sequence {
            continue;
        }
        send(&tx, delta_of(&held, &now)).await?;
        held = now;
    }
}

/// `StreamTrades`: the market's trades of each committed block.
async fn pump_trades(
    api: Arc<Api>,
    market: Hash,
    mut live: broadcast::Receiver<Arc<CommittedBlock>>,
    lag_max: u64,
    tx: mpsc::Sender<Result<dex_proto::Trade, Status>>,
) -> Result<(), Status> {
    loop {
        let c = next_block(&api, &mut live, lag_max, &tx).await?;
        let height = c.block.header.height;
        for r in &c.receipts {
            for e in &r.events {
                if let Some(t) = trade_of_event(e, &market, height, r.tx_id) {
                    send(&tx, t).await?;
                }
            }
        }
    }
}

#[tonic::async_trait]
impl DexService for DexGrpc {
    async fn get_markets(
        &self,
        _req: Request<dex_proto::GetMarketsRequest>,
    ) -> Result<Response<dex_proto::GetMarketsResponse>, Status> {
        let v = self.api.dex_markets().map_err(|e| status_of(&e))?;
        Ok(Response::new(dex_proto::GetMarketsResponse {
            markets: v.into_iter().map(market_of).collect(),
        }))
    }

    async fn get_market(
        &self,
        req: Request<dex_proto::GetMarketRequest>,
    ) -> Result<Response<dex_proto::Market>, Status> {
        let id = hash(&req.into_inner().market, "market")?;
        let m = self.api.dex_market(&id).map_err(|e| status_of(&e))?;
        Ok(Response::new(market_of(m)))
    }

    async fn get_book(
        &self,
        req: Request<dex_proto::GetBookRequest>,
    ) -> Result<Response<dex_proto::Book>, Status> {
        let r = req.into_inner();
        let id = hash(&r.market, "market")?;
        let b = self
            .api
            .dex_book(&id, limit(r.depth))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(book_of(&b)))
    }

    async fn get_account(
        &self,
        req: Request<dex_proto::GetAccountRequest>,
    ) -> Result<Response<dex_proto::Account>, Status> {
        let r = req.into_inner();
        let id = hash(&r.market, "market")?;
        let a = address(&r.address, "address")?;
        let v = self.api.dex_account(&id, &a).map_err(|e| status_of(&e))?;
        Ok(Response::new(account_of(v)))
    }

    async fn get_pool(
        &self,
        req: Request<dex_proto::GetPoolRequest>,
    ) -> Result<Response<dex_proto::Pool>, Status> {
        let r = req.into_inner();
        let id = hash(&r.market, "market")?;
        let owner = if r.address.is_empty() {
            None
        } else {
            Some(address(&r.address, "address")?)
        };
        let p = self
            .api
            .dex_pool(&id, owner.as_ref())
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(dex_proto::Pool {
            market: p.market.to_hex(),
            base: p.base,
            quote: p.quote,
            shares: p.shares,
            fee_bps: p.fee_bps,
            price: p.price.unwrap_or_default(),
            owner_shares: p.owner_shares.unwrap_or_default(),
            height: p.height,
        }))
    }

    async fn get_trades(
        &self,
        req: Request<dex_proto::GetTradesRequest>,
    ) -> Result<Response<dex_proto::GetTradesResponse>, Status> {
        let r = req.into_inner();
        let id = hash(&r.market, "market")?;
        let v = self
            .api
            .dex_trades(&id, limit(r.limit))
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(dex_proto::GetTradesResponse {
            trades: v.into_iter().map(trade_of).collect(),
        }))
    }

    async fn get_stats(
        &self,
        req: Request<dex_proto::GetStatsRequest>,
    ) -> Result<Response<dex_proto::Stats>, Status> {
        let id = hash(&req.into_inner().market, "market")?;
        let s = self.api.dex_stats(&id).map_err(|e| status_of(&e))?;
        Ok(Response::new(stats_of(s)))
    }

    type StreamBookStream = BoxStream<dex_proto::BookUpdate>;

    async fn stream_book(
        &self,
        req: Request<dex_proto::StreamBookRequest>,
    ) -> Result<Response<Self::StreamBookStream>, Status> {
        let r = req.into_inner();
        let market = hash(&r.market, "market")?;
        let depth = limit(r.depth);
        // Subscribe before reading the snapshot, so that no block falls in between. An unknown
        // market fails the call itself (NOT_FOUND), before any message.
        let live = self.api.commits.subscribe();
        let snapshot = self
            .api
            .dex_book(&market, depth)
            .map_err(|e| status_of(&e))?;
        let (api, lag_max) = (self.api.clone(), self.lag_blocks_max);
        Ok(Response::new(self.spawn(move |tx| {
            pump_book(api, market, depth, snapshot, live, lag_max, tx)
        })))
    }

    type StreamTradesStream = BoxStream<dex_proto::Trade>;

    async fn stream_trades(
        &self,
        req: Request<dex_proto::StreamTradesRequest>,
    ) -> Result<Response<Self::StreamTradesStream>, Status> {
        let market = hash(&req.into_inner().market, "market")?;
        let live = self.api.commits.subscribe();
        self.api.dex_market(&market).map_err(|e| status_of(&e))?;
        let (api, lag_max) = (self.api.clone(), self.lag_blocks_max);
        Ok(Response::new(self.spawn(move |tx| {
            pump_trades(api, market, live, lag_max, tx)
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dex::changed_levels;

    fn lv(v: &[(&str, &str)]) -> Vec<[String; 2]> {
        v.iter()
            .map(|(p, s)| [p.to_string(), s.to_string()])
            .collect()
    }

    fn pairs(v: &[dex_proto::Level]) -> Vec<(&str, &str)> {
        v.iter()
            .map(|l| (l.price.as_str(), l.size.as_str()))
            .collect()
    }

    #[test]
    fn deltas_carry_changed_and_removed_levels_best_first() {
        let old = lv(&[("100", "50"), ("95", "20"), ("90", "10")]);
        let new = lv(&[("105", "5"), ("100", "40"), ("90", "10")]);
        assert_eq!(
            pairs(&levels_of(&changed_levels(&old, &new, true))),
            vec![("105", "5"), ("100", "40"), ("95", "0")]
        );
        let old = lv(&[("100", "50"), ("105", "50")]);
        let new = lv(&[("105", "20"), ("110", "7")]);
        assert_eq!(
            pairs(&levels_of(&changed_levels(&old, &new, false))),
            vec![("100", "0"), ("105", "20"), ("110", "7")]
        );
        assert!(changed_levels(&new, &new, false).is_empty());
    }

    #[tokio::test]
    async fn a_lagging_stream_is_told_and_ended() {
        let (commits, mut live) = broadcast::channel::<u64>(2);
        let (tx, _rx) = mpsc::channel::<Result<(), Status>>(1);
        commits.send(1).expect("a receiver");
        assert_eq!(next_live(&mut live, &tx).await.expect("in time"), 1);
        for h in 2..=5 {
            commits.send(h).expect("a receiver");
        }
        let e = next_live(&mut live, &tx).await.expect_err("lagged");
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        assert!(
            e.message()
                .starts_with("lagged: this stream fell 2 blocks behind"),
            "{e:?}"
        );
        drop(commits);
        let e = next_live(&mut live, &tx).await.map(|_| ());
        // What the broadcast still holds comes first, then the close.
        assert!(e.is_ok());
        let e = next_live(&mut live, &tx).await.map(|_| ());
        assert!(e.is_ok());
        let e = next_live(&mut live, &tx).await.expect_err("closed");
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    }

    #[tokio::test]
    async fn a_stream_whose_client_left_ends_without_waiting_for_a_block() {
        let (_commits, mut live) = broadcast::channel::<u64>(2);
        let (tx, rx) = mpsc::channel::<Result<(), Status>>(1);
        drop(rx);
        let e = next_live(&mut live, &tx).await.expect_err("client gone");
        assert_eq!(e.code(), tonic::Code::Cancelled, "{e:?}");
    }
}
