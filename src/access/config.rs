//! `[access]` settings: who may call what, quotas, the JWT issuer and the audit log.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Role;

/// Who an anonymous caller is: no role at all, or one of the roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnonymousRole {
    /// Every call needs credentials.
    None,
    Read,
    Submit,
    Admin,
}

impl AnonymousRole {
    pub fn role(self) -> Option<Role> {
        match self {
            AnonymousRole::None => None,
            AnonymousRole::Read => Some(Role::Read),
            AnonymousRole::Submit => Some(Role::Submit),
            AnonymousRole::Admin => Some(Role::Admin),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// The role of callers without credentials. Unset: `submit` on the dev chain, `read`
    /// elsewhere.
    pub anonymous: Option<AnonymousRole>,
    /// The API key file (`mameynode access key …` writes it); relative to the data directory.
    pub keys_file: PathBuf,
    /// The audit log (JSON lines); relative to the data directory.
    pub audit_file: PathBuf,
    /// The audit log is rotated when it grows past this size.
    pub audit_bytes_max: u64,
    /// Rotated audit files kept (`audit.log.1` … `audit.log.N`).
    pub audit_files_max: u32,
    /// Audit lines waiting for the writer; when full, further lines are counted and dropped.
    pub audit_queue_max: usize,
    /// Clients (API keys, token subjects, IP addresses) whose quotas are tracked at once.
    pub clients_max: usize,
    pub rate: RateConfig,
    pub jwt: Option<JwtConfig>,
    /// Overrides of the built-in policy table: a JSON-RPC method, a gRPC path
    /// (`/mamey.v1.NodeService/GetStatus`) or a prefix ending in `*`, mapped to the least role
    /// that may call it. `metrics` is the Prometheus endpoint.
    pub policy: BTreeMap<String, Role>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            anonymous: None,
            keys_file: PathBuf::from("access/api-keys.json"),
            audit_file: PathBuf::from("access/audit.log"),
            audit_bytes_max: 16 << 20,
            audit_files_max: 5,
            audit_queue_max: 4096,
            clients_max: 65_536,
            rate: RateConfig::default(),
            jwt: None,
            policy: BTreeMap::new(),
        }
    }
}

/// Calls per second (bursts of one second's worth); 0 is unlimited.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateConfig {
    /// Per anonymous caller's IP address.
    pub anonymous_per_second: u32,
    /// Per API key or token subject of role `read`.
    pub read_per_second: u32,
    /// Per API key or token subject of role `submit`.
    pub submit_per_second: u32,
    /// Per API key or token subject of role `admin`.
    pub admin_per_second: u32,
    /// Per IP address, whoever calls from it.
    pub ip_per_second: u32,
}

impl Default for RateConfig {
    fn default() -> Self {
        Self {
            anonymous_per_second: 5_000,
            read_per_second: 10_000,
            submit_per_second: 20_000,
            admin_per_second: 0,
            ip_per_second: 0,
        }
    }
}

impl RateConfig {
    pub fn per_second(&self, role: Option<Role>) -> u32 {
        match role {
            None => self.anonymous_per_second,
            Some(Role::Read) => self.read_per_second,
            Some(Role::Submit) => self.submit_per_second,
            Some(Role::Admin) => self.admin_per_second,
        }
    }
}

/// OAuth 2.0 / OIDC bearer tokens: JWTs signed by a key of the JWKS (RS256, ES256 or EdDSA).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The issuer's JSON Web Key Set in a file (relative to the data directory), reread when the
    /// file changes. Give this or `jwks_url`.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// The issuer's JWKS URL (`https://…/.well-known/jwks.json`; `http://` for a local
    /// issuer), fetched at start and every `jwks_refresh_s`. Give this or `jwks_file`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// How often the JWKS URL is fetched again, seconds.
    #[serde(default = "default_jwks_refresh_s")]
    pub jwks_refresh_s: u64,
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (one of the token's audiences).
    pub audience: String,
    /// The claim naming the caller's role: a string, or an array whose highest role counts.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, seconds.
    #[serde(default = "default_leeway_s")]
    pub leeway_s: u64,
}

fn default_role_claim() -> String {
    "role".to_string()
}

fn default_leeway_s() -> u64 {
    30
}

fn default_jwks_refresh_s() -> u64 {
    300
}
