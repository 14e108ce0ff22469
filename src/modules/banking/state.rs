//! Banking's state in the generic module state: one entry per asset, one per holding, and an index
//! of the assets each address holds.
//!
//! | key (after tag 1)            | value                   |
//! |------------------------------|-------------------------|
//! | `1 | asset id`               | [`AssetInfo`]           |
//! | `2 | holder | asset id`      | [`Holding`] (an address's holdings are one prefix: balances) |
//! | `3 | asset id | holder`      | empty: the holders of an asset (written with a new holding) |
//!
//! Holdings are keyed holder first: the keys a block's transfers touch differ from their second
//! byte, which keeps the overlay's ordered maps quick. Invariants: an asset's `supply` is the sum
//! of its holdings' amounts; `supply <= max_supply`; every holding has its holder entry. Native
//! balances stay in the accounts (the fast path).

use crate::codec::{
    put_bool, put_str, put_u128, put_u64, put_u8, Decode, DecodeError, Encode, Reader,
};
use crate::types::{Address, AssetAmount, Height, StateKey};

use super::calls::{AssetId, Policy, NAME_LEN_MAX, SYMBOL_LEN_MAX, URI_LEN_MAX};
use super::Banking;
use crate::modules::Module;

const KEY_ASSET: u8 = 1;
const KEY_HOLDING: u8 = 2;
const KEY_HOLDER: u8 = 3;

pub fn asset_key(id: &AssetId) -> StateKey {
    StateKey::new(Banking::TAG, &[&[KEY_ASSET], &id.0])
}

pub fn holding_key(id: &AssetId, holder: &Address) -> StateKey {
    StateKey::new(Banking::TAG, &[&[KEY_HOLDING], &holder.0, &id.0])
}

/// The entry that lists `holder` among the holders of `id`.
pub fn holder_key(id: &AssetId, holder: &Address) -> StateKey {
    StateKey::new(Banking::TAG, &[&[KEY_HOLDER], &id.0, &holder.0])
}

/// The key prefix under which every asset lives.
pub fn assets_prefix() -> StateKey {
    StateKey::new(Banking::TAG, &[&[KEY_ASSET]])
}

/// The key prefix of an asset's holders.
pub fn holders_prefix(id: &AssetId) -> StateKey {
    StateKey::new(Banking::TAG, &[&[KEY_HOLDER], &id.0])
}

/// The key prefix of an address's holdings.
pub fn holdings_prefix(holder: &Address) -> StateKey {
    StateKey::new(Banking::TAG, &[&[KEY_HOLDING], &holder.0])
}

/// An issued asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetInfo {
    pub symbol: String,
    pub name: String,
    pub decimals: u8,
    pub max_supply: Option<AssetAmount>,
    pub supply: AssetAmount,
    pub issuer: Address,
    pub policy: Policy,
    /// Every transfer is stopped but those to and from the issuer.
    pub global_frozen: bool,
    /// Name, metadata and issuer can no longer change.
    pub locked: bool,
    pub metadata_uri: String,
    pub created_height: Height,
}

const ASSET_VERSION: u8 = 1;

impl Encode for AssetInfo {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, ASSET_VERSION);
        put_str(out, &self.symbol);
        put_str(out, &self.name);
        put_u8(out, self.decimals);
        match self.max_supply {
            None => put_u8(out, 0),
            Some(m) => {
                put_u8(out, 1);
                put_u128(out, m);
            }
        }
        put_u128(out, self.supply);
        out.extend_from_slice(&self.issuer.0);
        put_u8(out, self.policy.to_flags());
        put_bool(out, self.global_frozen);
        put_bool(out, self.locked);
        put_str(out, &self.metadata_uri);
        put_u64(out, self.created_height);
    }
}

impl Decode for AssetInfo {
    const WHAT: &'static str = "asset";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, ASSET_VERSION)?;
        Ok(AssetInfo {
            symbol: r.string("asset symbol", SYMBOL_LEN_MAX)?,
            name: r.string("asset name", NAME_LEN_MAX)?,
            decimals: r.u8("asset decimals")?,
            max_supply: match r.u8("max supply presence")? {
                0 => None,
                _ => Some(r.u128("max supply")?),
            },
            supply: r.u128("asset supply")?,
            issuer: Address(r.array("asset issuer")?),
            policy: Policy::from_flags(r.u8("asset policy")?)?,
            global_frozen: r.bool("global frozen")?,
            locked: r.bool("locked")?,
            metadata_uri: r.string("metadata uri", URI_LEN_MAX)?,
            created_height: r.u64("created height")?,
        })
    }
}

/// One holder's position in one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Holding {
    pub amount: AssetAmount,
    /// Frozen by the issuer: may only send back to the issuer.
    pub frozen: bool,
    /// Authorized by the issuer to receive (meaningful for auth-required assets).
    pub authorized: bool,
}

const HOLDING_VERSION: u8 = 1;

impl Encode for Holding {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, HOLDING_VERSION);
        put_u128(out, self.amount);
        put_bool(out, self.frozen);
        put_bool(out, self.authorized);
    }
}

impl Decode for Holding {
    const WHAT: &'static str = "holding";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, HOLDING_VERSION)?;
        Ok(Holding {
            amount: r.u128("holding amount")?,
            frozen: r.bool("holding frozen")?,
            authorized: r.bool("holding authorized")?,
        })
    }
}
