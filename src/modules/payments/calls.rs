//! Payments calls and their encoding (after payload tag 5), the ISO 20022 references a payment
//! carries, and the checks of them that need no state.
//!
//! References follow pacs.008: `EndToEndId` (Max35Text; "NOTPROVIDED" means none), `UETR` (a
//! UUID v4), remittance information either unstructured (`Ustrd`, at most 140 characters) or a
//! structured creditor reference (`Strd/CdtrRefInf`, an ISO 11649 `RF` reference whose check
//! digits are verified), and a purpose code (`Purp/Cd`, ExternalPurpose1Code: 1–4 letters or
//! digits). A destination tag (XRPL's) names the beneficiary inside a receiving account.

use crate::codec::{put_bytes, put_opt, put_str, put_u128, put_u32, put_u64, put_u8};
use crate::codec::{DecodeError, Reader};
use crate::modules::banking::AssetId;
use crate::types::{Address, AssetAmount, Hash};

use super::error::PaymentsError;

/// Longest end-to-end id (ISO 20022 Max35Text).
pub const END_TO_END_ID_LEN_MAX: usize = 35;
/// The end-to-end id ISO 20022 senders use when they have none: never indexed.
pub const END_TO_END_ID_NOT_PROVIDED: &str = "NOTPROVIDED";
/// Longest unstructured remittance information, in characters.
pub const REMITTANCE_LEN_MAX: usize = 140;
/// Longest ISO 11649 creditor reference (`RF` + 2 check digits + up to 21 characters).
pub const CREDITOR_REF_LEN_MAX: usize = 25;
/// Longest purpose code (ExternalPurpose1Code).
pub const PURPOSE_LEN_MAX: usize = 4;
/// Protocol bound on one batch's outputs (genesis `payments.batch_outputs_max` is at most this).
pub const BATCH_OUTPUTS_MAX: usize = 1024;
/// Longest escrow preimage (PREIMAGE-SHA-256 conditions allow up to 32 KiB; ours are short).
pub const PREIMAGE_LEN_MAX: usize = 256;
/// Shortest period of a standing order in block time (the schedule's time buckets are a second).
pub const PERIOD_MS_MIN: u64 = 1_000;

/// A Unique End-to-end Transaction Reference: a UUID v4 (RFC 9562), kept as its 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uetr(pub [u8; 16]);

impl Uetr {
    /// Whether the bytes are a UUID version 4 with the RFC 4122 variant.
    pub fn is_v4(&self) -> bool {
        self.0[6] >> 4 == 4 && self.0[8] >> 6 == 0b10
    }

    /// Parses the canonical text form (`8-4-4-4-12` hex digits, any case).
    pub fn parse(s: &str) -> Result<Self, PaymentsError> {
        let bad = |why: &str| PaymentsError::InvalidUetr(format!("{s:?}: {why}"));
        let groups: Vec<&str> = s.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lens != [8, 4, 4, 4, 12] {
            return Err(bad("expected 8-4-4-4-12 hex digits"));
        }
        let mut bytes = [0u8; 16];
        hex::decode_to_slice(groups.concat(), &mut bytes).map_err(|_| bad("not hex"))?;
        let u = Uetr(bytes);
        if !u.is_v4() {
            return Err(bad("not a UUID version 4 (RFC 4122 variant)"));
        }
        Ok(u)
    }
}

impl std::fmt::Display for Uetr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = hex::encode(self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// Remittance information: free text or a structured creditor reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remittance {
    Unstructured(String),
    CreditorReference(String),
}

/// The references a payment carries (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub end_to_end_id: Option<String>,
    pub uetr: Option<Uetr>,
    pub remittance: Option<Remittance>,
    pub purpose: Option<String>,
    pub destination_tag: Option<u32>,
}

impl References {
    /// The end-to-end id the payment is found by, if it has one ("NOTPROVIDED" is none).
    pub fn indexed_end_to_end_id(&self) -> Option<&str> {
        self.end_to_end_id
            .as_deref()
            .filter(|e| *e != END_TO_END_ID_NOT_PROVIDED)
    }

    /// The checks that need no state.
    pub fn validate(&self) -> Result<(), PaymentsError> {
        let invalid = |field: &'static str, reason: String| {
            Err(PaymentsError::InvalidReference { field, reason })
        };
        if let Some(e) = &self.end_to_end_id {
            let n = e.chars().count();
            if n == 0 || n > END_TO_END_ID_LEN_MAX || e.chars().any(char::is_control) {
                return invalid(
                    "end_to_end_id",
                    format!("1 to {END_TO_END_ID_LEN_MAX} characters, no control characters"),
                );
            }
        }
        if let Some(u) = &self.uetr {
            if !u.is_v4() {
                return Err(PaymentsError::InvalidUetr(format!(
                    "{u}: not a UUID version 4 (RFC 4122 variant)"
                )));
            }
        }
        match &self.remittance {
            Some(Remittance::Unstructured(t)) => {
                let n = t.chars().count();
                if n == 0 || n > REMITTANCE_LEN_MAX || t.chars().any(char::is_control) {
                    return invalid(
                        "remittance",
                        format!(
                            "unstructured remittance is 1 to {REMITTANCE_LEN_MAX} characters, no control characters (got {n})"
                        ),
                    );
                }
            }
            Some(Remittance::CreditorReference(r)) if !iso11649_valid(r) => {
                return invalid(
                    "creditor_reference",
                    format!("{r:?} is not an ISO 11649 reference (RF, 2 check digits, up to 21 letters or digits)"),
                );
            }
            Some(Remittance::CreditorReference(_)) | None => {}
        }
        if let Some(p) = &self.purpose {
            let ok = !p.is_empty()
                && p.len() <= PURPOSE_LEN_MAX
                && p.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !ok {
                return invalid(
                    "purpose",
                    format!(
                        "{p:?} is not an ISO 20022 purpose code (1 to 4 A-Z or 0-9, e.g. SALA)"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// ISO 11649: `RF`, two check digits, 1–21 alphanumerics; mod 97 of the rearranged digits is 1.
pub fn iso11649_valid(r: &str) -> bool {
    let b = r.as_bytes();
    if b.len() < 5 || b.len() > CREDITOR_REF_LEN_MAX || &b[..2] != b"RF" {
        return false;
    }
    if !b[2..4].iter().all(u8::is_ascii_digit) || !b[4..].iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// One payment: what moves, to whom, with its references. `asset: None` is the native asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentOrder {
    pub asset: Option<AssetId>,
    pub to: Address,
    pub amount: AssetAmount,
    pub refs: References,
}

/// How often a standing order pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Blocks(u64),
    Millis(u64),
}

/// What a standing order does after an attempt that cannot pay (funds, compliance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Try again at the next period.
    Retry,
    /// End the order.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentsCall {
    /// Pays one recipient, with references.
    Pay(PaymentOrder),
    /// Pays every output, all or nothing.
    Batch(Vec<PaymentOrder>),
    /// The sender's receiving options (XRPL's require-destination-tag flag).
    SetAccountOptions {
        require_destination_tag: bool,
    },
    /// Locks `amount` for `to` until the conditions hold.
    EscrowCreate {
        payment: PaymentOrder,
        finish_after_ms: Option<u64>,
        cancel_after_ms: Option<u64>,
        /// SHA-256 of the preimage that finishes it.
        condition: Option<Hash>,
    },
    EscrowFinish {
        escrow: Hash,
        preimage: Option<Vec<u8>>,
    },
    EscrowCancel {
        escrow: Hash,
    },
    StandingOrderCreate {
        payment: PaymentOrder,
        period: Period,
        /// How many payments; `None`: until cancelled.
        count: Option<u32>,
        on_failure: OnFailure,
    },
    StandingOrderCancel {
        order: Hash,
    },
    /// A payment request from its payee (the sender): `to` in the order is ignored and must be
    /// the sender.
    InvoiceCreate {
        asset: Option<AssetId>,
        amount: AssetAmount,
        expires_ms: Option<u64>,
        refs: References,
    },
    InvoicePay {
        invoice: Hash,
    },
    InvoiceCancel {
        invoice: Hash,
    },
}

const TAG_PAY: u8 = 1;
const TAG_BATCH: u8 = 2;
const TAG_ACCOUNT_OPTIONS: u8 = 3;
const TAG_ESCROW_CREATE: u8 = 4;
const TAG_ESCROW_FINISH: u8 = 5;
const TAG_ESCROW_CANCEL: u8 = 6;
const TAG_ORDER_CREATE: u8 = 7;
const TAG_ORDER_CANCEL: u8 = 8;
const TAG_INVOICE_CREATE: u8 = 9;
const TAG_INVOICE_PAY: u8 = 10;
const TAG_INVOICE_CANCEL: u8 = 11;

pub(super) fn encode_refs(r: &References, out: &mut Vec<u8>) {
    put_opt(out, r.end_to_end_id.as_deref(), put_str);
    put_opt(out, r.uetr.as_ref(), |o, u| o.extend_from_slice(&u.0));
    put_opt(out, r.remittance.as_ref(), |o, rem| match rem {
        Remittance::Unstructured(t) => {
            put_u8(o, 0);
            put_str(o, t);
        }
        Remittance::CreditorReference(t) => {
            put_u8(o, 1);
            put_str(o, t);
        }
    });
    put_opt(out, r.purpose.as_deref(), put_str);
    put_opt(out, r.destination_tag, put_u32);
}

pub(super) fn read_refs(r: &mut Reader<'_>) -> Result<References, DecodeError> {
    // Byte bounds are 4 bytes per character: the character bounds are checked statically.
    Ok(References {
        end_to_end_id: r.opt("end-to-end id", |r| {
            r.string("end-to-end id", 4 * END_TO_END_ID_LEN_MAX)
        })?,
        uetr: r.opt("uetr", |r| Ok(Uetr(r.array("uetr")?)))?,
        remittance: r.opt("remittance", |r| match r.u8("remittance kind")? {
            0 => Ok(Remittance::Unstructured(
                r.string("remittance", 4 * REMITTANCE_LEN_MAX)?,
            )),
            1 => Ok(Remittance::CreditorReference(
                r.string("creditor reference", CREDITOR_REF_LEN_MAX)?,
            )),
            tag => Err(DecodeError::UnknownTag {
                what: "remittance kind",
                tag,
            }),
        })?,
        purpose: r.opt("purpose", |r| r.string("purpose", PURPOSE_LEN_MAX))?,
        destination_tag: r.opt("destination tag", |r| r.u32("destination tag"))?,
    })
}

fn put_asset(out: &mut Vec<u8>, a: Option<&AssetId>) {
    put_opt(out, a, |o, a| o.extend_from_slice(&a.0));
}

fn read_asset(r: &mut Reader<'_>) -> Result<Option<AssetId>, DecodeError> {
    r.opt("asset", |r| Ok(Hash(r.array("asset id")?)))
}

fn put_order(out: &mut Vec<u8>, p: &PaymentOrder) {
    put_asset(out, p.asset.as_ref());
    out.extend_from_slice(&p.to.0);
    put_u128(out, p.amount);
    encode_refs(&p.refs, out);
}

fn read_order(r: &mut Reader<'_>) -> Result<PaymentOrder, DecodeError> {
    Ok(PaymentOrder {
        asset: read_asset(r)?,
        to: Address(r.array("recipient")?),
        amount: r.u128("amount")?,
        refs: read_refs(r)?,
    })
}

fn put_id(out: &mut Vec<u8>, h: &Hash) {
    out.extend_from_slice(&h.0);
}

fn read_id(r: &mut Reader<'_>, what: &'static str) -> Result<Hash, DecodeError> {
    Ok(Hash(r.array(what)?))
}

pub(super) fn encode(call: &PaymentsCall, out: &mut Vec<u8>) {
    match call {
        PaymentsCall::Pay(p) => {
            put_u8(out, TAG_PAY);
            put_order(out, p);
        }
        PaymentsCall::Batch(outputs) => {
            put_u8(out, TAG_BATCH);
            put_u32(
                out,
                u32::try_from(outputs.len()).expect("batches are bounded"),
            );
            for o in outputs {
                put_order(out, o);
            }
        }
        PaymentsCall::SetAccountOptions {
            require_destination_tag,
        } => {
            put_u8(out, TAG_ACCOUNT_OPTIONS);
            put_u8(out, u8::from(*require_destination_tag));
        }
        PaymentsCall::EscrowCreate {
            payment,
            finish_after_ms,
            cancel_after_ms,
            condition,
        } => {
            put_u8(out, TAG_ESCROW_CREATE);
            put_order(out, payment);
            put_opt(out, *finish_after_ms, put_u64);
            put_opt(out, *cancel_after_ms, put_u64);
            put_opt(out, condition.as_ref(), put_id);
        }
        PaymentsCall::EscrowFinish { escrow, preimage } => {
            put_u8(out, TAG_ESCROW_FINISH);
            put_id(out, escrow);
            put_opt(out, preimage.as_deref(), put_bytes);
        }
        PaymentsCall::EscrowCancel { escrow } => {
            put_u8(out, TAG_ESCROW_CANCEL);
            put_id(out, escrow);
        }
        PaymentsCall::StandingOrderCreate {
            payment,
            period,
            count,
            on_failure,
        } => {
            put_u8(out, TAG_ORDER_CREATE);
            put_order(out, payment);
            encode_period(period, out);
            put_opt(out, *count, put_u32);
            put_u8(out, matches!(on_failure, OnFailure::Stop).into());
        }
        PaymentsCall::StandingOrderCancel { order } => {
            put_u8(out, TAG_ORDER_CANCEL);
            put_id(out, order);
        }
        PaymentsCall::InvoiceCreate {
            asset,
            amount,
            expires_ms,
            refs,
        } => {
            put_u8(out, TAG_INVOICE_CREATE);
            put_asset(out, asset.as_ref());
            put_u128(out, *amount);
            put_opt(out, *expires_ms, put_u64);
            encode_refs(refs, out);
        }
        PaymentsCall::InvoicePay { invoice } => {
            put_u8(out, TAG_INVOICE_PAY);
            put_id(out, invoice);
        }
        PaymentsCall::InvoiceCancel { invoice } => {
            put_u8(out, TAG_INVOICE_CANCEL);
            put_id(out, invoice);
        }
    }
}

pub(super) fn encode_period(p: &Period, out: &mut Vec<u8>) {
    match p {
        Period::Blocks(n) => {
            put_u8(out, 0);
            put_u64(out, *n);
        }
        Period::Millis(n) => {
            put_u8(out, 1);
            put_u64(out, *n);
        }
    }
}

pub(super) fn read_period(r: &mut Reader<'_>) -> Result<Period, DecodeError> {
    match r.u8("period kind")? {
        0 => Ok(Period::Blocks(r.u64("period")?)),
        1 => Ok(Period::Millis(r.u64("period")?)),
        tag => Err(DecodeError::UnknownTag {
            what: "period kind",
            tag,
        }),
    }
}

pub(super) fn decode(r: &mut Reader<'_>) -> Result<PaymentsCall, DecodeError> {
    Ok(match r.u8("payments call")? {
        TAG_PAY => PaymentsCall::Pay(read_order(r)?),
        TAG_BATCH => {
            // An output is at least 32 + 16 + 6 bytes.
            let n = r.len_prefix("batch outputs", BATCH_OUTPUTS_MAX, 54)?;
            let mut outputs = Vec::with_capacity(n);
            for _ in 0..n {
                outputs.push(read_order(r)?);
            }
            PaymentsCall::Batch(outputs)
        }
        TAG_ACCOUNT_OPTIONS => PaymentsCall::SetAccountOptions {
            require_destination_tag: r.bool("require destination tag")?,
        },
        TAG_ESCROW_CREATE => PaymentsCall::EscrowCreate {
            payment: read_order(r)?,
            finish_after_ms: r.opt("finish after", |r| r.u64("finish after"))?,
            cancel_after_ms: r.opt("cancel after", |r| r.u64("cancel after"))?,
            condition: r.opt("condition", |r| read_id(r, "condition"))?,
        },
        TAG_ESCROW_FINISH => PaymentsCall::EscrowFinish {
            escrow: read_id(r, "escrow id")?,
            preimage: r.opt("preimage", |r| {
                Ok(r.bytes("preimage", PREIMAGE_LEN_MAX)?.to_vec())
            })?,
        },
        TAG_ESCROW_CANCEL => PaymentsCall::EscrowCancel {
            escrow: read_id(r, "escrow id")?,
        },
        TAG_ORDER_CREATE => PaymentsCall::StandingOrderCreate {
            payment: read_order(r)?,
            period: read_period(r)?,
            count: r.opt("count", |r| r.u32("count"))?,
            on_failure: if r.bool("stop on failure")? {
                OnFailure::Stop
            } else {
                OnFailure::Retry
            },
        },
        TAG_ORDER_CANCEL => PaymentsCall::StandingOrderCancel {
            order: read_id(r, "standing order id")?,
        },
        TAG_INVOICE_CREATE => PaymentsCall::InvoiceCreate {
            asset: read_asset(r)?,
            amount: r.u128("amount")?,
            expires_ms: r.opt("expiry", |r| r.u64("expiry"))?,
            refs: read_refs(r)?,
        },
        TAG_INVOICE_PAY => PaymentsCall::InvoicePay {
            invoice: read_id(r, "invoice id")?,
        },
        TAG_INVOICE_CANCEL => PaymentsCall::InvoiceCancel {
            invoice: read_id(r, "invoice id")?,
        },
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "payments call",
                tag,
            })
        }
    })
}

/// The checks of one payment that need no state.
fn check_order(p: &PaymentOrder) -> Result<(), PaymentsError> {
    if p.amount == 0 {
        return Err(PaymentsError::ZeroAmount);
    }
    if p.asset.is_none() && u64::try_from(p.amount).is_err() {
        return Err(PaymentsError::NativeAmountTooLarge(p.amount));
    }
    if crate::modules::hooks::is_module_account(&p.to) {
        return Err(PaymentsError::ModuleAccount(p.to));
    }
    p.refs.validate()
}

/// Every check of a call that needs no state.
pub(super) fn check_static(
    call: &PaymentsCall,
    batch_outputs_max: usize,
) -> Result<(), PaymentsError> {
    match call {
        PaymentsCall::Pay(p) => check_order(p),
        PaymentsCall::Batch(outputs) => {
            if outputs.is_empty() {
                return Err(PaymentsError::NoOutputs);
            }
            if outputs.len() > batch_outputs_max {
                return Err(PaymentsError::TooManyOutputs {
                    got: outputs.len(),
                    max: batch_outputs_max,
                });
            }
            let mut pairs: Vec<(&Address, Option<&AssetId>)> = Vec::with_capacity(outputs.len());
            let mut uetrs: Vec<&Uetr> = Vec::new();
            let mut e2e: Vec<&str> = Vec::new();
            for (i, o) in outputs.iter().enumerate() {
                check_order(o).map_err(|e| PaymentsError::InOutput {
                    index: i,
                    error: Box::new(e),
                })?;
                pairs.push((&o.to, o.asset.as_ref()));
                uetrs.extend(o.refs.uetr.as_ref());
                e2e.extend(o.refs.indexed_end_to_end_id());
            }
            pairs.sort_unstable();
            if let Some(w) = pairs.windows(2).find(|w| w[0] == w[1]) {
                return Err(PaymentsError::DuplicateOutput {
                    to: *w[0].0,
                    asset: w[0].1.copied(),
                });
            }
            uetrs.sort_unstable();
            if let Some(w) = uetrs.windows(2).find(|w| w[0] == w[1]) {
                return Err(PaymentsError::DuplicateUetr(*w[0]));
            }
            e2e.sort_unstable();
            if let Some(w) = e2e.windows(2).find(|w| w[0] == w[1]) {
                return Err(PaymentsError::DuplicateEndToEndId(w[0].to_string()));
            }
            Ok(())
        }
        PaymentsCall::EscrowCreate {
            payment,
            finish_after_ms,
            cancel_after_ms,
            condition,
        } => {
            check_order(payment)?;
            if finish_after_ms.is_none() && condition.is_none() {
                return Err(PaymentsError::EscrowNoCondition);
            }
            if let (Some(f), Some(c)) = (finish_after_ms, cancel_after_ms) {
                if c <= f {
                    return Err(PaymentsError::CancelBeforeFinish {
                        finish_after_ms: *f,
                        cancel_after_ms: *c,
                    });
                }
            }
            Ok(())
        }
        PaymentsCall::StandingOrderCreate {
            payment,
            period,
            count,
            ..
        } => {
            check_order(payment)?;
            if payment.refs.uetr.is_some() {
                return Err(PaymentsError::InvalidReference {
                    field: "uetr",
                    reason: "a standing order pays many times, and a UETR names one payment".into(),
                });
            }
            match period {
                Period::Blocks(0) => {
                    return Err(PaymentsError::InvalidPeriod(
                        "a period in blocks is at least 1".into(),
                    ))
                }
                Period::Millis(ms) if *ms < PERIOD_MS_MIN => {
                    return Err(PaymentsError::InvalidPeriod(format!(
                        "a period in block time is at least {PERIOD_MS_MIN} ms"
                    )))
                }
                _ => {}
            }
            if *count == Some(0) {
                return Err(PaymentsError::InvalidPeriod(
                    "a standing order pays at least once".into(),
                ));
            }
            Ok(())
        }
        PaymentsCall::InvoiceCreate {
            asset,
            amount,
            refs,
            ..
        } => {
            if *amount == 0 {
                return Err(PaymentsError::ZeroAmount);
            }
            if asset.is_none() && u64::try_from(*amount).is_err() {
                return Err(PaymentsError::NativeAmountTooLarge(*amount));
            }
            refs.validate()
        }
        PaymentsCall::SetAccountOptions { .. }
        | PaymentsCall::EscrowFinish { .. }
        | PaymentsCall::EscrowCancel { .. }
        | PaymentsCall::StandingOrderCancel { .. }
        | PaymentsCall::InvoicePay { .. }
        | PaymentsCall::InvoiceCancel { .. } => Ok(()),
    }
}

/// The digest the history index lists payments with UETR `u` under.
pub fn uetr_digest(u: &Uetr) -> Hash {
    Hash::sha256_tagged(b"mamey/payments/uetr", &[&u.0])
}

/// The digest the history index lists `sender`'s payments with end-to-end id `e2e` under.
pub fn end_to_end_digest(sender: &Address, e2e: &str) -> Hash {
    Hash::sha256_tagged(b"mamey/payments/e2e", &[&sender.0, e2e.as_bytes()])
}

/// The payments a call makes (a batch's outputs in order; the payment into an escrow).
pub fn payment_orders(call: &PaymentsCall) -> &[PaymentOrder] {
    match call {
        PaymentsCall::Pay(p) | PaymentsCall::EscrowCreate { payment: p, .. } => {
            std::slice::from_ref(p)
        }
        PaymentsCall::Batch(outputs) => outputs,
        _ => &[],
    }
}

/// The id of the escrow, standing order or invoice that `creator`'s transaction with `nonce`
/// creates (`kind` is `escrow`, `standing-order` or `invoice`).
pub fn object_id(kind: &str, creator: &Address, nonce: u64) -> Hash {
    Hash::sha256_tagged(
        format!("mamey/payments/{kind}").as_bytes(),
        &[&creator.0, &nonce.to_be_bytes()],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uetr_parses_v4_only() {
        let u = Uetr::parse("eb6305c9-1f7f-49de-aed0-16487c27b42d").expect("v4");
        assert_eq!(u.to_string(), "eb6305c9-1f7f-49de-aed0-16487c27b42d");
        assert!(Uetr::parse("eb6305c9-1f7f-19de-aed0-16487c27b42d").is_err()); // version 1
        assert!(Uetr::parse("eb6305c9-1f7f-49de-ced0-16487c27b42d").is_err()); // variant
        assert!(Uetr::parse("eb6305c91f7f49deaed016487c27b42d").is_err());
        assert!(Uetr::parse("zb6305c9-1f7f-49de-aed0-16487c27b42d").is_err());
    }

    #[test]
    fn creditor_references_are_checked() {
        assert!(iso11649_valid("RF18539007547034"));
        assert!(iso11649_valid("RF712348231"));
        assert!(!iso11649_valid("RF19539007547034"));
        assert!(!iso11649_valid("XX18539007547034"));
        assert!(!iso11649_valid("RF18"));
    }
}
