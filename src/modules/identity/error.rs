//! Identity's refusals: codes 10300–10399 (INTERFACES §10), each message naming the object and
//! the reason.

use thiserror::Error;

use super::calls::ClaimType;
use super::Identity;
use crate::execution::{ModuleError, TxError};
use crate::modules::Module;
use crate::types::{Address, Hash};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdentityError {
    #[error("invalid DID document: {0}")]
    InvalidDocument(String),
    #[error("unknown DID did:mamey:{}", hex::encode(.0))]
    UnknownDid([u8; 16]),
    #[error("{sender} is not a controller of did:mamey:{}", hex::encode(.did))]
    NotController { did: [u8; 16], sender: Address },
    #[error("did:mamey:{} is deactivated: it can no longer change", hex::encode(.0))]
    Deactivated([u8; 16]),
    #[error("{0} is not the identity authority of this chain")]
    NotAuthority(Address),
    #[error("{issuer} is not a trusted issuer of {} claims", .claim_type.name())]
    UntrustedIssuer {
        issuer: Address,
        claim_type: ClaimType,
    },
    #[error("unknown claim {}", .0.to_hex())]
    UnknownClaim(Hash),
    #[error("claim {} was issued by {issuer}, not by {sender}", .claim.to_hex())]
    NotClaimIssuer {
        claim: Hash,
        issuer: Address,
        sender: Address,
    },
    #[error("claim {} is revoked: revocation is final", .0.to_hex())]
    ClaimRevoked(Hash),
    #[error("the subject already has {max} live claims: the issuer must revoke one first")]
    TooManyClaims { max: usize },
    #[error("the identity module is disabled in this chain's genesis")]
    Disabled,
    #[error("did:mamey:{} already exists", hex::encode(.0))]
    DidExists([u8; 16]),
    #[error("invalid claim: {0}")]
    InvalidClaim(String),
    #[error("this chain has no identity authority (genesis [identity] authority)")]
    NoAuthority,
}

impl IdentityError {
    pub fn code(&self) -> u32 {
        match self {
            IdentityError::InvalidDocument(_) => 10300,
            IdentityError::UnknownDid(_) => 10301,
            IdentityError::NotController { .. } => 10302,
            IdentityError::Deactivated(_) => 10303,
            IdentityError::NotAuthority(_) => 10304,
            IdentityError::UntrustedIssuer { .. } => 10305,
            IdentityError::UnknownClaim(_) => 10306,
            IdentityError::NotClaimIssuer { .. } => 10307,
            IdentityError::ClaimRevoked(_) => 10308,
            IdentityError::TooManyClaims { .. } => 10309,
            IdentityError::Disabled => 10310,
            IdentityError::DidExists(_) => 10311,
            IdentityError::InvalidClaim(_) => 10312,
            IdentityError::NoAuthority => 10313,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            IdentityError::InvalidDocument(_) => "invalid_did_document",
            IdentityError::UnknownDid(_) => "unknown_did",
            IdentityError::NotController { .. } => "not_controller",
            IdentityError::Deactivated(_) => "did_deactivated",
            IdentityError::NotAuthority(_) => "not_identity_authority",
            IdentityError::UntrustedIssuer { .. } => "untrusted_issuer",
            IdentityError::UnknownClaim(_) => "unknown_claim",
            IdentityError::NotClaimIssuer { .. } => "not_claim_issuer",
            IdentityError::ClaimRevoked(_) => "claim_revoked",
            IdentityError::TooManyClaims { .. } => "too_many_claims",
            IdentityError::Disabled => "identity_disabled",
            IdentityError::DidExists(_) => "did_exists",
            IdentityError::InvalidClaim(_) => "invalid_claim",
            IdentityError::NoAuthority => "no_identity_authority",
        }
    }
}

impl From<IdentityError> for TxError {
    fn from(e: IdentityError) -> Self {
        TxError::Module(ModuleError {
            module: Identity::TAG,
            code: e.code(),
            reason: e.reason(),
            message: e.to_string(),
            record: None,
        })
    }
}
