//! The DEX's refusals: codes 10600–10699 (INTERFACES §10), each message naming the market or
//! order and the reason. A refusal by Banking on the way (not enough unlocked balance, asset
//! policy) keeps Banking's code, and a compliance refusal is kept on the record with its own.

use thiserror::Error;

use super::Dex;
use crate::execution::{ModuleError, TxError};
use crate::modules::banking::BankingError;
use crate::modules::Module;
use crate::types::{Address, Hash};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DexError {
    #[error("the dex module is disabled in this chain's genesis")]
    Disabled,
    #[error("unknown market {}", .0.to_hex())]
    UnknownMarket(Hash),
    #[error("a market for this pair exists already: {}", .0.to_hex())]
    MarketExists(Hash),
    #[error("only the market authority may create, halt or resume markets ({sender} is not it)")]
    NotAuthority { sender: Address },
    #[error("invalid market: {0}")]
    InvalidMarket(String),
    #[error("market {} is halted: no orders until it resumes (cancels still work)", .0.to_hex())]
    Halted(Hash),
    #[error("price {price} is not a multiple of the market's tick {tick}")]
    OffTick { price: u64, tick: u64 },
    #[error("size {size} is not a multiple of the market's lot {lot}")]
    OffLot { size: u128, lot: u128 },
    #[error("size {size} is under the market's minimum {min}")]
    BelowMinimum { size: u128, min: u128 },
    #[error("post-only order {client_id} at {price} would take liquidity")]
    PostOnlyWouldCross { client_id: u64, price: u64 },
    #[error(
        "fill-or-kill order {client_id} can fill {fillable} of {wanted} lots now: nothing done"
    )]
    FokCannotFill {
        client_id: u64,
        wanted: u64,
        fillable: u64,
    },
    #[error("client id {0} is already used by an open order of the sender in this market (or twice in the call)")]
    DuplicateClientId(u64),
    #[error("no open order {0} of the sender in this market")]
    UnknownOrder(String),
    #[error("order {seq} belongs to {owner}: only its owner may cancel it")]
    NotOrderOwner { seq: u64, owner: Address },
    #[error("a place call needs at least one order")]
    NoOrders,
    #[error("a place call has {got} orders; this chain allows at most {max}")]
    TooManyOrders { got: usize, max: usize },
    #[error("invalid order: {0}")]
    InvalidOrder(String),
    #[error("order {client_id} expires at {expiry} (now {now}): it would never rest")]
    AlreadyExpired {
        client_id: u64,
        expiry: String,
        now: String,
    },
    #[error(
        "the {side} side of the market holds {max} orders, its limit: wait for fills or cancels"
    )]
    BookFull { side: &'static str, max: u32 },
    #[error("amounts overflow: {0}")]
    Overflow(&'static str),
    #[error("nothing is held for the sender in market {}", .0.to_hex())]
    NothingHeld(Hash),
    #[error("this chain already has {0} markets, its limit")]
    TooManyMarkets(u32),
    #[error("{0} is a module account: it cannot trade")]
    ModuleAccount(Address),
    #[error("unknown asset {}", .0.to_hex())]
    UnknownAsset(Hash),
    #[error("market {} has no pool: add liquidity first", .0.to_hex())]
    NoPool(Hash),
    #[error("invalid liquidity: {0}")]
    InvalidLiquidity(String),
    #[error("the pool would give {got}, less than the {min} asked for")]
    Slippage { got: String, min: String },
    #[error("{owner} holds {held} shares of the pool, fewer than {wanted}")]
    InsufficientShares {
        owner: Address,
        held: u128,
        wanted: u128,
    },
    /// Banking refused the movement (its code is kept).
    #[error(transparent)]
    Bank(BankingError),
}

impl DexError {
    /// The stable code (never reused for another meaning).
    pub fn code(&self) -> u32 {
        match self {
            DexError::Disabled => 10600,
            DexError::UnknownMarket(_) => 10601,
            DexError::MarketExists(_) => 10602,
            DexError::NotAuthority { .. } => 10603,
            DexError::InvalidMarket(_) => 10604,
            DexError::Halted(_) => 10605,
            DexError::OffTick { .. } => 10606,
            DexError::OffLot { .. } => 10607,
            DexError::BelowMinimum { .. } => 10608,
            DexError::PostOnlyWouldCross { .. } => 10609,
            DexError::FokCannotFill { .. } => 10610,
            DexError::DuplicateClientId(_) => 10611,
            DexError::UnknownOrder(_) => 10612,
            DexError::NotOrderOwner { .. } => 10613,
            DexError::NoOrders => 10614,
            DexError::TooManyOrders { .. } => 10615,
            DexError::InvalidOrder(_) => 10616,
            DexError::AlreadyExpired { .. } => 10617,
            DexError::BookFull { .. } => 10618,
            DexError::Overflow(_) => 10619,
            DexError::NothingHeld(_) => 10620,
            DexError::TooManyMarkets(_) => 10621,
            DexError::ModuleAccount(_) => 10622,
            DexError::UnknownAsset(_) => 10623,
            DexError::NoPool(_) => 10624,
            DexError::InvalidLiquidity(_) => 10625,
            DexError::Slippage { .. } => 10626,
            DexError::InsufficientShares { .. } => 10627,
            DexError::Bank(e) => e.code(),
        }
    }

    /// A short stable name (metrics label, machine-readable reason).
    pub fn reason(&self) -> &'static str {
        match self {
            DexError::Disabled => "dex_disabled",
            DexError::UnknownMarket(_) => "unknown_market",
            DexError::MarketExists(_) => "market_exists",
            DexError::NotAuthority { .. } => "not_market_authority",
            DexError::InvalidMarket(_) => "invalid_market",
            DexError::Halted(_) => "market_halted",
            DexError::OffTick { .. } => "price_off_tick",
            DexError::OffLot { .. } => "size_off_lot",
            DexError::BelowMinimum { .. } => "size_below_minimum",
            DexError::PostOnlyWouldCross { .. } => "post_only_would_cross",
            DexError::FokCannotFill { .. } => "fok_cannot_fill",
            DexError::DuplicateClientId(_) => "duplicate_client_id",
            DexError::UnknownOrder(_) => "unknown_order",
            DexError::NotOrderOwner { .. } => "not_order_owner",
            DexError::NoOrders => "no_orders",
            DexError::TooManyOrders { .. } => "too_many_orders",
            DexError::InvalidOrder(_) => "invalid_order",
            DexError::AlreadyExpired { .. } => "order_already_expired",
            DexError::BookFull { .. } => "book_full",
            DexError::Overflow(_) => "amount_overflow",
            DexError::NothingHeld(_) => "nothing_held",
            DexError::TooManyMarkets(_) => "too_many_markets",
            DexError::ModuleAccount(_) => "module_account",
            DexError::UnknownAsset(_) => "unknown_asset",
            DexError::NoPool(_) => "no_pool",
            DexError::InvalidLiquidity(_) => "invalid_liquidity",
            DexError::Slippage { .. } => "slippage",
            DexError::InsufficientShares { .. } => "insufficient_shares",
            DexError::Bank(e) => e.reason(),
        }
    }
}

impl From<BankingError> for DexError {
    fn from(e: BankingError) -> Self {
        DexError::Bank(e)
    }
}

impl From<DexError> for TxError {
    fn from(e: DexError) -> Self {
        if let DexError::Bank(b) = e {
            return b.into();
        }
        TxError::Module(ModuleError {
            module: Dex::TAG,
            code: e.code(),
            reason: e.reason(),
            message: e.to_string(),
            record: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_in_the_dex_block_and_unique() {
        let all = [
            DexError::Disabled,
            DexError::UnknownMarket(Hash([0; 32])),
            DexError::MarketExists(Hash([0; 32])),
            DexError::NotAuthority {
                sender: Address([0; 32]),
            },
            DexError::InvalidMarket(String::new()),
            DexError::Halted(Hash([0; 32])),
            DexError::OffTick { price: 0, tick: 0 },
            DexError::OffLot { size: 0, lot: 0 },
            DexError::BelowMinimum { size: 0, min: 0 },
            DexError::PostOnlyWouldCross {
                client_id: 0,
                price: 0,
            },
            DexError::FokCannotFill {
                client_id: 0,
                wanted: 0,
                fillable: 0,
            },
            DexError::DuplicateClientId(0),
            DexError::UnknownOrder(String::new()),
            DexError::NotOrderOwner {
                seq: 0,
                owner: Address([0; 32]),
            },
            DexError::NoOrders,
            DexError::TooManyOrders { got: 0, max: 0 },
            DexError::InvalidOrder(String::new()),
            DexError::AlreadyExpired {
                client_id: 0,
                expiry: String::new(),
                now: String::new(),
            },
            DexError::BookFull { side: "", max: 0 },
            DexError::Overflow(""),
            DexError::NothingHeld(Hash([0; 32])),
            DexError::TooManyMarkets(0),
            DexError::ModuleAccount(Address([0; 32])),
            DexError::UnknownAsset(Hash([0; 32])),
            DexError::NoPool(Hash([0; 32])),
            DexError::InvalidLiquidity(String::new()),
            DexError::Slippage {
                got: String::new(),
                min: String::new(),
            },
            DexError::InsufficientShares {
                owner: Address([0; 32]),
                held: 0,
                wanted: 0,
            },
        ];
        let mut codes: Vec<u32> = all.iter().map(|e| e.code()).collect();
        assert!(codes.iter().all(|c| (10600..10700).contains(c)));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
