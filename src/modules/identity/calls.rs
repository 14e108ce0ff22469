//! Identity calls and their encoding (after payload tag 3), and the DID document they carry.
//!
//! A DID document on the ledger is kept in a compact typed form ([`DidDocument`]): Ed25519
//! verification methods with their relationships, services, and the addresses that control the
//! DID. Its W3C JSON form is made where it is served (`did.rs`); unknown key types cannot be
//! written at all.

use crate::codec::{put_bytes, put_opt, put_str, put_u64, put_u8, DecodeError, Reader};
use crate::types::{Address, Hash};

/// A DID's method-specific id: `SHA-256("mamey/did" || creator || nonce)`, first 16 bytes.
/// `did:mamey:` followed by its 32 hex digits is the DID.
pub type DidId = [u8; 16];
/// A claim's id: `SHA-256("mamey/claim" || issuer || nonce)`.
pub type ClaimId = Hash;

/// The id of the DID created by `creator`'s transaction with nonce `nonce`.
pub fn did_id(creator: &Address, nonce: u64) -> DidId {
    let h = Hash::sha256_tagged(b"mamey/did", &[&creator.0, &nonce.to_be_bytes()]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.0[..16]);
    id
}

/// The id of the claim issued by `issuer`'s transaction with nonce `nonce`.
pub fn claim_id(issuer: &Address, nonce: u64) -> ClaimId {
    Hash::sha256_tagged(b"mamey/claim", &[&issuer.0, &nonce.to_be_bytes()])
}

/// Most verification methods, services and controllers in one document.
pub const METHODS_MAX: usize = 16;
pub const SERVICES_MAX: usize = 16;
pub const CONTROLLERS_MAX: usize = 8;
/// Longest fragment (`#key-1`), service type and service endpoint.
pub const FRAGMENT_LEN_MAX: usize = 32;
pub const SERVICE_TYPE_LEN_MAX: usize = 64;
pub const ENDPOINT_LEN_MAX: usize = 256;
/// Largest encoded document.
pub const DOCUMENT_BYTES_MAX: usize = 8 * 1024;
/// Longest trusted issuer name.
pub const ISSUER_NAME_LEN_MAX: usize = 64;
/// Most claim types one issuer may be trusted for.
pub const ISSUER_TYPES_MAX: usize = 16;

/// Verification relationships (DID Core §5.3), as bit flags.
pub const REL_AUTHENTICATION: u8 = 1;
pub const REL_ASSERTION: u8 = 2;
pub const REL_CAPABILITY_INVOCATION: u8 = 4;
pub const REL_CAPABILITY_DELEGATION: u8 = 8;
const REL_ALL: u8 = 0x0f;

/// The relationship names in DID Core, with their flags.
pub const RELATIONSHIPS: [(&str, u8); 4] = [
    ("authentication", REL_AUTHENTICATION),
    ("assertionMethod", REL_ASSERTION),
    ("capabilityInvocation", REL_CAPABILITY_INVOCATION),
    ("capabilityDelegation", REL_CAPABILITY_DELEGATION),
];

/// One Ed25519 verification method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationMethod {
    /// The part after `#` in its id.
    pub fragment: String,
    pub public_key: [u8; 32],
    /// [`RELATIONSHIPS`] flags.
    pub relationships: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub fragment: String,
    pub kind: String,
    pub endpoint: String,
}

/// A DID document in its ledger form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DidDocument {
    /// Addresses whose transactions may update or deactivate the DID.
    pub controllers: Vec<Address>,
    pub methods: Vec<VerificationMethod>,
    pub services: Vec<Service>,
}

impl DidDocument {
    /// The document a DID gets when its creator gives none: the creator controls it and its key
    /// is `#key-1` for every relationship.
    pub fn of_key(creator: &Address) -> Self {
        DidDocument {
            controllers: vec![*creator],
            methods: vec![VerificationMethod {
                fragment: "key-1".into(),
                public_key: creator.0,
                relationships: REL_ALL,
            }],
            services: Vec::new(),
        }
    }

    /// The checks a document must pass (bounds, unique fragments, fragment characters).
    pub fn validate(&self) -> Result<(), String> {
        if self.controllers.is_empty() || self.controllers.len() > CONTROLLERS_MAX {
            return Err(format!(
                "a document has 1 to {CONTROLLERS_MAX} controllers, not {}",
                self.controllers.len()
            ));
        }
        if self.methods.is_empty() || self.methods.len() > METHODS_MAX {
            return Err(format!(
                "a document has 1 to {METHODS_MAX} verification methods, not {}",
                self.methods.len()
            ));
        }
        if self.services.len() > SERVICES_MAX {
            return Err(format!(
                "a document has at most {SERVICES_MAX} services, not {}",
                self.services.len()
            ));
        }
        let mut controllers = self.controllers.clone();
        controllers.sort();
        controllers.dedup();
        if controllers.len() != self.controllers.len() {
            return Err("a controller is listed twice".into());
        }
        let mut fragments: Vec<&str> = Vec::new();
        for f in self
            .methods
            .iter()
            .map(|m| &m.fragment)
            .chain(self.services.iter().map(|s| &s.fragment))
        {
            check_fragment(f)?;
            if fragments.contains(&f.as_str()) {
                return Err(format!("fragment #{f} is used twice"));
            }
            fragments.push(f);
        }
        for m in &self.methods {
            if m.relationships & !REL_ALL != 0 {
                return Err(format!("#{}: unknown relationship flags", m.fragment));
            }
        }
        for s in &self.services {
            if s.kind.is_empty() || s.kind.len() > SERVICE_TYPE_LEN_MAX {
                return Err(format!(
                    "service #{}: its type has 1 to {SERVICE_TYPE_LEN_MAX} characters",
                    s.fragment
                ));
            }
            if s.endpoint.is_empty() || s.endpoint.len() > ENDPOINT_LEN_MAX {
                return Err(format!(
                    "service #{}: its endpoint has 1 to {ENDPOINT_LEN_MAX} characters",
                    s.fragment
                ));
            }
        }
        let mut bytes = Vec::new();
        encode_document(self, &mut bytes);
        if bytes.len() > DOCUMENT_BYTES_MAX {
            return Err(format!(
                "the document is {} bytes encoded, over the limit of {DOCUMENT_BYTES_MAX}",
                bytes.len()
            ));
        }
        Ok(())
    }
}

fn check_fragment(f: &str) -> Result<(), String> {
    let ok = !f.is_empty()
        && f.len() <= FRAGMENT_LEN_MAX
        && f.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "fragment {f:?} must have 1 to {FRAGMENT_LEN_MAX} letters, digits, '-', '_' or '.'"
        ))
    }
}

/// Claim types (Polymesh's claim types, and the credential types of a trusted issuers registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClaimType {
    Kyc = 1,
    /// Customer due diligence (AML).
    Cdd = 2,
    Accredited = 3,
    Affiliate = 4,
    /// Carries an ISO 3166-1 alpha-2 code.
    Jurisdiction = 5,
    Exempted = 6,
    BusinessRegistration = 7,
}

impl ClaimType {
    pub const ALL: [ClaimType; 7] = [
        ClaimType::Kyc,
        ClaimType::Cdd,
        ClaimType::Accredited,
        ClaimType::Affiliate,
        ClaimType::Jurisdiction,
        ClaimType::Exempted,
        ClaimType::BusinessRegistration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ClaimType::Kyc => "kyc",
            ClaimType::Cdd => "cdd",
            ClaimType::Accredited => "accredited",
            ClaimType::Affiliate => "affiliate",
            ClaimType::Jurisdiction => "jurisdiction",
            ClaimType::Exempted => "exempted",
            ClaimType::BusinessRegistration => "business_registration",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn from_tag(tag: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .into_iter()
            .find(|t| *t as u8 == tag)
            .ok_or(DecodeError::UnknownTag {
                what: "claim type",
                tag,
            })
    }
}

/// Who a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// An address: what compliance rules look at.
    Address(Address),
    /// A DID (for credentials verified off the ledger).
    Did(DidId),
}

impl Subject {
    /// The bytes that key the subject's claims.
    pub fn key_bytes(&self) -> Vec<u8> {
        match self {
            Subject::Address(a) => [&[0u8][..], &a.0].concat(),
            Subject::Did(d) => [&[1u8][..], d].concat(),
        }
    }
}

/// A claim's status change (Bitstring Status List purposes `revocation` and `suspension`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// For good: the revocation bit is set and the claim stops counting.
    Revoke = 1,
    /// Until reinstated: the suspension bit is set.
    Suspend = 2,
    /// Clears the suspension bit.
    Reinstate = 3,
}

/// Calls into the identity module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityCall {
    /// Create a DID ([`did_id`] of the sender and the transaction's nonce) with `document`.
    CreateDid { document: DidDocument },
    /// A controller replaces the document (keys rotated, services, controllers): a new version.
    UpdateDid { did: DidId, document: DidDocument },
    /// A controller deactivates the DID for good (a last version; resolution says so).
    DeactivateDid { did: DidId },
    /// The authority trusts `issuer` for `types` (none: no longer trusted).
    SetIssuer {
        issuer: Address,
        types: Vec<ClaimType>,
        name: String,
    },
    /// A trusted issuer attests a claim about `subject`.
    IssueClaim {
        subject: Subject,
        claim_type: ClaimType,
        /// 0 when the type has no levels.
        level: u8,
        /// ISO 3166-1 alpha-2, upper case (jurisdiction claims).
        jurisdiction: Option<[u8; 2]>,
        expires_ms: Option<u64>,
        /// SHA-256 of the off-chain evidence.
        evidence: Option<Hash>,
    },
    /// The claim's issuer revokes, suspends or reinstates it.
    SetClaimStatus {
        claim: ClaimId,
        change: StatusChange,
    },
}

const CALL_CREATE_DID: u8 = 1;
const CALL_UPDATE_DID: u8 = 2;
const CALL_DEACTIVATE_DID: u8 = 3;
const CALL_SET_ISSUER: u8 = 4;
const CALL_ISSUE_CLAIM: u8 = 5;
const CALL_SET_CLAIM_STATUS: u8 = 6;

pub(super) fn encode(call: &IdentityCall, out: &mut Vec<u8>) {
    match call {
        IdentityCall::CreateDid { document } => {
            put_u8(out, CALL_CREATE_DID);
            encode_document(document, out);
        }
        IdentityCall::UpdateDid { did, document } => {
            put_u8(out, CALL_UPDATE_DID);
            out.extend_from_slice(did);
            encode_document(document, out);
        }
        IdentityCall::DeactivateDid { did } => {
            put_u8(out, CALL_DEACTIVATE_DID);
            out.extend_from_slice(did);
        }
        IdentityCall::SetIssuer {
            issuer,
            types,
            name,
        } => {
            put_u8(out, CALL_SET_ISSUER);
            out.extend_from_slice(&issuer.0);
            put_u8(out, types.len() as u8);
            for t in types {
                put_u8(out, *t as u8);
            }
            put_str(out, name);
        }
        IdentityCall::IssueClaim {
            subject,
            claim_type,
            level,
            jurisdiction,
            expires_ms,
            evidence,
        } => {
            put_u8(out, CALL_ISSUE_CLAIM);
            put_subject(out, subject);
            put_u8(out, *claim_type as u8);
            put_u8(out, *level);
            put_opt(out, jurisdiction.as_ref(), |o, j| o.extend_from_slice(j));
            put_opt(out, *expires_ms, put_u64);
            put_opt(out, evidence.as_ref(), |o, h| o.extend_from_slice(&h.0));
        }
        IdentityCall::SetClaimStatus { claim, change } => {
            put_u8(out, CALL_SET_CLAIM_STATUS);
            out.extend_from_slice(&claim.0);
            put_u8(out, *change as u8);
        }
    }
}

pub(super) fn decode(r: &mut Reader<'_>) -> Result<IdentityCall, DecodeError> {
    Ok(match r.u8("identity call")? {
        CALL_CREATE_DID => IdentityCall::CreateDid {
            document: read_document(r)?,
        },
        CALL_UPDATE_DID => IdentityCall::UpdateDid {
            did: r.array("did")?,
            document: read_document(r)?,
        },
        CALL_DEACTIVATE_DID => IdentityCall::DeactivateDid {
            did: r.array("did")?,
        },
        CALL_SET_ISSUER => {
            let issuer = Address(r.array("issuer")?);
            let n = r.count_u8("issuer types", ISSUER_TYPES_MAX)?;
            let types = (0..n)
                .map(|_| ClaimType::from_tag(r.u8("claim type")?))
                .collect::<Result<_, _>>()?;
            IdentityCall::SetIssuer {
                issuer,
                types,
                name: r.string("issuer name", ISSUER_NAME_LEN_MAX)?,
            }
        }
        CALL_ISSUE_CLAIM => IdentityCall::IssueClaim {
            subject: read_subject(r)?,
            claim_type: ClaimType::from_tag(r.u8("claim type")?)?,
            level: r.u8("claim level")?,
            jurisdiction: r.opt("jurisdiction", |r| r.array("jurisdiction"))?,
            expires_ms: r.opt("claim expiry", |r| r.u64("claim expiry"))?,
            evidence: r
                .opt("evidence hash", |r| r.array("evidence hash"))?
                .map(Hash),
        },
        CALL_SET_CLAIM_STATUS => IdentityCall::SetClaimStatus {
            claim: Hash(r.array("claim id")?),
            change: match r.u8("claim status change")? {
                1 => StatusChange::Revoke,
                2 => StatusChange::Suspend,
                3 => StatusChange::Reinstate,
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "claim status change",
                        tag,
                    })
                }
            },
        },
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "identity call",
                tag,
            })
        }
    })
}

pub(super) fn put_subject(out: &mut Vec<u8>, s: &Subject) {
    match s {
        Subject::Address(a) => {
            put_u8(out, 0);
            out.extend_from_slice(&a.0);
        }
        Subject::Did(d) => {
            put_u8(out, 1);
            out.extend_from_slice(d);
        }
    }
}

pub(super) fn read_subject(r: &mut Reader<'_>) -> Result<Subject, DecodeError> {
    match r.u8("subject kind")? {
        0 => Ok(Subject::Address(Address(r.array("subject address")?))),
        1 => Ok(Subject::Did(r.array("subject did")?)),
        tag => Err(DecodeError::UnknownTag {
            what: "subject kind",
            tag,
        }),
    }
}

/// Verification method key type tag: Ed25519, the only one a document may hold.
const KEY_ED25519: u8 = 1;

pub fn encode_document(d: &DidDocument, out: &mut Vec<u8>) {
    put_u8(out, d.controllers.len() as u8);
    for c in &d.controllers {
        out.extend_from_slice(&c.0);
    }
    put_u8(out, d.methods.len() as u8);
    for m in &d.methods {
        put_str(out, &m.fragment);
        put_u8(out, KEY_ED25519);
        put_bytes(out, &m.public_key);
        put_u8(out, m.relationships);
    }
    put_u8(out, d.services.len() as u8);
    for s in &d.services {
        put_str(out, &s.fragment);
        put_str(out, &s.kind);
        put_str(out, &s.endpoint);
    }
}

/// Decodes a document; its semantic checks ([`DidDocument::validate`]) come after.
pub fn read_document(r: &mut Reader<'_>) -> Result<DidDocument, DecodeError> {
    let controllers = (0..r.count_u8("controllers", CONTROLLERS_MAX)?)
        .map(|_| Ok(Address(r.array("controller")?)))
        .collect::<Result<_, DecodeError>>()?;
    let methods = (0..r.count_u8("verification methods", METHODS_MAX)?)
        .map(|_| {
            let fragment = r.string("method fragment", FRAGMENT_LEN_MAX)?;
            match r.u8("key type")? {
                KEY_ED25519 => {}
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "verification method key type",
                        tag,
                    })
                }
            }
            let key = r.bytes("public key", 32)?;
            let public_key: [u8; 32] = key.try_into().map_err(|_| DecodeError::InvalidValue {
                what: "public key",
                reason: "an Ed25519 key has 32 bytes",
            })?;
            Ok(VerificationMethod {
                fragment,
                public_key,
                relationships: r.u8("relationships")?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    let services = (0..r.count_u8("services", SERVICES_MAX)?)
        .map(|_| {
            Ok(Service {
                fragment: r.string("service fragment", FRAGMENT_LEN_MAX)?,
                kind: r.string("service type", SERVICE_TYPE_LEN_MAX)?,
                endpoint: r.string("service endpoint", ENDPOINT_LEN_MAX)?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    Ok(DidDocument {
        controllers,
        methods,
        services,
    })
}
