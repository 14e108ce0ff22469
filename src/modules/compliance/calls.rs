//! Compliance calls and rules, and their encoding (after payload tag 4).

use crate::codec::{put_opt, put_str, put_u128, put_u64, put_u8, DecodeError, Reader};
use crate::modules::banking::AssetId;
use crate::modules::identity::ClaimType;
use crate::types::{Address, AssetAmount, Hash};

/// Most conditions per side, issuers per condition and codes per jurisdiction list.
pub const CONDITIONS_MAX: usize = 8;
pub const CONDITION_ISSUERS_MAX: usize = 4;
pub const JURISDICTIONS_MAX: usize = 32;
/// Longest reason given for blocking an address.
pub const BLOCK_REASON_LEN_MAX: usize = 140;

/// A condition on one party of a movement, over its current claims (claims that are not
/// revoked, suspended or expired, from issuers trusted for their type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Holds a claim of the type with at least `min_level`, from one of `issuers` (none: any
    /// trusted issuer).
    Claim {
        claim_type: ClaimType,
        min_level: u8,
        issuers: Vec<Address>,
    },
    /// Holds no claim of the type (e.g. not an affiliate).
    NoClaim { claim_type: ClaimType },
    /// Holds a jurisdiction claim with one of these codes.
    JurisdictionIn(Vec<[u8; 2]>),
    /// Holds no jurisdiction claim with one of these codes.
    JurisdictionNotIn(Vec<[u8; 2]>),
}

impl Condition {
    /// A short stable text naming the condition (events, reports, refusals).
    pub fn describe(&self) -> String {
        let codes = |l: &[[u8; 2]]| {
            l.iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("|")
        };
        match self {
            Condition::Claim {
                claim_type,
                min_level,
                issuers,
            } => {
                let mut s = claim_type.name().to_string();
                if *min_level > 0 {
                    s.push_str(&format!(">={min_level}"));
                }
                if !issuers.is_empty() {
                    s.push_str(&format!("@{}", issuers.len()));
                }
                s
            }
            Condition::NoClaim { claim_type } => format!("!{}", claim_type.name()),
            Condition::JurisdictionIn(l) => format!("jurisdiction in {}", codes(l)),
            Condition::JurisdictionNotIn(l) => format!("jurisdiction not in {}", codes(l)),
        }
    }
}

/// A velocity limit: at most `amount` sent per holder per period of `period_ms` of block time
/// (fixed windows: `time_ms / period_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Velocity {
    pub amount: AssetAmount,
    pub period_ms: u64,
}

/// An asset's transfer rules, set by its issuer. Conditions on a party that is the issuer are
/// skipped (it redeems and distributes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssetRules {
    pub sender: Vec<Condition>,
    pub receiver: Vec<Condition>,
    /// Most holders other than the issuer (set while the supply is 0; kept exactly from then).
    pub max_holders: Option<u32>,
    /// Most any holder but the issuer may hold.
    pub max_balance: Option<AssetAmount>,
    pub velocity: Option<Velocity>,
    /// Transfers of at least this much carry a travel-rule record.
    pub travel_threshold: Option<AssetAmount>,
}

impl AssetRules {
    pub fn is_empty(&self) -> bool {
        *self == AssetRules::default()
    }

    pub fn validate(&self) -> Result<(), String> {
        for (side, list) in [("sender", &self.sender), ("receiver", &self.receiver)] {
            if list.len() > CONDITIONS_MAX {
                return Err(format!("at most {CONDITIONS_MAX} {side} conditions"));
            }
            for c in list {
                match c {
                    Condition::Claim { issuers, .. } if issuers.len() > CONDITION_ISSUERS_MAX => {
                        return Err(format!("at most {CONDITION_ISSUERS_MAX} issuers per condition"))
                    }
                    Condition::JurisdictionIn(l) | Condition::JurisdictionNotIn(l)
                        if l.is_empty()
                            || l.len() > JURISDICTIONS_MAX
                            || !l.iter().flatten().all(u8::is_ascii_uppercase) =>
                    {
                        return Err(format!(
                            "a jurisdiction list has 1 to {JURISDICTIONS_MAX} ISO 3166-1 alpha-2 codes in capitals"
                        ))
                    }
                    _ => {}
                }
            }
        }
        if self.max_holders == Some(0) || self.max_balance == Some(0) {
            return Err("limits are positive".into());
        }
        if let Some(v) = self.velocity {
            if v.amount == 0 || v.period_ms == 0 {
                return Err("a velocity limit has a positive amount and period".into());
            }
        }
        Ok(())
    }
}

/// Calls into the compliance module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComplianceCall {
    /// The asset's issuer replaces its rules (empty rules: none).
    SetRules { asset: AssetId, rules: AssetRules },
    /// The asset's issuer pauses (or resumes) every movement of it.
    SetPaused { asset: AssetId, paused: bool },
    /// The compliance authority blocks (or unblocks) an address for every asset.
    SetBlocked {
        address: Address,
        blocked: bool,
        reason: String,
    },
}

const CALL_SET_RULES: u8 = 1;
const CALL_SET_PAUSED: u8 = 2;
const CALL_SET_BLOCKED: u8 = 3;

pub(super) fn encode(call: &ComplianceCall, out: &mut Vec<u8>) {
    match call {
        ComplianceCall::SetRules { asset, rules } => {
            put_u8(out, CALL_SET_RULES);
            out.extend_from_slice(&asset.0);
            encode_rules(rules, out);
        }
        ComplianceCall::SetPaused { asset, paused } => {
            put_u8(out, CALL_SET_PAUSED);
            out.extend_from_slice(&asset.0);
            put_u8(out, u8::from(*paused));
        }
        ComplianceCall::SetBlocked {
            address,
            blocked,
            reason,
        } => {
            put_u8(out, CALL_SET_BLOCKED);
            out.extend_from_slice(&address.0);
            put_u8(out, u8::from(*blocked));
            put_str(out, reason);
        }
    }
}

pub(super) fn decode(r: &mut Reader<'_>) -> Result<ComplianceCall, DecodeError> {
    Ok(match r.u8("compliance call")? {
        CALL_SET_RULES => ComplianceCall::SetRules {
            asset: Hash(r.array("asset id")?),
            rules: read_rules(r)?,
        },
        CALL_SET_PAUSED => ComplianceCall::SetPaused {
            asset: Hash(r.array("asset id")?),
            paused: r.bool("paused")?,
        },
        CALL_SET_BLOCKED => ComplianceCall::SetBlocked {
            address: Address(r.array("address")?),
            blocked: r.bool("blocked")?,
            reason: r.string("block reason", BLOCK_REASON_LEN_MAX)?,
        },
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "compliance call",
                tag,
            })
        }
    })
}

const COND_CLAIM: u8 = 1;
const COND_NO_CLAIM: u8 = 2;
const COND_JURISDICTION_IN: u8 = 3;
const COND_JURISDICTION_NOT_IN: u8 = 4;

fn encode_conditions(list: &[Condition], out: &mut Vec<u8>) {
    put_u8(out, list.len() as u8);
    for c in list {
        match c {
            Condition::Claim {
                claim_type,
                min_level,
                issuers,
            } => {
                put_u8(out, COND_CLAIM);
                put_u8(out, *claim_type as u8);
                put_u8(out, *min_level);
                put_u8(out, issuers.len() as u8);
                for i in issuers {
                    out.extend_from_slice(&i.0);
                }
            }
            Condition::NoClaim { claim_type } => {
                put_u8(out, COND_NO_CLAIM);
                put_u8(out, *claim_type as u8);
            }
            Condition::JurisdictionIn(l) | Condition::JurisdictionNotIn(l) => {
                let tag = if matches!(c, Condition::JurisdictionIn(_)) {
                    COND_JURISDICTION_IN
                } else {
                    COND_JURISDICTION_NOT_IN
                };
                put_u8(out, tag);
                put_u8(out, l.len() as u8);
                for code in l {
                    out.extend_from_slice(code);
                }
            }
        }
    }
}

fn read_conditions(r: &mut Reader<'_>) -> Result<Vec<Condition>, DecodeError> {
    (0..r.count_u8("conditions", CONDITIONS_MAX)?)
        .map(|_| {
            Ok(match r.u8("condition")? {
                COND_CLAIM => Condition::Claim {
                    claim_type: ClaimType::from_tag(r.u8("claim type")?)?,
                    min_level: r.u8("min level")?,
                    issuers: (0..r.count_u8("condition issuers", CONDITION_ISSUERS_MAX)?)
                        .map(|_| Ok(Address(r.array("issuer")?)))
                        .collect::<Result<_, DecodeError>>()?,
                },
                COND_NO_CLAIM => Condition::NoClaim {
                    claim_type: ClaimType::from_tag(r.u8("claim type")?)?,
                },
                tag @ (COND_JURISDICTION_IN | COND_JURISDICTION_NOT_IN) => {
                    let l = (0..r.count_u8("jurisdictions", JURISDICTIONS_MAX)?)
                        .map(|_| r.array("jurisdiction"))
                        .collect::<Result<Vec<[u8; 2]>, DecodeError>>()?;
                    if tag == COND_JURISDICTION_IN {
                        Condition::JurisdictionIn(l)
                    } else {
                        Condition::JurisdictionNotIn(l)
                    }
                }
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "condition",
                        tag,
                    })
                }
            })
        })
        .collect()
}

pub fn encode_rules(rules: &AssetRules, out: &mut Vec<u8>) {
    encode_conditions(&rules.sender, out);
    encode_conditions(&rules.receiver, out);
    put_opt(out, rules.max_holders, |o, m| put_u64(o, u64::from(m)));
    put_opt(out, rules.max_balance, put_u128);
    put_opt(out, rules.velocity, |o, v| {
        put_u128(o, v.amount);
        put_u64(o, v.period_ms);
    });
    put_opt(out, rules.travel_threshold, put_u128);
}

pub fn read_rules(r: &mut Reader<'_>) -> Result<AssetRules, DecodeError> {
    Ok(AssetRules {
        sender: read_conditions(r)?,
        receiver: read_conditions(r)?,
        max_holders: r.opt("max holders", |r| {
            u32::try_from(r.u64("max holders")?).map_err(|_| DecodeError::InvalidValue {
                what: "max holders",
                reason: "over 2^32",
            })
        })?,
        max_balance: r.opt("max balance", |r| r.u128("max balance"))?,
        velocity: r.opt("velocity", |r| {
            Ok(Velocity {
                amount: r.u128("velocity amount")?,
                period_ms: r.u64("velocity period")?,
            })
        })?,
        travel_threshold: r.opt("travel threshold", |r| r.u128("travel threshold"))?,
    })
}
