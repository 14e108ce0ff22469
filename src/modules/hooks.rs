//! The runtime's one transfer hook: every movement of an issued asset (Banking's transfers,
//! multi-send outputs and mints, and what later modules settle through Banking) passes through
//! [`on_movement`] before anything is written, so no module can forget the compliance rules.
//!
//! The hook declares its state with the movement's ([`movement_access`]), evaluates
//! deterministically, and either refuses (a refusal kept on the record) or lets the movement go
//! with the counters it keeps updated and the event of the decision.

use crate::execution::{ModuleError, Overlay, StateView};
use crate::types::{Address, AssetAmount, Event, Hash, StateKey};

use super::compliance;

/// Longest VASP identifier of a travel-rule record.
pub const VASP_ID_LEN_MAX: usize = 64;

/// A FATF Recommendation 16 record a transfer carries: the originating and beneficiary VASPs
/// (e.g. LEIs) and the SHA-256 of the encrypted IVMS101 payload they exchanged off chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TravelRecord {
    pub originator_vasp: String,
    pub beneficiary_vasp: String,
    pub payload_hash: Hash,
}

/// One movement of an issued asset, with the balances it leaves.
#[derive(Debug, Clone, Copy)]
pub struct Movement<'a> {
    pub asset: &'a Hash,
    pub issuer: &'a Address,
    /// `None`: a mint.
    pub from: Option<&'a Address>,
    /// `None`: a burn or clawback (never refused; it keeps the holder count).
    pub to: Option<&'a Address>,
    pub amount: AssetAmount,
    /// The sender's holding after the movement (0 for a mint).
    pub from_after: AssetAmount,
    /// The receiver's holding before and after it.
    pub to_before: AssetAmount,
    pub to_after: AssetAmount,
    pub travel: Option<&'a TravelRecord>,
}

impl<'a> Movement<'a> {
    /// A transfer of `amount` from `from` (holding `held`) to `to` (holding `to_before`); to
    /// oneself it changes no holding.
    #[allow(clippy::too_many_arguments)]
    pub fn transfer(
        asset: &'a Hash,
        issuer: &'a Address,
        from: &'a Address,
        to: &'a Address,
        amount: AssetAmount,
        held: AssetAmount,
        to_before: AssetAmount,
        travel: Option<&'a TravelRecord>,
    ) -> Self {
        debug_assert!(held >= amount, "the sender's balance was checked first");
        let moves = from != to;
        Movement {
            asset,
            issuer,
            from: Some(from),
            to: Some(to),
            amount,
            from_after: if moves { held - amount } else { held },
            to_before,
            to_after: if moves {
                to_before.saturating_add(amount)
            } else {
                to_before
            },
            travel,
        }
    }
}

/// Whether `address` is a module account: an address no key controls, whose balances are what a
/// module holds for others (escrows). Such an account is a custodian, not a party: the
/// compliance rules skip it (the final parties are checked when the module pays out), no
/// limit counts against it, and only its module moves funds in or out of it. The module accounts:
/// payments' escrow account and every DEX market's vault.
pub fn is_module_account(address: &Address) -> bool {
    *address == super::payments::escrow_account() || super::dex::is_vault(address)
}

/// Adds what the hook reads and writes for a movement of `asset` between `from` and `to` to a
/// call's declaration, from the settled state (see `Module::access`).
pub fn movement_access<S: StateView>(
    settled: &S,
    asset: &Hash,
    from: Option<&Address>,
    to: Option<&Address>,
    reads: &mut Vec<StateKey>,
    writes: &mut Vec<StateKey>,
) -> Result<(), S::Error> {
    compliance::movement_access(settled, asset, from, to, reads, writes)
}

/// Lets `m` go (with the events of the decision, counters updated) or refuses it on the record.
pub fn on_movement<V: StateView>(
    overlay: &mut Overlay<'_, V>,
    time_ms: u64,
    m: &Movement<'_>,
) -> Result<Result<Option<Event>, ModuleError>, V::Error> {
    compliance::on_movement(overlay, time_ms, m)
}
