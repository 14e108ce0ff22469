//! Banking's queries: pure functions over a committed state, served as they are by JSON-RPC
//! (`banking_*`) and gRPC (`mamey.banking.v1.BankingService`). Amounts are decimal strings (issued
//! amounts do not fit in a JSON number).

use serde::Serialize;

use super::calls::AssetId;
use super::state::{
    asset_key, assets_prefix, holder_key, holders_prefix, holding_key, holdings_prefix, AssetInfo,
    Holding,
};
use crate::codec::decode_exact;
use crate::execution::StateScan;
use crate::types::{Address, Hash, StateKey};

/// Most entries one page of a listing returns.
pub const PAGE_LIMIT_MAX: usize = 1_000;

/// An asset as queries show it: every policy flag visible, so an exchange needs no per-asset code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssetView {
    pub id: String,
    pub symbol: String,
    pub name: String,
    pub decimals: u8,
    pub issuer: Address,
    pub supply: String,
    pub max_supply: Option<String>,
    pub mintable: bool,
    pub holder_burnable: bool,
    pub freezable: bool,
    pub clawback: bool,
    pub auth_required: bool,
    pub global_frozen: bool,
    /// Name, metadata and issuer can no longer change.
    pub locked: bool,
    pub metadata_uri: String,
    pub created_height: u64,
}

impl AssetView {
    fn new(id: &AssetId, a: AssetInfo) -> Self {
        AssetView {
            id: id.to_hex(),
            symbol: a.symbol,
            name: a.name,
            decimals: a.decimals,
            issuer: a.issuer,
            supply: a.supply.to_string(),
            max_supply: a.max_supply.map(|m| m.to_string()),
            mintable: a.policy.mintable,
            holder_burnable: a.policy.holder_burnable,
            freezable: a.policy.freezable,
            clawback: a.policy.clawback,
            auth_required: a.policy.auth_required,
            global_frozen: a.global_frozen,
            locked: a.locked,
            metadata_uri: a.metadata_uri,
            created_height: a.created_height,
        }
    }
}

/// One holding as queries show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HoldingView {
    pub asset: String,
    pub symbol: String,
    pub holder: Address,
    pub amount: String,
    pub frozen: bool,
    pub authorized: bool,
}

/// A page of a listing and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn asset_info(bytes: &[u8]) -> AssetInfo {
    decode_exact(bytes, usize::MAX).expect("assets in the state were encoded by banking")
}

fn holding(bytes: &[u8]) -> Holding {
    decode_exact(bytes, usize::MAX).expect("holdings in the state were encoded by banking")
}

/// The asset `id`, if it exists.
pub fn asset<S: StateScan>(state: &S, id: &AssetId) -> Result<Option<AssetView>, S::Error> {
    Ok(state
        .get(&asset_key(id))?
        .map(|b| AssetView::new(id, asset_info(&b))))
}

/// Every asset in id order, `limit` at a time from after the asset `cursor`.
pub fn assets<S: StateScan>(
    state: &S,
    cursor: Option<&AssetId>,
    limit: usize,
) -> Result<Page<AssetView>, S::Error> {
    let limit = limit.clamp(1, PAGE_LIMIT_MAX);
    let after = cursor.map(asset_key);
    let rows = state.scan(&assets_prefix(), after.as_ref(), limit + 1)?;
    let items: Vec<AssetView> = rows
        .iter()
        .take(limit)
        .map(|(k, v)| AssetView::new(&Hash(suffix_32(k, 0)), asset_info(v)))
        .collect();
    let next_cursor = if rows.len() > limit {
        items.last().map(|a| a.id.clone())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// The issued assets `holder` holds or held (up to [`PAGE_LIMIT_MAX`]), in asset id order: one
/// prefix walk of its holdings.
pub fn balances<S: StateScan>(state: &S, holder: &Address) -> Result<Vec<HoldingView>, S::Error> {
    let rows = state.scan(&holdings_prefix(holder), None, PAGE_LIMIT_MAX)?;
    let mut out = Vec::with_capacity(rows.len());
    for (k, v) in rows {
        let id = Hash(suffix_32(&k, 32));
        let symbol = state
            .get(&asset_key(&id))?
            .map(|b| asset_info(&b).symbol)
            .unwrap_or_default();
        let h = holding(&v);
        out.push(HoldingView {
            asset: id.to_hex(),
            symbol,
            holder: *holder,
            amount: h.amount.to_string(),
            frozen: h.frozen,
            authorized: h.authorized,
        });
    }
    Ok(out)
}

/// The holders of `id` in address order, `limit` at a time from after the holder `cursor`.
pub fn holders<S: StateScan>(
    state: &S,
    id: &AssetId,
    cursor: Option<&Address>,
    limit: usize,
) -> Result<Page<HoldingView>, S::Error> {
    let limit = limit.clamp(1, PAGE_LIMIT_MAX);
    let symbol = state
        .get(&asset_key(id))?
        .map(|b| asset_info(&b).symbol)
        .unwrap_or_default();
    let after = cursor.map(|c| holder_key(id, c));
    let rows = state.scan(&holders_prefix(id), after.as_ref(), limit + 1)?;
    let mut items = Vec::with_capacity(limit.min(rows.len()));
    for (k, _) in rows.iter().take(limit) {
        let holder = Address(suffix_32(k, 32));
        let h = state
            .get(&holding_key(id, &holder))?
            .map(|b| holding(&b))
            .unwrap_or_default();
        items.push(HoldingView {
            asset: id.to_hex(),
            symbol: symbol.clone(),
            holder,
            amount: h.amount.to_string(),
            frozen: h.frozen,
            authorized: h.authorized,
        });
    }
    let next_cursor = if rows.len() > limit {
        items.last().map(|h| h.holder.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// The 32 bytes of a banking key after its module tag, its kind byte and `skip` more bytes.
fn suffix_32(key: &StateKey, skip: usize) -> [u8; 32] {
    let s = &key.suffix()[1..];
    let mut out = [0u8; 32];
    out.copy_from_slice(&s[skip..skip + 32]);
    out
}
