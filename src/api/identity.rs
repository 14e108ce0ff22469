//! The identity API: DID resolution in the W3C shape (JSON-RPC `identity_resolve`, gRPC
//! `IdentityService.Resolve`, HTTP `GET /1.0/identifiers/{did}`), claims, the trusted issuers
//! registry, and Bitstring Status List credentials (HTTP `GET /1.0/status/{issuer}/{purpose}/{list}`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Api, ApiError, ErrorCode};
use crate::modules::identity::did::{self, parse_did, parse_iso8601};
use crate::modules::identity::query::{self, VersionQuery};
use crate::modules::identity::state::{status_position, STATUS_LIST_BITS};
use crate::modules::identity::{did_string, Claim, ClaimId, Purpose, Subject, TrustedIssuer};
use crate::types::{Address, Hash};

/// A DID resolution: the HTTP status a resolver answers with, and the W3C result.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// 200 found, 410 deactivated (the result still holds the document), 400 invalid DID,
    /// 404 not found, 501 another DID method.
    pub http_status: u16,
    pub result: Value,
}

/// A claim as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimView {
    pub id: Hash,
    pub issuer: Address,
    /// An address, or a `did:mamey` DID.
    pub subject: String,
    #[serde(rename = "type")]
    pub claim_type: String,
    pub level: u8,
    pub jurisdiction: Option<String>,
    pub expires_ms: Option<u64>,
    pub evidence: Option<Hash>,
    pub issued_ms: u64,
    pub issued_height: u64,
    pub revoked: bool,
    pub suspended: bool,
    /// Counts for compliance now: not revoked, suspended or expired at the head's time, and its
    /// issuer still trusted for its type.
    pub current: bool,
    /// Its entry in the issuer's status lists (Bitstring Status List).
    pub status_index: u64,
    pub status_list: u32,
    pub status_list_index: u64,
}

/// An entry of the trusted issuers registry as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerView {
    pub issuer: Address,
    pub name: String,
    pub types: Vec<String>,
    pub trusted: bool,
    pub claims_issued: u64,
}

impl IssuerView {
    fn of(issuer: Address, e: &TrustedIssuer) -> Self {
        IssuerView {
            issuer,
            name: e.name.clone(),
            types: e.types.iter().map(|t| t.name().to_string()).collect(),
            trusted: !e.types.is_empty(),
            claims_issued: e.next_status_index,
        }
    }
}

fn subject_text(s: &Subject) -> String {
    match s {
        Subject::Address(a) => a.to_string(),
        Subject::Did(d) => did_string(d),
    }
}

/// An address or a `did:mamey` DID.
pub fn parse_subject(s: &str) -> Result<Subject, ApiError> {
    if s.starts_with("did:") {
        return parse_did(s)
            .map(Subject::Did)
            .map_err(|e| ApiError::new(ErrorCode::InvalidParams, e.message().to_string()));
    }
    s.parse::<Address>()
        .map(Subject::Address)
        .map_err(|e| ApiError::new(ErrorCode::InvalidParams, format!("subject: {e}")))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("internal error: {e}"))
}

impl Api {
    /// Resolves a DID; `version_id` and `version_time` as DID Resolution's options (a time is
    /// RFC 3339, e.g. `2026-11-25T10:00:00Z`).
    pub fn resolve_did(
        &self,
        did_text: &str,
        version_id: Option<&str>,
        version_time: Option<&str>,
    ) -> Resolution {
        let fail = |status, error: &str, message: &str| Resolution {
            http_status: status,
            result: did::resolution_error_json(error, message),
        };
        let did = match parse_did(did_text) {
            Ok(d) => d,
            Err(e @ did::DidParseError::MethodNotSupported(_)) => {
                return fail(501, e.name(), e.message())
            }
            Err(e) => return fail(400, e.name(), e.message()),
        };
        let version_id = match version_id.map(str::parse::<u32>) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => return fail(400, "invalidOptions", "versionId is a positive integer"),
        };
        // Metadata times are whole seconds (DID Core): a time without a fraction means the
        // whole second, so a version's own `created`/`updated` finds it.
        let whole_second = version_time.is_some_and(|t| !t.contains('.'));
        let version_time_ms = match version_time.map(parse_iso8601) {
            None => None,
            Some(Some(t)) => Some(if whole_second { t + 999 } else { t }),
            Some(None) => {
                return fail(
                    400,
                    "invalidOptions",
                    "versionTime is an RFC 3339 UTC time, e.g. 2026-11-25T10:00:00Z",
                )
            }
        };
        let resolved = self.storage.reader().map_err(internal).and_then(|r| {
            query::resolve(
                &r,
                &did,
                VersionQuery {
                    version_id,
                    version_time_ms,
                },
            )
            .map_err(internal)
        });
        match resolved {
            Err(e) => fail(500, "internalError", &e.message),
            Ok(None) => fail(
                404,
                "notFound",
                &format!("{did_text} (or the version asked for) does not exist on this chain"),
            ),
            Ok(Some(r)) => Resolution {
                http_status: if r.version.deactivated { 410 } else { 200 },
                result: did::resolution_json(&r),
            },
        }
    }

    fn claim_view(
        &self,
        id: ClaimId,
        c: &Claim,
        time_ms: u64,
        reader: &crate::storage::StateReader<'_>,
    ) -> Result<ClaimView, ApiError> {
        let trusted = query::issuer(reader, &c.issuer)
            .map_err(internal)?
            .is_some_and(|i| i.trusted_for(c.claim_type));
        let (list, _, _, _) = status_position(c.status_index);
        let live = crate::modules::identity::LiveClaim::of(&id, c);
        Ok(ClaimView {
            id,
            issuer: c.issuer,
            subject: subject_text(&c.subject),
            claim_type: c.claim_type.name().into(),
            level: c.level,
            jurisdiction: c
                .jurisdiction
                .map(|j| String::from_utf8_lossy(&j).into_owned()),
            expires_ms: c.expires_ms,
            evidence: c.evidence,
            issued_ms: c.issued_ms,
            issued_height: c.issued_height,
            revoked: c.revoked,
            suspended: c.suspended,
            current: !c.revoked && trusted && live.current(time_ms),
            status_index: c.status_index,
            status_list: list,
            status_list_index: c.status_index % STATUS_LIST_BITS,
        })
    }

    /// `identity_getClaim`.
    pub fn claim(&self, id: &ClaimId) -> Result<ClaimView, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        let time = reader.head().map_err(internal)?.timestamp_ms;
        let c = query::claim(&reader, id)
            .map_err(internal)?
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("unknown claim {id}")))?;
        self.claim_view(*id, &c, time, &reader)
    }

    /// `identity_getClaims`: every claim about a subject (revoked ones too), by claim id.
    pub fn claims(
        &self,
        subject: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<super::modules::PageView<ClaimView>, ApiError> {
        let subject = parse_subject(subject)?;
        let after: Option<Hash> = super::modules::parse_key_cursor(cursor)?;
        let limit = limit.unwrap_or(super::modules::PAGE_DEFAULT).clamp(1, 500);
        let reader = self.storage.reader().map_err(internal)?;
        let time = reader.head().map_err(internal)?.timestamp_ms;
        let found =
            query::claims_of(&reader, &subject, after.as_ref(), limit + 1).map_err(internal)?;
        let more = found.len() > limit;
        let items = found
            .iter()
            .take(limit)
            .map(|(id, c)| self.claim_view(*id, c, time, &reader))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = more
            .then(|| items.last().map(|c| c.id.to_string()))
            .flatten();
        Ok(super::modules::PageView { items, next_cursor })
    }

    /// `identity_getIssuer`.
    pub fn trusted_issuer(&self, issuer: &Address) -> Result<IssuerView, ApiError> {
        let reader = self.storage.reader().map_err(internal)?;
        let e = query::issuer(&reader, issuer)
            .map_err(internal)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("{issuer} is not in the trusted issuers registry"),
                )
            })?;
        Ok(IssuerView::of(*issuer, &e))
    }

    /// `identity_listIssuers`.
    pub fn trusted_issuers(
        &self,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<super::modules::PageView<IssuerView>, ApiError> {
        let after: Option<Address> = super::modules::parse_key_cursor(cursor)?;
        let limit = limit.unwrap_or(super::modules::PAGE_DEFAULT).clamp(1, 500);
        let reader = self.storage.reader().map_err(internal)?;
        let found = query::issuers(&reader, after.as_ref(), limit + 1).map_err(internal)?;
        let more = found.len() > limit;
        let items: Vec<IssuerView> = found
            .iter()
            .take(limit)
            .map(|(a, e)| IssuerView::of(*a, e))
            .collect();
        let next_cursor = more
            .then(|| items.last().map(|i| i.issuer.to_string()))
            .flatten();
        Ok(super::modules::PageView { items, next_cursor })
    }

    /// A Bitstring Status List credential of `issuer`'s list `list` for `purpose`, as served at
    /// `url`.
    pub fn status_list(
        &self,
        issuer: &str,
        purpose: &str,
        list: &str,
        url: &str,
    ) -> Result<Value, ApiError> {
        let issuer: Address = issuer
            .parse()
            .map_err(|e| ApiError::new(ErrorCode::InvalidParams, format!("issuer: {e}")))?;
        let purpose = Purpose::from_name(purpose).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParams,
                format!("unknown status purpose {purpose:?} (revocation or suspension)"),
            )
        })?;
        let list: u32 = list.parse().map_err(|_| {
            ApiError::new(ErrorCode::InvalidParams, "the list number is an integer")
        })?;
        let reader = self.storage.reader().map_err(internal)?;
        let entry = query::issuer(&reader, &issuer).map_err(internal)?;
        let issued = entry.map_or(0, |e| e.next_status_index);
        if u64::from(list) * STATUS_LIST_BITS >= issued.max(1) {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("{issuer} has no status list {list} (it issued {issued} claims)"),
            ));
        }
        let height = reader.head().map_err(internal)?.height;
        let bits = query::status_list(&reader, &issuer, purpose, list).map_err(internal)?;
        Ok(did::status_list_credential(
            url, &issuer, purpose, &bits, height,
        ))
    }
}
