//! Payments end to end, on a real node process, as a bank's back office uses them (INTERFACES §12):
//!
//! - `bank_payments_end_to_end`: a payment with a UETR, an end-to-end id and remittance found by
//!   both (`payments_getByUetr`, `payments_getByEndToEndId`); a retry with the same UETR refused
//!   by the CLI and a malformed UETR refused before sending; an exchange that requires destination
//!   tags refuses an untagged deposit (10504) and takes a tagged one; a payroll of 600 people
//!   from a CSV file in batch transactions as large as the node accepts; an invoice paid by two payers at once, settled
//!   exactly once; escrows by preimage and by time, and a standing order, across kill -9 and a
//!   restart (the escrows finish after it, the order pays exactly its count: none skipped, none
//!   paid twice).

mod common;

use std::time::Duration;

use common::{cli_fails as fails, cli_ok as ok, rpc, wait_for, Node};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const UETR: &str = "eb6305c9-1f7f-49de-aed0-16487c27b42d";

fn balance(node: &Node, address: &str) -> u64 {
    rpc(node, "mamey_getAccount", json!([address]))["balance"]
        .as_u64()
        .expect("balance")
}

fn head_time_ms(node: &Node) -> u64 {
    rpc(node, "mamey_status", json!([]))["head_timestamp_ms"]
        .as_u64()
        .expect("head_timestamp_ms")
}

/// Waits (at most 30 s) until `f` holds.
fn until(what: &str, f: impl FnMut() -> bool) {
    wait_for(what, Duration::from_secs(30), f)
}

#[test]
fn bank_payments_end_to_end() {
    let root = tempfile::tempdir().expect("temporary directory");
    let dir = root.path().join("data");
    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let faucet = dir
        .join("dev/faucet.key")
        .to_str()
        .expect("utf-8")
        .to_string();
    let new_key = |name: &str| {
        let path = root.path().join(format!("{name}.key"));
        let path = path.to_str().expect("utf-8").to_string();
        let address = ok(&["keys", "new", "--out", &path]);
        (path, address)
    };
    let w = ["--rpc", url.as_str(), "--wait"];
    let run = |args: &[&str]| ok(&[args, &w[..]].concat());
    let refused = |args: &[&str]| fails(&[args, &w[..]].concat());

    let (bank_key, bank) = new_key("bank");
    let (alice_key, alice) = new_key("alice");
    let (bob_key, bob) = new_key("bob");
    let (exchange_key, exchange) = new_key("exchange");
    for to in [&bank, &alice, &bob, &exchange] {
        run(&[
            "transfer", "--key", &faucet, "--to", to, "--amount", "10000000",
        ]);
    }

    // A payment with full references, found by UETR and by end-to-end id.
    let tx = run(&[
        "pay",
        "--key",
        &bank_key,
        "--to",
        &alice,
        "--amount",
        "1234",
        "--uetr",
        UETR,
        "--end-to-end-id",
        "INV-2026-0042",
        "--remittance",
        "Invoice 42",
        "--purpose",
        "SUPP",
    ]);
    let p = rpc(&node, "payments_getByUetr", json!([UETR]));
    assert_eq!(p["transaction"], json!(tx));
    assert_eq!(
        (p["from"].as_str(), p["to"].as_str()),
        (Some(bank.as_str()), Some(alice.as_str()))
    );
    assert_eq!(p["amount"], json!("1234"));
    assert_eq!(p["remittance"], json!("Invoice 42"));
    assert!(
        matches!(p["status"].as_str(), Some("committed" | "finalized")),
        "{p}"
    );
    let q = rpc(
        &node,
        "payments_getByEndToEndId",
        json!([bank, "INV-2026-0042"]),
    );
    assert_eq!(q["uetr"], json!(UETR));
    let found = ok(&["pay", "find", "--uetr", UETR, "--rpc", &url]);
    assert!(found.contains(&tx), "{found}");
    // A retry is refused, and nothing moves twice.
    let e = refused(&[
        "pay", "--key", &bank_key, "--to", &alice, "--amount", "1234", "--uetr", UETR,
    ]);
    assert!(e.contains("UETR") && e.contains("already used"), "{e}");
    assert_eq!(balance(&node, &alice), 10_001_234);
    // Sent anyway on purpose: the chain takes it, and a lookup names the first and the later one.
    let dup = run(&[
        "pay",
        "--key",
        &bank_key,
        "--to",
        &alice,
        "--amount",
        "1",
        "--uetr",
        UETR,
        "--allow-duplicate-uetr",
    ]);
    until("the duplicate indexed", || {
        rpc(&node, "payments_getByUetr", json!([UETR]))["later"] == json!([dup])
    });
    assert_eq!(
        rpc(&node, "payments_getByUetr", json!([UETR]))["transaction"],
        json!(tx)
    );
    let e = fails(&[
        "pay",
        "--key",
        &bank_key,
        "--to",
        &alice,
        "--amount",
        "1",
        "--uetr",
        "not-a-uuid",
        "--rpc",
        &url,
    ]);
    assert!(e.contains("--uetr"), "{e}");
    let e = rpc_err(
        &node,
        "payments_getByUetr",
        json!(["eb6305c9-1f7f-19de-aed0-16487c27b42d"]),
    );
    assert!(e.contains("version 4"), "{e}");

    // The exchange requires destination tags: an untagged deposit is refused, never lost.
    run(&[
        "pay",
        "require-tag",
        "--required",
        "true",
        "--key",
        &exchange_key,
    ]);
    let e = refused(&[
        "pay", "--key", &alice_key, "--to", &exchange, "--amount", "500",
    ]);
    assert!(e.contains("requires a destination tag"), "{e}");
    run(&[
        "pay",
        "--key",
        &alice_key,
        "--to",
        &exchange,
        "--amount",
        "500",
        "--destination-tag",
        "778899",
    ]);
    assert_eq!(
        balance(&node, &exchange),
        10_000_499,
        "500 in, 1 of fee for require-tag"
    );

    // Payroll: 600 people, three batch transactions, everyone paid.
    let staff: Vec<String> = (0..600)
        .map(|_| common::new_address().to_string())
        .collect();
    let csv: String = staff
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{a},{},,SAL-{i},Salary November\n", 100 + i))
        .collect();
    let file = root.path().join("payroll.csv");
    std::fs::write(&file, csv).expect("write payroll");
    let ids = ok(&[
        "pay",
        "batch",
        "--file",
        file.to_str().expect("utf-8"),
        "--key",
        &bank_key,
        "--rpc",
        &url,
        "--wait",
    ]);
    // As many per transaction as the node's size limit allows (1 KiB by default).
    assert!(ids.lines().count() >= 3, "{ids}");
    for (i, a) in staff.iter().enumerate().step_by(97) {
        assert_eq!(balance(&node, a), 100 + i as u64);
    }
    until("the payroll indexed", || {
        node.client()
            .call::<Value>("payments_getByEndToEndId", json!([bank, "SAL-599"]))
            .is_ok()
    });
    let p = rpc(&node, "payments_getByEndToEndId", json!([bank, "SAL-599"]));
    assert_eq!(p["kind"].as_str(), Some("batch"));
    assert_eq!(p["amount"], json!("699"));

    // An invoice, paid by two payers at once: settled exactly once.
    let inv = run(&[
        "invoice",
        "create",
        "--key",
        &exchange_key,
        "--amount",
        "777",
        "--creditor-reference",
        "RF18539007547034",
    ]);
    let before = balance(&node, &exchange);
    let a = ok(&[
        "invoice",
        "pay",
        "--key",
        &alice_key,
        "--invoice",
        &inv,
        "--rpc",
        &url,
    ]);
    let b = ok(&[
        "invoice",
        "pay",
        "--key",
        &bob_key,
        "--invoice",
        &inv,
        "--rpc",
        &url,
    ]);
    until("the invoice paid", || {
        rpc(&node, "payments_getInvoice", json!([inv]))["status"] == json!("paid")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(balance(&node, &exchange), before + 777);
    let statuses: Vec<Value> = [a, b]
        .iter()
        .map(|id| rpc(&node, "mamey_getTransaction", json!([id]))["status"].clone())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "rejected").count(),
        1,
        "{statuses:?}"
    );
    let e = refused(&["invoice", "pay", "--key", &bob_key, "--invoice", &inv]);
    assert!(e.contains("is paid"), "{e}");

    // Escrows and a standing order, then kill -9 in the middle.
    let preimage = b"delivery-confirmed-42";
    let condition = hex::encode(Sha256::digest(preimage));
    let by_preimage = run(&[
        "escrow",
        "create",
        "--key",
        &bank_key,
        "--to",
        &bob,
        "--amount",
        "5000",
        "--condition",
        &condition,
        "--end-to-end-id",
        "ESC-1",
    ]);
    let finish_at = head_time_ms(&node) + 3_000;
    let by_time = run(&[
        "escrow",
        "create",
        "--key",
        &bank_key,
        "--to",
        &alice,
        "--amount",
        "6000",
        "--finish-after-ms",
        &finish_at.to_string(),
    ]);
    let e = refused(&["escrow", "finish", "--key", &bob_key, "--escrow", &by_time]);
    assert!(e.contains("cannot finish before"), "{e}");
    let escrow = rpc(&node, "payments_getEscrow", json!([by_preimage]));
    let held_by = escrow["held_by"].as_str().expect("held_by").to_string();
    assert_eq!(balance(&node, &held_by), 11_000);
    let listed = rpc(&node, "payments_getEscrows", json!([bank]));
    assert_eq!(listed["items"].as_array().expect("items").len(), 2);

    let (_, carol) = new_key("carol");
    let order = run(&[
        "standing-order",
        "create",
        "--key",
        &bank_key,
        "--to",
        &carol,
        "--amount",
        "10",
        "--every-blocks",
        "3",
        "--count",
        "12",
    ]);
    until("two standing payments", || balance(&node, &carol) >= 20);
    node.kill9();

    let node = Node::options().block_interval_ms(50).start(&dir);
    let url = node.url.clone();
    let w = ["--rpc", url.as_str(), "--wait"];
    let run = |args: &[&str]| ok(&[args, &w[..]].concat());
    let refused = |args: &[&str]| fails(&[args, &w[..]].concat());
    let e = refused(&[
        "escrow",
        "finish",
        "--key",
        &alice_key,
        "--escrow",
        &by_preimage,
        "--preimage",
        &hex::encode(b"guess"),
    ]);
    assert!(e.contains("does not match"), "{e}");
    let bob_before = balance(&node, &bob);
    run(&[
        "escrow",
        "finish",
        "--key",
        &alice_key,
        "--escrow",
        &by_preimage,
        "--preimage",
        &hex::encode(preimage),
    ]);
    assert_eq!(balance(&node, &bob), bob_before + 5_000);
    until("the time escrow to mature", || {
        head_time_ms(&node) >= finish_at
    });
    let alice_before = balance(&node, &alice);
    run(&["escrow", "finish", "--key", &bob_key, "--escrow", &by_time]);
    assert_eq!(balance(&node, &alice), alice_before + 6_000);
    assert_eq!(balance(&node, &held_by), 0);
    until("the standing order to end", || {
        node.client()
            .call::<Value>("payments_getStandingOrder", json!([order]))
            .is_err()
    });
    assert_eq!(
        balance(&node, &carol),
        120,
        "12 payments of 10: none skipped, none twice"
    );
    // Carol's history shows them: the blocks' own events, under the all-zero id.
    let history = rpc(
        &node,
        "mamey_getAccountTransactions",
        json!([carol, {"limit": 100}]),
    );
    let paid: usize = history["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .filter(|t| t["id"] == json!("0".repeat(64)))
        .map(|t| {
            t["events"]
                .as_array()
                .expect("events")
                .iter()
                .filter(|e| e["type"] == "standing_order_paid")
                .count()
        })
        .sum();
    assert_eq!(paid, 12, "{history}");
    let e = rpc_err(&node, "payments_getEscrow", json!([by_time]));
    assert!(e.contains("no open escrow"), "{e}");

    // An issued asset's standing order: its payments (the blocks' own events) are in the
    // regulator's report of the asset.
    let usd = run(&[
        "asset",
        "create",
        "--key",
        &bank_key,
        "--symbol",
        "USDP",
        "--decimals",
        "2",
        "--initial-supply",
        "100000",
    ]);
    run(&[
        "standing-order",
        "create",
        "--key",
        &bank_key,
        "--to",
        &carol,
        "--amount",
        "5",
        "--asset",
        &usd,
        "--every-blocks",
        "1",
        "--count",
        "2",
    ]);
    until("two asset payments", || {
        rpc(&node, "banking_getBalances", json!([carol]))
            .to_string()
            .contains("\"10\"")
    });
    let report = ok(&[
        "compliance",
        "report",
        "--asset",
        &usd,
        "--format",
        "json",
        "--rpc",
        &url,
    ]);
    let report: Value = serde_json::from_str(&report).expect("JSON report");
    let paid = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["event"] == "standing_order_paid")
        .count();
    assert_eq!(paid, 2, "{report}");
}

fn rpc_err(node: &Node, method: &str, params: Value) -> String {
    match node.client().call::<Value>(method, params) {
        Ok(v) => panic!("{method} answered {v}"),
        Err(e) => e.to_string(),
    }
}
