//! The types Malachite's round state machine runs on: heights, validators, block hashes as values,
//! proposals and votes, and Ed25519 (ZIP-215) as the signing scheme.
//!
//! Invariants:
//! - a validator's address is its Ed25519 public key, so a signature names its signer;
//! - the validator set is sorted by address and holds each address once: every iteration over it,
//!   proposer selection included, is a pure function of its contents;
//! - what is signed is a fixed-size, domain-separated encoding ([`vote_sign_bytes`],
//!   [`proposal_sign_bytes`]) that starts with the chain's [`ChainTag`] (chain id and genesis
//!   hash), so a vote can never verify as a proposal or the other way round, nor on another
//!   chain.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use malachitebft_core_types::{self as mc, SignedExtension, SignedMessage, VotingPower};
use thiserror::Error;

/// Malachite's types that appear in this module's API, so that users need not depend on it.
pub use malachitebft_core_types::{CommitCertificate, Timeout, TimeoutKind};
pub use malachitebft_core_types::{LinearTimeouts, NilOrVal, Round, VoteType};

/// A block height; the first block after genesis is height 1.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

fn short_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for b in &bytes[..4] {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// `Debug` as `Name(01234567)` and `Display` as `01234567`: the first 4 bytes in hex, enough to
/// tell validators and blocks apart in logs.
macro_rules! short_hex_fmt {
    ($($t:ident),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($t), "("))?;
                short_hex(&self.0, f)?;
                f.write_str(")")
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                short_hex(&self.0, f)
            }
        }
    )*};
}

short_hex_fmt!(Address, BlockHash, Sig);

/// A validator's address: its Ed25519 public key.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 32]);

impl mc::Address for Address {}

/// The hash of a block: what validators vote on.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub [u8; 32]);

/// The value consensus decides: a block, named by its hash. Block bodies travel beside consensus
/// and are checked by the host before it calls a proposal valid.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Value(pub BlockHash);

impl mc::Value for Value {
    type Id = BlockHash;

    fn id(&self) -> BlockHash {
        self.0
    }
}

/// Ed25519 signatures, verified by the node's one rule (ZIP-215, `sigverify::zip215`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

/// A 64-byte Ed25519 signature (ordered, as Malachite requires, by its bytes).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sig(pub [u8; 64]);

#[derive(Debug, Error)]
#[error("expected {expected} bytes, got {got}")]
pub struct DecodingError {
    expected: usize,
    got: usize,
}

/// Exactly `N` bytes, or how many there were instead.
fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodingError> {
    <[u8; N]>::try_from(bytes).map_err(|_| DecodingError {
        expected: N,
        got: bytes.len(),
    })
}

impl mc::SigningScheme for Ed25519 {
    type DecodingError = DecodingError;
    type Signature = Sig;
    type PublicKey = Address;
    type PrivateKey = SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<Sig, DecodingError> {
        fixed(bytes).map(Sig)
    }

    fn encode_signature(signature: &Sig) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<Address, DecodingError> {
        fixed(bytes).map(Address)
    }

    fn encode_public_key(public_key: &Address) -> Vec<u8> {
        public_key.0.to_vec()
    }
}

/// A validator of the active set and its voting power (its stake).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: Address,
    pub voting_power: VotingPower,
}

impl mc::Validator<Ctx> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &Address {
        &self.address
    }

    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ValidatorSetError {
    #[error("a validator set needs at least one validator")]
    Empty,
    #[error("validator {0} appears twice")]
    Duplicate(Address),
    #[error("validator {0} has no voting power")]
    ZeroPower(Address),
    #[error("total voting power overflows")]
    Overflow,
}

/// The active validators, sorted by address, and the proposer schedule's state when the chain
/// keeps one ([`super::leader`]; without it, plain round robin).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
    total: VotingPower,
    leaders: Option<std::sync::Arc<super::leader::LeaderState>>,
    /// The schedule's proposers of the rounds asked so far, at the schedule's height.
    turns: std::sync::Arc<TurnsCache>,
}

/// A memo beside the set, not part of what the set is: equal sets are equal whatever it holds.
#[derive(Default)]
struct TurnsCache(std::sync::Mutex<super::leader::Turns>);

impl PartialEq for TurnsCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TurnsCache {}

impl fmt::Debug for TurnsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnsCache")
    }
}

/// Rounds beyond this are computed afresh rather than memoized (the memo stays small).
const TURNS_CACHED_MAX: u32 = 4_096;

impl ValidatorSet {
    pub fn new(mut validators: Vec<Validator>) -> Result<Self, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        validators.sort_by_key(|v| v.address);
        let mut total: VotingPower = 0;
        for (i, v) in validators.iter().enumerate() {
            if i > 0 && validators[i - 1].address == v.address {
                return Err(ValidatorSetError::Duplicate(v.address));
            }
            if v.voting_power == 0 {
                return Err(ValidatorSetError::ZeroPower(v.address));
            }
            total = total
                .checked_add(v.voting_power)
                .ok_or(ValidatorSetError::Overflow)?;
        }
        Ok(Self {
            validators,
            total,
            leaders: None,
            turns: Default::default(),
        })
    }

    /// The same set, its proposers chosen by `leaders` (weighted, with reputation).
    pub fn with_leaders(mut self, leaders: super::leader::LeaderState) -> Self {
        self.leaders = Some(std::sync::Arc::new(leaders));
        self.turns = Default::default();
        self
    }

    pub fn leaders(&self) -> Option<&super::leader::LeaderState> {
        self.leaders.as_deref()
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    pub fn get(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by_key(address, |v| v.address)
            .ok()
            .map(|i| &self.validators[i])
    }

    pub fn total_power(&self) -> VotingPower {
        self.total
    }

    /// Whether `power` is more than two thirds of the total (a commit quorum).
    pub fn is_quorum(&self, power: VotingPower) -> bool {
        u128::from(power) * 3 > u128::from(self.total) * 2
    }
}

impl mc::ValidatorSet<Ctx> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.total
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.get(address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A proposal: the proposer's block for a height and round, with the round of its proof of lock.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: Value,
    pub pol_round: Round,
    pub proposer: Address,
}

impl mc::Proposal<Ctx> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &Value {
        &self.value
    }

    fn take_value(self) -> Value {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// A prevote or precommit for a block hash or for nil.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockHash>,
    pub kind: VoteType,
    pub validator: Address,
}

impl mc::Vote<Ctx> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.kind
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    // Vote extensions are not used: votes carry none and ignore any offered.
    fn extension(&self) -> Option<&SignedExtension<Ctx>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<Ctx>> {
        None
    }

    fn extend(self, _extension: SignedExtension<Ctx>) -> Self {
        self
    }
}

/// Proposals travel whole (Malachite's `ValuePayload::ProposalOnly`), so there are no proposal
/// parts: this type has no values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoProposalParts {}

impl mc::ProposalPart<Ctx> for NoProposalParts {
    fn is_first(&self) -> bool {
        match *self {}
    }

    fn is_last(&self) -> bool {
        match *self {}
    }
}

/// MameyNode's consensus context for Malachite.
#[derive(Copy, Clone, Debug, Default)]
pub struct Ctx;

impl mc::Context for Ctx {
    type Address = Address;
    type Height = Height;
    type ProposalPart = NoProposalParts;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = Value;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        proposer(validator_set, height, round)
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: Value,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            height,
            round,
            value: value_id,
            kind: VoteType::Prevote,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            height,
            round,
            value: value_id,
            kind: VoteType::Precommit,
            validator: address,
        }
    }
}

/// The proposer of a round: by the set's proposer schedule ([`super::leader`]: stake-weighted,
/// failed proposers skipped) when it has one, else round robin over the sorted set, starting one
/// further each height.
pub fn proposer(set: &ValidatorSet, height: Height, round: Round) -> &Validator {
    // A nil round never reaches here (the driver asks for defined rounds); it counts as round 0.
    let r = round.as_u32().unwrap_or(0);
    if let Some(leaders) = &set.leaders {
        let chosen = if height.0 == leaders.height && r <= TURNS_CACHED_MAX {
            let mut turns = set.turns.0.lock().unwrap_or_else(|p| p.into_inner());
            leaders.turn(set, height.0, r, &mut turns)
        } else {
            leaders.proposer(set, height.0, r)
        };
        if let Some(v) = set.get(&chosen) {
            return v;
        }
        debug_assert!(false, "the schedule chose {chosen}, who is not in the set");
    }
    let n = set.validators.len() as u64;
    let i = (height.0 % n + u64::from(r) % n) % n;
    &set.validators[i as usize]
}

pub type SignedVote = SignedMessage<Ctx, Vote>;
pub type SignedProposal = SignedMessage<Ctx, Proposal>;

const VOTE_DOMAIN: &[u8; 16] = b"mamey/vote/v2\0\0\0";
const PROPOSAL_DOMAIN: &[u8; 16] = b"mamey/proposal/2";

/// What binds every signed consensus message to one chain: its id and its genesis block's hash.
/// A vote or proposal signed on one chain never verifies on another, nor on a chain started
/// again from another genesis under the same id, so a key used on two chains cannot be slashed
/// on one for what it signed on the other, and no message replays across chains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChainTag {
    pub chain_id: u64,
    pub genesis_hash: [u8; 32],
}

impl ChainTag {
    /// The 40 bytes every sign-bytes carries after its domain.
    fn bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..8].copy_from_slice(&self.chain_id.to_le_bytes());
        out[8..].copy_from_slice(&self.genesis_hash);
        out
    }
}

fn round_bytes(round: Round) -> [u8; 8] {
    round.as_i64().to_le_bytes()
}

/// What a validator signs for a vote: domain, chain id, genesis hash, height, round, kind,
/// value (or nil), validator.
pub fn vote_sign_bytes(chain: &ChainTag, v: &Vote) -> [u8; 138] {
    let mut out = [0u8; 138];
    out[..16].copy_from_slice(VOTE_DOMAIN);
    out[16..56].copy_from_slice(&chain.bytes());
    out[56..64].copy_from_slice(&v.height.0.to_le_bytes());
    out[64..72].copy_from_slice(&round_bytes(v.round));
    out[72] = match v.kind {
        VoteType::Prevote => 1,
        VoteType::Precommit => 2,
    };
    if let NilOrVal::Val(hash) = v.value {
        out[73] = 1;
        out[74..106].copy_from_slice(&hash.0);
    }
    out[106..138].copy_from_slice(&v.validator.0);
    out
}

/// What a proposer signs: domain, chain id, genesis hash, height, round, proof-of-lock round,
/// block hash, proposer.
pub fn proposal_sign_bytes(chain: &ChainTag, p: &Proposal) -> [u8; 144] {
    let mut out = [0u8; 144];
    out[..16].copy_from_slice(PROPOSAL_DOMAIN);
    out[16..56].copy_from_slice(&chain.bytes());
    out[56..64].copy_from_slice(&p.height.0.to_le_bytes());
    out[64..72].copy_from_slice(&round_bytes(p.round));
    out[72..80].copy_from_slice(&round_bytes(p.pol_round));
    out[80..112].copy_from_slice(&p.value.0 .0);
    out[112..144].copy_from_slice(&p.proposer.0);
    out
}

pub fn sign_vote(chain: &ChainTag, key: &SigningKey, vote: Vote) -> SignedVote {
    let signature = Sig(key.sign(&vote_sign_bytes(chain, &vote)).to_bytes());
    SignedMessage::new(vote, signature)
}

pub fn sign_proposal(chain: &ChainTag, key: &SigningKey, proposal: Proposal) -> SignedProposal {
    let signature = Sig(key.sign(&proposal_sign_bytes(chain, &proposal)).to_bytes());
    SignedMessage::new(proposal, signature)
}

/// Whether the vote's signature is its validator's, on this chain (the address is the public
/// key).
pub fn vote_signature_ok(chain: &ChainTag, v: &SignedVote) -> bool {
    crate::sigverify::zip215::verify(
        &v.message.validator.0,
        &vote_sign_bytes(chain, &v.message),
        &v.signature.0,
    )
}

/// Whether the proposal's signature is its proposer's, on this chain.
pub fn proposal_signature_ok(chain: &ChainTag, p: &SignedProposal) -> bool {
    crate::sigverify::zip215::verify(
        &p.message.proposer.0,
        &proposal_sign_bytes(chain, &p.message),
        &p.signature.0,
    )
}

/// The validator address of a signing key.
pub fn address_of(key: &SigningKey) -> Address {
    Address(key.verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_bytes(&[i; 32])
    }

    fn set(n: u8) -> ValidatorSet {
        ValidatorSet::new(
            (1..=n)
                .map(|i| Validator {
                    address: address_of(&key(i)),
                    voting_power: u64::from(i),
                })
                .collect(),
        )
        .expect("valid set")
    }

    #[test]
    fn validator_set_is_sorted_and_rejects_bad_input() {
        let s = set(5);
        assert!(s
            .validators()
            .windows(2)
            .all(|w| w[0].address < w[1].address));
        assert_eq!(s.total_power(), 15);
        assert!(s.is_quorum(11) && !s.is_quorum(10));
        let dup = vec![s.validators()[0], s.validators()[0]];
        assert_eq!(
            ValidatorSet::new(dup),
            Err(ValidatorSetError::Duplicate(s.validators()[0].address))
        );
        assert_eq!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty));
    }

    #[test]
    fn proposer_rotates_over_every_validator() {
        let s = set(4);
        let mut seen: Vec<Address> = (0..4)
            .map(|r| proposer(&s, Height(7), Round::new(r)).address)
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 4);
        assert_ne!(
            proposer(&s, Height(1), Round::ZERO).address,
            proposer(&s, Height(2), Round::ZERO).address
        );
    }

    #[test]
    fn signatures_bind_every_field_the_kind_of_message_and_the_chain() {
        let chain = ChainTag {
            chain_id: 7,
            genesis_hash: [3; 32],
        };
        let k = key(1);
        let vote = Vote {
            height: Height(3),
            round: Round::new(1),
            value: NilOrVal::Val(BlockHash([9; 32])),
            kind: VoteType::Prevote,
            validator: address_of(&k),
        };
        let signed = sign_vote(&chain, &k, vote);
        assert!(vote_signature_ok(&chain, &signed));
        for other in [
            ChainTag {
                chain_id: 8,
                ..chain
            },
            ChainTag {
                genesis_hash: [4; 32],
                ..chain
            },
        ] {
            assert!(!vote_signature_ok(&other, &signed), "{other:?}");
        }
        for changed in [
            Vote {
                height: Height(4),
                ..vote
            },
            Vote {
                round: Round::new(2),
                ..vote
            },
            Vote {
                value: NilOrVal::Nil,
                ..vote
            },
            Vote {
                kind: VoteType::Precommit,
                ..vote
            },
            Vote {
                validator: address_of(&key(2)),
                ..vote
            },
        ] {
            let forged = SignedMessage::new(changed, signed.signature);
            assert!(!vote_signature_ok(&chain, &forged), "{changed:?}");
        }
        let proposal = Proposal {
            height: Height(3),
            round: Round::new(1),
            value: Value(BlockHash([9; 32])),
            pol_round: Round::Nil,
            proposer: address_of(&k),
        };
        let p = sign_proposal(&chain, &k, proposal);
        assert!(proposal_signature_ok(&chain, &p));
        assert!(!proposal_signature_ok(&ChainTag::default(), &p));
        assert!(!proposal_signature_ok(
            &chain,
            &SignedMessage::new(
                Proposal {
                    pol_round: Round::ZERO,
                    ..proposal
                },
                p.signature
            )
        ));
    }
}
