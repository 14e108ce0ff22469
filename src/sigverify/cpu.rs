//! CPU batch verifier: random-linear-combination batch checks spread over rayon.
//!
//! For a chunk of parsed signatures it checks `[8](-(sum z_i S_i) B + sum z_i R_i + sum (z_i k_i) A_i)`
//! is the identity, with fresh random 128-bit `z_i`. Because the equation is cofactored, it agrees with
//! the single check of [`super::zip215`] except with probability about 2^-128 (the argument of ZIP-215).
//! A chunk that fails is bisected until every signature has its own answer, so one bad signature costs
//! about one extra pass over its chunk and never rejects a neighbour.
//!
//! The `z_i` come from the operating system's generator: if an attacker could predict them, it could
//! craft signatures that pass in a batch and fail alone, which would split the network.

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use rand_core::{OsRng, RngCore};
use rayon::prelude::*;

use super::zip215::{self, Parsed};
use super::{timed_share, Backend, BatchReport, BatchVerifier, SigItem};

/// Below this many signatures a batch equation costs more than it saves.
const BATCH_MIN: usize = 4;

/// Smallest chunk worth handing to another thread.
const PARALLEL_CHUNK_MIN: usize = 32;

#[derive(Debug, Clone)]
pub struct CpuVerifier {
    /// Signatures per batch equation; also the unit of work handed to one rayon task.
    pub chunk_size_max: usize,
}

impl Default for CpuVerifier {
    fn default() -> Self {
        Self {
            chunk_size_max: 512,
        }
    }
}

impl CpuVerifier {
    pub fn new(chunk_size_max: usize) -> Self {
        assert!(chunk_size_max > 0, "chunk size must be positive");
        Self { chunk_size_max }
    }

    /// Verifies a chunk on the current thread.
    pub fn verify_chunk(items: &[SigItem<'_>]) -> Vec<bool> {
        let mut answers = vec![false; items.len()];
        let mut parsed = Vec::with_capacity(items.len());
        let mut index = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            if let Some(p) = zip215::parse(it.public_key, it.message, it.signature) {
                parsed.push(p);
                index.push(i);
            }
        }
        let mut ok = vec![false; parsed.len()];
        settle(&parsed, &mut ok);
        for (j, i) in index.into_iter().enumerate() {
            answers[i] = ok[j];
        }
        answers
    }
}

/// Fills `ok` with each parsed signature's answer, by batch equation and bisection.
fn settle(parsed: &[Parsed], ok: &mut [bool]) {
    debug_assert_eq!(parsed.len(), ok.len());
    if parsed.is_empty() {
        return;
    }
    if parsed.len() < BATCH_MIN {
        for (p, o) in parsed.iter().zip(ok.iter_mut()) {
            *o = zip215::check(p);
        }
        return;
    }
    if batch_holds(parsed) {
        ok.fill(true);
        return;
    }
    let mid = parsed.len() / 2;
    let (pl, pr) = parsed.split_at(mid);
    let (ol, or) = ok.split_at_mut(mid);
    settle(pl, ol);
    settle(pr, or);
}

fn batch_holds(parsed: &[Parsed]) -> bool {
    let n = parsed.len();
    let mut random = vec![0u8; 16 * n];
    OsRng.fill_bytes(&mut random);
    let z: Vec<Scalar> = random
        .chunks_exact(16)
        .map(|c| {
            let mut b = [0u8; 32];
            b[..16].copy_from_slice(c);
            Scalar::from_bytes_mod_order(b)
        })
        .collect();

    let mut b_coeff = Scalar::ZERO;
    let mut scalars = Vec::with_capacity(2 * n + 1);
    let mut points = Vec::with_capacity(2 * n + 1);
    for (p, zi) in parsed.iter().zip(&z) {
        b_coeff -= zi * p.s;
        scalars.push(*zi);
        points.push(p.r);
        scalars.push(zi * p.k);
        points.push(p.a);
    }
    scalars.push(b_coeff);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

impl BatchVerifier for CpuVerifier {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn verify_batch_report(&self, items: &[SigItem<'_>]) -> (Vec<bool>, BatchReport) {
        timed_share(Backend::Cpu, items.len(), || self.verify_all(items))
    }
}

impl CpuVerifier {
    /// Verifies a batch over the rayon pool.
    pub fn verify_all(&self, items: &[SigItem<'_>]) -> Vec<bool> {
        // As many chunks as the chunk size asks for, and at least one per thread (even chunks keep
        // every core busy to the end), but none so small that a batch equation stops paying.
        let threads = rayon::current_num_threads().max(1);
        let chunks = items
            .len()
            .div_ceil(self.chunk_size_max)
            .max(threads)
            .min(items.len().div_ceil(PARALLEL_CHUNK_MIN));
        if chunks <= 1 {
            return Self::verify_chunk(items);
        }
        items
            .par_chunks(items.len().div_ceil(chunks))
            .flat_map_iter(Self::verify_chunk)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(n: usize) -> Vec<([u8; 32], Vec<u8>, [u8; 64])> {
        (0..n)
            .map(|i| {
                let key = SigningKey::from_bytes(&[(i % 251) as u8 + 1; 32]);
                let msg = format!("message {i}").into_bytes();
                let sig = key.sign(&msg).to_bytes();
                (key.verifying_key().to_bytes(), msg, sig)
            })
            .collect()
    }

    fn items(v: &[([u8; 32], Vec<u8>, [u8; 64])]) -> Vec<SigItem<'_>> {
        v.iter()
            .map(|(pk, m, s)| SigItem {
                public_key: pk,
                message: m,
                signature: s,
            })
            .collect()
    }

    #[test]
    fn one_bad_signature_does_not_reject_its_neighbours() {
        let mut v = signed(300);
        v[17].2[5] ^= 1;
        v[250].1.push(0);
        let answers = CpuVerifier::new(64).verify_batch(&items(&v));
        for (i, a) in answers.iter().enumerate() {
            assert_eq!(*a, i != 17 && i != 250, "answer {i}");
        }
    }

    #[test]
    fn empty_batch() {
        assert!(CpuVerifier::default().verify_batch(&[]).is_empty());
    }
}
