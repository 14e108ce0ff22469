//! Compliance's refusals: codes 10400–10499 (INTERFACES §10). Those of a movement (10410 and
//! up) are kept on the record: the transaction is included, pays its fee, moves nothing, and
//! its receipt says which rule refused it.

use thiserror::Error;

use crate::execution::{ModuleError, TxError};
use crate::modules::Module;
use crate::types::{Address, AssetAmount, Hash};

use super::Compliance;

/// Which party of a movement a condition was checked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Sender,
    Receiver,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Sender => "sender",
            Side::Receiver => "receiver",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ComplianceError {
    #[error("{sender} is not the issuer of asset {}: only its issuer sets its rules", .asset.to_hex())]
    NotIssuer { asset: Hash, sender: Address },
    #[error("{0} is not the compliance authority of this chain")]
    NotAuthority(Address),
    #[error("this chain has no compliance authority (genesis [compliance] authority)")]
    NoAuthority,
    #[error("the compliance module is disabled in this chain's genesis")]
    Disabled,
    #[error("invalid rules: {0}")]
    InvalidRules(String),
    #[error("unknown asset {}", .0.to_hex())]
    UnknownAsset(Hash),
    #[error("a holder limit is set while the asset's supply is 0 (it has {supply}), so that the count starts exact")]
    HolderLimitNeedsZeroSupply { supply: AssetAmount },
    #[error("asset {} is paused by its issuer", .0.to_hex())]
    Paused(Hash),
    #[error("{address} is on the blocked list: it can neither send nor receive ({reason})")]
    Blocked { address: Address, reason: String },
    #[error("the {} {party} does not meet the rule \"{condition}\" of asset {}", .side.name(), .asset.to_hex())]
    Condition {
        asset: Hash,
        side: Side,
        party: Address,
        condition: String,
    },
    #[error("asset {} may have at most {max} holders: {to} cannot become one", .asset.to_hex())]
    MaxHolders { asset: Hash, max: u32, to: Address },
    #[error("{to} would hold {after} of asset {}, over its limit of {max} per holder", .asset.to_hex())]
    MaxBalance {
        asset: Hash,
        to: Address,
        after: AssetAmount,
        max: AssetAmount,
    },
    #[error("{from} may send at most {limit} of asset {} per {period_ms} ms: {sent} sent this period, {amount} more asked", .asset.to_hex())]
    Velocity {
        asset: Hash,
        from: Address,
        limit: AssetAmount,
        period_ms: u64,
        sent: AssetAmount,
        amount: AssetAmount,
    },
    #[error("transfers of {threshold} or more of asset {} must carry a travel-rule record (originator and beneficiary VASP, IVMS101 payload hash)", .asset.to_hex())]
    TravelRuleRequired { asset: Hash, threshold: AssetAmount },
}

impl ComplianceError {
    pub fn code(&self) -> u32 {
        match self {
            ComplianceError::NotIssuer { .. } => 10400,
            ComplianceError::NotAuthority(_) => 10401,
            ComplianceError::NoAuthority => 10402,
            ComplianceError::Disabled => 10403,
            ComplianceError::InvalidRules(_) => 10404,
            ComplianceError::UnknownAsset(_) => 10405,
            ComplianceError::HolderLimitNeedsZeroSupply { .. } => 10406,
            ComplianceError::Paused(_) => 10410,
            ComplianceError::Blocked { .. } => 10411,
            ComplianceError::Condition {
                side: Side::Sender, ..
            } => 10412,
            ComplianceError::Condition {
                side: Side::Receiver,
                ..
            } => 10413,
            ComplianceError::MaxHolders { .. } => 10414,
            ComplianceError::MaxBalance { .. } => 10415,
            ComplianceError::Velocity { .. } => 10416,
            ComplianceError::TravelRuleRequired { .. } => 10417,
        }
    }

    /// The rule a refusal names (machine-readable reason, metrics and reports).
    pub fn reason(&self) -> &'static str {
        match self {
            ComplianceError::NotIssuer { .. } => "not_asset_issuer",
            ComplianceError::NotAuthority(_) => "not_compliance_authority",
            ComplianceError::NoAuthority => "no_compliance_authority",
            ComplianceError::Disabled => "compliance_disabled",
            ComplianceError::InvalidRules(_) => "invalid_rules",
            ComplianceError::UnknownAsset(_) => "unknown_asset",
            ComplianceError::HolderLimitNeedsZeroSupply { .. } => "holder_limit_needs_zero_supply",
            ComplianceError::Paused(_) => "asset_paused",
            ComplianceError::Blocked { .. } => "blocked_address",
            ComplianceError::Condition {
                side: Side::Sender, ..
            } => "sender_condition",
            ComplianceError::Condition {
                side: Side::Receiver,
                ..
            } => "receiver_condition",
            ComplianceError::MaxHolders { .. } => "max_holders",
            ComplianceError::MaxBalance { .. } => "max_balance",
            ComplianceError::Velocity { .. } => "velocity_limit",
            ComplianceError::TravelRuleRequired { .. } => "travel_rule_required",
        }
    }

    /// A refusal of a movement (kept on the record), as opposed to a refused compliance call.
    pub fn is_movement_refusal(&self) -> bool {
        self.code() >= 10410
    }
}

impl ComplianceError {
    /// The runtime's form, with the event to record when it refuses a movement.
    pub fn into_module_error(self, record: Option<crate::types::Event>) -> ModuleError {
        ModuleError {
            module: Compliance::TAG,
            code: self.code(),
            reason: self.reason(),
            message: self.to_string(),
            record: record.map(Box::new),
        }
    }
}

impl From<ComplianceError> for TxError {
    fn from(e: ComplianceError) -> Self {
        TxError::Module(e.into_module_error(None))
    }
}
