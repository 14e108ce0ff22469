//! Signature verification: the one place that decides whether an Ed25519 signature is valid.
//!
//! The rule is ZIP-215 (`../shared/DESIGN.md` §1), implemented once in [`zip215`]. Every backend (CPU
//! single, CPU batch, and later the GPU) must give exactly the answers of [`zip215::verify`]; the test
//! suite checks that against the `ed25519-zebra` crate on public and adversarial vectors.
//!
//! `ed25519-dalek` signs, but its `verify*` functions each follow a different rule and are never used
//! here.
//!
//! The [`BatchVerifier`] trait is the seam where backends plug in: it takes a batch and returns one
//! answer per signature, in order. One bad signature never rejects its neighbours.

mod cpu;
pub mod zip215;

use std::str::FromStr;

pub use cpu::CpuVerifier;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One signature to check. Borrowed, so that a batch of transactions is verified without copying their
/// messages.
#[derive(Debug, Clone, Copy)]
pub struct SigItem<'a> {
    pub public_key: &'a [u8; 32],
    pub signature: &'a [u8; 64],
    pub message: &'a [u8],
}

/// A signature-verification backend.
pub trait BatchVerifier: Send + Sync {
    /// Which backend this is, for metrics and logs.
    fn backend(&self) -> Backend;
    /// Verifies every item under ZIP-215. Returns exactly one answer per item, in input order.
    fn verify_batch(&self, items: &[SigItem<'_>]) -> Vec<bool>;
}

/// Backends a node can be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// CPU batch verification spread over the rayon pool.
    #[default]
    Cpu,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SigverifyError {
    #[error("unknown signature backend \"{0}\" (available: cpu)")]
    UnknownBackend(String),
}

impl FromStr for Backend {
    type Err = SigverifyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            other => Err(SigverifyError::UnknownBackend(other.to_string())),
        }
    }
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
        }
    }
}

/// Builds the verifier for a configured backend.
pub fn verifier_for(backend: Backend, chunk_size_max: usize) -> Box<dyn BatchVerifier> {
    match backend {
        Backend::Cpu => Box::new(CpuVerifier::new(chunk_size_max)),
    }
}
