//! MameyNode: a validator node built as a pipeline of actors.
//!
//! ```text
//! RPC / QUIC ──► ingest ──► sigverify ──► mempool ──► producer ──► execution ──► commit ──► notify
//!                 decode     ZIP-215       nonce &      block        pure state     LMDB      statuses,
//!                 & limits   batches       fee order    cadence      transition     (one txn  heads
//!                                                                                    a block)
//! ```
//!
//! Pure cores sit beside the actors that drive them: [`codec`], [`types`], [`sigverify`], [`state`],
//! [`execution`], [`mempool`] and [`consensus`] hold no I/O and are tested alone; [`pipeline`] wires them into actix
//! actors; [`storage`] is the only module that touches LMDB; [`rpc`] serves JSON-RPC; [`node`]
//! assembles a running node; [`cli`] is the command line.

pub mod access;
pub mod api;
pub mod codec;
pub mod config;
pub mod consensus;
pub mod devnet;
pub mod execution;
pub mod genesis;
pub mod grpc;
pub mod keys;
pub mod mempool;
pub mod metrics;
pub mod modules;
pub mod node;
pub mod p2p;
pub mod pipeline;
pub mod quic;
pub mod rpc;
pub mod sigverify;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod types;
