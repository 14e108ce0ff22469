//! Executor stage: runs [`execute_block`] on the committed state, builds the block (header with tx
//! root and state root) and hands it to the committer.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::{CommitBlock, Committer, Fatal};
use crate::execution::{execute_block, ChainParams};
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
}

impl Executor {
    pub fn new(
        storage: Arc<Storage>,
        params: ChainParams,
        proposer: Address,
        committer: Addr<Committer>,
        fatal: mpsc::Sender<Fatal>,
    ) -> Self {
        Self {
            storage,
            params,
            proposer,
            committer,
            fatal,
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
        let output = execute_block(&reader, &base_lthash, &self.params, &self.proposer, msg.txs)?;
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
        let block = Block {
            header,
            transactions: output.applied.clone(),
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
        match self.execute(msg) {
            Ok(commit) => self.committer.do_send(commit),
            Err(e) => {
                tracing::error!(error = %e, "execution cannot read state");
                let _ = self.fatal.try_send(Fatal(e.to_string()));
            }
        }
    }
}
