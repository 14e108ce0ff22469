//! JSON-RPC methods of the payments module (`payments_*`).

use jsonrpsee::RpcModule;

use super::modules::{page_options, string_at};
use super::params::{api_error, parse_address, parse_hash, positional};
use crate::api::Api;

pub(super) fn register(m: &mut RpcModule<Api>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("payments_getByUetr", |p, api, _| {
        let v = positional(&p, "uetr")?;
        api.payment_by_uetr(string_at(&v, 0, "uetr")?)
            .map_err(api_error)
    })?;
    m.register_method("payments_getByEndToEndId", |p, api, _| {
        let v = positional(&p, "sender address, end-to-end id")?;
        let sender = parse_address(string_at(&v, 0, "sender address")?, "params[0]")?;
        api.payment_by_end_to_end_id(&sender, string_at(&v, 1, "end-to-end id")?)
            .map_err(api_error)
    })?;
    m.register_method("payments_getPayments", |p, api, _| {
        let v = positional(&p, "transaction id")?;
        let id = parse_hash(
            string_at(&v, 0, "transaction id")?,
            "params[0] (transaction id)",
        )?;
        api.payments_of_tx(id).map_err(api_error)
    })?;
    m.register_method("payments_getEscrow", |p, api, _| {
        let v = positional(&p, "escrow id")?;
        let id = parse_hash(string_at(&v, 0, "escrow id")?, "params[0] (escrow id)")?;
        api.escrow(&id).map_err(api_error)
    })?;
    m.register_method("payments_getStandingOrder", |p, api, _| {
        let v = positional(&p, "standing order id")?;
        let id = parse_hash(
            string_at(&v, 0, "standing order id")?,
            "params[0] (order id)",
        )?;
        api.standing_order(&id).map_err(api_error)
    })?;
    m.register_method("payments_getInvoice", |p, api, _| {
        let v = positional(&p, "invoice id")?;
        let id = parse_hash(string_at(&v, 0, "invoice id")?, "params[0] (invoice id)")?;
        api.invoice(&id).map_err(api_error)
    })?;
    m.register_method("payments_getAccountOptions", |p, api, _| {
        let v = positional(&p, "address")?;
        let a = parse_address(string_at(&v, 0, "address")?, "params[0]")?;
        api.account_options(&a).map_err(api_error)
    })?;
    m.register_method("payments_getEscrows", |p, api, _| {
        let v = positional(&p, "address, {\"limit\", \"cursor\"}")?;
        let a = parse_address(string_at(&v, 0, "address")?, "params[0]")?;
        let (limit, cursor) = page_options(&v, 1)?;
        api.escrows_of(&a, cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    m.register_method("payments_getStandingOrders", |p, api, _| {
        let v = positional(&p, "address, {\"limit\", \"cursor\"}")?;
        let a = parse_address(string_at(&v, 0, "address")?, "params[0]")?;
        let (limit, cursor) = page_options(&v, 1)?;
        api.standing_orders_of(&a, cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    m.register_method("payments_getInvoices", |p, api, _| {
        let v = positional(&p, "address, {\"limit\", \"cursor\"}")?;
        let a = parse_address(string_at(&v, 0, "address")?, "params[0]")?;
        let (limit, cursor) = page_options(&v, 1)?;
        api.invoices_of(&a, cursor.as_deref(), limit)
            .map_err(api_error)
    })?;
    Ok(())
}
