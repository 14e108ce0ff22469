//! The node's pipeline: one actix actor per stage, each on its own thread (arbiter), passing batches.
//!
//! ```text
//!  SubmitRaw ─► Ingest ─Verify─► Verifier ─Admit─► MempoolActor ◄─Select── Producer (timer)
//!  (RPC)        decode,          ZIP-215 batch     nonce/fee order             │ Execute
//!               limits           on rayon          bounded pool                ▼
//!                                                      ▲                   Executor ─CommitBlock─► Committer
//!                                                      │ BlockCommitted                            │ (LMDB)
//!                                                      └──────────── Notifier ◄─ BlockCommitted ───┘
//!                                                                    (head watch, producer, pool)
//! ```
//!
//! Submissions flow forward and carry their reply channel; each stage writes the answer of the
//! transactions it refuses, and the mempool answers for the rest, so every transaction gets exactly
//! one answer. Stage mailboxes are bounded (`pipeline.queue_batches_max`): a full stage answers
//! [`SubmitError::Busy`] instead of queueing without limit.
//!
//! Block production has one block in flight: the producer proposes block `h + 1` only after the
//! notifier reported block `h` committed, so execution always reads the committed state.

mod committer;
mod consensus;
mod executor;
mod ingest;
mod notifier;
mod pool;
mod producer;
mod rejected;
mod verifier;
mod votes;

use std::sync::Arc;

use actix::prelude::*;
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use committer::{CommitBlock, Committer};
pub use consensus::{
    single_validator, write_proposal, ConsensusActor, ConsensusSetup, FromPeer, Proposed,
};
pub use executor::{build_block, replay_block, Execute, Executor};
pub use ingest::{submit, Ingest, SubmitRaw};
pub use notifier::{Notifier, Subscribe};
pub use pool::{Admit, MempoolActor, NextNonce, Select, TxPending};
pub use producer::{Drain, Producer};
pub use rejected::RejectedCache;
pub use verifier::{Verifier, Verify};

use crate::codec::DecodeError;
use crate::config::NodeConfig;
use crate::execution::{ChainParams, TxError};
use crate::mempool::{Mempool, PoolError};
use crate::metrics::PipelineMetrics;
use crate::sigverify;
use crate::storage::{ChainHead, Storage};
use crate::types::{Account, Address, Block, Receipt, TxEnvelope, TxId};

/// The answer to one submitted transaction.
pub type SubmitResult = Result<TxId, SubmitError>;

/// Why a submitted transaction was not admitted. Each variant is something the client can act on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    #[error("cannot decode transaction: {0}")]
    Decode(#[from] DecodeError),
    #[error("transaction is {len} bytes, over this node's limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("{count} transactions in one submission, over the limit of {max}")]
    TooManyTxs { count: usize, max: usize },
    #[error(
        "invalid signature: it does not verify for this sender and transaction (Ed25519, ZIP-215)"
    )]
    BadSignature,
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error("transaction is already pending")]
    AlreadyPending,
    #[error("transaction is already committed at height {height}")]
    AlreadyCommitted { height: u64 },
    #[error("a transaction with nonce {nonce} from this sender is already pending")]
    NonceAlreadyPending { nonce: u64 },
    #[error("mempool is full ({limit} transactions): retry shortly")]
    MempoolFull { limit: usize },
    #[error("sender already has {limit} pending transactions: wait for some to commit")]
    SenderFull { limit: usize },
    #[error(
        "mempool holds {limit} transactions waiting for earlier nonces, the most allowed: send the \
         missing nonces first"
    )]
    GappedFull { limit: usize },
    #[error("node is busy: the {stage} queue is full; retry after a short pause")]
    Busy { stage: &'static str },
    #[error("node is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

/// The metrics label of a refusal (telemetry names no pipeline type).
impl From<&SubmitError> for crate::telemetry::RejectReason {
    fn from(e: &SubmitError) -> Self {
        use crate::telemetry::RejectReason;
        match e {
            SubmitError::Decode(_) => RejectReason::InvalidEncoding,
            SubmitError::TooLarge { .. } => RejectReason::TxTooLarge,
            SubmitError::TooManyTxs { .. } => RejectReason::TooManyTxs,
            SubmitError::BadSignature => RejectReason::BadSignature,
            SubmitError::Invalid(e) => e.into(),
            SubmitError::AlreadyPending => RejectReason::AlreadyPending,
            SubmitError::AlreadyCommitted { .. } => RejectReason::AlreadyCommitted,
            SubmitError::NonceAlreadyPending { .. } => RejectReason::NonceAlreadyPending,
            SubmitError::MempoolFull { .. } => RejectReason::MempoolFull,
            SubmitError::SenderFull { .. } => RejectReason::SenderFull,
            SubmitError::GappedFull { .. } => RejectReason::GappedFull,
            SubmitError::Busy { .. } => RejectReason::Busy,
            SubmitError::ShuttingDown => RejectReason::ShuttingDown,
            SubmitError::Internal(_) => RejectReason::Internal,
        }
    }
}

impl From<PoolError> for SubmitError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Invalid(e) => SubmitError::Invalid(e),
            PoolError::AlreadyPending => SubmitError::AlreadyPending,
            PoolError::NonceAlreadyPending { nonce } => SubmitError::NonceAlreadyPending { nonce },
            PoolError::Full { limit } => SubmitError::MempoolFull { limit },
            PoolError::SenderFull { limit } => SubmitError::SenderFull { limit },
            PoolError::GappedFull { limit } => SubmitError::GappedFull { limit },
        }
    }
}

/// A batch of submitted transactions on its way through ingest, sigverify and the mempool, with
/// the channel its answers go back on.
///
/// Invariant: `slots[i]` is the state of the i-th submitted transaction: still `Ok` while every stage
/// so far accepted it, `Err` once one refused it.
pub struct SubmitBatch {
    pub slots: Vec<Result<TxEnvelope, SubmitError>>,
    reply: oneshot::Sender<Vec<SubmitResult>>,
    /// Whether the mempool passes what it admits on to peers (see `SubmitRaw::gossip`).
    pub gossip: bool,
}

impl SubmitBatch {
    pub fn new(
        slots: Vec<Result<TxEnvelope, SubmitError>>,
        reply: oneshot::Sender<Vec<SubmitResult>>,
    ) -> Self {
        Self {
            slots,
            reply,
            gossip: false,
        }
    }

    /// Refuses every transaction still in the batch with `e`, and answers.
    pub fn fail_remaining(mut self, e: SubmitError) {
        for s in &mut self.slots {
            if s.is_ok() {
                *s = Err(e.clone());
            }
        }
        self.respond();
    }

    /// Sends the answers: the transactions still `Ok` were admitted.
    pub fn respond(self) {
        let answers = self.slots.into_iter().map(|s| s.map(|tx| tx.id)).collect();
        // The submitter may have gone away (client disconnected): nothing to tell then.
        let _ = self.reply.send(answers);
    }
}

/// A block that was committed, with what the rest of the node needs to know about it.
#[derive(Debug)]
pub struct CommittedBlock {
    pub head: ChainHead,
    pub block: Block,
    pub receipts: Vec<Receipt>,
    pub discarded: Vec<(TxId, TxError)>,
    pub writes: std::collections::BTreeMap<Address, Account>,
}

/// Notice that a block was committed; shared by every recipient.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct BlockCommitted(pub Arc<CommittedBlock>);

/// Something the node cannot continue past (storage full or failing). The node stops on it.
#[derive(Debug, Clone)]
pub struct Fatal(pub String);

/// How full the mempool is, published by the mempool stage and read by ingest, which refuses
/// new transactions while the pool is full instead of spending signature checks on transactions
/// the mempool would refuse anyway (load shedding at the earliest stage).
#[derive(Debug)]
pub struct PoolLevel {
    pub len: std::sync::atomic::AtomicUsize,
    pub capacity: usize,
}

impl PoolLevel {
    pub fn is_full(&self) -> bool {
        self.len.load(std::sync::atomic::Ordering::Relaxed) >= self.capacity
    }
}

/// Who this node is in consensus: its key and its peers (none when it is the only validator).
/// The validator set of each height comes from the committed state (DPoS elections).
pub struct ValidatorIdentity {
    pub key: ed25519_dalek::SigningKey,
    pub p2p: Option<crate::p2p::P2pHandle>,
}

/// Why the pipeline could not start.
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("consensus cannot start: {0}")]
    Consensus(#[from] consensus::ConsensusSetupError),
}

/// Handles to a running pipeline.
pub struct Pipeline {
    pub ingest: Addr<Ingest>,
    pub mempool: Addr<MempoolActor>,
    pub producer: Addr<Producer>,
    /// Takes what peers send (`FromPeer`).
    pub consensus: Addr<ConsensusActor>,
    pub head: watch::Receiver<ChainHead>,
    pub rejected: Arc<RejectedCache>,
    /// Every committed block, for streaming subscribers (bounded; slow receivers see `Lagged`).
    pub commits: broadcast::Sender<Arc<CommittedBlock>>,
    pub metrics: Arc<PipelineMetrics>,
    arbiters: Vec<Arbiter>,
}

impl Pipeline {
    /// Starts every stage on its own arbiter. Must run inside an actix `System`.
    pub fn start(
        config: &NodeConfig,
        storage: Arc<Storage>,
        params: ChainParams,
        validator: ValidatorIdentity,
        verifier: Box<dyn sigverify::BatchVerifier>,
        fatal: mpsc::Sender<Fatal>,
    ) -> Result<Self, PipelineError> {
        let ValidatorIdentity {
            key: validator,
            p2p,
        } = validator;
        let proposer = crate::keys::address_of(&validator);
        let gossip_peers = p2p.clone();
        let head = storage.head()?;
        let (head_tx, head_rx) = watch::channel(head);
        let queue_max = config.pipeline.queue_batches_max;
        let rejected = Arc::new(RejectedCache::new(config.mempool.rejected_remembered_max));
        let level = Arc::new(PoolLevel {
            len: std::sync::atomic::AtomicUsize::new(0),
            capacity: config.mempool.txs_max,
        });
        let metrics = Arc::new(PipelineMetrics::default());
        let (commits, _) = broadcast::channel(config.pipeline.subscriber_buffer_blocks);
        let mut arbiters = Vec::new();
        let mut arbiter = || {
            let a = Arbiter::new();
            let h = a.handle();
            arbiters.push(a);
            h
        };

        let mempool = {
            let pool = Mempool::new(config.mempool.pool_config(), params.clone());
            let storage = storage.clone();
            let rejected = rejected.clone();
            let metrics = metrics.clone();
            let level = level.clone();
            MempoolActor::start_in_arbiter(&arbiter(), move |ctx| {
                ctx.set_mailbox_capacity(queue_max);
                MempoolActor::new(pool, storage, rejected, metrics, level, gossip_peers)
            })
        };
        let notifier = {
            let mempool = mempool.clone();
            let commits = commits.clone();
            let metrics = metrics.clone();
            Notifier::start_in_arbiter(&arbiter(), move |_| {
                Notifier::new(head_tx, mempool, commits, metrics)
            })
        };
        let committer = {
            let storage = storage.clone();
            let notifier = notifier.clone();
            let fatal = fatal.clone();
            let metrics = metrics.clone();
            Committer::start_in_arbiter(&arbiter(), move |_| {
                Committer::new(storage, notifier, fatal, metrics)
            })
        };
        // With peers, signatures verified at admission are remembered so that peers' blocks
        // skip them (twice the mempool: admission to inclusion, with room).
        let verified_ids = p2p.as_ref().map(|_| {
            Arc::new(sigverify::VerifiedIds::new(
                config.mempool.txs_max.max(1) * 2,
            ))
        });
        let verifier = {
            let verified = verified_ids.clone();
            let mempool = mempool.clone();
            let sv = config.sigverify.clone();
            let metrics = metrics.clone();
            Verifier::start_in_arbiter(&arbiter(), move |ctx| {
                ctx.set_mailbox_capacity(queue_max);
                Verifier::new(
                    verifier,
                    sv.batch_size_max,
                    std::time::Duration::from_micros(sv.batch_deadline_us),
                    mempool,
                    metrics,
                    verified,
                )
            })
        };
        let ingest = {
            let ingest_config = config.ingest.clone();
            let params = params.clone();
            let metrics = metrics.clone();
            Ingest::start_in_arbiter(&arbiter(), move |ctx| {
                ctx.set_mailbox_capacity(queue_max);
                Ingest::new(ingest_config, params, verifier, metrics, level)
            })
        };
        let parallel_txs_min = config.pipeline.parallel_execution_txs_min;
        // Heights this validator should build a block for, from consensus to the producer.
        let wanted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let consensus = {
            let setup = ConsensusSetup {
                engine: crate::consensus::engine::EngineConfig {
                    timeouts: config.consensus.timeouts(),
                    chain: params.chain_tag(),
                    ..Default::default()
                },
                key: validator,
                dir: config.consensus_path(),
                wal_bytes_max: config.consensus.wal_bytes_max,
                params: params.clone(),
                parallel_txs_min,
                p2p,
                wanted: wanted.clone(),
                ingest: ingest.clone().recipient(),
                verified: verified_ids,
            };
            let actor = ConsensusActor::new(
                setup,
                storage.clone(),
                committer,
                notifier.clone(),
                fatal.clone(),
                metrics.clone(),
            )?;
            let capacity = config.p2p.inbound_queue_max;
            ConsensusActor::start_in_arbiter(&arbiter(), move |ctx| {
                // Peer messages are offered with `try_send` and dropped when this is full.
                ctx.set_mailbox_capacity(capacity);
                actor
            })
        };
        let executor = {
            let storage = storage.clone();
            let params = params.clone();
            let metrics = metrics.clone();
            let consensus = consensus.clone().recipient();
            Executor::start_in_arbiter(&arbiter(), move |_| {
                Executor::new(
                    storage,
                    params,
                    proposer,
                    consensus,
                    fatal,
                    metrics,
                    parallel_txs_min,
                )
            })
        };
        let producer = {
            let mempool = mempool.clone();
            let block = config.block.clone();
            let notifier = notifier.clone();
            Producer::start_in_arbiter(&arbiter(), move |_| {
                Producer::new(block, wanted, head, mempool, executor, notifier)
            })
        };
        Ok(Pipeline {
            ingest,
            mempool,
            producer,
            consensus,
            head: head_rx,
            rejected,
            commits,
            metrics,
            arbiters,
        })
    }

    /// Stops block production after the block in hand is committed; returns the final head.
    pub async fn drain(&self) -> Option<ChainHead> {
        let (tx, rx) = oneshot::channel();
        self.producer.send(Drain(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Stops every stage's thread.
    pub fn stop(self) {
        for a in self.arbiters {
            a.stop();
            let _ = a.join();
        }
    }
}

/// Current wall-clock time in milliseconds since the Unix epoch (for proposers and logs only; never
/// read during execution).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
