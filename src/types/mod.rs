//! The ledger's data types and their canonical encodings (see [`crate::codec`]).
//!
//! Everything here is consensus-visible: changing an encoding is a protocol change and needs a new
//! version byte.

mod account;
mod address;
pub mod block;
mod hash;
pub mod stake;
mod transaction;

pub use account::Account;
pub use address::{Address, AddressError, ADDRESS_HRP};
pub use block::{Block, BlockHeader, Outcome, Receipt, BLOCK_VERSION};
pub use hash::{Hash, HashParseError};
pub use stake::{Registry, StakeKey, StakeValue, Unbonding, ValidatorInfo};
pub use transaction::{
    BankCall, Payload, Signature, StakingCall, Transaction, TxEnvelope, TxId, EVIDENCE_BYTES_MAX,
    TX_SIZE_MAX, TX_VERSION,
};

/// Native asset amounts, in base units. Integers only: no floats anywhere near balances.
pub type Amount = u64;

/// Identifies a chain; every transaction names the chain it is for, so it cannot be replayed on another.
pub type ChainId = u64;

/// Block height; genesis is height 0.
pub type Height = u64;
