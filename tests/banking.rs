//! Issued assets end to end, on a real node process, as a bank and an exchange would use them:
//!
//! - `asset_walkthrough_streams_and_restart`: the CLI walkthrough (create an asset with freeze and
//!   clawback, mint, transfer, freeze a holder — its transfer is refused with code 10108 and its
//!   send back to the issuer works — clawback, multi-send in the asset and the native one), the
//!   JSON-RPC views (`banking_getAsset`, `banking_getBalances`, `banking_getHolders`,
//!   `mamey_getTransaction` events, `mamey_getAccountTransactions` newest first a page at a time),
//!   the same events live over a WebSocket `["events", {filter}]` subscription and replayed by gRPC
//!   `StreamService.Subscribe` from height 1 (same events, same order, no gap, no duplicate),
//!   gRPC `BankingService`, and then kill -9 and a restart on the same data directory: every
//!   asset, balance and history entry is still there.

mod common;

use std::time::Duration;

use common::{cli, cli_ok as ok, rpc, Node};
use futures_util::{SinkExt, StreamExt};
use mameynode::grpc::proto::node_service_client::NodeServiceClient;
use mameynode::grpc::proto::stream_service_client::StreamServiceClient;
use mameynode::grpc::proto::subscribe_update::Update;
use mameynode::grpc::proto::{EventFilter, GetTransactionRequest, SubscribeRequest};
use mameynode::keys;
use mameynode::types::Hash;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(15);

/// `(type, transaction id)` of a stream of event notifications.
fn kinds(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["event"]["type"].as_str().unwrap_or("?").to_string(),
                e["transaction"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// Opens a WebSocket to the node and subscribes to `params`; returns the socket and the
/// subscription id.
async fn ws_subscribe(
    rpc_addr: &str,
    params: Value,
) -> (
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    Value,
) {
    let stream = tokio::net::TcpStream::connect(rpc_addr)
        .await
        .expect("connect to the RPC port");
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{rpc_addr}/"), stream)
        .await
        .expect("WebSocket handshake");
    let req = json!({"jsonrpc": "2.0", "id": 1, "method": "mamey_subscribe", "params": params});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .expect("send subscribe");
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("subscribe answer in time")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).expect("JSON");
            assert!(v.get("error").is_none(), "subscribe refused: {v}");
            return (ws, v["result"].clone());
        }
    }
}

#[test]
fn asset_walkthrough_streams_and_restart() {
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("data");
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let faucet = dir.join("dev/faucet.key");
    let faucet = faucet.to_str().expect("utf-8 path");
    let issuer = keys::address_of(&node.faucet()).to_string();
    let alice_key = root.path().join("alice.key");
    let bob_key = root.path().join("bob.key");
    let alice = ok(&["keys", "new", "--out", alice_key.to_str().expect("path")]);
    let bob = ok(&["keys", "new", "--out", bob_key.to_str().expect("path")]);
    let (alice_key, bob_key) = (
        alice_key.to_str().expect("path").to_string(),
        bob_key.to_str().expect("path").to_string(),
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    // Everything that concerns bob, live over WebSocket from here on.
    let (mut ws, sub) = runtime.block_on(ws_subscribe(
        &node.rpc,
        json!(["events", {"module": "banking", "address": bob}]),
    ));
    let w = ["--rpc", &url, "--wait"];
    for to in [&alice, &bob] {
        ok(&[
            &[
                "transfer", "--key", faucet, "--to", to, "--amount", "100000",
            ],
            &w[..],
        ]
        .concat());
    }

    // A bank issues USD with freeze and clawback.
    let usd = ok(&[
        &[
            "asset",
            "create",
            "--key",
            faucet,
            "--symbol",
            "USD",
            "--decimals",
            "6",
            "--name",
            "US Dollar",
            "--freezable",
            "--clawback",
        ],
        &w[..],
    ]
    .concat());
    assert_eq!(
        usd.len(),
        64,
        "asset create prints the asset id alone: {usd}"
    );
    let asset = rpc(&node, "banking_getAsset", json!([usd]));
    assert_eq!(asset["symbol"], "USD");
    assert_eq!(asset["issuer"], issuer);
    assert_eq!(asset["supply"], "0");
    assert_eq!(asset["freezable"], true);
    assert_eq!(asset["clawback"], true);
    assert_eq!(asset["auth_required"], false);
    assert_eq!(asset["max_supply"], Value::Null);

    // 10^12 whole units at 6 decimals is past u64's 1.8 * 10^19 once more is minted: exact strings.
    let big = "18446744073709551616000"; // 1000 * 2^64
    ok(&[
        &[
            "asset", "mint", "--key", faucet, "--asset", &usd, "--to", &alice, "--amount", big,
        ],
        &w[..],
    ]
    .concat());
    let tx_id = ok(&[
        &[
            "transfer", "--key", &alice_key, "--to", &bob, "--amount", "5000", "--asset", &usd,
        ],
        &w[..],
    ]
    .concat());
    let tx = rpc(&node, "mamey_getTransaction", json!([tx_id]));
    assert_eq!(
        tx["events"],
        json!([{"module": "banking", "type": "transfer", "asset": usd, "from": alice, "to": bob,
                "amount": "5000"}]),
        "{tx}"
    );

    // Freeze bob: his transfer to alice is refused with the module's code; back to the issuer works.
    ok(&[
        &[
            "asset", "freeze", "--key", faucet, "--asset", &usd, "--holder", &bob,
        ],
        &w[..],
    ]
    .concat());
    let refused = cli(&[
        &[
            "transfer", "--key", &bob_key, "--to", &alice, "--amount", "1", "--asset", &usd,
        ],
        &w[..],
    ]
    .concat());
    assert!(
        !refused.status.success(),
        "a frozen holder's transfer is refused"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("frozen in USD"), "{stderr}");
    ok(&[
        &[
            "transfer", "--key", &bob_key, "--to", &issuer, "--amount", "1000", "--asset", &usd,
        ],
        &w[..],
    ]
    .concat());
    // Clawback burns from bob; multi-send pays in the asset and the native one at once.
    ok(&[
        &[
            "asset", "clawback", "--key", faucet, "--asset", &usd, "--from", &bob, "--amount",
            "500",
        ],
        &w[..],
    ]
    .concat());
    ok(&[
        &[
            "asset",
            "multi-send",
            "--key",
            &alice_key,
            "--output",
            &format!("{usd}:{issuer}:10"),
            "--output",
            &format!("native:{bob}:7"),
        ],
        &w[..],
    ]
    .concat());

    let supply: u128 = big.parse::<u128>().expect("u128") - 500;
    let asset = rpc(&node, "banking_getAsset", json!([usd]));
    assert_eq!(asset["supply"], supply.to_string(), "{asset}");
    let balances = |who: &str| {
        let v = rpc(&node, "banking_getBalances", json!([who]));
        assert_eq!(v["address"], who);
        v["balances"].clone()
    };
    assert_eq!(balances(&bob)[0]["amount"], "3500");
    assert_eq!(balances(&bob)[0]["frozen"], true);
    assert_eq!(balances(&issuer)[0]["amount"], "1010");
    let holders = rpc(&node, "banking_getHolders", json!([usd, {"limit": 2}]));
    assert_eq!(
        holders["items"].as_array().map(Vec::len),
        Some(2),
        "{holders}"
    );
    let rest = rpc(
        &node,
        "banking_getHolders",
        json!([usd, {"cursor": holders["next_cursor"]}]),
    );
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1), "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null);
    let total: u128 = [holders["items"].clone(), rest["items"].clone()]
        .iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .map(|h| {
            h["amount"]
                .as_str()
                .expect("amount")
                .parse::<u128>()
                .expect("u128")
        })
        .sum();
    assert_eq!(total, supply, "holdings add up to the supply");

    // Bob's history, newest first, two at a time: every module's transactions that touch him.
    let mut history = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = rpc(
            &node,
            "mamey_getAccountTransactions",
            json!([bob, {"limit": 2, "cursor": cursor}]),
        );
        history.extend(page["transactions"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    let heights: Vec<u64> = history
        .iter()
        .map(|t| t["height"].as_u64().expect("height"))
        .collect();
    let mut sorted = heights.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(heights, sorted, "newest first");
    let types: Vec<String> = history
        .iter()
        .map(|t| t["events"][0]["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        types,
        ["transfer", "clawback", "transfer", "frozen", "transfer", "transfer"],
        "bob: funded, received USD, frozen, sent back, clawed back, paid by multi-send (newest \
         first): {history:?}"
    );

    // The live WebSocket events and a gRPC replay from height 1 agree, event for event.
    // Native funding, USD in, frozen, USD back to the issuer, clawback, multi-send's native output
    // (the refused transfer left no event).
    let expected = 6;
    let live: Vec<Value> = runtime.block_on(async {
        let mut got = Vec::new();
        while got.len() < expected {
            let msg = tokio::time::timeout(WAIT, ws.next())
                .await
                .unwrap_or_else(|_| panic!("WebSocket events: only {got:?}"))
                .expect("socket open")
                .expect("frame");
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).expect("JSON");
                if v["params"]["subscription"] == sub {
                    got.push(v["params"]["result"].clone());
                }
            }
        }
        got
    });
    let replayed: Vec<Value> = runtime.block_on(async {
        let mut client = StreamServiceClient::connect(format!("http://{}", node.grpc))
            .await
            .expect("gRPC connect");
        let mut stream = client
            .subscribe(SubscribeRequest {
                from_height: Some(1),
                events: Some(EventFilter {
                    module: "banking".into(),
                    r#type: String::new(),
                    address: bob.clone(),
                }),
                ..Default::default()
            })
            .await
            .expect("subscribe")
            .into_inner();
        let mut got = Vec::new();
        while got.len() < expected {
            let u = tokio::time::timeout(WAIT, stream.message())
                .await
                .expect("gRPC events in time")
                .expect("stream ok")
                .expect("stream open");
            let Some(Update::Event(e)) = u.update else {
                panic!("an events-only stream sent {u:?}");
            };
            let ev = e.event.expect("event");
            assert!(ev.addresses.contains(&bob), "filtered by address: {ev:?}");
            got.push(json!({
                "transaction": hex::encode(&e.tx_id),
                "event": {"type": ev.r#type},
            }));
        }
        got
    });
    // gRPC GetTransaction shows the transfer's (implied) event with the addresses it concerns.
    let grpc_event = runtime.block_on(async {
        let mut node_client = NodeServiceClient::connect(format!("http://{}", node.grpc))
            .await
            .expect("gRPC connect");
        let id: Hash = tx_id.parse().expect("id");
        node_client
            .get_transaction(GetTransactionRequest { id: id.0.to_vec() })
            .await
            .expect("GetTransaction")
            .into_inner()
            .events
    });
    assert_eq!(grpc_event.len(), 1, "{grpc_event:?}");
    assert_eq!(grpc_event[0].r#type, "transfer");
    assert_eq!(grpc_event[0].addresses, vec![alice.clone(), bob.clone()]);
    let live_kinds = kinds(&live);
    assert_eq!(live_kinds, kinds(&replayed), "live and replay agree");
    let types: Vec<&str> = live_kinds.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        types,
        ["transfer", "transfer", "frozen", "transfer", "clawback", "transfer"],
        "{live:?}"
    );
    assert_eq!(
        live_kinds
            .iter()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>(),
        history
            .iter()
            .rev()
            .map(|t| t["id"].as_str().expect("id").to_string())
            .collect::<Vec<_>>(),
        "one event per transaction of bob's history, oldest first"
    );

    // Kill -9, restart on the same directory: all of it is still there.
    let before = (
        rpc(&node, "banking_getAsset", json!([usd])),
        balances(&bob),
        rpc(
            &node,
            "mamey_getAccountTransactions",
            json!([bob, {"limit": 100}]),
        ),
    );
    node.kill9();
    let node = Node::options().block_interval_ms(50).start(&dir);
    let after = (
        rpc(&node, "banking_getAsset", json!([usd])),
        {
            let v = rpc(&node, "banking_getBalances", json!([bob]));
            v["balances"].clone()
        },
        rpc(
            &node,
            "mamey_getAccountTransactions",
            json!([bob, {"limit": 100}]),
        ),
    );
    assert_eq!(
        before, after,
        "kill -9 and restart keep assets, balances and history"
    );
    // And the chain goes on: unfreeze and move again.
    let w = ["--rpc", &node.url, "--wait"];
    ok(&[
        &[
            "asset", "unfreeze", "--key", faucet, "--asset", &usd, "--holder", &bob,
        ],
        &w[..],
    ]
    .concat());
    ok(&[
        &[
            "transfer", "--key", &bob_key, "--to", &alice, "--amount", "1", "--asset", &usd,
        ],
        &w[..],
    ]
    .concat());
}
