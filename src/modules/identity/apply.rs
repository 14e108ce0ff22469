//! Checks and apply of identity calls, and their events.

use super::calls::{claim_id, did_id, ClaimType, DidId, IdentityCall, StatusChange, Subject};
use super::error::IdentityError;
use super::state::{
    claim_key, did_key, did_version_key, issuer_key, live_claims_key, status_chunk_key,
    status_position, subject_claim_key, Claim, DidRecord, DidVersion, LiveClaim, Purpose,
    SubjectClaims, TrustedIssuer, STATUS_CHUNK_BYTES,
};
use super::{did_string, Identity, IdentityParams};
use crate::execution::{Applied, BlockEnv, Overlay, StateView, TxError};
use crate::modules::banking::native::fee_only;
use crate::modules::{read, write, Module};
use crate::types::{Address, AttrValue, Event, Hash, Transaction};

type Step<T> = Result<T, IdentityError>;

/// The checks of an identity call that need no state.
pub(super) fn check_static(call: &IdentityCall) -> Result<(), IdentityError> {
    match call {
        IdentityCall::CreateDid { document } | IdentityCall::UpdateDid { document, .. } => {
            document.validate().map_err(IdentityError::InvalidDocument)
        }
        IdentityCall::IssueClaim {
            claim_type,
            jurisdiction,
            ..
        } => {
            let is_jurisdiction = *claim_type == ClaimType::Jurisdiction;
            match jurisdiction {
                None if is_jurisdiction => Err(IdentityError::InvalidClaim(
                    "a jurisdiction claim needs a jurisdiction code".into(),
                )),
                Some(_) if !is_jurisdiction => Err(IdentityError::InvalidClaim(format!(
                    "a {} claim carries no jurisdiction code",
                    claim_type.name()
                ))),
                Some(j) if !j.iter().all(u8::is_ascii_uppercase) => {
                    Err(IdentityError::InvalidClaim(
                        "a jurisdiction is an ISO 3166-1 alpha-2 code in capitals (e.g. DE)".into(),
                    ))
                }
                _ => Ok(()),
            }
        }
        IdentityCall::SetIssuer { name, types, .. } => {
            let mut sorted = types.clone();
            sorted.sort();
            sorted.dedup();
            if sorted.len() != types.len() {
                return Err(IdentityError::InvalidClaim(
                    "a claim type is listed twice".into(),
                ));
            }
            if name.chars().any(char::is_control) {
                return Err(IdentityError::InvalidClaim(
                    "an issuer name has no control characters".into(),
                ));
            }
            Ok(())
        }
        IdentityCall::DeactivateDid { .. } | IdentityCall::SetClaimStatus { .. } => Ok(()),
    }
}

struct Ctx<'o, 'v, V: StateView> {
    overlay: &'o mut Overlay<'v, V>,
    params: &'o IdentityParams,
    env: &'o BlockEnv,
    tx: &'o Transaction,
    events: Vec<Event>,
}

fn event(kind: &str, attributes: Vec<(&str, AttrValue)>) -> Event {
    Event {
        module: Identity::TAG,
        kind: kind.into(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

fn subject_attr(s: &Subject) -> AttrValue {
    match s {
        Subject::Address(a) => AttrValue::Address(*a),
        Subject::Did(d) => AttrValue::Text(did_string(d)),
    }
}

/// Applies an identity call: the sender's nonce and fee are checked first and charged once the
/// call succeeds (the runtime's savepoint undoes a refusal).
pub(super) fn apply<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &IdentityParams,
    env: &BlockEnv,
    tx: &Transaction,
    call: &IdentityCall,
) -> Result<Result<Applied, TxError>, V::Error> {
    fee_only(overlay, tx, &env.proposer, |overlay| {
        let mut ctx = Ctx {
            overlay,
            params,
            env,
            tx,
            events: Vec::new(),
        };
        Ok(ctx.call(call)?.map(|()| ctx.events))
    })
}

macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

impl<V: StateView> Ctx<'_, '_, V> {
    fn call(&mut self, call: &IdentityCall) -> Result<Step<()>, V::Error> {
        let sender = self.tx.sender;
        match call {
            IdentityCall::CreateDid { document } => {
                let did = did_id(&sender, self.tx.nonce);
                if self.overlay.read(&did_key(&did))?.is_some() {
                    return Ok(Err(IdentityError::DidExists(did)));
                }
                let record = DidRecord {
                    creator: sender,
                    version: 0,
                    created_ms: self.env.time_ms,
                    updated_ms: self.env.time_ms,
                    deactivated: false,
                };
                self.new_version(&did, record, document.clone(), false)?;
                self.events.push(event(
                    "did_created",
                    vec![
                        ("did", AttrValue::Text(did_string(&did))),
                        ("controller", AttrValue::Address(sender)),
                    ],
                ));
            }
            IdentityCall::UpdateDid { did, document } => {
                let (record, _) = step!(self.controlled(did)?);
                self.new_version(did, record, document.clone(), false)?;
                self.events.push(event(
                    "did_updated",
                    vec![("did", AttrValue::Text(did_string(did)))],
                ));
            }
            IdentityCall::DeactivateDid { did } => {
                let (record, latest) = step!(self.controlled(did)?);
                self.new_version(did, record, latest.document, true)?;
                self.events.push(event(
                    "did_deactivated",
                    vec![("did", AttrValue::Text(did_string(did)))],
                ));
            }
            IdentityCall::SetIssuer {
                issuer,
                types,
                name,
            } => {
                match self.params.authority {
                    None => return Ok(Err(IdentityError::NoAuthority)),
                    Some(a) if a != sender => return Ok(Err(IdentityError::NotAuthority(sender))),
                    Some(_) => {}
                }
                let key = issuer_key(issuer);
                let next_status_index = read::<TrustedIssuer, V>(self.overlay, &key)?
                    .map_or(0, |i| i.next_status_index);
                let entry = TrustedIssuer {
                    types: types.clone(),
                    name: name.clone(),
                    next_status_index,
                };
                write(self.overlay, key, &entry);
                let names: Vec<&str> = types.iter().map(|t| t.name()).collect();
                self.events.push(event(
                    "issuer_set",
                    vec![
                        ("issuer", AttrValue::Address(*issuer)),
                        ("types", AttrValue::Text(names.join(","))),
                    ],
                ));
            }
            IdentityCall::IssueClaim {
                subject,
                claim_type,
                level,
                jurisdiction,
                expires_ms,
                evidence,
            } => {
                let id = claim_id(&sender, self.tx.nonce);
                let key = issuer_key(&sender);
                let mut issuer = match read::<TrustedIssuer, V>(self.overlay, &key)? {
                    Some(i) if i.trusted_for(*claim_type) => i,
                    _ => {
                        return Ok(Err(IdentityError::UntrustedIssuer {
                            issuer: sender,
                            claim_type: *claim_type,
                        }))
                    }
                };
                let claim = Claim {
                    issuer: sender,
                    subject: *subject,
                    claim_type: *claim_type,
                    level: *level,
                    jurisdiction: *jurisdiction,
                    expires_ms: *expires_ms,
                    evidence: *evidence,
                    status_index: issuer.next_status_index,
                    issued_ms: self.env.time_ms,
                    issued_height: self.env.height,
                    revoked: false,
                    suspended: false,
                };
                let live_key = live_claims_key(subject);
                let mut live: SubjectClaims = read(self.overlay, &live_key)?.unwrap_or_default();
                let max = self.params.claims_per_subject_max as usize;
                if live.0.len() >= max {
                    return Ok(Err(IdentityError::TooManyClaims { max }));
                }
                live.0.push(LiveClaim::of(&id, &claim));
                write(self.overlay, live_key, &live);
                issuer.next_status_index += 1;
                write(self.overlay, key, &issuer);
                let index_key = subject_claim_key(subject, &id);
                self.overlay.read(&index_key)?;
                self.overlay.write(index_key, Some(Vec::new()));
                let ckey = claim_key(&id);
                self.overlay.read(&ckey)?;
                write(self.overlay, ckey, &claim);
                self.events.push(event(
                    "claim_issued",
                    vec![
                        ("claim", AttrValue::Id(id)),
                        ("issuer", AttrValue::Address(sender)),
                        ("subject", subject_attr(subject)),
                        ("claim_type", AttrValue::Text(claim_type.name().into())),
                    ],
                ));
            }
            IdentityCall::SetClaimStatus { claim, change } => {
                step!(self.set_status(claim, *change)?);
            }
        }
        Ok(Ok(()))
    }

    /// The DID's record and latest version, if the sender controls it and it is active.
    fn controlled(&mut self, did: &DidId) -> Result<Step<(DidRecord, DidVersion)>, V::Error> {
        let Some(record) = read::<DidRecord, V>(self.overlay, &did_key(did))? else {
            return Ok(Err(IdentityError::UnknownDid(*did)));
        };
        if record.deactivated {
            return Ok(Err(IdentityError::Deactivated(*did)));
        }
        let latest: DidVersion = read(self.overlay, &did_version_key(did, record.version))?
            .expect("a DID's latest version exists");
        if !latest.document.controllers.contains(&self.tx.sender) {
            return Ok(Err(IdentityError::NotController {
                did: *did,
                sender: self.tx.sender,
            }));
        }
        Ok(Ok((record, latest)))
    }

    fn new_version(
        &mut self,
        did: &DidId,
        mut record: DidRecord,
        document: super::DidDocument,
        deactivated: bool,
    ) -> Result<(), V::Error> {
        record.version += 1;
        record.updated_ms = self.env.time_ms;
        record.deactivated = deactivated;
        let vkey = did_version_key(did, record.version);
        self.overlay.read(&vkey)?;
        write(
            self.overlay,
            vkey,
            &DidVersion {
                document,
                time_ms: self.env.time_ms,
                height: self.env.height,
                deactivated,
            },
        );
        write(self.overlay, did_key(did), &record);
        Ok(())
    }

    fn set_status(&mut self, id: &Hash, change: StatusChange) -> Result<Step<()>, V::Error> {
        let ckey = claim_key(id);
        let Some(mut claim) = read::<Claim, V>(self.overlay, &ckey)? else {
            return Ok(Err(IdentityError::UnknownClaim(*id)));
        };
        if claim.issuer != self.tx.sender {
            return Ok(Err(IdentityError::NotClaimIssuer {
                claim: *id,
                issuer: claim.issuer,
                sender: self.tx.sender,
            }));
        }
        if claim.revoked {
            return Ok(Err(IdentityError::ClaimRevoked(*id)));
        }
        let live_key = live_claims_key(&claim.subject);
        let mut live: SubjectClaims = read(self.overlay, &live_key)?.unwrap_or_default();
        let (purpose, set, name) = match change {
            StatusChange::Revoke => {
                claim.revoked = true;
                live.0.retain(|c| c.id != *id);
                (Purpose::Revocation, true, "revoked")
            }
            StatusChange::Suspend | StatusChange::Reinstate => {
                let suspended = change == StatusChange::Suspend;
                claim.suspended = suspended;
                for c in live.0.iter_mut().filter(|c| c.id == *id) {
                    c.suspended = suspended;
                }
                let name = if suspended { "suspended" } else { "reinstated" };
                (Purpose::Suspension, suspended, name)
            }
        };
        self.set_bit(&claim.issuer, purpose, claim.status_index, set)?;
        write(self.overlay, live_key, &live);
        write(self.overlay, ckey, &claim);
        self.events.push(event(
            "claim_status",
            vec![
                ("claim", AttrValue::Id(*id)),
                ("issuer", AttrValue::Address(claim.issuer)),
                ("subject", subject_attr(&claim.subject)),
                ("status", AttrValue::Text(name.into())),
            ],
        ));
        Ok(Ok(()))
    }

    fn set_bit(
        &mut self,
        issuer: &Address,
        purpose: Purpose,
        index: u64,
        set: bool,
    ) -> Result<(), V::Error> {
        let (list, chunk, byte, mask) = status_position(index);
        let key = status_chunk_key(issuer, purpose, list, chunk);
        let mut bits = self
            .overlay
            .read(&key)?
            .unwrap_or_else(|| vec![0u8; STATUS_CHUNK_BYTES]);
        assert_eq!(
            bits.len(),
            STATUS_CHUNK_BYTES,
            "status chunks have a fixed size"
        );
        if set {
            bits[byte] |= mask;
        } else {
            bits[byte] &= !mask;
        }
        // An all-clear chunk is no entry: the list reads the same and the state stays small.
        let value = bits.iter().any(|b| *b != 0).then_some(bits);
        self.overlay.write(key, value);
        Ok(())
    }
}
