//! The evaluation of a movement against the blocked list and the asset's rules: one pure
//! function of the state it reads ([`evaluate`]), used by the transfer hook inside execution and
//! by the dry run (`compliance_checkTransfer`) outside it, so both always agree.
//!
//! Order of checks (the first failing one is the refusal): blocked sender, blocked receiver,
//! pause, travel rule, sender conditions, receiver conditions, balance limit, holder limit,
//! velocity. A party that is the asset's issuer is exempt from conditions and limits, and a
//! transfer to the issuer (a redemption) from sender conditions.

use std::sync::Arc;

use crate::codec::{Decode, DecodeError, Reader};
use crate::modules::hooks::{is_module_account, Movement};
use crate::modules::identity::state::{issuer_key, live_claims_key, SubjectClaims, TrustedIssuer};
use crate::modules::identity::{ClaimType, LiveClaim, Subject};
use crate::types::{Address, AttrValue, Event, StateKey};

use super::calls::{AssetRules, Condition};
use super::error::{ComplianceError, Side};
use super::state::{
    blocked_count_key, blocked_key, holders_key, rules_key, window_key, Blocked, Count, RulesEntry,
    Window,
};
use super::Compliance;
use crate::modules::Module;

/// What a movement that passes writes and reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// The asset has rules (then the decision is an event).
    pub ruled: bool,
    /// The rules that applied, comma-separated, e.g. `sender:kyc>=1,receiver:kyc>=2`.
    pub applied: String,
    /// The new holder count, when it changes.
    pub holders: Option<u64>,
    /// The sender's new velocity window.
    pub window: Option<Window>,
}

/// Reads through whatever state the caller has: the overlay inside execution (decoded once per
/// block, `Overlay::read_cached`), or committed state for the dry run.
pub(super) trait Read {
    type Error;
    fn typed<T: Decode + Send + Sync + 'static>(
        &mut self,
        key: &StateKey,
    ) -> Result<Option<Arc<T>>, Self::Error>;
}

/// An asset's rules with each condition's text made once (decoded once per block in execution).
pub(super) struct Compiled {
    pub entry: RulesEntry,
    /// `sender:<condition>` and `receiver:<condition>` texts, in rule order.
    sender_text: Vec<String>,
    receiver_text: Vec<String>,
}

impl Decode for Compiled {
    const WHAT: &'static str = "asset rules";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let entry = RulesEntry::decode_from(r)?;
        let text = |side: Side, list: &[Condition]| {
            list.iter()
                .map(|c| format!("{}:{}", side.name(), c.describe()))
                .collect()
        };
        Ok(Compiled {
            sender_text: text(Side::Sender, &entry.rules.sender),
            receiver_text: text(Side::Receiver, &entry.rules.receiver),
            entry,
        })
    }
}

fn note(applied: &mut String, what: &str) {
    if !applied.is_empty() {
        applied.push(',');
    }
    applied.push_str(what);
}

/// The current claims of a party: live, unexpired, unsuspended, from issuers trusted for them.
/// (Each issuer's entry is looked up once per party; parties hold a handful of claims.)
fn current_claims<R: Read>(
    r: &mut R,
    party: &Address,
    time_ms: u64,
) -> Result<Vec<LiveClaim>, R::Error> {
    let Some(live) = r.typed::<SubjectClaims>(&live_claims_key(&Subject::Address(*party)))? else {
        return Ok(Vec::new());
    };
    let mut trust: Vec<(Address, Option<Arc<TrustedIssuer>>)> = Vec::new();
    let mut out = Vec::with_capacity(live.0.len());
    for c in live.0.iter().filter(|c| c.current(time_ms)) {
        let entry = match trust.iter().find(|(a, _)| *a == c.issuer) {
            Some((_, e)) => e.clone(),
            None => {
                let e = r.typed::<TrustedIssuer>(&issuer_key(&c.issuer))?;
                trust.push((c.issuer, e.clone()));
                e
            }
        };
        if entry.is_some_and(|e| e.trusted_for(c.claim_type)) {
            out.push(c.clone());
        }
    }
    Ok(out)
}

fn holds(claims: &[LiveClaim], c: &Condition) -> bool {
    let jurisdictions = || {
        claims
            .iter()
            .filter(|x| x.claim_type == ClaimType::Jurisdiction)
            .filter_map(|x| x.jurisdiction)
    };
    match c {
        Condition::Claim {
            claim_type,
            min_level,
            issuers,
        } => claims.iter().any(|x| {
            x.claim_type == *claim_type
                && x.level >= *min_level
                && (issuers.is_empty() || issuers.contains(&x.issuer))
        }),
        Condition::NoClaim { claim_type } => !claims.iter().any(|x| x.claim_type == *claim_type),
        Condition::JurisdictionIn(l) => jurisdictions().any(|j| l.contains(&j)),
        Condition::JurisdictionNotIn(l) => !jurisdictions().any(|j| l.contains(&j)),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_side<R: Read>(
    r: &mut R,
    m: &Movement<'_>,
    side: Side,
    party: &Address,
    conditions: &[Condition],
    texts: &[String],
    time_ms: u64,
    applied: &mut String,
) -> Result<Result<(), ComplianceError>, R::Error> {
    if conditions.is_empty() || party == m.issuer || is_module_account(party) {
        return Ok(Ok(()));
    }
    let claims = current_claims(r, party, time_ms)?;
    for (c, text) in conditions.iter().zip(texts) {
        if !holds(&claims, c) {
            return Ok(Err(ComplianceError::Condition {
                asset: *m.asset,
                side,
                party: *party,
                condition: c.describe(),
            }));
        }
        note(applied, text);
    }
    Ok(Ok(()))
}

/// Decides a movement on the state `r` reads, at block time `time_ms`.
pub(super) fn evaluate<R: Read>(
    r: &mut R,
    m: &Movement<'_>,
    time_ms: u64,
) -> Result<Result<Decision, ComplianceError>, R::Error> {
    let Some(to) = m.to else {
        return leave(r, m);
    };
    // The blocked list is usually empty: its count spares every movement two reads.
    let anyone_blocked = r
        .typed::<Count>(&blocked_count_key())?
        .is_some_and(|c| c.0 > 0);
    if anyone_blocked {
        for party in m.from.into_iter().chain([to]) {
            if let Some(b) = r.typed::<Blocked>(&blocked_key(party))? {
                return Ok(Err(ComplianceError::Blocked {
                    address: *party,
                    reason: b.reason.clone(),
                }));
            }
        }
    }
    let Some(compiled) = r.typed::<Compiled>(&rules_key(m.asset))? else {
        return Ok(Ok(Decision::default()));
    };
    if compiled.entry.paused {
        return Ok(Err(ComplianceError::Paused(*m.asset)));
    }
    let rules: &AssetRules = &compiled.entry.rules;
    let mut d = Decision {
        ruled: true,
        ..Decision::default()
    };
    // The travel rule is about transfers between parties; issuance (a mint) is not one.
    if let (Some(threshold), Some(_)) = (rules.travel_threshold, m.from) {
        if m.amount >= threshold {
            if m.travel.is_none() {
                return Ok(Err(ComplianceError::TravelRuleRequired {
                    asset: *m.asset,
                    threshold,
                }));
            }
            note(&mut d.applied, "travel_rule");
        }
    }
    // Sending back to the issuer (redemption) needs no sender conditions: a holder whose
    // credential lapsed is never stuck with what it holds.
    if let Some(from) = m.from.filter(|_| to != m.issuer) {
        if let Err(e) = check_side(
            r,
            m,
            Side::Sender,
            from,
            &rules.sender,
            &compiled.sender_text,
            time_ms,
            &mut d.applied,
        )? {
            return Ok(Err(e));
        }
    }
    if let Err(e) = check_side(
        r,
        m,
        Side::Receiver,
        to,
        &rules.receiver,
        &compiled.receiver_text,
        time_ms,
        &mut d.applied,
    )? {
        return Ok(Err(e));
    }
    let moves = m.from != Some(to);
    if let Some(max) = rules.max_balance {
        if to != m.issuer && !is_module_account(to) && moves && m.to_after > max {
            return Ok(Err(ComplianceError::MaxBalance {
                asset: *m.asset,
                to: *to,
                after: m.to_after,
                max,
            }));
        }
        note(&mut d.applied, "max_balance");
    }
    if let Some(max) = rules.max_holders {
        let count = r.typed::<Count>(&holders_key(m.asset))?.map_or(0, |c| c.0);
        let joins = moves && m.to_before == 0 && m.to_after > 0;
        let leaves = moves && m.from.is_some() && m.from_after == 0;
        let new = (count + u64::from(joins))
            .checked_sub(u64::from(leaves))
            .expect("the holder count is exact: a holder that leaves was counted");
        if joins && !leaves && new > u64::from(max) {
            return Ok(Err(ComplianceError::MaxHolders {
                asset: *m.asset,
                max,
                to: *to,
            }));
        }
        if new != count {
            d.holders = Some(new);
        }
        note(&mut d.applied, "max_holders");
    }
    if let (Some(v), Some(from)) = (rules.velocity, m.from) {
        if from != m.issuer && !is_module_account(from) && moves {
            let window = time_ms / v.period_ms;
            let w = r
                .typed::<Window>(&window_key(m.asset, from))?
                .map_or_else(Window::default, |w| *w);
            let sent = if w.window == window { w.sent } else { 0 };
            let total = sent.checked_add(m.amount).filter(|t| *t <= v.amount);
            let Some(total) = total else {
                return Ok(Err(ComplianceError::Velocity {
                    asset: *m.asset,
                    from: *from,
                    limit: v.amount,
                    period_ms: v.period_ms,
                    sent,
                    amount: m.amount,
                }));
            };
            d.window = Some(Window {
                window,
                sent: total,
            });
            note(&mut d.applied, "velocity");
        }
    }
    Ok(Ok(d))
}

/// A burn or clawback: never refused; it only keeps the holder count.
fn leave<R: Read>(
    r: &mut R,
    m: &Movement<'_>,
) -> Result<Result<Decision, ComplianceError>, R::Error> {
    let mut d = Decision::default();
    let counted = r
        .typed::<Compiled>(&rules_key(m.asset))?
        .is_some_and(|c| c.entry.rules.max_holders.is_some());
    if counted && m.from_after == 0 {
        let count = r.typed::<Count>(&holders_key(m.asset))?.map_or(0, |c| c.0);
        d.holders = Some(count.checked_sub(1).expect("the holder count is exact"));
    }
    Ok(Ok(d))
}

/// The event of an allowed movement of a ruled asset.
pub(super) fn allowed_event(m: &Movement<'_>, applied: String) -> Event {
    let mut attributes = Vec::with_capacity(if m.travel.is_some() { 5 } else { 2 });
    attributes.push(("asset".to_string(), AttrValue::Id(*m.asset)));
    attributes.push(("rules".to_string(), AttrValue::Text(applied)));
    if let Some(t) = m.travel {
        attributes.push((
            "originator_vasp".into(),
            AttrValue::Text(t.originator_vasp.clone()),
        ));
        attributes.push((
            "beneficiary_vasp".into(),
            AttrValue::Text(t.beneficiary_vasp.clone()),
        ));
        attributes.push(("travel_payload".into(), AttrValue::Id(t.payload_hash)));
    }
    Event {
        module: Compliance::TAG,
        kind: "allowed".into(),
        attributes,
    }
}

/// The event of a refused movement (kept with the refusal on the record).
pub(super) fn refused_event(m: &Movement<'_>, e: &ComplianceError) -> Event {
    let mut attributes = vec![("asset".to_string(), AttrValue::Id(*m.asset))];
    if let Some(f) = m.from {
        attributes.push(("from".into(), AttrValue::Address(*f)));
    }
    if let Some(t) = m.to {
        attributes.push(("to".into(), AttrValue::Address(*t)));
    }
    attributes.push(("amount".into(), AttrValue::Amount(m.amount)));
    attributes.push(("rule".into(), AttrValue::Text(e.reason().into())));
    Event {
        module: Compliance::TAG,
        kind: "refused".into(),
        attributes,
    }
}
