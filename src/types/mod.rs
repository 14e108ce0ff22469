//! The ledger's data types and their canonical encodings (see [`crate::codec`]).
//!
//! Everything here is consensus-visible: changing an encoding is a protocol change and needs a new
//! version byte.

mod account;
mod address;
pub mod block;
mod hash;
pub mod module_state;
mod transaction;

pub use account::Account;
pub use address::{Address, AddressError, ADDRESS_HRP};
pub use block::{Block, BlockHeader, Outcome, Receipt, BLOCK_VERSION, REFUSAL_MESSAGE_LEN_MAX};
pub use hash::{Hash, HashParseError};
pub use module_state::{AttrValue, Event, StateKey, StateWrites};
pub use transaction::{Signature, Transaction, TxEnvelope, TxId, TX_SIZE_MAX, TX_VERSION};

// The payload of a transaction is a call into one of the modules (`crate::modules`, one list);
// these names stay here for the clients that build transactions.
pub use crate::modules::banking::{AssetId, BankCall, Output};
pub use crate::modules::staking::state::{
    Registry, StakeKey, StakeValue, Unbonding, UnbondingOwner, ValidatorInfo,
};
pub use crate::modules::staking::{StakingCall, EVIDENCE_BYTES_MAX};
pub use crate::modules::Payload;

/// Native asset amounts, in base units. Integers only: no floats anywhere near balances.
pub type Amount = u64;

/// Issued asset amounts, in base units: wide enough for 10^12 whole units of an asset with 18
/// decimals.
pub type AssetAmount = u128;

/// Identifies a chain; every transaction names the chain it is for, so it cannot be replayed on another.
pub type ChainId = u64;

/// Block height; genesis is height 0.
pub type Height = u64;
