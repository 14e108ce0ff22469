//! Payments: every call and every refusal, on both executors (the testkit runs each block through
//! the sequential oracle and the parallel executor and checks them equal), with the escrow
//! account's holdings checked against the open escrows and every asset's supply after each block.

use sha2::{Digest, Sha256};

use super::calls::{
    end_to_end_digest, object_id, uetr_digest, OnFailure, PaymentOrder, PaymentsCall, Period,
    References,
};
use super::calls::{Remittance, Uetr};
use super::state::{escrow_key, Escrow};
use super::{escrow_account, query};
use crate::codec::decode_exact;
use crate::execution::{BlockOutput, TxError};
use crate::modules::banking::{asset_id, AssetId, BankCall, Policy};
use crate::modules::compliance::{AssetRules, ComplianceCall, Condition};
use crate::modules::identity::ClaimType;
use crate::modules::testkit::{addr, Chain};
use crate::types::{AssetAmount, Event, Hash, Outcome};

const UETR: &str = "eb6305c9-1f7f-49de-aed0-16487c27b42d";
const UETR2: &str = "7b1d9a7e-5c2f-4b8e-9f3a-0c1d2e3f4a5b";

fn code(e: &TxError) -> u32 {
    match e {
        TxError::Module(m) => m.code,
        other => panic!("not a module refusal: {other:?}"),
    }
}

fn refs(uetr: Option<&str>, e2e: Option<&str>) -> References {
    References {
        end_to_end_id: e2e.map(Into::into),
        uetr: uetr.map(|u| Uetr::parse(u).expect("v4")),
        remittance: Some(Remittance::Unstructured("Invoice 2026-11 rent".into())),
        purpose: Some("RENT".into()),
        destination_tag: None,
    }
}

fn order(asset: Option<AssetId>, to: u8, amount: AssetAmount, refs: References) -> PaymentOrder {
    PaymentOrder {
        asset,
        to: addr(to),
        amount,
        refs,
    }
}

fn pay(asset: Option<AssetId>, to: u8, amount: AssetAmount, r: References) -> PaymentsCall {
    PaymentsCall::Pay(order(asset, to, amount, r))
}

fn balance(c: &Chain, who: u8) -> u64 {
    c.st.accounts.get(&addr(who)).map_or(0, |a| a.balance)
}

fn escrow_balance(c: &Chain) -> u64 {
    c.st.accounts
        .get(&escrow_account())
        .map_or(0, |a| a.balance)
}

/// The escrow account holds exactly the open escrows, per asset.
pub(crate) fn check_escrows(c: &Chain, assets: &[AssetId]) {
    let mut native = 0u128;
    let mut issued = vec![0u128; assets.len()];
    for (k, v) in &c.st.state {
        if k.module() != 5 || k.suffix()[0] != 4 {
            continue;
        }
        let e: Escrow = decode_exact(v, usize::MAX).expect("escrow");
        match e.asset {
            None => native += e.amount,
            Some(a) => {
                let i = assets.iter().position(|x| *x == a).expect("known asset");
                issued[i] += e.amount;
            }
        }
    }
    assert_eq!(u128::from(escrow_balance(c)), native);
    for (i, a) in assets.iter().enumerate() {
        let held =
            c.st.state
                .get(&crate::modules::banking::state::holding_key(
                    a,
                    &escrow_account(),
                ))
                .map_or(0, |b| {
                    decode_exact::<crate::modules::banking::Holding>(b, usize::MAX)
                        .expect("holding")
                        .amount
                });
        assert_eq!(held, issued[i]);
    }
}

/// A chain where account 0 issued `USD` (supply 1,000,000 with account 0).
fn with_asset() -> (Chain, AssetId) {
    let mut c = Chain::new();
    c.run(
        0,
        BankCall::CreateAsset {
            symbol: "USD".into(),
            name: "Dollar".into(),
            decimals: 2,
            max_supply: None,
            initial_supply: 1_000_000,
            policy: Policy {
                mintable: true,
                ..Policy::default()
            },
            metadata_uri: String::new(),
        },
    )
    .unwrap();
    (c, asset_id(&addr(0), "USD"))
}

/// A block's payments events of one kind: implied, stored and the block's own.
fn events_of(out: &BlockOutput, kind: &str) -> Vec<Event> {
    let implied = out
        .applied
        .iter()
        .zip(&out.receipts)
        .flat_map(|(t, r)| crate::modules::implied_events(&t.tx, Some(r)));
    let stored = out.receipts.iter().flat_map(|r| r.events.iter().cloned());
    implied
        .chain(stored)
        .chain(out.block_events.iter().cloned())
        .filter(|e| e.module == 5 && e.kind == kind)
        .collect()
}

#[test]
fn payments_carry_their_references_and_are_indexed_under_their_digests() {
    use crate::modules::Module;
    let (mut c, usd) = with_asset();
    let call = pay(None, 1, 500, refs(Some(UETR), Some("E2E-1")));
    let out = c.run(0, call.clone()).unwrap();
    assert_eq!(balance(&c, 1), 1_000_500);
    let e = &events_of(&out, "payment")[0];
    let attr = |k: &str| {
        e.attributes
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_string())
    };
    assert_eq!(attr("uetr").as_deref(), Some(UETR));
    assert_eq!(attr("end_to_end_id").as_deref(), Some("E2E-1"));
    assert_eq!(attr("purpose").as_deref(), Some("RENT"));
    // The history index lists the payment under both digests, per sender for the end-to-end id.
    let u = Uetr::parse(UETR).unwrap();
    assert_eq!(
        super::Payments::references(&call, &addr(0)),
        vec![uetr_digest(&u), end_to_end_digest(&addr(0), "E2E-1")]
    );
    assert_ne!(
        end_to_end_digest(&addr(0), "E2E-1"),
        end_to_end_digest(&addr(2), "E2E-1")
    );
    let none = pay(None, 1, 1, refs(None, Some("NOTPROVIDED")));
    assert!(super::Payments::references(&none, &addr(0)).is_empty());
    // References are not consensus state: the chain does not refuse a reused one (the CLI does).
    c.run(0, pay(None, 1, 500, refs(Some(UETR), None))).unwrap();
    // Issued assets go through Banking.
    c.run(0, pay(Some(usd), 3, 250, refs(Some(UETR2), None)))
        .unwrap();
    assert_eq!(c.held(&usd, 3), 250);
    let e = c
        .run(3, pay(Some(usd), 4, 251, References::default()))
        .unwrap_err();
    assert_eq!(code(&e), 10115, "Banking's own code for the shortfall");
}

#[test]
fn references_are_checked() {
    let mut c = Chain::new();
    let mut bad_uetr = refs(None, None);
    bad_uetr.uetr = Some(Uetr([0x11; 16]));
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(References, u32)> = vec![
        (bad_uetr, 10501),
        (
            References {
                end_to_end_id: Some(long(36)),
                ..Default::default()
            },
            10500,
        ),
        (
            References {
                end_to_end_id: Some("a\nb".into()),
                ..Default::default()
            },
            10500,
        ),
        (
            References {
                remittance: Some(Remittance::Unstructured(long(141))),
                ..Default::default()
            },
            10500,
        ),
        (
            References {
                remittance: Some(Remittance::CreditorReference("RF19539007547034".into())),
                ..Default::default()
            },
            10500,
        ),
        (
            References {
                purpose: Some("rent".into()),
                ..Default::default()
            },
            10500,
        ),
    ];
    for (r, want) in cases {
        assert_eq!(
            code(&c.run(0, pay(None, 1, 1, r.clone())).unwrap_err()),
            want,
            "{r:?}"
        );
    }
    let ok = References {
        end_to_end_id: Some(long(35)),
        remittance: Some(Remittance::CreditorReference("RF18539007547034".into())),
        ..Default::default()
    };
    c.run(0, pay(None, 1, 1, ok)).unwrap();
    assert_eq!(
        code(
            &c.run(0, pay(None, 1, 0, References::default()))
                .unwrap_err()
        ),
        10526
    );
    // Nobody pays the escrow account directly, through payments or Banking.
    let mut to_escrow = order(None, 1, 1, References::default());
    to_escrow.to = escrow_account();
    assert_eq!(
        code(&c.run(0, PaymentsCall::Pay(to_escrow)).unwrap_err()),
        10528
    );
    let e = c
        .run(
            0,
            BankCall::Transfer {
                to: escrow_account(),
                amount: 1,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10123);
}

#[test]
fn untagged_payments_to_tag_requiring_accounts_are_refused() {
    let (mut c, usd) = with_asset();
    c.run(
        1,
        PaymentsCall::SetAccountOptions {
            require_destination_tag: true,
        },
    )
    .unwrap();
    assert!(
        query::account_options(&c.st, &addr(1))
            .unwrap()
            .require_destination_tag
    );
    let before = balance(&c, 1);
    assert_eq!(
        code(
            &c.run(0, pay(None, 1, 10, References::default()))
                .unwrap_err()
        ),
        10504
    );
    let batch = PaymentsCall::Batch(vec![
        order(None, 2, 10, References::default()),
        order(Some(usd), 1, 10, References::default()),
    ]);
    assert_eq!(code(&c.run(0, batch).unwrap_err()), 10504);
    let escrow = PaymentsCall::EscrowCreate {
        payment: order(None, 1, 10, References::default()),
        finish_after_ms: Some(1),
        cancel_after_ms: None,
        condition: None,
    };
    assert_eq!(code(&c.run(0, escrow).unwrap_err()), 10504);
    assert_eq!(balance(&c, 1), before);
    let tagged = References {
        destination_tag: Some(12345),
        ..Default::default()
    };
    let out = c.run(0, pay(None, 1, 10, tagged)).unwrap();
    assert_eq!(balance(&c, 1), before + 10);
    let e = &events_of(&out, "payment")[0];
    assert!(e.attributes.iter().any(|(k, _)| k == "destination_tag"));
}

#[test]
fn batches_pay_all_or_nothing() {
    let (mut c, usd) = with_asset();
    let outputs = vec![
        order(None, 1, 100, refs(Some(UETR), Some("PAY-1"))),
        order(Some(usd), 2, 200, refs(None, Some("PAY-2"))),
        order(None, 3, 300, References::default()),
    ];
    let before0 = balance(&c, 0);
    let out = c.run(0, PaymentsCall::Batch(outputs)).unwrap();
    assert_eq!(events_of(&out, "payment").len(), 3);
    assert_eq!(balance(&c, 0), before0 - 400 - 1);
    assert_eq!(
        (balance(&c, 1), c.held(&usd, 2), balance(&c, 3)),
        (1_000_100, 200, 1_000_300)
    );
    // The second output cannot pay: nothing of the first stays.
    let failing = vec![
        order(None, 4, 5, References::default()),
        order(Some(usd), 5, 10, References::default()),
    ];
    let e = c.run(6, PaymentsCall::Batch(failing)).unwrap_err();
    assert_eq!(code(&e), 10115);
    assert!(e.to_string().starts_with("output 1 of the batch"), "{e}");
    assert_eq!(balance(&c, 4), 1_000_000);
    assert_eq!(
        code(&c.run(0, PaymentsCall::Batch(vec![])).unwrap_err()),
        10505
    );
    let dup = vec![
        order(None, 4, 5, References::default()),
        order(None, 4, 6, References::default()),
    ];
    assert_eq!(
        code(&c.run(0, PaymentsCall::Batch(dup)).unwrap_err()),
        10507
    );
    let too_many: Vec<_> = (0..257u32)
        .map(|i| PaymentOrder {
            asset: None,
            to: crate::types::Address(Hash::sha256(&i.to_be_bytes()).0),
            amount: 1,
            refs: References::default(),
        })
        .collect();
    assert_eq!(
        code(&c.run(0, PaymentsCall::Batch(too_many)).unwrap_err()),
        10506
    );
    let twice = vec![
        order(None, 4, 5, refs(None, Some("PAY-9"))),
        order(None, 5, 5, refs(None, Some("PAY-9"))),
    ];
    assert_eq!(
        code(&c.run(0, PaymentsCall::Batch(twice)).unwrap_err()),
        10503
    );
    let twice = vec![
        order(None, 4, 5, refs(Some(UETR2), None)),
        order(None, 5, 5, refs(Some(UETR2), None)),
    ];
    assert_eq!(
        code(&c.run(0, PaymentsCall::Batch(twice)).unwrap_err()),
        10502
    );
}

fn escrow_call(
    asset: Option<AssetId>,
    to: u8,
    amount: AssetAmount,
    finish: Option<u64>,
    cancel: Option<u64>,
    condition: Option<Hash>,
) -> PaymentsCall {
    PaymentsCall::EscrowCreate {
        payment: order(asset, to, amount, References::default()),
        finish_after_ms: finish,
        cancel_after_ms: cancel,
        condition,
    }
}

#[test]
fn escrows_finish_by_time_and_cancel_after_expiry() {
    let (mut c, usd) = with_asset();
    // Block time is height × 1000 ms in the testkit; this block is height 2.
    let nonce = c.nonces[&0];
    c.run(
        0,
        escrow_call(None, 1, 1_000, Some(6_000), Some(8_000), None),
    )
    .unwrap();
    let native_id = object_id("escrow", &addr(0), nonce);
    let nonce = c.nonces[&0];
    c.run(
        0,
        escrow_call(Some(usd), 2, 700, Some(6_000), Some(8_000), None),
    )
    .unwrap();
    let usd_id = object_id("escrow", &addr(0), nonce);
    check_escrows(&c, &[usd]);
    assert_eq!(escrow_balance(&c), 1_000);
    assert_eq!(c.held(&usd, 0), 1_000_000 - 700);
    let early = c.run(
        5,
        PaymentsCall::EscrowFinish {
            escrow: native_id,
            preimage: None,
        },
    );
    assert_eq!(code(&early.unwrap_err()), 10511);
    let e = c
        .run(5, PaymentsCall::EscrowCancel { escrow: usd_id })
        .unwrap_err();
    assert_eq!(code(&e), 10515);
    // Height 7 (7,000 ms): anyone finishes the native one.
    c.block(vec![]);
    let out = c
        .run(
            5,
            PaymentsCall::EscrowFinish {
                escrow: native_id,
                preimage: None,
            },
        )
        .unwrap();
    assert_eq!(events_of(&out, "escrow_finished").len(), 1);
    assert_eq!(balance(&c, 1), 1_001_000);
    assert!(query::escrow(&c.st, &native_id).unwrap().is_none());
    check_escrows(&c, &[usd]);
    // Height 8: the other expired; it can only be cancelled, by its sender.
    let e = c
        .run(
            2,
            PaymentsCall::EscrowFinish {
                escrow: usd_id,
                preimage: None,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10512);
    c.run(0, PaymentsCall::EscrowCancel { escrow: usd_id })
        .unwrap();
    assert_eq!(c.held(&usd, 0), 1_000_000);
    check_escrows(&c, &[usd]);
    let e = c
        .run(0, PaymentsCall::EscrowCancel { escrow: usd_id })
        .unwrap_err();
    assert_eq!(code(&e), 10510);
}

#[test]
fn escrows_finish_with_the_preimage_and_bad_escrows_are_refused() {
    let mut c = Chain::new();
    let condition = Hash(Sha256::digest(b"the secret").into());
    let nonce = c.nonces.get(&0).copied().unwrap_or(0);
    c.run(
        0,
        escrow_call(None, 1, 50, None, Some(100_000), Some(condition)),
    )
    .unwrap();
    let id = object_id("escrow", &addr(0), nonce);
    let e = c
        .run(
            3,
            PaymentsCall::EscrowFinish {
                escrow: id,
                preimage: None,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10513);
    let wrong = Some(b"a guess".to_vec());
    assert_eq!(
        code(
            &c.run(
                3,
                PaymentsCall::EscrowFinish {
                    escrow: id,
                    preimage: wrong
                }
            )
            .unwrap_err()
        ),
        10514
    );
    let e = c
        .run(0, PaymentsCall::EscrowCancel { escrow: id })
        .unwrap_err();
    assert_eq!(code(&e), 10517);
    c.run(
        3,
        PaymentsCall::EscrowFinish {
            escrow: id,
            preimage: Some(b"the secret".to_vec()),
        },
    )
    .unwrap();
    assert_eq!(balance(&c, 1), 1_000_050);
    assert_eq!(escrow_balance(&c), 0);
    assert_eq!(
        code(
            &c.run(0, escrow_call(None, 1, 5, None, Some(9_000_000), None))
                .unwrap_err()
        ),
        10508
    );
    assert_eq!(
        code(
            &c.run(0, escrow_call(None, 1, 5, Some(5_000), Some(5_000), None))
                .unwrap_err()
        ),
        10509
    );
    assert_eq!(
        code(
            &c.run(0, escrow_call(None, 1, 5, Some(1), Some(2), None))
                .unwrap_err()
        ),
        10529
    );
    let nonce = c.nonces[&0];
    c.run(0, escrow_call(None, 1, 5, Some(1), None, None))
        .unwrap();
    let id = object_id("escrow", &addr(0), nonce);
    assert_eq!(
        code(
            &c.run(0, PaymentsCall::EscrowCancel { escrow: id })
                .unwrap_err()
        ),
        10516
    );
    assert!(c.st.state.contains_key(&escrow_key(&id)));
}

#[test]
fn invoices_are_paid_exactly_once() {
    let (mut c, usd) = with_asset();
    c.run(0, pay(Some(usd), 2, 1_000, References::default()))
        .unwrap();
    c.run(0, pay(Some(usd), 3, 1_000, References::default()))
        .unwrap();
    let nonce = c.nonces.get(&1).copied().unwrap_or(0);
    let create = PaymentsCall::InvoiceCreate {
        asset: Some(usd),
        amount: 600,
        expires_ms: Some(20_000),
        refs: References {
            remittance: Some(Remittance::CreditorReference("RF18539007547034".into())),
            ..Default::default()
        },
    };
    c.run(1, create).unwrap();
    let id = object_id("invoice", &addr(1), nonce);
    assert_eq!(
        query::invoice(&c.st, &id).unwrap().unwrap().status_name(0),
        "open"
    );
    // Two payers in one block: the first pays, the second is refused and moves nothing.
    let txs = vec![
        c.tx(2, PaymentsCall::InvoicePay { invoice: id }),
        c.tx(3, PaymentsCall::InvoicePay { invoice: id }),
    ];
    let out = c.block(txs);
    assert_eq!(out.applied.len(), 1);
    assert_eq!(code(&out.discarded[0].1), 10522);
    assert_eq!(
        (c.held(&usd, 1), c.held(&usd, 2), c.held(&usd, 3)),
        (600, 400, 1_000)
    );
    assert_eq!(
        query::invoice(&c.st, &id).unwrap().unwrap().status_name(0),
        "paid"
    );
    let e = c
        .run(1, PaymentsCall::InvoiceCancel { invoice: id })
        .unwrap_err();
    assert_eq!(code(&e), 10522);
    // Expired and cancelled invoices cannot be paid; only the payee cancels.
    let nonce = c.nonces[&1];
    c.run(
        1,
        PaymentsCall::InvoiceCreate {
            asset: None,
            amount: 7,
            expires_ms: Some(c.height * 1000 + 2_000),
            refs: References::default(),
        },
    )
    .unwrap();
    let short = object_id("invoice", &addr(1), nonce);
    c.block(vec![]);
    let e = c
        .run(2, PaymentsCall::InvoicePay { invoice: short })
        .unwrap_err();
    assert_eq!(code(&e), 10523);
    assert_eq!(
        code(
            &c.run(2, PaymentsCall::InvoiceCancel { invoice: short })
                .unwrap_err()
        ),
        10524
    );
    c.run(1, PaymentsCall::InvoiceCancel { invoice: short })
        .unwrap();
    assert_eq!(
        query::invoice(&c.st, &short)
            .unwrap()
            .unwrap()
            .status_name(0),
        "cancelled"
    );
    assert_eq!(
        code(
            &c.run(2, PaymentsCall::InvoicePay { invoice: short })
                .unwrap_err()
        ),
        10522
    );
    assert_eq!(
        code(
            &c.run(
                2,
                PaymentsCall::InvoicePay {
                    invoice: Hash([9; 32])
                }
            )
            .unwrap_err()
        ),
        10521
    );
    // Paying natively needs the funds after the fee.
    let nonce = c.nonces[&1];
    c.run(
        1,
        PaymentsCall::InvoiceCreate {
            asset: None,
            amount: 5_000_000,
            expires_ms: None,
            refs: References::default(),
        },
    )
    .unwrap();
    let big = object_id("invoice", &addr(1), nonce);
    assert_eq!(
        code(
            &c.run(2, PaymentsCall::InvoicePay { invoice: big })
                .unwrap_err()
        ),
        10532
    );
}

fn standing(
    to: u8,
    amount: AssetAmount,
    period: Period,
    count: Option<u32>,
    on_failure: OnFailure,
) -> PaymentsCall {
    PaymentsCall::StandingOrderCreate {
        payment: order(
            None,
            to,
            amount,
            References {
                end_to_end_id: Some("SALARY".into()),
                ..Default::default()
            },
        ),
        period,
        count,
        on_failure,
    }
}

#[test]
fn standing_orders_pay_every_period_and_end() {
    let mut c = Chain::new();
    let nonce = c.nonces.get(&0).copied().unwrap_or(0);
    c.run(
        0,
        standing(1, 10, Period::Blocks(2), Some(3), OnFailure::Retry),
    )
    .unwrap(); // height 1
    let id = object_id("standing-order", &addr(0), nonce);
    let mut paid_at = Vec::new();
    for _ in 0..8 {
        let out = c.block(vec![]);
        if !events_of(&out, "standing_order_paid").is_empty() {
            paid_at.push(c.height);
        }
    }
    assert_eq!(paid_at, vec![3, 5, 7]);
    assert_eq!(balance(&c, 1), 1_000_030);
    assert!(
        query::standing_order(&c.st, &id).unwrap().is_none(),
        "ended after 3"
    );
    assert_eq!(query::active_standing_orders(&c.st).unwrap(), 0);
    // By block time: every 2,000 ms, honoured to the second.
    let nonce = c.nonces[&0];
    c.run(
        0,
        standing(2, 1, Period::Millis(2_000), None, OnFailure::Retry),
    )
    .unwrap();
    let id = object_id("standing-order", &addr(0), nonce);
    for _ in 0..10 {
        c.block(vec![]);
    }
    let o = query::standing_order(&c.st, &id).unwrap().unwrap();
    assert!((4..=5).contains(&o.paid), "paid {} times in 10 s", o.paid);
    assert_eq!(balance(&c, 2), 1_000_000 + u64::from(o.paid));
    c.run(3, PaymentsCall::StandingOrderCancel { order: id })
        .map(|_| ())
        .unwrap_err();
    c.run(0, PaymentsCall::StandingOrderCancel { order: id })
        .unwrap();
    let before = balance(&c, 2);
    for _ in 0..4 {
        c.block(vec![]);
    }
    assert_eq!(balance(&c, 2), before, "a cancelled order pays no more");
}

#[test]
fn failed_attempts_follow_the_policy_and_the_budget_bounds_each_block() {
    let mut c = Chain::new();
    c.params.payments.standing_orders_per_block_max = 3;
    // Account 5 cannot pay 2,000,000: one order retries, one stops.
    let n = c.nonces.get(&5).copied().unwrap_or(0);
    c.run(
        5,
        standing(1, 2_000_000, Period::Blocks(1), None, OnFailure::Retry),
    )
    .unwrap();
    c.run(
        5,
        standing(1, 2_000_000, Period::Blocks(1), None, OnFailure::Stop),
    )
    .unwrap();
    let (retry, stop) = (
        object_id("standing-order", &addr(5), n),
        object_id("standing-order", &addr(5), n + 1),
    );
    // The first failed once already (at the block of the second's creation).
    let out = c.block(vec![]);
    assert_eq!(events_of(&out, "standing_order_failed").len(), 2);
    assert_eq!(events_of(&out, "standing_order_ended").len(), 1);
    assert!(query::standing_order(&c.st, &stop).unwrap().is_none());
    let o = query::standing_order(&c.st, &retry).unwrap().unwrap();
    assert_eq!((o.paid, o.last.as_ref().map(|a| a.code)), (0, Some(10532)));
    c.run(5, PaymentsCall::StandingOrderCancel { order: retry })
        .unwrap();
    // Ten orders due at the same height, three per block: all paid, in order, none twice.
    for _ in 0..10 {
        c.run(
            6,
            standing(4, 1, Period::Blocks(100), Some(1), OnFailure::Retry),
        )
        .unwrap();
    }
    let mut per_block = Vec::new();
    for _ in 0..120 {
        let out = c.block(vec![]);
        let n = events_of(&out, "standing_order_paid").len();
        assert!(n <= 3);
        if n > 0 {
            per_block.push(n);
        }
    }
    assert_eq!(per_block.iter().sum::<usize>(), 10);
    assert_eq!(balance(&c, 4), 1_000_010);
    assert_eq!(query::active_standing_orders(&c.st).unwrap(), 0);
    // Limits per owner.
    c.params.payments.standing_orders_per_account_max = 1;
    c.run(6, standing(4, 1, Period::Blocks(5), None, OnFailure::Retry))
        .unwrap();
    let e = c
        .run(6, standing(4, 1, Period::Blocks(5), None, OnFailure::Retry))
        .unwrap_err();
    assert_eq!(code(&e), 10530);
    let e = c
        .run(
            6,
            standing(4, 1, Period::Millis(10), None, OnFailure::Retry),
        )
        .unwrap_err();
    assert_eq!(code(&e), 10520);
}

#[test]
fn compliance_rules_refuse_a_payment_and_a_batch_output_on_the_record() {
    let (mut c, usd) = with_asset();
    let rules = AssetRules {
        receiver: vec![Condition::Claim {
            claim_type: ClaimType::Kyc,
            min_level: 1,
            issuers: Vec::new(),
        }],
        ..AssetRules::default()
    };
    c.run(0, ComplianceCall::SetRules { asset: usd, rules })
        .unwrap();
    let out = c
        .run(0, pay(Some(usd), 1, 10, refs(Some(UETR), None)))
        .unwrap();
    assert!(
        matches!(
            out.receipts[0].outcome,
            Outcome::Refused { code: 10401.., .. }
        ),
        "{:?}",
        out.receipts[0].outcome
    );
    assert_eq!(c.held(&usd, 1), 0);
    let batch = PaymentsCall::Batch(vec![
        order(None, 2, 5, References::default()),
        order(Some(usd), 1, 10, References::default()),
    ]);
    let out = c.run(0, batch).unwrap();
    assert!(matches!(out.receipts[0].outcome, Outcome::Refused { .. }));
    assert_eq!(balance(&c, 2), 1_000_000, "all or nothing");
    // A standing order refused by the rules records a failed attempt.
    c.run(
        0,
        PaymentsCall::StandingOrderCreate {
            payment: order(Some(usd), 1, 1, References::default()),
            period: Period::Blocks(1),
            count: Some(1),
            on_failure: OnFailure::Stop,
        },
    )
    .unwrap();
    let out = c.block(vec![]);
    assert_eq!(events_of(&out, "standing_order_failed").len(), 1);
    let refused: Vec<_> = out
        .block_events
        .iter()
        .filter(|e| e.module == 4 && e.kind == "refused")
        .collect();
    assert_eq!(
        refused.len(),
        1,
        "the rule that refused stays on the record"
    );
    assert_eq!(c.held(&usd, 1), 0);
}

#[test]
fn a_new_order_after_an_idle_stretch_runs_on_time() {
    let mut c = Chain::new();
    let n = c.nonces.get(&0).copied().unwrap_or(0);
    c.run(0, standing(1, 1, Period::Blocks(1), None, OnFailure::Retry))
        .unwrap();
    let first = object_id("standing-order", &addr(0), n);
    c.run(0, PaymentsCall::StandingOrderCancel { order: first })
        .unwrap();
    // More idle blocks than the schedule reads in one block.
    for _ in 0..(super::schedule::BUCKET_READS_MAX as usize + 500) {
        c.block(vec![]);
    }
    c.run(
        0,
        standing(2, 3, Period::Blocks(1), Some(1), OnFailure::Retry),
    )
    .unwrap();
    let out = c.block(vec![]);
    assert_eq!(
        events_of(&out, "standing_order_paid").len(),
        1,
        "paid at the next block"
    );
    assert_eq!(balance(&c, 2), 1_000_003);
}
