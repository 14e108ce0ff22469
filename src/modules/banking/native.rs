//! The native asset: balances, transfers, nonces and fees (the accounts; the hot path).

use crate::execution::{Applied, Overlay, StateView, TxError};
use crate::types::{Account, Address, Amount, Event, Transaction};

/// Transfer `amount` from the sender to `to`, paying `fee` to the block's proposer. The static
/// checks (chain, fee, amount) have passed.
pub(crate) fn apply_transfer<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    proposer: &Address,
    tx: &Transaction,
    to: &Address,
    amount: Amount,
) -> Result<Result<Amount, TxError>, V::Error> {
    debug_assert!(amount > 0, "check_static refuses zero amounts");
    let sender = match check_sender(overlay, tx, amount)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // Debit first and write back before reading the recipient and proposer, so that transfers to
    // oneself and by the proposer see their own debit.
    debit_sender(overlay, tx, sender, amount);
    credit(overlay, to, amount)?;
    credit(overlay, proposer, tx.fee)?;
    Ok(Ok(tx.fee))
}

/// The sender's account if `tx` may spend `amount` plus its fee from it: the right nonce and the
/// funds. Writes nothing.
pub(crate) fn check_sender<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    tx: &Transaction,
    amount: Amount,
) -> Result<Result<Account, TxError>, V::Error> {
    let sender = overlay.get(&tx.sender)?;
    if tx.nonce < sender.nonce {
        return Ok(Err(TxError::NonceTooLow {
            expected: sender.nonce,
            got: tx.nonce,
        }));
    }
    if tx.nonce > sender.nonce {
        return Ok(Err(TxError::NonceTooHigh {
            expected: sender.nonce,
            got: tx.nonce,
        }));
    }
    let Some(needed) = amount.checked_add(tx.fee) else {
        return Ok(Err(TxError::AmountOverflow));
    };
    if sender.balance < needed {
        return Ok(Err(TxError::InsufficientFunds {
            balance: sender.balance,
            needed,
        }));
    }
    Ok(Ok(sender))
}

/// Takes `amount` plus the fee from the sender that [`check_sender`] returned and uses its nonce.
pub(crate) fn debit_sender<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    tx: &Transaction,
    mut sender: Account,
    amount: Amount,
) {
    sender.balance -= amount + tx.fee;
    sender.nonce += 1;
    overlay.set(tx.sender, sender);
}

/// Adds `amount` to an account's balance.
pub(crate) fn credit<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    to: &Address,
    amount: Amount,
) -> Result<(), V::Error> {
    let mut account = overlay.get(to)?;
    // Cannot overflow while total supply fits in u64, which genesis guarantees and every
    // transaction conserves.
    account.balance = account
        .balance
        .checked_add(amount)
        .expect("supply is conserved and fits in u64");
    overlay.set(*to, account);
    Ok(())
}

/// Moves `amount` of the native asset from `from` to `to` for another module (escrow payouts,
/// standing orders, invoices): no nonce, no fee. `Err(held)` when `from` holds less, with nothing
/// written.
pub(crate) fn move_native<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    from: &Address,
    to: &Address,
    amount: Amount,
) -> Result<Result<(), Amount>, V::Error> {
    let mut account = overlay.get(from)?;
    if account.balance < amount {
        return Ok(Err(account.balance));
    }
    account.balance -= amount;
    overlay.set(*from, account);
    credit(overlay, to, amount)?;
    Ok(Ok(()))
}

/// Runs a call whose sender pays `native` (what the call moves out of its balance) and the fee
/// *before* the call runs, so that the call can pay out of them (batches, escrows): a refusal is
/// undone by the runtime's savepoint.
pub(crate) fn paid_first<'v, V: StateView, E: Into<TxError>>(
    overlay: &mut Overlay<'v, V>,
    tx: &Transaction,
    proposer: &Address,
    native: Amount,
    call: impl FnOnce(&mut Overlay<'v, V>) -> Result<Result<Vec<Event>, E>, V::Error>,
) -> Result<Result<Applied, TxError>, V::Error> {
    let sender = match check_sender(overlay, tx, native)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    debit_sender(overlay, tx, sender, native);
    let events = match call(overlay)? {
        Ok(events) => events,
        Err(e) => return Ok(Err(e.into())),
    };
    credit(overlay, proposer, tx.fee)?;
    Ok(Ok(Applied {
        fee_paid: tx.fee,
        events,
        refused: None,
    }))
}

/// Runs a call that moves no native funds but its fee (identity, compliance, a refusal kept on
/// the record): the sender's nonce and fee are checked first and charged once `call` succeeds,
/// so a refusal costs nothing (the runtime's savepoint undoes what the call wrote).
pub(crate) fn fee_only<'v, V: StateView, E: Into<TxError>>(
    overlay: &mut Overlay<'v, V>,
    tx: &Transaction,
    proposer: &Address,
    call: impl FnOnce(&mut Overlay<'v, V>) -> Result<Result<Vec<Event>, E>, V::Error>,
) -> Result<Result<Applied, TxError>, V::Error> {
    let sender = match check_sender(overlay, tx, 0)? {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let events = match call(overlay)? {
        Ok(events) => events,
        Err(e) => return Ok(Err(e.into())),
    };
    debit_sender(overlay, tx, sender, 0);
    credit(overlay, proposer, tx.fee)?;
    Ok(Ok(Applied {
        fee_paid: tx.fee,
        events,
        refused: None,
    }))
}
