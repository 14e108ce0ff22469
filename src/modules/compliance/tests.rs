//! Compliance: a KYC-gated asset end to end, every rule kind allowing and refusing, the blocked
//! list, the travel rule, refusals kept on the record, and the dry run agreeing with execution.

use super::calls::{AssetRules, ComplianceCall, Condition, Velocity};
use super::query;
use crate::execution::{BlockOutput, TxError};
use crate::modules::banking::{asset_id, AssetId, BankCall, Output, Policy, TravelRecord};
use crate::modules::identity::{claim_id, ClaimType, IdentityCall, StatusChange, Subject};
use crate::modules::testkit::{addr, Chain};
use crate::types::{AttrValue, Hash, Outcome};

const ISSUER: u8 = 0;
const KYC: u8 = 6;
const AUTHORITY: u8 = 7;

fn code(e: &TxError) -> u32 {
    match e {
        TxError::Module(m) => m.code,
        other => panic!("not a module refusal: {other:?}"),
    }
}

/// The code of a refusal kept on the record, or `None` for a success.
fn refused(out: &BlockOutput) -> Option<u32> {
    match &out.receipts[0].outcome {
        Outcome::Success => None,
        Outcome::Refused { code, .. } => Some(*code),
    }
}

fn kyc(level: u8) -> Condition {
    Condition::Claim {
        claim_type: ClaimType::Kyc,
        min_level: level,
        issuers: Vec::new(),
    }
}

fn claim(
    subject: u8,
    t: ClaimType,
    level: u8,
    jurisdiction: Option<[u8; 2]>,
    expires_ms: Option<u64>,
) -> IdentityCall {
    IdentityCall::IssueClaim {
        subject: Subject::Address(addr(subject)),
        claim_type: t,
        level,
        jurisdiction,
        expires_ms,
        evidence: None,
    }
}

/// A chain with a KYC provider trusted for KYC, jurisdiction and affiliate claims, and asset
/// `SYM` of account 0 (no supply yet).
fn setup(symbol: &str) -> (Chain, AssetId) {
    let mut c = Chain::new();
    c.run(
        AUTHORITY,
        IdentityCall::SetIssuer {
            issuer: addr(KYC),
            types: vec![
                ClaimType::Kyc,
                ClaimType::Jurisdiction,
                ClaimType::Affiliate,
            ],
            name: "KYC provider".into(),
        },
    )
    .unwrap();
    c.run(
        ISSUER,
        BankCall::CreateAsset {
            symbol: symbol.into(),
            name: "Regulated".into(),
            decimals: 2,
            max_supply: None,
            initial_supply: 0,
            policy: Policy {
                mintable: true,
                clawback: true,
                holder_burnable: true,
                ..Policy::default()
            },
            metadata_uri: String::new(),
        },
    )
    .unwrap();
    (c, asset_id(&addr(ISSUER), symbol))
}

fn set_rules(c: &mut Chain, asset: AssetId, rules: AssetRules) {
    let out = c
        .run(ISSUER, ComplianceCall::SetRules { asset, rules })
        .unwrap();
    assert_eq!(refused(&out), None);
}

fn mint(asset: AssetId, to: u8, amount: u128) -> BankCall {
    BankCall::Mint {
        asset,
        to: addr(to),
        amount,
    }
}

fn send(asset: AssetId, to: u8, amount: u128) -> BankCall {
    BankCall::TransferAsset {
        asset,
        to: addr(to),
        amount,
    }
}

/// Runs a call that must be included; its refusal code on the record, if any.
fn decided(c: &mut Chain, from: u8, call: impl Into<crate::types::Payload>) -> Option<u32> {
    refused(&c.run(from, call).expect("included"))
}

#[test]
fn a_kyc_gated_asset_end_to_end() {
    let (mut c, asset) = setup("KYC");
    set_rules(
        &mut c,
        asset,
        AssetRules {
            sender: vec![kyc(1)],
            receiver: vec![kyc(2)],
            ..Default::default()
        },
    );

    // Minting to a holder without a credential is refused, on the record: fee paid, nonce
    // used, nothing moved, and the event names the rule.
    let balance = c.st.accounts[&addr(ISSUER)].balance;
    let nonce = c.st.accounts[&addr(ISSUER)].nonce;
    let out = c.run(ISSUER, mint(asset, 1, 500)).unwrap();
    assert_eq!(refused(&out), Some(10413));
    assert_eq!(c.st.accounts[&addr(ISSUER)].balance, balance - 1);
    assert_eq!(c.st.accounts[&addr(ISSUER)].nonce, nonce + 1);
    assert_eq!(c.held(&asset, 1), 0);
    let ev = &out.receipts[0].events[0];
    assert_eq!((ev.module, ev.kind.as_str()), (4, "refused"));
    assert!(ev
        .attributes
        .contains(&("rule".into(), AttrValue::Text("receiver_condition".into()))));
    assert!(ev.concerns(&addr(1)));

    // Credentialed at level 2: the mint goes, with the rules that applied.
    let n = c.nonces.get(&KYC).copied().unwrap_or(0);
    c.run(KYC, claim(1, ClaimType::Kyc, 2, None, None)).unwrap();
    let out = c.run(ISSUER, mint(asset, 1, 500)).unwrap();
    assert_eq!(refused(&out), None);
    assert_eq!(c.held(&asset, 1), 500);
    let allowed = out.receipts[0]
        .events
        .iter()
        .find(|e| e.kind == "allowed")
        .unwrap();
    assert!(allowed
        .attributes
        .contains(&("rules".into(), AttrValue::Text("receiver:kyc>=2".into()))));

    // A receiver with a level-1 credential is refused; at level 2 it receives.
    c.run(KYC, claim(2, ClaimType::Kyc, 1, None, None)).unwrap();
    assert_eq!(decided(&mut c, 1, send(asset, 2, 10)), Some(10413));
    c.run(KYC, claim(2, ClaimType::Kyc, 2, None, None)).unwrap();
    assert_eq!(decided(&mut c, 1, send(asset, 2, 10)), None);
    assert_eq!(c.held(&asset, 2), 10);

    // Revoking 1's credential stops its transfers at once (the sender rule).
    c.run(
        KYC,
        IdentityCall::SetClaimStatus {
            claim: claim_id(&addr(KYC), n),
            change: StatusChange::Revoke,
        },
    )
    .unwrap();
    assert_eq!(decided(&mut c, 1, send(asset, 2, 10)), Some(10412));
    // The dry run says the same, with the reason.
    let r = query::check_transfer(&c.st, &asset, &addr(1), &addr(2), 10, false, 99_000).unwrap();
    assert!(!r.allowed);
    assert_eq!(r.refusal.as_ref().unwrap().1, "sender_condition");
    let r = query::check_transfer(&c.st, &asset, &addr(2), &addr(2), 5, false, 99_000).unwrap();
    assert!(r.allowed, "{r:?}");
    // The issuer is exempt from the conditions (it redeems and distributes).
    assert_eq!(decided(&mut c, 2, send(asset, ISSUER, 5)), None);
}

#[test]
fn suspended_expired_and_untrusted_claims_stop_counting() {
    let (mut c, asset) = setup("SUS");
    set_rules(
        &mut c,
        asset,
        AssetRules {
            receiver: vec![kyc(0)],
            ..Default::default()
        },
    );
    // Expires at 10 s of block time; blocks here are 1 s apart.
    let n = c.nonces.get(&KYC).copied().unwrap_or(0);
    c.run(
        KYC,
        claim(1, ClaimType::Kyc, 0, None, Some(c.height * 1_000 + 3_500)),
    )
    .unwrap();
    let id = claim_id(&addr(KYC), n);
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 1, 1)), None);
    c.run(
        KYC,
        IdentityCall::SetClaimStatus {
            claim: id,
            change: StatusChange::Suspend,
        },
    )
    .unwrap();
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 1, 1)), Some(10413));
    c.run(
        KYC,
        IdentityCall::SetClaimStatus {
            claim: id,
            change: StatusChange::Reinstate,
        },
    )
    .unwrap();
    assert_eq!(
        decided(&mut c, ISSUER, mint(asset, 1, 1)),
        Some(10413),
        "expired by now"
    );
    // A current claim from an issuer the authority stops trusting no longer counts.
    c.run(KYC, claim(1, ClaimType::Kyc, 0, None, None)).unwrap();
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 1, 1)), None);
    c.run(
        AUTHORITY,
        IdentityCall::SetIssuer {
            issuer: addr(KYC),
            types: vec![],
            name: String::new(),
        },
    )
    .unwrap();
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 1, 1)), Some(10413));
}

#[test]
fn jurisdiction_and_absence_conditions() {
    let (mut c, asset) = setup("JUR");
    set_rules(
        &mut c,
        asset,
        AssetRules {
            receiver: vec![
                Condition::JurisdictionIn(vec![*b"DE", *b"FR"]),
                Condition::JurisdictionNotIn(vec![*b"KP"]),
                Condition::NoClaim {
                    claim_type: ClaimType::Affiliate,
                },
            ],
            ..Default::default()
        },
    );
    for (holder, code) in [(1, *b"DE"), (2, *b"US"), (3, *b"FR")] {
        c.run(
            KYC,
            claim(holder, ClaimType::Jurisdiction, 0, Some(code), None),
        )
        .unwrap();
    }
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 1, 5)), None);
    assert_eq!(
        decided(&mut c, ISSUER, mint(asset, 2, 5)),
        Some(10413),
        "US is not in DE|FR"
    );
    assert_eq!(
        decided(&mut c, ISSUER, mint(asset, 4, 5)),
        Some(10413),
        "no jurisdiction at all"
    );
    // A second jurisdiction in the excluded list refuses even with an allowed one.
    c.run(
        KYC,
        claim(3, ClaimType::Jurisdiction, 0, Some(*b"KP"), None),
    )
    .unwrap();
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 3, 5)), Some(10413));
    // An affiliate is refused.
    c.run(KYC, claim(1, ClaimType::Affiliate, 0, None, None))
        .unwrap();
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 1, 5)), Some(10413));
}

#[test]
fn holder_balance_and_velocity_limits() {
    let (mut c, asset) = setup("LIM");
    set_rules(
        &mut c,
        asset,
        AssetRules {
            max_holders: Some(3),
            max_balance: Some(1_000),
            velocity: Some(Velocity {
                amount: 300,
                period_ms: 10_000,
            }),
            ..Default::default()
        },
    );
    assert_eq!(query::holders(&c.st, &asset).unwrap(), Some(0));
    // The issuer holds inventory (it counts as a holder), then two holders.
    assert_eq!(decided(&mut c, ISSUER, mint(asset, ISSUER, 5_000)), None);
    assert_eq!(decided(&mut c, ISSUER, send(asset, 1, 1_000)), None);
    assert_eq!(
        decided(&mut c, ISSUER, send(asset, 1, 1)),
        Some(10415),
        "over 1,000 per holder"
    );
    assert_eq!(decided(&mut c, ISSUER, send(asset, 2, 10)), None);
    assert_eq!(query::holders(&c.st, &asset).unwrap(), Some(3));
    assert_eq!(
        decided(&mut c, ISSUER, send(asset, 3, 10)),
        Some(10414),
        "a fourth holder"
    );
    // Holder 2 leaving makes room; sending to an existing holder never needs it.
    assert_eq!(
        decided(&mut c, 2, send(asset, 1, 10)),
        Some(10415),
        "1 is full"
    );
    assert_eq!(decided(&mut c, 2, send(asset, ISSUER, 10)), None);
    assert_eq!(query::holders(&c.st, &asset).unwrap(), Some(2));
    // Velocity: 300 per 10 s per sender (the issuer is exempt).
    assert_eq!(decided(&mut c, 1, send(asset, 3, 200)), None);
    assert_eq!(decided(&mut c, 1, send(asset, 3, 101)), Some(10416));
    assert_eq!(decided(&mut c, 1, send(asset, 3, 100)), None);
    while (c.height * 1_000) % 10_000 != 9_000 {
        c.block(Vec::new());
    }
    // The next block starts a new period.
    assert_eq!(decided(&mut c, 1, send(asset, 3, 300)), None);
    // Burning and clawing back keep the count exact.
    assert_eq!(
        decided(&mut c, 3, BankCall::Burn { asset, amount: 600 }),
        None
    );
    assert_eq!(query::holders(&c.st, &asset).unwrap(), Some(2));
    assert_eq!(
        decided(
            &mut c,
            ISSUER,
            BankCall::Clawback {
                asset,
                from: addr(1),
                amount: 400
            }
        ),
        None
    );
    assert_eq!(query::holders(&c.st, &asset).unwrap(), Some(1));
    // A holder limit is set while the supply is 0 only.
    let (mut c2, other) = setup("LATE");
    assert_eq!(decided(&mut c2, ISSUER, mint(other, 1, 5)), None);
    let e = c2
        .run(
            ISSUER,
            ComplianceCall::SetRules {
                asset: other,
                rules: AssetRules {
                    max_holders: Some(9),
                    ..Default::default()
                },
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10406);
}

#[test]
fn blocked_paused_and_travel_rule() {
    let (mut c, asset) = setup("TRV");
    assert_eq!(decided(&mut c, ISSUER, mint(asset, 1, 5_000)), None);
    // Blocked: neither sends nor receives any asset, ruled or not.
    let e = c
        .run(
            1,
            ComplianceCall::SetBlocked {
                address: addr(2),
                blocked: true,
                reason: "OFAC".into(),
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10401);
    c.run(
        AUTHORITY,
        ComplianceCall::SetBlocked {
            address: addr(2),
            blocked: true,
            reason: "OFAC SDN".into(),
        },
    )
    .unwrap();
    assert_eq!(decided(&mut c, 1, send(asset, 2, 1)), Some(10411));
    let out = c
        .run(
            1,
            BankCall::MultiSend {
                outputs: vec![
                    Output {
                        asset: Some(asset),
                        to: addr(3),
                        amount: 1,
                    },
                    Output {
                        asset: Some(asset),
                        to: addr(2),
                        amount: 1,
                    },
                ],
            },
        )
        .unwrap();
    assert_eq!(refused(&out), Some(10411));
    assert_eq!(c.held(&asset, 3), 0, "the multi-send moved nothing");
    c.run(
        AUTHORITY,
        ComplianceCall::SetBlocked {
            address: addr(2),
            blocked: false,
            reason: String::new(),
        },
    )
    .unwrap();
    assert_eq!(decided(&mut c, 1, send(asset, 2, 1)), None);

    // Pause and resume.
    assert_eq!(
        decided(
            &mut c,
            ISSUER,
            ComplianceCall::SetPaused {
                asset,
                paused: true
            }
        ),
        None
    );
    assert_eq!(decided(&mut c, 1, send(asset, 2, 1)), Some(10410));
    assert_eq!(
        decided(
            &mut c,
            ISSUER,
            ComplianceCall::SetPaused {
                asset,
                paused: false
            }
        ),
        None
    );
    assert_eq!(decided(&mut c, 1, send(asset, 2, 1)), None);
    let e = c
        .run(
            1,
            ComplianceCall::SetPaused {
                asset,
                paused: true,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10400);

    // Travel rule at 1,000: below goes; at or above needs the record.
    set_rules(
        &mut c,
        asset,
        AssetRules {
            travel_threshold: Some(1_000),
            ..Default::default()
        },
    );
    assert_eq!(decided(&mut c, 1, send(asset, 2, 999)), None);
    assert_eq!(decided(&mut c, 1, send(asset, 2, 1_000)), Some(10417));
    let travel = TravelRecord {
        originator_vasp: "LEI:5493001KJTIIGC8Y1R12".into(),
        beneficiary_vasp: "LEI:529900T8BM49AURSDO55".into(),
        payload_hash: Hash([7; 32]),
    };
    let out = c
        .run(
            1,
            BankCall::TransferWithTravel {
                asset,
                to: addr(2),
                amount: 1_000,
                travel: travel.clone(),
            },
        )
        .unwrap();
    assert_eq!(refused(&out), None);
    let ev = out.receipts[0]
        .events
        .iter()
        .find(|e| e.kind == "allowed")
        .unwrap();
    assert!(ev
        .attributes
        .contains(&("travel_payload".into(), AttrValue::Id(Hash([7; 32])))));
    // An empty VASP is refused before execution.
    let mut bad = travel;
    bad.beneficiary_vasp.clear();
    let e = c
        .run(
            1,
            BankCall::TransferWithTravel {
                asset,
                to: addr(2),
                amount: 5,
                travel: bad,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10122);
}

#[test]
fn rules_are_validated_and_only_the_issuer_sets_them() {
    let (mut c, asset) = setup("VAL");
    let e = c
        .run(
            1,
            ComplianceCall::SetRules {
                asset,
                rules: AssetRules {
                    receiver: vec![kyc(1)],
                    ..Default::default()
                },
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10400);
    let e = c
        .run(
            ISSUER,
            ComplianceCall::SetRules {
                asset: Hash([1; 32]),
                rules: AssetRules::default(),
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10405);
    for bad in [
        AssetRules {
            receiver: vec![Condition::JurisdictionIn(vec![])],
            ..Default::default()
        },
        AssetRules {
            receiver: vec![Condition::JurisdictionIn(vec![*b"de"])],
            ..Default::default()
        },
        AssetRules {
            max_balance: Some(0),
            ..Default::default()
        },
        AssetRules {
            velocity: Some(Velocity {
                amount: 5,
                period_ms: 0,
            }),
            ..Default::default()
        },
        AssetRules {
            sender: vec![kyc(1); 9],
            ..Default::default()
        },
    ] {
        let e = c
            .run(ISSUER, ComplianceCall::SetRules { asset, rules: bad })
            .unwrap_err();
        assert_eq!(code(&e), 10404);
    }
    // Rules round-trip through the call encoding.
    use crate::codec::{decode_exact, Encode};
    let rules = AssetRules {
        sender: vec![
            kyc(2),
            Condition::NoClaim {
                claim_type: ClaimType::Affiliate,
            },
        ],
        receiver: vec![
            Condition::Claim {
                claim_type: ClaimType::Accredited,
                min_level: 0,
                issuers: vec![addr(6), addr(5)],
            },
            Condition::JurisdictionNotIn(vec![*b"KP", *b"IR"]),
        ],
        max_holders: Some(2_000),
        max_balance: Some(u128::MAX),
        velocity: Some(Velocity {
            amount: 9,
            period_ms: 86_400_000,
        }),
        travel_threshold: Some(100_000),
    };
    let p = crate::types::Payload::Compliance(ComplianceCall::SetRules { asset, rules });
    let bytes = p.to_bytes();
    assert_eq!(
        decode_exact::<crate::types::Payload>(&bytes, usize::MAX).unwrap(),
        p
    );
    for cut in 0..bytes.len() {
        assert!(decode_exact::<crate::types::Payload>(&bytes[..cut], usize::MAX).is_err());
    }
}

/// An asset created with an initial supply mints it through the hook (which then reads the
/// blocked list): its declaration says so, or the debug check of both executors fails.
#[test]
fn an_initial_supply_passes_the_hook() {
    let mut c = Chain::new();
    c.run(
        AUTHORITY,
        ComplianceCall::SetBlocked {
            address: addr(5),
            blocked: true,
            reason: "x".into(),
        },
    )
    .unwrap();
    let create = |symbol: &str| BankCall::CreateAsset {
        symbol: symbol.into(),
        name: String::new(),
        decimals: 0,
        max_supply: None,
        initial_supply: 1_000,
        policy: Policy::default(),
        metadata_uri: String::new(),
    };
    let txs = vec![
        c.tx(1, create("INIT")),
        c.tx(2, create("INIT")),
        c.tx(3, create("INIT")),
    ];
    let out = c.block(txs);
    assert!(out.discarded.is_empty() && out.receipts.iter().all(|r| r.outcome == Outcome::Success));
    assert_eq!(c.held(&asset_id(&addr(1), "INIT"), 1), 1_000);
    // A blocked issuer cannot mint itself a supply: refused on the record.
    assert_eq!(decided(&mut c, 5, create("NOPE")), Some(10411));
}
