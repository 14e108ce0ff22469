//! The ZIP-215 validity rule for Ed25519 signatures (consensus-critical).
//!
//! 1. `A` and `R` must decode to curve points; non-canonical encodings (y >= p) are accepted as given.
//! 2. `S` must be canonical: `S < l`.
//! 3. `k = SHA-512(R || A || M) mod l`, over the bytes exactly as received.
//! 4. Accept iff `[8]([S]B - [k]A - R)` is the identity (the cofactored equation).
//!
//! Small-order `A` or `R` is not rejected by itself. Decompression is curve25519-dalek's, which is the
//! one ZIP-215's reference implementation (`ed25519-zebra`) uses, so the two agree on every encoding.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};

/// A signature whose encodings have been parsed: what both single and batch checks work on.
#[derive(Clone, Copy)]
pub(crate) struct Parsed {
    pub a: EdwardsPoint,
    pub r: EdwardsPoint,
    pub s: Scalar,
    pub k: Scalar,
}

/// Steps 1–3: parse the encodings and compute the challenge. `None` means the signature is invalid.
pub(crate) fn parse(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Option<Parsed> {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature[32..]);

    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let a = CompressedEdwardsY(*public_key).decompress()?;
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(r_bytes)
            .chain_update(public_key)
            .chain_update(message),
    );
    Some(Parsed { a, r, s, k })
}

/// Step 4 for one parsed signature.
pub(crate) fn check(p: &Parsed) -> bool {
    let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&p.k, &(-p.a), &p.s);
    (sb_minus_ka - p.r).mul_by_cofactor().is_identity()
}

/// Verifies one signature under ZIP-215.
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    parse(public_key, message, signature).is_some_and(|p| check(&p))
}
