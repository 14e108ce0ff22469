//! The GPU verifier's layers, tested on their own before whole verifications (tests/zip215.rs):
//!
//! - field arithmetic modulo p = 2^255 - 19 (`shaders/field.wgsl`) against big-integer arithmetic
//!   (`num-bigint`; curve25519-dalek keeps its field type private), on edge values (0, 1, p - 1, p,
//!   p + 1, 2^255 - 1, encodings with bit 255 set, limb boundaries) and seeded random ones;
//! - points (`shaders/curve.wgsl`, `verify.wgsl`) against curve25519-dalek: decompression of valid,
//!   invalid and non-canonical encodings, the eight torsion points, mixed-order points, the sign bit
//!   on x = 0, and addition, subtraction, doubling and `[a]P + [b]B`.
//!
//! These run on lavapipe in CI (see tests/common/gpu.rs).

mod common;

use common::SplitMix;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use mameynode::sigverify::gpu::run_test_kernel;
use num_bigint::BigUint;

/// Words in and out per case; must match shaders/testing.wgsl.
const FIELD_IN_WORDS: usize = 16;
const FIELD_OUT_WORDS: usize = 64;
const POINT_IN_WORDS: usize = 32;
const POINT_OUT_WORDS: usize = 48;

/// Fails with the first 20 mismatches when there are any.
fn assert_none_wrong(wrong: &[String]) {
    assert!(
        wrong.is_empty(),
        "{} wrong results:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

fn p() -> BigUint {
    (BigUint::from(1u8) << 255u32) - BigUint::from(19u8)
}

fn to_bytes(x: &BigUint) -> [u8; 32] {
    let mut out = [0u8; 32];
    let le = x.to_bytes_le();
    assert!(le.len() <= 32, "value wider than 256 bits");
    out[..le.len()].copy_from_slice(&le);
    out
}

fn words(bytes: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (i, c) in bytes.chunks_exact(4).enumerate() {
        w[i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    w
}

fn bytes_of(w: &[u32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, x) in w.iter().take(8).enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// Field inputs: edge values and seeded random ones, as 32-byte strings (bit 255 may be set).
fn field_values() -> Vec<[u8; 32]> {
    let p = p();
    let one = BigUint::from(1u8);
    let two_255 = &one << 255u32;
    let mut v: Vec<BigUint> = vec![
        BigUint::from(0u8),
        one.clone(),
        BigUint::from(2u8),
        BigUint::from(19u8),
        &p - 1u8,
        p.clone(),
        &p + 1u8,
        &p + 18u8,
        &two_255 - 1u8,
        &two_255 - 20u8,
        (&one << 26u32) - 1u8,
        &one << 26u32,
        &one << 51u32,
        &one << 234u32,
        &one << 254u32,
        (&p - 1u8) / 2u8,
        // sqrt(-1) and d
        BigUint::parse_bytes(
            b"2b8324804fc1df0b2b4d00993dfbd7a72f431806ad2fe478c4ee1b274a0ea0b0",
            16,
        )
        .expect("hex"),
        BigUint::parse_bytes(
            b"52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3",
            16,
        )
        .expect("hex"),
    ];
    // With bit 255 set: the shader must ignore it.
    v.push(&two_255 + 5u8);
    v.push((&one << 256u32) - 1u8);
    let mut out: Vec<[u8; 32]> = v.iter().map(to_bytes).collect();
    let mut rng = SplitMix(0x0066_6965_6c64);
    for _ in 0..200 {
        out.push(rng.bytes());
    }
    out
}

#[test]
fn field_arithmetic_matches_big_integers() {
    let test = "field_arithmetic_matches_big_integers";
    let Some(ctx) = common::gpu::context(test) else {
        return;
    };
    let values = field_values();
    // Every edge value against every edge value, then random pairs.
    let mut pairs = Vec::new();
    for a in values.iter().take(20) {
        for b in values.iter().take(20) {
            pairs.push((*a, *b));
        }
    }
    for i in 20..values.len() {
        pairs.push((values[i], values[(i * 7 + 3) % values.len()]));
    }
    let mut inputs = Vec::with_capacity(pairs.len() * FIELD_IN_WORDS);
    for (a, b) in &pairs {
        inputs.extend_from_slice(&words(a));
        inputs.extend_from_slice(&words(b));
    }
    let out = run_test_kernel(&ctx, "field_ops", &inputs, pairs.len(), FIELD_OUT_WORDS)
        .expect("field kernel runs");

    let p = p();
    let mask = (BigUint::from(1u8) << 255u32) - 1u8;
    let p_minus_2 = &p - 2u8;
    let p58 = (&p - 5u8) / 8u8;
    let names = ["a", "a*b", "a^2", "a+b", "a-b", "-a", "a^-1", "a^((p-5)/8)"];
    let mut wrong = Vec::new();
    for (i, (a, b)) in pairs.iter().enumerate() {
        let a = (BigUint::from_bytes_le(a) & &mask) % &p;
        let b = (BigUint::from_bytes_le(b) & &mask) % &p;
        let expected = [
            a.clone(),
            (&a * &b) % &p,
            (&a * &a) % &p,
            (&a + &b) % &p,
            (&a + &p - &b) % &p,
            (&p - &a) % &p,
            a.modpow(&p_minus_2, &p),
            a.modpow(&p58, &p),
        ];
        for (j, e) in expected.iter().enumerate() {
            let o = i * FIELD_OUT_WORDS + j * 8;
            let got = BigUint::from_bytes_le(&bytes_of(&out[o..o + 8]));
            if &got != e {
                wrong.push(format!(
                    "case {i} {}: a={a:x} b={b:x}: got {got:x}, want {e:x}",
                    names[j]
                ));
            }
        }
    }
    assert_none_wrong(&wrong);
    eprintln!("{test}: {} pairs x 8 operations agree", pairs.len());
}

/// Point encodings: valid points of every kind, invalid ones and non-canonical ones.
fn point_encodings() -> Vec<[u8; 32]> {
    let mut v: Vec<[u8; 32]> = Vec::new();
    let b = ED25519_BASEPOINT_POINT;
    for t in EIGHT_TORSION.iter() {
        v.push(t.compress().to_bytes());
        // Mixed order: a torsion component on a prime-order point.
        v.push((b + t).compress().to_bytes());
    }
    for i in 0..8u64 {
        v.push(
            EdwardsPoint::mul_base(&Scalar::from(i * 1_000_003 + 1))
                .compress()
                .to_bytes(),
        );
    }
    // Non-canonical y (y + p for small y; some are on the curve) and the sign bit on x = 0.
    let p = p();
    for y in 0u8..19 {
        let e = to_bytes(&(&p + BigUint::from(y)));
        v.push(e);
        let mut signed = e;
        signed[31] |= 0x80;
        v.push(signed);
    }
    let mut one = [0u8; 32];
    one[0] = 1;
    v.push(one);
    one[31] |= 0x80;
    v.push(one);
    let mut minus_one = to_bytes(&(&p - 1u8));
    v.push(minus_one);
    minus_one[31] |= 0x80;
    v.push(minus_one);
    // Random bytes: about half are not on the curve.
    let mut rng = SplitMix(0x0070_6f69_6e74);
    for _ in 0..60 {
        v.push(rng.bytes());
    }
    v
}

/// Scalars below l (what the verifier feeds the multiplication: k reduced, S checked).
fn scalars(rng: &mut SplitMix) -> [u8; 32] {
    match rng.next_u64() % 6 {
        0 => [0u8; 32],
        1 => Scalar::ONE.to_bytes(),
        2 => (-Scalar::ONE).to_bytes(),
        _ => Scalar::from_bytes_mod_order(rng.bytes()).to_bytes(),
    }
}

#[test]
fn points_match_curve25519_dalek() {
    let test = "points_match_curve25519_dalek";
    let Some(ctx) = common::gpu::context(test) else {
        return;
    };
    let encodings = point_encodings();
    let mut rng = SplitMix(0x7363_616c_6172);
    let mut cases = Vec::new();
    for (i, p) in encodings.iter().enumerate() {
        for shift in [0usize, 1, 5, 17] {
            let q = encodings[(i + shift) % encodings.len()];
            cases.push((*p, q, scalars(&mut rng), scalars(&mut rng)));
        }
    }
    let mut inputs = Vec::with_capacity(cases.len() * POINT_IN_WORDS);
    for (p, q, a, b) in &cases {
        for x in [p, q, a, b] {
            inputs.extend_from_slice(&words(x));
        }
    }
    let out = run_test_kernel(&ctx, "point_ops", &inputs, cases.len(), POINT_OUT_WORDS)
        .expect("point kernel runs");

    let mut wrong = Vec::new();
    let mut decoded = 0;
    for (i, (p_enc, q_enc, a, b)) in cases.iter().enumerate() {
        let o = i * POINT_OUT_WORDS;
        let p = CompressedEdwardsY(*p_enc).decompress();
        let q = CompressedEdwardsY(*q_enc).decompress();
        let flags = u32::from(p.is_some()) | (u32::from(q.is_some()) << 1);
        if out[o] != flags {
            wrong.push(format!(
                "case {i}: decode flags {} want {flags} (P {}, Q {})",
                out[o],
                hex::encode(p_enc),
                hex::encode(q_enc)
            ));
            continue;
        }
        let (Some(p), Some(q)) = (p, q) else {
            continue;
        };
        decoded += 1;
        let a_s = Scalar::from_canonical_bytes(*a).expect("canonical");
        let b_s = Scalar::from_canonical_bytes(*b).expect("canonical");
        let expected = [
            p.compress().to_bytes(),
            (p + q).compress().to_bytes(),
            (p - q).compress().to_bytes(),
            (p + p).compress().to_bytes(),
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&a_s, &p, &b_s)
                .compress()
                .to_bytes(),
        ];
        let names = ["compress(P)", "P+Q", "P-Q", "2P", "[a]P+[b]B"];
        for (j, e) in expected.iter().enumerate() {
            let s = o + 8 + 8 * j;
            let got = bytes_of(&out[s..s + 8]);
            if &got != e {
                wrong.push(format!(
                    "case {i} {}: P {} Q {} a {} b {}: got {} want {}",
                    names[j],
                    hex::encode(p_enc),
                    hex::encode(q_enc),
                    hex::encode(a),
                    hex::encode(b),
                    hex::encode(got),
                    hex::encode(e)
                ));
            }
        }
    }
    assert_none_wrong(&wrong);
    assert!(decoded > 100, "too few decodable cases: {decoded}");
    eprintln!(
        "{test}: {} cases ({decoded} with both points on the curve) agree",
        cases.len()
    );
}
