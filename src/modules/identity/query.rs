//! Identity queries over committed state: DID resolution (by version or time), claims, the
//! trusted issuers registry and status lists.

use super::calls::{ClaimId, DidId, Subject};
use super::state::{
    claim_key, did_key, did_version_key, issuer_key, issuers_prefix, live_claims_key,
    status_chunk_key, subject_claims_prefix, Claim, DidRecord, DidVersion, Purpose, SubjectClaims,
    TrustedIssuer, STATUS_CHUNKS, STATUS_CHUNK_BYTES, STATUS_LIST_BITS,
};
use crate::execution::{StateScan, StateView};
use crate::modules::get;
use crate::types::{Address, Hash, StateKey};

/// Which version of a DID to resolve (DID Resolution's `versionId` and `versionTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VersionQuery {
    pub version_id: Option<u32>,
    /// The version in force at this time (ms since the epoch, block time).
    pub version_time_ms: Option<u64>,
}

/// A resolved DID: its record, the version asked for and the one after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub did: DidId,
    pub record: DidRecord,
    pub version_id: u32,
    pub version: DidVersion,
    /// The next version's id and time, when the resolved one is not the latest.
    pub next: Option<(u32, u64)>,
}

/// Resolves `did` as `q` asks; `None` when the DID, or the version asked for, does not exist.
pub fn resolve<S: StateView>(
    state: &S,
    did: &DidId,
    q: VersionQuery,
) -> Result<Option<Resolved>, S::Error> {
    let Some(record) = get::<DidRecord, S>(state, &did_key(did))? else {
        return Ok(None);
    };
    let version_id = match (q.version_id, q.version_time_ms) {
        (Some(v), _) if v == 0 || v > record.version => return Ok(None),
        (Some(v), _) => v,
        (None, Some(t)) => {
            // The last version made at or before `t`: versions are in time order, so bisect.
            let (mut lo, mut hi) = (1u32, record.version);
            let mut found = None;
            while lo <= hi {
                let mid = lo + (hi - lo) / 2;
                let v = version(state, did, mid)?;
                if v.time_ms <= t {
                    found = Some(mid);
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            match found {
                Some(v) => v,
                None => return Ok(None),
            }
        }
        (None, None) => record.version,
    };
    let version = version(state, did, version_id)?;
    let next = if version_id < record.version {
        Some((
            version_id + 1,
            self::version(state, did, version_id + 1)?.time_ms,
        ))
    } else {
        None
    };
    Ok(Some(Resolved {
        did: *did,
        record,
        version_id,
        version,
        next,
    }))
}

fn version<S: StateView>(state: &S, did: &DidId, v: u32) -> Result<DidVersion, S::Error> {
    Ok(get::<DidVersion, S>(state, &did_version_key(did, v))?
        .expect("every version up to a DID's latest exists"))
}

pub fn claim<S: StateView>(state: &S, id: &ClaimId) -> Result<Option<Claim>, S::Error> {
    get(state, &claim_key(id))
}

/// Every claim about `subject` (revoked ones too), in claim id order, a page at a time.
pub fn claims_of<S: StateScan>(
    state: &S,
    subject: &Subject,
    after: Option<&ClaimId>,
    limit: usize,
) -> Result<Vec<(ClaimId, Claim)>, S::Error> {
    let prefix = subject_claims_prefix(subject);
    let start = after.map(|id| super::state::subject_claim_key(subject, id));
    let mut out = Vec::new();
    for (k, _) in state.scan(&prefix, start.as_ref(), limit)? {
        let id_bytes: [u8; 32] = k.suffix()[k.suffix().len() - 32..]
            .try_into()
            .expect("claim index keys end with the claim id");
        let id = Hash(id_bytes);
        if let Some(c) = claim(state, &id)? {
            out.push((id, c));
        }
    }
    Ok(out)
}

/// The subject's live claims (what compliance evaluates).
pub fn live_claims<S: StateView>(state: &S, subject: &Subject) -> Result<SubjectClaims, S::Error> {
    Ok(get(state, &live_claims_key(subject))?.unwrap_or_default())
}

pub fn issuer<S: StateView>(
    state: &S,
    issuer: &Address,
) -> Result<Option<TrustedIssuer>, S::Error> {
    get(state, &issuer_key(issuer))
}

/// The trusted issuers registry (entries trusted for nothing included), a page at a time.
pub fn issuers<S: StateScan>(
    state: &S,
    after: Option<&Address>,
    limit: usize,
) -> Result<Vec<(Address, TrustedIssuer)>, S::Error> {
    let start: Option<StateKey> = after.map(issuer_key);
    state
        .scan(&issuers_prefix(), start.as_ref(), limit)?
        .into_iter()
        .map(|(k, _)| {
            let a = Address(
                k.suffix()[1..]
                    .try_into()
                    .expect("issuer keys end with an address"),
            );
            Ok((a, issuer(state, &a)?.expect("scanned entries exist")))
        })
        .collect()
}

/// One whole status list (131,072 bits, bit 0 the most significant bit of byte 0).
pub fn status_list<S: StateView>(
    state: &S,
    issuer: &Address,
    purpose: Purpose,
    list: u32,
) -> Result<Vec<u8>, S::Error> {
    let mut bits = Vec::with_capacity((STATUS_LIST_BITS / 8) as usize);
    for chunk in 0..STATUS_CHUNKS {
        match state.get(&status_chunk_key(issuer, purpose, list, chunk))? {
            Some(c) => bits.extend_from_slice(&c),
            None => bits.extend_from_slice(&[0u8; STATUS_CHUNK_BYTES]),
        }
    }
    Ok(bits)
}
