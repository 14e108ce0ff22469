//! A small blocking JSON-RPC client for the command line and tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use thiserror::Error;

use super::{AccountView, BlockView, IngestInfoView, StatusView, TxView};
use crate::metrics::PipelineSnapshot;
use crate::types::{Address, Hash, TxEnvelope};

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("{message} (error {code})")]
    Rpc {
        code: i32,
        message: String,
        data: Option<Value>,
    },
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
}

impl ClientError {
    pub fn code(&self) -> Option<i32> {
        match self {
            ClientError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Environment variables the client reads (so every CLI command works against a node with TLS
/// and access control): an API key or bearer token, and the certificate to trust for `https://`.
pub const ENV_API_KEY: &str = "MAMEY_API_KEY";
pub const ENV_BEARER_TOKEN: &str = "MAMEY_BEARER_TOKEN";
pub const ENV_TLS_CA: &str = "MAMEY_TLS_CA";

pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
    next_id: AtomicU64,
    /// `(header, value)` sent with every call.
    credential: Option<(&'static str, String)>,
}

/// A TLS client configuration trusting the certificates of a PEM file (the node's self-signed
/// certificate, or a private CA) instead of the public roots.
fn tls_trusting(pem_file: &str) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(pem_file).map_err(|e| format!("{pem_file}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{pem_file}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{pem_file}: {e}"))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(std::sync::Arc::new(config))
}

impl RpcClient {
    /// A client of the node at `url` (`http://` or `https://`), with the credential and trusted
    /// certificate of the environment ([`ENV_API_KEY`], [`ENV_BEARER_TOKEN`], [`ENV_TLS_CA`]).
    pub fn new(url: &str) -> Self {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let credential = env(ENV_API_KEY)
            .map(|k| ("x-api-key", k))
            .or_else(|| env(ENV_BEARER_TOKEN).map(|t| ("authorization", format!("Bearer {t}"))));
        let tls = env(ENV_TLS_CA).and_then(|ca| match tls_trusting(&ca) {
            Ok(config) => Some(config),
            // Calls then fail with the TLS error, which names the problem.
            Err(e) => {
                eprintln!("warning: {ENV_TLS_CA} not used: {e}");
                None
            }
        });
        Self::build(url, tls, credential)
    }

    /// A client trusting the certificates of `pem_file` for `https://`, with no credential.
    pub fn trusting(url: &str, pem_file: &std::path::Path) -> Result<Self, ClientError> {
        let tls =
            tls_trusting(&pem_file.to_string_lossy()).map_err(|detail| ClientError::Transport {
                url: url.to_string(),
                detail,
            })?;
        Ok(Self::build(url, Some(tls), None))
    }

    /// The same client sending `x-api-key: key` (or nothing, with `None`) with every call.
    pub fn with_api_key(mut self, key: Option<&str>) -> Self {
        self.credential = key.map(|k| ("x-api-key", k.to_string()));
        self
    }

    /// The same client sending `Authorization: Bearer token` with every call.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.credential = Some(("authorization", format!("Bearer {token}")));
        self
    }

    fn build(
        url: &str,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
        credential: Option<(&'static str, String)>,
    ) -> Self {
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        if let Some(config) = tls {
            builder = builder.tls_config(config);
        }
        Self {
            url: url.to_string(),
            agent: builder.build(),
            next_id: AtomicU64::new(1),
            credential,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and decodes its result.
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut request = self.agent.post(&self.url);
        if let Some((header, value)) = &self.credential {
            request = request.set(header, value);
        }
        let response: Value = match request.send_json(body) {
            Ok(r) => r,
            // JSON-RPC errors may come with an HTTP error status; the body still holds the error.
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => {
                return Err(ClientError::Transport {
                    url: self.url.clone(),
                    detail: e.to_string(),
                })
            }
        }
        .into_json()
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Some(err) = response.get("error") {
            return Err(ClientError::Rpc {
                code: err
                    .get("code")
                    .and_then(Value::as_i64)
                    .and_then(|c| i32::try_from(c).ok())
                    .unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
                    .to_string(),
                data: err.get("data").cloned(),
            });
        }
        let result = response
            .get("result")
            .cloned()
            .ok_or_else(|| ClientError::Protocol(format!("no result in {response}")))?;
        serde_json::from_value(result).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub fn status(&self) -> Result<StatusView, ClientError> {
        self.call("mamey_status", json!([]))
    }

    pub fn account(&self, address: &Address) -> Result<AccountView, ClientError> {
        self.call("mamey_getAccount", json!([address.to_string()]))
    }

    pub fn validators(&self) -> Result<super::ValidatorsView, ClientError> {
        self.call("mamey_getValidators", json!([]))
    }

    pub fn stake(&self, delegator: &Address) -> Result<super::StakeView, ClientError> {
        self.call("mamey_getStake", json!([delegator.to_string()]))
    }

    pub fn send_transaction(&self, tx: &TxEnvelope) -> Result<Hash, ClientError> {
        self.call("mamey_sendTransaction", json!([hex::encode(&tx.bytes)]))
    }

    pub fn transaction(&self, id: &Hash) -> Result<TxView, ClientError> {
        self.call("mamey_getTransaction", json!([id.to_hex()]))
    }

    pub fn block(&self, height: u64) -> Result<BlockView, ClientError> {
        self.call("mamey_getBlock", json!([height]))
    }

    pub fn ingest_info(&self) -> Result<IngestInfoView, ClientError> {
        self.call("mamey_ingestInfo", json!([]))
    }

    pub fn pipeline_stats(&self) -> Result<PipelineSnapshot, ClientError> {
        self.call("mamey_pipelineStats", json!([]))
    }
}
