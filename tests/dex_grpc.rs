//! gRPC `mamey.dex.v1.DEXService` end to end, on a real dev node process:
//!
//! - `dex_over_grpc`: the market authority (the dev faucet) opens a market from the CLI; a malformed
//!   market id is INVALID_ARGUMENT and an unknown one NOT_FOUND, for queries and streams alike;
//!   `StreamBook` and `StreamTrades` are opened before any order; a maker quotes both sides and a
//!   taker crosses the spread with the CLI. The book stream starts with a snapshot, then sends
//!   deltas whose `prev_sequence` chains to the sequence held, and the levels they build equal
//!   `GetBook`'s answer after the makers' orders and after the fill (and, after a reconnect that
//!   missed a change, the new snapshot's sequence shows the gap and rebuilds the book); the
//!   trade stream delivers
//!   both fills of the taker's transaction with their fees, as `GetTrades` lists them; the
//!   market, the maker's account and the statistics follow. The service is registered like the
//!   others: health reports it SERVING and reflection lists it.
//!
//! The node listens on port 0 for every endpoint (see `tests/common`), so this file runs in
//! parallel with the other node tests without colliding.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{cli_ok as ok, Node};
use mameynode::grpc::dex_proto::dex_service_client::DexServiceClient;
use mameynode::grpc::dex_proto::{
    Book, BookUpdate, GetAccountRequest, GetBookRequest, GetMarketRequest, GetMarketsRequest,
    GetStatsRequest, GetTradesRequest, Level, StreamBookRequest, StreamTradesRequest, Trade,
};
use mameynode::grpc::proto::node_service_client::NodeServiceClient;
use mameynode::grpc::proto::{
    GetAccountRequest as NodeGetAccountRequest, GetStatusRequest, SubmitTransactionRequest,
};
use mameynode::modules::dex::book::{SelfTrade, Side};
use mameynode::modules::dex::{DexCall, NewOrder, TimeInForce};
use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// How long a streamed message may take to arrive.
const MESSAGE_LIMIT: Duration = Duration::from_secs(30);

/// The next message of a stream, or a panic after [`MESSAGE_LIMIT`].
async fn next<T>(stream: &mut tonic::Streaming<T>, what: &str) -> T {
    tokio::time::timeout(MESSAGE_LIMIT, stream.message())
        .await
        .unwrap_or_else(|_| panic!("no {what} within {MESSAGE_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("the {what} stream failed: {e:?}"))
        .unwrap_or_else(|| panic!("the {what} stream ended"))
}

/// A client's copy of an L2 book, built from a snapshot and the deltas after it.
#[derive(Default)]
struct LocalBook {
    bids: BTreeMap<u128, String>,
    asks: BTreeMap<u128, String>,
    sequence: u64,
}

impl LocalBook {
    fn apply(&mut self, u: &BookUpdate) {
        if u.snapshot {
            *self = LocalBook::default();
        } else {
            assert_eq!(
                u.prev_sequence, self.sequence,
                "a delta must chain to the sequence held: {u:?}"
            );
        }
        assert!(u.sequence > u.prev_sequence || u.snapshot, "{u:?}");
        for (side, levels) in [(&mut self.bids, &u.bids), (&mut self.asks, &u.asks)] {
            for l in levels {
                let price: u128 = l.price.parse().expect("decimal price");
                if l.size == "0" {
                    assert!(
                        side.remove(&price).is_some(),
                        "removes a level it holds: {u:?}"
                    );
                } else {
                    side.insert(price, l.size.clone());
                }
            }
        }
        self.sequence = u.sequence;
    }

    /// Best first, as `GetBook` answers.
    fn levels(&self) -> (Vec<Level>, Vec<Level>) {
        let level = |(p, s): (&u128, &String)| Level {
            price: p.to_string(),
            size: s.clone(),
        };
        (
            self.bids.iter().rev().map(level).collect(),
            self.asks.iter().map(level).collect(),
        )
    }

    fn assert_equals(&self, book: &Book) {
        assert_eq!(self.sequence, book.sequence, "sequence: {book:?}");
        let (bids, asks) = self.levels();
        assert_eq!((bids, asks), (book.bids.clone(), book.asks.clone()));
    }
}

/// Reads book updates until the local book holds `sequence`.
async fn follow_to(
    stream: &mut tonic::Streaming<BookUpdate>,
    local: &mut LocalBook,
    sequence: u64,
) {
    while local.sequence < sequence {
        let u = next(stream, "book update").await;
        assert!(!u.snapshot, "only the first message is a snapshot: {u:?}");
        // Every change in this test is within the depth the stream asked for.
        assert!(
            !u.bids.is_empty() || !u.asks.is_empty(),
            "an empty delta: {u:?}"
        );
        local.apply(&u);
    }
    assert_eq!(local.sequence, sequence, "overshot");
}

fn level(price: &str, size: &str) -> Level {
    Level {
        price: price.into(),
        size: size.into(),
    }
}

#[test]
fn dex_over_grpc() {
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("data");
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let faucet = dir
        .join("dev/faucet.key")
        .to_str()
        .expect("utf-8")
        .to_string();
    let run = {
        let url = url.clone();
        move |args: &[&str]| ok(&[args, &["--rpc", url.as_str(), "--wait"][..]].concat())
    };
    let common::DexTraders {
        maker_key,
        maker,
        taker_key,
        taker,
        base,
        quote,
    } = common::dex_traders(root.path(), &faucet, &url);
    let market = run(&[
        "dex",
        "market",
        "create",
        "--key",
        &faucet,
        "--base",
        &base,
        "--quote",
        &quote,
        "--tick",
        "5",
        "--lot",
        "10",
        "--min-size",
        "20",
        "--maker-fee-bps",
        "10",
        "--taker-fee-bps",
        "20",
    ]);

    // `dex order ... --wait`: the transaction id it prints.
    let order = {
        let (run, market) = (run.clone(), market.clone());
        move |key: &str, side: &str, price: &str, size: &str, id: &str, tif: &str| {
            let out = run(&[
                "dex",
                "order",
                "--key",
                key,
                "--market",
                &market,
                "--side",
                side,
                "--price",
                price,
                "--size",
                size,
                "--client-id",
                id,
                "--tif",
                tif,
            ]);
            let id = out.lines().last().unwrap_or_default().trim().to_string();
            assert!(
                id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "`dex order` printed no transaction id: {out:?}"
            );
            id
        }
    };

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let grpc = format!("http://{}", node.grpc);
    runtime.block_on(async {
        let channel = Channel::from_shared(grpc)
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        let mut c: DexServiceClient<Channel> = DexServiceClient::new(channel.clone());

        // Registered like every service: health reports it, reflection lists it.
        const SERVICE: &str = "mamey.dex.v1.DEXService";
        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: SERVICE.into(),
            })
            .await
            .expect("Health.Check")
            .into_inner();
        assert_eq!(health.status, ServingStatus::Serving as i32, "{health:?}");
        let listed = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter(vec![ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            }]))
            .await
            .expect("ServerReflectionInfo")
            .into_inner()
            .message()
            .await
            .expect("reflection answer")
            .expect("one answer")
            .message_response;
        match listed {
            Some(MessageResponse::ListServicesResponse(l)) => assert!(
                l.service.iter().any(|s| s.name == SERVICE),
                "reflection lists {SERVICE}: {l:?}"
            ),
            other => panic!("list_services answered {other:?}"),
        }

        let markets = c
            .get_markets(GetMarketsRequest {})
            .await
            .expect("GetMarkets")
            .into_inner()
            .markets;
        assert_eq!(markets.len(), 1, "{markets:?}");
        let m = &markets[0];
        assert_eq!(
            (m.id.as_str(), m.base.as_str(), m.quote.as_str()),
            (market.as_str(), base.as_str(), quote.as_str())
        );
        assert_eq!(
            (m.tick.as_str(), m.lot.as_str(), m.min_size.as_str()),
            ("5", "10", "20")
        );
        assert_eq!(
            (m.maker_fee_bps, m.taker_fee_bps, m.halted),
            (10, 20, false)
        );
        assert_eq!(
            (m.sequence, m.best_bid.as_str(), m.last_price.as_str()),
            (0, "", "")
        );

        // Malformed: INVALID_ARGUMENT; unknown: NOT_FOUND; for queries and streams alike.
        let unknown = "00".repeat(32);
        let e = c
            .get_book(GetBookRequest {
                market: "nope".into(),
                depth: 0,
            })
            .await
            .expect_err("a malformed market id");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        assert!(e.message().contains("market"), "{e:?}");
        let e = c
            .get_account(GetAccountRequest {
                market: market.clone(),
                address: "nope".into(),
            })
            .await
            .expect_err("a malformed address");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
        let e = c
            .get_market(GetMarketRequest {
                market: unknown.clone(),
            })
            .await
            .expect_err("an unknown market");
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        assert!(e.message().contains("unknown market"), "{e:?}");
        let e = c
            .stream_book(StreamBookRequest {
                market: unknown.clone(),
                depth: 10,
            })
            .await
            .expect_err("a book stream of an unknown market");
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        let e = c
            .stream_trades(StreamTradesRequest {
                market: "nope".into(),
            })
            .await
            .expect_err("a trade stream of a malformed market id");
        assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");

        // The streams, opened before any order: the call returns once the node has subscribed to
        // commits, so nothing can be missed.
        let mut book_stream = c
            .stream_book(StreamBookRequest {
                market: market.clone(),
                depth: 10,
            })
            .await
            .expect("StreamBook")
            .into_inner();
        let mut trade_stream = c
            .stream_trades(StreamTradesRequest {
                market: market.clone(),
            })
            .await
            .expect("StreamTrades")
            .into_inner();
        let snapshot = next(&mut book_stream, "book snapshot").await;
        assert!(snapshot.snapshot, "{snapshot:?}");
        assert_eq!(snapshot.market, market);
        assert!(
            snapshot.bids.is_empty() && snapshot.asks.is_empty(),
            "{snapshot:?}"
        );
        assert_eq!((snapshot.sequence, snapshot.prev_sequence), (0, 0));
        assert!(snapshot.height > 0, "{snapshot:?}");
        let mut local = LocalBook::default();
        local.apply(&snapshot);

        // The maker quotes both sides: one transaction, one block, one sequence each.
        for (side, price, id) in [
            ("sell", "105", "1"),
            ("sell", "100", "2"),
            ("buy", "95", "3"),
            ("buy", "90", "4"),
        ] {
            let (o, k) = (order.clone(), maker_key.clone());
            tokio::task::spawn_blocking(move || o(&k, side, price, "50", id, "post-only"))
                .await
                .expect("the order thread");
        }
        let book = c
            .get_book(GetBookRequest {
                market: market.clone(),
                depth: 10,
            })
            .await
            .expect("GetBook")
            .into_inner();
        assert_eq!(book.sequence, 4, "{book:?}");
        assert_eq!(book.asks, vec![level("100", "50"), level("105", "50")]);
        assert_eq!(book.bids, vec![level("95", "50"), level("90", "50")]);
        follow_to(&mut book_stream, &mut local, book.sequence).await;
        local.assert_equals(&book);

        // The taker crosses the spread: 50 at 100, then 30 at 105 (IOC: the rest is cancelled).
        let (o, k) = (order.clone(), taker_key.clone());
        let taker_tx = tokio::task::spawn_blocking(move || o(&k, "buy", "105", "80", "10", "ioc"))
            .await
            .expect("the order thread");
        let after = c
            .get_book(GetBookRequest {
                market: market.clone(),
                depth: 10,
            })
            .await
            .expect("GetBook")
            .into_inner();
        assert_eq!(after.sequence, 5, "{after:?}");
        assert_eq!(after.asks, vec![level("105", "20")]);
        assert_eq!(after.bids, book.bids);
        follow_to(&mut book_stream, &mut local, after.sequence).await;
        local.assert_equals(&after);

        // A partner that disconnects misses changes: on reconnecting, the snapshot's sequence
        // is past the one it held (a gap it can see), and the snapshot alone rebuilds the book.
        drop(book_stream);
        let held_sequence = local.sequence;
        // This order goes in over gRPC: signed here, submitted with NodeService.
        let mut node_client = NodeServiceClient::new(channel.clone());
        let key = mameynode::keys::read(std::path::Path::new(&maker_key)).expect("maker key");
        let status = node_client
            .get_status(GetStatusRequest {})
            .await
            .expect("GetStatus")
            .into_inner();
        let account = node_client
            .get_account(NodeGetAccountRequest {
                address: maker.clone(),
            })
            .await
            .expect("GetAccount")
            .into_inner();
        let market_id: mameynode::types::Hash = market.parse().expect("market id");
        let tx = mameynode::types::Transaction::sign(
            &key,
            status.chain_id,
            account.pending_nonce,
            status.min_fee,
            mameynode::types::Payload::Dex(DexCall::Place {
                market: market_id,
                orders: vec![NewOrder {
                    client_id: 11,
                    side: Side::Buy,
                    price: 85,
                    size: 30,
                    tif: TimeInForce::Gtc,
                    market: false,
                    self_trade: SelfTrade::CancelNewest,
                }],
            }),
        );
        node_client
            .submit_transaction(SubmitTransactionRequest {
                transaction: tx.bytes.to_vec(),
            })
            .await
            .expect("SubmitTransaction");
        let sequence_after = held_sequence + 1;
        for _ in 0..300 {
            let b = c
                .get_book(GetBookRequest {
                    market: market.clone(),
                    depth: 10,
                })
                .await
                .expect("GetBook")
                .into_inner();
            if b.sequence >= sequence_after {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut book_stream = c
            .stream_book(StreamBookRequest {
                market: market.clone(),
                depth: 10,
            })
            .await
            .expect("StreamBook again")
            .into_inner();
        let again = next(&mut book_stream, "book snapshot after reconnecting").await;
        assert!(again.snapshot, "{again:?}");
        assert!(again.sequence > held_sequence, "{again:?}");
        let mut mirror = LocalBook::default();
        mirror.apply(&again);
        let now = c
            .get_book(GetBookRequest {
                market: market.clone(),
                depth: 10,
            })
            .await
            .expect("GetBook")
            .into_inner();
        assert_eq!(now.sequence, again.sequence, "{now:?}");
        mirror.assert_equals(&now);

        // The trade stream: both fills of the taker's transaction, in order, with their fees.
        let t1 = next(&mut trade_stream, "trade").await;
        let t2 = next(&mut trade_stream, "trade").await;
        for (t, price, size, quote_units) in [(&t1, "100", "50", "500"), (&t2, "105", "30", "315")]
        {
            assert_eq!(
                (t.price.as_str(), t.size.as_str(), t.quote.as_str()),
                (price, size, quote_units),
                "{t:?}"
            );
            assert_eq!(
                (t.market.as_str(), t.maker.as_str(), t.taker.as_str()),
                (market.as_str(), maker.as_str(), taker.as_str()),
                "{t:?}"
            );
            assert_eq!((t.taker_side.as_str(), t.taker_order), ("buy", 5), "{t:?}");
            assert_eq!(t.transaction, taker_tx, "{t:?}");
            assert_eq!(t.sequence, after.sequence, "{t:?}");
            assert!(t.height > 0 && t.height <= after.height, "{t:?}");
            // 20 bps of the notional, rounded up.
            assert_eq!(t.taker_fee.as_deref(), Some("1"), "{t:?}");
            assert!(t.maker_fee.is_some() && t.maker_rebate.is_some(), "{t:?}");
        }
        assert_eq!((t1.maker_order, t2.maker_order), (2, 1));

        // GetTrades: the same fills, newest first (without the fees, which dex_getTrades lacks).
        let listed = c
            .get_trades(GetTradesRequest {
                market: market.clone(),
                limit: 10,
            })
            .await
            .expect("GetTrades")
            .into_inner()
            .trades;
        let strip = |t: &Trade| Trade {
            taker_fee: None,
            maker_fee: None,
            maker_rebate: None,
            ..t.clone()
        };
        assert_eq!(listed, vec![strip(&t2), strip(&t1)]);

        // The market, the maker's account and the statistics follow.
        let m = c
            .get_market(GetMarketRequest {
                market: market.clone(),
            })
            .await
            .expect("GetMarket")
            .into_inner();
        assert_eq!(
            (
                m.sequence,
                m.best_bid.as_str(),
                m.best_ask.as_str(),
                m.last_price.as_str(),
                m.trades
            ),
            (now.sequence, "95", "105", "105", 2)
        );
        let a = c
            .get_account(GetAccountRequest {
                market: market.clone(),
                address: maker.clone(),
            })
            .await
            .expect("GetAccount")
            .into_inner();
        assert_eq!(a.address, maker);
        let ids: Vec<u64> = a.orders.iter().map(|o| o.client_id).collect();
        assert_eq!(ids, vec![3, 4, 11, 1]);
        assert!(a.orders.iter().all(|o| o.expires.is_none()), "{a:?}");
        assert!(a.pending.is_some() && a.held.is_some(), "{a:?}");
        let s = c
            .get_stats(GetStatsRequest {
                market: market.clone(),
            })
            .await
            .expect("GetStats")
            .into_inner();
        assert_eq!(
            (s.trades, s.volume_base.as_str(), s.last.as_str()),
            (2, "80", "105")
        );
    });
}
