//! Issued assets: the walkthrough a bank would do, every refusal with its code, and property tests
//! of supply conservation and of parallel = sequential over random mixes of every module's calls.

use proptest::prelude::*;

use super::calls::{asset_id, BankCall, Output, Policy, Renounce};
use super::query;
use crate::execution::TxError;
use crate::modules::compliance::{AssetRules, ComplianceCall, Condition, Velocity};
use crate::modules::identity::{claim_id, ClaimType, IdentityCall, StatusChange, Subject};
use crate::modules::staking::StakingCall;
use crate::modules::testkit::{addr, key, params, Chain, CHAIN};
use crate::types::{AssetAmount, Hash, Payload, Transaction, TxEnvelope};

fn create(symbol: &str, policy: Policy, max: Option<AssetAmount>) -> BankCall {
    BankCall::CreateAsset {
        symbol: symbol.into(),
        name: format!("{symbol} token"),
        decimals: 18,
        max_supply: max,
        initial_supply: 0,
        policy,
        metadata_uri: String::new(),
    }
}

fn full_policy() -> Policy {
    Policy {
        mintable: true,
        holder_burnable: true,
        freezable: true,
        clawback: true,
        auth_required: false,
    }
}

fn code(e: &TxError) -> u32 {
    match e {
        TxError::Module(m) => m.code,
        other => panic!("not a module refusal: {other:?}"),
    }
}

#[test]
fn issue_move_freeze_claw_back_and_multi_send() {
    let mut c = Chain::new();
    let usd = asset_id(&addr(0), "USD");
    let out = c
        .run(0, create("USD", full_policy(), None))
        .expect("created");
    assert_eq!(out.receipts[0].events[0].kind, "asset_created");
    // 10^12 whole units at 18 decimals: wider than u64, exact.
    let big: AssetAmount = 1_000_000_000_000 * 10u128.pow(18);
    c.run(
        0,
        BankCall::Mint {
            asset: usd,
            to: addr(1),
            amount: big,
        },
    )
    .expect("minted");
    assert_eq!(c.asset(&usd).supply, big);
    let out = c
        .run(
            1,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 500,
            },
        )
        .expect("moved");
    // A transfer stores no event: its `transfer` is implied by the transaction.
    assert!(out.receipts[0].events.is_empty());
    let implied = crate::modules::implied_events(&out.applied[0].tx, out.receipts.first());
    assert_eq!(implied.len(), 1);
    assert_eq!(implied[0].kind, "transfer");
    assert!(implied[0].concerns(&addr(1)) && implied[0].concerns(&addr(2)));
    assert_eq!(out.applied[0].tx.payload.counterparty(), Some(&addr(2)));
    assert_eq!(c.held(&usd, 2), 500);
    // Freeze holder 2: it cannot send to 3, but it can send back to the issuer.
    c.run(
        0,
        BankCall::SetFrozen {
            asset: usd,
            holder: addr(2),
            frozen: true,
        },
    )
    .expect("frozen");
    let e = c
        .run(
            2,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(3),
                amount: 1,
            },
        )
        .expect_err("frozen");
    assert_eq!(code(&e), 10108);
    assert!(e.to_string().contains("USD"), "{e}");
    c.run(
        2,
        BankCall::TransferAsset {
            asset: usd,
            to: addr(0),
            amount: 100,
        },
    )
    .expect("back to the issuer");
    // Nobody but a frozen holder's issuer sends it anything.
    let e = c
        .run(
            1,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 1,
            },
        )
        .expect_err("frozen recipient");
    assert_eq!(code(&e), 10108);
    // Clawback burns.
    let before = c.asset(&usd).supply;
    c.run(
        0,
        BankCall::Clawback {
            asset: usd,
            from: addr(2),
            amount: 400,
        },
    )
    .expect("clawed");
    assert_eq!(c.held(&usd, 2), 0);
    assert_eq!(c.asset(&usd).supply, before - 400);
    // Multi-send in two assets and the native one, all or nothing.
    let eur = asset_id(&addr(1), "EUR");
    c.run(1, create("EUR", Policy::default(), Some(1_000)))
        .expect("created");
    let out = c.run(
        1,
        BankCall::MultiSend {
            outputs: vec![
                Output {
                    asset: Some(usd),
                    to: addr(4),
                    amount: 7,
                },
                Output {
                    asset: None,
                    to: addr(5),
                    amount: 9,
                },
                Output {
                    asset: Some(usd),
                    to: addr(6),
                    amount: 8,
                },
            ],
        },
    );
    assert!(out.is_ok());
    assert_eq!(c.held(&usd, 4), 7);
    assert_eq!(c.st.accounts[&addr(5)].balance, 1_000_009);
    // A failing later output undoes the earlier ones, native included.
    let bal5 = c.st.accounts[&addr(5)].balance;
    let e = c
        .run(
            1,
            BankCall::MultiSend {
                outputs: vec![
                    Output {
                        asset: None,
                        to: addr(5),
                        amount: 9,
                    },
                    Output {
                        asset: Some(usd),
                        to: addr(4),
                        amount: 1,
                    },
                    Output {
                        asset: Some(eur),
                        to: addr(4),
                        amount: 1,
                    },
                ],
            },
        )
        .expect_err("EUR not held");
    assert_eq!(code(&e), 10115);
    assert_eq!(c.st.accounts[&addr(5)].balance, bal5);
    assert_eq!(c.held(&usd, 4), 7);
    // Queries see it all.
    let balances = query::balances(&c.st, &addr(4)).expect("infallible");
    assert_eq!(balances.len(), 1);
    assert_eq!(balances[0].amount, "7");
    let holders = query::holders(&c.st, &usd, None, 2).expect("infallible");
    assert_eq!(holders.items.len(), 2);
    let rest =
        query::holders(&c.st, &usd, Some(&holders.items[1].holder), 100).expect("infallible");
    assert!(rest.next_cursor.is_none());
    let all = query::assets(&c.st, None, 1).expect("infallible");
    assert_eq!(all.items.len(), 1);
    let second =
        query::assets(&c.st, Some(&all.items[0].id.parse().expect("hex")), 10).expect("infallible");
    assert_eq!(second.items.len(), 1);
    assert_ne!(all.items[0].id, second.items[0].id);
}

#[test]
fn every_refusal_has_its_code_and_changes_nothing() {
    let mut c = Chain::new();
    let usd = asset_id(&addr(0), "USD");
    let plain = asset_id(&addr(0), "PLAIN");
    let ghost = asset_id(&addr(0), "GHOST");
    c.run(0, create("USD", full_policy(), Some(1_000)))
        .expect("created");
    c.run(
        0,
        create(
            "PLAIN",
            Policy {
                mintable: true,
                ..Policy::default()
            },
            None,
        ),
    )
    .expect("created");
    c.run(
        0,
        BankCall::Mint {
            asset: plain,
            to: addr(1),
            amount: 50,
        },
    )
    .expect("minted");
    let auth = asset_id(&addr(0), "KYC");
    c.run(
        0,
        create(
            "KYC",
            Policy {
                mintable: true,
                auth_required: true,
                ..Policy::default()
            },
            None,
        ),
    )
    .expect("created");
    let cases: Vec<(u8, BankCall, u32)> = vec![
        (
            1,
            BankCall::TransferAsset {
                asset: ghost,
                to: addr(2),
                amount: 1,
            },
            10100,
        ),
        (0, create("USD", Policy::default(), None), 10101),
        (
            1,
            BankCall::Mint {
                asset: usd,
                to: addr(1),
                amount: 1,
            },
            10102,
        ),
        (
            0,
            BankCall::CreateAsset {
                symbol: "BAD".into(),
                name: String::new(),
                decimals: 19,
                max_supply: None,
                initial_supply: 0,
                policy: Policy::default(),
                metadata_uri: String::new(),
            },
            10103,
        ),
        (0, create("lower", Policy::default(), None), 10104),
        (
            0,
            BankCall::Mint {
                asset: usd,
                to: addr(1),
                amount: 1_001,
            },
            10106,
        ),
        (
            0,
            BankCall::SetFrozen {
                asset: plain,
                holder: addr(1),
                frozen: true,
            },
            10111,
        ),
        (
            0,
            BankCall::Clawback {
                asset: plain,
                from: addr(1),
                amount: 1,
            },
            10112,
        ),
        (
            0,
            BankCall::Mint {
                asset: auth,
                to: addr(1),
                amount: 1,
            },
            10110,
        ),
        (
            0,
            BankCall::SetAuthorized {
                asset: plain,
                holder: addr(1),
                authorized: true,
            },
            10119,
        ),
        (
            1,
            BankCall::TransferAsset {
                asset: plain,
                to: addr(2),
                amount: 51,
            },
            10115,
        ),
        (
            1,
            BankCall::Burn {
                asset: plain,
                amount: 1,
            },
            10117,
        ),
        (
            0,
            BankCall::MultiSend {
                outputs: (0..33)
                    .map(|i| Output {
                        asset: None,
                        to: addr(i % 8),
                        amount: 1,
                    })
                    .collect(),
            },
            10113,
        ),
        (0, BankCall::MultiSend { outputs: vec![] }, 10120),
        (
            0,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 0,
            },
            10116,
        ),
    ];
    for (from, call, want) in cases {
        let before = (c.st.clone(), c.lthash.root());
        let what = format!("{call:?}");
        let e = c.run(from, call).expect_err(&what);
        assert_eq!(code(&e), want, "{what}: {e}");
        assert_eq!(c.st.accounts, before.0.accounts, "{what} moved funds");
        // The block around the call moves the proposer schedule on, as every block does.
        let schedule =
            crate::modules::staking::state_key(&crate::modules::staking::state::StakeKey::Leaders);
        let mut after_state = c.st.state.clone();
        let mut before_state = before.0.state.clone();
        after_state.remove(&schedule);
        before_state.remove(&schedule);
        assert_eq!(after_state, before_state, "{what} wrote state");
    }
    // Mint past u128 and a supply with no maximum.
    c.run(
        0,
        BankCall::Mint {
            asset: plain,
            to: addr(0),
            amount: u128::MAX - 50,
        },
    )
    .expect("fits");
    let e = c
        .run(
            0,
            BankCall::Mint {
                asset: plain,
                to: addr(0),
                amount: 1,
            },
        )
        .expect_err("overflow");
    assert_eq!(code(&e), 10114);
    // Giving minting up is for good; a frozen asset moves only to and from the issuer.
    c.run(
        0,
        BankCall::Renounce {
            asset: plain,
            what: Renounce::Mint,
        },
    )
    .expect("renounced");
    let e = c
        .run(
            0,
            BankCall::Mint {
                asset: plain,
                to: addr(0),
                amount: 1,
            },
        )
        .expect_err("gone");
    assert_eq!(code(&e), 10107);
    c.run(
        0,
        BankCall::Mint {
            asset: usd,
            to: addr(1),
            amount: 10,
        },
    )
    .expect("minted");
    c.run(
        0,
        BankCall::SetGlobalFrozen {
            asset: usd,
            frozen: true,
        },
    )
    .expect("frozen");
    let e = c
        .run(
            1,
            BankCall::TransferAsset {
                asset: usd,
                to: addr(2),
                amount: 1,
            },
        )
        .expect_err("frozen asset");
    assert_eq!(code(&e), 10109);
    c.run(
        1,
        BankCall::TransferAsset {
            asset: usd,
            to: addr(0),
            amount: 1,
        },
    )
    .expect("to issuer");
    c.run(
        0,
        BankCall::Renounce {
            asset: usd,
            what: Renounce::Changes,
        },
    )
    .expect("locked");
    let e = c
        .run(
            0,
            BankCall::SetIssuer {
                asset: usd,
                issuer: addr(3),
            },
        )
        .expect_err("locked");
    assert_eq!(code(&e), 10118);
    // Authorized holders receive; revoked ones do not.
    c.run(
        0,
        BankCall::SetAuthorized {
            asset: auth,
            holder: addr(1),
            authorized: true,
        },
    )
    .expect("authorized");
    c.run(
        0,
        BankCall::Mint {
            asset: auth,
            to: addr(1),
            amount: 5,
        },
    )
    .expect("minted");
    let mut disabled = params();
    disabled.banking.assets_enabled = false;
    let tx = c.tx(0, create("OFF", Policy::default(), None));
    assert_eq!(
        code(&crate::execution::check_static(&tx.tx, &disabled).expect_err("disabled")),
        10121
    );
}

/// A random call among every module's: native and asset transfers, mints, burns, freezes,
/// clawbacks, multi-sends, authorizations and staking calls, over a few senders and assets.
fn call_strategy() -> impl Strategy<Value = (u8, u8, u8, u8, u64)> {
    (0u8..6, 0u8..100, 0u8..6, 0u8..3, 1u64..400)
}

/// A random call; `kind` in 0..100. Compliance and identity calls (serial: their block runs
/// sequentially) are rare, so that about half the blocks take the parallel path.
fn make_call(kind: u8, to: u8, asset: u8, amount: u64) -> Payload {
    // Asset k is issued by account k.
    let id = asset_id(&addr(asset), &format!("A{asset}"));
    let a = AssetAmount::from(amount);
    let kind = match kind {
        // Account 6 is the KYC provider; holders 0..4 got claims `claim_id(6, h)`.
        98 => {
            let change = [
                StatusChange::Suspend,
                StatusChange::Reinstate,
                StatusChange::Revoke,
            ];
            return Payload::Identity(IdentityCall::SetClaimStatus {
                claim: claim_id(&addr(6), u64::from(to % 4)),
                change: change[amount as usize % 3],
            });
        }
        99 => {
            return Payload::Compliance(ComplianceCall::SetBlocked {
                address: addr(to),
                blocked: amount % 2 == 0,
                reason: "sanctions".into(),
            })
        }
        90..=94 => return payments_call(kind, to, id, amount),
        95..=97 => return dex_call(kind, to, amount),
        k => k % 15,
    };
    Payload::Bank(match kind {
        0 => BankCall::Transfer {
            to: addr(to),
            amount,
        },
        1..=3 => BankCall::TransferAsset {
            asset: id,
            to: addr(to),
            amount: a,
        },
        4 => BankCall::Mint {
            asset: id,
            to: addr(to),
            amount: a,
        },
        5 => BankCall::Burn {
            asset: id,
            amount: a,
        },
        6 => BankCall::SetFrozen {
            asset: id,
            holder: addr(to),
            frozen: amount % 2 == 0,
        },
        7 => BankCall::Clawback {
            asset: id,
            from: addr(to),
            amount: a,
        },
        8 => BankCall::MultiSend {
            outputs: vec![
                Output {
                    asset: Some(id),
                    to: addr(to),
                    amount: a,
                },
                Output {
                    asset: None,
                    to: addr((to + 1) % 8),
                    amount: a,
                },
            ],
        },
        9 => BankCall::SetAuthorized {
            asset: id,
            holder: addr(to),
            authorized: true,
        },
        10 => BankCall::SetGlobalFrozen {
            asset: id,
            frozen: amount % 3 == 0,
        },
        11 => create(
            &format!("A{asset}"),
            Policy {
                auth_required: asset == 2,
                ..full_policy()
            },
            Some(5_000),
        ),
        14 => BankCall::TransferWithTravel {
            asset: id,
            to: addr(to),
            amount: a,
            travel: crate::modules::hooks::TravelRecord {
                originator_vasp: "VASP-A".into(),
                beneficiary_vasp: "VASP-B".into(),
                payload_hash: crate::types::Hash([amount as u8; 32]),
            },
        },
        12 => {
            return Payload::Staking(StakingCall::Delegate {
                validator: addr(8 + to % 3),
                amount,
            })
        }
        _ => {
            return Payload::Staking(StakingCall::Undelegate {
                validator: addr(8 + to % 3),
                amount,
            })
        }
    })
}

/// A payments call (serial ones, standing orders, rare): payments, batches, escrows and invoices
/// with ids that sometimes name an existing object.
/// The two markets of the generic property test: A0 against A1 (ruled by compliance) and A2
/// (authorization required) against A0.
fn dex_markets() -> [Hash; 2] {
    let a = |k: u8| asset_id(&addr(k), &format!("A{k}"));
    [
        crate::modules::dex::market_id(&a(0), &a(1)),
        crate::modules::dex::market_id(&a(2), &a(0)),
    ]
}

/// A DEX call: a limit order that may cross (GTC or IOC), a cancel of all the sender's orders,
/// or a swap against the pool and the book.
fn dex_call(kind: u8, to: u8, amount: u64) -> Payload {
    use crate::modules::dex::book::{SelfTrade, Side};
    use crate::modules::dex::{DexCall, NewOrder, TimeInForce};
    let market = dex_markets()[usize::from(to % 2)];
    let side = if amount % 2 == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    Payload::Dex(match kind {
        95 => DexCall::Place {
            market,
            orders: vec![NewOrder {
                client_id: amount,
                side,
                price: 8 + amount % 5,
                size: u128::from(amount % 7 + 1),
                tif: if to % 3 == 0 {
                    TimeInForce::Ioc
                } else {
                    TimeInForce::Gtc
                },
                market: false,
                self_trade: SelfTrade::CancelOldest,
            }],
        },
        96 => DexCall::CancelAll { market },
        _ => DexCall::Swap {
            market,
            side,
            size: u128::from(amount % 9 + 1),
            limit: if side == Side::Buy { 14 } else { 6 },
        },
    })
}

fn payments_call(kind: u8, to: u8, id: crate::modules::banking::AssetId, amount: u64) -> Payload {
    use crate::modules::payments::{
        object_id, OnFailure, PaymentOrder, PaymentsCall, Period, References, Uetr,
    };
    let a = AssetAmount::from(amount);
    let order = |asset, to: u8, refs| PaymentOrder {
        asset,
        to: addr(to),
        amount: a,
        refs,
    };
    let mut uetr = [amount as u8; 16];
    uetr[6] = 0x40 | (to & 0x0f);
    uetr[8] = 0x80;
    let refs = References {
        uetr: Some(Uetr(uetr)),
        end_to_end_id: Some(format!("E{to}")),
        ..References::default()
    };
    Payload::Payments(match kind {
        90 => PaymentsCall::Pay(order(None, to, refs)),
        91 => PaymentsCall::Pay(order(Some(id), to, References::default())),
        92 => PaymentsCall::Batch(vec![
            order(None, to, References::default()),
            order(Some(id), (to + 1) % 8, References::default()),
        ]),
        93 => PaymentsCall::EscrowCreate {
            payment: order(
                if amount % 2 == 0 { None } else { Some(id) },
                to,
                References::default(),
            ),
            finish_after_ms: Some(amount * 20),
            cancel_after_ms: Some(amount * 20 + 3_000),
            condition: None,
        },
        94 if amount % 2 == 0 => PaymentsCall::EscrowFinish {
            escrow: object_id("escrow", &addr(to), amount % 6),
            preimage: None,
        },
        94 => PaymentsCall::EscrowCancel {
            escrow: object_id("escrow", &addr(to), amount % 6),
        },
        95 => PaymentsCall::InvoiceCreate {
            asset: Some(id),
            amount: a,
            expires_ms: None,
            refs: References::default(),
        },
        96 => PaymentsCall::InvoicePay {
            invoice: object_id("invoice", &addr(to), amount % 6),
        },
        _ => PaymentsCall::StandingOrderCreate {
            payment: order(
                if amount % 2 == 0 { None } else { Some(id) },
                to,
                References::default(),
            ),
            period: Period::Blocks(1 + amount % 3),
            count: Some(2),
            on_failure: OnFailure::Retry,
        },
    })
}

/// The kept count of blocked addresses equals the blocked list's entries.
fn check_blocked_count(c: &Chain) {
    use crate::modules::compliance::state::{blocked_count_key, blocked_prefix, Count};
    let entries =
        c.st.state
            .keys()
            .filter(|k| k.as_bytes().starts_with(blocked_prefix().as_bytes()))
            .count() as u64;
    let kept = c.st.state.get(&blocked_count_key()).map_or(0, |b| {
        crate::codec::decode_exact::<Count>(b, usize::MAX)
            .expect("count")
            .0
    });
    assert_eq!(kept, entries, "blocked count");
}

/// Asset `k`'s kept holder count equals the holdings that are not zero.
fn check_holder_count(c: &Chain, k: u8) {
    let id = asset_id(&addr(k), &format!("A{k}"));
    let Some(count) = crate::modules::compliance::query::holders(&c.st, &id).expect("infallible")
    else {
        return;
    };
    // Module accounts hold too: the escrow account and the DEX markets' vaults.
    let module_accounts = std::iter::once(crate::modules::payments::escrow_account())
        .chain(dex_markets().map(|m| crate::modules::dex::vault_account(&m)));
    let held_by_modules = module_accounts
        .filter(|a| {
            c.st.state
                .get(&super::state::holding_key(&id, a))
                .is_some_and(|b| {
                    crate::codec::decode_exact::<super::Holding>(b, usize::MAX)
                        .expect("holding")
                        .amount
                        > 0
                })
        })
        .count() as u64;
    let actual = (0..12u8).filter(|h| c.held(&id, *h) > 0).count() as u64 + held_by_modules;
    assert_eq!(count, actual, "holder count of A{k}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random mixes of every module's calls: the parallel executor equals the sequential oracle
    /// (both run in `Chain::block`), the commitment equals the one from scratch, and each asset's
    /// holdings add up to its supply after every block.
    #[test]
    fn parallel_equals_sequential_and_supply_is_conserved(
        blocks in proptest::collection::vec(proptest::collection::vec(call_strategy(), 0..30), 1..6),
    ) {
        let mut c = Chain::new();
        // Three assets, issued by accounts 0, 1 and 2, minted to a few holders.
        let mut setup = Vec::new();
        for k in 0..3u8 {
            setup.push(c.tx(k, create(&format!("A{k}"), Policy { auth_required: k == 2, ..full_policy() }, Some(5_000))));
        }
        c.block(setup);
        // Compliance in the mix: a KYC provider (6) credentials holders 0..4 (claim ids from
        // its nonces 0..4); asset A1 admits KYC'd receivers only, with balance, velocity and
        // travel-rule limits; A0 counts its holders (set before any supply). The authority is 7.
        let mut rules = vec![c.tx(7, IdentityCall::SetIssuer { issuer: addr(6), types: vec![ClaimType::Kyc], name: "kyc".into() })];
        for h in 0..4u8 {
            rules.push(c.tx(6, IdentityCall::IssueClaim { subject: Subject::Address(addr(h)), claim_type: ClaimType::Kyc, level: 2, jurisdiction: None, expires_ms: None, evidence: None }));
        }
        rules.push(c.tx(1, ComplianceCall::SetRules { asset: asset_id(&addr(1), "A1"), rules: AssetRules {
            sender: vec![Condition::Claim { claim_type: ClaimType::Kyc, min_level: 1, issuers: vec![] }],
            receiver: vec![Condition::Claim { claim_type: ClaimType::Kyc, min_level: 2, issuers: vec![addr(6)] }],
            max_balance: Some(900),
            velocity: Some(Velocity { amount: 700, period_ms: 3_000 }),
            travel_threshold: Some(350),
            ..AssetRules::default()
        }}));
        rules.push(c.tx(0, ComplianceCall::SetRules { asset: asset_id(&addr(0), "A0"), rules: AssetRules { max_holders: Some(5), ..AssetRules::default() } }));
        let out = c.block(rules);
        prop_assert!(out.discarded.is_empty(), "{:?}", out.discarded);
        let mut mints = Vec::new();
        for k in 0..3u8 {
            for h in 0..4u8 {
                if k == 2 {
                    mints.push(c.tx(k, BankCall::SetAuthorized { asset: asset_id(&addr(k), "A2"), holder: addr(h), authorized: true }));
                }
                mints.push(c.tx(k, BankCall::Mint { asset: asset_id(&addr(k), &format!("A{k}")), to: addr(h), amount: 300 }));
            }
        }
        let out = c.block(mints);
        prop_assert!(out.discarded.is_empty() && out.receipts.iter().all(|r| r.outcome == crate::types::Outcome::Success));
        // The DEX in the mix: the authority (7) opens two markets, and holder 3 seeds each pool.
        c.params.dex.authority = Some(addr(7));
        let a = |k: u8| asset_id(&addr(k), &format!("A{k}"));
        let terms = |base, quote| crate::modules::dex::MarketTerms { base, quote, tick: 1, lot: 1, min_size: 1, maker_fee_bps: -2, taker_fee_bps: 5 };
        let markets = vec![
            c.tx(7, crate::modules::dex::DexCall::CreateMarket(terms(a(0), a(1)))),
            c.tx(7, crate::modules::dex::DexCall::CreateMarket(terms(a(2), a(0)))),
        ];
        let out = c.block(markets);
        prop_assert!(out.discarded.is_empty(), "{:?}", out.discarded);
        let pools: Vec<TxEnvelope> = dex_markets().iter().map(|m| c.tx(3, crate::modules::dex::DexCall::AddLiquidity { market: *m, base_max: 100, quote_max: 1_000, min_shares: 0 })).collect();
        c.block(pools);
        prop_assert_eq!(crate::modules::compliance::query::holders(&c.st, &asset_id(&addr(0), "A0")).unwrap(), Some(4));
        for txs in blocks {
            let block: Vec<TxEnvelope> = txs
                .iter()
                .map(|&(from, kind, to, asset, amount)| {
                    let payload = make_call(kind, to % 8, asset, amount);
                    let n = c.nonces.entry(from).or_default();
                    let tx = Transaction::sign(&key(from), CHAIN, *n, 1, payload);
                    *n += 1;
                    tx
                })
                .collect();
            c.block(block);
            check_holder_count(&c, 0);
            check_blocked_count(&c);
            let ids: Vec<crate::modules::banking::AssetId> = (0..3u8).map(|k| asset_id(&addr(k), &format!("A{k}"))).collect();
            crate::modules::payments::tests::check_escrows(&c, &ids);
            for m in dex_markets() {
                crate::modules::dex::tests::check_market(&c, &m);
            }
        }
    }
}
