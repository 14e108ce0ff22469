//! Compliance queries over committed state: an asset's rules, the blocked list, and the dry run
//! of a transfer (the same evaluation the transfer hook runs).

use super::calls::AssetRules;
use super::evaluate::{evaluate, Decision, Read};
use super::state::{
    blocked_key, blocked_prefix, holders_key, rules_key, Blocked, Count, RulesEntry,
};
use crate::execution::{StateScan, StateView};
use crate::modules::banking::state::{asset_key, holding_key};
use crate::modules::banking::{AssetInfo, Holding};
use crate::modules::get;
use crate::modules::hooks::{Movement, TravelRecord};
use crate::types::{Address, AssetAmount, Hash, StateKey};

pub fn rules<S: StateView>(state: &S, asset: &Hash) -> Result<Option<RulesEntry>, S::Error> {
    get(state, &rules_key(asset))
}

/// The holder count, while the asset has a holder limit.
pub fn holders<S: StateView>(state: &S, asset: &Hash) -> Result<Option<u64>, S::Error> {
    Ok(get::<Count, S>(state, &holders_key(asset))?.map(|h| h.0))
}

pub fn blocked<S: StateView>(state: &S, address: &Address) -> Result<Option<Blocked>, S::Error> {
    get(state, &blocked_key(address))
}

/// The blocked list, a page at a time, in address order.
pub fn blocked_list<S: StateScan>(
    state: &S,
    after: Option<&Address>,
    limit: usize,
) -> Result<Vec<(Address, Blocked)>, S::Error> {
    let start = after.map(blocked_key);
    state
        .scan(&blocked_prefix(), start.as_ref(), limit)?
        .into_iter()
        .map(|(k, _)| {
            let a = Address(
                k.suffix()[1..]
                    .try_into()
                    .expect("blocked keys end with an address"),
            );
            Ok((a, blocked(state, &a)?.expect("scanned entries exist")))
        })
        .collect()
}

/// A one-line description of rules, e.g. `receiver:kyc>=2; max_balance=1000`.
pub fn describe_rules(r: &AssetRules) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in &r.sender {
        parts.push(format!("sender:{}", c.describe()));
    }
    for c in &r.receiver {
        parts.push(format!("receiver:{}", c.describe()));
    }
    if let Some(m) = r.max_holders {
        parts.push(format!("max_holders={m}"));
    }
    if let Some(m) = r.max_balance {
        parts.push(format!("max_balance={m}"));
    }
    if let Some(v) = r.velocity {
        parts.push(format!("velocity={}/{}ms", v.amount, v.period_ms));
    }
    if let Some(t) = r.travel_threshold {
        parts.push(format!("travel_threshold={t}"));
    }
    parts.join("; ")
}

struct StateRead<'s, S>(&'s S);

impl<S: StateView> Read for StateRead<'_, S> {
    type Error = S::Error;
    fn typed<T: crate::codec::Decode + Send + Sync + 'static>(
        &mut self,
        key: &StateKey,
    ) -> Result<Option<std::sync::Arc<T>>, S::Error> {
        Ok(get::<T, S>(self.0, key)?.map(std::sync::Arc::new))
    }
}

/// The answer of a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub allowed: bool,
    /// The refusal's code, reason and message.
    pub refusal: Option<(u32, &'static str, String)>,
    /// The rules that applied (when allowed).
    pub rules: Vec<String>,
}

/// Whether a transfer of `amount` of `asset` from `from` to `to` would pass now (at block time
/// `time_ms`, the head's): the asset and balance checks, then exactly the hook's evaluation.
#[allow(clippy::too_many_arguments)]
pub fn check_transfer<S: StateView>(
    state: &S,
    asset: &Hash,
    from: &Address,
    to: &Address,
    amount: AssetAmount,
    with_travel_record: bool,
    time_ms: u64,
) -> Result<CheckResult, S::Error> {
    let refuse = |code, reason, message: String| CheckResult {
        allowed: false,
        refusal: Some((code, reason, message)),
        rules: Vec::new(),
    };
    let Some(info) = get::<AssetInfo, S>(state, &asset_key(asset))? else {
        return Ok(refuse(
            10100,
            "unknown_asset",
            format!("unknown asset {}", asset.to_hex()),
        ));
    };
    let src: Holding = get(state, &holding_key(asset, from))?.unwrap_or_default();
    if src.amount < amount {
        return Ok(refuse(
            10115,
            "insufficient_asset_balance",
            format!(
                "{from} holds {} of {}, less than {amount}",
                src.amount, info.symbol
            ),
        ));
    }
    let dst: Holding = if from == to {
        src
    } else {
        get(state, &holding_key(asset, to))?.unwrap_or_default()
    };
    let travel = TravelRecord {
        originator_vasp: String::new(),
        beneficiary_vasp: String::new(),
        payload_hash: Hash::ZERO,
    };
    let m = Movement::transfer(
        asset,
        &info.issuer,
        from,
        to,
        amount,
        src.amount,
        dst.amount,
        with_travel_record.then_some(&travel),
    );
    Ok(match evaluate(&mut StateRead(state), &m, time_ms)? {
        Ok(Decision { applied, .. }) => CheckResult {
            allowed: true,
            refusal: None,
            rules: applied
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect(),
        },
        Err(e) => refuse(e.code(), e.reason(), e.to_string()),
    })
}
