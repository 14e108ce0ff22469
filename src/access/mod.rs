//! Access control for every API: who the caller is (API key, OAuth/OIDC bearer token, or
//! anonymous), what their role lets them call (one policy table for JSON-RPC, REST, gRPC and
//! metrics), how often (quotas per key or token subject and per IP), and the audit log.
//!
//! The APIs only extract credentials and ask [`Access::authorize`]; the answer carries the stable
//! code of every refusal: 4001 unauthenticated, 4003 forbidden, 4029 over quota (with the time to
//! wait). Invariants: a refused call never reaches the method; every refusal and every admin call
//! is audited; every table here is bounded (keys per file, JWKS keys, tracked clients, the audit
//! queue).

pub mod audit;
pub mod config;
pub mod jwt;
pub mod keys;
pub mod policy;
pub mod rate;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use config::{AccessConfig, AnonymousRole, JwtConfig, RateConfig};

use crate::api::ErrorCode;
use audit::{AuditEntry, AuditLog};
use jwt::JwtVerifier;
use keys::{KeyCheck, KeyStore};
use policy::Policy;
use rate::{ClientKey, RateLimiter};

/// Roles, each allowed what the one before it is and more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries and subscriptions.
    Read,
    /// Read, and submitting transactions.
    Submit,
    /// Everything: node internals (pipeline statistics, metrics service).
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "submit" => Some(Role::Submit),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Submit => "submit",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Error)]
pub enum AccessError {
    #[error(transparent)]
    Keys(#[from] keys::KeyStoreError),
    #[error(transparent)]
    Jwks(#[from] jwt::JwksError),
    #[error("cannot start the audit log: {0}")]
    Audit(std::io::Error),
}

/// Who is calling, as far as their credentials say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Anonymous,
    Key {
        id: String,
        role: Role,
    },
    Token {
        subject: String,
        role: Role,
    },
    /// Credentials were presented and did not verify; why.
    Invalid {
        reason: String,
    },
}

/// A caller: who and from where. HTTP middleware puts it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub who: Who,
    pub ip: Option<IpAddr>,
}

impl Caller {
    fn label(&self) -> String {
        match &self.who {
            Who::Anonymous => "anonymous".into(),
            Who::Key { id, .. } => format!("key:{id}"),
            Who::Token { subject, .. } => format!("token:{subject}"),
            Who::Invalid { .. } => "invalid".into(),
        }
    }
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated(String),
    Forbidden(String),
    QuotaExceeded {
        message: String,
        retry_after: Duration,
    },
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Refusal::Forbidden(_) => ErrorCode::Forbidden,
            Refusal::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Refusal::Unauthenticated(m) | Refusal::Forbidden(m) => m,
            Refusal::QuotaExceeded { message, .. } => message,
        }
    }

    /// For 4029: milliseconds to wait before retrying.
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            Refusal::QuotaExceeded { retry_after, .. } => Some(retry_after.as_millis() as u64),
            _ => None,
        }
    }

    fn result(&self) -> &'static str {
        match self {
            Refusal::Unauthenticated(_) => "unauthenticated",
            Refusal::Forbidden(_) => "forbidden",
            Refusal::QuotaExceeded { .. } => "rate_limited",
        }
    }
}

/// The credentials of a request, from its headers: `x-api-key`, or `Authorization: Bearer`
/// (a bearer that is one of our API keys counts as an API key, for clients such as Prometheus
/// that can only send a bearer).
pub fn credentials(headers: &http::HeaderMap) -> Result<(Option<String>, Option<String>), String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim().to_string()))
                .map_err(|_| format!("the {name} header is not ASCII text")),
        }
    };
    let mut api_key = text("x-api-key")?;
    let mut bearer = None;
    if let Some(auth) = text("authorization")? {
        let token = match auth.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err("the Authorization header must be `Bearer <token>`".into()),
        };
        if keys::key_id(token).is_some() {
            api_key.get_or_insert_with(|| token.to_string());
        } else {
            bearer = Some(token.to_string());
        }
    }
    Ok((api_key, bearer))
}

pub struct Access {
    anonymous: Option<Role>,
    rate: RateConfig,
    keys: KeyStore,
    jwt: Option<JwtVerifier>,
    policy: Policy,
    limiter: RateLimiter,
    audit: AuditLog,
}

impl Access {
    /// Opens the key file and JWKS and starts the audit writer. `dev_chain` picks the anonymous
    /// role when the config leaves it unset.
    pub fn open(
        config: &AccessConfig,
        data_dir: &Path,
        dev_chain: bool,
    ) -> Result<Arc<Self>, AccessError> {
        let anonymous = match config.anonymous {
            Some(a) => a.role(),
            None if dev_chain => Some(Role::Submit),
            None => Some(Role::Read),
        };
        let jwt = config
            .jwt
            .clone()
            .map(|j| JwtVerifier::open(j, data_dir))
            .transpose()?;
        let audit = AuditLog::start(
            data_dir.join(&config.audit_file),
            config.audit_bytes_max,
            config.audit_files_max,
            config.audit_queue_max,
        )
        .map_err(AccessError::Audit)?;
        Ok(Arc::new(Self {
            anonymous,
            rate: config.rate.clone(),
            keys: KeyStore::open(data_dir.join(&config.keys_file))?,
            jwt,
            policy: Policy::new(&config.policy),
            limiter: RateLimiter::new(config.clients_max),
            audit,
        }))
    }

    /// Who the request's credentials name. Never fails: bad credentials are a [`Who::Invalid`]
    /// caller, refused (and audited) when they call anything.
    pub fn authenticate(&self, headers: &http::HeaderMap, ip: Option<IpAddr>) -> Caller {
        let who = match credentials(headers) {
            Err(reason) => Who::Invalid { reason },
            Ok((Some(key), _)) => match self.keys.check(&key) {
                KeyCheck::Valid { id, role } => Who::Key { id, role },
                KeyCheck::Revoked { id } => Who::Invalid {
                    reason: format!("API key {id} is revoked"),
                },
                KeyCheck::Unknown => Who::Invalid {
                    reason: "unknown API key".into(),
                },
            },
            Ok((None, Some(token))) => match &self.jwt {
                None => Who::Invalid {
                    reason: "this node accepts no bearer tokens ([access.jwt] is not set)".into(),
                },
                Some(v) => match v.verify(&token) {
                    Ok(t) => Who::Token {
                        subject: t.subject,
                        role: t.role,
                    },
                    Err(reason) => Who::Invalid { reason },
                },
            },
            Ok((None, None)) => Who::Anonymous,
        };
        Caller { who, ip }
    }

    /// Whether `caller` may call `what` (`calls` times, for a batch) now; audits refusals and
    /// admin calls.
    pub fn authorize(
        &self,
        api: &'static str,
        caller: &Caller,
        what: &str,
        calls: u64,
    ) -> Result<(), Refusal> {
        let required = self.policy.required(what);
        let outcome = self.decide(caller, what, required, calls);
        match &outcome {
            Err(refusal) => self.record(api, caller, what, Some(refusal)),
            Ok(()) if required == Role::Admin => self.record(api, caller, what, None),
            Ok(()) => {}
        }
        outcome
    }

    fn decide(
        &self,
        caller: &Caller,
        what: &str,
        required: Role,
        calls: u64,
    ) -> Result<(), Refusal> {
        let (role, principal) = match &caller.who {
            Who::Invalid { reason } => {
                return Err(Refusal::Unauthenticated(format!(
                    "unauthenticated: {reason}"
                )))
            }
            Who::Anonymous => (self.anonymous, None),
            Who::Key { id, role } => (Some(*role), Some(format!("key:{id}"))),
            Who::Token { subject, role } => (Some(*role), Some(format!("token:{subject}"))),
        };
        match role {
            Some(role) if role >= required => {}
            Some(role) if principal.is_some() => {
                return Err(Refusal::Forbidden(format!(
                    "forbidden: {what} needs role {} and this caller has {}",
                    required.name(),
                    role.name()
                )))
            }
            _ => {
                return Err(Refusal::Unauthenticated(format!(
                    "unauthenticated: {what} needs role {}; send an API key in the x-api-key \
                     header or a bearer token in Authorization",
                    required.name()
                )))
            }
        }
        let quota = self.rate.per_second(principal.as_ref().and(role));
        let limited =
            |retry_after: Duration, whose: &str, per_second: u32| Refusal::QuotaExceeded {
                message: format!(
                    "over quota: more than {per_second} calls per second {whose}; retry after \
                 {} ms",
                    retry_after.as_millis()
                ),
                retry_after,
            };
        let bucket = match (principal, caller.ip) {
            (Some(p), _) => Some(ClientKey::Principal(p)),
            (None, Some(ip)) => Some(ClientKey::Anonymous(ip)),
            (None, None) => None,
        };
        if let Some(key) = bucket {
            self.limiter
                .take(key, quota, calls)
                .map_err(|wait| limited(wait, "for this caller", quota))?;
        }
        if let Some(ip) = caller.ip {
            let per_ip = self.rate.ip_per_second;
            self.limiter
                .take(ClientKey::Ip(ip), per_ip, calls)
                .map_err(|wait| limited(wait, "from this address", per_ip))?;
        }
        Ok(())
    }

    fn record(&self, api: &'static str, caller: &Caller, what: &str, refusal: Option<&Refusal>) {
        let detail = match (&caller.who, refusal) {
            (_, Some(r)) => Some(r.message().to_string()),
            _ => None,
        };
        self.audit.record(AuditEntry {
            ts_ms: audit::now_ms(),
            api,
            who: caller.label(),
            ip: caller.ip.map(|ip| ip.to_string()),
            what: what.chars().take(256).collect(),
            result: refusal.map_or("allowed", Refusal::result),
            code: refusal.map(|r| r.code().code()),
            detail,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn callers_are_refused_with_the_code_their_case_calls_for() {
        let dir = tempfile::tempdir().unwrap();
        let config = AccessConfig {
            anonymous: Some(AnonymousRole::None),
            rate: RateConfig {
                read_per_second: 2,
                ..RateConfig::default()
            },
            ..AccessConfig::default()
        };
        let (key, _) = keys::create(&dir.path().join(&config.keys_file), Role::Read, "t").unwrap();
        let access = Access::open(&config, dir.path(), false).unwrap();
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        let code = |c: &Caller, what: &str| {
            access
                .authorize("jsonrpc", c, what, 1)
                .err()
                .map(|r| r.code().code())
        };

        let anonymous = access.authenticate(&headers(&[]), ip);
        assert_eq!(anonymous.who, Who::Anonymous);
        assert_eq!(code(&anonymous, "mamey_status"), Some(4001));

        let bad = access.authenticate(&headers(&[("authorization", "Basic abc")]), ip);
        assert!(matches!(bad.who, Who::Invalid { .. }));
        assert_eq!(code(&bad, "mamey_status"), Some(4001));
        let no_jwt = access.authenticate(&headers(&[("authorization", "Bearer a.b.c")]), ip);
        assert!(matches!(&no_jwt.who, Who::Invalid { reason } if reason.contains("[access.jwt]")));

        // The key as x-api-key and as a bearer.
        for h in [
            ("x-api-key", key.clone()),
            ("authorization", format!("Bearer {key}")),
        ] {
            let reader = access.authenticate(&headers(&[(h.0, &h.1)]), ip);
            assert!(
                matches!(
                    reader.who,
                    Who::Key {
                        role: Role::Read,
                        ..
                    }
                ),
                "{h:?}"
            );
        }
        let reader = access.authenticate(&headers(&[("x-api-key", &key)]), ip);
        assert_eq!(code(&reader, "mamey_pipelineStats"), Some(4003));
        assert_eq!(code(&reader, "mamey_sendTransaction"), Some(4003));
        // Two calls a second for role read: the third in a row waits.
        assert_eq!(code(&reader, "mamey_status"), None);
        assert_eq!(code(&reader, "mamey_status"), None);
        let limited = access.authorize("jsonrpc", &reader, "mamey_status", 1);
        let wait = limited.unwrap_err().retry_after_ms().unwrap();
        assert!((1..=500).contains(&wait), "{wait}");
    }
}
