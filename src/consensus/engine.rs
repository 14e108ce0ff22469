//! One validator's consensus: Malachite's driver (the Tendermint round state machine) wrapped with
//! everything a validator adds around it, still without I/O. Inputs are messages, fired timeouts
//! and the block the host built; outputs are [`Effect`]s the host performs in order.
//!
//! What this layer owns:
//! - **signing**: the driver says which vote or proposal to cast, the engine signs it;
//! - **admission**: every message is checked before the driver sees it (known validator, right
//!   height, the round's proposer, a valid ZIP-215 signature, a round within the window);
//! - **the write-ahead log**: every input that changed the state of the current height, own
//!   signed votes and proposals included, is emitted as [`Effect::Persist`] *before* the effects
//!   that reveal it. After a crash the host rebuilds the engine from the log ([`Engine::restore`]),
//!   which replays it through the driver and reaches the state it had, locks included;
//! - **the double-sign guard**: a vote or proposal conflicting with one already signed at the same
//!   height, round and kind is never signed (counted in [`Engine::refused_double_signs`]);
//! - **equivocation evidence**: two different signed votes of one validator for the same height,
//!   round and kind become [`Effect::Equivocation`] (for slashing);
//! - **decisions and sync**: a decision carries its commit certificate (> 2/3 of the voting power
//!   in precommits); a validator that is behind gets decisions from peers and checks their
//!   certificates ([`verify_certificate`]) instead of replaying rounds;
//! - **rebroadcast**: messages get lost; on a timer the engine repeats its own latest messages;
//! - **heights and validator sets**: after a decision the engine waits between heights until the
//!   host has committed the block and starts the next height with [`Input::StartHeight`], giving
//!   the validator set the committed state elected (DPoS: the set can change at any height).
//!   Messages for the next height are kept, unchecked and bounded, and admitted against that
//!   height's set when it starts.
//!
//! Invariants: the engine decides heights in order, each once; `Persist` precedes every
//! `Broadcast`, `Send` or `Decided` that depends on what it records; everything depends only on the inputs (no clock, no
//! randomness, ordered collections only).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use malachitebft_core_driver::{Driver, Input as DriverInput, Output as DriverOutput};
use malachitebft_core_types::{
    CommitCertificate, ExtendedCommitCertificate, LinearTimeouts, NilOrVal, PolkaCertificate,
    Round, ThresholdParams, Timeout, TimeoutKind, Validity, VoteType,
};
use thiserror::Error;

use super::context::{
    address_of, proposal_signature_ok, proposer, sign_proposal, sign_vote, vote_sign_bytes,
    vote_signature_ok, Address, BlockHash, ChainTag, Ctx, Height, Sig, SignedProposal, SignedVote,
    ValidatorSet, Value, Vote,
};

/// Votes for rounds this far beyond the current one are dropped (memory stays bounded whatever
/// a peer sends); honest validators are never that far apart within one height.
pub const ROUND_WINDOW: u32 = 1_000;

/// A decided block with the precommits that prove it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub height: Height,
    pub round: Round,
    pub value: Value,
    pub certificate: CommitCertificate<Ctx>,
}

/// What validators send each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Proposal(SignedProposal),
    Vote(SignedVote),
    /// A decided height, for a peer that is behind.
    Decision(Box<Decision>),
    /// More than two thirds of the prevotes of one round for one block: justifies re-proposing a
    /// locked value even to validators that saw a conflicting prevote from an equivocator.
    Polka(Box<PolkaCertificate<Ctx>>),
    /// "I am at this height": the receiver answers with its decision for it, if it has one.
    SyncRequest(Height),
}

/// What the host feeds the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Message {
        from: Address,
        message: Message,
    },
    /// A timeout the engine scheduled has fired.
    Timeout {
        height: Height,
        timeout: Timeout,
    },
    /// The block the host built after [`Effect::GetValue`].
    ProposeValue {
        height: Height,
        round: Round,
        value: Value,
    },
    /// The decided block is committed: start `height` (the one after the decision) with its
    /// validator set, which the committed state elected. Until then the engine waits between
    /// heights and keeps what arrives for the next one.
    StartHeight {
        height: Height,
        set: ValidatorSet,
    },
}

/// One record of the write-ahead log of the current height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WalEntry {
    Proposal(SignedProposal),
    Vote(SignedVote),
    Polka(Box<PolkaCertificate<Ctx>>),
    Timeout(Timeout),
    OwnValue(Round, Value),
}

/// What the engine asks the host to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Append to the write-ahead log of the current height; it must be durable before any later
    /// effect is seen outside the process (a message sent, a decision stored).
    Persist(WalEntry),
    Broadcast(Message),
    Send(Address, Message),
    /// Feed `Input::Timeout { height, timeout }` back after `after`.
    ScheduleTimeout {
        height: Height,
        timeout: Timeout,
        after: Duration,
    },
    /// Build a block for this height and round and answer with `Input::ProposeValue`.
    GetValue(Height, Round),
    /// Store the decision durably and commit its block, then empty the write-ahead log and
    /// answer with `Input::StartHeight` for the next height.
    Decided(Decision),
    /// Two conflicting signed votes of one validator: proof of double signing.
    Equivocation(SignedVote, SignedVote),
}

/// Why an input was not taken. None is fatal: the engine is unchanged and keeps running; a host
/// may count them per peer and drop peers that keep sending bad messages.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConsensusError {
    #[error("message from {0}, which is not a validator")]
    UnknownValidator(Address),
    #[error("bad signature on a message from {0}")]
    BadSignature(Address),
    #[error("proposal for height {height} round {round} from {from}, which is not its proposer")]
    WrongProposer {
        height: Height,
        round: Round,
        from: Address,
    },
    #[error(
        "message for round {round}, beyond the window of {ROUND_WINDOW} rounds past {current}"
    )]
    RoundOutOfWindow { round: Round, current: Round },
    #[error("message without a defined round")]
    NilRound,
    #[error("invalid commit certificate: {0}")]
    BadCertificate(String),
    #[error("consensus state machine: {0}")]
    Driver(String),
    #[error("cannot start height {got}: the engine is at {expected} (between heights: {between})")]
    WrongStart {
        expected: Height,
        got: Height,
        between: bool,
    },
}

/// Settings of the consensus engine.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub timeouts: LinearTimeouts,
    /// Recent decisions kept to answer peers that are behind.
    pub decisions_kept: usize,
    /// Messages for the next height kept until this validator gets there (a proposal that arrives
    /// just before the decision would otherwise be lost and its round with it); more are dropped.
    pub next_height_messages_max: usize,
    /// The chain every signature is bound to.
    pub chain: ChainTag,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            timeouts: LinearTimeouts::default(),
            decisions_kept: 64,
            next_height_messages_max: 1_024,
            chain: ChainTag::default(),
        }
    }
}

/// Checks that `signers` are distinct validators whose signatures are `kind` votes for `value` at
/// `height` and `round`, together more than two thirds of the voting power.
fn verify_quorum<'a>(
    chain: &ChainTag,
    set: &ValidatorSet,
    height: Height,
    round: Round,
    value: BlockHash,
    kind: VoteType,
    signers: impl Iterator<Item = (&'a Address, &'a Sig)>,
) -> Result<(), ConsensusError> {
    if !round.is_defined() {
        return Err(ConsensusError::BadCertificate("no round".into()));
    }
    let mut seen = BTreeSet::new();
    let mut power: u64 = 0;
    for (address, signature) in signers {
        let Some(v) = set.get(address) else {
            return Err(ConsensusError::BadCertificate(format!(
                "{address} is not a validator"
            )));
        };
        if !seen.insert(*address) {
            return Err(ConsensusError::BadCertificate(format!(
                "{address} signs twice"
            )));
        }
        let vote = Vote {
            height,
            round,
            value: NilOrVal::Val(value),
            kind,
            validator: *address,
        };
        if !crate::sigverify::zip215::verify(
            &address.0,
            &vote_sign_bytes(chain, &vote),
            &signature.0,
        ) {
            return Err(ConsensusError::BadCertificate(format!(
                "bad signature of {address}"
            )));
        }
        power = power.saturating_add(v.voting_power);
    }
    if !set.is_quorum(power) {
        return Err(ConsensusError::BadCertificate(format!(
            "{power} of {} voting power is not more than two thirds",
            set.total_power()
        )));
    }
    Ok(())
}

/// Checks a commit certificate against a validator set: every signature a precommit for the value
/// by a distinct validator on `chain`, together more than two thirds of the voting power.
pub fn verify_certificate(
    chain: &ChainTag,
    set: &ValidatorSet,
    decision: &Decision,
) -> Result<(), ConsensusError> {
    let c = &decision.certificate;
    if c.height != decision.height || c.round != decision.round || c.value_id != decision.value.0 {
        return Err(ConsensusError::BadCertificate(
            "height, round or value differ from the decision's".into(),
        ));
    }
    verify_quorum(
        chain,
        set,
        c.height,
        c.round,
        c.value_id,
        VoteType::Precommit,
        c.commit_signatures
            .iter()
            .map(|s| (&s.address, &s.signature)),
    )
}

/// Checks a polka certificate: more than two thirds of the voting power in prevotes for its value.
pub fn verify_polka(
    chain: &ChainTag,
    set: &ValidatorSet,
    c: &PolkaCertificate<Ctx>,
) -> Result<(), ConsensusError> {
    verify_quorum(
        chain,
        set,
        c.height,
        c.round,
        c.value_id,
        VoteType::Prevote,
        c.polka_signatures
            .iter()
            .map(|s| (&s.address, &s.signature)),
    )
}

/// The consensus of one validator.
pub struct Engine {
    config: EngineConfig,
    key: SigningKey,
    address: Address,
    /// The validator set of the current height.
    set: ValidatorSet,
    driver: Driver<Ctx>,
    /// The current height is decided and the host has not started the next one yet: the driver
    /// stays at the decided height, and everything for the next one waits in `next_height`.
    between: bool,
    /// While replaying the log after a restart: its entries are not persisted again.
    replaying: bool,
    /// Own signed messages of this height, by (round, kind): the double-sign guard and what
    /// rebroadcasts repeat.
    own_votes: BTreeMap<(Round, VoteKindKey), SignedVote>,
    own_proposals: BTreeMap<Round, SignedProposal>,
    /// First vote seen from each validator per (round, kind), for equivocation evidence.
    first_votes: BTreeMap<(Address, Round, VoteKindKey), SignedVote>,
    /// Peers already asked to sync at this height.
    sync_asked: BTreeSet<Address>,
    /// The peer seen at the highest height above this node's, and that height: while it is
    /// ahead, each new height asks it for the next decision at once instead of waiting for its
    /// next message (a node far behind catches up at the pace of round trips).
    ahead: Option<(Address, Height)>,
    decisions: VecDeque<Decision>,
    /// Proposals and votes for the next height, in arrival order (bounded).
    next_height: Vec<(Address, Message)>,
    /// Buffered messages of the height just entered, to be taken before the next input.
    ready: VecDeque<(Address, Message)>,
    refused_double_signs: u64,
}

/// `VoteType` is not `Ord`; this is its order for map keys.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum VoteKindKey {
    Prevote,
    Precommit,
}

fn kind_key(kind: VoteType) -> VoteKindKey {
    match kind {
        VoteType::Prevote => VoteKindKey::Prevote,
        VoteType::Precommit => VoteKindKey::Precommit,
    }
}

impl Engine {
    /// A validator starting `height` with an empty log. Returns the engine and its first effects.
    pub fn new(
        config: EngineConfig,
        key: SigningKey,
        set: ValidatorSet,
        height: Height,
        recent: Vec<Decision>,
    ) -> (Self, Vec<Effect>) {
        Self::restore(config, key, set, height, recent, Vec::new())
    }

    /// A validator restarting at `height` (one past its last stored decision) with the write-ahead
    /// log of that height: the log is replayed, so the engine is where it was when it stopped and
    /// will not sign anything that conflicts with what it signed before.
    pub fn restore(
        config: EngineConfig,
        key: SigningKey,
        set: ValidatorSet,
        height: Height,
        recent: Vec<Decision>,
        wal: Vec<WalEntry>,
    ) -> (Self, Vec<Effect>) {
        let address = address_of(&key);
        let driver = Driver::new(
            Ctx,
            height,
            set.clone(),
            address,
            ThresholdParams::default(),
        );
        let keep = config.decisions_kept;
        let mut decisions: VecDeque<Decision> = recent.into_iter().collect();
        while decisions.len() > keep {
            decisions.pop_front();
        }
        let mut engine = Self {
            config,
            key,
            address,
            set,
            driver,
            between: false,
            replaying: true,
            own_votes: BTreeMap::new(),
            own_proposals: BTreeMap::new(),
            first_votes: BTreeMap::new(),
            sync_asked: BTreeSet::new(),
            ahead: None,
            decisions,
            next_height: Vec::new(),
            ready: VecDeque::new(),
            refused_double_signs: 0,
        };
        let mut effects = Vec::new();
        engine.start_round(Round::ZERO, &mut effects);
        for entry in wal {
            // A log only holds entries that were accepted when first seen.
            let _ = engine.apply_wal_entry(entry, &mut effects);
            if engine.between {
                break;
            }
        }
        engine.replaying = false;
        // The log may hold the value this validator proposed before it stopped.
        effects.retain(|e| !matches!(e, Effect::GetValue(h, r) if *h == engine.height() && engine.own_proposals.contains_key(r)));
        (engine, effects)
    }

    pub fn height(&self) -> Height {
        self.driver.height()
    }

    pub fn round(&self) -> Round {
        self.driver.round()
    }

    pub fn address(&self) -> Address {
        self.address
    }

    /// The validator set of the current height.
    pub fn validators(&self) -> &ValidatorSet {
        &self.set
    }

    /// Whether the current height is decided and waits for `Input::StartHeight`.
    pub fn is_between_heights(&self) -> bool {
        self.between
    }

    /// Votes or proposals the driver asked for that would have conflicted with one already
    /// signed; always 0 unless the log was lost or tampered with.
    pub fn refused_double_signs(&self) -> u64 {
        self.refused_double_signs
    }

    /// Takes one input; returns the effects to perform, in order.
    pub fn handle(&mut self, input: Input) -> Result<Vec<Effect>, ConsensusError> {
        let mut effects = Vec::new();
        match input {
            Input::StartHeight { height, set } => {
                let expected = Height(self.height().0 + 1);
                if !self.between || height != expected {
                    return Err(ConsensusError::WrongStart {
                        expected,
                        got: height,
                        between: self.between,
                    });
                }
                self.start_height(height, set, &mut effects);
                self.take_ready(&mut effects);
            }
            // Timeouts and values of a decided height are moot.
            Input::Timeout { .. } | Input::ProposeValue { .. } if self.between => {}
            Input::Message { from, message } => {
                let result = self.on_message(from, message, &mut effects);
                self.take_ready(&mut effects);
                result?;
            }
            Input::Timeout { height, timeout } => {
                if height == self.height() {
                    let result = self.on_timeout(timeout, &mut effects);
                    self.take_ready(&mut effects);
                    result?;
                }
            }
            Input::ProposeValue {
                height,
                round,
                value,
            } => {
                // One value per round: a second answer (after a restart) is not a second proposal.
                if height == self.height()
                    && round == self.round()
                    && !self.own_proposals.contains_key(&round)
                {
                    let result =
                        self.apply_wal_entry(WalEntry::OwnValue(round, value), &mut effects);
                    self.take_ready(&mut effects);
                    result?;
                }
            }
        }
        Ok(effects)
    }

    /// Feeds the buffered messages of a height just entered; those that fail are dropped, as
    /// they would have been on arrival.
    fn take_ready(&mut self, effects: &mut Vec<Effect>) {
        while let Some((from, message)) = self.ready.pop_front() {
            let _ = self.on_message(from, message, effects);
        }
    }

    fn persist(&self, entry: WalEntry, effects: &mut Vec<Effect>) {
        if !self.replaying {
            effects.push(Effect::Persist(entry));
        }
    }

    /// Applies a state-changing input: persisted first, then given to the driver.
    fn apply_wal_entry(
        &mut self,
        entry: WalEntry,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ConsensusError> {
        self.persist(entry.clone(), effects);
        // Own messages found in the log rebuild the double-sign guard even before the driver
        // asks for them again.
        match &entry {
            WalEntry::Vote(v) if v.message.validator == self.address => {
                let key = (v.message.round, kind_key(v.message.kind));
                self.own_votes.entry(key).or_insert_with(|| v.clone());
            }
            WalEntry::Proposal(p) if p.message.proposer == self.address => {
                self.own_proposals
                    .entry(p.message.round)
                    .or_insert_with(|| p.clone());
            }
            _ => {}
        }
        let input = match entry {
            WalEntry::Proposal(p) => DriverInput::Proposal(p, Validity::Valid),
            WalEntry::Vote(v) => DriverInput::Vote(v),
            WalEntry::Polka(c) => DriverInput::PolkaCertificate(*c),
            WalEntry::Timeout(t) => DriverInput::TimeoutElapsed(t),
            WalEntry::OwnValue(round, value) => DriverInput::ProposeValue(round, value),
        };
        self.drive(input, effects)
    }

    fn on_message(
        &mut self,
        from: Address,
        message: Message,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ConsensusError> {
        // A decision can come in the middle of the buffered messages of a height.
        if self.between {
            self.between_heights(from, message, effects);
            return Ok(());
        }
        let height = self.height();
        match message {
            Message::SyncRequest(h) => {
                if let Some(d) = self.decisions.iter().find(|d| d.height == h) {
                    effects.push(Effect::Send(from, Message::Decision(Box::new(d.clone()))));
                }
                Ok(())
            }
            Message::Decision(d) => {
                if d.height == height {
                    verify_certificate(&self.config.chain, &self.set, &d)?;
                    self.decide(*d, effects);
                } else if d.height > height {
                    self.ask_sync(from, d.height, effects);
                }
                Ok(())
            }
            Message::Polka(c) => {
                if c.height > height {
                    self.ask_sync(from, c.height, effects);
                    return Ok(());
                }
                if c.height < height || c.round >= self.round() {
                    // Only a polka of an earlier round justifies a re-proposal; later ones
                    // arrive as votes.
                    return Ok(());
                }
                if self
                    .driver
                    .polka_certificate(c.round, &c.value_id)
                    .is_some()
                {
                    return Ok(());
                }
                verify_polka(&self.config.chain, &self.set, &c)?;
                self.apply_wal_entry(WalEntry::Polka(c), effects)
            }
            Message::Proposal(p) => {
                let m = p.message;
                self.admit(m.proposer, m.height, m.round, from, effects)?;
                if m.height != height {
                    // Checked against its height's set when that height starts.
                    self.keep_for_next_height(from, m.height, Message::Proposal(p));
                    return Ok(());
                }
                let expected = proposer(&self.set, m.height, m.round).address;
                if m.proposer != expected {
                    return Err(ConsensusError::WrongProposer {
                        height: m.height,
                        round: m.round,
                        from: m.proposer,
                    });
                }
                if !proposal_signature_ok(&self.config.chain, &p) {
                    return Err(ConsensusError::BadSignature(m.proposer));
                }
                self.apply_wal_entry(WalEntry::Proposal(p), effects)
            }
            Message::Vote(v) => {
                let m = v.message;
                self.admit(m.validator, m.height, m.round, from, effects)?;
                if m.height != height {
                    self.keep_for_next_height(from, m.height, Message::Vote(v));
                    return Ok(());
                }
                if !vote_signature_ok(&self.config.chain, &v) {
                    return Err(ConsensusError::BadSignature(m.validator));
                }
                let key = (m.validator, m.round, kind_key(m.kind));
                match self.first_votes.get(&key) {
                    Some(first) if first == &v => return Ok(()),
                    Some(first) => {
                        effects.push(Effect::Equivocation(first.clone(), v));
                        return Ok(());
                    }
                    None => {
                        self.first_votes.insert(key, v.clone());
                    }
                }
                self.apply_wal_entry(WalEntry::Vote(v), effects)
            }
        }
    }

    /// Checks common to proposals and votes; answers peers at other heights.
    fn admit(
        &mut self,
        signer: Address,
        height: Height,
        round: Round,
        from: Address,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ConsensusError> {
        // The set of a later height is not known yet; such messages are checked when that
        // height starts.
        if height <= self.height() && self.set.get(&signer).is_none() {
            return Err(ConsensusError::UnknownValidator(signer));
        }
        let Some(r) = round.as_u32() else {
            return Err(ConsensusError::NilRound);
        };
        let current = self.round().as_u32().unwrap_or(0);
        if height == self.height() && r > current.saturating_add(ROUND_WINDOW) {
            return Err(ConsensusError::RoundOutOfWindow {
                round,
                current: self.round(),
            });
        }
        if height < self.height() {
            // The peer is behind: give it the decision it needs.
            if let Some(d) = self.decisions.iter().find(|d| d.height == height) {
                effects.push(Effect::Send(from, Message::Decision(Box::new(d.clone()))));
            }
        } else if height > self.height() {
            self.ask_sync(from, height, effects);
        }
        Ok(())
    }

    fn keep_for_next_height(&mut self, from: Address, height: Height, message: Message) {
        if height.0 == self.height().0 + 1
            && self.next_height.len() < self.config.next_height_messages_max
        {
            self.next_height.push((from, message));
        }
    }

    /// Asks `from`, seen at height `seen` above this node's, for the decision of this height
    /// (once per peer and height).
    fn ask_sync(&mut self, from: Address, seen: Height, effects: &mut Vec<Effect>) {
        if from == self.address {
            return;
        }
        if self.ahead.map_or(true, |(_, h)| seen >= h) {
            self.ahead = Some((from, seen));
        }
        if self.sync_asked.insert(from) {
            effects.push(Effect::Send(from, Message::SyncRequest(self.height())));
        }
    }

    fn on_timeout(
        &mut self,
        timeout: Timeout,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ConsensusError> {
        if timeout.kind == TimeoutKind::Rebroadcast {
            if timeout.round == self.round() {
                // A lost answer to a sync request is asked for again, once per period: a
                // validator outside the set has no votes of its own whose echoes would help.
                self.sync_asked.clear();
                self.rebroadcast(effects);
                self.schedule(timeout, effects);
            }
            return Ok(());
        }
        self.apply_wal_entry(WalEntry::Timeout(timeout), effects)
    }

    /// Repeats this height's own latest messages, so that lost ones reach their peers after all,
    /// and the polka certificate of its valid value: a proposal that re-proposes a value with a
    /// proof-of-lock round only passes at validators that can count that round's polka, and one
    /// that saw an equivocator's other prevote cannot count it from votes alone.
    fn rebroadcast(&self, effects: &mut Vec<Effect>) {
        let round = self.round();
        if let Some(p) = self.own_proposals.get(&round) {
            effects.push(Effect::Broadcast(Message::Proposal(p.clone())));
        }
        for kind in [VoteKindKey::Prevote, VoteKindKey::Precommit] {
            let latest = self
                .own_votes
                .range(..=(round, kind))
                .rev()
                .find(|((_, k), _)| *k == kind);
            if let Some((_, v)) = latest {
                effects.push(Effect::Broadcast(Message::Vote(v.clone())));
            }
        }
        if let Some(valid) = self.driver.valid_value() {
            let id = valid.value.0;
            let certificate = self
                .driver
                .polka_certificate(valid.round, &id)
                .cloned()
                .or_else(|| {
                    let votes = self.driver.votes().per_round(valid.round)?;
                    let prevotes = votes.received_votes().clone();
                    Some(PolkaCertificate::new(
                        self.height(),
                        valid.round,
                        id,
                        prevotes,
                    ))
                });
            if let Some(c) = certificate {
                effects.push(Effect::Broadcast(Message::Polka(Box::new(c))));
            }
        }
    }

    fn schedule(&self, timeout: Timeout, effects: &mut Vec<Effect>) {
        effects.push(Effect::ScheduleTimeout {
            height: self.height(),
            timeout,
            after: self.config.timeouts.duration_for(timeout),
        });
    }

    fn start_round(&mut self, round: Round, effects: &mut Vec<Effect>) {
        let height = self.height();
        let leader = proposer(&self.set, height, round).address;
        // Starting a round of the current height cannot fail: the proposer is in the set.
        if let Err(e) = self.drive(DriverInput::NewRound(height, round, leader), effects) {
            tracing::error!(error = %e, %height, %round, "consensus could not start a round");
        }
        self.schedule(
            Timeout {
                kind: TimeoutKind::Rebroadcast,
                round,
            },
            effects,
        );
    }

    /// Runs the driver on one input and everything its outputs lead to.
    fn drive(
        &mut self,
        input: DriverInput<Ctx>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), ConsensusError> {
        let height = self.height();
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            // Once decided, the rest of the queue belongs to a finished height.
            if self.between {
                break;
            }
            let outputs = self
                .driver
                .process(input)
                .map_err(|e| ConsensusError::Driver(e.to_string()))?;
            for output in outputs {
                match output {
                    DriverOutput::NewRound(h, round) => {
                        let leader = proposer(&self.set, h, round).address;
                        queue.push_back(DriverInput::NewRound(h, round, leader));
                        self.schedule(
                            Timeout {
                                kind: TimeoutKind::Rebroadcast,
                                round,
                            },
                            effects,
                        );
                    }
                    DriverOutput::Propose(proposal) => {
                        if let Some(signed) = self.sign_own_proposal(proposal, effects) {
                            queue.push_back(DriverInput::Proposal(signed, Validity::Valid));
                        }
                    }
                    // A validator outside this height's set follows it without voting.
                    DriverOutput::Vote(_) if self.set.get(&self.address).is_none() => {}
                    DriverOutput::Vote(vote) => {
                        if let Some(signed) = self.sign_own_vote(vote, effects) {
                            queue.push_back(DriverInput::Vote(signed));
                        }
                    }
                    DriverOutput::Decide(_, proposal) => {
                        // The precommits that decide are those of the proposal's round; the
                        // state machine may already be in a later round.
                        let round = proposal.round;
                        let value = proposal.value;
                        let certificate = match self.driver.commit_certificate(round, &value.0) {
                            Some(c) => c.trim_vote_extensions(),
                            None => {
                                let precommits = self
                                    .driver
                                    .votes()
                                    .per_round(round)
                                    .map(|r| r.precommits_for_value(&value.0))
                                    .unwrap_or_default();
                                ExtendedCommitCertificate::from_votes(
                                    height, round, value.0, precommits,
                                )
                                .trim_vote_extensions()
                            }
                        };
                        if !self.set.is_quorum(self.certificate_power(&certificate)) {
                            return Err(ConsensusError::Driver(format!(
                                "decided {value:?} at round {round} without a quorum of precommits"
                            )));
                        }
                        let decision = Decision {
                            height,
                            round,
                            value,
                            certificate,
                        };
                        self.decide(decision, effects);
                        return Ok(());
                    }
                    DriverOutput::ScheduleTimeout(timeout) => self.schedule(timeout, effects),
                    DriverOutput::GetValue(h, round, _) => {
                        // After a restart the log may already hold the value proposed then.
                        if !self.own_proposals.contains_key(&round) {
                            effects.push(Effect::GetValue(h, round));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn sign_own_vote(&mut self, vote: Vote, effects: &mut Vec<Effect>) -> Option<SignedVote> {
        let key = (vote.round, kind_key(vote.kind));
        if let Some(existing) = self.own_votes.get(&key) {
            if existing.message != vote {
                self.refused_double_signs += 1;
                tracing::error!(?vote, existing = ?existing.message, "refused to sign a conflicting vote");
                return None;
            }
            // The same vote again (a replay): nothing new to say.
            return None;
        }
        let signed = sign_vote(&self.config.chain, &self.key, vote);
        self.own_votes.insert(key, signed.clone());
        self.first_votes
            .insert((self.address, vote.round, key.1), signed.clone());
        self.persist(WalEntry::Vote(signed.clone()), effects);
        effects.push(Effect::Broadcast(Message::Vote(signed.clone())));
        Some(signed)
    }

    fn sign_own_proposal(
        &mut self,
        proposal: super::context::Proposal,
        effects: &mut Vec<Effect>,
    ) -> Option<SignedProposal> {
        if let Some(existing) = self.own_proposals.get(&proposal.round) {
            if existing.message != proposal {
                self.refused_double_signs += 1;
                tracing::error!(?proposal, "refused to sign a conflicting proposal");
            }
            return None;
        }
        let signed = sign_proposal(&self.config.chain, &self.key, proposal);
        self.own_proposals.insert(proposal.round, signed.clone());
        self.persist(WalEntry::Proposal(signed.clone()), effects);
        effects.push(Effect::Broadcast(Message::Proposal(signed.clone())));
        Some(signed)
    }

    fn certificate_power(&self, c: &CommitCertificate<Ctx>) -> u64 {
        c.commit_signatures
            .iter()
            .filter_map(|s| self.set.get(&s.address))
            .map(|v| v.voting_power)
            .sum()
    }

    /// Records a decision and moves to the next height.
    fn decide(&mut self, decision: Decision, effects: &mut Vec<Effect>) {
        effects.push(Effect::Decided(decision.clone()));
        self.decisions.push_back(decision);
        while self.decisions.len() > self.config.decisions_kept {
            self.decisions.pop_front();
        }
        self.between = true;
        self.own_votes.clear();
        self.own_proposals.clear();
        self.first_votes.clear();
        self.sync_asked.clear();
    }

    /// Enters `height` with its validator set; what was kept for it is taken next.
    fn start_height(&mut self, height: Height, set: ValidatorSet, effects: &mut Vec<Effect>) {
        debug_assert!(self.between && height.0 == self.height().0 + 1);
        self.driver.move_to_height(height, set.clone());
        self.set = set;
        self.between = false;
        self.ready.extend(std::mem::take(&mut self.next_height));
        self.start_round(Round::ZERO, effects);
        // A peer decided heights beyond this one: ask it for this one now.
        match self.ahead {
            Some((peer, seen)) if seen > height => self.ask_sync(peer, seen, effects),
            _ => self.ahead = None,
        }
    }

    /// A message while the current height is decided and the next not started: what belongs to
    /// the next height is kept, peers behind get the decisions they need, the rest is moot.
    fn between_heights(&mut self, from: Address, message: Message, effects: &mut Vec<Effect>) {
        let decided = self.height();
        let height = match &message {
            Message::SyncRequest(h) => *h,
            Message::Decision(d) => d.height,
            Message::Polka(c) => c.height,
            Message::Proposal(p) => p.message.height,
            Message::Vote(v) => v.message.height,
        };
        if height.0 == decided.0 + 1 {
            if !matches!(message, Message::SyncRequest(_)) {
                self.keep_for_next_height(from, height, message);
            }
        } else if height <= decided && from != self.address {
            if let Some(d) = self.decisions.iter().find(|d| d.height == height) {
                effects.push(Effect::Send(from, Message::Decision(Box::new(d.clone()))));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::{sign_vote, ChainTag, Validator};

    fn keys(n: u8) -> Vec<SigningKey> {
        (1..=n).map(|i| SigningKey::from_bytes(&[i; 32])).collect()
    }

    fn set_of(keys: &[SigningKey]) -> ValidatorSet {
        ValidatorSet::new(
            keys.iter()
                .map(|k| Validator {
                    address: address_of(k),
                    voting_power: 1,
                })
                .collect(),
        )
        .expect("valid set")
    }

    fn key_of(keys: &[SigningKey], address: Address) -> &SigningKey {
        keys.iter()
            .find(|k| address_of(k) == address)
            .expect("a validator's key")
    }

    fn propose_timeout_at_height_1() -> Input {
        Input::Timeout {
            height: Height(1),
            timeout: Timeout {
                kind: TimeoutKind::Propose,
                round: Round::ZERO,
            },
        }
    }

    fn own_votes(effects: &[Effect]) -> Vec<Vote> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Broadcast(Message::Vote(v)) => Some(v.message),
                _ => None,
            })
            .collect()
    }

    /// A single validator decides alone: its own proposal, prevote and precommit are a quorum.
    #[test]
    fn one_validator_decides_each_height_with_a_certificate() {
        let ks = keys(1);
        let set = set_of(&ks);
        let (mut e, effects) = Engine::new(
            EngineConfig::default(),
            ks[0].clone(),
            set.clone(),
            Height(1),
            vec![],
        );
        assert!(effects.contains(&Effect::GetValue(Height(1), Round::ZERO)));
        for h in 1..=3u64 {
            let value = Value(BlockHash([h as u8; 32]));
            let effects = e
                .handle(Input::ProposeValue {
                    height: Height(h),
                    round: Round::ZERO,
                    value,
                })
                .expect("own value");
            let decided: Vec<&Decision> = effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Decided(d) => Some(d),
                    _ => None,
                })
                .collect();
            assert_eq!(decided.len(), 1);
            assert_eq!(decided[0].value, value);
            verify_certificate(&ChainTag::default(), &set, decided[0])
                .expect("certificate verifies");
            // Every vote is persisted before it is broadcast.
            let first_persist = effects
                .iter()
                .position(|e| matches!(e, Effect::Persist(WalEntry::Vote(_))));
            let first_broadcast = effects
                .iter()
                .position(|e| matches!(e, Effect::Broadcast(Message::Vote(_))));
            assert!(first_persist < first_broadcast);
            assert!(e.is_between_heights());
            let effects = e
                .handle(Input::StartHeight {
                    height: Height(h + 1),
                    set: set.clone(),
                })
                .expect("next height");
            assert_eq!(e.height(), Height(h + 1));
            assert!(effects.contains(&Effect::GetValue(Height(h + 1), Round::ZERO)));
        }
    }

    /// The set can change at any height: a validator outside the set of height 1 is refused
    /// there, its message for height 2 is kept, and once height 2 starts with a set that holds it
    /// the engine cannot decide without its votes.
    #[test]
    fn each_height_runs_with_the_set_the_host_gives() {
        let ks = keys(2);
        let set1 = set_of(&ks[..1]);
        let set2 = set_of(&ks);
        let (mut e, _) = Engine::new(
            EngineConfig::default(),
            ks[0].clone(),
            set1,
            Height(1),
            vec![],
        );
        let k1 = address_of(&ks[1]);
        let vote = |height: u64, kind, value| Input::Message {
            from: k1,
            message: Message::Vote(sign_vote(
                &ChainTag::default(),
                &ks[1],
                Vote {
                    height: Height(height),
                    round: Round::ZERO,
                    value,
                    kind,
                    validator: k1,
                },
            )),
        };
        assert_eq!(
            e.handle(vote(1, VoteType::Prevote, NilOrVal::Nil)),
            Err(ConsensusError::UnknownValidator(k1))
        );
        let v1 = Value(BlockHash([1; 32]));
        let effects = e
            .handle(Input::ProposeValue {
                height: Height(1),
                round: Round::ZERO,
                value: v1,
            })
            .expect("own value");
        assert!(effects.iter().any(|x| matches!(x, Effect::Decided(_))));
        // Between heights: moot inputs do nothing, a start at the wrong height is refused.
        let v2 = Value(BlockHash([2; 32]));
        assert_eq!(
            e.handle(Input::ProposeValue {
                height: Height(1),
                round: Round::ZERO,
                value: v2,
            }),
            Ok(vec![])
        );
        assert!(matches!(
            e.handle(Input::StartHeight {
                height: Height(3),
                set: set2.clone()
            }),
            Err(ConsensusError::WrongStart { .. })
        ));
        // k1's prevote for height 2 arrives before height 2 starts: kept.
        assert_eq!(
            e.handle(vote(2, VoteType::Prevote, NilOrVal::Val(v2.0))),
            Ok(vec![])
        );
        let mut effects = e
            .handle(Input::StartHeight {
                height: Height(2),
                set: set2.clone(),
            })
            .expect("height 2");
        let leader = proposer(&set2, Height(2), Round::ZERO).address;
        if leader == address_of(&ks[0]) {
            effects.extend(
                e.handle(Input::ProposeValue {
                    height: Height(2),
                    round: Round::ZERO,
                    value: v2,
                })
                .expect("own value"),
            );
        } else {
            let p = sign_proposal(
                &ChainTag::default(),
                &ks[1],
                super::super::context::Proposal {
                    height: Height(2),
                    round: Round::ZERO,
                    value: v2,
                    pol_round: Round::Nil,
                    proposer: k1,
                },
            );
            effects.extend(
                e.handle(Input::Message {
                    from: k1,
                    message: Message::Proposal(p),
                })
                .expect("proposal"),
            );
        }
        assert!(
            !effects.iter().any(|x| matches!(x, Effect::Decided(_))),
            "half the power of height 2 cannot decide"
        );
        let effects = e
            .handle(vote(2, VoteType::Precommit, NilOrVal::Val(v2.0)))
            .expect("precommit");
        let d = effects
            .iter()
            .find_map(|x| match x {
                Effect::Decided(d) => Some(d),
                _ => None,
            })
            .expect("both validators' precommits decide");
        assert_eq!(d.value, v2);
        verify_certificate(&ChainTag::default(), &set2, d).expect("certificate of height 2's set");
        assert_eq!(d.certificate.commit_signatures.len(), 2);
    }

    /// A validator that prevoted a block, crashed and restarted from its log does not prevote
    /// anything else in that round, even when its timeout fires again.
    #[test]
    fn restored_validator_never_signs_a_conflicting_vote() {
        let ks = keys(4);
        let set = set_of(&ks);
        let proposer_address = proposer(&set, Height(1), Round::ZERO).address;
        let me = ks
            .iter()
            .find(|k| address_of(k) != proposer_address)
            .expect("a non-proposer")
            .clone();
        let (mut e, _) = Engine::new(
            EngineConfig::default(),
            me.clone(),
            set.clone(),
            Height(1),
            vec![],
        );
        let proposal = sign_proposal(
            &ChainTag::default(),
            key_of(&ks, proposer_address),
            super::super::context::Proposal {
                height: Height(1),
                round: Round::ZERO,
                value: Value(BlockHash([7; 32])),
                pol_round: Round::Nil,
                proposer: proposer_address,
            },
        );
        let effects = e
            .handle(Input::Message {
                from: proposer_address,
                message: Message::Proposal(proposal),
            })
            .expect("valid proposal");
        assert_eq!(
            own_votes(&effects)[0].value,
            NilOrVal::Val(BlockHash([7; 32]))
        );
        let wal: Vec<WalEntry> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(w) => Some(w.clone()),
                _ => None,
            })
            .collect();

        // Restarted with the full log: the same prevote again, never a nil one.
        let (mut r, effects) = Engine::restore(
            EngineConfig::default(),
            me.clone(),
            set.clone(),
            Height(1),
            vec![],
            wal.clone(),
        );
        assert!(own_votes(&effects)
            .iter()
            .all(|v| v.value == NilOrVal::Val(BlockHash([7; 32]))));
        let effects = r.handle(propose_timeout_at_height_1()).expect("timeout");
        assert!(own_votes(&effects).is_empty(), "{effects:?}");
        assert_eq!(r.refused_double_signs(), 0);

        // Restarted with only its own vote (the proposal lost): the propose timeout makes the
        // state machine want a nil prevote, which the guard refuses.
        let own_only: Vec<WalEntry> = wal
            .into_iter()
            .filter(|w| matches!(w, WalEntry::Vote(v) if v.message.validator == address_of(&me)))
            .collect();
        let (mut t, _) = Engine::restore(
            EngineConfig::default(),
            me,
            set,
            Height(1),
            vec![],
            own_only,
        );
        let effects = t.handle(propose_timeout_at_height_1()).expect("timeout");
        assert!(own_votes(&effects).is_empty(), "{effects:?}");
        assert_eq!(t.refused_double_signs(), 1);
    }

    #[test]
    fn bad_messages_are_rejected_with_their_reason() {
        let ks = keys(4);
        let set = set_of(&ks);
        let (mut e, _) = Engine::new(
            EngineConfig::default(),
            ks[0].clone(),
            set.clone(),
            Height(1),
            vec![],
        );
        let stranger = SigningKey::from_bytes(&[99; 32]);
        let vote = Vote {
            height: Height(1),
            round: Round::ZERO,
            value: NilOrVal::Nil,
            kind: VoteType::Prevote,
            validator: address_of(&stranger),
        };
        let msg = |v| Input::Message {
            from: address_of(&ks[1]),
            message: Message::Vote(v),
        };
        assert_eq!(
            e.handle(msg(sign_vote(&ChainTag::default(), &stranger, vote))),
            Err(ConsensusError::UnknownValidator(address_of(&stranger)))
        );
        let forged = sign_vote(
            &ChainTag::default(),
            &stranger,
            Vote {
                validator: address_of(&ks[1]),
                ..vote
            },
        );
        assert_eq!(
            e.handle(msg(forged)),
            Err(ConsensusError::BadSignature(address_of(&ks[1])))
        );
        let far = sign_vote(
            &ChainTag::default(),
            &ks[1],
            Vote {
                round: Round::new(ROUND_WINDOW + 1),
                validator: address_of(&ks[1]),
                ..vote
            },
        );
        assert!(matches!(
            e.handle(msg(far)),
            Err(ConsensusError::RoundOutOfWindow { .. })
        ));
        let wrong_proposer = ks
            .iter()
            .find(|k| address_of(k) != proposer(&set, Height(1), Round::ZERO).address)
            .expect("someone else");
        let p = sign_proposal(
            &ChainTag::default(),
            wrong_proposer,
            super::super::context::Proposal {
                height: Height(1),
                round: Round::ZERO,
                value: Value(BlockHash([1; 32])),
                pol_round: Round::Nil,
                proposer: address_of(wrong_proposer),
            },
        );
        assert!(matches!(
            e.handle(Input::Message {
                from: address_of(wrong_proposer),
                message: Message::Proposal(p)
            }),
            Err(ConsensusError::WrongProposer { .. })
        ));
    }

    #[test]
    fn certificates_need_a_quorum_of_distinct_valid_signatures() {
        let ks = keys(4);
        let set = set_of(&ks);
        let value = Value(BlockHash([5; 32]));
        let precommit = |k: &SigningKey| {
            sign_vote(
                &ChainTag::default(),
                k,
                Vote {
                    height: Height(9),
                    round: Round::new(2),
                    value: NilOrVal::Val(value.0),
                    kind: VoteType::Precommit,
                    validator: address_of(k),
                },
            )
        };
        let decision = |votes: Vec<SignedVote>| Decision {
            height: Height(9),
            round: Round::new(2),
            value,
            certificate: ExtendedCommitCertificate::from_votes(
                Height(9),
                Round::new(2),
                value.0,
                votes,
            )
            .trim_vote_extensions(),
        };
        let three: Vec<SignedVote> = ks[..3].iter().map(precommit).collect();
        verify_certificate(&ChainTag::default(), &set, &decision(three.clone())).expect("3 of 4");
        assert!(
            verify_certificate(&ChainTag::default(), &set, &decision(three[..2].to_vec())).is_err()
        );
        let mut dup = decision(three[..2].to_vec());
        dup.certificate
            .commit_signatures
            .push(dup.certificate.commit_signatures[0].clone());
        assert!(verify_certificate(&ChainTag::default(), &set, &dup).is_err());
        let mut bad = decision(three.clone());
        bad.certificate.commit_signatures[1].signature = Sig([1; 64]);
        assert!(verify_certificate(&ChainTag::default(), &set, &bad).is_err());
        let mut other_value = decision(three);
        other_value.value = Value(BlockHash([6; 32]));
        assert!(verify_certificate(&ChainTag::default(), &set, &other_value).is_err());
    }
}
