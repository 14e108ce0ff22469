//! Payments' state in the generic module state.
//!
//! | key (after tag 5)                 | value                                                  |
//! |-----------------------------------|--------------------------------------------------------|
//! | `3 | address`                     | [`AccountOptions`] (absent: the defaults)               |
//! | `4 | escrow id`                   | [`Escrow`], while it is open                            |
//! | `5 | order id`                    | [`StandingOrder`], while it is active                   |
//! | `6 | kind | bucket`               | [`Count`] of pages in a bucket of the schedule           |
//! | `7 | kind | bucket | page`        | [`DuePage`]: order ids due in that bucket, in order      |
//! | `8 | kind`                        | [`Cursor`]: where the schedule resumes                   |
//! | `9`                               | [`Count`] of active standing orders                      |
//! | `10 | owner`                      | [`Count`] of the owner's active standing orders          |
//! | `11 | invoice id`                 | [`Invoice`], for ever (its status is queryable)          |
//! | `12 | address | object kind | id` | empty: an escrow, order or invoice of the address        |
//!
//! Every entry is written by this module only. An escrow, order or invoice never changes what it
//! pays, to whom or in what once created: a declaration may read those from the settled state
//! (it is exact whenever the object existed before the block; when it did not, the call runs
//! serially).

use crate::codec::{
    put_opt, put_u128, put_u32, put_u64, put_u8, Decode, DecodeError, Encode, Reader,
};
use crate::modules::banking::AssetId;
use crate::modules::Module;
use crate::types::{Address, AssetAmount, Hash, Height, StateKey};

use super::calls::{
    encode_period, encode_refs, read_period, read_refs, OnFailure, Period, References,
};
use super::Payments;

// Keys 1 and 2 are not used (references are indexed by the node, not in consensus state).
const KEY_OPTIONS: u8 = 3;
const KEY_ESCROW: u8 = 4;
const KEY_ORDER: u8 = 5;
const KEY_BUCKET: u8 = 6;
const KEY_PAGE: u8 = 7;
const KEY_CURSOR: u8 = 8;
const KEY_ACTIVE: u8 = 9;
const KEY_OWNER_COUNT: u8 = 10;
const KEY_INVOICE: u8 = 11;
const KEY_OF_ACCOUNT: u8 = 12;

/// The kinds of objects an address's index lists.
pub const OBJECT_ESCROW: u8 = 1;
pub const OBJECT_ORDER: u8 = 2;
pub const OBJECT_INVOICE: u8 = 3;

/// The two schedules of standing orders: by height and by block time (in buckets of a second).
pub const SCHEDULE_HEIGHT: u8 = 0;
pub const SCHEDULE_TIME: u8 = 1;

pub fn options_key(address: &Address) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_OPTIONS], &address.0])
}

pub fn escrow_key(id: &Hash) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_ESCROW], &id.0])
}

pub fn order_key(id: &Hash) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_ORDER], &id.0])
}

pub fn bucket_key(kind: u8, bucket: u64) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_BUCKET, kind], &bucket.to_be_bytes()])
}

pub fn page_key(kind: u8, bucket: u64, page: u32) -> StateKey {
    StateKey::new(
        Payments::TAG,
        &[
            &[KEY_PAGE, kind],
            &bucket.to_be_bytes(),
            &page.to_be_bytes(),
        ],
    )
}

pub fn cursor_key(kind: u8) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_CURSOR, kind]])
}

pub fn active_key() -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_ACTIVE]])
}

pub fn owner_count_key(owner: &Address) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_OWNER_COUNT], &owner.0])
}

pub fn invoice_key(id: &Hash) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_INVOICE], &id.0])
}

pub fn of_account_key(address: &Address, kind: u8, id: &Hash) -> StateKey {
    StateKey::new(
        Payments::TAG,
        &[&[KEY_OF_ACCOUNT], &address.0, &[kind], &id.0],
    )
}

pub fn of_account_prefix(address: &Address, kind: u8) -> StateKey {
    StateKey::new(Payments::TAG, &[&[KEY_OF_ACCOUNT], &address.0, &[kind]])
}

/// An account's receiving options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountOptions {
    pub require_destination_tag: bool,
}

/// Funds locked for a recipient, held by the escrow account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escrow {
    pub sender: Address,
    pub to: Address,
    pub asset: Option<AssetId>,
    pub amount: AssetAmount,
    pub finish_after_ms: Option<u64>,
    pub cancel_after_ms: Option<u64>,
    pub condition: Option<Hash>,
    pub refs: References,
    pub created_height: Height,
}

/// The last attempt of a standing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub height: Height,
    /// 0 when it paid; the refusal's code otherwise.
    pub code: u32,
}

/// A recurring payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingOrder {
    pub owner: Address,
    pub to: Address,
    pub asset: Option<AssetId>,
    pub amount: AssetAmount,
    pub refs: References,
    pub period: Period,
    /// Payments left; `None`: until cancelled.
    pub remaining: Option<u32>,
    pub on_failure: OnFailure,
    pub paid: u32,
    pub failed: u32,
    /// The height or block time (by the period's kind) of the next payment.
    pub next_due: u64,
    pub last: Option<Attempt>,
    pub created_height: Height,
}

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceStatus {
    Open,
    Paid { payer: Address, height: Height },
    Cancelled { height: Height },
}

/// A payment request from its payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub payee: Address,
    pub asset: Option<AssetId>,
    pub amount: AssetAmount,
    pub expires_ms: Option<u64>,
    pub refs: References,
    pub status: InvoiceStatus,
    pub created_height: Height,
}

impl Invoice {
    /// `open`, `paid`, `expired` or `cancelled` at block time `now_ms`.
    pub fn status_name(&self, now_ms: u64) -> &'static str {
        match self.status {
            InvoiceStatus::Open if self.expires_ms.is_some_and(|e| now_ms >= e) => "expired",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid { .. } => "paid",
            InvoiceStatus::Cancelled { .. } => "cancelled",
        }
    }
}

/// Order ids due in one bucket of the schedule, in the order they were scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DuePage(pub Vec<Hash>);

/// Ids per page of the schedule.
pub const PAGE_LEN: usize = 32;

/// Where the schedule resumes: the bucket, its page and the position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub bucket: u64,
    pub page: u32,
    pub index: u32,
}

/// A counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count(pub u64);

const VERSION: u8 = 1;

fn put_asset(out: &mut Vec<u8>, a: &Option<AssetId>) {
    put_opt(out, a.as_ref(), |o, a| o.extend_from_slice(&a.0));
}

fn read_asset(r: &mut Reader<'_>) -> Result<Option<AssetId>, DecodeError> {
    r.opt("asset", |r| Ok(Hash(r.array("asset id")?)))
}

impl Encode for AccountOptions {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        put_u8(out, u8::from(self.require_destination_tag));
    }
}

impl Decode for AccountOptions {
    const WHAT: &'static str = "account options";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(AccountOptions {
            require_destination_tag: r.bool("require destination tag")?,
        })
    }
}

impl Encode for Escrow {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        out.extend_from_slice(&self.sender.0);
        out.extend_from_slice(&self.to.0);
        put_asset(out, &self.asset);
        put_u128(out, self.amount);
        put_opt(out, self.finish_after_ms, put_u64);
        put_opt(out, self.cancel_after_ms, put_u64);
        put_opt(out, self.condition.as_ref(), |o, h| {
            o.extend_from_slice(&h.0)
        });
        encode_refs(&self.refs, out);
        put_u64(out, self.created_height);
    }
}

impl Decode for Escrow {
    const WHAT: &'static str = "escrow";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(Escrow {
            sender: Address(r.array("sender")?),
            to: Address(r.array("recipient")?),
            asset: read_asset(r)?,
            amount: r.u128("amount")?,
            finish_after_ms: r.opt("finish after", |r| r.u64("finish after"))?,
            cancel_after_ms: r.opt("cancel after", |r| r.u64("cancel after"))?,
            condition: r.opt("condition", |r| Ok(Hash(r.array("condition")?)))?,
            refs: read_refs(r)?,
            created_height: r.u64("created height")?,
        })
    }
}

impl Encode for StandingOrder {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        out.extend_from_slice(&self.owner.0);
        out.extend_from_slice(&self.to.0);
        put_asset(out, &self.asset);
        put_u128(out, self.amount);
        encode_refs(&self.refs, out);
        encode_period(&self.period, out);
        put_opt(out, self.remaining, put_u32);
        put_u8(out, u8::from(self.on_failure == OnFailure::Stop));
        put_u32(out, self.paid);
        put_u32(out, self.failed);
        put_u64(out, self.next_due);
        put_opt(out, self.last.as_ref(), |o, a| {
            put_u64(o, a.height);
            put_u32(o, a.code);
        });
        put_u64(out, self.created_height);
    }
}

impl Decode for StandingOrder {
    const WHAT: &'static str = "standing order";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(StandingOrder {
            owner: Address(r.array("owner")?),
            to: Address(r.array("recipient")?),
            asset: read_asset(r)?,
            amount: r.u128("amount")?,
            refs: read_refs(r)?,
            period: read_period(r)?,
            remaining: r.opt("remaining", |r| r.u32("remaining"))?,
            on_failure: if r.bool("stop on failure")? {
                OnFailure::Stop
            } else {
                OnFailure::Retry
            },
            paid: r.u32("paid")?,
            failed: r.u32("failed")?,
            next_due: r.u64("next due")?,
            last: r.opt("last attempt", |r| {
                Ok(Attempt {
                    height: r.u64("attempt height")?,
                    code: r.u32("attempt code")?,
                })
            })?,
            created_height: r.u64("created height")?,
        })
    }
}

impl Encode for Invoice {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        out.extend_from_slice(&self.payee.0);
        put_asset(out, &self.asset);
        put_u128(out, self.amount);
        put_opt(out, self.expires_ms, put_u64);
        encode_refs(&self.refs, out);
        match self.status {
            InvoiceStatus::Open => put_u8(out, 0),
            InvoiceStatus::Paid { payer, height } => {
                put_u8(out, 1);
                out.extend_from_slice(&payer.0);
                put_u64(out, height);
            }
            InvoiceStatus::Cancelled { height } => {
                put_u8(out, 2);
                put_u64(out, height);
            }
        }
        put_u64(out, self.created_height);
    }
}

impl Decode for Invoice {
    const WHAT: &'static str = "invoice";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(Invoice {
            payee: Address(r.array("payee")?),
            asset: read_asset(r)?,
            amount: r.u128("amount")?,
            expires_ms: r.opt("expiry", |r| r.u64("expiry"))?,
            refs: read_refs(r)?,
            status: match r.u8("invoice status")? {
                0 => InvoiceStatus::Open,
                1 => InvoiceStatus::Paid {
                    payer: Address(r.array("payer")?),
                    height: r.u64("paid height")?,
                },
                2 => InvoiceStatus::Cancelled {
                    height: r.u64("cancelled height")?,
                },
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "invoice status",
                        tag,
                    })
                }
            },
            created_height: r.u64("created height")?,
        })
    }
}

impl Encode for DuePage {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u32(out, u32::try_from(self.0.len()).expect("pages are bounded"));
        for id in &self.0 {
            out.extend_from_slice(&id.0);
        }
    }
}

impl Decode for DuePage {
    const WHAT: &'static str = "schedule page";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.len_prefix("schedule page", PAGE_LEN, 32)?;
        (0..n)
            .map(|_| Ok(Hash(r.array("order id")?)))
            .collect::<Result<_, _>>()
            .map(DuePage)
    }
}

impl Encode for Cursor {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u64(out, self.bucket);
        put_u32(out, self.page);
        put_u32(out, self.index);
    }
}

impl Decode for Cursor {
    const WHAT: &'static str = "schedule cursor";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Cursor {
            bucket: r.u64("bucket")?,
            page: r.u32("page")?,
            index: r.u32("index")?,
        })
    }
}

impl Encode for Count {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u64(out, self.0);
    }
}

impl Decode for Count {
    const WHAT: &'static str = "count";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Count(r.u64("count")?))
    }
}
