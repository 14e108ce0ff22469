//! The identity module (payload tag 3): DIDs (`did:mamey`), the trusted issuers registry, claims
//! and their on-chain status lists.
//!
//! Owns: DID documents and every version of them (W3C DID Core; resolution in `did.rs`), which
//! addresses may issue which claim types (EBSI's trusted issuers registry, kept by the authority
//! set in genesis), claims about addresses and DIDs, and each issuer's Bitstring Status Lists
//! (revocation and suspension) that verifiable credentials point at.
//!
//! Invariants: only a DID's controllers change it, and a deactivated DID never changes again;
//! every change is a new version and old versions stay resolvable; only a trusted issuer issues a
//! claim of a type it is trusted for, and only it changes the claim's status; revocation is final;
//! a claim counts only while its issuer is trusted for its type, before its expiry and unless it
//! is suspended (`LiveClaim::current`, read by compliance). Every call is serial (declares
//! nothing): identity state is *settled* within a parallel block, which is what lets compliance
//! declare reads from it.

mod apply;
pub mod calls;
pub mod did;
pub mod error;
pub mod query;
pub mod state;
#[cfg(test)]
mod tests;
pub mod vc;

use serde::{Deserialize, Serialize};

use super::Module;
use crate::codec::{DecodeError, Reader};
use crate::execution::{Applied, BlockEnv, ChainParams, Overlay, StateView, TxError};
use crate::types::{Address, Transaction};

pub use calls::{
    claim_id, did_id, ClaimId, ClaimType, DidDocument, DidId, IdentityCall, Service, StatusChange,
    Subject, VerificationMethod,
};
pub use error::IdentityError;
pub use state::{Claim, LiveClaim, Purpose, TrustedIssuer};

/// Identity parameters, fixed by genesis (`[identity]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityParams {
    /// The module's feature switch.
    pub enabled: bool,
    /// Keeps the trusted issuers registry (governance later). None: the registry cannot change.
    pub authority: Option<Address>,
    /// Most live (unrevoked) claims about one subject, at most 64.
    pub claims_per_subject_max: u32,
}

impl Default for IdentityParams {
    fn default() -> Self {
        Self {
            enabled: true,
            authority: None,
            claims_per_subject_max: 32,
        }
    }
}

impl IdentityParams {
    pub fn validate(&self) -> Result<(), String> {
        if self.claims_per_subject_max == 0
            || self.claims_per_subject_max as usize > state::LIVE_CLAIMS_MAX
        {
            return Err(format!(
                "identity.claims_per_subject_max must be between 1 and {}",
                state::LIVE_CLAIMS_MAX
            ));
        }
        Ok(())
    }
}

/// The identity module.
pub struct Identity;

impl Module for Identity {
    const TAG: u8 = 3;
    const NAME: &'static str = "identity";
    type Call = IdentityCall;

    fn encode_call(call: &IdentityCall, out: &mut Vec<u8>) {
        calls::encode(call, out)
    }

    fn decode_call(r: &mut Reader<'_>) -> Result<IdentityCall, DecodeError> {
        calls::decode(r)
    }

    fn check_static(
        call: &IdentityCall,
        _tx: &Transaction,
        params: &ChainParams,
    ) -> Result<(), TxError> {
        if !params.identity.enabled {
            return Err(IdentityError::Disabled.into());
        }
        apply::check_static(call).map_err(TxError::from)
    }

    fn apply<V: StateView>(
        overlay: &mut Overlay<'_, V>,
        params: &ChainParams,
        env: &BlockEnv,
        tx: &Transaction,
        call: &IdentityCall,
    ) -> Result<Result<Applied, TxError>, V::Error> {
        apply::apply(overlay, &params.identity, env, tx, call)
    }
}

/// `did:mamey:<32 hex digits>`.
pub fn did_string(did: &DidId) -> String {
    format!("did:mamey:{}", hex::encode(did))
}
