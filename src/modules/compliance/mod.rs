//! The compliance module (payload tag 4): per-asset transfer rules, the chain-wide blocked list
//! and the travel rule, enforced on every movement of an issued asset through the runtime's
//! transfer hook (`modules::hooks`).
//!
//! Owns: each asset's rules (sender and receiver conditions over identity claims, holder and
//! balance limits, a velocity limit, a travel-rule threshold) and pause, set by the asset's issuer
//! (Polymesh's compliance manager); the blocked list kept by the authority set in genesis; the
//! counters the limits need.
//!
//! Invariants: every movement of an asset with rules, and every movement touching a blocked
//! address, is decided by [`evaluate::evaluate`], a pure function of the state it reads and the
//! block time; a refused movement moves nothing and is kept on the record with the rule that
//! refused it (the fee is paid, so refusals cannot be spammed for free); an allowed movement of a
//! ruled asset records the rules that applied. The holder count, while a holder limit is set, is
//! exactly the number of addresses holding the asset (set when the supply is 0). Rules and the
//! blocked list are settled state (serial calls only), so a movement declares its reads from them.

pub mod calls;
pub mod error;
mod evaluate;
pub mod query;
pub mod state;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::banking::state::asset_key;
use super::banking::AssetInfo;
use super::hooks::Movement;
use super::identity::state::{issuer_key, live_claims_key};
use super::identity::{query::live_claims, Subject};
use super::{get, read, write, Module};
use crate::codec::{DecodeError, Reader};
use crate::execution::{Applied, BlockEnv, ChainParams, ModuleError, Overlay, StateView, TxError};
use crate::modules::banking::native::fee_only;
use crate::types::{Address, AttrValue, Event, Hash, StateKey, Transaction};

pub use calls::{AssetRules, ComplianceCall, Condition, Velocity};
pub use error::{ComplianceError, Side};
pub use evaluate::Decision;
use evaluate::Read;
use state::{
    blocked_count_key, blocked_key, holders_key, rules_key, window_key, Blocked, Count, RulesEntry,
};

/// Compliance parameters, fixed by genesis (`[compliance]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ComplianceParams {
    /// Keeps the blocked list. None: the list cannot change.
    pub authority: Option<Address>,
}

/// The compliance module.
pub struct Compliance;

impl Module for Compliance {
    const TAG: u8 = 4;
    const NAME: &'static str = "compliance";
    type Call = ComplianceCall;

    fn encode_call(call: &ComplianceCall, out: &mut Vec<u8>) {
        calls::encode(call, out)
    }

    fn decode_call(r: &mut Reader<'_>) -> Result<ComplianceCall, DecodeError> {
        calls::decode(r)
    }

    fn check_static(
        call: &ComplianceCall,
        _tx: &Transaction,
        _params: &ChainParams,
    ) -> Result<(), TxError> {
        match call {
            ComplianceCall::SetRules { rules, .. } => rules
                .validate()
                .map_err(|e| ComplianceError::InvalidRules(e).into()),
            ComplianceCall::SetBlocked { address, .. }
                if crate::modules::hooks::is_module_account(address) =>
            {
                Err(ComplianceError::InvalidRules(format!(
                    "{address} is a module account: it holds others' funds and cannot be blocked"
                ))
                .into())
            }
            ComplianceCall::SetBlocked { reason, .. } if reason.chars().any(char::is_control) => {
                Err(ComplianceError::InvalidRules(
                    "a block reason has no control characters".into(),
                )
                .into())
            }
            _ => Ok(()),
        }
    }

    fn apply<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
        tx: &Transaction,
        call: &ComplianceCall,
    ) -> Result<Result<Applied, TxError>, V::Error> {
        fee_only(overlay, tx, &env.proposer, |overlay| {
            Ok(apply_call(overlay, &params.compliance, env, tx, call)?.map(|e| vec![e]))
        })
    }
}

/// An asset's rules entry; none at all when it has no rules and is not paused.
fn write_rules<V: StateView>(overlay: &mut Overlay<'_, V>, key: StateKey, entry: &RulesEntry) {
    let keep = !entry.rules.is_empty() || entry.paused;
    overlay.write(key, keep.then(|| crate::codec::Encode::to_bytes(entry)));
}

fn event(kind: &str, attributes: Vec<(&str, AttrValue)>) -> Event {
    Event {
        module: Compliance::TAG,
        kind: kind.into(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

fn apply_call<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ComplianceParams,
    env: &BlockEnv,
    tx: &Transaction,
    call: &ComplianceCall,
) -> Result<Result<Event, ComplianceError>, V::Error> {
    let sender = tx.sender;
    let asset_of_issuer = |overlay: &mut Overlay<'_, V>, asset: &Hash| {
        Ok::<_, V::Error>(match read::<AssetInfo, V>(overlay, &asset_key(asset))? {
            None => Err(ComplianceError::UnknownAsset(*asset)),
            Some(info) if info.issuer != sender => Err(ComplianceError::NotIssuer {
                asset: *asset,
                sender,
            }),
            Some(info) => Ok(info),
        })
    };
    Ok(Ok(match call {
        ComplianceCall::SetRules { asset, rules } => {
            let info = match asset_of_issuer(overlay, asset)? {
                Ok(i) => i,
                Err(e) => return Ok(Err(e)),
            };
            let key = rules_key(asset);
            let old: RulesEntry = read(overlay, &key)?.unwrap_or_default();
            let hkey = holders_key(asset);
            overlay.read(&hkey)?;
            match (old.rules.max_holders, rules.max_holders) {
                (None, Some(_)) if info.supply > 0 => {
                    return Ok(Err(ComplianceError::HolderLimitNeedsZeroSupply {
                        supply: info.supply,
                    }))
                }
                (None, Some(_)) => write(overlay, hkey, &Count(0)),
                (Some(_), None) => overlay.write(hkey, None),
                _ => {}
            }
            let entry = RulesEntry {
                rules: rules.clone(),
                paused: old.paused,
            };
            write_rules(overlay, key, &entry);
            event(
                "rules_set",
                vec![
                    ("asset", AttrValue::Id(*asset)),
                    ("rules", AttrValue::Text(query::describe_rules(rules))),
                ],
            )
        }
        ComplianceCall::SetPaused { asset, paused } => {
            if let Err(e) = asset_of_issuer(overlay, asset)? {
                return Ok(Err(e));
            }
            let key = rules_key(asset);
            let mut entry: RulesEntry = read(overlay, &key)?.unwrap_or_default();
            entry.paused = *paused;
            write_rules(overlay, key, &entry);
            event(
                if *paused { "paused" } else { "resumed" },
                vec![("asset", AttrValue::Id(*asset))],
            )
        }
        ComplianceCall::SetBlocked {
            address,
            blocked,
            reason,
        } => {
            match params.authority {
                None => return Ok(Err(ComplianceError::NoAuthority)),
                Some(a) if a != sender => return Ok(Err(ComplianceError::NotAuthority(sender))),
                Some(_) => {}
            }
            let key = blocked_key(address);
            let was = overlay.read(&key)?.is_some();
            let ckey = blocked_count_key();
            let count = read::<Count, V>(overlay, &ckey)?.map_or(0, |c| c.0);
            let count = match (was, *blocked) {
                (false, true) => count + 1,
                (true, false) => count - 1,
                _ => count,
            };
            overlay.write(
                ckey,
                (count > 0).then(|| crate::codec::Encode::to_bytes(&Count(count))),
            );
            if *blocked {
                write(
                    overlay,
                    key,
                    &Blocked {
                        reason: reason.clone(),
                        height: env.height,
                    },
                );
            } else {
                overlay.write(key, None);
            }
            event(
                if *blocked { "blocked" } else { "unblocked" },
                vec![
                    ("address", AttrValue::Address(*address)),
                    ("reason", AttrValue::Text(reason.clone())),
                ],
            )
        }
    }))
}

/// What the transfer hook reads and writes for a movement (see `hooks::movement_access`).
pub(crate) fn movement_access<S: StateView>(
    settled: &S,
    asset: &Hash,
    from: Option<&Address>,
    to: Option<&Address>,
    reads: &mut Vec<StateKey>,
    writes: &mut Vec<StateKey>,
) -> Result<(), S::Error> {
    let rkey = rules_key(asset);
    let entry: Option<RulesEntry> = get(settled, &rkey)?;
    reads.push(rkey);
    if to.is_some() {
        let ckey = blocked_count_key();
        let anyone_blocked = get::<Count, S>(settled, &ckey)?.is_some_and(|c| c.0 > 0);
        reads.push(ckey);
        if anyone_blocked {
            reads.extend(from.into_iter().chain(to).map(blocked_key));
        }
    }
    let Some(entry) = entry else { return Ok(()) };
    let rules = &entry.rules;
    if rules.max_holders.is_some() {
        writes.push(holders_key(asset));
    }
    let Some(to) = to else { return Ok(()) };
    if let (Some(_), Some(from)) = (rules.velocity, from) {
        writes.push(window_key(asset, from));
    }
    let sides = [
        (from, !rules.sender.is_empty()),
        (Some(to), !rules.receiver.is_empty()),
    ];
    for (party, conditions) in sides {
        let (Some(party), true) = (party, conditions) else {
            continue;
        };
        let subject = Subject::Address(*party);
        for c in live_claims(settled, &subject)?.0 {
            let k = issuer_key(&c.issuer);
            if !reads.contains(&k) {
                reads.push(k);
            }
        }
        reads.push(live_claims_key(&subject));
    }
    Ok(())
}

struct OverlayRead<'o, 'v, V: StateView>(&'o mut Overlay<'v, V>);

impl<V: StateView> Read for OverlayRead<'_, '_, V> {
    type Error = V::Error;
    fn typed<T: crate::codec::Decode + Send + Sync + 'static>(
        &mut self,
        key: &StateKey,
    ) -> Result<Option<std::sync::Arc<T>>, V::Error> {
        self.0.read_cached(key)
    }
}

/// The transfer hook's body (see `hooks::on_movement`).
pub(crate) fn on_movement<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    time_ms: u64,
    m: &Movement<'_>,
) -> Result<Result<Option<Event>, ModuleError>, V::Error> {
    let mut d = match evaluate::evaluate(&mut OverlayRead(overlay), m, time_ms)? {
        Ok(d) => d,
        Err(e) => {
            let record = evaluate::refused_event(m, &e);
            return Ok(Err(e.into_module_error(Some(record))));
        }
    };
    if let Some(count) = d.holders {
        write(overlay, holders_key(m.asset), &Count(count));
    }
    if let (Some(w), Some(from)) = (d.window, m.from) {
        write(overlay, window_key(m.asset, from), &w);
    }
    Ok(Ok(d.ruled.then(|| {
        evaluate::allowed_event(m, std::mem::take(&mut d.applied))
    })))
}
