//! JSON-RPC methods of the DEX module (`dex_*`).

use jsonrpsee::RpcModule;
use serde_json::Value;

use super::modules::{page_options, string_at};
use super::params::{api_error, error, parse_address, parse_hash, positional};
use super::ErrorCode;
use crate::api::Api;

fn market_at(v: &[Value]) -> Result<crate::types::Hash, jsonrpsee::types::ErrorObjectOwned> {
    parse_hash(string_at(v, 0, "market id")?, "params[0] (market id)")
}

pub(super) fn register(m: &mut RpcModule<Api>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("dex_getMarkets", |_, api, _| {
        api.dex_markets().map_err(api_error)
    })?;
    m.register_method("dex_getMarket", |p, api, _| {
        let v = positional(&p, "market id")?;
        api.dex_market(&market_at(&v)?).map_err(api_error)
    })?;
    m.register_method("dex_getBook", |p, api, _| {
        let v = positional(&p, "market id, depth")?;
        let depth = match v.get(1) {
            None | Some(Value::Null) => None,
            Some(d) => Some(
                d.as_u64()
                    .filter(|d| *d > 0)
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| {
                        error(
                            ErrorCode::InvalidParams,
                            "params[1] (depth) must be a positive integer",
                        )
                    })?,
            ),
        };
        api.dex_book(&market_at(&v)?, depth).map_err(api_error)
    })?;
    m.register_method("dex_getAccount", |p, api, _| {
        let v = positional(&p, "market id, address")?;
        let a = parse_address(string_at(&v, 1, "address")?, "params[1]")?;
        api.dex_account(&market_at(&v)?, &a).map_err(api_error)
    })?;
    m.register_method("dex_getOrders", |p, api, _| {
        let v = positional(&p, "market id, address")?;
        let a = parse_address(string_at(&v, 1, "address")?, "params[1]")?;
        api.dex_account(&market_at(&v)?, &a)
            .map(|acc| acc.orders)
            .map_err(api_error)
    })?;
    m.register_method("dex_getTrades", |p, api, _| {
        let v = positional(&p, "market id, {\"limit\"}")?;
        let (limit, _) = page_options(&v, 1)?;
        api.dex_trades(&market_at(&v)?, limit).map_err(api_error)
    })?;
    m.register_method("dex_getPool", |p, api, _| {
        let v = positional(&p, "market id, address?")?;
        let owner = match v.get(1) {
            None | Some(Value::Null) => None,
            Some(_) => Some(parse_address(string_at(&v, 1, "address")?, "params[1]")?),
        };
        api.dex_pool(&market_at(&v)?, owner.as_ref())
            .map_err(api_error)
    })?;
    m.register_method("dex_getStats", |p, api, _| {
        let v = positional(&p, "market id")?;
        api.dex_stats(&market_at(&v)?).map_err(api_error)
    })?;
    Ok(())
}
