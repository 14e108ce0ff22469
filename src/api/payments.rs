//! The payments API: payments found by UETR, by (sender, end-to-end id) and by transaction;
//! escrows, standing orders and invoices, one by one and per account; an account's receiving
//! options. JSON-RPC `payments_*` and gRPC `PaymentService` both serve these views.

use serde::{Deserialize, Serialize};

use super::modules::{parse_key_cursor, PageView, PAGE_DEFAULT};
use super::views::TxStatus;
use super::{Api, ApiError, ErrorCode};
use crate::modules::payments::calls::{
    end_to_end_digest, payment_orders, uetr_digest, PaymentsCall,
};
use crate::modules::payments::query::{self, OBJECT_ESCROW, OBJECT_INVOICE, OBJECT_ORDER};
use crate::modules::payments::{
    Escrow, Invoice, InvoiceStatus, OnFailure, PaymentOrder, Period, References, Remittance,
    StandingOrder, Uetr,
};
use crate::types::{Address, Hash, Payload};

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("internal error: {e}"))
}

fn not_found(what: String) -> ApiError {
    ApiError::new(ErrorCode::NotFound, what)
}

/// A payment's references as JSON fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefsView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_to_end_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uetr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remittance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creditor_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_tag: Option<u32>,
}

impl From<&References> for RefsView {
    fn from(r: &References) -> Self {
        let (remittance, creditor_reference) = match &r.remittance {
            Some(Remittance::Unstructured(t)) => (Some(t.clone()), None),
            Some(Remittance::CreditorReference(t)) => (None, Some(t.clone())),
            None => (None, None),
        };
        RefsView {
            end_to_end_id: r.end_to_end_id.clone(),
            uetr: r.uetr.map(|u| u.to_string()),
            remittance,
            creditor_reference,
            purpose: r.purpose.clone(),
            destination_tag: r.destination_tag,
        }
    }
}

/// One payment (a single payment, a batch output, or the payment into an escrow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    pub transaction: Hash,
    /// Its output in a batch (0 otherwise).
    pub output: u32,
    /// `pay`, `batch` or `escrow`.
    pub kind: String,
    /// `committed`, `finalized` or `rejected` (refused on the record by compliance).
    pub status: TxStatus,
    pub height: Option<u64>,
    pub from: Address,
    pub to: Address,
    /// Asset id, or null for the native asset.
    pub asset: Option<Hash>,
    pub amount: String,
    #[serde(flatten)]
    pub refs: RefsView,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// Later transactions whose payments carry the same reference (a lookup answers the first;
    /// the CLI refuses to reuse a UETR, the chain does not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub later: Vec<Hash>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscrowView {
    pub id: Hash,
    pub sender: Address,
    pub to: Address,
    pub asset: Option<Hash>,
    pub amount: String,
    pub finish_after_ms: Option<u64>,
    pub cancel_after_ms: Option<u64>,
    /// SHA-256 of the preimage that finishes it, hex.
    pub condition: Option<Hash>,
    pub created_height: u64,
    /// The account that holds the escrowed funds.
    pub held_by: Address,
    #[serde(flatten)]
    pub refs: RefsView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingOrderView {
    pub id: Hash,
    pub owner: Address,
    pub to: Address,
    pub asset: Option<Hash>,
    pub amount: String,
    /// `{"blocks": n}` or `{"ms": n}`.
    pub period: serde_json::Value,
    pub remaining: Option<u32>,
    /// `retry` or `stop`.
    pub on_failure: String,
    pub paid: u32,
    pub failed: u32,
    /// Height or block time (by the period) of the next payment.
    pub next_due: u64,
    pub last_attempt_height: Option<u64>,
    /// 0 when the last attempt paid; its refusal code otherwise.
    pub last_attempt_code: Option<u32>,
    pub created_height: u64,
    #[serde(flatten)]
    pub refs: RefsView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceView {
    pub id: Hash,
    pub payee: Address,
    pub asset: Option<Hash>,
    pub amount: String,
    pub expires_ms: Option<u64>,
    /// `open`, `paid`, `expired` or `cancelled` (at the head's block time).
    pub status: String,
    pub payer: Option<Address>,
    pub settled_height: Option<u64>,
    pub created_height: u64,
    #[serde(flatten)]
    pub refs: RefsView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountOptionsView {
    pub address: Address,
    pub require_destination_tag: bool,
}

fn escrow_view(id: Hash, e: &Escrow) -> EscrowView {
    EscrowView {
        id,
        sender: e.sender,
        to: e.to,
        asset: e.asset,
        amount: e.amount.to_string(),
        finish_after_ms: e.finish_after_ms,
        cancel_after_ms: e.cancel_after_ms,
        condition: e.condition,
        created_height: e.created_height,
        held_by: crate::modules::payments::escrow_account(),
        refs: (&e.refs).into(),
    }
}

fn order_view(id: Hash, o: &StandingOrder) -> StandingOrderView {
    StandingOrderView {
        id,
        owner: o.owner,
        to: o.to,
        asset: o.asset,
        amount: o.amount.to_string(),
        period: match o.period {
            Period::Blocks(n) => serde_json::json!({ "blocks": n }),
            Period::Millis(n) => serde_json::json!({ "ms": n }),
        },
        remaining: o.remaining,
        on_failure: match o.on_failure {
            OnFailure::Retry => "retry",
            OnFailure::Stop => "stop",
        }
        .into(),
        paid: o.paid,
        failed: o.failed,
        next_due: o.next_due,
        last_attempt_height: o.last.as_ref().map(|a| a.height),
        last_attempt_code: o.last.as_ref().map(|a| a.code),
        created_height: o.created_height,
        refs: (&o.refs).into(),
    }
}

fn invoice_view(id: Hash, inv: &Invoice, now_ms: u64) -> InvoiceView {
    let (payer, settled_height) = match inv.status {
        InvoiceStatus::Open => (None, None),
        InvoiceStatus::Paid { payer, height } => (Some(payer), Some(height)),
        InvoiceStatus::Cancelled { height } => (None, Some(height)),
    };
    InvoiceView {
        id,
        payee: inv.payee,
        asset: inv.asset,
        amount: inv.amount.to_string(),
        expires_ms: inv.expires_ms,
        status: inv.status_name(now_ms).into(),
        payer,
        settled_height,
        created_height: inv.created_height,
        refs: (&inv.refs).into(),
    }
}

/// The payments a transaction made, by output, with what kind of call made them.
fn orders_of(call: &PaymentsCall) -> (&'static str, &[PaymentOrder]) {
    let kind = match call {
        PaymentsCall::Batch(_) => "batch",
        PaymentsCall::EscrowCreate { .. } => "escrow",
        _ => "pay",
    };
    (kind, payment_orders(call))
}

/// Most transactions one reference lookup reads.
const REFERENCE_MATCHES_MAX: usize = 100;

impl Api {
    /// The payments of committed transaction `id` (one per output), empty when it made none.
    pub fn payments_of_tx(&self, id: Hash) -> Result<Vec<PaymentView>, ApiError> {
        let Some(view) = self.committed_view(id)? else {
            return Err(not_found(format!("no committed transaction {id}")));
        };
        let (Some(height), Some(index)) = (view.height, view.index) else {
            return Ok(Vec::new());
        };
        let Some(tx) = self.storage.block_tx(height, index).map_err(internal)? else {
            return Ok(Vec::new());
        };
        let Payload::Payments(call) = &tx.tx.payload else {
            return Ok(Vec::new());
        };
        let (kind, orders) = orders_of(call);
        Ok(orders
            .iter()
            .enumerate()
            .map(|(i, p)| PaymentView {
                transaction: id,
                output: i as u32,
                kind: kind.into(),
                status: view.status,
                height: view.height,
                from: tx.tx.sender,
                to: p.to,
                asset: p.asset,
                amount: p.amount.to_string(),
                refs: (&p.refs).into(),
                error: view.error.clone(),
                error_code: view.error_code,
                later: Vec::new(),
            })
            .collect())
    }

    /// The first payment listed under reference `digest` that `matches`, with the later
    /// transactions listed under it.
    fn payment_by_reference(
        &self,
        digest: Hash,
        what: &str,
        matches: impl Fn(&PaymentView) -> bool,
    ) -> Result<PaymentView, ApiError> {
        // Newest first: the first payment is the last one found.
        let locations = self
            .storage
            .account_history(&Address(digest.0), None, REFERENCE_MATCHES_MAX)
            .map_err(internal)?;
        let mut found: Vec<PaymentView> = Vec::new();
        for loc in locations.iter().rev() {
            let Some(tx) = self
                .storage
                .block_tx(loc.height, loc.index)
                .map_err(internal)?
            else {
                continue;
            };
            found.extend(
                self.payments_of_tx(tx.id)?
                    .into_iter()
                    .filter(&matches)
                    .take(1),
            );
        }
        let mut first = found
            .first()
            .cloned()
            .ok_or_else(|| not_found(format!("no payment with {what}")))?;
        first.later = found.iter().skip(1).map(|p| p.transaction).collect();
        Ok(first)
    }

    /// `payments_getByUetr`: the payment with this UETR.
    pub fn payment_by_uetr(&self, uetr: &str) -> Result<PaymentView, ApiError> {
        let u = Uetr::parse(uetr)
            .map_err(|e| ApiError::new(ErrorCode::InvalidParams, e.to_string()))?;
        let text = u.to_string();
        self.payment_by_reference(uetr_digest(&u), &format!("UETR {u}"), |p| {
            p.refs.uetr.as_deref() == Some(text.as_str())
        })
    }

    /// `payments_getByEndToEndId`: `sender`'s payment with this end-to-end id.
    pub fn payment_by_end_to_end_id(
        &self,
        sender: &Address,
        e2e: &str,
    ) -> Result<PaymentView, ApiError> {
        self.payment_by_reference(
            end_to_end_digest(sender, e2e),
            &format!("end-to-end id {e2e:?} from {sender}"),
            |p| p.from == *sender && p.refs.end_to_end_id.as_deref() == Some(e2e),
        )
    }

    pub fn escrow(&self, id: &Hash) -> Result<EscrowView, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        let e = query::escrow(&reader, id).map_err(internal)?;
        e.map(|e| escrow_view(*id, &e)).ok_or_else(|| {
            not_found(format!(
                "no open escrow {id} (unknown, finished or cancelled)"
            ))
        })
    }

    pub fn standing_order(&self, id: &Hash) -> Result<StandingOrderView, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        let o = query::standing_order(&reader, id).map_err(internal)?;
        o.map(|o| order_view(*id, &o)).ok_or_else(|| {
            not_found(format!(
                "no active standing order {id} (unknown, ended or cancelled)"
            ))
        })
    }

    pub fn invoice(&self, id: &Hash) -> Result<InvoiceView, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        let now = reader.head().map_err(internal)?.timestamp_ms;
        let inv = query::invoice(&reader, id).map_err(internal)?;
        inv.map(|inv| invoice_view(*id, &inv, now))
            .ok_or_else(|| not_found(format!("unknown invoice {id}")))
    }

    pub fn account_options(&self, address: &Address) -> Result<AccountOptionsView, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        let o = query::account_options(&reader, address).map_err(internal)?;
        Ok(AccountOptionsView {
            address: *address,
            require_destination_tag: o.require_destination_tag,
        })
    }

    /// An account's objects of one kind, a page at a time, through `view`.
    fn objects_page<T>(
        &self,
        address: &Address,
        kind: u8,
        cursor: Option<&str>,
        limit: Option<usize>,
        view: impl Fn(&Self, &Hash) -> Result<T, ApiError>,
    ) -> Result<PageView<T>, ApiError> {
        let after: Option<Hash> = parse_key_cursor(cursor)?;
        let reader = self.storage.reader().map_err(internal)?;
        let (ids, next) = query::objects_of(
            &reader,
            address,
            kind,
            after.as_ref(),
            limit.unwrap_or(PAGE_DEFAULT),
        )
        .map_err(internal)?;
        drop(reader);
        let items = ids
            .iter()
            .map(|id| view(self, id))
            .collect::<Result<_, _>>()?;
        Ok(PageView {
            items,
            next_cursor: next.map(|h| h.to_string()),
        })
    }

    /// `payments_getEscrows`: open escrows `address` sends or receives.
    pub fn escrows_of(
        &self,
        address: &Address,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<PageView<EscrowView>, ApiError> {
        self.objects_page(address, OBJECT_ESCROW, cursor, limit, Self::escrow)
    }

    /// `payments_getStandingOrders`: `address`'s active standing orders.
    pub fn standing_orders_of(
        &self,
        address: &Address,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<PageView<StandingOrderView>, ApiError> {
        self.objects_page(address, OBJECT_ORDER, cursor, limit, Self::standing_order)
    }

    /// `payments_getInvoices`: invoices `address` issued.
    pub fn invoices_of(
        &self,
        address: &Address,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<PageView<InvoiceView>, ApiError> {
        self.objects_page(address, OBJECT_INVOICE, cursor, limit, Self::invoice)
    }
}
