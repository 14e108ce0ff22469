//! The staking state (DPoS): validator candidates, delegations and unbonding queues, as keyed
//! entries beside the accounts. Their canonical encodings are part of the state commitment.
//!
//! Stake is held in *shares* of a validator's pool of bonded tokens: a delegation of `s` shares in
//! a pool of `T` tokens and `S` shares is worth `floor(s * T / S)`. Rewards add tokens to the pool
//! (every delegator's shares gain value, so rewards compound without touching each delegation) and
//! slashing removes tokens (every delegator loses the same fraction).
//!
//! Invariants: a validator's `shares` is the sum of its delegations' shares; `active` is sorted by
//! address, holds distinct registered validators with positive power, and is never empty once the
//! chain runs.

use std::collections::BTreeMap;

use crate::consensus::leader::{LeaderRecord, LeaderState};

use crate::codec::{put_bool, put_bytes, put_u64, put_u8, Decode, DecodeError, Encode, Reader};

use crate::types::{Address, Amount, Height};

/// Largest number of registered validators (candidates), active or not.
pub const VALIDATORS_MAX: usize = 1_024;
/// Largest number of entries in one height's unbonding queue.
pub const UNBONDING_ENTRIES_MAX: usize = 1 << 20;
/// Most heights at which stake that left one validator is still unbonding: an undelegation that
/// would add another is refused until one releases (`TxError::TooManyUnbondings`).
pub const RELEASE_HEIGHTS_MAX: usize = 4_096;
/// Longest published p2p address (`IP:PORT`; an IPv6 one with brackets is under 50 bytes).
pub const ENDPOINT_BYTES_MAX: usize = 64;

/// Where a staking entry lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StakeKey {
    /// The one registry of validators and the active set.
    Registry,
    /// A delegator's shares in a validator's pool.
    Delegation {
        validator: Address,
        delegator: Address,
    },
    /// Stake that returns to its owners' balances at the end of block `release_height`.
    Unbonding { release_height: Height },
    /// The proposer schedule's state ([`crate::consensus::leader`]), advanced every block.
    Leaders,
    /// The release heights of stake that left `validator` and is still unbonding (so that a
    /// slash for an offence before it left reaches it).
    ReleaseHeights { validator: Address },
    /// Where `validator` takes p2p connections (`IP:PORT`), as it published it.
    Endpoint { validator: Address },
}

const KEY_REGISTRY: u8 = 1;
const KEY_DELEGATION: u8 = 2;
const KEY_UNBONDING: u8 = 3;
const KEY_LEADERS: u8 = 4;
const KEY_RELEASE_HEIGHTS: u8 = 5;
const KEY_ENDPOINT: u8 = 6;

impl StakeKey {
    /// The key's storage bytes (also what the state commitment hashes).
    pub fn to_key_bytes(&self) -> Vec<u8> {
        match self {
            StakeKey::Registry => vec![KEY_REGISTRY],
            StakeKey::Delegation {
                validator,
                delegator,
            } => {
                let mut k = Vec::with_capacity(65);
                k.push(KEY_DELEGATION);
                k.extend_from_slice(&validator.0);
                k.extend_from_slice(&delegator.0);
                k
            }
            StakeKey::Unbonding { release_height } => {
                let mut k = Vec::with_capacity(9);
                k.push(KEY_UNBONDING);
                k.extend_from_slice(&release_height.to_be_bytes());
                k
            }
            StakeKey::Leaders => vec![KEY_LEADERS],
            StakeKey::ReleaseHeights { validator } => {
                let mut k = vec![KEY_RELEASE_HEIGHTS];
                k.extend_from_slice(&validator.0);
                k
            }
            StakeKey::Endpoint { validator } => {
                let mut k = vec![KEY_ENDPOINT];
                k.extend_from_slice(&validator.0);
                k
            }
        }
    }

    pub fn from_key_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let key = match r.u8("stake key tag")? {
            KEY_REGISTRY => StakeKey::Registry,
            KEY_DELEGATION => StakeKey::Delegation {
                validator: Address(r.array("delegation validator")?),
                delegator: Address(r.array("delegation delegator")?),
            },
            KEY_UNBONDING => StakeKey::Unbonding {
                release_height: u64::from_be_bytes(r.array("release height")?),
            },
            KEY_LEADERS => StakeKey::Leaders,
            KEY_RELEASE_HEIGHTS => StakeKey::ReleaseHeights {
                validator: Address(r.array("release heights validator")?),
            },
            KEY_ENDPOINT => StakeKey::Endpoint {
                validator: Address(r.array("endpoint validator")?),
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "stake key",
                    tag,
                })
            }
        };
        r.finish("stake key")?;
        Ok(key)
    }
}

/// A registered validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorInfo {
    /// Bonded tokens in the pool (self-delegation, delegations and compounded rewards).
    pub tokens: Amount,
    /// Shares outstanding against `tokens`.
    pub shares: u128,
    /// Part of rewards (basis points) the validator takes before the rest goes to the pool.
    pub commission_bps: u16,
    /// Jailed for double signing: never elected again; its delegators can still unbond.
    pub jailed: bool,
}

impl ValidatorInfo {
    /// What `shares` of this pool are worth.
    pub fn tokens_for(&self, shares: u128) -> Amount {
        if self.shares == 0 {
            return 0;
        }
        // shares <= self.shares, so the quotient is at most `tokens` and fits.
        u64::try_from(shares.min(self.shares) * u128::from(self.tokens) / self.shares)
            .expect("at most the pool's tokens")
    }
}

/// The validator registry and the active set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Registry {
    pub validators: BTreeMap<Address, ValidatorInfo>,
    /// The validators that finalize blocks now, with their voting power (bonded tokens at their
    /// election), sorted by address.
    pub active: Vec<(Address, u64)>,
    /// The set must be elected again at the end of this block (a validator was jailed).
    pub reelect: bool,
}

/// Stake that returns to balances at one height, by owner and the validator it left (merged per
/// pair): a slash of that validator for an offence before the stake left reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Unbonding(pub BTreeMap<UnbondingOwner, Amount>);

/// Whose unbonding stake it is, and which validator's pool it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnbondingOwner {
    pub owner: Address,
    pub validator: Address,
}

/// The value of a staking entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakeValue {
    Registry(Registry),
    Shares(u128),
    Unbonding(Unbonding),
    Leaders(LeaderState),
    /// Release heights, ascending and distinct ([`StakeKey::ReleaseHeights`]).
    Heights(Vec<Height>),
    /// A published p2p address ([`StakeKey::Endpoint`]), a valid socket address.
    Endpoint(std::net::SocketAddr),
}

const STAKE_VALUE_VERSION: u8 = 1;
const VALUE_REGISTRY: u8 = 1;
const VALUE_SHARES: u8 = 2;
/// The unbonding queue of builds before slashing reached unbonding stake: merged per owner, the
/// validator not recorded. Still read (a chain upgraded with stake unbonding); never written.
const VALUE_UNBONDING_UNATTRIBUTED: u8 = 3;
const VALUE_UNBONDING: u8 = 5;
const VALUE_LEADERS: u8 = 4;
const VALUE_HEIGHTS: u8 = 6;
const VALUE_ENDPOINT: u8 = 7;

fn put_u128(out: &mut Vec<u8>, v: u128) {
    out.extend_from_slice(&v.to_le_bytes());
}

impl Encode for StakeValue {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, STAKE_VALUE_VERSION);
        match self {
            StakeValue::Registry(r) => {
                put_u8(out, VALUE_REGISTRY);
                put_u64(out, r.validators.len() as u64);
                for (a, v) in &r.validators {
                    out.extend_from_slice(&a.0);
                    put_u64(out, v.tokens);
                    put_u128(out, v.shares);
                    out.extend_from_slice(&v.commission_bps.to_le_bytes());
                    put_bool(out, v.jailed);
                }
                put_u64(out, r.active.len() as u64);
                for (a, power) in &r.active {
                    out.extend_from_slice(&a.0);
                    put_u64(out, *power);
                }
                put_bool(out, r.reelect);
            }
            StakeValue::Shares(s) => {
                put_u8(out, VALUE_SHARES);
                put_u128(out, *s);
            }
            StakeValue::Unbonding(u) => {
                put_u8(out, VALUE_UNBONDING);
                put_u64(out, u.0.len() as u64);
                for (who, amount) in &u.0 {
                    out.extend_from_slice(&who.owner.0);
                    out.extend_from_slice(&who.validator.0);
                    put_u64(out, *amount);
                }
            }
            StakeValue::Leaders(l) => {
                put_u8(out, VALUE_LEADERS);
                put_u64(out, l.height);
                put_u64(out, l.priorities.len() as u64);
                for (a, p) in &l.priorities {
                    out.extend_from_slice(&a.0);
                    out.extend_from_slice(&p.to_le_bytes());
                }
                put_u64(out, l.records.len() as u64);
                for (a, r) in &l.records {
                    out.extend_from_slice(&a.0);
                    out.extend_from_slice(&r.failures_in_a_row.to_le_bytes());
                    put_u64(out, r.skipped_until);
                    put_u64(out, r.missed_proposals);
                    put_u64(out, r.proposed);
                }
            }
            StakeValue::Heights(heights) => {
                put_u8(out, VALUE_HEIGHTS);
                put_u64(out, heights.len() as u64);
                for h in heights {
                    put_u64(out, *h);
                }
            }
            StakeValue::Endpoint(socket) => {
                put_u8(out, VALUE_ENDPOINT);
                put_bytes(out, socket.to_string().as_bytes());
            }
        }
    }
}

fn count(r: &mut Reader<'_>, what: &'static str, max: usize) -> Result<usize, DecodeError> {
    let n = r.u64(what)?;
    usize::try_from(n)
        .ok()
        .filter(|n| *n <= max)
        .ok_or(DecodeError::InvalidValue {
            what,
            reason: "count over its limit",
        })
}

fn u128_le(r: &mut Reader<'_>, what: &'static str) -> Result<u128, DecodeError> {
    Ok(u128::from_le_bytes(r.array(what)?))
}

impl Decode for StakeValue {
    const WHAT: &'static str = "stake value";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, STAKE_VALUE_VERSION)?;
        match r.u8("stake value tag")? {
            VALUE_REGISTRY => {
                let mut reg = Registry::default();
                for _ in 0..count(r, "validator count", VALIDATORS_MAX)? {
                    let a = Address(r.array("validator address")?);
                    let info = ValidatorInfo {
                        tokens: r.u64("validator tokens")?,
                        shares: u128_le(r, "validator shares")?,
                        commission_bps: u16::from_le_bytes(r.array("commission")?),
                        jailed: r.bool("jailed")?,
                    };
                    if reg.validators.insert(a, info).is_some() {
                        return Err(DecodeError::InvalidValue {
                            what: "validator registry",
                            reason: "a validator appears twice",
                        });
                    }
                }
                for _ in 0..count(r, "active count", VALIDATORS_MAX)? {
                    reg.active
                        .push((Address(r.array("active validator")?), r.u64("power")?));
                }
                reg.reelect = r.bool("reelect")?;
                Ok(StakeValue::Registry(reg))
            }
            VALUE_SHARES => Ok(StakeValue::Shares(u128_le(r, "shares")?)),
            VALUE_UNBONDING => decode_unbonding(r, true).map(StakeValue::Unbonding),
            // The validator it left is unknown: the entry is filed under its owner. No
            // validator's index lists these heights (they all precede any release height written
            // since), so no slash reaches them, as before; they release as usual.
            VALUE_UNBONDING_UNATTRIBUTED => decode_unbonding(r, false).map(StakeValue::Unbonding),
            VALUE_HEIGHTS => {
                let n = count(r, "release height count", RELEASE_HEIGHTS_MAX)?;
                let mut heights = Vec::with_capacity(n);
                for _ in 0..n {
                    let h = r.u64("release height")?;
                    if heights.last().is_some_and(|last| *last >= h) {
                        return Err(DecodeError::InvalidValue {
                            what: "release heights",
                            reason: "not ascending and distinct",
                        });
                    }
                    heights.push(h);
                }
                Ok(StakeValue::Heights(heights))
            }
            VALUE_ENDPOINT => {
                let text = r.bytes("endpoint", ENDPOINT_BYTES_MAX)?;
                let socket = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or(DecodeError::InvalidValue {
                        what: "endpoint",
                        reason: "not an IP:PORT socket address",
                    })?;
                Ok(StakeValue::Endpoint(socket))
            }
            VALUE_LEADERS => decode_leaders(r).map(StakeValue::Leaders),
            tag => Err(DecodeError::UnknownTag {
                what: "stake value",
                tag,
            }),
        }
    }
}

/// An unbonding queue; without `attributed` (earlier builds) entries name their owner alone.
fn decode_unbonding(r: &mut Reader<'_>, attributed: bool) -> Result<Unbonding, DecodeError> {
    let mut u = Unbonding::default();
    for _ in 0..count(r, "unbonding count", UNBONDING_ENTRIES_MAX)? {
        let owner = Address(r.array("unbonding owner")?);
        let validator = if attributed {
            Address(r.array("unbonding validator")?)
        } else {
            owner
        };
        let amount = r.u64("unbonding amount")?;
        if u.0
            .insert(UnbondingOwner { owner, validator }, amount)
            .is_some()
        {
            return Err(DecodeError::InvalidValue {
                what: "unbonding queue",
                reason: "an owner and validator appear twice",
            });
        }
    }
    Ok(u)
}

fn decode_leaders(r: &mut Reader<'_>) -> Result<LeaderState, DecodeError> {
    use crate::consensus::context::Address as Validator;
    let twice = |what| DecodeError::InvalidValue {
        what,
        reason: "a validator appears twice",
    };
    let mut l = LeaderState {
        height: r.u64("leaders height")?,
        ..LeaderState::default()
    };
    for _ in 0..count(r, "priority count", VALIDATORS_MAX)? {
        let a = Validator(r.array("priority validator")?);
        let p = i64::from_le_bytes(r.array("priority")?);
        if l.priorities.insert(a, p).is_some() {
            return Err(twice("proposer priorities"));
        }
    }
    for _ in 0..count(r, "record count", VALIDATORS_MAX)? {
        let a = Validator(r.array("record validator")?);
        let record = LeaderRecord {
            failures_in_a_row: u32::from_le_bytes(r.array("failures in a row")?),
            skipped_until: r.u64("skipped until")?,
            missed_proposals: r.u64("missed proposals")?,
            proposed: r.u64("proposed")?,
        };
        if l.records.insert(a, record).is_some() {
            return Err(twice("proposer records"));
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;

    #[test]
    fn keys_and_values_round_trip() {
        for key in [
            StakeKey::Registry,
            StakeKey::Delegation {
                validator: Address([1; 32]),
                delegator: Address([2; 32]),
            },
            StakeKey::Unbonding { release_height: 77 },
            StakeKey::Leaders,
            StakeKey::ReleaseHeights {
                validator: Address([6; 32]),
            },
            StakeKey::Endpoint {
                validator: Address([7; 32]),
            },
        ] {
            assert_eq!(StakeKey::from_key_bytes(&key.to_key_bytes()), Ok(key));
        }
        let mut reg = Registry::default();
        reg.validators.insert(
            Address([3; 32]),
            ValidatorInfo {
                tokens: 10,
                shares: 20,
                commission_bps: 500,
                jailed: true,
            },
        );
        reg.active.push((Address([3; 32]), 10));
        reg.reelect = true;
        let mut unbonding = Unbonding::default();
        unbonding.0.insert(
            UnbondingOwner {
                owner: Address([4; 32]),
                validator: Address([3; 32]),
            },
            99,
        );
        let mut leaders = LeaderState {
            height: 9,
            ..LeaderState::default()
        };
        let v = crate::consensus::context::Address([5; 32]);
        leaders.priorities.insert(v, -7);
        leaders.records.insert(
            v,
            LeaderRecord {
                failures_in_a_row: 2,
                skipped_until: 60,
                missed_proposals: 3,
                proposed: 4,
            },
        );
        for v in [
            StakeValue::Registry(reg),
            StakeValue::Shares(u128::MAX),
            StakeValue::Unbonding(unbonding),
            StakeValue::Leaders(leaders),
            StakeValue::Heights(vec![3, 9, 40]),
            StakeValue::Endpoint("127.0.0.1:26656".parse().expect("socket")),
            StakeValue::Endpoint("[::1]:9".parse().expect("socket")),
        ] {
            assert_eq!(decode_exact::<StakeValue>(&v.to_bytes(), 1 << 20), Ok(v));
        }
    }

    #[test]
    fn unbonding_queues_of_earlier_builds_still_read_and_bad_values_are_refused() {
        let mut old = vec![STAKE_VALUE_VERSION, VALUE_UNBONDING_UNATTRIBUTED];
        put_u64(&mut old, 1);
        old.extend_from_slice(&[4; 32]);
        put_u64(&mut old, 99);
        let who = UnbondingOwner {
            owner: Address([4; 32]),
            validator: Address([4; 32]),
        };
        assert_eq!(
            decode_exact::<StakeValue>(&old, 1 << 20),
            Ok(StakeValue::Unbonding(Unbonding([(who, 99)].into())))
        );
        let mut descending = vec![STAKE_VALUE_VERSION, VALUE_HEIGHTS];
        put_u64(&mut descending, 2);
        put_u64(&mut descending, 9);
        put_u64(&mut descending, 3);
        assert!(decode_exact::<StakeValue>(&descending, 1 << 20).is_err());
        let mut endpoint = vec![STAKE_VALUE_VERSION, VALUE_ENDPOINT];
        put_bytes(&mut endpoint, b"localhost:80");
        assert!(decode_exact::<StakeValue>(&endpoint, 1 << 20).is_err());
    }

    #[test]
    fn shares_are_worth_their_part_of_the_pool() {
        let v = ValidatorInfo {
            tokens: 150,
            shares: 100,
            commission_bps: 0,
            jailed: false,
        };
        assert_eq!(v.tokens_for(50), 75);
        assert_eq!(v.tokens_for(100), 150);
        assert_eq!(v.tokens_for(1), 1);
    }
}
