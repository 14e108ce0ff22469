//! Banking calls and their encoding (after payload tag 1). Sub-tag 1, the native transfer, is the
//! encoding every client has used since the first block; the issued-asset calls follow it.

use crate::codec::{put_str, put_u128, put_u32, put_u64, put_u8, DecodeError, Reader};
pub use crate::modules::hooks::TravelRecord;
use crate::modules::hooks::VASP_ID_LEN_MAX;
use crate::types::{Address, Amount, AssetAmount, Hash};

/// An issued asset's id: `SHA-256("mamey/asset" || issuer || symbol)`, so an issuer's symbols are
/// unique and a client knows the id before the asset exists.
pub type AssetId = Hash;

/// The id of the asset `symbol` created by `issuer`.
pub fn asset_id(issuer: &Address, symbol: &str) -> AssetId {
    Hash::sha256_tagged(b"mamey/asset", &[&issuer.0, symbol.as_bytes()])
}

/// Longest symbol, name and metadata URI.
pub const SYMBOL_LEN_MAX: usize = 12;
pub const NAME_LEN_MAX: usize = 64;
pub const URI_LEN_MAX: usize = 256;
/// Most decimals an asset may have.
pub const DECIMALS_MAX: u8 = 18;
/// Protocol bound on multi-send outputs (a node's `banking.multi_send_outputs_max` is at most this).
pub const OUTPUTS_MAX: usize = 64;

/// Policy flags fixed when an asset is created (then only given up, never gained).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// The issuer may mint after creation.
    pub mintable: bool,
    /// Holders other than the issuer may burn what they hold.
    pub holder_burnable: bool,
    /// The issuer may freeze one holder or the whole asset.
    pub freezable: bool,
    /// The issuer may take an amount back from any holder (it is burned).
    pub clawback: bool,
    /// Holders must be authorized by the issuer before they can receive.
    pub auth_required: bool,
}

const FLAG_MINTABLE: u8 = 1;
const FLAG_HOLDER_BURNABLE: u8 = 2;
const FLAG_FREEZABLE: u8 = 4;
const FLAG_CLAWBACK: u8 = 8;
const FLAG_AUTH_REQUIRED: u8 = 16;

impl Policy {
    pub fn to_flags(self) -> u8 {
        (if self.mintable { FLAG_MINTABLE } else { 0 })
            | (if self.holder_burnable {
                FLAG_HOLDER_BURNABLE
            } else {
                0
            })
            | (if self.freezable { FLAG_FREEZABLE } else { 0 })
            | (if self.clawback { FLAG_CLAWBACK } else { 0 })
            | (if self.auth_required {
                FLAG_AUTH_REQUIRED
            } else {
                0
            })
    }

    pub fn from_flags(f: u8) -> Result<Self, DecodeError> {
        if f & !0x1f != 0 {
            return Err(DecodeError::InvalidValue {
                what: "asset policy flags",
                reason: "unknown flag bits",
            });
        }
        Ok(Policy {
            mintable: f & FLAG_MINTABLE != 0,
            holder_burnable: f & FLAG_HOLDER_BURNABLE != 0,
            freezable: f & FLAG_FREEZABLE != 0,
            clawback: f & FLAG_CLAWBACK != 0,
            auth_required: f & FLAG_AUTH_REQUIRED != 0,
        })
    }
}

/// What an issuer gives up for good with [`BankCall::Renounce`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renounce {
    /// Freezing: clears `freezable` and lifts every freeze of the asset.
    Freeze = 1,
    /// Minting: the supply can then only fall.
    Mint = 2,
    /// Every later change of the asset's name, metadata or issuer.
    Changes = 3,
}

/// One output of a multi-send: `asset` `None` is the native asset (then `amount` must fit `u64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub asset: Option<AssetId>,
    pub to: Address,
    pub amount: AssetAmount,
}

/// Calls into the banking module (native bank and issued assets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankCall {
    /// Move `amount` of the native asset from the sender to `to`.
    Transfer { to: Address, amount: Amount },
    /// Create an asset issued by the sender; its id is [`asset_id`]`(sender, symbol)`.
    /// `initial_supply` is minted to the issuer at once (the whole supply of a fixed asset).
    CreateAsset {
        symbol: String,
        name: String,
        decimals: u8,
        max_supply: Option<AssetAmount>,
        initial_supply: AssetAmount,
        policy: Policy,
        metadata_uri: String,
    },
    /// The issuer creates `amount` new units held by `to`.
    Mint {
        asset: AssetId,
        to: Address,
        amount: AssetAmount,
    },
    /// The sender destroys `amount` of what it holds.
    Burn { asset: AssetId, amount: AssetAmount },
    /// Move `amount` of an issued asset from the sender to `to`.
    TransferAsset {
        asset: AssetId,
        to: Address,
        amount: AssetAmount,
    },
    /// Several outputs from the sender, in any assets, all or nothing.
    MultiSend { outputs: Vec<Output> },
    /// The issuer freezes (`frozen`) or unfreezes one holder.
    SetFrozen {
        asset: AssetId,
        holder: Address,
        frozen: bool,
    },
    /// The issuer freezes or unfreezes the whole asset.
    SetGlobalFrozen { asset: AssetId, frozen: bool },
    /// The issuer takes `amount` back from `from` (burned).
    Clawback {
        asset: AssetId,
        from: Address,
        amount: AssetAmount,
    },
    /// The issuer authorizes (`authorized`) or revokes a holder of an auth-required asset.
    SetAuthorized {
        asset: AssetId,
        holder: Address,
        authorized: bool,
    },
    /// The issuer hands the issuer role to another address.
    SetIssuer { asset: AssetId, issuer: Address },
    /// The issuer changes the name and metadata URI.
    UpdateMetadata {
        asset: AssetId,
        name: String,
        metadata_uri: String,
    },
    /// The issuer gives something up for good.
    Renounce { asset: AssetId, what: Renounce },
    /// A transfer of an issued asset carrying a travel-rule record (FATF R.16): what an asset
    /// whose rules set a travel threshold needs at or above it.
    TransferWithTravel {
        asset: AssetId,
        to: Address,
        amount: AssetAmount,
        travel: TravelRecord,
    },
}

const TAG_TRANSFER: u8 = 1;
const TAG_CREATE: u8 = 2;
const TAG_MINT: u8 = 3;
const TAG_BURN: u8 = 4;
const TAG_TRANSFER_ASSET: u8 = 5;
const TAG_MULTI_SEND: u8 = 6;
const TAG_SET_FROZEN: u8 = 7;
const TAG_SET_GLOBAL_FROZEN: u8 = 8;
const TAG_CLAWBACK: u8 = 9;
const TAG_SET_AUTHORIZED: u8 = 10;
const TAG_SET_ISSUER: u8 = 11;
const TAG_UPDATE_METADATA: u8 = 12;
const TAG_RENOUNCE: u8 = 13;
const TAG_TRANSFER_WITH_TRAVEL: u8 = 14;

fn put_opt_asset(out: &mut Vec<u8>, a: &Option<AssetId>) {
    match a {
        None => put_u8(out, 0),
        Some(a) => {
            put_u8(out, 1);
            out.extend_from_slice(&a.0);
        }
    }
}

pub(super) fn encode(call: &BankCall, out: &mut Vec<u8>) {
    match call {
        BankCall::Transfer { to, amount } => {
            put_u8(out, TAG_TRANSFER);
            out.extend_from_slice(&to.0);
            put_u64(out, *amount);
        }
        BankCall::CreateAsset {
            symbol,
            name,
            decimals,
            max_supply,
            initial_supply,
            policy,
            metadata_uri,
        } => {
            put_u8(out, TAG_CREATE);
            put_str(out, symbol);
            put_str(out, name);
            put_u8(out, *decimals);
            match max_supply {
                None => put_u8(out, 0),
                Some(m) => {
                    put_u8(out, 1);
                    put_u128(out, *m);
                }
            }
            put_u128(out, *initial_supply);
            put_u8(out, policy.to_flags());
            put_str(out, metadata_uri);
        }
        BankCall::Mint { asset, to, amount } | BankCall::TransferAsset { asset, to, amount } => {
            let tag = if matches!(call, BankCall::Mint { .. }) {
                TAG_MINT
            } else {
                TAG_TRANSFER_ASSET
            };
            put_u8(out, tag);
            out.extend_from_slice(&asset.0);
            out.extend_from_slice(&to.0);
            put_u128(out, *amount);
        }
        BankCall::Burn { asset, amount } => {
            put_u8(out, TAG_BURN);
            out.extend_from_slice(&asset.0);
            put_u128(out, *amount);
        }
        BankCall::MultiSend { outputs } => {
            put_u8(out, TAG_MULTI_SEND);
            put_u32(out, outputs.len() as u32);
            for o in outputs {
                put_opt_asset(out, &o.asset);
                out.extend_from_slice(&o.to.0);
                put_u128(out, o.amount);
            }
        }
        BankCall::SetFrozen {
            asset,
            holder,
            frozen,
        } => {
            put_u8(out, TAG_SET_FROZEN);
            out.extend_from_slice(&asset.0);
            out.extend_from_slice(&holder.0);
            put_u8(out, u8::from(*frozen));
        }
        BankCall::SetGlobalFrozen { asset, frozen } => {
            put_u8(out, TAG_SET_GLOBAL_FROZEN);
            out.extend_from_slice(&asset.0);
            put_u8(out, u8::from(*frozen));
        }
        BankCall::Clawback {
            asset,
            from,
            amount,
        } => {
            put_u8(out, TAG_CLAWBACK);
            out.extend_from_slice(&asset.0);
            out.extend_from_slice(&from.0);
            put_u128(out, *amount);
        }
        BankCall::SetAuthorized {
            asset,
            holder,
            authorized,
        } => {
            put_u8(out, TAG_SET_AUTHORIZED);
            out.extend_from_slice(&asset.0);
            out.extend_from_slice(&holder.0);
            put_u8(out, u8::from(*authorized));
        }
        BankCall::SetIssuer { asset, issuer } => {
            put_u8(out, TAG_SET_ISSUER);
            out.extend_from_slice(&asset.0);
            out.extend_from_slice(&issuer.0);
        }
        BankCall::UpdateMetadata {
            asset,
            name,
            metadata_uri,
        } => {
            put_u8(out, TAG_UPDATE_METADATA);
            out.extend_from_slice(&asset.0);
            put_str(out, name);
            put_str(out, metadata_uri);
        }
        BankCall::Renounce { asset, what } => {
            put_u8(out, TAG_RENOUNCE);
            out.extend_from_slice(&asset.0);
            put_u8(out, *what as u8);
        }
        BankCall::TransferWithTravel {
            asset,
            to,
            amount,
            travel,
        } => {
            put_u8(out, TAG_TRANSFER_WITH_TRAVEL);
            out.extend_from_slice(&asset.0);
            out.extend_from_slice(&to.0);
            put_u128(out, *amount);
            put_str(out, &travel.originator_vasp);
            put_str(out, &travel.beneficiary_vasp);
            out.extend_from_slice(&travel.payload_hash.0);
        }
    }
}

fn asset(r: &mut Reader<'_>) -> Result<AssetId, DecodeError> {
    Ok(Hash(r.array("asset id")?))
}

fn address(r: &mut Reader<'_>, what: &'static str) -> Result<Address, DecodeError> {
    Ok(Address(r.array(what)?))
}

pub(super) fn decode(r: &mut Reader<'_>) -> Result<BankCall, DecodeError> {
    Ok(match r.u8("bank call tag")? {
        TAG_TRANSFER => BankCall::Transfer {
            to: address(r, "transfer recipient")?,
            amount: r.u64("transfer amount")?,
        },
        TAG_CREATE => BankCall::CreateAsset {
            symbol: r.string("asset symbol", SYMBOL_LEN_MAX)?,
            name: r.string("asset name", NAME_LEN_MAX)?,
            decimals: r.u8("asset decimals")?,
            max_supply: match r.u8("max supply presence")? {
                0 => None,
                1 => Some(r.u128("max supply")?),
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "max supply presence",
                        tag,
                    })
                }
            },
            initial_supply: r.u128("initial supply")?,
            policy: Policy::from_flags(r.u8("asset policy flags")?)?,
            metadata_uri: r.string("asset metadata uri", URI_LEN_MAX)?,
        },
        TAG_MINT => BankCall::Mint {
            asset: asset(r)?,
            to: address(r, "mint recipient")?,
            amount: r.u128("mint amount")?,
        },
        TAG_BURN => BankCall::Burn {
            asset: asset(r)?,
            amount: r.u128("burn amount")?,
        },
        TAG_TRANSFER_ASSET => BankCall::TransferAsset {
            asset: asset(r)?,
            to: address(r, "transfer recipient")?,
            amount: r.u128("transfer amount")?,
        },
        TAG_MULTI_SEND => {
            let n = r.len_prefix("multi-send outputs", OUTPUTS_MAX, 1 + 32 + 16)?;
            let mut outputs = Vec::with_capacity(n);
            for _ in 0..n {
                let asset = match r.u8("output asset presence")? {
                    0 => None,
                    1 => Some(asset(r)?),
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            what: "output asset presence",
                            tag,
                        })
                    }
                };
                outputs.push(Output {
                    asset,
                    to: address(r, "output recipient")?,
                    amount: r.u128("output amount")?,
                });
            }
            BankCall::MultiSend { outputs }
        }
        TAG_SET_FROZEN => BankCall::SetFrozen {
            asset: asset(r)?,
            holder: address(r, "holder")?,
            frozen: r.bool("frozen")?,
        },
        TAG_SET_GLOBAL_FROZEN => BankCall::SetGlobalFrozen {
            asset: asset(r)?,
            frozen: r.bool("frozen")?,
        },
        TAG_CLAWBACK => BankCall::Clawback {
            asset: asset(r)?,
            from: address(r, "clawback holder")?,
            amount: r.u128("clawback amount")?,
        },
        TAG_SET_AUTHORIZED => BankCall::SetAuthorized {
            asset: asset(r)?,
            holder: address(r, "holder")?,
            authorized: r.bool("authorized")?,
        },
        TAG_SET_ISSUER => BankCall::SetIssuer {
            asset: asset(r)?,
            issuer: address(r, "new issuer")?,
        },
        TAG_UPDATE_METADATA => BankCall::UpdateMetadata {
            asset: asset(r)?,
            name: r.string("asset name", NAME_LEN_MAX)?,
            metadata_uri: r.string("asset metadata uri", URI_LEN_MAX)?,
        },
        TAG_RENOUNCE => BankCall::Renounce {
            asset: asset(r)?,
            what: match r.u8("renounce what")? {
                1 => Renounce::Freeze,
                2 => Renounce::Mint,
                3 => Renounce::Changes,
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "renounce what",
                        tag,
                    })
                }
            },
        },
        TAG_TRANSFER_WITH_TRAVEL => BankCall::TransferWithTravel {
            asset: asset(r)?,
            to: address(r, "recipient")?,
            amount: r.u128("amount")?,
            travel: TravelRecord {
                originator_vasp: r.string("originator VASP", VASP_ID_LEN_MAX)?,
                beneficiary_vasp: r.string("beneficiary VASP", VASP_ID_LEN_MAX)?,
                payload_hash: Hash(r.array("travel payload hash")?),
            },
        },
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "bank call",
                tag,
            })
        }
    })
}
