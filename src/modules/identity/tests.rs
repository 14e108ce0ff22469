//! Identity: the DID lifecycle with version resolution, the trusted issuers registry, claims and
//! their status lists, and every refusal with its code.

use super::calls::{REL_ASSERTION, REL_AUTHENTICATION};
use super::query::{self, VersionQuery};
use super::state::{Purpose, STATUS_LIST_BITS};
use super::*;
use crate::execution::TxError;
use crate::modules::testkit::{addr, Chain};
use crate::types::Hash;

fn code(e: &TxError) -> u32 {
    match e {
        TxError::Module(m) => m.code,
        other => panic!("not a module refusal: {other:?}"),
    }
}

fn did_of(c: &Chain, creator: u8, nonce: u64) -> DidId {
    let _ = c;
    did_id(&addr(creator), nonce)
}

fn doc(controllers: &[u8], key: u8) -> DidDocument {
    DidDocument {
        controllers: controllers.iter().map(|i| addr(*i)).collect(),
        methods: vec![VerificationMethod {
            fragment: format!("key-{key}"),
            public_key: [key; 32],
            relationships: REL_AUTHENTICATION | REL_ASSERTION,
        }],
        services: vec![Service {
            fragment: "hub".into(),
            kind: "LinkedDomains".into(),
            endpoint: "https://bank.example".into(),
        }],
    }
}

fn resolve(c: &Chain, did: &DidId, q: VersionQuery) -> Option<query::Resolved> {
    query::resolve(&c.st, did, q).expect("infallible")
}

#[test]
fn did_lifecycle_keeps_every_version() {
    let mut c = Chain::new();
    // Created with the default document: the creator's key and control.
    let out = c
        .run(
            1,
            IdentityCall::CreateDid {
                document: DidDocument::of_key(&addr(1)),
            },
        )
        .unwrap();
    assert_eq!(out.receipts[0].events[0].kind, "did_created");
    let did = did_of(&c, 1, 0);
    let v1 = resolve(&c, &did, VersionQuery::default()).unwrap();
    assert_eq!(v1.version_id, 1);
    assert_eq!(v1.version.document.methods[0].public_key, addr(1).0);
    assert_eq!(v1.record.created_ms, 1_000);

    // Keys rotated and a second controller added: version 2 at block time 2000.
    c.run(
        1,
        IdentityCall::UpdateDid {
            did,
            document: doc(&[1, 2], 5),
        },
    )
    .unwrap();
    // The new controller deactivates it: version 3.
    c.run(2, IdentityCall::DeactivateDid { did }).unwrap();

    let latest = resolve(&c, &did, VersionQuery::default()).unwrap();
    assert_eq!(latest.version_id, 3);
    assert!(latest.version.deactivated && latest.record.deactivated);
    assert_eq!(latest.next, None);
    let json = did::resolution_json(&latest);
    assert_eq!(json["didDocumentMetadata"]["deactivated"], true);
    assert_eq!(json["didDocumentMetadata"]["versionId"], "3");

    let v2 = resolve(
        &c,
        &did,
        VersionQuery {
            version_id: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(v2.version.document.methods[0].public_key, [5; 32]);
    assert_eq!(v2.next, Some((3, 3_000)));
    // By time: the version in force at 2,500 ms is 2; before creation there is none.
    let at = |t| {
        resolve(
            &c,
            &did,
            VersionQuery {
                version_time_ms: Some(t),
                ..Default::default()
            },
        )
    };
    assert_eq!(at(2_500).unwrap().version_id, 2);
    assert_eq!(at(1_000).unwrap().version_id, 1);
    assert_eq!(at(99_000).unwrap().version_id, 3);
    assert!(at(999).is_none());
    assert!(resolve(
        &c,
        &did,
        VersionQuery {
            version_id: Some(4),
            ..Default::default()
        }
    )
    .is_none());
    let json = did::resolution_json(&v2);
    assert_eq!(json["didDocument"]["id"], did_string(&did));
    assert_eq!(
        json["didDocument"]["service"][0]["serviceEndpoint"],
        "https://bank.example"
    );
    assert_eq!(json["didDocumentMetadata"]["nextVersionId"], "3");
    assert_eq!(
        json["didDocument"]["assertionMethod"][0],
        format!("{}#key-5", did_string(&did))
    );

    // A deactivated DID never changes again.
    let e = c
        .run(
            2,
            IdentityCall::UpdateDid {
                did,
                document: doc(&[2], 6),
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10303);
}

#[test]
fn did_refusals() {
    let mut c = Chain::new();
    c.run(
        1,
        IdentityCall::CreateDid {
            document: doc(&[1], 3),
        },
    )
    .unwrap();
    let did = did_of(&c, 1, 0);
    let e = c
        .run(
            2,
            IdentityCall::UpdateDid {
                did,
                document: doc(&[2], 4),
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10302, "{e}");
    let unknown = [9u8; 16];
    let e = c
        .run(2, IdentityCall::DeactivateDid { did: unknown })
        .unwrap_err();
    assert_eq!(code(&e), 10301);
    // Malformed documents are refused before execution: duplicate fragments, no methods,
    // oversize services.
    let mut dup = doc(&[1], 3);
    dup.services[0].fragment = "key-3".into();
    let mut none = doc(&[1], 3);
    none.methods.clear();
    let mut long = doc(&[1], 3);
    long.services[0].endpoint = "x".repeat(300);
    for bad in [dup, none, long] {
        let e = c
            .run(1, IdentityCall::CreateDid { document: bad })
            .unwrap_err();
        assert_eq!(code(&e), 10300, "{e}");
    }
    // Nothing was written by the refusals: still one version.
    assert_eq!(
        resolve(&c, &did, VersionQuery::default())
            .unwrap()
            .version_id,
        1
    );
}

fn claim(subject: u8, t: ClaimType, level: u8) -> IdentityCall {
    IdentityCall::IssueClaim {
        subject: Subject::Address(addr(subject)),
        claim_type: t,
        level,
        jurisdiction: None,
        expires_ms: None,
        evidence: Some(Hash([1; 32])),
    }
}

fn trust(issuer: u8, types: &[ClaimType]) -> IdentityCall {
    IdentityCall::SetIssuer {
        issuer: addr(issuer),
        types: types.to_vec(),
        name: format!("issuer {issuer}"),
    }
}

#[test]
fn trusted_issuers_claims_and_status_lists() {
    let mut c = Chain::new();
    // Only the authority (account 7) keeps the registry.
    let e = c.run(6, trust(6, &[ClaimType::Kyc])).unwrap_err();
    assert_eq!(code(&e), 10304);
    // An issuer not in the registry, or not for that type, cannot issue.
    let e = c.run(6, claim(1, ClaimType::Kyc, 2)).unwrap_err();
    assert_eq!(code(&e), 10305);
    c.run(7, trust(6, &[ClaimType::Kyc, ClaimType::Jurisdiction]))
        .unwrap();
    let e = c.run(6, claim(1, ClaimType::Accredited, 0)).unwrap_err();
    assert_eq!(code(&e), 10305);
    // A jurisdiction claim needs its code, in capitals.
    let bad = IdentityCall::IssueClaim {
        subject: Subject::Address(addr(1)),
        claim_type: ClaimType::Jurisdiction,
        level: 0,
        jurisdiction: Some(*b"de"),
        expires_ms: None,
        evidence: None,
    };
    assert_eq!(code(&c.run(6, bad).unwrap_err()), 10312);

    let n0 = c.nonces[&6];
    c.run(6, claim(1, ClaimType::Kyc, 2)).unwrap();
    c.run(6, claim(1, ClaimType::Kyc, 3)).unwrap();
    let (first, second) = (claim_id(&addr(6), n0), claim_id(&addr(6), n0 + 1));
    let live = query::live_claims(&c.st, &Subject::Address(addr(1))).unwrap();
    assert_eq!(live.0.len(), 2);
    assert_eq!(
        query::claim(&c.st, &second).unwrap().unwrap().status_index,
        1
    );
    let all = query::claims_of(&c.st, &Subject::Address(addr(1)), None, 10).unwrap();
    assert_eq!(all.len(), 2);

    // Only its issuer changes a claim's status.
    let e = c
        .run(
            7,
            IdentityCall::SetClaimStatus {
                claim: first,
                change: StatusChange::Revoke,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10307);
    let e = c
        .run(
            6,
            IdentityCall::SetClaimStatus {
                claim: Hash([3; 32]),
                change: StatusChange::Revoke,
            },
        )
        .unwrap_err();
    assert_eq!(code(&e), 10306);

    // Suspension sets bit 1 of the suspension list; reinstating clears it.
    c.run(
        6,
        IdentityCall::SetClaimStatus {
            claim: second,
            change: StatusChange::Suspend,
        },
    )
    .unwrap();
    let bits = query::status_list(&c.st, &addr(6), Purpose::Suspension, 0).unwrap();
    assert_eq!(bits.len() as u64, STATUS_LIST_BITS / 8);
    assert_eq!(bits[0], 0b0100_0000);
    assert!(
        query::live_claims(&c.st, &Subject::Address(addr(1)))
            .unwrap()
            .0[1]
            .suspended
    );
    c.run(
        6,
        IdentityCall::SetClaimStatus {
            claim: second,
            change: StatusChange::Reinstate,
        },
    )
    .unwrap();
    assert!(query::status_list(&c.st, &addr(6), Purpose::Suspension, 0)
        .unwrap()
        .iter()
        .all(|b| *b == 0));

    // Revocation sets bit 0 of the revocation list, drops the claim from the live ones, and is
    // final.
    c.run(
        6,
        IdentityCall::SetClaimStatus {
            claim: first,
            change: StatusChange::Revoke,
        },
    )
    .unwrap();
    let bits = query::status_list(&c.st, &addr(6), Purpose::Revocation, 0).unwrap();
    assert_eq!(bits[0], 0b1000_0000);
    let live = query::live_claims(&c.st, &Subject::Address(addr(1))).unwrap();
    assert_eq!(live.0.len(), 1);
    assert_eq!(live.0[0].id, second);
    assert!(query::claim(&c.st, &first).unwrap().unwrap().revoked);
    for change in [StatusChange::Revoke, StatusChange::Reinstate] {
        let e = c
            .run(
                6,
                IdentityCall::SetClaimStatus {
                    claim: first,
                    change,
                },
            )
            .unwrap_err();
        assert_eq!(code(&e), 10308);
    }
    // Removing an issuer keeps its counter: a later claim gets a fresh index.
    c.run(7, trust(6, &[])).unwrap();
    c.run(7, trust(6, &[ClaimType::Kyc])).unwrap();
    let n = c.nonces[&6];
    c.run(6, claim(2, ClaimType::Kyc, 1)).unwrap();
    assert_eq!(
        query::claim(&c.st, &claim_id(&addr(6), n))
            .unwrap()
            .unwrap()
            .status_index,
        2
    );
    let issuers = query::issuers(&c.st, None, 10).unwrap();
    assert_eq!(issuers.len(), 1);
    assert_eq!(issuers[0].1.types, vec![ClaimType::Kyc]);
}

#[test]
fn live_claims_are_bounded() {
    let mut c = Chain::new();
    c.run(7, trust(6, &[ClaimType::Kyc])).unwrap();
    for _ in 0..IdentityParams::default().claims_per_subject_max {
        c.run(6, claim(1, ClaimType::Kyc, 1)).unwrap();
    }
    let e = c.run(6, claim(1, ClaimType::Kyc, 1)).unwrap_err();
    assert_eq!(code(&e), 10309);
}

#[test]
fn calls_round_trip_through_their_encoding() {
    use crate::codec::{decode_exact, Encode};
    use crate::types::Payload;
    let calls = vec![
        IdentityCall::CreateDid {
            document: doc(&[1, 2], 3),
        },
        IdentityCall::UpdateDid {
            did: [4; 16],
            document: doc(&[1], 9),
        },
        IdentityCall::DeactivateDid { did: [4; 16] },
        trust(6, &[ClaimType::Kyc, ClaimType::BusinessRegistration]),
        IdentityCall::IssueClaim {
            subject: Subject::Did([5; 16]),
            claim_type: ClaimType::Jurisdiction,
            level: 0,
            jurisdiction: Some(*b"CH"),
            expires_ms: Some(77),
            evidence: None,
        },
        IdentityCall::SetClaimStatus {
            claim: Hash([8; 32]),
            change: StatusChange::Suspend,
        },
    ];
    for call in calls {
        let p = Payload::Identity(call);
        let bytes = p.to_bytes();
        assert_eq!(decode_exact::<Payload>(&bytes, usize::MAX).unwrap(), p);
        // Every strict prefix is refused, never misread.
        for cut in 0..bytes.len() {
            assert!(decode_exact::<Payload>(&bytes[..cut], usize::MAX).is_err());
        }
    }
}
