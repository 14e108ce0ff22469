//! The canonical encoding of consensus messages (what validators send each other) and of
//! write-ahead-log records, in the node's codec (`crate::codec`): fixed-width little-endian
//! integers, a version byte, a tag per variant, bounded lists.
//!
//! A certificate's height, round and block are those of the decision or polka that carries it, so
//! they are written once; each value has exactly one encoding, and decoding rejects anything over
//! [`MESSAGE_BYTES_MAX`] before reading it.

use malachitebft_core_types::{
    CommitCertificate, CommitSignature, PolkaCertificate, PolkaSignature, SignedMessage,
};

use super::context::{
    Address, BlockHash, Ctx, Height, NilOrVal, Proposal, Round, Sig, SignedProposal, SignedVote,
    Timeout, TimeoutKind, Value, Vote, VoteType,
};
use super::engine::{Decision, Message, WalEntry};
use crate::codec::{put_u32, put_u64, put_u8, Decode, DecodeError, Encode, Reader};

/// Largest encoded message or log record: a certificate of [`VALIDATORS_MAX`] signatures fits.
pub const MESSAGE_BYTES_MAX: usize = 128 * 1024;
/// Most signatures in a certificate (the active set is far smaller: 21 by default).
pub const VALIDATORS_MAX: usize = 1_024;

const VERSION: u8 = 1;
const SIGNER_LEN: usize = 32 + 64;

fn put_round(out: &mut Vec<u8>, r: Round) {
    match r.as_u32() {
        None => put_u8(out, 0),
        Some(n) => {
            put_u8(out, 1);
            put_u32(out, n);
        }
    }
}

fn round(r: &mut Reader<'_>, what: &'static str) -> Result<Round, DecodeError> {
    match r.u8(what)? {
        0 => Ok(Round::Nil),
        1 => Ok(Round::new(r.u32(what)?)),
        tag => Err(DecodeError::UnknownTag { what, tag }),
    }
}

fn defined_round(r: &mut Reader<'_>, what: &'static str) -> Result<Round, DecodeError> {
    let round = round(r, what)?;
    if !round.is_defined() {
        return Err(DecodeError::InvalidValue {
            what,
            reason: "this round must be defined",
        });
    }
    Ok(round)
}

fn hash(r: &mut Reader<'_>, what: &'static str) -> Result<BlockHash, DecodeError> {
    Ok(BlockHash(r.array(what)?))
}

fn address(r: &mut Reader<'_>, what: &'static str) -> Result<Address, DecodeError> {
    Ok(Address(r.array(what)?))
}

fn sig(r: &mut Reader<'_>, what: &'static str) -> Result<Sig, DecodeError> {
    Ok(Sig(r.array(what)?))
}

fn put_proposal(out: &mut Vec<u8>, p: &SignedProposal) {
    let m = &p.message;
    put_u64(out, m.height.0);
    put_round(out, m.round);
    put_round(out, m.pol_round);
    out.extend_from_slice(&m.value.0 .0);
    out.extend_from_slice(&m.proposer.0);
    out.extend_from_slice(&p.signature.0);
}

fn proposal(r: &mut Reader<'_>) -> Result<SignedProposal, DecodeError> {
    let message = Proposal {
        height: Height(r.u64("proposal height")?),
        round: defined_round(r, "proposal round")?,
        pol_round: round(r, "proposal pol_round")?,
        value: Value(hash(r, "proposal block")?),
        proposer: address(r, "proposer")?,
    };
    Ok(SignedMessage::new(message, sig(r, "proposal signature")?))
}

fn put_vote(out: &mut Vec<u8>, v: &SignedVote) {
    let m = &v.message;
    put_u64(out, m.height.0);
    put_round(out, m.round);
    put_u8(
        out,
        match m.kind {
            VoteType::Prevote => 1,
            VoteType::Precommit => 2,
        },
    );
    match m.value {
        NilOrVal::Nil => put_u8(out, 0),
        NilOrVal::Val(h) => {
            put_u8(out, 1);
            out.extend_from_slice(&h.0);
        }
    }
    out.extend_from_slice(&m.validator.0);
    out.extend_from_slice(&v.signature.0);
}

fn vote(r: &mut Reader<'_>) -> Result<SignedVote, DecodeError> {
    let height = Height(r.u64("vote height")?);
    let round = defined_round(r, "vote round")?;
    let kind = match r.u8("vote kind")? {
        1 => VoteType::Prevote,
        2 => VoteType::Precommit,
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "vote kind",
                tag,
            })
        }
    };
    let value = match r.u8("vote value")? {
        0 => NilOrVal::Nil,
        1 => NilOrVal::Val(hash(r, "vote block")?),
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "vote value",
                tag,
            })
        }
    };
    let message = Vote {
        height,
        round,
        value,
        kind,
        validator: address(r, "voter")?,
    };
    Ok(SignedMessage::new(message, sig(r, "vote signature")?))
}

fn put_signers<'a>(
    out: &mut Vec<u8>,
    signers: impl ExactSizeIterator<Item = (&'a Address, &'a Sig)>,
) {
    let n = u32::try_from(signers.len()).expect("certificates are bounded by the validator set");
    put_u32(out, n);
    for (a, s) in signers {
        out.extend_from_slice(&a.0);
        out.extend_from_slice(&s.0);
    }
}

fn signers(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<(Address, Sig)>, DecodeError> {
    let n = r.len_prefix(what, VALIDATORS_MAX, SIGNER_LEN)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((address(r, what)?, sig(r, what)?));
    }
    Ok(out)
}

fn put_decision(out: &mut Vec<u8>, d: &Decision) {
    put_u64(out, d.height.0);
    put_round(out, d.round);
    out.extend_from_slice(&d.value.0 .0);
    put_signers(
        out,
        d.certificate
            .commit_signatures
            .iter()
            .map(|s| (&s.address, &s.signature)),
    );
}

fn decision(r: &mut Reader<'_>) -> Result<Decision, DecodeError> {
    let height = Height(r.u64("decision height")?);
    let round = defined_round(r, "decision round")?;
    let value = Value(hash(r, "decision block")?);
    let commit_signatures = signers(r, "commit signatures")?
        .into_iter()
        .map(|(a, s)| CommitSignature::new(a, s))
        .collect();
    Ok(Decision {
        height,
        round,
        value,
        certificate: CommitCertificate {
            height,
            round,
            value_id: value.0,
            commit_signatures,
        },
    })
}

fn put_polka(out: &mut Vec<u8>, c: &PolkaCertificate<Ctx>) {
    put_u64(out, c.height.0);
    put_round(out, c.round);
    out.extend_from_slice(&c.value_id.0);
    put_signers(
        out,
        c.polka_signatures
            .iter()
            .map(|s| (&s.address, &s.signature)),
    );
}

fn polka(r: &mut Reader<'_>) -> Result<PolkaCertificate<Ctx>, DecodeError> {
    let height = Height(r.u64("polka height")?);
    let round = defined_round(r, "polka round")?;
    let value_id = hash(r, "polka block")?;
    let polka_signatures = signers(r, "polka signatures")?
        .into_iter()
        .map(|(a, s)| PolkaSignature::new(a, s))
        .collect();
    Ok(PolkaCertificate {
        height,
        round,
        value_id,
        polka_signatures,
    })
}

/// Proof of double signing: two signed votes of one validator for the same height, round and
/// kind, with different values. Carried by `StakingCall::ReportEquivocation` as these bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence(pub SignedVote, pub SignedVote);

/// Why evidence proves nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("evidence does not decode: {0}")]
    Decode(#[from] DecodeError),
    #[error("the two votes are not of one validator, height, round and kind")]
    NotComparable,
    #[error("the two votes are the same vote")]
    SameValue,
    #[error("a vote's signature does not verify on this chain (forged, or signed for another chain or genesis)")]
    BadSignature,
}

impl Evidence {
    /// Decodes evidence and checks what needs no state: the votes conflict and are both signed
    /// on `chain` by the validator they name (votes of another chain or genesis are refused).
    pub fn decode_and_check(
        bytes: &[u8],
        chain: &super::context::ChainTag,
    ) -> Result<Self, EvidenceError> {
        let e: Evidence = crate::codec::decode_exact(bytes, crate::types::EVIDENCE_BYTES_MAX)?;
        let (a, b) = (&e.0.message, &e.1.message);
        if a.validator != b.validator
            || a.height != b.height
            || a.round != b.round
            || a.kind != b.kind
        {
            return Err(EvidenceError::NotComparable);
        }
        if a.value == b.value {
            return Err(EvidenceError::SameValue);
        }
        if !super::context::vote_signature_ok(chain, &e.0)
            || !super::context::vote_signature_ok(chain, &e.1)
        {
            return Err(EvidenceError::BadSignature);
        }
        Ok(e)
    }

    /// The double signer.
    pub fn validator(&self) -> Address {
        self.0.message.validator
    }
}

impl Encode for Evidence {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_vote(out, &self.0);
        put_vote(out, &self.1);
    }
}

impl Decode for Evidence {
    const WHAT: &'static str = "equivocation evidence";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Evidence(vote(r)?, vote(r)?))
    }
}

impl Encode for Message {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        match self {
            Message::Proposal(p) => {
                put_u8(out, 1);
                put_proposal(out, p);
            }
            Message::Vote(v) => {
                put_u8(out, 2);
                put_vote(out, v);
            }
            Message::Decision(d) => {
                put_u8(out, 3);
                put_decision(out, d);
            }
            Message::SyncRequest(h) => {
                put_u8(out, 4);
                put_u64(out, h.0);
            }
            Message::Polka(c) => {
                put_u8(out, 5);
                put_polka(out, c);
            }
        }
    }
}

impl Decode for Message {
    const WHAT: &'static str = "consensus message";

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(match r.u8("consensus message tag")? {
            1 => Message::Proposal(proposal(r)?),
            2 => Message::Vote(vote(r)?),
            3 => Message::Decision(Box::new(decision(r)?)),
            4 => Message::SyncRequest(Height(r.u64("sync height")?)),
            5 => Message::Polka(Box::new(polka(r)?)),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "consensus message tag",
                    tag,
                })
            }
        })
    }
}

/// A decision on its own, as stored beside its block.
impl Encode for Decision {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        put_decision(out, self);
    }
}

impl Decode for Decision {
    const WHAT: &'static str = "consensus decision";

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        decision(r)
    }
}

fn put_timeout(out: &mut Vec<u8>, t: &Timeout) {
    match t.kind {
        TimeoutKind::Propose => put_u8(out, 1),
        TimeoutKind::Prevote => put_u8(out, 2),
        TimeoutKind::Precommit => put_u8(out, 3),
        TimeoutKind::Rebroadcast => put_u8(out, 4),
        TimeoutKind::FinalizeHeight(d) => {
            put_u8(out, 5);
            put_u64(out, u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        }
    }
    put_round(out, t.round);
}

fn timeout(r: &mut Reader<'_>) -> Result<Timeout, DecodeError> {
    let kind = match r.u8("timeout kind")? {
        1 => TimeoutKind::Propose,
        2 => TimeoutKind::Prevote,
        3 => TimeoutKind::Precommit,
        4 => TimeoutKind::Rebroadcast,
        5 => TimeoutKind::FinalizeHeight(std::time::Duration::from_millis(
            r.u64("timeout duration")?,
        )),
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "timeout kind",
                tag,
            })
        }
    };
    Ok(Timeout {
        kind,
        round: defined_round(r, "timeout round")?,
    })
}

impl Encode for WalEntry {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        match self {
            WalEntry::Proposal(p) => {
                put_u8(out, 1);
                put_proposal(out, p);
            }
            WalEntry::Vote(v) => {
                put_u8(out, 2);
                put_vote(out, v);
            }
            WalEntry::Polka(c) => {
                put_u8(out, 3);
                put_polka(out, c);
            }
            WalEntry::Timeout(t) => {
                put_u8(out, 4);
                put_timeout(out, t);
            }
            WalEntry::OwnValue(round, value) => {
                put_u8(out, 5);
                put_round(out, *round);
                out.extend_from_slice(&value.0 .0);
            }
        }
    }
}

impl Decode for WalEntry {
    const WHAT: &'static str = "write-ahead log record";

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(match r.u8("log record tag")? {
            1 => WalEntry::Proposal(proposal(r)?),
            2 => WalEntry::Vote(vote(r)?),
            3 => WalEntry::Polka(Box::new(polka(r)?)),
            4 => WalEntry::Timeout(timeout(r)?),
            5 => WalEntry::OwnValue(
                defined_round(r, "own value round")?,
                Value(hash(r, "own value block")?),
            ),
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "log record tag",
                    tag,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use crate::consensus::context::{address_of, sign_proposal, sign_vote, ChainTag};
    use ed25519_dalek::SigningKey;

    fn samples() -> (Vec<Message>, Vec<WalEntry>) {
        let k = SigningKey::from_bytes(&[3; 32]);
        let a = address_of(&k);
        let p = sign_proposal(
            &ChainTag::default(),
            &k,
            Proposal {
                height: Height(5),
                round: Round::new(2),
                value: Value(BlockHash([8; 32])),
                pol_round: Round::new(1),
                proposer: a,
            },
        );
        let prevote = sign_vote(
            &ChainTag::default(),
            &k,
            Vote {
                height: Height(5),
                round: Round::new(2),
                value: NilOrVal::Nil,
                kind: VoteType::Prevote,
                validator: a,
            },
        );
        let precommit = sign_vote(
            &ChainTag::default(),
            &k,
            Vote {
                height: Height(5),
                round: Round::new(2),
                value: NilOrVal::Val(BlockHash([8; 32])),
                kind: VoteType::Precommit,
                validator: a,
            },
        );
        let decision = Decision {
            height: Height(5),
            round: Round::new(2),
            value: Value(BlockHash([8; 32])),
            certificate: CommitCertificate {
                height: Height(5),
                round: Round::new(2),
                value_id: BlockHash([8; 32]),
                commit_signatures: vec![CommitSignature::new(a, precommit.signature)],
            },
        };
        let polka = PolkaCertificate {
            height: Height(5),
            round: Round::new(1),
            value_id: BlockHash([8; 32]),
            polka_signatures: vec![PolkaSignature::new(a, prevote.signature)],
        };
        let messages = vec![
            Message::Proposal(p.clone()),
            Message::Vote(prevote),
            Message::Vote(precommit.clone()),
            Message::Decision(Box::new(decision)),
            Message::SyncRequest(Height(77)),
            Message::Polka(Box::new(polka.clone())),
        ];
        let wal = vec![
            WalEntry::Proposal(p),
            WalEntry::Vote(precommit),
            WalEntry::Polka(Box::new(polka)),
            WalEntry::Timeout(Timeout {
                kind: TimeoutKind::Precommit,
                round: Round::new(4),
            }),
            WalEntry::OwnValue(Round::ZERO, Value(BlockHash([1; 32]))),
        ];
        (messages, wal)
    }

    #[test]
    fn every_kind_round_trips_and_every_truncation_fails() {
        let (messages, wal) = samples();
        for m in messages {
            let bytes = m.to_bytes();
            assert_eq!(decode_exact::<Message>(&bytes, MESSAGE_BYTES_MAX), Ok(m));
            for cut in 0..bytes.len() {
                assert!(decode_exact::<Message>(&bytes[..cut], MESSAGE_BYTES_MAX).is_err());
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(decode_exact::<Message>(&long, MESSAGE_BYTES_MAX).is_err());
        }
        let Message::Decision(d) = &samples().0[3] else {
            unreachable!("the fourth sample is a decision")
        };
        let bytes = d.to_bytes();
        assert_eq!(
            decode_exact::<Decision>(&bytes, MESSAGE_BYTES_MAX).as_ref(),
            Ok(&**d)
        );
        for w in wal {
            let bytes = w.to_bytes();
            assert_eq!(decode_exact::<WalEntry>(&bytes, MESSAGE_BYTES_MAX), Ok(w));
            for cut in 0..bytes.len() {
                assert!(decode_exact::<WalEntry>(&bytes[..cut], MESSAGE_BYTES_MAX).is_err());
            }
        }
    }

    #[test]
    fn hostile_lengths_and_tags_are_refused_without_allocating() {
        let mut b = vec![VERSION, 3];
        b.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(&[1, 2, 0, 0, 0]);
        b.extend_from_slice(&[8; 32]);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_exact::<Message>(&b, MESSAGE_BYTES_MAX),
            Err(DecodeError::LengthOutOfRange { .. })
        ));
        assert!(matches!(
            decode_exact::<Message>(&[VERSION, 9], MESSAGE_BYTES_MAX),
            Err(DecodeError::UnknownTag { .. })
        ));
        assert!(matches!(
            decode_exact::<Message>(&[2, 1], MESSAGE_BYTES_MAX),
            Err(DecodeError::UnknownVersion { .. })
        ));
        // A vote for round nil cannot be expressed.
        let mut v = vec![VERSION, 2];
        v.extend_from_slice(&1u64.to_le_bytes());
        v.push(0);
        assert!(matches!(
            decode_exact::<Message>(&v, MESSAGE_BYTES_MAX),
            Err(DecodeError::InvalidValue { .. })
        ));
    }
}
