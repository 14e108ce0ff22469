//! Consensus stage: runs this validator's [`Engine`] between the executor and the committer. A
//! block the executor built becomes this validator's proposal when the engine asks for one; a
//! decided block goes to the committer with its commit certificate.
//!
//! The actor is the engine's host: it performs the engine's effects.
//! - `Persist`: appended to the write-ahead log, which is synced before any later effect that can
//!   be seen outside the process (a message sent, a block committed), so nothing leaves that a
//!   restart could forget. A failing log is fatal: the node stops rather than sign unlogged.
//! - `ScheduleTimeout`: an actix timer that feeds the timeout back.
//! - `Broadcast`/`Send`: to peers. A single-validator chain has none; peer-to-peer networking
//!   (issue #6) plugs in here.
//! - `GetValue`: answered with the block the executor built for that height, as soon as there is
//!   one. Until then the proposer's own propose timeout is not delivered: a validator does not give
//!   up a round for want of its own block (other validators keep their own timeouts).
//! - `Decided`: the block goes to the committer. Until the notifier reports it committed, inputs
//!   wait in a bounded queue, so that the log of the next height only starts once the previous
//!   block is durable; then the log is reset.
//!
//! Durability of the proposer's block: before its hash is proposed, the block is written and synced
//! to `DATA_DIR/consensus/proposal.block`; after a restart it is executed again, so that a decision
//! replayed from the log finds its block.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::executor::replay_block;
use super::{BlockCommitted, CommitBlock, Committer, Fatal, Notifier, Subscribe};
use crate::codec::{decode_exact, Encode};
use crate::consensus::context::{BlockHash, Height, Round, TimeoutKind, ValidatorSet, Value};
use crate::consensus::engine::{Decision, Effect, Engine, EngineConfig, Input};
use crate::consensus::wal::WalFile;
use crate::execution::ChainParams;
use crate::metrics::PipelineMetrics;
use crate::storage::Storage;
use crate::types::Block;

/// Inputs held while a decided block is being committed; peer messages beyond it are dropped
/// (peers repeat them), timeouts never are.
const HELD_INPUTS_MAX: usize = 4_096;
/// Blocks built for the current height and not yet decided.
const PENDING_BLOCKS_MAX: usize = 4;
/// Largest proposal file read back at start.
const PROPOSAL_BYTES_MAX: usize = 1 << 30;

/// A block the executor built, offered as this validator's proposal.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Proposed(pub CommitBlock);

/// Everything the consensus stage starts from.
pub struct ConsensusSetup {
    pub engine: EngineConfig,
    pub key: ed25519_dalek::SigningKey,
    pub validators: ValidatorSet,
    pub dir: PathBuf,
    pub wal_bytes_max: u64,
    pub params: ChainParams,
    pub parallel_txs_min: usize,
}

pub struct ConsensusActor {
    engine: Engine,
    wal: WalFile,
    dir: PathBuf,
    committer: Addr<Committer>,
    notifier: Addr<Notifier>,
    fatal: mpsc::Sender<Fatal>,
    metrics: Arc<PipelineMetrics>,
    /// Blocks built for the current height, by hash.
    pending: BTreeMap<BlockHash, CommitBlock>,
    /// The round that asked for a block and has none yet.
    awaiting: Option<(Height, Round)>,
    /// Height of the decided block being committed; inputs wait meanwhile.
    committing: Option<Height>,
    held: VecDeque<Input>,
    /// Effects of the next height that came with a decision, performed once it is committed.
    deferred: Vec<Effect>,
    /// Effects of the engine's start (log replay), performed once the actor runs.
    startup: Vec<Effect>,
    failed: bool,
}

fn proposal_path(dir: &std::path::Path) -> PathBuf {
    dir.join("proposal.block")
}

/// Writes the block this validator is about to propose, durably, replacing the previous one.
pub fn write_proposal(dir: &std::path::Path, block: &Block) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join("proposal.block.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&block.to_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, proposal_path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

impl ConsensusActor {
    /// Opens the log, recovers the block proposed before a restart and rebuilds the engine at the
    /// height after the committed head.
    pub fn new(
        setup: ConsensusSetup,
        storage: Arc<Storage>,
        committer: Addr<Committer>,
        notifier: Addr<Notifier>,
        fatal: mpsc::Sender<Fatal>,
        metrics: Arc<PipelineMetrics>,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&setup.dir)
            .map_err(|e| format!("cannot create {}: {e}", setup.dir.display()))?;
        let head = storage.head().map_err(|e| e.to_string())?;
        let height = Height(head.height + 1);
        let (wal, entries) = WalFile::open(&setup.dir.join("wal"), height, setup.wal_bytes_max)
            .map_err(|e| e.to_string())?;
        let mut pending = BTreeMap::new();
        if let Ok(bytes) = std::fs::read(proposal_path(&setup.dir)) {
            if let Ok(block) = decode_exact::<Block>(&bytes, PROPOSAL_BYTES_MAX) {
                if let Some(commit) =
                    replay_block(&storage, &setup.params, setup.parallel_txs_min, block)
                        .map_err(|e| e.to_string())?
                {
                    pending.insert(BlockHash(commit.block.hash().0), commit);
                }
            }
        }
        let mut recent = Vec::new();
        for h in head
            .height
            .saturating_sub(setup.engine.decisions_kept as u64)..=head.height
        {
            if let Some(bytes) = storage.certificate(h).map_err(|e| e.to_string())? {
                if let Ok(d) =
                    decode_exact::<Decision>(&bytes, crate::consensus::wire::MESSAGE_BYTES_MAX)
                {
                    recent.push(d);
                }
            }
        }
        if !entries.is_empty() {
            tracing::info!(
                height = height.0,
                records = entries.len(),
                "replaying the consensus log"
            );
        }
        let (engine, startup) = Engine::restore(
            setup.engine,
            setup.key,
            setup.validators,
            height,
            recent,
            entries,
        );
        Ok(Self {
            engine,
            wal,
            dir: setup.dir,
            committer,
            notifier,
            fatal,
            metrics,
            pending,
            awaiting: None,
            committing: None,
            held: VecDeque::new(),
            deferred: Vec::new(),
            startup,
            failed: false,
        })
    }

    fn fail(&mut self, reason: String) {
        tracing::error!(%reason, "consensus stops");
        self.failed = true;
        let _ = self.fatal.try_send(Fatal(reason));
    }

    fn input(&mut self, input: Input, ctx: &mut Context<Self>) {
        if self.failed {
            return;
        }
        if self.committing.is_some() {
            let is_timeout = matches!(input, Input::Timeout { .. });
            if is_timeout || self.held.len() < HELD_INPUTS_MAX {
                self.held.push_back(input);
            }
            return;
        }
        // The proposer waits for its own block rather than time out its own round.
        if let Input::Timeout { height, timeout } = &input {
            if timeout.kind == TimeoutKind::Propose
                && self.awaiting == Some((*height, timeout.round))
            {
                return;
            }
        }
        match self.engine.handle(input) {
            Ok(effects) => self.perform(effects, ctx),
            Err(e) => tracing::debug!(error = %e, "consensus input refused"),
        }
    }

    fn perform(&mut self, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        let mut effects = effects.into_iter();
        while let Some(effect) = effects.next() {
            if self.failed {
                return;
            }
            let leaves_process = matches!(effect, Effect::Decided(_))
                || (self.has_peers() && matches!(effect, Effect::Broadcast(_) | Effect::Send(..)));
            if leaves_process {
                if let Err(e) = self.wal.sync() {
                    self.fail(e.to_string());
                    return;
                }
            }
            match effect {
                Effect::Persist(entry) => {
                    if let Err(e) = self.wal.append(&entry) {
                        self.fail(e.to_string());
                    }
                }
                // No peers in a single-validator chain: there is nobody to tell.
                Effect::Broadcast(_) | Effect::Send(..) => {}
                Effect::ScheduleTimeout {
                    height,
                    timeout,
                    after,
                } => {
                    ctx.run_later(after, move |act, ctx| {
                        act.input(Input::Timeout { height, timeout }, ctx)
                    });
                }
                Effect::GetValue(height, round) => {
                    self.awaiting = Some((height, round));
                    self.offer(ctx);
                }
                Effect::Decided(d) => {
                    self.decided(d);
                    // What follows belongs to the next height, whose log starts only once this
                    // block is durable.
                    self.deferred.extend(effects.by_ref());
                }
                Effect::Equivocation(a, _) => {
                    tracing::warn!(validator = %a.message.validator, height = a.message.height.0, "double signing detected");
                }
            }
        }
    }

    /// A single-validator chain has nobody to send to.
    fn has_peers(&self) -> bool {
        false
    }

    /// Proposes a pending block if the engine waits for one.
    fn offer(&mut self, ctx: &mut Context<Self>) {
        let Some((height, round)) = self.awaiting else {
            return;
        };
        let Some((hash, commit)) = self
            .pending
            .iter()
            .find(|(_, c)| c.block.header.height == height.0)
        else {
            return;
        };
        let value = Value(*hash);
        if let Err(e) = write_proposal(&self.dir, &commit.block) {
            self.fail(format!("cannot write the proposed block: {e}"));
            return;
        }
        self.awaiting = None;
        self.input(
            Input::ProposeValue {
                height,
                round,
                value,
            },
            ctx,
        );
    }

    fn decided(&mut self, d: Decision) {
        let Some(mut commit) = self.pending.remove(&d.value.0) else {
            // Only a multi-validator chain decides blocks this node did not build; fetching them
            // from peers comes with peer-to-peer networking.
            self.fail(format!(
                "decided block {} at height {} is not held by this node",
                d.value.0, d.height.0
            ));
            return;
        };
        self.pending.clear();
        self.awaiting = None;
        commit.certificate = Some(d.to_bytes());
        self.committing = Some(d.height);
        self.metrics.commit.enqueued();
        self.committer.do_send(commit);
    }
}

impl Actor for ConsensusActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.notifier.do_send(Subscribe(ctx.address().recipient()));
        let startup = std::mem::take(&mut self.startup);
        self.perform(startup, ctx);
    }
}

impl Handler<Proposed> for ConsensusActor {
    type Result = ();

    fn handle(&mut self, Proposed(commit): Proposed, ctx: &mut Self::Context) {
        let height = commit.block.header.height;
        if height != self.engine.height().0 || self.committing.is_some() {
            tracing::debug!(height, "block built for a height already decided; dropped");
            return;
        }
        if self.pending.len() >= PENDING_BLOCKS_MAX {
            if let Some(oldest) = self.pending.keys().next().copied() {
                self.pending.remove(&oldest);
            }
        }
        self.pending
            .insert(BlockHash(commit.block.hash().0), commit);
        self.offer(ctx);
    }
}

impl Handler<BlockCommitted> for ConsensusActor {
    type Result = ();

    fn handle(&mut self, BlockCommitted(c): BlockCommitted, ctx: &mut Self::Context) {
        if self.committing != Some(Height(c.head.height)) {
            return;
        }
        self.committing = None;
        if let Err(e) = self.wal.reset(Height(c.head.height + 1)) {
            self.fail(e.to_string());
            return;
        }
        let deferred = std::mem::take(&mut self.deferred);
        self.perform(deferred, ctx);
        while let Some(input) = self.held.pop_front() {
            self.input(input, ctx);
            if self.committing.is_some() {
                break;
            }
        }
    }
}

/// A validator set of one: the chain's genesis validator.
pub fn single_validator(address: crate::types::Address) -> ValidatorSet {
    ValidatorSet::new(vec![crate::consensus::context::Validator {
        address: crate::consensus::context::Address(address.0),
        voting_power: 1,
    }])
    .expect("one validator with power is a valid set")
}
