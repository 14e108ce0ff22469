//! WebSocket subscriptions (on the JSON-RPC port): `mamey_subscribe` with `["newHeads"]`,
//! `["transaction", id]`, `["account", address]`, `["events", {"module"?, "type"?,
//! "address"?}]` (one notification per matching event) or `["dexBook", market, depth?]` (a DEX
//! book's snapshot, then its changed levels after each block that moved its sequence);
//! notifications `mamey_subscription`;
//! `mamey_unsubscribe` `[id]`.
//!
//! Each subscriber reads from the node's commit broadcast through its own bounded buffer
//! (`pipeline.subscriber_buffer_blocks` blocks, then jsonrpsee's per-connection message buffer).
//! A subscriber that cannot keep up gets an explicit error notification, "lagged: …", and its
//! subscription ends: notifications are never silently skipped.

use std::sync::Arc;

use jsonrpsee::core::server::{
    PendingSubscriptionSink, SubscriptionCloseResponse, SubscriptionMessage, SubscriptionSink,
};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use super::params::{error, parse_address, parse_hash, positional};
use super::{ErrorCode, TxStatus};
use crate::api::dex::BookUpdateView;
use crate::api::{block_events, Api, BlockEventView, EventFilter};
use crate::pipeline::CommittedBlock;
use crate::types::{Address, Hash};

enum Topic {
    NewHeads,
    Transaction(Hash),
    Account(Address),
    Events(EventFilter),
    /// A DEX market's book: the snapshot, then the changed levels after each block that moved
    /// its sequence.
    DexBook(Hash, Option<usize>),
}

const EXPECTED: &str = "\"newHeads\"] or [\"transaction\", id] or [\"account\", address] or \
                        [\"events\", {\"module\"?, \"type\"?, \"address\"?}] or \
                        [\"dexBook\", market, depth?";

impl Topic {
    fn parse(params: &Params<'_>) -> Result<Topic, ErrorObjectOwned> {
        let v = positional(params, EXPECTED)?;
        let bad = || {
            error(
                ErrorCode::InvalidParams,
                format!("expected params [{EXPECTED}]"),
            )
        };
        match v.as_slice() {
            [Value::String(k)] if k == "newHeads" => Ok(Topic::NewHeads),
            [Value::String(k), Value::String(id)] if k == "transaction" => Ok(Topic::Transaction(
                parse_hash(id, "params[1] (transaction id)")?,
            )),
            [Value::String(k), Value::String(a)] if k == "account" => {
                Ok(Topic::Account(parse_address(a, "params[1] (address)")?))
            }
            [Value::String(k)] if k == "events" => Ok(Topic::Events(EventFilter::default())),
            [Value::String(k), Value::String(m), rest @ ..]
                if k == "dexBook" && rest.len() <= 1 =>
            {
                let depth = match rest.first() {
                    None | Some(Value::Null) => None,
                    Some(d) => Some(
                        d.as_u64()
                            .filter(|d| *d > 0)
                            .and_then(|d| usize::try_from(d).ok())
                            .ok_or_else(|| {
                                error(
                                    ErrorCode::InvalidParams,
                                    "params[2] (depth) must be a positive integer",
                                )
                            })?,
                    ),
                };
                Ok(Topic::DexBook(
                    parse_hash(m, "params[1] (market id)")?,
                    depth,
                ))
            }
            [Value::String(k), Value::Object(f)] if k == "events" => {
                let field = |name: &str| -> Result<Option<String>, ErrorObjectOwned> {
                    match f.get(name) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(s)) => Ok(Some(s.clone())),
                        Some(_) => Err(error(
                            ErrorCode::InvalidParams,
                            format!("params[1].{name} must be a string"),
                        )),
                    }
                };
                let filter = EventFilter::new(
                    field("module")?,
                    field("type")?,
                    field("address")?.as_deref(),
                )
                .map_err(|e| error(e.code, e.message))?;
                Ok(Topic::Events(filter))
            }
            _ => Err(bad()),
        }
    }
}

/// Why a subscription ended early.
enum End {
    /// The client unsubscribed or went away.
    Closed,
    Lagged(u64),
    NodeStopping,
}

async fn send<T: Serialize>(sink: &SubscriptionSink, value: &T) -> Result<(), End> {
    let msg = SubscriptionMessage::new(sink.method_name(), sink.subscription_id(), value)
        .map_err(|_| End::Closed)?;
    sink.send(msg).await.map_err(|_| End::Closed)
}

async fn next_block(
    live: &mut broadcast::Receiver<Arc<CommittedBlock>>,
    sink: &SubscriptionSink,
) -> Result<Arc<CommittedBlock>, End> {
    tokio::select! {
        _ = sink.closed() => Err(End::Closed),
        r = live.recv() => match r {
            Ok(b) => Ok(b),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(End::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => Err(End::NodeStopping),
        },
    }
}

async fn run(
    api: &Api,
    topic: Topic,
    mut live: broadcast::Receiver<Arc<CommittedBlock>>,
    sink: &SubscriptionSink,
) -> Result<(), End> {
    match topic {
        Topic::NewHeads => loop {
            let c = next_block(&mut live, sink).await?;
            let view = api.block(c.head.height).map_err(|_| End::NodeStopping)?;
            send(sink, &view).await?;
        },
        Topic::Transaction(id) => {
            // Its status now, then each change until it is final.
            let mut last = None;
            loop {
                match api.transaction(id).await {
                    Ok(view) => {
                        let status = view.status;
                        if last != Some(status) {
                            send(sink, &view).await?;
                            last = Some(status);
                        }
                        if matches!(status, TxStatus::Finalized | TxStatus::Rejected) {
                            return Ok(());
                        }
                    }
                    Err(e) if e.code == ErrorCode::NotFound => {
                        if last.is_some() {
                            // It was pending and left without a trace: should not happen, but end
                            // clearly rather than wait forever.
                            return Ok(());
                        }
                    }
                    Err(_) => return Err(End::NodeStopping),
                }
                next_block(&mut live, sink).await?;
            }
        }
        Topic::Events(filter) => loop {
            let c = next_block(&mut live, sink).await?;
            for e in block_events(&c.block, &c.receipts, &filter) {
                send(sink, &BlockEventView::from(&e)).await?;
            }
        },
        Topic::DexBook(market, depth) => {
            let mut held = api
                .dex_book(&market, depth)
                .map_err(|_| End::NodeStopping)?;
            send(sink, &BookUpdateView::snapshot(&held)).await?;
            loop {
                next_block(&mut live, sink).await?;
                if api.dex_sequence(&market).map_err(|_| End::NodeStopping)? == held.sequence {
                    continue;
                }
                let now = api
                    .dex_book(&market, depth)
                    .map_err(|_| End::NodeStopping)?;
                send(sink, &BookUpdateView::delta(&held, &now)).await?;
                held = now;
            }
        }
        Topic::Account(address) => {
            let mut account = api.account(address).await.map_err(|_| End::NodeStopping)?;
            send(sink, &account).await?;
            loop {
                let c = next_block(&mut live, sink).await?;
                if let Some(a) = c.writes.get(&address) {
                    account.balance = a.balance;
                    account.nonce = a.nonce;
                    account.pending_nonce = account.pending_nonce.max(a.nonce);
                    send(sink, &account).await?;
                }
            }
        }
    }
}

pub(super) fn register(m: &mut RpcModule<Api>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_subscription(
        "mamey_subscribe",
        "mamey_subscription",
        "mamey_unsubscribe",
        |params, pending: PendingSubscriptionSink, api, _| async move {
            let topic = match Topic::parse(&params) {
                Ok(t) => t,
                Err(e) => {
                    pending.reject(e).await;
                    return SubscriptionCloseResponse::None;
                }
            };
            if let Topic::DexBook(market, _) = &topic {
                if let Err(e) = api.dex_market(market) {
                    pending.reject(error(e.code, e.message)).await;
                    return SubscriptionCloseResponse::None;
                }
            }
            // Subscribe to commits before reading any state, so no change falls in between.
            let live = api.commits.subscribe();
            let Ok(sink) = pending.accept().await else {
                return SubscriptionCloseResponse::None;
            };
            let subscriber =
                crate::telemetry::SubscriberGuard::new(crate::telemetry::SubscriberKind::WebSocket);
            match run(&api, topic, live, &sink).await {
                Ok(()) | Err(End::Closed) => SubscriptionCloseResponse::None,
                Err(End::Lagged(missed)) => {
                    subscriber.lagged();
                    tracing::warn!(
                        missed,
                        "WebSocket subscriber lagged; closing its subscription"
                    );
                    SubscriptionCloseResponse::NotifErr(SubscriptionError::from(format!(
                        "lagged: this subscriber fell {missed} blocks behind and its subscription \
                         is closed; subscribe again (and read the state you missed)"
                    )))
                }
                Err(End::NodeStopping) => SubscriptionCloseResponse::NotifErr(
                    SubscriptionError::from("node shutting down"),
                ),
            }
        },
    )?;
    Ok(())
}
