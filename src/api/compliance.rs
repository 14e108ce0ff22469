//! The compliance API: an asset's rules, the blocked list, the dry run of a transfer
//! (`compliance_checkTransfer`, gRPC `ComplianceService.CheckTransfer`) and the regulator's
//! report of an asset's movements and decisions over a range of blocks.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::modules::{event_view, PageView, PAGE_DEFAULT};
use super::{Api, ApiError, ErrorCode};
use crate::modules::banking;
use crate::modules::compliance::{query, AssetRules, Condition};
use crate::modules::module_name;
use crate::types::{Address, AssetAmount, AttrValue, Hash};

/// Most blocks one report page reads, and most rows it returns.
pub const REPORT_BLOCKS_MAX: u64 = 10_000;
pub const REPORT_ROWS_MAX: usize = 10_000;

/// A condition as JSON: `{"claim": "kyc", "min_level": 2, "issuers": [...]}`,
/// `{"no_claim": "affiliate"}`, `{"jurisdiction_in": ["DE"]}`, `{"jurisdiction_not_in": [...]}`.
pub fn condition_json(c: &Condition) -> Value {
    let codes = |l: &[[u8; 2]]| {
        l.iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
    };
    match c {
        Condition::Claim {
            claim_type,
            min_level,
            issuers,
        } => {
            json!({"claim": claim_type.name(), "min_level": min_level, "issuers": issuers})
        }
        Condition::NoClaim { claim_type } => json!({"no_claim": claim_type.name()}),
        Condition::JurisdictionIn(l) => json!({"jurisdiction_in": codes(l)}),
        Condition::JurisdictionNotIn(l) => json!({"jurisdiction_not_in": codes(l)}),
    }
}

/// `compliance_getRules` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesView {
    pub asset: Hash,
    pub paused: bool,
    pub sender: Vec<Value>,
    pub receiver: Vec<Value>,
    pub max_holders: Option<u32>,
    /// The kept holder count (while a holder limit is set).
    pub holders: Option<u64>,
    pub max_balance: Option<String>,
    pub velocity: Option<Value>,
    pub travel_threshold: Option<String>,
    /// The rules in one line, as events and reports name them.
    pub description: String,
}

fn rules_view(asset: Hash, rules: &AssetRules, paused: bool, holders: Option<u64>) -> RulesView {
    RulesView {
        asset,
        paused,
        sender: rules.sender.iter().map(condition_json).collect(),
        receiver: rules.receiver.iter().map(condition_json).collect(),
        max_holders: rules.max_holders,
        holders,
        max_balance: rules.max_balance.map(|m| m.to_string()),
        velocity: rules
            .velocity
            .map(|v| json!({"amount": v.amount.to_string(), "period_ms": v.period_ms})),
        travel_threshold: rules.travel_threshold.map(|t| t.to_string()),
        description: query::describe_rules(rules),
    }
}

/// `compliance_checkTransfer` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckView {
    pub allowed: bool,
    /// The refusal's stable reason (`receiver_condition`, `blocked_address`, ...).
    pub reason: Option<String>,
    pub code: Option<u32>,
    pub message: Option<String>,
    /// The rules that applied, when allowed.
    pub rules: Vec<String>,
    /// The head the answer was computed on.
    pub height: u64,
}

/// `compliance_getBlocked` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedView {
    pub address: Address,
    pub reason: String,
    pub since_height: u64,
}

/// One row of a report: an event of the asset with where it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    pub height: u64,
    pub time_ms: u64,
    pub transaction: Hash,
    pub index: u32,
    pub sender: Address,
    /// `transfer`, `minted`, `burned`, `clawback`, `frozen`, `unfrozen`, ..., `allowed`, `refused`,
    /// `rules_set`, `paused`, `resumed`.
    pub event: String,
    pub module: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub amount: Option<String>,
    /// The refusing rule (`refused`), or the rules that applied (`allowed`).
    pub rule: Option<String>,
    /// Every attribute of the event, as text.
    pub attributes: serde_json::Map<String, Value>,
}

/// `compliance_report` result: rows in block order; `next_height` continues the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    pub asset: Hash,
    pub from_height: u64,
    pub to_height: u64,
    pub rows: Vec<ReportRow>,
    /// Where the next page starts, when this one stopped before `to_height`.
    pub next_height: Option<u64>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("internal error: {e}"))
}

fn text(v: Option<&AttrValue>) -> Option<String> {
    v.map(ToString::to_string)
}

impl Api {
    /// `compliance_getRules`: the asset's rules (all empty when it has none).
    pub fn rules(&self, asset: &Hash) -> Result<RulesView, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        if banking::query::asset(&reader, asset)
            .map_err(internal)?
            .is_none()
        {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("unknown asset {asset}"),
            ));
        }
        let entry = query::rules(&reader, asset)
            .map_err(internal)?
            .unwrap_or_default();
        let holders = query::holders(&reader, asset).map_err(internal)?;
        Ok(rules_view(*asset, &entry.rules, entry.paused, holders))
    }

    /// `compliance_checkTransfer`: whether the transfer would pass on the head, and why.
    pub fn check_transfer(
        &self,
        asset: &Hash,
        from: &Address,
        to: &Address,
        amount: AssetAmount,
        with_travel_record: bool,
    ) -> Result<CheckView, ApiError> {
        if amount == 0 {
            return Err(ApiError::new(
                ErrorCode::InvalidParams,
                "amount must be positive",
            ));
        }
        let reader = self.storage.reader().map_err(internal)?;
        let head = reader.head().map_err(internal)?;
        let r = query::check_transfer(
            &reader,
            asset,
            from,
            to,
            amount,
            with_travel_record,
            head.timestamp_ms,
        )
        .map_err(internal)?;
        Ok(CheckView {
            allowed: r.allowed,
            code: r.refusal.as_ref().map(|r| r.0),
            reason: r.refusal.as_ref().map(|r| r.1.to_string()),
            message: r.refusal.map(|r| r.2),
            rules: r.rules,
            height: head.height,
        })
    }

    /// `compliance_getBlocked`: the chain-wide blocked list, in address order.
    pub fn blocked_list(
        &self,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<PageView<BlockedView>, ApiError> {
        let after: Option<Address> = super::modules::parse_key_cursor(cursor)?;
        let limit = limit.unwrap_or(PAGE_DEFAULT).clamp(1, 500);
        let reader = self.storage.reader().map_err(internal)?;
        let found = query::blocked_list(&reader, after.as_ref(), limit + 1).map_err(internal)?;
        let more = found.len() > limit;
        let items: Vec<BlockedView> = found
            .into_iter()
            .take(limit)
            .map(|(address, b)| BlockedView {
                address,
                reason: b.reason,
                since_height: b.height,
            })
            .collect();
        let next_cursor = more
            .then(|| items.last().map(|b| b.address.to_string()))
            .flatten();
        Ok(PageView { items, next_cursor })
    }

    /// `compliance_isBlocked`.
    pub fn blocked(&self, address: &Address) -> Result<Option<BlockedView>, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        Ok(query::blocked(&reader, address)
            .map_err(internal)?
            .map(|b| BlockedView {
                address: *address,
                reason: b.reason,
                since_height: b.height,
            }))
    }

    /// `compliance_report`: every event of `asset` (movements, freezes, clawbacks, compliance
    /// decisions and rule changes) in blocks `from..=to`, at most [`REPORT_BLOCKS_MAX`] blocks and
    /// [`REPORT_ROWS_MAX`] rows a page.
    pub fn report(&self, asset: &Hash, from: u64, to: u64) -> Result<ReportView, ApiError> {
        let head = self.head();
        if from == 0 || from > to {
            return Err(ApiError::new(
                ErrorCode::InvalidParams,
                format!("the range {from}..={to} is empty (heights start at 1)"),
            ));
        }
        let to = to.min(head);
        let mut rows = Vec::new();
        let mut next_height = None;
        let asset_text = asset.to_string();
        let mut h = from;
        while h <= to {
            if h - from >= REPORT_BLOCKS_MAX || rows.len() >= REPORT_ROWS_MAX {
                next_height = Some(h);
                break;
            }
            let Some(block) = self.storage.block(h).map_err(internal)? else {
                break;
            };
            let receipts = self.storage.receipts(h).map_err(internal)?;
            // Every event of the block, its transactions' and its own (standing orders run at
            // its start: their sender is the block's proposer).
            let all = super::modules::EventFilter::default();
            for be in super::modules::block_events(&block, &receipts, &all) {
                let e = &be.event;
                let of_asset = e
                    .attributes
                    .iter()
                    .any(|(k, v)| k == "asset" && v.to_string() == asset_text);
                if !of_asset {
                    continue;
                }
                let sender = block
                    .transactions
                    .get(be.index as usize)
                    .map_or(block.header.proposer, |t| t.tx.sender);
                let attr =
                    |name: &str| e.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                rows.push(ReportRow {
                    height: h,
                    time_ms: block.header.timestamp_ms,
                    transaction: be.tx_id,
                    index: be.index,
                    sender,
                    event: e.kind.clone(),
                    module: module_name(e.module).unwrap_or("unknown").to_string(),
                    from: text(attr("from").or(attr("owner"))),
                    to: text(attr("to").or(attr("holder"))),
                    amount: text(attr("amount")),
                    rule: text(attr("rule").or(attr("rules"))),
                    attributes: event_view(e),
                });
            }
            h += 1;
        }
        Ok(ReportView {
            asset: *asset,
            from_height: from,
            to_height: to,
            rows,
            next_height,
        })
    }
}
