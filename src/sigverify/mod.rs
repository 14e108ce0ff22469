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
//! answer per signature, in order. One bad signature never rejects its neighbours. Backends:
//! [`CpuVerifier`] (rayon), [`gpu::GpuVerifier`] (WGSL through wgpu, any adapter including software
//! ones) and [`gpu::AutoVerifier`] (a real GPU sharing large batches with the CPU, else the CPU).

mod cpu;
pub mod gpu;
pub mod verified;
pub mod zip215;

pub use verified::VerifiedIds;

use std::str::FromStr;
use std::time::{Duration, Instant};

pub use cpu::CpuVerifier;
pub use gpu::{AdapterPolicy, AutoVerifier, GpuConfig, GpuError, GpuVerifier};
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

impl<'a> SigItem<'a> {
    /// What verification needs of a transaction: its sender's key, its signature and the bytes
    /// the signature signs (a prefix of its encoding).
    pub fn of(tx: &'a crate::types::TxEnvelope) -> Self {
        SigItem {
            public_key: tx.public_key(),
            signature: tx.signature(),
            message: tx.signing_message(),
        }
    }
}

/// Part of a batch verified by one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// `Cpu` or `Gpu`: who actually did the work.
    pub backend: Backend,
    pub signatures: usize,
    pub elapsed: Duration,
}

/// How a batch was verified, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub shares: Vec<Share>,
    /// Set when the GPU failed and the batch was verified on the CPU instead: the reason.
    pub fallback: Option<String>,
}

/// A signature-verification backend.
pub trait BatchVerifier: Send + Sync {
    /// Which backend this is, for metrics and logs.
    fn backend(&self) -> Backend;
    /// The backend and, for GPUs, the adapter, for people.
    fn describe(&self) -> String {
        self.backend().name().to_string()
    }
    /// Verifies every item under ZIP-215. Returns exactly one answer per item, in input order, and
    /// which backend verified how many.
    fn verify_batch_report(&self, items: &[SigItem<'_>]) -> (Vec<bool>, BatchReport);
    /// [`Self::verify_batch_report`] without the report.
    fn verify_batch(&self, items: &[SigItem<'_>]) -> Vec<bool> {
        self.verify_batch_report(items).0
    }
}

/// Backends a node can be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// CPU batch verification spread over the rayon pool.
    #[default]
    Cpu,
    /// WGSL compute shaders on the best adapter found, software adapters included. Refuses to start
    /// without one.
    Gpu,
    /// A real GPU (never a software adapter) sharing large batches with the CPU; the CPU alone when
    /// there is none.
    Auto,
}

#[derive(Debug, Error)]
pub enum SigverifyError {
    #[error("unknown signature backend \"{0}\" (available: cpu, gpu, auto)")]
    UnknownBackend(String),
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

impl FromStr for Backend {
    type Err = SigverifyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "gpu" => Ok(Backend::Gpu),
            "auto" => Ok(Backend::Auto),
            other => Err(SigverifyError::UnknownBackend(other.to_string())),
        }
    }
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
            Backend::Auto => "auto",
        }
    }
}

/// Everything needed to build any backend.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    pub backend: Backend,
    /// Signatures per CPU batch equation.
    pub chunk_size_max: usize,
    pub gpu: GpuConfig,
    /// `auto` keeps batches below this size on the CPU.
    pub auto_gpu_batch_min: usize,
}

impl VerifierSettings {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            chunk_size_max: CpuVerifier::default().chunk_size_max,
            gpu: GpuConfig::default(),
            auto_gpu_batch_min: 256,
        }
    }
}

/// Builds the verifier for a configured backend. `gpu` without a usable adapter is an error, never
/// a silent fallback; so is a GPU that fails its start-up self-test.
pub fn verifier_for(settings: &VerifierSettings) -> Result<Box<dyn BatchVerifier>, SigverifyError> {
    let cpu = CpuVerifier::new(settings.chunk_size_max);
    Ok(match settings.backend {
        Backend::Cpu => Box::new(cpu),
        Backend::Gpu => Box::new(GpuVerifier::open(
            AdapterPolicy::AnyIncludingSoftware,
            &settings.gpu,
            cpu,
        )?),
        Backend::Auto => Box::new(AutoVerifier::new(
            &settings.gpu,
            cpu,
            settings.auto_gpu_batch_min,
        )),
    })
}

/// Times a verification for a [`BatchReport`] with one share.
pub(crate) fn timed_share(
    backend: Backend,
    items: usize,
    f: impl FnOnce() -> Vec<bool>,
) -> (Vec<bool>, BatchReport) {
    let started = Instant::now();
    let answers = f();
    let report = BatchReport {
        shares: vec![Share {
            backend,
            signatures: items,
            elapsed: started.elapsed(),
        }],
        fallback: None,
    };
    (answers, report)
}
