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

pub struct RpcClient {
    url: String,
    agent: ureq::Agent,
    next_id: AtomicU64,
}

impl RpcClient {
    pub fn new(url: &str) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build();
        Self {
            url: url.to_string(),
            agent,
            next_id: AtomicU64::new(1),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` and decodes its result.
    pub fn call<T: DeserializeOwned>(&self, method: &str, params: Value) -> Result<T, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response: Value = match self.agent.post(&self.url).send_json(body) {
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
