//! Compliance's state in the generic module state.
//!
//! | key (after tag 4)        | value                                               |
//! |--------------------------|-----------------------------------------------------|
//! | `1 | asset`              | [`RulesEntry`]: the asset's rules and pause          |
//! | `2 | address`            | [`Blocked`]: on the chain-wide blocked list          |
//! | `3 | asset`              | [`Count`] of holders (the issuer included), while `max_holders` is set |
//! | `4 | asset | holder`     | [`Window`]: what the holder sent in the current period |
//! | `5`                      | [`Count`] of blocked addresses (absent: none)        |
//!
//! Rules and the blocked list are *settled*: only serial calls write them, so a movement's
//! declaration may read them (`Module::access`). The counters are written by movements and
//! declared as writes.

use crate::codec::{put_str, put_u128, put_u64, put_u8, Decode, DecodeError, Encode, Reader};
use crate::modules::Module;
use crate::types::{Address, AssetAmount, Hash, Height, StateKey};

use super::calls::{encode_rules, read_rules, AssetRules, BLOCK_REASON_LEN_MAX};
use super::Compliance;

const KEY_RULES: u8 = 1;
const KEY_BLOCKED: u8 = 2;
const KEY_HOLDERS: u8 = 3;
const KEY_WINDOW: u8 = 4;
const KEY_BLOCKED_COUNT: u8 = 5;

pub fn rules_key(asset: &Hash) -> StateKey {
    StateKey::new(Compliance::TAG, &[&[KEY_RULES], &asset.0])
}

pub fn rules_prefix() -> StateKey {
    StateKey::new(Compliance::TAG, &[&[KEY_RULES]])
}

pub fn blocked_key(address: &Address) -> StateKey {
    StateKey::new(Compliance::TAG, &[&[KEY_BLOCKED], &address.0])
}

pub fn blocked_prefix() -> StateKey {
    StateKey::new(Compliance::TAG, &[&[KEY_BLOCKED]])
}

/// How many addresses are blocked (so that movements skip the list while it is empty).
pub fn blocked_count_key() -> StateKey {
    StateKey::new(Compliance::TAG, &[&[KEY_BLOCKED_COUNT]])
}

pub fn holders_key(asset: &Hash) -> StateKey {
    StateKey::new(Compliance::TAG, &[&[KEY_HOLDERS], &asset.0])
}

pub fn window_key(asset: &Hash, holder: &Address) -> StateKey {
    StateKey::new(Compliance::TAG, &[&[KEY_WINDOW], &asset.0, &holder.0])
}

/// An asset's rules and whether it is paused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RulesEntry {
    pub rules: AssetRules,
    pub paused: bool,
}

/// Why and since when an address is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub reason: String,
    pub height: Height,
}

/// What a holder sent in one velocity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// `time_ms / period_ms` of the period.
    pub window: u64,
    pub sent: AssetAmount,
}

/// A counter: the holders of an asset (kept while `max_holders` is set), the blocked addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Count(pub u64);

const VERSION: u8 = 1;

impl Encode for RulesEntry {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        encode_rules(&self.rules, out);
        put_u8(out, u8::from(self.paused));
    }
}

impl Decode for RulesEntry {
    const WHAT: &'static str = "asset rules";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(RulesEntry {
            rules: read_rules(r)?,
            paused: r.bool("paused")?,
        })
    }
}

impl Encode for Blocked {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        put_str(out, &self.reason);
        put_u64(out, self.height);
    }
}

impl Decode for Blocked {
    const WHAT: &'static str = "blocked entry";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(Blocked {
            reason: r.string("block reason", BLOCK_REASON_LEN_MAX)?,
            height: r.u64("block height")?,
        })
    }
}

impl Encode for Window {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u64(out, self.window);
        put_u128(out, self.sent);
    }
}

impl Decode for Window {
    const WHAT: &'static str = "velocity window";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Window {
            window: r.u64("window")?,
            sent: r.u128("sent")?,
        })
    }
}

impl Encode for Count {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u64(out, self.0);
    }
}

impl Decode for Count {
    const WHAT: &'static str = "count";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Count(r.u64("count")?))
    }
}
