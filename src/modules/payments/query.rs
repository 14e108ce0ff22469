//! Payments queries over committed state: escrows, standing orders,
//! invoices, an account's options and the objects of an account.

use super::state::{
    active_key, escrow_key, invoice_key, of_account_key, of_account_prefix, options_key, order_key,
    AccountOptions, Count, Escrow, Invoice, StandingOrder,
};
use crate::execution::{StateScan, StateView};
use crate::modules::get;
use crate::types::{Address, Hash};

pub use super::state::{OBJECT_ESCROW, OBJECT_INVOICE, OBJECT_ORDER};

/// Most ids one page of an account's objects lists.
pub const PAGE_LIMIT_MAX: usize = 1_000;

pub fn escrow<S: StateView>(state: &S, id: &Hash) -> Result<Option<Escrow>, S::Error> {
    get(state, &escrow_key(id))
}

pub fn invoice<S: StateView>(state: &S, id: &Hash) -> Result<Option<Invoice>, S::Error> {
    get(state, &invoice_key(id))
}

pub fn standing_order<S: StateView>(
    state: &S,
    id: &Hash,
) -> Result<Option<StandingOrder>, S::Error> {
    get(state, &order_key(id))
}

pub fn account_options<S: StateView>(
    state: &S,
    address: &Address,
) -> Result<AccountOptions, S::Error> {
    Ok(get(state, &options_key(address))?.unwrap_or_default())
}

/// How many standing orders are active on the chain.
pub fn active_standing_orders<S: StateView>(state: &S) -> Result<u64, S::Error> {
    Ok(get::<Count, S>(state, &active_key())?.map_or(0, |c| c.0))
}

/// Up to `limit` ids of `address`'s objects of `kind` (escrows it sends or receives, its
/// standing orders, its invoices) in id order, after `after`; and the cursor of the next page.
pub fn objects_of<S: StateScan>(
    state: &S,
    address: &Address,
    kind: u8,
    after: Option<&Hash>,
    limit: usize,
) -> Result<(Vec<Hash>, Option<Hash>), S::Error> {
    let limit = limit.clamp(1, PAGE_LIMIT_MAX);
    let start = after.map(|h| of_account_key(address, kind, h));
    let rows = state.scan(&of_account_prefix(address, kind), start.as_ref(), limit + 1)?;
    let mut ids: Vec<Hash> = rows
        .iter()
        .filter_map(|(k, _)| {
            let s = k.suffix();
            (s.len() == 1 + 32 + 1 + 32).then(|| {
                let mut h = [0u8; 32];
                h.copy_from_slice(&s[34..]);
                Hash(h)
            })
        })
        .collect();
    let next = (ids.len() > limit).then(|| ids[limit - 1]);
    ids.truncate(limit);
    Ok((ids, next))
}
