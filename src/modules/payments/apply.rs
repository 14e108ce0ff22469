//! Apply of every payments call, and the movements they make through Banking.
//!
//! A single payment checks everything before it writes (the hot path runs without the runtime's
//! savepoint); every other call charges the sender first and is undone by the savepoint when it
//! refuses. Events name every party, so histories and streams find them.

use sha2::{Digest, Sha256};

use super::calls::{object_id, PaymentOrder, PaymentsCall, Period, References, Remittance};
use super::error::PaymentsError;
use super::schedule;
use super::state::{
    active_key, escrow_key, invoice_key, of_account_key, options_key, order_key, owner_count_key,
    AccountOptions, Count, Escrow, Invoice, InvoiceStatus, StandingOrder, OBJECT_ESCROW,
    OBJECT_INVOICE, OBJECT_ORDER,
};
use super::{escrow_account, Payments};
use crate::codec::Encode;
use crate::execution::{Applied, BlockEnv, ChainParams, Overlay, StateView, TxError};
use crate::modules::banking::native::{
    check_sender, credit, debit_sender, move_native, paid_first,
};
use crate::modules::banking::{transfer_for_module, AssetId};
use crate::modules::{put, read, write, Module};
use crate::types::{Address, AssetAmount, AttrValue, Event, Hash, Transaction};

/// The value of a step, or the refusal returned at once.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e.into())),
        }
    };
}

type Step<T> = Result<T, PaymentsError>;

pub(super) fn event(kind: &str, attributes: Vec<(&str, AttrValue)>) -> Event {
    Event {
        module: Payments::TAG,
        kind: kind.into(),
        attributes: attributes
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

/// The attributes of a movement and its references.
pub(super) fn payment_attrs<'a>(
    from: &Address,
    to: &Address,
    asset: Option<&AssetId>,
    amount: AssetAmount,
    refs: &References,
) -> Vec<(&'a str, AttrValue)> {
    let mut a = vec![
        ("from", AttrValue::Address(*from)),
        ("to", AttrValue::Address(*to)),
    ];
    if let Some(asset) = asset {
        a.push(("asset", AttrValue::Id(*asset)));
    }
    a.push(("amount", AttrValue::Amount(amount)));
    if let Some(e) = &refs.end_to_end_id {
        a.push(("end_to_end_id", AttrValue::Text(e.clone())));
    }
    if let Some(u) = &refs.uetr {
        a.push(("uetr", AttrValue::Text(u.to_string())));
    }
    match &refs.remittance {
        Some(Remittance::Unstructured(t)) => a.push(("remittance", AttrValue::Text(t.clone()))),
        Some(Remittance::CreditorReference(t)) => {
            a.push(("creditor_reference", AttrValue::Text(t.clone())))
        }
        None => {}
    }
    if let Some(p) = &refs.purpose {
        a.push(("purpose", AttrValue::Text(p.clone())));
    }
    if let Some(t) = refs.destination_tag {
        a.push(("destination_tag", AttrValue::Amount(t.into())));
    }
    a
}

/// The `payment` event of a payment (`output`: its index in a batch). Implied by the call, never
/// stored (see `Module::implied_events`).
pub(super) fn payment_event(sender: &Address, p: &PaymentOrder, output: Option<usize>) -> Event {
    let mut attrs = payment_attrs(sender, &p.to, p.asset.as_ref(), p.amount, &p.refs);
    if let Some(i) = output {
        attrs.push(("output", AttrValue::Amount(i as u128)));
    }
    event("payment", attrs)
}

/// Refuses an untagged payment to an account that requires a tag.
pub(super) fn check_tag<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    to: &Address,
    refs: &References,
) -> Result<Step<()>, V::Error> {
    if refs.destination_tag.is_some() {
        return Ok(Ok(()));
    }
    let options: Option<AccountOptions> = read(overlay, &options_key(to))?;
    Ok(match options {
        Some(o) if o.require_destination_tag => {
            Err(PaymentsError::DestinationTagRequired { to: *to })
        }
        _ => Ok(()),
    })
}

/// Moves `amount` from `from` to `to` outside the sender's own debit: the native asset between
/// balances, an issued one through Banking (policy and transfer hook). Checks before it writes.
pub(super) fn move_funds<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    time_ms: u64,
    asset: Option<&AssetId>,
    from: &Address,
    to: &Address,
    amount: AssetAmount,
) -> Result<Step<Vec<Event>>, V::Error> {
    let Some(asset) = asset else {
        let amount = u64::try_from(amount).expect("native amounts are checked to fit u64");
        return Ok(move_native(overlay, from, to, amount)?
            .map_err(|held| PaymentsError::Underfunded {
                holder: *from,
                held: held.into(),
                needed: amount.into(),
            })
            .map(|()| Vec::new()));
    };
    Ok(
        transfer_for_module(overlay, time_ms, asset, from, to, amount, false, None)?
            .map_err(PaymentsError::Bank),
    )
}

/// Applies a payments call.
pub(super) fn apply<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
    tx: &Transaction,
    call: &PaymentsCall,
) -> Result<Result<Applied, TxError>, V::Error> {
    if let PaymentsCall::Pay(p) = call {
        return pay(overlay, env, tx, p);
    }
    // The sender pays first (its native outputs too); a refusal is undone by the savepoint.
    paid_first(
        overlay,
        tx,
        &env.proposer,
        Payments::native_debit(call),
        |overlay| apply_call(overlay, params, env, tx, call),
    )
}

/// One payment: every check first, then the writes.
fn pay<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    env: &BlockEnv,
    tx: &Transaction,
    p: &PaymentOrder,
) -> Result<Result<Applied, TxError>, V::Error> {
    // Native amounts are checked to fit u64 (check_static).
    let native = if p.asset.is_none() {
        p.amount as u64
    } else {
        0
    };
    let sender = match check_sender(overlay, tx, native)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    step!(check_tag(overlay, &p.to, &p.refs)?);
    // The `payment` event is implied by the call; only the hook's events are stored.
    let events = match &p.asset {
        None => {
            debit_sender(overlay, tx, sender, native);
            credit(overlay, &p.to, native)?;
            Vec::new()
        }
        Some(asset) => {
            // Banking checks everything before it writes: a refusal leaves nothing behind.
            let hook = step!(transfer_for_module(
                overlay,
                env.time_ms,
                asset,
                &tx.sender,
                &p.to,
                p.amount,
                false,
                None
            )?
            .map_err(PaymentsError::Bank));
            debit_sender(overlay, tx, sender, 0);
            hook
        }
    };
    credit(overlay, &env.proposer, tx.fee)?;
    Ok(Ok(Applied {
        fee_paid: tx.fee,
        events,
        refused: None,
    }))
}

/// Every call but the single payment, after the sender paid its fee and native outputs.
fn apply_call<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    params: &ChainParams,
    env: &BlockEnv,
    tx: &Transaction,
    call: &PaymentsCall,
) -> Result<Step<Vec<Event>>, V::Error> {
    let sender = tx.sender;
    let now = env.time_ms;
    let mut events = Vec::new();
    match call {
        PaymentsCall::Pay(_) => unreachable!("single payments take their own path"),
        PaymentsCall::Batch(outputs) => {
            for (i, o) in outputs.iter().enumerate() {
                let in_output = |e| PaymentsError::InOutput {
                    index: i,
                    error: Box::new(e),
                };
                step!(check_tag(overlay, &o.to, &o.refs)?.map_err(in_output));
                match &o.asset {
                    // The sender paid every native output with its fee.
                    None => credit(overlay, &o.to, o.amount as u64)?,
                    Some(asset) => events.extend(step!(transfer_for_module(
                        overlay, now, asset, &sender, &o.to, o.amount, false, None
                    )?
                    .map_err(|e| in_output(PaymentsError::Bank(e))))),
                }
            }
            // Each output's `payment` event is implied by the call.
        }
        PaymentsCall::SetAccountOptions {
            require_destination_tag,
        } => {
            let options = AccountOptions {
                require_destination_tag: true,
            };
            put(
                overlay,
                options_key(&sender),
                require_destination_tag.then(|| options.to_bytes()),
            )?;
            events.push(event(
                "account_options",
                vec![
                    ("address", AttrValue::Address(sender)),
                    (
                        "require_destination_tag",
                        AttrValue::Text(require_destination_tag.to_string()),
                    ),
                ],
            ));
        }
        PaymentsCall::EscrowCreate {
            payment: p,
            finish_after_ms,
            cancel_after_ms,
            condition,
        } => {
            if let Some(c) = cancel_after_ms.filter(|c| *c <= now) {
                return Ok(Err(PaymentsError::TimeInPast {
                    at_ms: c,
                    now_ms: now,
                }));
            }
            step!(check_tag(overlay, &p.to, &p.refs)?);
            let escrow = escrow_account();
            match &p.asset {
                None => credit(overlay, &escrow, p.amount as u64)?,
                Some(asset) => events.extend(step!(transfer_for_module(
                    overlay, now, asset, &sender, &escrow, p.amount, false, None
                )?
                .map_err(PaymentsError::Bank))),
            }
            let eid = object_id("escrow", &sender, tx.nonce);
            let e = Escrow {
                sender,
                to: p.to,
                asset: p.asset,
                amount: p.amount,
                finish_after_ms: *finish_after_ms,
                cancel_after_ms: *cancel_after_ms,
                condition: *condition,
                refs: p.refs.clone(),
                created_height: env.height,
            };
            put(overlay, escrow_key(&eid), Some(e.to_bytes()))?;
            put(
                overlay,
                of_account_key(&sender, OBJECT_ESCROW, &eid),
                Some(Vec::new()),
            )?;
            put(
                overlay,
                of_account_key(&p.to, OBJECT_ESCROW, &eid),
                Some(Vec::new()),
            )?;
            let mut attrs = vec![("escrow", AttrValue::Id(eid))];
            attrs.extend(payment_attrs(
                &sender,
                &p.to,
                p.asset.as_ref(),
                p.amount,
                &p.refs,
            ));
            events.push(event("escrow_created", attrs));
        }
        PaymentsCall::EscrowFinish { escrow, preimage } => {
            let e = step!(open_escrow(overlay, escrow)?);
            if let Some(f) = e.finish_after_ms.filter(|f| now < *f) {
                return Ok(Err(PaymentsError::FinishTooEarly {
                    escrow: *escrow,
                    finish_after_ms: f,
                    now_ms: now,
                }));
            }
            if let Some(c) = e.cancel_after_ms.filter(|c| now >= *c) {
                return Ok(Err(PaymentsError::EscrowExpired {
                    escrow: *escrow,
                    cancel_after_ms: c,
                    now_ms: now,
                }));
            }
            if let Some(condition) = e.condition {
                let Some(preimage) = preimage else {
                    return Ok(Err(PaymentsError::PreimageRequired(*escrow)));
                };
                if Hash(Sha256::digest(preimage).into()) != condition {
                    return Ok(Err(PaymentsError::WrongPreimage(*escrow)));
                }
            }
            events.extend(step!(close_escrow(overlay, now, escrow, &e, e.to)?));
            let mut attrs = vec![
                ("escrow", AttrValue::Id(*escrow)),
                ("finisher", AttrValue::Address(sender)),
            ];
            attrs.extend(payment_attrs(
                &e.sender,
                &e.to,
                e.asset.as_ref(),
                e.amount,
                &e.refs,
            ));
            events.push(event("escrow_finished", attrs));
        }
        PaymentsCall::EscrowCancel { escrow } => {
            let e = step!(open_escrow(overlay, escrow)?);
            if e.sender != sender {
                return Ok(Err(PaymentsError::NotEscrowSender {
                    escrow: *escrow,
                    sender: e.sender,
                }));
            }
            let Some(cancel_after_ms) = e.cancel_after_ms else {
                return Ok(Err(PaymentsError::NotCancellable(*escrow)));
            };
            if now < cancel_after_ms {
                return Ok(Err(PaymentsError::CancelTooEarly {
                    escrow: *escrow,
                    cancel_after_ms,
                    now_ms: now,
                }));
            }
            events.extend(step!(close_escrow(overlay, now, escrow, &e, e.sender)?));
            let mut attrs = vec![("escrow", AttrValue::Id(*escrow))];
            attrs.extend(payment_attrs(
                &escrow_account(),
                &e.sender,
                e.asset.as_ref(),
                e.amount,
                &e.refs,
            ));
            events.push(event("escrow_cancelled", attrs));
        }
        PaymentsCall::StandingOrderCreate {
            payment: p,
            period,
            count,
            on_failure,
        } => {
            let per_owner = &params.payments.standing_orders_per_account_max;
            let owned = read::<Count, V>(overlay, &owner_count_key(&sender))?.map_or(0, |c| c.0);
            if owned >= u64::from(*per_owner) {
                return Ok(Err(PaymentsError::TooManyStandingOrders {
                    owner: sender,
                    max: *per_owner,
                }));
            }
            let active = read::<Count, V>(overlay, &active_key())?.map_or(0, |c| c.0);
            if active >= params.payments.standing_orders_max {
                return Ok(Err(PaymentsError::StandingOrdersFull {
                    max: params.payments.standing_orders_max,
                }));
            }
            step!(check_tag(overlay, &p.to, &p.refs)?);
            let oid = object_id("standing-order", &sender, tx.nonce);
            let next_due = match period {
                Period::Blocks(n) => env.height.saturating_add(*n),
                Period::Millis(ms) => now.saturating_add(*ms),
            };
            let order = StandingOrder {
                owner: sender,
                to: p.to,
                asset: p.asset,
                amount: p.amount,
                refs: p.refs.clone(),
                period: *period,
                remaining: *count,
                on_failure: *on_failure,
                paid: 0,
                failed: 0,
                next_due,
                last: None,
                created_height: env.height,
            };
            put(overlay, order_key(&oid), Some(order.to_bytes()))?;
            write(overlay, owner_count_key(&sender), &Count(owned + 1));
            write(overlay, active_key(), &Count(active + 1));
            put(
                overlay,
                of_account_key(&sender, OBJECT_ORDER, &oid),
                Some(Vec::new()),
            )?;
            if active == 0 {
                schedule::restart(overlay, env)?;
            }
            schedule::enqueue(overlay, env, &oid, period, next_due)?;
            let mut attrs = vec![
                ("standing_order", AttrValue::Id(oid)),
                ("next_due", AttrValue::Amount(next_due.into())),
            ];
            attrs.extend(payment_attrs(
                &sender,
                &p.to,
                p.asset.as_ref(),
                p.amount,
                &p.refs,
            ));
            events.push(event("standing_order_created", attrs));
        }
        PaymentsCall::StandingOrderCancel { order } => {
            let Some(o) = read::<StandingOrder, V>(overlay, &order_key(order))? else {
                return Ok(Err(PaymentsError::UnknownStandingOrder(*order)));
            };
            if o.owner != sender {
                return Ok(Err(PaymentsError::NotOrderOwner {
                    order: *order,
                    owner: o.owner,
                }));
            }
            schedule::remove_order(overlay, order, &o)?;
            events.push(event(
                "standing_order_cancelled",
                vec![
                    ("standing_order", AttrValue::Id(*order)),
                    ("owner", AttrValue::Address(o.owner)),
                    ("to", AttrValue::Address(o.to)),
                    ("paid", AttrValue::Amount(o.paid.into())),
                ],
            ));
        }
        PaymentsCall::InvoiceCreate {
            asset,
            amount,
            expires_ms,
            refs,
        } => {
            if let Some(e) = expires_ms.filter(|e| *e <= now) {
                return Ok(Err(PaymentsError::TimeInPast {
                    at_ms: e,
                    now_ms: now,
                }));
            }
            let iid = object_id("invoice", &sender, tx.nonce);
            let inv = Invoice {
                payee: sender,
                asset: *asset,
                amount: *amount,
                expires_ms: *expires_ms,
                refs: refs.clone(),
                status: InvoiceStatus::Open,
                created_height: env.height,
            };
            put(overlay, invoice_key(&iid), Some(inv.to_bytes()))?;
            put(
                overlay,
                of_account_key(&sender, OBJECT_INVOICE, &iid),
                Some(Vec::new()),
            )?;
            let mut attrs = vec![("invoice", AttrValue::Id(iid))];
            attrs.extend(payment_attrs(
                &sender,
                &sender,
                asset.as_ref(),
                *amount,
                refs,
            ));
            attrs.retain(|(k, _)| *k != "from");
            events.push(event("invoice_created", attrs));
        }
        PaymentsCall::InvoicePay { invoice } => {
            let mut inv = step!(open_invoice(overlay, invoice, now)?);
            let payee = inv.payee;
            events.extend(step!(move_funds(
                overlay,
                now,
                inv.asset.as_ref(),
                &sender,
                &payee,
                inv.amount
            )?));
            inv.status = InvoiceStatus::Paid {
                payer: sender,
                height: env.height,
            };
            write(overlay, invoice_key(invoice), &inv);
            let mut attrs = vec![("invoice", AttrValue::Id(*invoice))];
            attrs.extend(payment_attrs(
                &sender,
                &payee,
                inv.asset.as_ref(),
                inv.amount,
                &inv.refs,
            ));
            events.push(event("invoice_paid", attrs));
        }
        PaymentsCall::InvoiceCancel { invoice } => {
            let Some(mut inv) = read::<Invoice, V>(overlay, &invoice_key(invoice))? else {
                return Ok(Err(PaymentsError::UnknownInvoice(*invoice)));
            };
            if inv.payee != sender {
                return Ok(Err(PaymentsError::NotPayee {
                    invoice: *invoice,
                    payee: inv.payee,
                }));
            }
            // An expired invoice may still be cancelled (it is open on the ledger).
            if inv.status != InvoiceStatus::Open {
                return Ok(Err(PaymentsError::InvoiceNotOpen {
                    invoice: *invoice,
                    status: inv.status_name(now),
                }));
            }
            inv.status = InvoiceStatus::Cancelled { height: env.height };
            write(overlay, invoice_key(invoice), &inv);
            events.push(event(
                "invoice_cancelled",
                vec![
                    ("invoice", AttrValue::Id(*invoice)),
                    ("payee", AttrValue::Address(sender)),
                ],
            ));
        }
    }
    Ok(Ok(events))
}

fn open_escrow<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    id: &Hash,
) -> Result<Step<Escrow>, V::Error> {
    Ok(read::<Escrow, V>(overlay, &escrow_key(id))?.ok_or(PaymentsError::UnknownEscrow(*id)))
}

/// Pays an escrow's funds out of the escrow account to `to` and forgets it.
fn close_escrow<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    now: u64,
    id: &Hash,
    e: &Escrow,
    to: Address,
) -> Result<Step<Vec<Event>>, V::Error> {
    let events = match move_funds(
        overlay,
        now,
        e.asset.as_ref(),
        &escrow_account(),
        &to,
        e.amount,
    )? {
        Ok(ev) => ev,
        Err(PaymentsError::Underfunded { .. }) => {
            panic!("the escrow account holds every open escrow: escrow {id:?} is not covered")
        }
        Err(err) => return Ok(Err(err)),
    };
    overlay.write(escrow_key(id), None);
    put(overlay, of_account_key(&e.sender, OBJECT_ESCROW, id), None)?;
    put(overlay, of_account_key(&e.to, OBJECT_ESCROW, id), None)?;
    Ok(Ok(events))
}

/// An invoice that may be paid now.
fn open_invoice<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    id: &Hash,
    now: u64,
) -> Result<Step<Invoice>, V::Error> {
    let Some(inv) = read::<Invoice, V>(overlay, &invoice_key(id))? else {
        return Ok(Err(PaymentsError::UnknownInvoice(*id)));
    };
    if inv.status != InvoiceStatus::Open {
        return Ok(Err(PaymentsError::InvoiceNotOpen {
            invoice: *id,
            status: inv.status_name(now),
        }));
    }
    if let Some(expires_ms) = inv.expires_ms.filter(|e| now >= *e) {
        return Ok(Err(PaymentsError::InvoiceExpired {
            invoice: *id,
            expires_ms,
            now_ms: now,
        }));
    }
    Ok(Ok(inv))
}
