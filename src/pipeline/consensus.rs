//! Consensus stage: runs this validator's [`Engine`] between the executor and the committer. A
//! block the executor built becomes this validator's proposal when the engine asks for one; a
//! decided block goes to the committer with its commit certificate.
//!
//! The actor is the engine's host: it performs the engine's effects.
//! - `Persist`: appended to the write-ahead log, which is synced before any later effect that can
//!   be seen outside the process (a message sent, a block committed), so nothing leaves that a
//!   restart could forget. A failing log is fatal: the node stops rather than sign unlogged.
//! - `ScheduleTimeout`: an actix timer that feeds the timeout back.
//! - `Broadcast`/`Send`: to peers over `crate::p2p` (none in a single-validator chain). A proposal
//!   of ours goes out after its block body, so that peers can check the block before they vote.
//! - `GetValue`: answered with the block the executor built for that height, as soon as there is
//!   one. Until then the proposer's own propose timeout is not delivered: a validator does not give
//!   up a round for want of its own block (other validators keep their own timeouts).
//! - `Decided`: the block goes to the committer. Until the notifier reports it committed, inputs
//!   wait in a bounded queue, so that the log of the next height only starts once the previous
//!   block is durable; then the log is reset.
//!
//! Blocks of other proposers: a peer's block body is executed again on the committed state
//! (`replay_block`); only a block that comes out identical is held, and a proposal is given to the
//! engine only once its block is held (a proposal whose block is missing or invalid is, to this
//! validator, no proposal: it prevotes nil when the propose timeout fires). A decided block this
//! node does not hold is requested from peers until one sends it, which is also how a validator
//! that was down catches up: the engine gets the decision with its certificate, the block follows.
//!
//! Durability of the proposer's block: before its hash is proposed, the block is written and synced
//! to `DATA_DIR/consensus/proposal.block`; after a restart it is executed again, so that a decision
//! replayed from the log finds its block.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::mpsc;

use super::executor::replay_block;
use super::votes::VoteWatch;
use super::{BlockCommitted, CommitBlock, Committer, Fatal, Notifier, Subscribe};
use crate::codec::{decode_exact, Encode};
use crate::consensus::context::SignedProposal;
use crate::consensus::context::{BlockHash, Height, Round, TimeoutKind, ValidatorSet, Value};
use crate::consensus::engine::Message;
use crate::consensus::engine::{ConsensusError, Decision, Effect, Engine, EngineConfig, Input};
use crate::consensus::wal::WalFile;
use crate::execution::ChainParams;
use crate::metrics::PipelineMetrics;
use crate::p2p::{P2pHandle, PeerMessage};
use crate::storage::Storage;
use crate::types::Block;

/// Inputs held while a decided block is being committed; peer messages beyond it are dropped
/// (peers repeat them), timeouts never are.
const HELD_INPUTS_MAX: usize = 4_096;
/// Blocks built for the current height and not yet decided.
const PENDING_BLOCKS_MAX: usize = 4;
/// Largest proposal file read back at start.
const PROPOSAL_BYTES_MAX: usize = 1 << 30;

/// Peers' blocks executed per height (a height normally sees one per round).
const REPLAYS_PER_HEIGHT_MAX: usize = 64;
/// Proposals waiting for their block body.
const WAITING_PROPOSALS_MAX: usize = 64;
/// Messages only a dishonest peer sends (forged signatures, invalid certificates, proposals out of
/// turn, invalid blocks) that get it banned.
const STRIKES_MAX: u32 = 16;
/// How long a misbehaving peer stays banned.
const BAN_DURATION: std::time::Duration = std::time::Duration::from_secs(600);
/// How often a missing decided block is requested again.
const BLOCK_REQUEST_INTERVAL: std::time::Duration = std::time::Duration::from_millis(300);

/// What waits while a decided block is being committed.
enum Held {
    Input(Input),
    Peer(crate::types::Address, PeerMessage),
}

/// Something a peer sent (its validator address is authenticated by `crate::p2p`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct FromPeer(pub crate::types::Address, pub PeerMessage);

/// A block the executor built, offered as this validator's proposal.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Proposed(pub CommitBlock);

/// Everything the consensus stage starts from.
pub struct ConsensusSetup {
    pub engine: EngineConfig,
    pub key: ed25519_dalek::SigningKey,
    pub dir: PathBuf,
    pub wal_bytes_max: u64,
    pub params: ChainParams,
    pub parallel_txs_min: usize,
    /// Peers, when there are other validators.
    pub p2p: Option<P2pHandle>,
    /// Tells the producer which height to build a block for.
    pub wanted: Arc<AtomicU64>,
    /// Where this validator submits evidence of double signing, as a transaction.
    pub ingest: Recipient<super::SubmitRaw>,
    /// Transactions whose signatures this node verified at admission (with peers).
    pub verified: Option<Arc<crate::sigverify::VerifiedIds>>,
}

pub struct ConsensusActor {
    engine: Engine,
    wal: WalFile,
    dir: PathBuf,
    storage: Arc<Storage>,
    params: ChainParams,
    parallel_txs_min: usize,
    p2p: Option<P2pHandle>,
    wanted: Arc<AtomicU64>,
    ingest: Recipient<super::SubmitRaw>,
    /// Signs evidence transactions (the validator's key is also its account).
    key: ed25519_dalek::SigningKey,
    /// Validators already reported for double signing, and the nonce of the next report.
    reported: std::collections::BTreeSet<crate::consensus::context::Address>,
    report_nonce: u64,
    verified: Option<Arc<crate::sigverify::VerifiedIds>>,
    /// Misbehaviour counted per peer (authenticated, so bounded by the accepted peers).
    strikes: BTreeMap<crate::types::Address, u32>,
    /// The last decided height's precommits, counted when the next height is decided.
    votes: Option<VoteWatch>,
    /// Peers' proposals whose block has not arrived yet.
    waiting: Vec<(crate::types::Address, SignedProposal)>,
    /// A decision whose block this node does not hold yet.
    undelivered: Option<Decision>,
    /// Peers' blocks executed at the current height (bounded: each costs an execution).
    replays: (u64, usize),
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
    held: VecDeque<Held>,
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

/// Why the consensus stage cannot start (or cannot read the set of the next height).
#[derive(Debug, thiserror::Error)]
pub enum ConsensusSetupError {
    #[error("cannot create the consensus directory {path}: {source}")]
    Dir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Wal(#[from] crate::consensus::wal::WalError),
    #[error("the elected validator set is invalid: {0}")]
    InvalidSet(#[from] crate::consensus::context::ValidatorSetError),
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
    ) -> Result<Self, ConsensusSetupError> {
        std::fs::create_dir_all(&setup.dir).map_err(|source| ConsensusSetupError::Dir {
            path: setup.dir.clone(),
            source,
        })?;
        let head = storage.head()?;
        let height = Height(head.height + 1);
        let (wal, entries) = WalFile::open(&setup.dir.join("wal"), height, setup.wal_bytes_max)?;
        let mut pending = BTreeMap::new();
        if let Ok(bytes) = std::fs::read(proposal_path(&setup.dir)) {
            if let Ok(block) = decode_exact::<Block>(&bytes, PROPOSAL_BYTES_MAX) {
                if let Some(commit) =
                    replay_block(&storage, &setup.params, setup.parallel_txs_min, block)?
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
            if let Some(bytes) = storage.certificate(h)? {
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
        let parallel_txs_min = setup.parallel_txs_min;
        let key = setup.key.clone();
        let (engine, startup) = Engine::restore(
            setup.engine,
            setup.key,
            active_set(&storage)?,
            height,
            recent,
            entries,
        );
        Ok(Self {
            engine,
            wal,
            dir: setup.dir,
            storage,
            params: setup.params,
            parallel_txs_min,
            p2p: setup.p2p,
            wanted: setup.wanted,
            ingest: setup.ingest,
            key,
            reported: std::collections::BTreeSet::new(),
            report_nonce: 0,
            strikes: BTreeMap::new(),
            votes: None,
            verified: setup.verified,
            waiting: Vec::new(),
            undelivered: None,
            replays: (0, 0),
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
                self.held.push_back(Held::Input(input));
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
        let from = match &input {
            Input::Message { from, .. } => Some(crate::types::Address(from.0)),
            _ => None,
        };
        match self.engine.handle(input) {
            Ok(effects) => self.perform(effects, ctx),
            Err(e) => {
                tracing::debug!(error = %e, "consensus input refused");
                let dishonest = matches!(
                    e,
                    ConsensusError::BadSignature(_)
                        | ConsensusError::BadCertificate(_)
                        | ConsensusError::WrongProposer { .. }
                );
                if let (Some(from), true) = (from, dishonest) {
                    self.strike(&from);
                }
            }
        }
    }

    /// Counts a message no honest peer sends; past `STRIKES_MAX` the peer is banned. A peer
    /// leaving the set, or a round or height this node has not reached, is not misbehaviour.
    fn strike(&mut self, peer: &crate::types::Address) {
        let Some(p2p) = &self.p2p else { return };
        let n = self.strikes.entry(*peer).or_insert(0);
        *n += 1;
        if *n >= STRIKES_MAX {
            self.strikes.remove(peer);
            p2p.ban(peer, BAN_DURATION);
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
                Effect::Broadcast(m) => self.broadcast(m),
                Effect::Send(to, m) => {
                    if let Some(p2p) = &self.p2p {
                        p2p.send(&crate::types::Address(to.0), &PeerMessage::Consensus(m));
                    }
                }
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
                    self.wanted.fetch_max(height.0, Ordering::AcqRel);
                    self.awaiting = Some((height, round));
                    self.offer(ctx);
                }
                Effect::Decided(d) => {
                    self.decided(d, ctx);
                    // What follows belongs to the next height, whose log starts only once this
                    // block is durable.
                    self.deferred.extend(effects.by_ref());
                }
                Effect::Equivocation(a, b) => self.report(a, b),
            }
        }
    }

    /// Submits the evidence of a double signer as a transaction (once per validator): once a
    /// block includes it, execution slashes and jails the validator.
    fn report(
        &mut self,
        a: crate::consensus::context::SignedVote,
        b: crate::consensus::context::SignedVote,
    ) {
        let culprit = a.message.validator;
        tracing::warn!(validator = %culprit, height = a.message.height.0, "double signing detected");
        if self.reported.len() >= crate::modules::staking::state::VALIDATORS_MAX
            || !self.reported.insert(culprit)
        {
            return;
        }
        let me = crate::keys::address_of(&self.key);
        let stored = match self.storage.account(&me) {
            Ok(a) => a.nonce,
            Err(e) => {
                tracing::error!(error = %e, "cannot read this validator's account to report double signing");
                return;
            }
        };
        let nonce = stored.max(self.report_nonce);
        self.report_nonce = nonce + 1;
        let evidence = crate::consensus::wire::Evidence(a, b).to_bytes();
        let tx = crate::types::Transaction::sign(
            &self.key,
            self.params.chain_id,
            nonce,
            self.params.min_fee,
            crate::types::Payload::Staking(crate::types::StakingCall::ReportEquivocation {
                evidence,
            }),
        );
        let (reply, answer) = tokio::sync::oneshot::channel();
        let submit = super::SubmitRaw {
            txs: vec![tx.bytes.to_vec()],
            reply,
            gossip: true,
        };
        if self.ingest.try_send(submit).is_err() {
            tracing::warn!("ingest is full; the double-signing report is dropped");
            return;
        }
        actix::spawn(async move {
            if let Ok(results) = answer.await {
                tracing::info!(validator = %culprit, result = ?results.first(), "double-signing evidence submitted");
            }
        });
    }

    fn has_peers(&self) -> bool {
        self.p2p.as_ref().is_some_and(|p| p.has_peers())
    }

    fn broadcast(&self, message: Message) {
        let Some(p2p) = &self.p2p else { return };
        if let Message::Proposal(p) = &message {
            // The body first, so that peers hold the block when the proposal arrives.
            if let Some(c) = self.pending.get(&p.message.value.0) {
                p2p.broadcast(&PeerMessage::Block(Box::new(c.block.clone())));
            }
        }
        p2p.broadcast(&PeerMessage::Consensus(message));
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
        tracing::debug!(
            height = height.0,
            round = round.as_i64(),
            txs = commit.block.transactions.len(),
            "proposing"
        );
        self.input(
            Input::ProposeValue {
                height,
                round,
                value,
            },
            ctx,
        );
    }

    fn decided(&mut self, d: Decision, ctx: &mut Context<Self>) {
        tracing::debug!(
            height = d.height.0,
            round = d.round.as_i64(),
            held = self.pending.contains_key(&d.value.0),
            "decided"
        );
        let watch = VoteWatch::new(&d, self.engine.validators());
        if let Some(previous) = self.votes.replace(watch) {
            previous.close(&self.metrics);
        }
        self.committing = Some(d.height);
        self.waiting.clear();
        self.awaiting = None;
        match self.pending.remove(&d.value.0) {
            Some(commit) => self.commit(commit, &d),
            None => {
                // Decided by the others' precommits (or by a peer's certificate) before this node
                // got the block: ask for it until it comes.
                tracing::info!(height = d.height.0, block = %d.value.0, "decided block not held; requesting it from peers");
                self.undelivered = Some(d);
                self.request_block(ctx);
            }
        }
    }

    fn commit(&mut self, mut commit: CommitBlock, d: &Decision) {
        self.pending.clear();
        commit.certificate = Some(d.to_bytes());
        self.metrics.commit.enqueued();
        self.committer.do_send(commit);
    }

    fn request_block(&mut self, ctx: &mut Context<Self>) {
        let Some(d) = &self.undelivered else { return };
        if !self.has_peers() {
            let reason = format!(
                "decided block {} at height {} is not held by this node and there are no peers to ask",
                d.value.0, d.height.0
            );
            self.fail(reason);
            return;
        }
        if let Some(p2p) = &self.p2p {
            p2p.broadcast(&PeerMessage::BlockRequest(d.height.0));
        }
        ctx.run_later(BLOCK_REQUEST_INTERVAL, |act, ctx| act.request_block(ctx));
    }

    /// A block from a peer: held if it executes to exactly itself on the committed state.
    fn peer_block(&mut self, from: &crate::types::Address, block: Block, ctx: &mut Context<Self>) {
        let height = block.header.height;
        if height != self.engine.height().0
            && self.undelivered.as_ref().map(|d| d.height.0) != Some(height)
        {
            return;
        }
        let hash = BlockHash(block.hash().0);
        if self.pending.contains_key(&hash) {
            return;
        }
        if let Some(d) = &self.undelivered {
            if d.value.0 != hash {
                return;
            }
        } else if self.committing.is_some() {
            return;
        }
        // Only validators build blocks, and a height has a few proposals at most: a peer cannot
        // make this node execute blocks without limit.
        if !self.is_validator(&block.header.proposer) {
            return;
        }
        if self.replays.0 != height {
            self.replays = (height, 0);
        }
        if self.replays.1 >= REPLAYS_PER_HEIGHT_MAX {
            tracing::warn!(height, "too many peer blocks at this height; ignored");
            return;
        }
        self.replays.1 += 1;
        // Ingest verified the signatures of this node's own transactions; a peer's block is
        // checked here, every signature, before it is executed.
        if !signatures_valid(&block, self.verified.as_deref()) {
            tracing::warn!(height, block = %hash, "peer block carries an invalid signature; ignored");
            self.strike(from);
            return;
        }
        let commit = match replay_block(&self.storage, &self.params, self.parallel_txs_min, block) {
            Ok(Some(c)) => c,
            Ok(None) => {
                // Also a block built on a parent this node has not committed yet: not counted.
                tracing::warn!(height, block = %hash, "peer block does not execute to itself; ignored");
                return;
            }
            Err(e) => {
                self.fail(e.to_string());
                return;
            }
        };
        if let Some(d) = self.undelivered.take() {
            self.commit(commit, &d);
            return;
        }
        if self.pending.len() >= PENDING_BLOCKS_MAX {
            if let Some(oldest) = self.pending.keys().next().copied() {
                self.pending.remove(&oldest);
            }
        }
        self.pending.insert(hash, commit);
        // Proposals that waited for this block.
        let (ready, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|(_, p)| p.message.value.0 == hash);
        self.waiting = still;
        for (from, p) in ready {
            if !self.built_by_proposer(&p) {
                tracing::warn!(
                    height,
                    "proposal of a block another validator built; ignored"
                );
                self.strike(&from);
                continue;
            }
            self.input(
                Input::Message {
                    from: crate::consensus::context::Address(from.0),
                    message: Message::Proposal(p),
                },
                ctx,
            );
        }
    }

    /// A fresh proposal (no POL round) must carry a block its proposer built: the builder is paid
    /// the fees and credited by the proposer schedule, so nobody may propose in another's name.
    /// Re-proposals of a locked block carry the block's original builder.
    fn built_by_proposer(&self, p: &SignedProposal) -> bool {
        if p.message.pol_round.is_defined() {
            return true;
        }
        self.pending
            .get(&p.message.value.0)
            .map_or(true, |c| c.block.header.proposer.0 == p.message.proposer.0)
    }

    fn is_validator(&self, address: &crate::types::Address) -> bool {
        self.engine
            .validators()
            .get(&crate::consensus::context::Address(address.0))
            .is_some()
    }

    /// The validator set of the height after the committed head, as its state elected it.
    fn validator_set_at_head(&self) -> Result<ValidatorSet, ConsensusSetupError> {
        active_set(&self.storage)
    }

    /// Answers a peer's sync request for a committed height from storage, with the block and its
    /// decision: the engine keeps only recent decisions (`decisions_kept`), and a validator that
    /// joins late or was down long must still catch up height by height. False when the height
    /// is not committed here.
    fn serve_decision(&self, from: &crate::types::Address, height: Height) -> bool {
        let Some(p2p) = &self.p2p else { return false };
        let Ok(Some(bytes)) = self.storage.certificate(height.0) else {
            return false;
        };
        match decode_exact::<Decision>(&bytes, crate::consensus::wire::MESSAGE_BYTES_MAX) {
            Ok(d) => {
                // The block first, on the same ordered stream: the peer holds it when the
                // decision arrives and commits without asking for it (a round trip less per
                // height while it catches up).
                if let Ok(Some(block)) = self.storage.block(height.0) {
                    p2p.send(from, &PeerMessage::Block(Box::new(block)));
                }
                p2p.send(
                    from,
                    &PeerMessage::Consensus(Message::Decision(Box::new(d))),
                );
                true
            }
            Err(_) => false,
        }
    }

    fn serve_block_request(&self, from: &crate::types::Address, height: u64) {
        let Some(p2p) = &self.p2p else { return };
        let block = if height == self.engine.height().0 {
            self.pending
                .values()
                .find(|c| c.block.header.height == height)
                .map(|c| c.block.clone())
        } else {
            self.storage.block(height).ok().flatten()
        };
        if let Some(b) = block {
            p2p.send(from, &PeerMessage::Block(Box::new(b)));
        }
    }
}

impl Handler<FromPeer> for ConsensusActor {
    type Result = ();

    fn handle(&mut self, FromPeer(from, message): FromPeer, ctx: &mut Self::Context) {
        self.on_peer(from, message, ctx);
    }
}

impl ConsensusActor {
    fn on_peer(
        &mut self,
        from: crate::types::Address,
        message: PeerMessage,
        ctx: &mut Context<Self>,
    ) {
        if self.failed {
            return;
        }
        if let (PeerMessage::Consensus(Message::Vote(v)), Some(watch)) = (&message, &mut self.votes)
        {
            watch.note(&self.params.chain_tag(), v);
        }
        if self.committing.is_some() {
            // While a decided block is committed, only what finishes it (its body, when a peer
            // had to send it) and answers to peers are dealt with; the rest waits, so that blocks
            // and proposals of the next height are checked against the new committed state.
            match message {
                PeerMessage::BlockRequest(h) => self.serve_block_request(&from, h),
                PeerMessage::Block(b) if self.undelivered.is_some() => {
                    self.peer_block(&from, *b, ctx)
                }
                m => {
                    if self.held.len() < HELD_INPUTS_MAX {
                        self.held.push_back(Held::Peer(from, m));
                    }
                }
            }
            return;
        }
        match message {
            PeerMessage::Block(b) => self.peer_block(&from, *b, ctx),
            PeerMessage::BlockRequest(h) => self.serve_block_request(&from, h),
            // Transactions go to ingest (the node routes them there), not to consensus.
            PeerMessage::Transactions(_) => {}
            PeerMessage::Consensus(Message::Proposal(p)) if !self.built_by_proposer(&p) => {
                tracing::warn!(
                    height = p.message.height.0,
                    "proposal of a block another validator built; ignored"
                );
                self.strike(&from);
            }
            PeerMessage::Consensus(Message::Proposal(p))
                if p.message.height == self.engine.height()
                    && !self.pending.contains_key(&p.message.value.0) =>
            {
                tracing::debug!(
                    height = p.message.height.0,
                    round = p.message.round.as_i64(),
                    "proposal waits for its block"
                );
                if self.waiting.len() < WAITING_PROPOSALS_MAX {
                    self.waiting.push((from, p));
                }
                if let Some(p2p) = &self.p2p {
                    p2p.send(&from, &PeerMessage::BlockRequest(self.engine.height().0));
                }
            }
            PeerMessage::Consensus(Message::SyncRequest(h)) if self.serve_decision(&from, h) => {}
            PeerMessage::Consensus(m) => self.input(
                Input::Message {
                    from: crate::consensus::context::Address(from.0),
                    message: m,
                },
                ctx,
            ),
        }
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
        // The producer hears of a commit as early as this actor does, so a block for the next
        // height may arrive before this actor has seen its own commit: it is kept (built on the
        // committed state) and offered once the engine asks.
        let open = self.engine.height().0 + u64::from(self.engine.is_between_heights());
        if height != open {
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
        let next = Height(c.head.height + 1);
        let set = match self.validator_set_at_head() {
            Ok(set) => set,
            Err(e) => {
                self.fail(e.to_string());
                return;
            }
        };
        publish_proposer_records(&set);
        self.input(Input::StartHeight { height: next, set }, ctx);
        while let Some(held) = self.held.pop_front() {
            match held {
                Held::Input(input) => self.input(input, ctx),
                Held::Peer(from, message) => self.on_peer(from, message, ctx),
            }
            if self.committing.is_some() {
                break;
            }
        }
    }
}

/// Whether every transaction of `block` carries a valid signature (ZIP-215, batched on rayon);
/// those this node verified at admission are not verified again.
fn signatures_valid(block: &Block, verified: Option<&crate::sigverify::VerifiedIds>) -> bool {
    use crate::sigverify::{BatchVerifier, CpuVerifier, SigItem};
    let known = match verified {
        Some(v) => v.contains_each(block.transactions.iter().map(|tx| tx.id)),
        None => vec![false; block.transactions.len()],
    };
    let items: Vec<SigItem<'_>> = block
        .transactions
        .iter()
        .zip(known)
        .filter(|(_, known)| !known)
        .map(|(tx, _)| crate::sigverify::SigItem::of(tx))
        .collect();
    CpuVerifier::default()
        .verify_batch(&items)
        .iter()
        .all(|ok| *ok)
}

/// The active set that the committed state elected, with its proposer schedule: the set of the
/// height after the head.
pub fn active_set(storage: &Storage) -> Result<ValidatorSet, ConsensusSetupError> {
    let reader = storage.reader()?;
    let registry = reader.registry()?;
    let leaders = reader.leaders()?.unwrap_or_default();
    let set = ValidatorSet::new(
        registry
            .active
            .iter()
            .map(|(a, power)| crate::consensus::context::Validator {
                address: crate::consensus::context::Address(a.0),
                voting_power: *power,
            })
            .collect(),
    )
    .map_err(ConsensusSetupError::from)?;
    Ok(set.with_leaders(leaders))
}

/// The set's proposer records as metrics (missed and decided turns per validator).
fn publish_proposer_records(set: &ValidatorSet) {
    let Some(leaders) = set.leaders() else { return };
    crate::telemetry::global().set_proposer_records(set.validators().iter().map(|v| {
        let r = leaders.records.get(&v.address).copied().unwrap_or_default();
        (
            crate::types::Address(v.address.0).to_string(),
            r.missed_proposals,
            r.proposed,
        )
    }));
}

/// A validator set of one: the chain's genesis validator.
pub fn single_validator(address: crate::types::Address) -> ValidatorSet {
    ValidatorSet::new(vec![crate::consensus::context::Validator {
        address: crate::consensus::context::Address(address.0),
        voting_power: 1,
    }])
    .expect("one validator with power is a valid set")
}
