//! Consensus: which block is final at each height. Tendermint-style BFT (proposal, prevote,
//! precommit, more than two thirds of the voting power) with Malachite's round state machine at its
//! core.
//!
//! - [`context`]: the types Malachite runs on (heights, validators, block hashes, votes, proposals)
//!   and Ed25519 signing with the node's one verification rule (ZIP-215);
//! - [`leader`]: who proposes each height and round: stake-weighted round robin with leader
//!   reputation, from consensus-visible state;
//! - [`engine`]: one validator's consensus as a pure state machine: inputs in, effects out
//!   (messages to send, timeouts to schedule, entries for the write-ahead log, decisions with
//!   their commit certificates). Networking, timers and storage are the host's.
//!
//! Safety rests on two things the engine guarantees and the host must keep: every
//! [`engine::Effect::Persist`] is durable before the effects after it are performed, and a
//! restarted validator is rebuilt with [`engine::Engine::restore`] from its log.

pub mod context;
pub mod engine;
pub mod leader;
pub mod wal;
pub mod wire;
