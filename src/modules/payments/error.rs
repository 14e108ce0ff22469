//! Payments' refusals: codes 10500–10599 (INTERFACES §10), each message naming the object and
//! the reason. A refusal by Banking on the way (funds, asset policy) keeps Banking's code, and a
//! compliance refusal is kept on the record with its own.

use thiserror::Error;

use super::calls::Uetr;
use super::Payments;
use crate::execution::{ModuleError, TxError};
use crate::modules::banking::{AssetId, BankingError};
use crate::modules::Module;
use crate::types::{Address, AssetAmount, Hash};

fn asset_name(a: &Option<AssetId>) -> String {
    a.map_or_else(
        || "the native asset".into(),
        |a| format!("asset {}", a.to_hex()),
    )
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentsError {
    #[error("invalid {field}: {reason}")]
    InvalidReference { field: &'static str, reason: String },
    #[error("invalid UETR {0}")]
    InvalidUetr(String),
    #[error("UETR {0} is on two outputs of the batch: a UETR identifies one payment")]
    DuplicateUetr(Uetr),
    #[error("end-to-end id {0:?} is on two outputs of the batch")]
    DuplicateEndToEndId(String),
    #[error(
        "{to} requires a destination tag: an untagged payment to it would be credited to nobody"
    )]
    DestinationTagRequired { to: Address },
    #[error("a batch needs at least one output")]
    NoOutputs,
    #[error("a batch has {got} outputs; this chain allows at most {max}")]
    TooManyOutputs { got: usize, max: usize },
    #[error("the batch pays {to} in {} twice: merge the outputs", asset_name(.asset))]
    DuplicateOutput { to: Address, asset: Option<AssetId> },
    #[error("output {index} of the batch: {error}")]
    InOutput {
        index: usize,
        error: Box<PaymentsError>,
    },
    #[error("an escrow needs a finish time or a condition (or both)")]
    EscrowNoCondition,
    #[error("cancel_after {cancel_after_ms} ms is not after finish_after {finish_after_ms} ms")]
    CancelBeforeFinish {
        finish_after_ms: u64,
        cancel_after_ms: u64,
    },
    #[error("unknown escrow {}", .0.to_hex())]
    UnknownEscrow(Hash),
    #[error("escrow {} cannot finish before {finish_after_ms} ms (block time {now_ms} ms)", .escrow.to_hex())]
    FinishTooEarly {
        escrow: Hash,
        finish_after_ms: u64,
        now_ms: u64,
    },
    #[error("escrow {} expired at {cancel_after_ms} ms (block time {now_ms} ms): it can only be cancelled", .escrow.to_hex())]
    EscrowExpired {
        escrow: Hash,
        cancel_after_ms: u64,
        now_ms: u64,
    },
    #[error("escrow {} needs the preimage of its condition", .0.to_hex())]
    PreimageRequired(Hash),
    #[error("the preimage does not match escrow {}'s condition", .0.to_hex())]
    WrongPreimage(Hash),
    #[error("only the sender {sender} of escrow {} may cancel it", .escrow.to_hex())]
    NotEscrowSender { escrow: Hash, sender: Address },
    #[error("escrow {} has no cancel time: it can only finish", .0.to_hex())]
    NotCancellable(Hash),
    #[error("escrow {} cannot be cancelled before {cancel_after_ms} ms (block time {now_ms} ms)", .escrow.to_hex())]
    CancelTooEarly {
        escrow: Hash,
        cancel_after_ms: u64,
        now_ms: u64,
    },
    #[error("unknown standing order {}", .0.to_hex())]
    UnknownStandingOrder(Hash),
    #[error("only the owner {owner} of standing order {} may cancel it", .order.to_hex())]
    NotOrderOwner { order: Hash, owner: Address },
    #[error("invalid period: {0}")]
    InvalidPeriod(String),
    #[error("unknown invoice {}", .0.to_hex())]
    UnknownInvoice(Hash),
    #[error("invoice {} is {status}: it can be paid or cancelled only while open", .invoice.to_hex())]
    InvoiceNotOpen { invoice: Hash, status: &'static str },
    #[error("invoice {} expired at {expires_ms} ms (block time {now_ms} ms)", .invoice.to_hex())]
    InvoiceExpired {
        invoice: Hash,
        expires_ms: u64,
        now_ms: u64,
    },
    #[error("only the payee {payee} of invoice {} may cancel it", .invoice.to_hex())]
    NotPayee { invoice: Hash, payee: Address },
    #[error("the payments module is disabled in this chain's genesis")]
    Disabled,
    #[error("amounts must be positive")]
    ZeroAmount,
    #[error("{0} does not fit the native asset's amounts (at most 2^64 - 1)")]
    NativeAmountTooLarge(AssetAmount),
    #[error("{0} is a module account: it cannot be paid directly")]
    ModuleAccount(Address),
    #[error("{at_ms} ms is not in the future (block time {now_ms} ms)")]
    TimeInPast { at_ms: u64, now_ms: u64 },
    #[error("{owner} already has {max} standing orders: cancel one first")]
    TooManyStandingOrders { owner: Address, max: u32 },
    #[error("this chain already has {max} standing orders")]
    StandingOrdersFull { max: u64 },
    #[error("{holder} holds {held} of the native asset, less than the {needed} to pay")]
    Underfunded {
        holder: Address,
        held: AssetAmount,
        needed: AssetAmount,
    },
    /// Banking refused the movement (its code is kept).
    #[error(transparent)]
    Bank(BankingError),
}

impl PaymentsError {
    /// The stable code (never reused for another meaning).
    pub fn code(&self) -> u32 {
        match self {
            PaymentsError::InvalidReference { .. } => 10500,
            PaymentsError::InvalidUetr(_) => 10501,
            PaymentsError::DuplicateUetr(_) => 10502,
            PaymentsError::DuplicateEndToEndId(_) => 10503,
            PaymentsError::DestinationTagRequired { .. } => 10504,
            PaymentsError::NoOutputs => 10505,
            PaymentsError::TooManyOutputs { .. } => 10506,
            PaymentsError::DuplicateOutput { .. } => 10507,
            PaymentsError::InOutput { error, .. } => error.code(),
            PaymentsError::EscrowNoCondition => 10508,
            PaymentsError::CancelBeforeFinish { .. } => 10509,
            PaymentsError::UnknownEscrow(_) => 10510,
            PaymentsError::FinishTooEarly { .. } => 10511,
            PaymentsError::EscrowExpired { .. } => 10512,
            PaymentsError::PreimageRequired(_) => 10513,
            PaymentsError::WrongPreimage(_) => 10514,
            PaymentsError::NotEscrowSender { .. } => 10515,
            PaymentsError::NotCancellable(_) => 10516,
            PaymentsError::CancelTooEarly { .. } => 10517,
            PaymentsError::UnknownStandingOrder(_) => 10518,
            PaymentsError::NotOrderOwner { .. } => 10519,
            PaymentsError::InvalidPeriod(_) => 10520,
            PaymentsError::UnknownInvoice(_) => 10521,
            PaymentsError::InvoiceNotOpen { .. } => 10522,
            PaymentsError::InvoiceExpired { .. } => 10523,
            PaymentsError::NotPayee { .. } => 10524,
            PaymentsError::Disabled => 10525,
            PaymentsError::ZeroAmount => 10526,
            PaymentsError::NativeAmountTooLarge(_) => 10527,
            PaymentsError::ModuleAccount(_) => 10528,
            PaymentsError::TimeInPast { .. } => 10529,
            PaymentsError::TooManyStandingOrders { .. } => 10530,
            PaymentsError::StandingOrdersFull { .. } => 10531,
            PaymentsError::Underfunded { .. } => 10532,
            PaymentsError::Bank(e) => e.code(),
        }
    }

    /// A short stable name (metrics label, machine-readable reason).
    pub fn reason(&self) -> &'static str {
        match self {
            PaymentsError::InvalidReference { .. } => "invalid_reference",
            PaymentsError::InvalidUetr(_) => "invalid_uetr",
            PaymentsError::DuplicateUetr(_) => "duplicate_uetr",
            PaymentsError::DuplicateEndToEndId(_) => "duplicate_end_to_end_id",
            PaymentsError::DestinationTagRequired { .. } => "destination_tag_required",
            PaymentsError::NoOutputs => "no_outputs",
            PaymentsError::TooManyOutputs { .. } => "too_many_outputs",
            PaymentsError::DuplicateOutput { .. } => "duplicate_output",
            PaymentsError::InOutput { error, .. } => error.reason(),
            PaymentsError::EscrowNoCondition => "escrow_no_condition",
            PaymentsError::CancelBeforeFinish { .. } => "cancel_before_finish",
            PaymentsError::UnknownEscrow(_) => "unknown_escrow",
            PaymentsError::FinishTooEarly { .. } => "escrow_finish_too_early",
            PaymentsError::EscrowExpired { .. } => "escrow_expired",
            PaymentsError::PreimageRequired(_) => "preimage_required",
            PaymentsError::WrongPreimage(_) => "wrong_preimage",
            PaymentsError::NotEscrowSender { .. } => "not_escrow_sender",
            PaymentsError::NotCancellable(_) => "escrow_not_cancellable",
            PaymentsError::CancelTooEarly { .. } => "escrow_cancel_too_early",
            PaymentsError::UnknownStandingOrder(_) => "unknown_standing_order",
            PaymentsError::NotOrderOwner { .. } => "not_order_owner",
            PaymentsError::InvalidPeriod(_) => "invalid_period",
            PaymentsError::UnknownInvoice(_) => "unknown_invoice",
            PaymentsError::InvoiceNotOpen { .. } => "invoice_not_open",
            PaymentsError::InvoiceExpired { .. } => "invoice_expired",
            PaymentsError::NotPayee { .. } => "not_payee",
            PaymentsError::Disabled => "payments_disabled",
            PaymentsError::ZeroAmount => "zero_payment_amount",
            PaymentsError::NativeAmountTooLarge(_) => "native_amount_too_large",
            PaymentsError::ModuleAccount(_) => "module_account",
            PaymentsError::TimeInPast { .. } => "time_in_past",
            PaymentsError::TooManyStandingOrders { .. } => "too_many_standing_orders",
            PaymentsError::StandingOrdersFull { .. } => "standing_orders_full",
            PaymentsError::Underfunded { .. } => "native_underfunded",
            PaymentsError::Bank(e) => e.reason(),
        }
    }
}

impl From<BankingError> for PaymentsError {
    fn from(e: BankingError) -> Self {
        PaymentsError::Bank(e)
    }
}

impl From<PaymentsError> for TxError {
    fn from(e: PaymentsError) -> Self {
        let e = match e {
            PaymentsError::Bank(b) => return b.into(),
            // Keep Banking's code (and a compliance refusal's record), naming the output.
            PaymentsError::InOutput { index, error } => match *error {
                PaymentsError::Bank(b) => {
                    return match TxError::from(b) {
                        TxError::Module(mut m) => {
                            m.message = format!("output {index} of the batch: {}", m.message);
                            TxError::Module(m)
                        }
                        other => other,
                    }
                }
                error => PaymentsError::InOutput {
                    index,
                    error: Box::new(error),
                },
            },
            e => e,
        };
        TxError::Module(ModuleError {
            module: Payments::TAG,
            code: e.code(),
            reason: e.reason(),
            message: e.to_string(),
            record: None,
        })
    }
}
