//! Executor stage: runs [`execute_block`] on the committed state, builds the block (header with tx
//! root and state root) and hands it to the committer.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::{CommitBlock, Committer, Fatal};
use crate::execution::{
    execute_block, execute_block_parallel, prefetch, touched_accounts, ChainParams,
};
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
    committer: Addr<Committer>,
    fatal: mpsc::Sender<Fatal>,
    metrics: Arc<PipelineMetrics>,
    /// Blocks with at least this many transactions run on the parallel executor.
    parallel_txs_min: usize,
}

impl Executor {
    pub fn new(
        storage: Arc<Storage>,
        params: ChainParams,
        proposer: Address,
        committer: Addr<Committer>,
        fatal: mpsc::Sender<Fatal>,
        metrics: Arc<PipelineMetrics>,
        parallel_txs_min: usize,
    ) -> Self {
        Self {
            storage,
            params,
            proposer,
            committer,
            fatal,
            metrics,
            parallel_txs_min,
        }
    }

    fn execute(&self, msg: Execute) -> Result<CommitBlock, StorageError> {
        let reader = self.storage.reader()?;
        let head = reader.head()?;
        assert_eq!(
            head, msg.parent,
            "the producer proposes on the committed head only"
        );
        let base_lthash = reader.lthash()?;
        let mut output = if msg.txs.len() >= self.parallel_txs_min {
            // LMDB read transactions are single-threaded: read what the block touches first.
            let base = prefetch(&reader, &touched_accounts(&msg.txs, &self.proposer))?;
            execute_block_parallel(&base, &base_lthash, &self.params, &self.proposer, msg.txs)
        } else {
            execute_block(&reader, &base_lthash, &self.params, &self.proposer, msg.txs)?
        };
        let ids: Vec<TxId> = output.applied.iter().map(|t| t.id).collect();
        let header = BlockHeader {
            chain_id: self.params.chain_id,
            height: msg.parent.height + 1,
            parent_hash: msg.parent.hash,
            timestamp_ms: msg.timestamp_ms,
            proposer: self.proposer,
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
        Ok(CommitBlock { block, output })
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
        match self.execute(msg) {
            Ok(commit) => {
                self.metrics
                    .execute
                    .record(count, commit.output.discarded.len(), started);
                self.metrics.commit.enqueued();
                self.committer.do_send(commit)
            }
            Err(e) => {
                tracing::error!(error = %e, "execution cannot read state");
                let _ = self.fatal.try_send(Fatal(e.to_string()));
            }
        }
    }
}
