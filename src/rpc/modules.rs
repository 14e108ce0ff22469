//! JSON-RPC methods of the application modules (`<module>_<method>`, INTERFACES §10–§11) and the
//! cross-module history. Each parses its params and calls the shared [`Api`].

use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::RpcModule;
use serde_json::{json, Value};

use super::params::{api_error, error, parse_address, parse_hash, positional};
use super::ErrorCode;
use crate::api::Api;

/// Optional `{"limit": n, "cursor": c}` at position `at`.
pub(super) fn page_options(
    params: &[Value],
    at: usize,
) -> Result<(Option<usize>, Option<String>), ErrorObjectOwned> {
    let Some(v) = params.get(at) else {
        return Ok((None, None));
    };
    let bad = |what: &str| {
        error(
            ErrorCode::InvalidParams,
            format!("params[{at}]: {what} (expected {{\"limit\": n, \"cursor\": c}})"),
        )
    };
    let Value::Object(o) = v else {
        return if v.is_null() {
            Ok((None, None))
        } else {
            Err(bad("not an object"))
        };
    };
    let limit = match o.get("limit") {
        None | Some(Value::Null) => None,
        Some(l) => Some(
            l.as_u64()
                .and_then(|l| usize::try_from(l).ok())
                .filter(|l| *l > 0)
                .ok_or_else(|| bad("limit must be a positive integer"))?,
        ),
    };
    let cursor = match o.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => return Err(bad("cursor must be a string")),
    };
    Ok((limit, cursor))
}

/// The string at position `at`.
pub(super) fn string_at<'a>(
    params: &'a [Value],
    at: usize,
    what: &str,
) -> Result<&'a str, ErrorObjectOwned> {
    params.get(at).and_then(Value::as_str).ok_or_else(|| {
        error(
            ErrorCode::InvalidParams,
            format!("params[{at}] ({what}) must be a string"),
        )
    })
}

pub(super) fn register(m: &mut RpcModule<Api>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("banking_getAsset", |p, api, _| {
        let v = positional(&p, "asset id")?;
        let id = parse_hash(string_at(&v, 0, "asset id")?, "params[0] (asset id)")?;
        api.asset(&id).map_err(api_error)
    })?;
    m.register_method("banking_listAssets", |p, api, _| {
        let v = if p.as_str().is_some() {
            positional(&p, "{\"limit\", \"cursor\"}")?
        } else {
            Vec::new()
        };
        let (limit, cursor) = page_options(&v, 0)?;
        api.assets(cursor.as_deref(), limit).map_err(api_error)
    })?;
    m.register_method("banking_getBalances", |p, api, _| {
        let v = positional(&p, "address")?;
        let address = parse_address(string_at(&v, 0, "address")?, "params[0]")?;
        let balances = api.balances(&address).map_err(api_error)?;
        Ok::<_, ErrorObjectOwned>(json!({"address": address, "balances": balances}))
    })?;
    m.register_method("banking_getHolders", |p, api, _| {
        let v = positional(&p, "asset id, {\"limit\", \"cursor\"}")?;
        let id = parse_hash(string_at(&v, 0, "asset id")?, "params[0] (asset id)")?;
        let (limit, cursor) = page_options(&v, 1)?;
        api.holders(&id, cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    m.register_method("mamey_getAccountTransactions", |p, api, _| {
        let v = positional(&p, "address, {\"limit\", \"cursor\"}")?;
        let address = parse_address(string_at(&v, 0, "address")?, "params[0]")?;
        let (limit, cursor) = page_options(&v, 1)?;
        api.account_transactions(&address, cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    // The staking module's prefix (the `mamey_` names stay).
    m.register_method("staking_getValidators", |_p, api, _| {
        api.validators().map_err(api_error)
    })?;
    m.register_method("staking_getStake", |p, api, _| {
        let v = positional(&p, "delegator address")?;
        let address = parse_address(string_at(&v, 0, "delegator address")?, "params[0]")?;
        api.stake(address).map_err(api_error)
    })?;
    super::identity::register(m)?;
    super::payments::register(m)?;
    super::dex::register(m)?;
    Ok(())
}
