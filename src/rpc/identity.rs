//! JSON-RPC methods of the identity and compliance modules (`identity_*`, `compliance_*`).

use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use serde_json::{json, Value};

use super::modules::{page_options, string_at};
use super::params::{api_error, error, parse_address, parse_hash, positional};
use super::ErrorCode;
use crate::api::Api;

/// Optional paging (`{"limit", "cursor"}`), the only param of a method whose params may be
/// absent.
fn paged(
    p: &jsonrpsee::types::Params<'_>,
) -> Result<(Option<usize>, Option<String>), ErrorObjectOwned> {
    let v = if p.as_str().is_some() {
        positional(p, "{\"limit\", \"cursor\"}")?
    } else {
        Vec::new()
    };
    page_options(&v, 0)
}

/// A decimal string (or a JSON integer) of base units.
fn amount(v: Option<&Value>, at: &str) -> Result<u128, ErrorObjectOwned> {
    let bad = || {
        error(
            ErrorCode::InvalidParams,
            format!("{at}: an amount is a decimal string of base units"),
        )
    };
    match v {
        Some(Value::String(s)) => s.parse().map_err(|_| bad()),
        Some(Value::Number(n)) => n.as_u64().map(u128::from).ok_or_else(bad),
        _ => Err(bad()),
    }
}

pub(super) fn register(m: &mut RpcModule<Api>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("identity_resolve", |p, api, _| {
        let v = positional(&p, "did, {\"versionId\", \"versionTime\"}")?;
        let did = string_at(&v, 0, "did")?;
        let opt = |k: &str| {
            v.get(1)
                .and_then(|o| o.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let (id, time) = (opt("versionId"), opt("versionTime"));
        Ok::<_, ErrorObjectOwned>(api.resolve_did(did, id.as_deref(), time.as_deref()).result)
    })?;
    m.register_method("identity_getClaim", |p, api, _| {
        let v = positional(&p, "claim id")?;
        let id = parse_hash(string_at(&v, 0, "claim id")?, "params[0] (claim id)")?;
        api.claim(&id).map_err(api_error)
    })?;
    m.register_method("identity_getClaims", |p, api, _| {
        let v = positional(&p, "subject (address or DID), {\"limit\", \"cursor\"}")?;
        let subject = string_at(&v, 0, "subject")?;
        let (limit, cursor) = page_options(&v, 1)?;
        api.claims(subject, cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    m.register_method("identity_getIssuer", |p, api, _| {
        let v = positional(&p, "issuer address")?;
        let a = parse_address(string_at(&v, 0, "issuer address")?, "params[0]")?;
        api.trusted_issuer(&a).map_err(api_error)
    })?;
    m.register_method("identity_listIssuers", |p, api, _| {
        let (limit, cursor) = paged(&p)?;
        api.trusted_issuers(cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    m.register_method("identity_getStatusList", |p, api, _| {
        let v = positional(&p, "issuer, purpose, list")?;
        let issuer = string_at(&v, 0, "issuer")?;
        let purpose = string_at(&v, 1, "purpose (revocation or suspension)")?;
        let list = v.get(2).and_then(Value::as_u64).ok_or_else(|| {
            error(
                ErrorCode::InvalidParams,
                "params[2] (list) must be an integer",
            )
        })?;
        let url = format!("/1.0/status/{issuer}/{purpose}/{list}");
        api.status_list(issuer, purpose, &list.to_string(), &url)
            .map_err(api_error)
    })?;
    m.register_method("compliance_getRules", |p, api, _| {
        let v = positional(&p, "asset id")?;
        let id = parse_hash(string_at(&v, 0, "asset id")?, "params[0] (asset id)")?;
        api.rules(&id).map_err(api_error)
    })?;
    m.register_method("compliance_checkTransfer", |p, api, _| {
        let v = positional(
            &p,
            "{\"asset\", \"from\", \"to\", \"amount\", \"travel_record\"?}",
        )?;
        let o = v.first().and_then(Value::as_object).ok_or_else(|| {
            error(
                ErrorCode::InvalidParams,
                "params[0] must be {\"asset\", \"from\", \"to\", \"amount\"}",
            )
        })?;
        let field = |k: &str| {
            o.get(k).and_then(Value::as_str).ok_or_else(|| {
                error(
                    ErrorCode::InvalidParams,
                    format!("params[0].{k} is missing or not a string"),
                )
            })
        };
        let asset = parse_hash(field("asset")?, "params[0].asset")?;
        let from = parse_address(field("from")?, "params[0].from")?;
        let to = parse_address(field("to")?, "params[0].to")?;
        let amount = amount(o.get("amount"), "params[0].amount")?;
        let travel = o
            .get("travel_record")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        api.check_transfer(&asset, &from, &to, amount, travel)
            .map_err(api_error)
    })?;
    m.register_method("compliance_isBlocked", |p, api, _| {
        let v = positional(&p, "address")?;
        let a = parse_address(string_at(&v, 0, "address")?, "params[0]")?;
        let b = api.blocked(&a).map_err(api_error)?;
        Ok::<_, ErrorObjectOwned>(match b {
            None => json!({"address": a, "blocked": false}),
            Some(b) => json!({"address": a, "blocked": true, "reason": b.reason, "since_height": b.since_height}),
        })
    })?;
    m.register_method("compliance_getBlocked", |p, api, _| {
        let (limit, cursor) = paged(&p)?;
        api.blocked_list(cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    m.register_method("compliance_report", |p, api, _| {
        let v = positional(&p, "asset id, {\"from_height\", \"to_height\"}")?;
        let id = parse_hash(string_at(&v, 0, "asset id")?, "params[0] (asset id)")?;
        let range = v.get(1).and_then(Value::as_object);
        let height = |k: &str| range.and_then(|o| o.get(k)).and_then(Value::as_u64);
        let from = height("from_height").unwrap_or(1);
        let to = height("to_height").unwrap_or(u64::MAX);
        api.report(&id, from, to).map_err(api_error)
    })?;
    Ok(())
}
