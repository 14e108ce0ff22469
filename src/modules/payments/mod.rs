//! The payments module (payload tag 5): payments with ISO 20022 references, batches, escrow,
//! standing orders and invoices, all settled through Banking's one transfer path (and so through
//! the compliance hook).
//!
//! Owns: each account's receiving options (XRPL's require-destination-tag); open escrows and the escrow
//! account that holds their funds; standing orders and their schedule; invoices.
//!
//! Invariants (property-tested in `tests.rs`):
//! - a payment is found by its UETR and by (sender, end-to-end id): the node's history index
//!   lists it under their digests ([`Module::references`]; node-local, so references cost
//!   consensus state nothing); two outputs of one batch never share one;
//! - an untagged payment to an account that requires a tag is refused, never credited;
//! - the escrow account holds, per asset, exactly the sum of the open escrows; only this module
//!   moves funds in or out of it (Banking refuses transfers to module accounts);
//! - an invoice is paid at most once; a paid, cancelled or expired invoice cannot be paid;
//! - standing orders run at the start of blocks, at most `standing_orders_per_block_max` per
//!   block, in schedule order (bucket, then the order they were scheduled); the rest wait and
//!   none is skipped or paid twice for one period; times are block times.

mod apply;
pub mod calls;
pub mod error;
pub mod query;
mod schedule;
pub mod state;
#[cfg(test)]
pub(crate) mod tests;

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::banking::transfer_access;
use super::{get, Access, Module};
use crate::codec::{DecodeError, Reader};
use crate::execution::{Applied, BlockEnv, ChainParams, Overlay, StateView, TxError};
use crate::types::{Address, Amount, Event, Hash, StateKey, Transaction};

pub use calls::{
    object_id, OnFailure, PaymentOrder, PaymentsCall, Period, References, Remittance, Uetr,
};
pub use error::PaymentsError;
pub use state::{Escrow, Invoice, InvoiceStatus, StandingOrder};

use state::{escrow_key, invoice_key, of_account_key, options_key, OBJECT_ESCROW, OBJECT_INVOICE};

/// Payments parameters, fixed by genesis (`[payments]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsParams {
    /// The module's feature switch.
    pub enabled: bool,
    /// Most outputs of one batch (at most 1,024, the protocol bound).
    pub batch_outputs_max: u32,
    /// Most standing orders run at the start of one block (the block's budget); the rest wait.
    pub standing_orders_per_block_max: u32,
    /// Most active standing orders of one owner.
    pub standing_orders_per_account_max: u32,
    /// Most active standing orders on the chain.
    pub standing_orders_max: u64,
}

impl Default for PaymentsParams {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_outputs_max: 256,
            standing_orders_per_block_max: 1_000,
            standing_orders_per_account_max: 100,
            standing_orders_max: 1_000_000,
        }
    }
}

impl PaymentsParams {
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_outputs_max == 0 || self.batch_outputs_max as usize > calls::BATCH_OUTPUTS_MAX
        {
            return Err(format!(
                "payments.batch_outputs_max must be between 1 and {}",
                calls::BATCH_OUTPUTS_MAX
            ));
        }
        if self.standing_orders_per_block_max == 0 || self.standing_orders_per_block_max > 100_000 {
            return Err(
                "payments.standing_orders_per_block_max must be between 1 and 100000".into(),
            );
        }
        if self.standing_orders_per_account_max == 0 || self.standing_orders_max == 0 {
            return Err("payments standing order limits must be at least 1".into());
        }
        Ok(())
    }
}

/// The account that holds the funds of open escrows. No key controls it (its address is a
/// hash); only this module moves funds out of it.
pub fn escrow_account() -> Address {
    static ACCOUNT: OnceLock<Address> = OnceLock::new();
    *ACCOUNT.get_or_init(|| {
        Address(Hash::sha256_tagged(b"mamey/module-account", &[b"payments/escrow"]).0)
    })
}

/// The payments module.
pub struct Payments;

impl Module for Payments {
    const TAG: u8 = 5;
    const NAME: &'static str = "payments";
    type Call = PaymentsCall;

    fn encode_call(call: &PaymentsCall, out: &mut Vec<u8>) {
        calls::encode(call, out)
    }

    fn decode_call(r: &mut Reader<'_>) -> Result<PaymentsCall, DecodeError> {
        calls::decode(r)
    }

    fn check_static(
        call: &PaymentsCall,
        _tx: &Transaction,
        params: &ChainParams,
    ) -> Result<(), TxError> {
        if !params.payments.enabled {
            return Err(PaymentsError::Disabled.into());
        }
        calls::check_static(call, params.payments.batch_outputs_max as usize)?;
        if Self::native_debit_checked(call).is_none() {
            return Err(TxError::AmountOverflow);
        }
        Ok(())
    }

    fn native_debit(call: &PaymentsCall) -> Amount {
        // Saturates: check_static refuses the calls whose native total overflows.
        Self::native_debit_checked(call).unwrap_or(Amount::MAX)
    }

    fn counterparty(call: &PaymentsCall) -> Option<&Address> {
        match call {
            PaymentsCall::Pay(p) => Some(&p.to),
            _ => None,
        }
    }

    fn access<S: StateView>(
        call: &PaymentsCall,
        tx: &Transaction,
        settled: &S,
    ) -> Result<Access, S::Error> {
        access(call, tx, settled)
    }

    /// A payment's and a batch's `payment` events: everything they say is in the call, so the
    /// hot path stores none.
    fn implied_events(call: &PaymentsCall, sender: &Address) -> Vec<Event> {
        match call {
            PaymentsCall::Pay(p) => vec![apply::payment_event(sender, p, None)],
            PaymentsCall::Batch(outputs) => outputs
                .iter()
                .enumerate()
                .map(|(i, p)| apply::payment_event(sender, p, Some(i)))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn parties(call: &PaymentsCall) -> Vec<Address> {
        match call {
            PaymentsCall::Batch(outputs) => outputs.iter().map(|o| o.to).collect(),
            _ => Vec::new(),
        }
    }

    fn references(call: &PaymentsCall, sender: &Address) -> Vec<Hash> {
        let mut out = Vec::new();
        for p in calls::payment_orders(call) {
            out.extend(p.refs.uetr.as_ref().map(calls::uetr_digest));
            out.extend(
                p.refs
                    .indexed_end_to_end_id()
                    .map(|e| calls::end_to_end_digest(sender, e)),
            );
        }
        out
    }

    /// A single payment checks everything before it writes (the hot path saves the journal).
    fn may_fail_after_writing(call: &PaymentsCall) -> bool {
        !matches!(call, PaymentsCall::Pay(_))
    }

    fn apply<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
        tx: &Transaction,
        call: &PaymentsCall,
    ) -> Result<Result<Applied, TxError>, V::Error> {
        apply::apply(overlay, params, env, tx, call)
    }

    fn begin_block<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
    ) -> Result<Vec<Event>, V::Error> {
        schedule::run_due(overlay, &params.payments, env)
    }
}

impl Payments {
    /// Native funds a call moves out of the sender at once, `None` on overflow.
    fn native_debit_checked(call: &PaymentsCall) -> Option<Amount> {
        let native = |p: &PaymentOrder| if p.asset.is_none() { p.amount } else { 0 };
        let total: u128 = match call {
            PaymentsCall::Pay(p) | PaymentsCall::EscrowCreate { payment: p, .. } => native(p),
            PaymentsCall::Batch(outputs) => outputs.iter().map(native).sum(),
            _ => 0,
        };
        u64::try_from(total).ok()
    }
}

/// What a payment declares: the recipient's options, and the movement.
fn payment_access<S: StateView>(
    settled: &S,
    from: &Address,
    p: &PaymentOrder,
    accounts: &mut Vec<Address>,
    reads: &mut Vec<StateKey>,
    writes: &mut Vec<StateKey>,
) -> Result<(), S::Error> {
    reads.push(options_key(&p.to));
    movement(
        settled,
        p.asset.as_ref(),
        from,
        &p.to,
        accounts,
        reads,
        writes,
    )
}

/// A movement of `asset` (native when `None`) from `from` to `to`.
fn movement<S: StateView>(
    settled: &S,
    asset: Option<&Hash>,
    from: &Address,
    to: &Address,
    accounts: &mut Vec<Address>,
    reads: &mut Vec<StateKey>,
    writes: &mut Vec<StateKey>,
) -> Result<(), S::Error> {
    match asset {
        None => {
            accounts.push(*from);
            accounts.push(*to);
            Ok(())
        }
        Some(asset) => transfer_access(settled, asset, from, to, reads, writes),
    }
}

fn access<S: StateView>(
    call: &PaymentsCall,
    tx: &Transaction,
    settled: &S,
) -> Result<Access, S::Error> {
    let sender = &tx.sender;
    let mut accounts = Vec::new();
    let mut reads = Vec::new();
    let mut writes = Vec::new();
    match call {
        PaymentsCall::Pay(p) => {
            payment_access(settled, sender, p, &mut accounts, &mut reads, &mut writes)?;
        }
        PaymentsCall::Batch(outputs) => {
            for p in outputs {
                payment_access(settled, sender, p, &mut accounts, &mut reads, &mut writes)?;
            }
        }
        PaymentsCall::SetAccountOptions { .. } => writes.push(options_key(sender)),
        PaymentsCall::EscrowCreate { payment, .. } => {
            let id = object_id("escrow", sender, tx.nonce);
            reads.push(options_key(&payment.to));
            let escrow = escrow_account();
            movement(
                settled,
                payment.asset.as_ref(),
                sender,
                &escrow,
                &mut accounts,
                &mut reads,
                &mut writes,
            )?;
            writes.push(escrow_key(&id));
            writes.push(of_account_key(sender, OBJECT_ESCROW, &id));
            writes.push(of_account_key(&payment.to, OBJECT_ESCROW, &id));
        }
        PaymentsCall::EscrowFinish { escrow: id, .. }
        | PaymentsCall::EscrowCancel { escrow: id } => {
            // What an escrow pays, to whom, never changes: declared from the settled state. One
            // created in this block is not there yet, and its block runs serially.
            let key = escrow_key(id);
            let Some(e) = get::<Escrow, S>(settled, &key)? else {
                return Ok(Access::Serial);
            };
            let to = if matches!(call, PaymentsCall::EscrowFinish { .. }) {
                e.to
            } else {
                e.sender
            };
            movement(
                settled,
                e.asset.as_ref(),
                &escrow_account(),
                &to,
                &mut accounts,
                &mut reads,
                &mut writes,
            )?;
            writes.push(key);
            writes.push(of_account_key(&e.sender, OBJECT_ESCROW, id));
            writes.push(of_account_key(&e.to, OBJECT_ESCROW, id));
        }
        PaymentsCall::InvoiceCreate { .. } => {
            let id = object_id("invoice", sender, tx.nonce);
            writes.push(invoice_key(&id));
            writes.push(of_account_key(sender, OBJECT_INVOICE, &id));
        }
        PaymentsCall::InvoicePay { invoice: id } | PaymentsCall::InvoiceCancel { invoice: id } => {
            let key = invoice_key(id);
            let Some(inv) = get::<Invoice, S>(settled, &key)? else {
                return Ok(Access::Serial);
            };
            if matches!(call, PaymentsCall::InvoicePay { .. }) {
                movement(
                    settled,
                    inv.asset.as_ref(),
                    sender,
                    &inv.payee,
                    &mut accounts,
                    &mut reads,
                    &mut writes,
                )?;
            }
            writes.push(key);
        }
        // Standing orders share the schedule with the block's start: serial.
        PaymentsCall::StandingOrderCreate { .. } | PaymentsCall::StandingOrderCancel { .. } => {
            return Ok(Access::Serial)
        }
    }
    Ok(Access::Keys {
        accounts,
        reads,
        writes,
    })
}
