//! The native bank: balances, transfers, nonces and fees.

use crate::types::{Address, Amount, BankCall, Transaction};

use super::{Overlay, StateView, TxError};

/// Applies a bank call: checks everything first, then writes, so a failure leaves no trace.
/// Returns the fee paid.
pub(super) fn apply<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    proposer: &Address,
    tx: &Transaction,
    call: &BankCall,
) -> Result<Result<Amount, TxError>, V::Error> {
    match call {
        BankCall::Transfer { to, amount } => apply_transfer(overlay, proposer, tx, to, *amount),
    }
}

/// Transfer `amount` from the sender to `to`, paying `fee` to the block's proposer. The static
/// checks (chain, fee, amount) have passed.
fn apply_transfer<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    proposer: &Address,
    tx: &Transaction,
    to: &Address,
    amount: Amount,
) -> Result<Result<Amount, TxError>, V::Error> {
    debug_assert!(amount > 0, "check_static refuses zero amounts");
    let mut sender = overlay.get(&tx.sender)?;
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
    // Debit first and write back before reading the recipient and proposer, so that transfers to
    // oneself and by the proposer see their own debit.
    sender.balance -= needed;
    sender.nonce += 1;
    overlay.set(tx.sender, sender);

    let mut recipient = overlay.get(to)?;
    // Cannot overflow while total supply fits in u64, which genesis guarantees and every
    // transaction conserves.
    recipient.balance = recipient
        .balance
        .checked_add(amount)
        .expect("supply is conserved and fits in u64");
    overlay.set(*to, recipient);

    let mut fee_sink = overlay.get(proposer)?;
    fee_sink.balance = fee_sink
        .balance
        .checked_add(tx.fee)
        .expect("supply is conserved and fits in u64");
    overlay.set(*proposer, fee_sink);
    Ok(Ok(tx.fee))
}
