//! The banking module (payload tag 1): the native asset's transfers, and issued assets beside it.
//!
//! Owns: native balances and nonces (the accounts, with their fast path in execution), issued
//! assets with their policy, holdings, and the index of what each address holds. Fees are always
//! paid in the native asset.
//!
//! Invariants (property-tested in `tests.rs`): every asset's holdings add up to its supply, and the
//! supply never exceeds the maximum; only mint adds to a supply, only burn and clawback take from
//! it; a call that is refused writes nothing (the runtime's savepoint); a policy flag, once given
//! up, never comes back. Policy follows XRPL issued tokens and Stellar assets: clawback only at
//! creation, a frozen holder may only send back to the issuer, a global freeze stops everything but
//! transfers to and from the issuer, auth-required assets reach only authorized holders.

mod assets;
pub mod calls;
pub mod error;
mod events;
pub mod native;
pub mod query;
pub mod state;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use super::hooks::is_module_account;
use super::{Access, Module};
use crate::codec::{DecodeError, Reader};
use crate::execution::{Applied, BlockEnv, ChainParams, Overlay, StateView, TxError};
use crate::types::{Address, Amount, AssetAmount, Transaction};

pub(crate) use assets::{transfer_access, transfer_for_module};
pub use calls::{asset_id, AssetId, BankCall, Output, Policy, Renounce, TravelRecord};
pub use error::BankingError;
pub use state::{AssetInfo, Holding};

/// Banking parameters, fixed by genesis (`[banking]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BankingParams {
    /// Issued assets can be created and moved (the feature switch; native transfers always work).
    pub assets_enabled: bool,
    /// Most outputs of one multi-send (at most 64, the protocol bound).
    pub multi_send_outputs_max: u32,
}

impl Default for BankingParams {
    fn default() -> Self {
        Self {
            assets_enabled: true,
            multi_send_outputs_max: 32,
        }
    }
}

impl BankingParams {
    pub fn validate(&self) -> Result<(), String> {
        if self.multi_send_outputs_max == 0
            || self.multi_send_outputs_max as usize > calls::OUTPUTS_MAX
        {
            return Err(format!(
                "banking.multi_send_outputs_max must be between 1 and {}",
                calls::OUTPUTS_MAX
            ));
        }
        Ok(())
    }
}

/// The banking module.
pub struct Banking;

impl Module for Banking {
    const TAG: u8 = 1;
    const NAME: &'static str = "banking";
    type Call = BankCall;

    fn encode_call(call: &BankCall, out: &mut Vec<u8>) {
        calls::encode(call, out)
    }

    fn decode_call(r: &mut Reader<'_>) -> Result<BankCall, DecodeError> {
        calls::decode(r)
    }

    fn check_static(
        call: &BankCall,
        _tx: &Transaction,
        params: &ChainParams,
    ) -> Result<(), TxError> {
        // A module account's balance is what its module holds (escrows add up to it): only its
        // module moves funds in or out.
        let to_module = match call {
            BankCall::Transfer { to, .. }
            | BankCall::TransferAsset { to, .. }
            | BankCall::TransferWithTravel { to, .. }
            | BankCall::Mint { to, .. } => is_module_account(to).then_some(to),
            BankCall::MultiSend { outputs } => outputs
                .iter()
                .map(|o| &o.to)
                .find(|to| is_module_account(to)),
            _ => None,
        };
        if let Some(to) = to_module {
            return Err(BankingError::ModuleAccount(*to).into());
        }
        if let BankCall::Transfer { amount, .. } = call {
            return if *amount == 0 {
                Err(TxError::ZeroAmount)
            } else {
                Ok(())
            };
        }
        if !params.banking.assets_enabled {
            return Err(BankingError::AssetsDisabled.into());
        }
        assets::check_static(call, &params.banking).map_err(TxError::from)?;
        if Self::native_debit_checked(call).is_none() {
            return Err(TxError::AmountOverflow);
        }
        Ok(())
    }

    fn native_debit(call: &BankCall) -> Amount {
        // Saturates: check_static refuses the calls whose native total overflows.
        Self::native_debit_checked(call).unwrap_or(Amount::MAX)
    }

    /// The `transfer` of a native or an issued-asset transfer (kept out of receipts so the hot
    /// paths write nothing more per transfer).
    fn implied_events(call: &BankCall, sender: &Address) -> Vec<crate::types::Event> {
        match call {
            BankCall::Transfer { to, amount } => {
                vec![events::transfer_event(
                    None,
                    sender,
                    to,
                    AssetAmount::from(*amount),
                )]
            }
            BankCall::TransferAsset { asset, to, amount }
            | BankCall::TransferWithTravel {
                asset, to, amount, ..
            } => vec![events::transfer_event(Some(asset), sender, to, *amount)],
            _ => Vec::new(),
        }
    }

    fn counterparty(call: &BankCall) -> Option<&Address> {
        match call {
            BankCall::Transfer { to, .. }
            | BankCall::TransferAsset { to, .. }
            | BankCall::TransferWithTravel { to, .. } => Some(to),
            _ => None,
        }
    }

    fn access<S: StateView>(
        call: &BankCall,
        tx: &Transaction,
        settled: &S,
    ) -> Result<Access, S::Error> {
        assets::access(call, &tx.sender, settled)
    }

    /// Transfers (native and issued, the hot paths) check everything before they write; the
    /// other calls run under the runtime's savepoint (a multi-send may fail at its fifth output
    /// after paying four).
    fn may_fail_after_writing(call: &BankCall) -> bool {
        !matches!(
            call,
            BankCall::Transfer { .. }
                | BankCall::TransferAsset { .. }
                | BankCall::TransferWithTravel { .. }
        )
    }

    fn apply<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        _params: &ChainParams,
        env: &BlockEnv,
        tx: &Transaction,
        call: &BankCall,
    ) -> Result<Result<Applied, TxError>, V::Error> {
        match call {
            BankCall::Transfer { to, amount } => {
                Ok(
                    native::apply_transfer(overlay, &env.proposer, tx, to, *amount)?.map(
                        |fee_paid| Applied {
                            fee_paid,
                            events: Vec::new(),
                            refused: None,
                        },
                    ),
                )
            }
            _ => assets::apply(overlay, env, tx, call),
        }
    }
}

impl Banking {
    /// Native funds a call moves out of the sender (native outputs of a multi-send), `None` on
    /// overflow.
    fn native_debit_checked(call: &BankCall) -> Option<Amount> {
        match call {
            BankCall::Transfer { amount, .. } => Some(*amount),
            BankCall::MultiSend { outputs } => outputs
                .iter()
                .filter(|o| o.asset.is_none())
                .try_fold(0u64, |sum, o| {
                    u64::try_from(o.amount)
                        .ok()
                        .and_then(|a| sum.checked_add(a))
                }),
            _ => Some(0),
        }
    }
}
