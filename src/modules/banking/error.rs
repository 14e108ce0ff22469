//! Banking's refusals, with their stable codes (10100–10199, INTERFACES §10). Each message names
//! the asset (by symbol where the asset exists, and id) and the reason.

use thiserror::Error;

use super::calls::{AssetId, DECIMALS_MAX, NAME_LEN_MAX, SYMBOL_LEN_MAX, URI_LEN_MAX};
use super::Banking;
use crate::execution::{ModuleError, TxError};
use crate::modules::Module;
use crate::types::{Address, AssetAmount};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BankingError {
    #[error("unknown asset {0}")]
    UnknownAsset(AssetId),
    #[error("{issuer} already issued an asset with symbol {symbol} (id {id})")]
    AssetExists {
        issuer: Address,
        symbol: String,
        id: AssetId,
    },
    #[error("only the issuer {issuer} of {symbol} may do this; the sender is {sender}")]
    NotIssuer {
        symbol: String,
        issuer: Address,
        sender: Address,
    },
    #[error("decimals {0} are out of range: 0 to {DECIMALS_MAX}")]
    InvalidDecimals(u8),
    #[error("symbol {0:?} is invalid: 1 to {SYMBOL_LEN_MAX} characters A-Z, 0-9")]
    InvalidSymbol(String),
    #[error("asset name or metadata URI too long (name at most {NAME_LEN_MAX} bytes, URI at most {URI_LEN_MAX})")]
    InvalidText,
    #[error("minting {amount} {symbol} would take the supply {supply} past its maximum {max}")]
    MaxSupplyExceeded {
        symbol: String,
        supply: AssetAmount,
        amount: AssetAmount,
        max: AssetAmount,
    },
    #[error("{symbol} is not mintable (its issuer gave minting up or never had it)")]
    NotMintable { symbol: String },
    #[error("{holder} is frozen in {symbol}: it may only send back to the issuer")]
    HolderFrozen { symbol: String, holder: Address },
    #[error("{symbol} is frozen by its issuer: only transfers to and from the issuer go through")]
    AssetFrozen { symbol: String },
    #[error("{holder} is not authorized to hold {symbol} (the asset requires the issuer's authorization)")]
    NotAuthorized { symbol: String, holder: Address },
    #[error("{symbol} cannot be frozen (created without freezing, or the issuer gave it up)")]
    NotFreezable { symbol: String },
    #[error("{symbol} was created without clawback")]
    NoClawback { symbol: String },
    #[error("a multi-send has {got} outputs, over this chain's limit of {max}")]
    TooManyOutputs { got: usize, max: usize },
    #[error("amount overflows: {symbol} amounts of this size cannot exist")]
    AmountOverflow { symbol: String },
    #[error("{holder} holds {held} {symbol}, less than the {needed} asked")]
    InsufficientAssetBalance {
        symbol: String,
        holder: Address,
        held: AssetAmount,
        needed: AssetAmount,
    },
    #[error("zero amounts are not allowed")]
    ZeroAmount,
    #[error("{symbol} may only be burned by its issuer")]
    NotBurnable { symbol: String },
    #[error("{symbol} is locked: its issuer gave up changing its name, metadata and issuer")]
    Locked { symbol: String },
    #[error("{symbol} does not require authorization: holders need none")]
    NoAuthRequired { symbol: String },
    #[error("a multi-send needs at least one output")]
    NoOutputs,
    #[error(
        "issued assets are disabled on this chain (banking.assets_enabled = false in genesis)"
    )]
    AssetsDisabled,
    #[error("a travel-rule record names both VASPs (1 to {max} characters each)")]
    InvalidTravelRecord { max: usize },
    /// The transfer hook (compliance) refused the movement; kept on the record.
    #[error("{0} is a module account (it holds escrows and other module funds): pay it through its module")]
    ModuleAccount(Address),
    #[error(transparent)]
    Refused(ModuleError),
}

impl BankingError {
    /// The stable code (never reused for another meaning).
    pub fn code(&self) -> u32 {
        match self {
            BankingError::UnknownAsset(_) => 10100,
            BankingError::AssetExists { .. } => 10101,
            BankingError::NotIssuer { .. } => 10102,
            BankingError::InvalidDecimals(_) => 10103,
            BankingError::InvalidSymbol(_) => 10104,
            BankingError::InvalidText => 10105,
            BankingError::MaxSupplyExceeded { .. } => 10106,
            BankingError::NotMintable { .. } => 10107,
            BankingError::HolderFrozen { .. } => 10108,
            BankingError::AssetFrozen { .. } => 10109,
            BankingError::NotAuthorized { .. } => 10110,
            BankingError::NotFreezable { .. } => 10111,
            BankingError::NoClawback { .. } => 10112,
            BankingError::TooManyOutputs { .. } => 10113,
            BankingError::AmountOverflow { .. } => 10114,
            BankingError::InsufficientAssetBalance { .. } => 10115,
            BankingError::ZeroAmount => 10116,
            BankingError::NotBurnable { .. } => 10117,
            BankingError::Locked { .. } => 10118,
            BankingError::NoAuthRequired { .. } => 10119,
            BankingError::NoOutputs => 10120,
            BankingError::AssetsDisabled => 10121,
            BankingError::InvalidTravelRecord { .. } => 10122,
            BankingError::ModuleAccount(_) => 10123,
            BankingError::Refused(e) => e.code,
        }
    }

    /// A short stable name (metrics label, machine-readable reason).
    pub fn reason(&self) -> &'static str {
        match self {
            BankingError::UnknownAsset(_) => "unknown_asset",
            BankingError::AssetExists { .. } => "asset_exists",
            BankingError::NotIssuer { .. } => "not_issuer",
            BankingError::InvalidDecimals(_) => "invalid_decimals",
            BankingError::InvalidSymbol(_) => "invalid_symbol",
            BankingError::InvalidText => "invalid_text",
            BankingError::MaxSupplyExceeded { .. } => "max_supply_exceeded",
            BankingError::NotMintable { .. } => "not_mintable",
            BankingError::HolderFrozen { .. } => "holder_frozen",
            BankingError::AssetFrozen { .. } => "asset_frozen",
            BankingError::NotAuthorized { .. } => "not_authorized",
            BankingError::NotFreezable { .. } => "not_freezable",
            BankingError::NoClawback { .. } => "no_clawback",
            BankingError::TooManyOutputs { .. } => "too_many_outputs",
            BankingError::AmountOverflow { .. } => "asset_amount_overflow",
            BankingError::InsufficientAssetBalance { .. } => "insufficient_asset_balance",
            BankingError::ZeroAmount => "zero_asset_amount",
            BankingError::NotBurnable { .. } => "not_burnable",
            BankingError::Locked { .. } => "asset_locked",
            BankingError::NoAuthRequired { .. } => "no_auth_required",
            BankingError::NoOutputs => "no_outputs",
            BankingError::AssetsDisabled => "assets_disabled",
            BankingError::InvalidTravelRecord { .. } => "invalid_travel_record",
            BankingError::ModuleAccount(_) => "module_account",
            BankingError::Refused(e) => e.reason,
        }
    }
}

impl From<BankingError> for TxError {
    fn from(e: BankingError) -> Self {
        if let BankingError::Refused(e) = e {
            return TxError::Module(e);
        }
        TxError::Module(ModuleError {
            module: Banking::TAG,
            code: e.code(),
            reason: e.reason(),
            message: e.to_string(),
            record: None,
        })
    }
}
