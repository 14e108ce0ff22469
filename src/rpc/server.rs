//! The JSON-RPC server (jsonrpsee over HTTP): parses params, asks storage, the pipeline or the
//! mempool, and maps every failure to a stable error code. Request size, connection count and batch
//! length are bounded by `[rpc]` settings; jsonrpsee answers parse errors, invalid requests and
//! unknown methods with the standard codes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use super::{AccountView, BlockView, ErrorCode, IngestInfoView, StatusView, TxStatus, TxView};
use crate::config::RpcConfig;
use crate::execution::ChainParams;
use crate::metrics::PipelineMetrics;
use crate::pipeline::{
    Ingest, MempoolActor, NextNonce, RejectedCache, SubmitError, SubmitRaw, TxPending,
};
use crate::storage::{ChainHead, Storage};
use crate::types::{Address, Hash};

/// How long a submission may take through the pipeline before the client is told the node is busy.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the RPC methods read from.
pub struct RpcState {
    pub storage: Arc<Storage>,
    pub ingest: Addr<Ingest>,
    pub mempool: Addr<MempoolActor>,
    pub rejected: Arc<RejectedCache>,
    pub head: watch::Receiver<ChainHead>,
    pub params: ChainParams,
    pub genesis_hash: Hash,
    pub sigverify_backend: String,
    pub tx_bytes_max: usize,
    pub ingest_info: IngestInfoView,
    pub metrics: Arc<PipelineMetrics>,
}

pub struct RpcServer {
    pub local_addr: SocketAddr,
    pub handle: ServerHandle,
}

fn error(code: ErrorCode, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code.code(), message, None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    error(ErrorCode::Internal, format!("internal error: {e}"))
}

fn submit_error(e: &SubmitError) -> ErrorObjectOwned {
    error(ErrorCode::from(e), e.to_string())
}

/// The single positional parameter of a method, with a message naming what was expected.
fn one_param(params: &Params<'_>, expected: &str) -> Result<Value, ErrorObjectOwned> {
    let invalid = || {
        error(
            ErrorCode::InvalidParams,
            format!("expected params [{expected}]"),
        )
    };
    let v: Option<Vec<Value>> = params.parse().map_err(|_| invalid())?;
    match v {
        Some(mut v) if v.len() == 1 => Ok(v.remove(0)),
        _ => Err(invalid()),
    }
}

fn string_param(params: &Params<'_>, expected: &str) -> Result<String, ErrorObjectOwned> {
    match one_param(params, expected)? {
        Value::String(s) => Ok(s),
        other => Err(error(
            ErrorCode::InvalidParams,
            format!("expected params [{expected}] as a string, got {other}"),
        )),
    }
}

fn address_param(params: &Params<'_>) -> Result<Address, ErrorObjectOwned> {
    string_param(params, "address")?
        .parse()
        .map_err(|e| error(ErrorCode::InvalidParams, format!("params[0]: {e}")))
}

fn hash_param(params: &Params<'_>, what: &str) -> Result<Hash, ErrorObjectOwned> {
    string_param(params, what)?
        .parse()
        .map_err(|e| error(ErrorCode::InvalidParams, format!("params[0] ({what}): {e}")))
}

fn height_param(params: &Params<'_>) -> Result<u64, ErrorObjectOwned> {
    match one_param(params, "height")? {
        Value::Number(n) => n.as_u64().ok_or_else(|| {
            error(
                ErrorCode::InvalidParams,
                "params[0] (height) must be a non-negative integer",
            )
        }),
        Value::String(s) => s.parse().map_err(|_| {
            error(
                ErrorCode::InvalidParams,
                "params[0] (height) must be a non-negative integer",
            )
        }),
        _ => Err(error(
            ErrorCode::InvalidParams,
            "params[0] (height) must be a non-negative integer",
        )),
    }
}

impl RpcState {
    fn status(&self) -> StatusView {
        let head = *self.head.borrow();
        StatusView {
            chain_id: self.params.chain_id,
            height: head.height,
            finalized_height: head.height,
            state_root: head.state_root,
            head_hash: head.hash,
            head_timestamp_ms: head.timestamp_ms,
            genesis_hash: self.genesis_hash,
            min_fee: self.params.min_fee,
            sigverify_backend: self.sigverify_backend.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    async fn account(&self, address: Address) -> Result<AccountView, ErrorObjectOwned> {
        let account = self.storage.account(&address).map_err(internal)?;
        let pending_nonce = match self.mempool.send(NextNonce(address)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(internal(e)),
            Err(e) => return Err(internal(e)),
        };
        Ok(AccountView {
            address,
            balance: account.balance,
            nonce: account.nonce,
            pending_nonce,
        })
    }

    async fn send_transaction(&self, hex_tx: String) -> Result<Hash, ErrorObjectOwned> {
        let hex_tx = hex_tx.trim();
        if hex_tx.len() > 2 * self.tx_bytes_max {
            return Err(submit_error(&SubmitError::TooLarge {
                len: hex_tx.len() / 2,
                max: self.tx_bytes_max,
            }));
        }
        if hex_tx.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(error(
                ErrorCode::InvalidParams,
                "params[0]: transaction hex must be lowercase",
            ));
        }
        let bytes = hex::decode(hex_tx).map_err(|e| {
            error(
                ErrorCode::InvalidParams,
                format!("params[0]: not a hex string: {e}"),
            )
        })?;
        let (reply, answer) = oneshot::channel();
        if self
            .ingest
            .try_send(SubmitRaw {
                txs: vec![bytes],
                reply,
            })
            .is_err()
        {
            return Err(submit_error(&SubmitError::Busy { stage: "ingest" }));
        }
        let answers = match tokio::time::timeout(SUBMIT_TIMEOUT, answer).await {
            Ok(Ok(a)) => a,
            Ok(Err(_)) => return Err(submit_error(&SubmitError::ShuttingDown)),
            Err(_) => return Err(submit_error(&SubmitError::Busy { stage: "pipeline" })),
        };
        match answers.into_iter().next() {
            Some(Ok(id)) => Ok(id),
            Some(Err(e)) => Err(submit_error(&e)),
            None => Err(internal("the pipeline gave no answer")),
        }
    }

    /// The view of a committed transaction, if it is committed.
    fn committed_view(&self, id: Hash) -> Result<Option<TxView>, ErrorObjectOwned> {
        let Some(loc) = self.storage.tx_location(&id).map_err(internal)? else {
            return Ok(None);
        };
        let finalized = loc.height <= self.head.borrow().height;
        let block_hash = self
            .storage
            .block(loc.height)
            .map_err(internal)?
            .map(|b| b.hash());
        let fee_paid = self
            .storage
            .receipts(loc.height)
            .map_err(internal)?
            .get(loc.index as usize)
            .map(|r| r.fee_paid);
        Ok(Some(TxView {
            id,
            status: if finalized {
                TxStatus::Finalized
            } else {
                TxStatus::Committed
            },
            height: Some(loc.height),
            index: Some(loc.index),
            block_hash,
            fee_paid,
            error: None,
        }))
    }

    async fn transaction(&self, id: Hash) -> Result<TxView, ErrorObjectOwned> {
        let view = |status| TxView {
            id,
            status,
            height: None,
            index: None,
            block_hash: None,
            fee_paid: None,
            error: None,
        };
        if let Some(v) = self.committed_view(id)? {
            return Ok(v);
        }
        if self.mempool.send(TxPending(id)).await.map_err(internal)? {
            return Ok(view(TxStatus::Pending));
        }
        // A block commits to storage before the mempool prunes it: a transaction that left the pool
        // between the two reads above is in storage now.
        if let Some(v) = self.committed_view(id)? {
            return Ok(v);
        }
        if let Some(reason) = self.rejected.get(&id) {
            return Ok(TxView {
                error: Some(reason.to_string()),
                ..view(TxStatus::Rejected)
            });
        }
        Err(error(
            ErrorCode::NotFound,
            format!("transaction {id} is not known to this node (never submitted, or rejected on submission)"),
        ))
    }

    fn block(&self, height: u64) -> Result<BlockView, ErrorObjectOwned> {
        let block = self
            .storage
            .block(height)
            .map_err(internal)?
            .ok_or_else(|| {
                error(
                    ErrorCode::NotFound,
                    format!(
                        "no block at height {height} (the head is {})",
                        self.head.borrow().height
                    ),
                )
            })?;
        let h = &block.header;
        Ok(BlockView {
            height: h.height,
            hash: h.hash(),
            parent_hash: h.parent_hash,
            state_root: h.state_root,
            tx_root: h.tx_root,
            proposer: h.proposer,
            timestamp_ms: h.timestamp_ms,
            transactions: block.tx_ids(),
        })
    }
}

fn module(
    state: Arc<RpcState>,
) -> Result<RpcModule<RpcState>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::from_arc(state);
    m.register_method(
        "mamey_status",
        |_p, s, _| -> Result<StatusView, ErrorObjectOwned> { Ok(s.status()) },
    )?;
    m.register_async_method("mamey_getAccount", |p, s, _| async move {
        let address = address_param(&p)?;
        s.account(address).await
    })?;
    m.register_async_method("mamey_sendTransaction", |p, s, _| async move {
        let hex_tx = string_param(&p, "hex of a signed, encoded transaction")?;
        s.send_transaction(hex_tx).await
    })?;
    m.register_async_method("mamey_getTransaction", |p, s, _| async move {
        let id = hash_param(&p, "transaction id")?;
        s.transaction(id).await
    })?;
    m.register_method("mamey_getBlock", |p, s, _| {
        let height = height_param(&p)?;
        s.block(height)
    })?;
    m.register_method(
        "mamey_ingestInfo",
        |_p, s, _| -> Result<IngestInfoView, ErrorObjectOwned> { Ok(s.ingest_info.clone()) },
    )?;
    m.register_method("mamey_pipelineStats", |_p, s, _| {
        Ok::<_, ErrorObjectOwned>(s.metrics.snapshot())
    })?;
    Ok(m)
}

/// Binds the listener and starts serving. Must run inside a tokio runtime.
pub async fn start(config: &RpcConfig, state: RpcState) -> std::io::Result<RpcServer> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.request_bytes_max)
        .max_response_body_size(config.response_bytes_max)
        .max_connections(config.connections_max)
        .set_batch_request_config(BatchRequestConfig::Limit(config.batch_calls_max))
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .build(config.listen)
        .await?;
    let local_addr = server.local_addr()?;
    let methods = module(Arc::new(state)).map_err(std::io::Error::other)?;
    let handle = server.start(methods);
    Ok(RpcServer { local_addr, handle })
}
