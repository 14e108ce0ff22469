//! The DEX end to end, on a real node process, as a market maker and a taker use it
//! (INTERFACES §12): the market authority (the dev faucet) opens a market from the CLI; a maker
//! quotes post-only orders on both sides; a taker crosses the spread; the book
//! (`dex_getBook`), the trades (`dex_getTrades`, newest first), the maker's orders and proceeds
//! (`dex_getAccount`) and the statistics follow; bad orders are refused with their codes and
//! leave the book as it was; a cancel and a cancel-all; and the book, its sequence and every
//! balance survive kill -9 and a restart.

mod common;

use std::time::Duration;

use common::{cli_fails as fails, cli_ok as ok, rpc, wait_for, Node};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens a WebSocket on the JSON-RPC port and subscribes to a market's book.
async fn ws_book(rpc_addr: &str, market: &str) -> Ws {
    let stream = tokio::net::TcpStream::connect(rpc_addr)
        .await
        .expect("connect to the RPC port");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{rpc_addr}/"), stream)
        .await
        .expect("WebSocket handshake");
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "mamey_subscribe", "params": ["dexBook", market, 10]});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .expect("send subscribe");
    ws
}

/// The next JSON text message (a subscription answer or a notification).
async fn ws_next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).expect("JSON");
        }
    }
}

/// The next book notification's result.
async fn ws_update(ws: &mut Ws) -> Value {
    loop {
        let v = ws_next(ws).await;
        if v["method"] == json!("mamey_subscription") {
            return v["params"]["result"].clone();
        }
        assert!(v.get("error").is_none(), "subscription refused: {v}");
    }
}

fn holding(node: &Node, address: &str, asset: &str) -> u128 {
    let v = rpc(node, "banking_getBalances", json!([address]));
    v["balances"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["asset"] == json!(asset)))
        .map_or(0, |h| {
            h["amount"]
                .as_str()
                .expect("amount string")
                .parse()
                .expect("decimal")
        })
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn market_maker_and_taker_end_to_end() {
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("data");
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let faucet = dir
        .join("dev/faucet.key")
        .to_str()
        .expect("utf-8")
        .to_string();
    let w = ["--rpc", url.as_str(), "--wait"];
    let run = |args: &[&str]| ok(&[args, &w[..]].concat());
    let refused = |args: &[&str]| fails(&[args, &w[..]].concat());
    let common::DexTraders {
        maker_key,
        maker,
        taker_key,
        taker,
        base,
        quote,
    } = common::dex_traders(root.path(), &faucet, &url);

    // Only the market authority opens markets.
    let market_args = |key: &str| {
        vec![
            "dex".to_string(),
            "market".into(),
            "create".into(),
            "--key".into(),
            key.to_string(),
            "--base".into(),
            base.clone(),
            "--quote".into(),
            quote.clone(),
            "--tick".into(),
            "5".into(),
            "--lot".into(),
            "10".into(),
            "--min-size".into(),
            "20".into(),
            "--maker-fee-bps".into(),
            "10".into(),
            "--taker-fee-bps".into(),
            "20".into(),
        ]
    };
    let e = refused(&strs(&market_args(&maker_key)));
    assert!(e.contains("only the market authority"), "{e}");
    let market = run(&strs(&market_args(&faucet)));
    assert_eq!(
        rpc(&node, "dex_getMarkets", json!([]))[0]["id"],
        json!(market)
    );

    // The maker quotes both sides, post-only.
    let order = |key: &str, side: &str, price: &str, size: &str, id: &str, extra: &[&str]| {
        let mut a = vec![
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
        ];
        a.extend_from_slice(extra);
        a.extend_from_slice(&w);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let place = |args: Vec<String>| ok(&strs(&args));
    let place_refused = |args: Vec<String>| fails(&strs(&args));
    for (side, price, id) in [
        ("sell", "105", "1"),
        ("sell", "100", "2"),
        ("buy", "95", "3"),
        ("buy", "90", "4"),
    ] {
        place(order(
            &maker_key,
            side,
            price,
            "50",
            id,
            &["--tif", "post-only"],
        ));
    }
    let book = rpc(&node, "dex_getBook", json!([market, 10]));
    assert_eq!(book["asks"], json!([["100", "50"], ["105", "50"]]));
    assert_eq!(book["bids"], json!([["95", "50"], ["90", "50"]]));
    assert_eq!(book["sequence"], json!(4));
    assert!(book["height"].as_u64().expect("height") > 0);

    // Bad orders: refused with their codes, the book as it was.
    for (args, code) in [
        (
            order(&taker_key, "buy", "101", "20", "9", &[]),
            "the market's tick",
        ),
        (
            order(&taker_key, "buy", "100", "25", "9", &[]),
            "the market's lot",
        ),
        (
            order(&taker_key, "buy", "100", "10", "9", &[]),
            "under the market's minimum",
        ),
        (
            order(&taker_key, "buy", "100", "20", "9", &["--tif", "post-only"]),
            "would take liquidity",
        ),
        (
            order(&taker_key, "buy", "105", "200", "9", &["--tif", "fok"]),
            "fill-or-kill",
        ),
        (
            order(&maker_key, "buy", "80", "20", "3", &[]),
            "already used by an open order",
        ),
    ] {
        let e = place_refused(args);
        assert!(e.contains(code), "want {code:?}: {e}");
    }
    let e = refused(&[
        "dex",
        "cancel",
        "--key",
        &taker_key,
        "--market",
        &market,
        "--client-id",
        "1",
    ]);
    assert!(e.contains("no open order"), "{e}");
    let unchanged = rpc(&node, "dex_getBook", json!([market, 10]));
    for field in ["bids", "asks", "sequence"] {
        assert_eq!(unchanged[field], book[field], "{field}");
    }

    // The book over WebSocket: the snapshot now, the changed levels after the taker's fill.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let rpc_addr = node.rpc.clone();
    let mut ws = runtime.block_on(ws_book(&rpc_addr, &market));
    let snapshot = runtime.block_on(ws_update(&mut ws));
    assert_eq!(snapshot["snapshot"], json!(true));
    assert_eq!(snapshot["asks"], book["asks"]);
    assert_eq!(snapshot["sequence"], book["sequence"]);

    // The taker crosses the spread: 80 base at 100 then 105 (IOC: the rest is cancelled).
    let quote_before = holding(&node, &taker, &quote);
    place(order(
        &taker_key,
        "buy",
        "105",
        "80",
        "10",
        &["--tif", "ioc"],
    ));
    let trades = rpc(&node, "dex_getTrades", json!([market, {"limit": 10}]));
    let trades = trades.as_array().expect("trades");
    assert_eq!(trades.len(), 2);
    // Newest first: the fill at 105 after the fill at 100.
    assert_eq!(
        (trades[0]["price"].as_str(), trades[0]["size"].as_str()),
        (Some("105"), Some("30"))
    );
    assert_eq!(
        (trades[1]["price"].as_str(), trades[1]["size"].as_str()),
        (Some("100"), Some("50"))
    );
    assert_eq!(trades[0]["maker"], json!(maker));
    assert_eq!(trades[0]["taker"], json!(taker));
    // Paid: 50×100/10 + 30×105/10 = 500 + 315 quote, fees 1 + 1 (20 bps, rounded up).
    assert_eq!(quote_before - holding(&node, &taker, &quote), 817);
    let book = rpc(&node, "dex_getBook", json!([market, 10]));
    assert_eq!(book["asks"], json!([["105", "20"]]));
    let delta = runtime.block_on(ws_update(&mut ws));
    assert_eq!(delta["snapshot"], json!(false));
    assert_eq!(delta["prev_sequence"], snapshot["sequence"]);
    assert_eq!(delta["sequence"], book["sequence"]);
    assert_eq!(delta["asks"], json!([["100", "0"], ["105", "20"]]));
    assert_eq!(delta["bids"], json!([]));
    // An unknown market is refused at subscription.
    let mut bad = runtime.block_on(ws_book(&rpc_addr, &"00".repeat(32)));
    let answer = runtime.block_on(ws_next(&mut bad));
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown market")),
        "{answer}"
    );
    // The maker's proceeds are paid at the start of the next block (less its 10 bps fee).
    wait_for("maker proceeds paid out", Duration::from_secs(30), || {
        let a = rpc(&node, "dex_getAccount", json!([market, maker]));
        a["pending"]["quote"] == json!("0")
    });
    let account = rpc(&node, "dex_getAccount", json!([market, maker]));
    let ids: Vec<u64> = account["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["client_id"].as_u64().expect("client id"))
        .collect();
    assert_eq!(ids, vec![3, 4, 1]);
    let stats = rpc(&node, "dex_getStats", json!([market]));
    assert_eq!(stats["trades"], json!(2));
    assert_eq!(stats["volume_base"], json!("80"));
    let shown = rpc(&node, "dex_getMarket", json!([market]));
    assert_eq!(shown["fees"], json!("2"));
    assert_eq!(shown["last_price"], json!("105"));

    // Cancel by client id, then everything.
    run(&[
        "dex",
        "cancel",
        "--key",
        &maker_key,
        "--market",
        &market,
        "--client-id",
        "3",
    ]);
    assert_eq!(
        rpc(&node, "dex_getBook", json!([market, 10]))["bids"],
        json!([["90", "50"]])
    );
    // A pool beside the book: the maker provides liquidity at about 100 per lot; a taker's swap
    // buys from it while it is cheaper than the ask at 105.
    run(&[
        "dex", "pool", "add", "--key", &maker_key, "--market", &market, "--base", "100000",
        "--quote", "1000000",
    ]);
    let pool = rpc(&node, "dex_getPool", json!([market, maker]));
    assert_eq!(
        (pool["base"].as_str(), pool["price"].as_str()),
        (Some("100000"), Some("100"))
    );
    assert_ne!(pool["owner_shares"], json!("0"));
    let trades_before = rpc(&node, "dex_getMarket", json!([market]))["trades"].clone();
    let taker_base = holding(&node, &taker, &base);
    run(&[
        "dex", "swap", "--key", &taker_key, "--market", &market, "--side", "buy", "--size", "100",
        "--limit", "120",
    ]);
    assert_eq!(holding(&node, &taker, &base), taker_base + 100);
    let pool = rpc(&node, "dex_getPool", json!([market]));
    assert_eq!(pool["base"], json!("99900"));
    assert_eq!(
        rpc(&node, "dex_getMarket", json!([market]))["trades"],
        trades_before
    );
    let e = refused(&[
        "dex", "pool", "remove", "--key", &taker_key, "--market", &market, "--shares", "1",
    ]);
    assert!(e.contains("shares of the pool"), "{e}");

    let before_restart = rpc(&node, "dex_getBook", json!([market, 10]));
    let pool_before_restart = rpc(&node, "dex_getPool", json!([market]));
    let maker_quote = holding(&node, &maker, &quote);
    let maker_base = holding(&node, &maker, &base);

    // kill -9 and a restart: the book, its sequence and the balances are as committed.
    node.kill9();
    let node = Node::options().block_interval_ms(50).start(&dir);
    let after: Value = rpc(&node, "dex_getBook", json!([market, 10]));
    assert_eq!(after["bids"], before_restart["bids"]);
    assert_eq!(after["asks"], before_restart["asks"]);
    assert_eq!(after["sequence"], before_restart["sequence"]);
    let pool_after = rpc(&node, "dex_getPool", json!([market]));
    for field in ["base", "quote", "shares"] {
        assert_eq!(pool_after[field], pool_before_restart[field], "{field}");
    }
    assert_eq!(holding(&node, &maker, &quote), maker_quote);
    assert_eq!(holding(&node, &maker, &base), maker_base);
    let url = node.url.clone();
    ok(&[
        "dex", "cancel", "--key", &maker_key, "--market", &market, "--all", "--rpc", &url, "--wait",
    ]);
    let empty = rpc(&node, "dex_getBook", json!([market, 10]));
    assert_eq!(empty["bids"], json!([]));
    assert_eq!(empty["asks"], json!([]));
    wait_for("locks returned", Duration::from_secs(30), || {
        holding(&node, &maker, &base) == 10_000_000 - 1_000_000 - 80 - 100_000
    });
}
