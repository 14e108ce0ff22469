//! Executor stage: runs [`execute_block`] on the committed state, builds the block (header with tx
//! root and state root) and hands it to consensus, which finalizes it before the committer writes
//! it.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::{CommitBlock, Fatal, Proposed};
use crate::execution::{execute_block, execute_block_parallel, BlockEnv, ChainParams};
use crate::metrics::PipelineMetrics;
use crate::storage::{ChainHead, Storage, StorageError};
use crate::types::{block::tx_root, Address, Block, BlockHeader, TxEnvelope, TxId};

/// Execute these transactions as the block after `parent`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Execute {
    pub parent: ChainHead,
    pub timestamp_ms: u64,
    pub txs: Vec<TxEnvelope>,
}

pub struct Executor {
    storage: Arc<Storage>,
    params: ChainParams,
    proposer: Address,
    consensus: Recipient<Proposed>,
    fatal: mpsc::Sender<Fatal>,
    metrics: Arc<PipelineMetrics>,
    /// Blocks with at least this many transactions run on the parallel executor.
    parallel_txs_min: usize,
}

/// Executes `txs` as the block after `parent` on the committed state: the block, with its header's
/// transaction and state roots, and what its commit writes. Transactions that fail are left out of
/// the block. `None` when the committed head is no longer `parent` (with several validators, the
/// chain may move on with another proposer's block while this one waits to be built).
pub fn build_block(
    storage: &Storage,
    params: &ChainParams,
    proposer: &Address,
    parallel_txs_min: usize,
    parent: ChainHead,
    timestamp_ms: u64,
    txs: Vec<TxEnvelope>,
) -> Result<Option<CommitBlock>, StorageError> {
    let reader = storage.reader()?;
    if reader.head()? != parent {
        return Ok(None);
    }
    let base_lthash = reader.lthash()?;
    let env = BlockEnv {
        height: parent.height + 1,
        proposer: *proposer,
        time_ms: timestamp_ms,
    };
    let mut output = if txs.len() >= parallel_txs_min {
        execute_block_parallel(&reader, &base_lthash, params, &env, txs)?
    } else {
        execute_block(&reader, &base_lthash, params, &env, txs)?
    };
    let ids: Vec<TxId> = output.applied.iter().map(|t| t.id).collect();
    let header = BlockHeader {
        chain_id: params.chain_id,
        height: parent.height + 1,
        parent_hash: parent.hash,
        timestamp_ms,
        proposer: *proposer,
        tx_root: tx_root(&ids),
        state_root: output.lthash.root(),
        tx_count: u32::try_from(ids.len()).expect("block.txs_max is below u32::MAX"),
    };
    // The applied transactions move into the block; the output keeps writes, receipts and
    // discards for the commit.
    let block = Block {
        header,
        transactions: std::mem::take(&mut output.applied),
    };
    Ok(Some(CommitBlock {
        block,
        output,
        certificate: None,
    }))
}

/// Executes an existing block again on the committed state (a block proposed before a restart):
/// its commit, or `None` when the block is not the next one or does not come out identical.
pub fn replay_block(
    storage: &Storage,
    params: &ChainParams,
    parallel_txs_min: usize,
    block: Block,
) -> Result<Option<CommitBlock>, StorageError> {
    let head = storage.head()?;
    let h = &block.header;
    if h.height != head.height + 1 || h.parent_hash != head.hash {
        return Ok(None);
    }
    let hash = block.hash();
    let rebuilt = build_block(
        storage,
        params,
        &h.proposer,
        parallel_txs_min,
        head,
        h.timestamp_ms,
        block.transactions,
    )?;
    Ok(rebuilt.filter(|r| r.block.hash() == hash))
}

impl Executor {
    pub fn new(
        storage: Arc<Storage>,
        params: ChainParams,
        proposer: Address,
        consensus: Recipient<Proposed>,
        fatal: mpsc::Sender<Fatal>,
        metrics: Arc<PipelineMetrics>,
        parallel_txs_min: usize,
    ) -> Self {
        Self {
            storage,
            params,
            proposer,
            consensus,
            fatal,
            metrics,
            parallel_txs_min,
        }
    }
}

impl Actor for Executor {
    type Context = Context<Self>;
}

impl Handler<Execute> for Executor {
    type Result = ();

    fn handle(&mut self, msg: Execute, _ctx: &mut Self::Context) {
        let started = std::time::Instant::now();
        let count = msg.txs.len();
        match build_block(
            &self.storage,
            &self.params,
            &self.proposer,
            self.parallel_txs_min,
            msg.parent,
            msg.timestamp_ms,
            msg.txs,
        ) {
            Ok(Some(commit)) => {
                self.metrics
                    .execute
                    .record(count, commit.output.discarded.len(), started);
                self.consensus.do_send(Proposed(commit))
            }
            Ok(None) => {
                tracing::debug!("the chain moved on before this block was built; not built");
            }
            Err(e) => {
                tracing::error!(error = %e, "execution cannot read state");
                let _ = self.fatal.try_send(Fatal(e.to_string()));
            }
        }
    }
}
