//! The API of the application modules: their queries over the committed head, events as JSON,
//! and every address's transaction history across modules. Front ends (JSON-RPC `banking_*`,
//! `mamey_getAccountTransactions`, gRPC `BankingService`, the CLI) call these and only shape
//! the results.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::views::{EventView, TxStatus};
use super::{Api, ApiError, ErrorCode};
use crate::modules::banking::{query, AssetId};
use crate::storage::TxLocation;
use crate::types::{Address, Block, Event, Receipt, TxEnvelope, TxId};

/// An event as JSON: `{"module", "type", ...attributes}`.
pub fn event_view(e: &Event) -> EventView {
    let mut m = EventView::new();
    m.insert(
        "module".into(),
        Value::String(
            crate::modules::module_name(e.module)
                .unwrap_or("unknown")
                .to_string(),
        ),
    );
    m.insert("type".into(), Value::String(e.kind.clone()));
    for (k, v) in &e.attributes {
        m.insert(k.clone(), Value::String(v.to_string()));
    }
    m
}

/// A committed transaction's events: those its receipt stores and those it implies.
pub(super) fn events_of(tx: Option<&TxEnvelope>, receipt: Option<&Receipt>) -> Vec<EventView> {
    let implied = tx
        .map(|t| crate::modules::implied_events(&t.tx, receipt))
        .unwrap_or_default();
    implied
        .iter()
        .chain(receipt.map(|r| r.events.as_slice()).unwrap_or_default())
        .map(event_view)
        .collect()
}

/// Which events a stream subscriber wants: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Module name (`banking`, `staking`, ...).
    pub module: Option<String>,
    /// Event type (`transfer`, `minted`, ...).
    pub kind: Option<String>,
    /// An address the event concerns.
    pub address: Option<Address>,
}

impl EventFilter {
    /// Parses the filter's fields, refusing a module that does not exist.
    pub fn new(
        module: Option<String>,
        kind: Option<String>,
        address: Option<&str>,
    ) -> Result<Self, ApiError> {
        if let Some(m) = &module {
            if !crate::modules::MODULES.iter().any(|(_, n)| n == m) {
                let names: Vec<&str> = crate::modules::MODULES.iter().map(|(_, n)| *n).collect();
                return Err(ApiError::new(
                    ErrorCode::InvalidParams,
                    format!("unknown module {m:?}; modules: {}", names.join(", ")),
                ));
            }
        }
        let address = address
            .map(|a| {
                a.parse::<Address>()
                    .map_err(|e| ApiError::new(ErrorCode::InvalidParams, format!("address: {e}")))
            })
            .transpose()?;
        Ok(EventFilter {
            module,
            kind,
            address,
        })
    }

    pub fn matches(&self, e: &Event) -> bool {
        let module_ok = match self.module.as_deref() {
            Some(m) => crate::modules::module_name(e.module) == Some(m),
            None => true,
        };
        let kind_ok = match self.kind.as_deref() {
            Some(k) => e.kind == k,
            None => true,
        };
        let address_ok = match &self.address {
            Some(a) => e.concerns(a),
            None => true,
        };
        module_ok && kind_ok && address_ok
    }
}

/// An event of a committed block with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    pub height: u64,
    pub tx_id: TxId,
    /// The transaction's position in the block.
    pub index: u32,
    pub event: Event,
}

/// Every event of a committed block (implied and stored, in transaction order) that `filter`
/// lets through.
pub fn block_events(block: &Block, receipts: &[Receipt], filter: &EventFilter) -> Vec<BlockEvent> {
    let mut out = Vec::new();
    for (i, tx) in block.transactions.iter().enumerate() {
        let stored = receipts
            .get(i)
            .map(|r| r.events.as_slice())
            .unwrap_or_default();
        for event in crate::modules::implied_events(&tx.tx, receipts.get(i))
            .into_iter()
            .chain(stored.iter().cloned())
        {
            if filter.matches(&event) {
                out.push(BlockEvent {
                    height: block.header.height,
                    tx_id: tx.id,
                    index: i as u32,
                    event,
                });
            }
        }
    }
    // The block's own events (standing orders run at its start), stored after the receipts.
    let n = block.transactions.len();
    for r in receipts.iter().skip(n) {
        for event in r.events.iter().filter(|e| filter.matches(e)) {
            out.push(BlockEvent {
                height: block.header.height,
                tx_id: r.tx_id,
                index: n as u32,
                event: event.clone(),
            });
        }
    }
    out
}

/// An event as streams send it over JSON (WebSocket `events` subscription).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEventView {
    pub height: u64,
    pub transaction: TxId,
    pub index: u32,
    pub event: EventView,
}

impl From<&BlockEvent> for BlockEventView {
    fn from(e: &BlockEvent) -> Self {
        BlockEventView {
            height: e.height,
            transaction: e.tx_id,
            index: e.index,
            event: event_view(&e.event),
        }
    }
}

/// One transaction in an address's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItemView {
    pub id: TxId,
    pub height: u64,
    pub index: u32,
    pub status: TxStatus,
    pub sender: Address,
    /// The module the transaction called.
    pub module: String,
    pub fee_paid: u64,
    pub events: Vec<EventView>,
}

/// `mamey_getAccountTransactions` result: newest first; `next_cursor` continues after the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    pub transactions: Vec<HistoryItemView>,
    pub next_cursor: Option<String>,
}

/// A listing's cursor as the key type it continues after (an id, an address).
pub(super) fn parse_key_cursor<T: std::str::FromStr>(
    cursor: Option<&str>,
) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    cursor
        .map(|c| {
            c.parse()
                .map_err(|e| ApiError::new(ErrorCode::InvalidParams, format!("cursor: {e}")))
        })
        .transpose()
}

/// A page of a listing and the cursor of the next one.
pub type PageView<T> = query::Page<T>;

/// Default page size of listings.
pub const PAGE_DEFAULT: usize = 50;

/// A history cursor: `HEIGHT:INDEX` of the last transaction of the previous page.
fn parse_cursor(c: &str) -> Result<TxLocation, ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidParams,
            format!("cursor {c:?} is not one this node gave (HEIGHT:INDEX)"),
        )
    };
    let (h, i) = c.split_once(':').ok_or_else(bad)?;
    Ok(TxLocation {
        height: h.parse().map_err(|_| bad())?,
        index: i.parse().map_err(|_| bad())?,
    })
}

fn not_found(what: String) -> ApiError {
    ApiError::new(ErrorCode::NotFound, what)
}

impl Api {
    /// `banking_getAsset`.
    pub fn asset(&self, id: &AssetId) -> Result<query::AssetView, ApiError> {
        let reader = self.storage.reader().map_err(ApiError::internal)?;
        query::asset(&reader, id)
            .map_err(ApiError::internal)?
            .ok_or_else(|| not_found(format!("unknown asset {id}")))
    }

    /// `banking_listAssets`.
    pub fn assets(
        &self,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<query::Page<query::AssetView>, ApiError> {
        let cursor: Option<AssetId> = parse_key_cursor(cursor)?;
        let reader = self.storage.reader().map_err(ApiError::internal)?;
        query::assets(&reader, cursor.as_ref(), limit.unwrap_or(PAGE_DEFAULT))
            .map_err(ApiError::internal)
    }

    /// `banking_getBalances`: the issued assets an address holds.
    pub fn balances(&self, address: &Address) -> Result<Vec<query::HoldingView>, ApiError> {
        let reader = self.storage.reader().map_err(ApiError::internal)?;
        query::balances(&reader, address).map_err(ApiError::internal)
    }

    /// `banking_getHolders`.
    pub fn holders(
        &self,
        id: &AssetId,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<query::Page<query::HoldingView>, ApiError> {
        let cursor: Option<Address> = parse_key_cursor(cursor)?;
        let reader = self.storage.reader().map_err(ApiError::internal)?;
        if query::asset(&reader, id)
            .map_err(ApiError::internal)?
            .is_none()
        {
            return Err(not_found(format!("unknown asset {id}")));
        }
        query::holders(&reader, id, cursor.as_ref(), limit.unwrap_or(PAGE_DEFAULT))
            .map_err(ApiError::internal)
    }

    /// `mamey_getAccountTransactions`: every module's committed transactions that touch
    /// `address` (as sender or as a party in their events), newest first.
    pub fn account_transactions(
        &self,
        address: &Address,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<HistoryView, ApiError> {
        let before = cursor.map(parse_cursor).transpose()?;
        let limit = limit
            .unwrap_or(PAGE_DEFAULT)
            .clamp(1, crate::storage::HISTORY_PAGE_MAX);
        // One more than asked tells whether there is a next page.
        let locations = self
            .storage
            .account_history(address, before, limit + 1)
            .map_err(ApiError::internal)?;
        let more = locations.len() > limit;
        let head = self.head();
        // Receipts are read once per block; each transaction alone (blocks can be large).
        let mut receipts_at: BTreeMap<u64, Vec<Receipt>> = BTreeMap::new();
        let mut transactions = Vec::with_capacity(limit);
        for loc in locations.into_iter().take(limit) {
            if let std::collections::btree_map::Entry::Vacant(slot) = receipts_at.entry(loc.height)
            {
                slot.insert(
                    self.storage
                        .receipts(loc.height)
                        .map_err(ApiError::internal)?,
                );
            }
            let receipts = &receipts_at[&loc.height];
            let Some(tx) = self
                .storage
                .block_tx(loc.height, loc.index)
                .map_err(ApiError::internal)?
            else {
                // The block's own events (standing orders): the ones that name the address.
                if let Some(item) = self.block_item(address, loc, receipts, head)? {
                    transactions.push(item);
                }
                continue;
            };
            let tx = &tx;
            let receipt = receipts.get(loc.index as usize);
            transactions.push(HistoryItemView {
                id: tx.id,
                height: loc.height,
                index: loc.index,
                // Refused on the record: in the block, but it moved nothing.
                status: if receipt.is_some_and(|r| r.outcome != crate::types::Outcome::Success) {
                    TxStatus::Rejected
                } else if loc.height <= head {
                    TxStatus::Finalized
                } else {
                    TxStatus::Committed
                },
                sender: tx.tx.sender,
                module: crate::modules::module_name(tx.tx.payload.module_tag())
                    .unwrap_or("unknown")
                    .to_string(),
                fee_paid: receipt.map_or(0, |r| r.fee_paid),
                events: events_of(Some(tx), receipt),
            });
        }
        let next_cursor = if more {
            transactions
                .last()
                .map(|t| format!("{}:{}", t.height, t.index))
        } else {
            None
        };
        Ok(HistoryView {
            transactions,
            next_cursor,
        })
    }

    /// A history item for the block's own events at `loc` (after its last transaction) that name
    /// `address`: id all zeros, sender the block's proposer, no fee.
    fn block_item(
        &self,
        address: &Address,
        loc: crate::storage::TxLocation,
        receipts: &[Receipt],
        head: u64,
    ) -> Result<Option<HistoryItemView>, ApiError> {
        let Some(r) = receipts.get(loc.index as usize) else {
            return Ok(None);
        };
        let Some(header) = self
            .storage
            .block_header(loc.height)
            .map_err(ApiError::internal)?
        else {
            return Ok(None);
        };
        let events: Vec<&Event> = r.events.iter().filter(|e| e.concerns(address)).collect();
        let module = events
            .first()
            .and_then(|e| crate::modules::module_name(e.module))
            .unwrap_or("unknown");
        Ok(Some(HistoryItemView {
            id: r.tx_id,
            height: loc.height,
            index: loc.index,
            status: if loc.height <= head {
                TxStatus::Finalized
            } else {
                TxStatus::Committed
            },
            sender: header.proposer,
            module: module.to_string(),
            fee_paid: 0,
            events: events.into_iter().map(event_view).collect(),
        }))
    }
}
