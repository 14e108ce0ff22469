//! Identity's state in the generic module state.
//!
//! | key (after tag 3)                               | value                              |
//! |-------------------------------------------------|------------------------------------|
//! | `1 | did`                                       | [`DidRecord`] (latest version)     |
//! | `2 | did | version (u32 BE)`                    | [`DidVersion`] (every version)     |
//! | `3 | issuer`                                    | [`TrustedIssuer`]                  |
//! | `4 | claim id`                                  | [`Claim`]                          |
//! | `5 | subject | claim id`                        | empty: every claim about a subject |
//! | `6 | subject`                                   | [`SubjectClaims`]: its live claims |
//! | `7 | issuer | purpose | list (u32 BE) | chunk (u16 BE)` | 512 bytes of a status list  |
//!
//! Invariants: a DID's record names its latest version and every version below it exists; a
//! claim's status bits and its `revoked`/`suspended` flags agree; a subject's live claims are its
//! claims that are not revoked (at most `identity.claims_per_subject_max`); an issuer's
//! `next_status_index` only grows, so a status list index is never given twice. Only serial calls
//! write any of it, so compliance may declare its reads from it (`Module::access`).

use crate::codec::{
    put_opt, put_str, put_u32, put_u64, put_u8, Decode, DecodeError, Encode, Reader,
};
use crate::modules::Module;
use crate::types::{Address, Hash, Height, StateKey};

use super::calls::{
    encode_document, put_subject, read_document, read_subject, ClaimId, ClaimType, DidDocument,
    DidId, Subject, ISSUER_NAME_LEN_MAX, ISSUER_TYPES_MAX,
};
use super::Identity;

const KEY_DID: u8 = 1;
const KEY_DID_VERSION: u8 = 2;
const KEY_ISSUER: u8 = 3;
const KEY_CLAIM: u8 = 4;
const KEY_SUBJECT_CLAIM: u8 = 5;
const KEY_SUBJECT_LIVE: u8 = 6;
const KEY_STATUS: u8 = 7;

/// Bits in one status list (Bitstring Status List's minimum, for herd privacy).
pub const STATUS_LIST_BITS: u64 = 131_072;
/// Bytes per stored chunk of a status list.
pub const STATUS_CHUNK_BYTES: usize = 512;
const STATUS_CHUNK_BITS: u64 = STATUS_CHUNK_BYTES as u64 * 8;
/// Chunks in one list.
pub const STATUS_CHUNKS: u16 = (STATUS_LIST_BITS / STATUS_CHUNK_BITS) as u16;

pub fn did_key(did: &DidId) -> StateKey {
    StateKey::new(Identity::TAG, &[&[KEY_DID], did])
}

pub fn did_version_key(did: &DidId, version: u32) -> StateKey {
    StateKey::new(
        Identity::TAG,
        &[&[KEY_DID_VERSION], did, &version.to_be_bytes()],
    )
}

pub fn did_versions_prefix(did: &DidId) -> StateKey {
    StateKey::new(Identity::TAG, &[&[KEY_DID_VERSION], did])
}

pub fn issuer_key(issuer: &Address) -> StateKey {
    StateKey::new(Identity::TAG, &[&[KEY_ISSUER], &issuer.0])
}

pub fn issuers_prefix() -> StateKey {
    StateKey::new(Identity::TAG, &[&[KEY_ISSUER]])
}

pub fn claim_key(id: &ClaimId) -> StateKey {
    StateKey::new(Identity::TAG, &[&[KEY_CLAIM], &id.0])
}

pub fn subject_claim_key(subject: &Subject, id: &ClaimId) -> StateKey {
    StateKey::new(
        Identity::TAG,
        &[&[KEY_SUBJECT_CLAIM], &subject.key_bytes(), &id.0],
    )
}

pub fn subject_claims_prefix(subject: &Subject) -> StateKey {
    StateKey::new(Identity::TAG, &[&[KEY_SUBJECT_CLAIM], &subject.key_bytes()])
}

/// The live claims of an address: the one entry compliance reads per party.
pub fn live_claims_key(subject: &Subject) -> StateKey {
    StateKey::new(Identity::TAG, &[&[KEY_SUBJECT_LIVE], &subject.key_bytes()])
}

/// Bitstring Status List purposes kept on the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Revocation = 1,
    Suspension = 2,
}

impl Purpose {
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Revocation => "revocation",
            Purpose::Suspension => "suspension",
        }
    }
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "revocation" => Some(Purpose::Revocation),
            "suspension" => Some(Purpose::Suspension),
            _ => None,
        }
    }
}

/// Where a status list index lives: its list, chunk key and bit in the chunk.
pub fn status_position(index: u64) -> (u32, u16, usize, u8) {
    let list = u32::try_from(index / STATUS_LIST_BITS).expect("an issuer issues under 2^49 claims");
    let bit = index % STATUS_LIST_BITS;
    let chunk = (bit / STATUS_CHUNK_BITS) as u16;
    let in_chunk = bit % STATUS_CHUNK_BITS;
    // Bit 0 is the most significant bit of the first byte (Bitstring Status List §3.3).
    (list, chunk, (in_chunk / 8) as usize, 0x80 >> (in_chunk % 8))
}

pub fn status_chunk_key(issuer: &Address, purpose: Purpose, list: u32, chunk: u16) -> StateKey {
    StateKey::new(
        Identity::TAG,
        &[
            &[KEY_STATUS],
            &issuer.0,
            &[purpose as u8],
            &list.to_be_bytes(),
            &chunk.to_be_bytes(),
        ],
    )
}

/// A DID's latest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidRecord {
    pub creator: Address,
    /// Latest version, from 1.
    pub version: u32,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub deactivated: bool,
}

/// One version of a DID document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidVersion {
    pub document: DidDocument,
    /// Block time and height of the transaction that made it.
    pub time_ms: u64,
    pub height: Height,
    /// This version deactivated the DID.
    pub deactivated: bool,
}

/// An entry of the trusted issuers registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// Claim types it may issue; none: no longer trusted (the entry stays for its counter).
    pub types: Vec<ClaimType>,
    pub name: String,
    /// The next status list index it gives a claim.
    pub next_status_index: u64,
}

impl TrustedIssuer {
    pub fn trusted_for(&self, t: ClaimType) -> bool {
        self.types.contains(&t)
    }
}

/// A claim, as issued, with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub issuer: Address,
    pub subject: Subject,
    pub claim_type: ClaimType,
    pub level: u8,
    pub jurisdiction: Option<[u8; 2]>,
    pub expires_ms: Option<u64>,
    pub evidence: Option<Hash>,
    /// Its index in the issuer's status lists.
    pub status_index: u64,
    pub issued_ms: u64,
    pub issued_height: Height,
    pub revoked: bool,
    pub suspended: bool,
}

/// What compliance needs of one live claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveClaim {
    pub id: ClaimId,
    pub issuer: Address,
    pub claim_type: ClaimType,
    pub level: u8,
    pub jurisdiction: Option<[u8; 2]>,
    pub expires_ms: Option<u64>,
    pub suspended: bool,
}

/// A subject's claims that are not revoked, in the order they were issued.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectClaims(pub Vec<LiveClaim>);

const VERSION: u8 = 1;
/// Upper bound of a live claims list's length (the parameter is at most this).
pub const LIVE_CLAIMS_MAX: usize = 64;

impl Encode for DidRecord {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        out.extend_from_slice(&self.creator.0);
        put_u32(out, self.version);
        put_u64(out, self.created_ms);
        put_u64(out, self.updated_ms);
        put_u8(out, self.deactivated as u8);
    }
}

impl Decode for DidRecord {
    const WHAT: &'static str = "did record";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(DidRecord {
            creator: Address(r.array("did creator")?),
            version: r.u32("did version")?,
            created_ms: r.u64("did created")?,
            updated_ms: r.u64("did updated")?,
            deactivated: r.bool("did deactivated")?,
        })
    }
}

impl Encode for DidVersion {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        encode_document(&self.document, out);
        put_u64(out, self.time_ms);
        put_u64(out, self.height);
        put_u8(out, self.deactivated as u8);
    }
}

impl Decode for DidVersion {
    const WHAT: &'static str = "did version";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(DidVersion {
            document: read_document(r)?,
            time_ms: r.u64("version time")?,
            height: r.u64("version height")?,
            deactivated: r.bool("version deactivated")?,
        })
    }
}

impl Encode for TrustedIssuer {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        put_u8(out, self.types.len() as u8);
        for t in &self.types {
            put_u8(out, *t as u8);
        }
        put_str(out, &self.name);
        put_u64(out, self.next_status_index);
    }
}

impl Decode for TrustedIssuer {
    const WHAT: &'static str = "trusted issuer";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        let n = r.count_u8("issuer types", ISSUER_TYPES_MAX)?;
        Ok(TrustedIssuer {
            types: (0..n)
                .map(|_| ClaimType::from_tag(r.u8("claim type")?))
                .collect::<Result<_, _>>()?,
            name: r.string("issuer name", ISSUER_NAME_LEN_MAX)?,
            next_status_index: r.u64("next status index")?,
        })
    }
}

impl Encode for Claim {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        out.extend_from_slice(&self.issuer.0);
        put_subject(out, &self.subject);
        put_u8(out, self.claim_type as u8);
        put_u8(out, self.level);
        put_opt(out, self.jurisdiction.as_ref(), |o, a| {
            o.extend_from_slice(a)
        });
        put_opt(out, self.expires_ms, put_u64);
        put_opt(out, self.evidence.as_ref(), |o, h| {
            o.extend_from_slice(&h.0)
        });
        put_u64(out, self.status_index);
        put_u64(out, self.issued_ms);
        put_u64(out, self.issued_height);
        put_u8(out, self.revoked as u8);
        put_u8(out, self.suspended as u8);
    }
}

impl Decode for Claim {
    const WHAT: &'static str = "claim";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(Claim {
            issuer: Address(r.array("claim issuer")?),
            subject: read_subject(r)?,
            claim_type: ClaimType::from_tag(r.u8("claim type")?)?,
            level: r.u8("claim level")?,
            jurisdiction: r.opt("jurisdiction", |r| r.array("jurisdiction"))?,
            expires_ms: r.opt("claim expiry", |r| r.u64("claim expiry"))?,
            evidence: r.opt("evidence", |r| r.array("evidence"))?.map(Hash),
            status_index: r.u64("status index")?,
            issued_ms: r.u64("issued time")?,
            issued_height: r.u64("issued height")?,
            revoked: r.bool("revoked")?,
            suspended: r.bool("suspended")?,
        })
    }
}

impl Encode for SubjectClaims {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        put_u8(out, self.0.len() as u8);
        for c in &self.0 {
            out.extend_from_slice(&c.id.0);
            out.extend_from_slice(&c.issuer.0);
            put_u8(out, c.claim_type as u8);
            put_u8(out, c.level);
            put_opt(out, c.jurisdiction.as_ref(), |o, a| o.extend_from_slice(a));
            put_opt(out, c.expires_ms, put_u64);
            put_u8(out, c.suspended as u8);
        }
    }
}

impl Decode for SubjectClaims {
    const WHAT: &'static str = "live claims";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        let n = r.count_u8("live claims", LIVE_CLAIMS_MAX)?;
        (0..n)
            .map(|_| {
                Ok(LiveClaim {
                    id: Hash(r.array("claim id")?),
                    issuer: Address(r.array("claim issuer")?),
                    claim_type: ClaimType::from_tag(r.u8("claim type")?)?,
                    level: r.u8("claim level")?,
                    jurisdiction: r.opt("jurisdiction", |r| r.array("jurisdiction"))?,
                    expires_ms: r.opt("claim expiry", |r| r.u64("claim expiry"))?,
                    suspended: r.bool("suspended")?,
                })
            })
            .collect::<Result<_, DecodeError>>()
            .map(SubjectClaims)
    }
}

impl LiveClaim {
    pub fn of(id: &ClaimId, c: &Claim) -> Self {
        LiveClaim {
            id: *id,
            issuer: c.issuer,
            claim_type: c.claim_type,
            level: c.level,
            jurisdiction: c.jurisdiction,
            expires_ms: c.expires_ms,
            suspended: c.suspended,
        }
    }

    /// Counts at `time_ms`: not suspended, not expired (revoked claims are not live at all). A
    /// claim counts strictly before its expiry.
    pub fn current(&self, time_ms: u64) -> bool {
        !self.suspended && self.expires_ms.map_or(true, |e| time_ms < e)
    }
}
