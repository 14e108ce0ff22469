//! The node's query and submission API, shared by every front end (JSON-RPC, WebSocket, gRPC):
//! one implementation of each operation and one set of stable error codes, so the front ends cannot
//! disagree. Front ends only parse parameters and shape results.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use thiserror::Error;
use tokio::sync::{broadcast, watch};

use crate::execution::{ChainParams, TxError};
use crate::metrics::{PipelineMetrics, PipelineSnapshot};
use crate::pipeline::{
    CommittedBlock, Ingest, MempoolActor, NextNonce, RejectedCache, SubmitError, TxPending,
};
use crate::storage::{ChainHead, Storage};
use crate::types::{Account, Address, Block, Hash};
use views::{
    AccountView, BlockView, CommitSignatureView, CommitView, IngestInfoView, StatusView, TxStatus,
    TxView,
};

pub mod compliance;
pub mod dex;
pub mod identity;
mod modules;
pub mod network;
pub mod payments;
pub mod views;

pub use modules::{
    block_events, event_view, BlockEvent, BlockEventView, EventFilter, HistoryItemView, HistoryView,
};

/// How long a submission may take through the pipeline before the client is told the node is busy.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Stable error codes (documented in docs/API.md); they never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParams,
    Internal,
    InvalidEncoding,
    TxTooLarge,
    WrongChain,
    BadSignature,
    NonceTooLow,
    NonceTooHigh,
    InsufficientFunds,
    FeeTooLow,
    AlreadyKnown,
    NonceAlreadyPending,
    InvalidAmount,
    TooManyTxs,
    MempoolFull,
    SenderQueueFull,
    Busy,
    ShuttingDown,
    RateLimited,
    NotFound,
    /// No credentials where the method needs a role, or credentials that do not verify (an
    /// unknown or revoked API key, a bad, expired or not-yet-valid token).
    Unauthenticated,
    /// The caller's role may not call this method.
    Forbidden,
    /// Over the caller's quota (per API key or token subject, or per IP); the error's data
    /// carries `retry_after_ms`.
    QuotaExceeded,
    /// A staking call that the staking state refuses (unknown or jailed validator, stake too
    /// small, registry full, invalid evidence...); the message says which.
    StakingRefused,
    /// A module's refusal, with the module's own code (10100-11199, INTERFACES §10).
    Module(u32),
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        match self {
            ErrorCode::InvalidParams => -32602,
            ErrorCode::Internal => -32603,
            ErrorCode::InvalidEncoding => 1000,
            ErrorCode::TxTooLarge => 1001,
            ErrorCode::WrongChain => 1002,
            ErrorCode::BadSignature => 1003,
            ErrorCode::NonceTooLow => 1004,
            ErrorCode::NonceTooHigh => 1005,
            ErrorCode::InsufficientFunds => 1006,
            ErrorCode::FeeTooLow => 1007,
            ErrorCode::AlreadyKnown => 1008,
            ErrorCode::NonceAlreadyPending => 1009,
            ErrorCode::InvalidAmount => 1010,
            ErrorCode::TooManyTxs => 1011,
            ErrorCode::MempoolFull => 2000,
            ErrorCode::SenderQueueFull => 2001,
            ErrorCode::Busy => 2002,
            ErrorCode::ShuttingDown => 2003,
            ErrorCode::RateLimited => 2004,
            ErrorCode::NotFound => 3000,
            ErrorCode::Unauthenticated => 4001,
            ErrorCode::Forbidden => 4003,
            ErrorCode::QuotaExceeded => 4029,
            ErrorCode::StakingRefused => 1012,
            ErrorCode::Module(code) => code as i32,
        }
    }
}

impl From<&TxError> for ErrorCode {
    fn from(e: &TxError) -> Self {
        match e {
            TxError::WrongChain { .. } => ErrorCode::WrongChain,
            TxError::FeeTooLow { .. } => ErrorCode::FeeTooLow,
            TxError::NonceTooLow { .. } => ErrorCode::NonceTooLow,
            TxError::NonceTooHigh { .. } => ErrorCode::NonceTooHigh,
            TxError::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
            TxError::AmountOverflow | TxError::ZeroAmount => ErrorCode::InvalidAmount,
            TxError::Module(m) => ErrorCode::Module(m.code),
            e => {
                debug_assert!(e.is_staking_refusal(), "{e:?} has no code of its own");
                ErrorCode::StakingRefused
            }
        }
    }
}

impl From<&SubmitError> for ErrorCode {
    fn from(e: &SubmitError) -> Self {
        match e {
            SubmitError::Decode(_) => ErrorCode::InvalidEncoding,
            SubmitError::TooLarge { .. } => ErrorCode::TxTooLarge,
            SubmitError::TooManyTxs { .. } => ErrorCode::TooManyTxs,
            SubmitError::BadSignature => ErrorCode::BadSignature,
            SubmitError::Invalid(e) => e.into(),
            SubmitError::AlreadyPending | SubmitError::AlreadyCommitted { .. } => {
                ErrorCode::AlreadyKnown
            }
            SubmitError::NonceAlreadyPending { .. } => ErrorCode::NonceAlreadyPending,
            SubmitError::MempoolFull { .. } => ErrorCode::MempoolFull,
            SubmitError::SenderFull { .. } | SubmitError::GappedFull { .. } => {
                ErrorCode::SenderQueueFull
            }
            SubmitError::Busy { .. } => ErrorCode::Busy,
            SubmitError::ShuttingDown => ErrorCode::ShuttingDown,
            SubmitError::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// An API failure: a stable code and a message the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::Internal, format!("internal error: {e}"))
    }
}

impl From<&SubmitError> for ApiError {
    fn from(e: &SubmitError) -> Self {
        Self::new(ErrorCode::from(e), e.to_string())
    }
}

/// Everything the front ends read from.
pub struct Api {
    pub storage: Arc<Storage>,
    pub ingest: Addr<Ingest>,
    pub mempool: Addr<MempoolActor>,
    pub rejected: Arc<RejectedCache>,
    pub head: watch::Receiver<ChainHead>,
    pub commits: broadcast::Sender<Arc<CommittedBlock>>,
    pub params: ChainParams,
    pub genesis_hash: Hash,
    pub sigverify_backend: String,
    pub tx_bytes_max: usize,
    pub ingest_info: IngestInfoView,
    pub metrics: Arc<PipelineMetrics>,
    /// The node's key, listen addresses, peers and head movement (`NetworkService`).
    pub network: network::NetworkInfo,
}

impl Api {
    /// Height of the committed (and, with one validator, finalized) head.
    pub fn head(&self) -> u64 {
        self.head.borrow().height
    }

    pub fn status(&self) -> StatusView {
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

    pub fn pipeline_stats(&self) -> PipelineSnapshot {
        self.metrics.snapshot()
    }

    /// The validator registry and active set at the committed head.
    pub fn validators(&self) -> Result<views::ValidatorsView, ApiError> {
        let reader = self.storage.reader().map_err(ApiError::internal)?;
        let head = reader.head().map_err(ApiError::internal)?;
        let registry = reader.registry().map_err(ApiError::internal)?;
        let leaders = reader
            .leaders()
            .map_err(ApiError::internal)?
            .unwrap_or_default();
        let record = |a: &Address| {
            leaders
                .records
                .get(&crate::consensus::context::Address(a.0))
                .copied()
                .unwrap_or_default()
        };
        let power_of = |a: &Address| {
            registry
                .active
                .iter()
                .find(|(x, _)| x == a)
                .map(|(_, p)| *p)
        };
        Ok(views::ValidatorsView {
            height: head.height,
            epoch_blocks: self.params.staking.epoch_blocks,
            active_set_max: self.params.staking.active_set_max,
            total_power: registry.active.iter().map(|(_, p)| *p).sum(),
            validators: registry
                .validators
                .iter()
                .map(|(a, v)| {
                    let votes = self.metrics.votes.get(a);
                    views::ValidatorView {
                        address: *a,
                        tokens: v.tokens,
                        commission_bps: v.commission_bps,
                        jailed: v.jailed,
                        power: power_of(a),
                        missed_proposals: record(a).missed_proposals,
                        proposed: record(a).proposed,
                        proposer_skipped_until: record(a).skipped_until,
                        signed_votes: votes.signed,
                        missed_votes: votes.missed,
                    }
                })
                .collect(),
        })
    }

    /// `delegator`'s delegations at the committed head (one read per registered validator, of
    /// which there are at most `VALIDATORS_MAX`).
    pub fn stake(&self, delegator: Address) -> Result<views::StakeView, ApiError> {
        use crate::modules::staking::{read_entry, state::StakeKey, state::StakeValue};
        let reader = self.storage.reader().map_err(ApiError::internal)?;
        let head = reader.head().map_err(ApiError::internal)?;
        let registry = reader.registry().map_err(ApiError::internal)?;
        let mut delegations = Vec::new();
        for (validator, v) in &registry.validators {
            let key = StakeKey::Delegation {
                validator: *validator,
                delegator,
            };
            if let Some(StakeValue::Shares(shares)) =
                read_entry(&reader, &key).map_err(ApiError::internal)?
            {
                delegations.push(views::DelegationView {
                    validator: *validator,
                    shares: shares.to_string(),
                    tokens: v.tokens_for(shares),
                });
            }
        }
        Ok(views::StakeView {
            delegator,
            height: head.height,
            delegations,
        })
    }

    pub async fn account(&self, address: Address) -> Result<AccountView, ApiError> {
        let account = self.storage.account(&address).map_err(ApiError::internal)?;
        let pending_nonce = match self.mempool.send(NextNonce(address)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(ApiError::internal(e)),
            Err(e) => return Err(ApiError::internal(e)),
        };
        Ok(AccountView {
            address,
            balance: account.balance,
            nonce: account.nonce,
            pending_nonce,
        })
    }

    /// Submits one encoded transaction through the pipeline and waits for its answer.
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Hash, ApiError> {
        if bytes.len() > self.tx_bytes_max {
            let e = SubmitError::TooLarge {
                len: bytes.len(),
                max: self.tx_bytes_max,
            };
            crate::telemetry::rejected((&e).into(), 1);
            return Err((&e).into());
        }
        let answers = crate::pipeline::submit(
            &self.ingest,
            &self.metrics,
            vec![bytes],
            Some(SUBMIT_TIMEOUT),
        )
        .await;
        match answers.into_iter().next() {
            Some(Ok(id)) => Ok(id),
            Some(Err(e)) => Err((&e).into()),
            None => Err(ApiError::internal("the pipeline gave no answer")),
        }
    }

    /// The view of a committed transaction, if it is committed.
    fn committed_view(&self, id: Hash) -> Result<Option<TxView>, ApiError> {
        let Some(loc) = self.storage.tx_location(&id).map_err(ApiError::internal)? else {
            return Ok(None);
        };
        let finalized = loc.height <= self.head();
        let block_hash = self
            .storage
            .block_header(loc.height)
            .map_err(ApiError::internal)?
            .map(|h| h.hash());
        let receipt = self
            .storage
            .receipts(loc.height)
            .map_err(ApiError::internal)?
            .into_iter()
            .nth(loc.index as usize);
        let fee_paid = receipt.as_ref().map(|r| r.fee_paid);
        let refusal = match receipt.as_ref().map(|r| &r.outcome) {
            Some(crate::types::Outcome::Refused { code, message, .. }) => {
                Some((*code, message.clone()))
            }
            _ => None,
        };
        let tx = self
            .storage
            .block_tx(loc.height, loc.index)
            .map_err(ApiError::internal)?;
        let events = modules::events_of(tx.as_ref(), receipt.as_ref());
        Ok(Some(TxView {
            id,
            // A refusal on the record is as final as its block.
            status: if refusal.is_some() {
                TxStatus::Rejected
            } else if finalized {
                TxStatus::Finalized
            } else {
                TxStatus::Committed
            },
            height: Some(loc.height),
            index: Some(loc.index),
            block_hash,
            fee_paid,
            error_code: refusal.as_ref().map(|r| r.0),
            error: refusal.map(|r| r.1),
            events,
        }))
    }

    pub async fn transaction(&self, id: Hash) -> Result<TxView, ApiError> {
        let view = |status| TxView {
            id,
            status,
            height: None,
            index: None,
            block_hash: None,
            fee_paid: None,
            error: None,
            error_code: None,
            events: Vec::new(),
        };
        if let Some(v) = self.committed_view(id)? {
            return Ok(v);
        }
        if self
            .mempool
            .send(TxPending(id))
            .await
            .map_err(ApiError::internal)?
        {
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
        Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "transaction {id} is not known to this node (never submitted, or rejected on \
                 submission)"
            ),
        ))
    }

    /// A committed block and the account writes it made.
    pub fn stored_block(&self, height: u64) -> Result<(Block, Vec<(Address, Account)>), ApiError> {
        let block = self
            .storage
            .block(height)
            .map_err(ApiError::internal)?
            .ok_or_else(|| self.no_block(height))?;
        let diff = self
            .storage
            .account_diff(height)
            .map_err(ApiError::internal)?;
        Ok((block, diff))
    }

    fn no_block(&self, height: u64) -> ApiError {
        ApiError::new(
            ErrorCode::NotFound,
            format!("no block at height {height} (the head is {})", self.head()),
        )
    }

    pub fn block(&self, height: u64) -> Result<BlockView, ApiError> {
        let block = self
            .storage
            .block(height)
            .map_err(ApiError::internal)?
            .ok_or_else(|| self.no_block(height))?;
        let h = &block.header;
        let commit = match self
            .storage
            .certificate(height)
            .map_err(ApiError::internal)?
        {
            None => None,
            Some(bytes) => {
                let d = crate::codec::decode_exact::<crate::consensus::engine::Decision>(
                    &bytes,
                    crate::consensus::wire::MESSAGE_BYTES_MAX,
                )
                .map_err(|e| ApiError::internal(format!("stored certificate: {e}")))?;
                Some(CommitView {
                    round: d.round.as_u32().unwrap_or(0),
                    signatures: d
                        .certificate
                        .commit_signatures
                        .iter()
                        .map(|s| CommitSignatureView {
                            validator: crate::types::Address(s.address.0),
                            signature: hex::encode(s.signature.0),
                        })
                        .collect(),
                })
            }
        };
        Ok(BlockView {
            height: h.height,
            hash: h.hash(),
            parent_hash: h.parent_hash,
            state_root: h.state_root,
            tx_root: h.tx_root,
            proposer: h.proposer,
            timestamp_ms: h.timestamp_ms,
            transactions: block.tx_ids(),
            commit,
        })
    }
}
