//! OAuth 2.0 / OIDC bearer tokens: JWTs verified against the issuer's JSON Web Key Set.
//!
//! Accepted: RS256, ES256 and EdDSA (Ed25519) signatures by a key of the JWKS (chosen by `kid`,
//! or the only key of a matching type when the token names none); `iss` and `aud` must be the
//! configured ones; `exp` is required, `nbf` honoured, both with the configured leeway; `sub`
//! names the caller. The role is the highest of the roles named in the configured claim. The
//! JWKS file is reread when it changes (at most once a second), so keys can be rotated live.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use thiserror::Error;

use super::config::JwtConfig;
use super::Role;

const RELOAD_CHECK: Duration = Duration::from_secs(1);
/// A token longer than this is refused before it is decoded.
pub const TOKEN_BYTES_MAX: usize = 8 << 10;
/// Keys in one JWKS.
const JWKS_KEYS_MAX: usize = 64;
/// The largest JWKS document fetched.
const JWKS_BYTES_MAX: u64 = 1 << 20;
/// Retry interval while a JWKS URL has not answered yet.
const JWKS_RETRY: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum JwksError {
    #[error("cannot read the JWKS file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the JWKS {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot fetch the JWKS {url}: {detail}")]
    Fetch { url: String, detail: String },
    #[error("[access.jwt] needs exactly one of jwks_file and jwks_url")]
    Source,
}

/// A verified token's caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCaller {
    pub subject: String,
    pub role: Role,
}

struct Loaded {
    keys: JwkSet,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn parse_jwks(text: &str, origin: &Path) -> Result<JwkSet, JwksError> {
    let set: JwkSet = serde_json::from_str(text).map_err(|e| JwksError::Invalid {
        path: origin.to_path_buf(),
        message: e.to_string(),
    })?;
    if set.keys.is_empty() || set.keys.len() > JWKS_KEYS_MAX {
        return Err(JwksError::Invalid {
            path: origin.to_path_buf(),
            message: format!("{} keys (1 to {JWKS_KEYS_MAX} expected)", set.keys.len()),
        });
    }
    Ok(set)
}

fn read_jwks(path: &Path) -> Result<JwkSet, JwksError> {
    let text = std::fs::read_to_string(path).map_err(|source| JwksError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_jwks(&text, path)
}

fn fetch_jwks(url: &str) -> Result<JwkSet, JwksError> {
    let err = |detail: String| JwksError::Fetch {
        url: url.to_string(),
        detail,
    };
    let response = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
        .get(url)
        .call()
        .map_err(|e| err(e.to_string()))?;
    let mut text = String::new();
    response
        .into_reader()
        .take(JWKS_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(|e| err(e.to_string()))?;
    parse_jwks(&text, Path::new(url))
}

/// Fetches `url` every `refresh` (every [`JWKS_RETRY`] while nothing was fetched) until the
/// verifier is dropped.
fn keep_fetching(url: String, refresh: Duration, loaded: Weak<Mutex<Loaded>>) {
    let spawned = std::thread::Builder::new()
        .name("jwks".into())
        .spawn(move || loop {
            let wait = match loaded.upgrade() {
                None => return,
                Some(l) => {
                    let empty = l
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .keys
                        .keys
                        .is_empty();
                    if empty {
                        JWKS_RETRY
                    } else {
                        refresh
                    }
                }
            };
            std::thread::sleep(wait);
            let fetched = fetch_jwks(&url);
            let Some(l) = loaded.upgrade() else { return };
            match fetched {
                Ok(keys) => {
                    tracing::debug!(%url, keys = keys.keys.len(), "JWKS fetched");
                    l.lock().unwrap_or_else(|p| p.into_inner()).keys = keys;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS not refreshed; keeping the keys last fetched")
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the JWKS refresh thread");
    }
}

/// The highest role named by a claim: a string, a space-separated string (OAuth `scope`), or
/// an array of strings.
fn role_of(claim: Option<&Value>) -> Option<Role> {
    let names: Vec<&str> = match claim? {
        Value::String(s) => s.split_whitespace().collect(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    names.into_iter().filter_map(Role::parse).max()
}

pub struct JwtVerifier {
    config: JwtConfig,
    /// The file to reread on change; `None` for a URL, which a thread refreshes.
    file: Option<PathBuf>,
    loaded: Arc<Mutex<Loaded>>,
}

impl JwtVerifier {
    /// Reads the key set (a relative `jwks_file` is taken from `data_dir`). A URL that does not
    /// answer yet is not fatal: tokens are refused until it does.
    pub fn open(config: JwtConfig, data_dir: &Path) -> Result<Self, JwksError> {
        let (keys, file) = match (&config.jwks_file, &config.jwks_url) {
            (Some(f), None) => {
                let path = data_dir.join(f);
                (read_jwks(&path)?, Some(path))
            }
            (None, Some(url)) => {
                let keys = fetch_jwks(url).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "JWKS not fetched yet: bearer tokens are refused until it is");
                    JwkSet { keys: Vec::new() }
                });
                (keys, None)
            }
            _ => return Err(JwksError::Source),
        };
        let loaded = Arc::new(Mutex::new(Loaded {
            keys,
            stamp: file.as_deref().and_then(stamp),
            checked: Instant::now(),
        }));
        if let Some(url) = &config.jwks_url {
            let refresh = Duration::from_secs(config.jwks_refresh_s.max(1));
            keep_fetching(url.clone(), refresh, Arc::downgrade(&loaded));
        }
        Ok(Self {
            config,
            file,
            loaded,
        })
    }

    fn refresh(&self, loaded: &mut Loaded) {
        let Some(file) = &self.file else {
            return;
        };
        if loaded.checked.elapsed() < RELOAD_CHECK {
            return;
        }
        loaded.checked = Instant::now();
        let now = stamp(file);
        if now == loaded.stamp {
            return;
        }
        match read_jwks(file) {
            Ok(keys) => {
                tracing::info!(keys = keys.keys.len(), "JWKS reloaded");
                loaded.keys = keys;
                loaded.stamp = now;
            }
            Err(e) => tracing::error!(error = %e, "JWKS not reloaded; keeping the keys last read"),
        }
    }

    /// Verifies a bearer token; the error says why it is refused, for the caller and the audit.
    pub fn verify(&self, token: &str) -> Result<TokenCaller, String> {
        if token.len() > TOKEN_BYTES_MAX {
            return Err(format!("token over {TOKEN_BYTES_MAX} bytes"));
        }
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("malformed token: {e}"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(format!(
                "token algorithm {:?} is not accepted (RS256, ES256, EdDSA)",
                header.alg
            ));
        }
        let key = {
            let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
            self.refresh(&mut loaded);
            let jwk = match &header.kid {
                Some(kid) => loaded.keys.find(kid),
                None if loaded.keys.keys.len() == 1 => loaded.keys.keys.first(),
                None => None,
            }
            .ok_or_else(|| match &header.kid {
                Some(kid) => format!("no key {kid:?} in the issuer's key set"),
                None => "the token names no key (kid) and the key set has several".to_string(),
            })?;
            DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable key in the key set: {e}"))?
        };
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.config.leeway_s;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => "token expired".to_string(),
                K::ImmatureSignature => "token not yet valid (nbf)".to_string(),
                K::InvalidAudience => "token is for another audience".to_string(),
                K::InvalidIssuer => "token from another issuer".to_string(),
                K::InvalidSignature => "token signature does not verify".to_string(),
                K::MissingRequiredClaim(c) => format!("token lacks the claim {c}"),
                _ => format!("token refused: {e}"),
            }
        })?;
        let subject = data
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or("token subject (sub) must be a string of 1 to 256 characters")?
            .to_string();
        let role = role_of(data.claims.get(&self.config.role_claim)).ok_or_else(|| {
            format!(
                "token names no role (claim {:?}: read, submit or admin)",
                self.config.role_claim
            )
        })?;
        Ok(TokenCaller { subject, role })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_named_role_counts() {
        assert_eq!(role_of(Some(&Value::from("read"))), Some(Role::Read));
        assert_eq!(
            role_of(Some(&Value::from("openid read admin"))),
            Some(Role::Admin)
        );
        assert_eq!(
            role_of(Some(&serde_json::json!(["submit", "other"]))),
            Some(Role::Submit)
        );
        assert_eq!(role_of(Some(&Value::from("root"))), None);
        assert_eq!(role_of(Some(&Value::from(3))), None);
        assert_eq!(role_of(None), None);
    }
}
