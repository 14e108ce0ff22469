//! ZIP-215 conformance: `mameynode::sigverify` against the reference implementation, `ed25519-zebra`.
//!
//! Every case is checked three ways and all three must agree:
//! 1. `zip215::verify` (our single check),
//! 2. `ed25519_zebra::VerificationKey::try_from(pk)?.verify(&sig, msg)` (the ZIP-215 oracle), and
//! 3. `CpuVerifier::verify_batch` over the whole set at once, with small chunks, in one chunk (pure
//!    bisection) and in a deterministically shuffled order.
//!
//! Cases: RFC 8032 §7.1 (hardcoded), the public vectors under `tests/vectors/ed25519/` (speccheck,
//! CCTV, Wycheproof), generated adversarial cases (small-order and mixed-order `A`/`R`, non-canonical
//! encodings, `S >= l`, bit flips, all-zero/all-0xFF, random bytes, empty and long messages, the sign
//! bit on `x = 0` points) and two proptests.
//!
//! Wrong-length inputs (some Wycheproof signatures are 0..96 bytes): our API takes `&[u8; 32]` and
//! `&[u8; 64]`, so such an input cannot even be handed to it and is "invalid" by construction. For
//! those cases the test asserts that zebra rejects them too (`VerificationKey::try_from(&[u8])` or
//! `Signature::from_slice` fails), and they are left out of the batch runs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::SplitMix;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signer, SigningKey};
use mameynode::sigverify::{zip215, Backend, BatchVerifier, CpuVerifier, GpuConfig, SigItem};
use proptest::prelude::*;
use sha2::{Digest, Sha512};

// ---------------------------------------------------------------------------------------------
// Cases and the three verdicts
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Case {
    source: &'static str,
    name: String,
    pk: Vec<u8>,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

impl Case {
    fn new(
        source: &'static str,
        name: impl Into<String>,
        pk: &[u8],
        msg: &[u8],
        sig: &[u8],
    ) -> Self {
        Case {
            source,
            name: name.into(),
            pk: pk.to_vec(),
            msg: msg.to_vec(),
            sig: sig.to_vec(),
        }
    }

    /// The fixed-size form our API takes; `None` for a wrong-length key or signature.
    fn fixed(&self) -> Option<([u8; 32], [u8; 64])> {
        Some((
            self.pk.as_slice().try_into().ok()?,
            self.sig.as_slice().try_into().ok()?,
        ))
    }

    fn describe(&self) -> String {
        let msg = if self.msg.len() > 256 {
            format!(
                "<{} bytes, sha512 {}>",
                self.msg.len(),
                hex::encode(Sha512::digest(&self.msg))
            )
        } else {
            hex::encode(&self.msg)
        };
        format!(
            "[{}] {}\n    pk  = {}\n    msg = {}\n    sig = {}",
            self.source,
            self.name,
            hex::encode(&self.pk),
            msg,
            hex::encode(&self.sig)
        )
    }
}

/// The ZIP-215 oracle. A key or signature that zebra cannot even parse (bad point, wrong length)
/// means "invalid".
fn zebra(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(vk) = ed25519_zebra::VerificationKey::try_from(pk) else {
        return false;
    };
    let Ok(sig) = ed25519_zebra::Signature::from_slice(sig) else {
        return false;
    };
    vk.verify(&sig, msg).is_ok()
}

/// Our single check; `None` when the input cannot be given to the API (wrong length).
fn ours(case: &Case) -> Option<bool> {
    let (pk, sig) = case.fixed()?;
    Some(zip215::verify(&pk, &case.msg, &sig))
}

#[derive(Default, Debug, Clone, Copy)]
struct Counts {
    valid: usize,
    invalid: usize,
    wrong_length: usize,
}

impl Counts {
    fn total(&self) -> usize {
        self.valid + self.invalid + self.wrong_length
    }
}

/// Compares our single check with zebra on every case; panics listing every disagreement. Returns
/// the counts and the agreed answers of the fixed-length cases (in order), for the batch runs.
fn check_single(label: &str, cases: &[Case]) -> (Counts, Vec<bool>) {
    let mut counts = Counts::default();
    let mut answers = Vec::new();
    let mut disagreements = Vec::new();
    for case in cases {
        let oracle = zebra(&case.pk, &case.msg, &case.sig);
        match ours(case) {
            None => {
                counts.wrong_length += 1;
                if oracle {
                    disagreements.push(format!(
                        "{}\n    wrong length (pk {} B, sig {} B): ours = invalid (cannot be called), zebra = valid",
                        case.describe(),
                        case.pk.len(),
                        case.sig.len()
                    ));
                }
            }
            Some(mine) => {
                if mine {
                    counts.valid += 1;
                } else {
                    counts.invalid += 1;
                }
                if mine != oracle {
                    disagreements.push(format!(
                        "{}\n    ours = {mine}, zebra = {oracle}",
                        case.describe()
                    ));
                }
                answers.push(mine);
            }
        }
    }
    println!(
        "{label}: {} cases: {} valid, {} invalid, {} wrong-length (invalid for both)",
        counts.total(),
        counts.valid,
        counts.invalid,
        counts.wrong_length
    );
    assert!(
        disagreements.is_empty(),
        "{label}: {} disagreement(s) between zip215::verify and ed25519-zebra:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    (counts, answers)
}

fn fixed_cases(cases: &[Case]) -> Vec<(Vec<u8>, [u8; 32], [u8; 64])> {
    cases
        .iter()
        .filter_map(|c| c.fixed().map(|(pk, sig)| (c.msg.clone(), pk, sig)))
        .collect()
}

fn items(fixed: &[(Vec<u8>, [u8; 32], [u8; 64])]) -> Vec<SigItem<'_>> {
    fixed
        .iter()
        .map(|(msg, pk, sig)| SigItem {
            public_key: pk,
            signature: sig,
            message: msg,
        })
        .collect()
}

fn assert_batch(label: &str, what: &str, cases: &[&Case], expected: &[bool], got: &[bool]) {
    assert_eq!(
        got.len(),
        expected.len(),
        "{label}/{what}: one answer per item"
    );
    let wrong: Vec<String> = (0..expected.len())
        .filter(|&i| got[i] != expected[i])
        .map(|i| {
            format!(
                "#{i} {}\n    batch = {}, single/zebra = {}",
                cases[i].describe(),
                got[i],
                expected[i]
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{label}/{what}: {} batch answer(s) differ from the single check:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Runs the fixed-length cases through `CpuVerifier` in several shapes; every answer must equal the
/// single (= zebra) answer.
fn check_batches(label: &str, cases: &[Case], expected: &[bool]) {
    let usable: Vec<&Case> = cases.iter().filter(|c| c.fixed().is_some()).collect();
    let fixed = fixed_cases(cases);
    assert_eq!(fixed.len(), expected.len());
    let all = items(&fixed);

    let shapes: [(&str, CpuVerifier); 4] = [
        ("default", CpuVerifier::default()),
        ("chunk 8", CpuVerifier::new(8)),
        ("chunk 1", CpuVerifier::new(1)),
        ("one chunk", CpuVerifier::new(usize::MAX)),
    ];
    for (what, v) in &shapes {
        assert_batch(label, what, &usable, expected, &v.verify_batch(&all));
    }
    assert_batch(
        label,
        "verify_chunk",
        &usable,
        expected,
        &CpuVerifier::verify_chunk(&all),
    );

    // Deterministic shuffle: valid and invalid interleave differently, so the bisection takes
    // other paths.
    for seed in [1u64, 0x215] {
        let mut order: Vec<usize> = (0..all.len()).collect();
        shuffle(&mut order, seed);
        let shuffled: Vec<SigItem<'_>> = order.iter().map(|&i| all[i]).collect();
        let exp: Vec<bool> = order.iter().map(|&i| expected[i]).collect();
        let cs: Vec<&Case> = order.iter().map(|&i| usable[i]).collect();
        for (what, v) in &shapes[..2] {
            let what = format!("shuffled {seed:#x}, {what}");
            assert_batch(label, &what, &cs, &exp, &v.verify_batch(&shuffled));
        }
    }

    // Homogeneous batches: every batch equation holds (all valid) or none does (all invalid).
    for want in [true, false] {
        let idx: Vec<usize> = (0..all.len()).filter(|&i| expected[i] == want).collect();
        let sub: Vec<SigItem<'_>> = idx.iter().map(|&i| all[i]).collect();
        let cs: Vec<&Case> = idx.iter().map(|&i| usable[i]).collect();
        let exp = vec![want; sub.len()];
        for (what, v) in &shapes[..2] {
            let what = format!("only {}, {what}", if want { "valid" } else { "invalid" });
            assert_batch(label, &what, &cs, &exp, &v.verify_batch(&sub));
        }
    }
}

/// Single vs zebra, then batch vs single. Returns the counts.
fn check_all(label: &str, cases: &[Case]) -> Counts {
    let (counts, answers) = check_single(label, cases);
    check_batches(label, cases, &answers);
    counts
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness and scalar arithmetic helpers
// ---------------------------------------------------------------------------------------------

fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut rng = SplitMix(seed);
    for i in (1..v.len()).rev() {
        let j = rng.below(i + 1);
        v.swap(i, j);
    }
}

/// l, the order of the prime-order subgroup, little-endian.
fn l_bytes() -> [u8; 32] {
    add_le(&(-Scalar::ONE).to_bytes(), &one()).expect("l < 2^256")
}

fn one() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
}

/// 256-bit little-endian addition; `None` on overflow.
fn add_le(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = a[i] as u16 + b[i] as u16 + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    (carry == 0).then_some(out)
}

fn scalar_from_seed(tag: &str, i: u64) -> Scalar {
    Scalar::from_hash(
        Sha512::new()
            .chain_update(tag)
            .chain_update(i.to_le_bytes()),
    )
}

fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
    Scalar::from_hash(
        Sha512::new()
            .chain_update(r)
            .chain_update(a)
            .chain_update(msg),
    )
}

fn sig_bytes(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s);
    out
}

fn signing_key(i: u64) -> SigningKey {
    let seed: [u8; 32] = Sha512::new()
        .chain_update(b"zip215 test key")
        .chain_update(i.to_le_bytes())
        .finalize()[..32]
        .try_into()
        .expect("32 bytes");
    SigningKey::from_bytes(&seed)
}

/// Signs `msg` for the point `a_point = [a]B + T` (any torsion `T`) with nonce point
/// `r_point = [r]B + T'`, using the given encodings: `S = r + k a` with `k = H(R || A || M)`.
/// `[S]B - [k]A - R = -[k]T - T'` is small-order, so this verifies cofactored (ZIP-215) though
/// usually not cofactorless.
fn sign_raw(a: &Scalar, a_enc: &[u8; 32], r: &Scalar, r_enc: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    let k = challenge(r_enc, a_enc, msg);
    sig_bytes(r_enc, &(r + k * a).to_bytes())
}

// ---------------------------------------------------------------------------------------------
// Small-order encodings
// ---------------------------------------------------------------------------------------------

/// p = 2^255 - 19, little-endian.
const P_BYTES: [u8; 32] = {
    let mut b = [0xffu8; 32];
    b[0] = 0xed;
    b[31] = 0x7f;
    b
};

/// Every encoding of a small-order point, plus the other non-canonical encodings (which may decode to
/// a point of large order, y = d, or not decode at all):
/// - the 8 torsion points, canonically encoded;
/// - the same point with the sign bit set where x = 0 (the identity, y = 1, and (0, -1), y = p - 1),
///   which curve25519-dalek accepts;
/// - every non-canonical y in [p, 2^255), i.e. y = p + d for d = 0..18, with both sign bits
///   (38 encodings: y = p (the order-4 points), y = p + 1 (the identity) decode; others may not).
fn small_order_encodings() -> Vec<(String, [u8; 32])> {
    let mut out = Vec::new();
    for (i, t) in EIGHT_TORSION.iter().enumerate() {
        assert!(t.is_small_order());
        out.push((format!("torsion[{i}]"), t.compress().to_bytes()));
    }
    // x = 0 points with the sign bit set.
    let mut id_neg = one();
    id_neg[31] |= 0x80;
    out.push(("identity, sign bit set".into(), id_neg));
    let mut minus_one = P_BYTES;
    minus_one[0] -= 1; // y = p - 1
    let canonical_minus_one = minus_one;
    minus_one[31] |= 0x80;
    out.push(("(0,-1), sign bit set".into(), minus_one));
    assert!(
        out.iter().any(|(_, e)| *e == canonical_minus_one),
        "(0,-1) is one of the torsion points"
    );
    for d in 0u8..19 {
        for sign in [0u8, 1] {
            let mut e = P_BYTES;
            e[0] += d;
            e[31] |= sign << 7;
            out.push((format!("y = p + {d}, sign {sign}"), e));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Case sources
// ---------------------------------------------------------------------------------------------

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

/// RFC 8032 §7.1, TEST 1, 2, 3, 1024 and SHA(abc): (name, secret key, public key, message, signature).
const RFC8032: [(&str, &str, &str, &str, &str); 5] = [
    (
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (
        "TEST 1024",
        "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        concat!(
            "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1",
            "e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
            "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a",
            "7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
            "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10",
            "3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
            "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d",
            "502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
            "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b",
            "eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
            "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b",
            "e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
            "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d",
            "cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
            "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7",
            "984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
            "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09",
            "43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
            "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161",
            "0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
            "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca",
            "c60c905c15fc910840b94c00a0b9d0",
        ),
        "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    ),
    (
        "TEST SHA(abc)",
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
];

fn rfc8032_cases() -> Vec<Case> {
    RFC8032
        .iter()
        .map(|(name, sk, pk, msg, sig)| {
            let (sk, pk, msg, sig) = (unhex(sk), unhex(pk), unhex(msg), unhex(sig));
            // Transcription check: the secret key gives this public key and (Ed25519 being
            // deterministic) exactly this signature.
            let key = SigningKey::from_bytes(&sk.as_slice().try_into().expect("32-byte sk"));
            assert_eq!(
                key.verifying_key().to_bytes().as_slice(),
                pk.as_slice(),
                "{name}: pk"
            );
            assert_eq!(
                key.sign(&msg).to_bytes().as_slice(),
                sig.as_slice(),
                "{name}: sig"
            );
            Case::new("rfc8032", *name, &pk, &msg, &sig)
        })
        .collect()
}

fn vector_json(file: &str) -> serde_json::Value {
    let path = format!(
        "{}/tests/vectors/ed25519/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string field {key:?} in {v}"))
}

fn speccheck_cases() -> Vec<Case> {
    let json = vector_json("speccheck_cases.json");
    let arr = json.as_array().expect("speccheck: array");
    arr.iter()
        .enumerate()
        .map(|(i, c)| {
            Case::new(
                "speccheck",
                format!("case {i}"),
                &unhex(field(c, "pub_key")),
                &unhex(field(c, "message")),
                &unhex(field(c, "signature")),
            )
        })
        .collect()
}

fn cctv_cases() -> Vec<Case> {
    let json = vector_json("cctv_ed25519vectors.json");
    let arr = json.as_array().expect("cctv: array");
    arr.iter()
        .map(|c| {
            let flags: Vec<&str> = c["flags"]
                .as_array()
                .map(|f| f.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            Case::new(
                "cctv",
                format!("number {} {flags:?}", c["number"]),
                &unhex(field(c, "key")),
                field(c, "msg").as_bytes(), // a UTF-8 string, not hex
                &unhex(field(c, "sig")),
            )
        })
        .collect()
}

/// Wycheproof cases, with the file's own (RFC 8032 strict) verdict.
fn wycheproof_cases() -> Vec<(Case, bool)> {
    let json = vector_json("wycheproof_ed25519_test.json");
    let mut out = Vec::new();
    for group in json["testGroups"]
        .as_array()
        .expect("wycheproof: testGroups")
    {
        let pk = unhex(field(&group["publicKey"], "pk"));
        for t in group["tests"].as_array().expect("wycheproof: tests") {
            let case = Case::new(
                "wycheproof",
                format!("tcId {} {:?}", t["tcId"], field(t, "comment")),
                &pk,
                &unhex(field(t, "msg")),
                &unhex(field(t, "sig")),
            );
            out.push((case, field(t, "result") == "valid"));
        }
    }
    out
}

/// Generated adversarial cases.
fn adversarial_cases() -> Vec<Case> {
    const SRC: &str = "adversarial";
    let mut out = Vec::new();
    let mut push = |name: String, pk: &[u8], msg: &[u8], sig: &[u8]| {
        out.push(Case::new(SRC, name, pk, msg, sig));
    };
    let l = l_bytes();
    let zero32 = [0u8; 32];
    let small = small_order_encodings();
    let msg0: &[u8] = b"ZIP-215 adversarial message";

    // Small-order A and R in every combination of encodings, S = 0: [8](0 - kA - R) = 0, so every
    // pair that decodes is valid under ZIP-215.
    for (an, a) in &small {
        for (rn, r) in &small {
            push(
                format!("small A {an}, small R {rn}, S = 0"),
                a,
                msg0,
                &sig_bytes(r, &zero32),
            );
        }
    }
    // The same with S = l (non-canonical zero) and S = 1 (off by B): both must be rejected.
    for (an, a) in &small {
        let r = &small[0].1;
        push(
            format!("small A {an}, R = identity, S = l"),
            a,
            msg0,
            &sig_bytes(r, &l),
        );
        push(
            format!("small A {an}, R = identity, S = 1"),
            a,
            msg0,
            &sig_bytes(r, &one()),
        );
    }

    // Small-order A, R = [r]B, S = r: [S]B - [k]A - R = -[k]A is small-order, so it verifies for any
    // message at all.
    for (i, (an, a)) in small.iter().enumerate() {
        let r = scalar_from_seed("small A nonce", i as u64);
        let r_enc = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let sig = sig_bytes(&r_enc, &r.to_bytes());
        push(format!("small A {an}, R = rB, S = r"), a, msg0, &sig);
        push(
            format!("small A {an}, R = rB, S = r, other msg"),
            a,
            b"",
            &sig,
        );
        // And one bit of S flipped: no longer valid.
        let mut bad = sig;
        bad[32] ^= 1;
        push(format!("small A {an}, R = rB, S = r ^ 1"), a, msg0, &bad);
    }

    // Honest key A = [a]B, small-order R, S = k a: [S]B - [k]A - R = -R, small-order: valid.
    for (i, (rn, r_enc)) in small.iter().enumerate() {
        let a = scalar_from_seed("small R key", i as u64);
        let a_enc = EdwardsPoint::mul_base(&a).compress().to_bytes();
        let k = challenge(r_enc, &a_enc, msg0);
        push(
            format!("honest A, small R {rn}, S = k a"),
            &a_enc,
            msg0,
            &sig_bytes(r_enc, &(k * a).to_bytes()),
        );
        push(
            format!("honest A, small R {rn}, S = k a + 1"),
            &a_enc,
            msg0,
            &sig_bytes(r_enc, &(k * a + Scalar::ONE).to_bytes()),
        );
    }

    // Mixed-order A = [a]B + T_i and R = [r]B + T_j: valid only cofactored (unless the torsion
    // happens to cancel).
    for (i, ti) in EIGHT_TORSION.iter().enumerate() {
        for (j, tj) in EIGHT_TORSION.iter().enumerate() {
            let n = (i * 8 + j) as u64;
            let a = scalar_from_seed("mixed a", n);
            let r = scalar_from_seed("mixed r", n);
            let a_enc = (EdwardsPoint::mul_base(&a) + ti).compress().to_bytes();
            let r_enc = (EdwardsPoint::mul_base(&r) + tj).compress().to_bytes();
            let sig = sign_raw(&a, &a_enc, &r, &r_enc, msg0);
            push(
                format!("mixed A (+T{i}), mixed R (+T{j})"),
                &a_enc,
                msg0,
                &sig,
            );
            let mut other = msg0.to_vec();
            other.push(b'!');
            push(
                format!("mixed A (+T{i}), mixed R (+T{j}), other msg"),
                &a_enc,
                &other,
                &sig,
            );
            // Mixed-order A with an honest R, and honest A with a mixed R.
            let honest_a = EdwardsPoint::mul_base(&a).compress().to_bytes();
            let honest_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
            if j == 0 {
                let sig = sign_raw(&a, &a_enc, &r, &honest_r, msg0);
                push(format!("mixed A (+T{i}), honest R"), &a_enc, msg0, &sig);
            }
            if i == 0 {
                let sig = sign_raw(&a, &honest_a, &r, &r_enc, msg0);
                push(format!("honest A, mixed R (+T{j})"), &honest_a, msg0, &sig);
            }
        }
    }

    // Honest signatures from ed25519-dalek, over messages of many lengths (empty to 10 KiB).
    let mut rng = SplitMix(0x5eed);
    let lens = [
        0usize,
        1,
        2,
        31,
        32,
        33,
        63,
        64,
        65,
        111,
        112,
        127,
        128,
        129,
        255,
        256,
        1000,
        4096,
        10 * 1024,
    ];
    for (i, &len) in lens.iter().enumerate() {
        let key = signing_key(i as u64);
        let pk = key.verifying_key().to_bytes();
        let msg = rng.vec(len);
        let sig = key.sign(&msg).to_bytes();
        push(format!("honest, {len}-byte message"), &pk, &msg, &sig);
        if len > 0 {
            push(
                format!("honest, {len}-byte message, truncated"),
                &pk,
                &msg[..len - 1],
                &sig,
            );
            let mut last = msg.clone();
            *last.last_mut().expect("non-empty") ^= 0x80;
            push(
                format!("honest, {len}-byte message, last byte flipped"),
                &pk,
                &last,
                &sig,
            );
        }
        let mut longer = msg.clone();
        longer.push(0);
        push(
            format!("honest, {len}-byte message, extended"),
            &pk,
            &longer,
            &sig,
        );
        // Right signature, wrong key.
        let other = signing_key(1000 + i as u64).verifying_key().to_bytes();
        push(
            format!("honest, {len}-byte message, wrong key"),
            &other,
            &msg,
            &sig,
        );
        // R and S swapped.
        let mut swapped = [0u8; 64];
        swapped[..32].copy_from_slice(&sig[32..]);
        swapped[32..].copy_from_slice(&sig[..32]);
        push(
            format!("honest, {len}-byte message, R and S swapped"),
            &pk,
            &msg,
            &swapped,
        );
    }

    // Every single bit flip of an honest signature, key and message.
    {
        let key = signing_key(77);
        let pk = key.verifying_key().to_bytes();
        let msg = b"flip me".to_vec();
        let sig = key.sign(&msg).to_bytes();
        for bit in 0..512 {
            let mut s = sig;
            s[bit / 8] ^= 1 << (bit % 8);
            push(format!("honest, sig bit {bit} flipped"), &pk, &msg, &s);
        }
        for bit in 0..256 {
            let mut p = pk;
            p[bit / 8] ^= 1 << (bit % 8);
            push(format!("honest, pk bit {bit} flipped"), &p, &msg, &sig);
        }
        for bit in 0..msg.len() * 8 {
            let mut m = msg.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            push(format!("honest, msg bit {bit} flipped"), &pk, &m, &sig);
        }
    }
    // Bit flips of a mixed-order valid signature: R bits and A bits (some flips land on other
    // valid encodings of related points).
    {
        let a = scalar_from_seed("flip mixed a", 0);
        let r = scalar_from_seed("flip mixed r", 0);
        let a_enc = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[3])
            .compress()
            .to_bytes();
        let r_enc = (EdwardsPoint::mul_base(&r) + EIGHT_TORSION[5])
            .compress()
            .to_bytes();
        let sig = sign_raw(&a, &a_enc, &r, &r_enc, msg0);
        for bit in 0..256 {
            let mut s = sig;
            s[bit / 8] ^= 1 << (bit % 8);
            push(
                format!("mixed-order, R bit {bit} flipped"),
                &a_enc,
                msg0,
                &s,
            );
            let mut p = a_enc;
            p[bit / 8] ^= 1 << (bit % 8);
            push(format!("mixed-order, A bit {bit} flipped"), &p, msg0, &sig);
        }
    }
    // Bit flips of small-order A (with R = rB, S = r, which is valid for every small-order A): a
    // flip that lands on another small-order encoding stays valid.
    {
        let r = scalar_from_seed("flip small r", 0);
        let r_enc = EdwardsPoint::mul_base(&r).compress().to_bytes();
        let sig = sig_bytes(&r_enc, &r.to_bytes());
        for (an, a) in small.iter().take(8) {
            for bit in 0..256 {
                let mut p = *a;
                p[bit / 8] ^= 1 << (bit % 8);
                push(
                    format!("small A {an}, bit {bit} flipped, R = rB, S = r"),
                    &p,
                    msg0,
                    &sig,
                );
            }
        }
    }

    // S >= l: S + l, S + 2l, ..., l itself, l + 1, 2^255, 2^256 - 1 (and l - 1, canonical).
    {
        let key = signing_key(99);
        let pk = key.verifying_key().to_bytes();
        let msg = b"malleable".to_vec();
        let sig = key.sign(&msg).to_bytes();
        let r: [u8; 32] = sig[..32].try_into().expect("R");
        let s: [u8; 32] = sig[32..].try_into().expect("S");
        push("honest, S".into(), &pk, &msg, &sig);
        let mut s_plus = s;
        for m in 1..=16 {
            match add_le(&s_plus, &l) {
                Some(next) => {
                    s_plus = next;
                    push(
                        format!("honest, S + {m} l"),
                        &pk,
                        &msg,
                        &sig_bytes(&r, &s_plus),
                    );
                }
                None => break,
            }
        }
        let mut high = [0u8; 32];
        high[31] = 0x80;
        let mut s_high = s;
        s_high[31] |= 0x80;
        let mut s_bit252 = s;
        s_bit252[31] |= 0x10;
        for (name, bad) in [
            ("S = l", l),
            ("S = l + 1", add_le(&l, &one()).expect("no overflow")),
            ("S = (l minus 1), canonical", (-Scalar::ONE).to_bytes()),
            ("S = 2^255", high),
            ("S = 2^256 - 1", [0xff; 32]),
            ("S with bit 255 set", s_high),
            ("S with bit 252 set", s_bit252),
        ] {
            push(format!("honest R, {name}"), &pk, &msg, &sig_bytes(&r, &bad));
        }
        // S = s + l on a mixed-order signature, and S = l where identity A and R would accept 0.
        let a = scalar_from_seed("S>=l mixed a", 0);
        let rr = scalar_from_seed("S>=l mixed r", 0);
        let a_enc = (EdwardsPoint::mul_base(&a) + EIGHT_TORSION[1])
            .compress()
            .to_bytes();
        let r_enc = (EdwardsPoint::mul_base(&rr) + EIGHT_TORSION[2])
            .compress()
            .to_bytes();
        let msig = sign_raw(&a, &a_enc, &rr, &r_enc, msg0);
        let ms: [u8; 32] = msig[32..].try_into().expect("S");
        push("mixed-order, S".into(), &a_enc, msg0, &msig);
        push(
            "mixed-order, S + l".into(),
            &a_enc,
            msg0,
            &sig_bytes(&r_enc, &add_le(&ms, &l).expect("s + l < 2^256")),
        );
        let id = one();
        push(
            "A = R = identity, S = 0".into(),
            &id,
            msg0,
            &sig_bytes(&id, &zero32),
        );
        push(
            "A = R = identity, S = l".into(),
            &id,
            msg0,
            &sig_bytes(&id, &l),
        );
        let two_l = add_le(&l, &l).expect("2l < 2^256");
        push(
            "A = R = identity, S = 2l".into(),
            &id,
            msg0,
            &sig_bytes(&id, &two_l),
        );
    }

    // All-zero, all-0xFF and identity inputs in combination.
    {
        let pks: [(&str, [u8; 32]); 4] = [
            ("zero", [0; 32]),
            ("ff", [0xff; 32]),
            ("identity", one()),
            ("7f..ff (y = 2^255 - 1)", {
                let mut b = [0xff; 32];
                b[31] = 0x7f;
                b
            }),
        ];
        let mut sigs: Vec<(&str, [u8; 64])> = vec![
            ("zero", [0; 64]),
            ("ff", [0xff; 64]),
            ("R zero, S ff", sig_bytes(&[0; 32], &[0xff; 32])),
            ("R ff, S zero", sig_bytes(&[0xff; 32], &[0; 32])),
            ("R identity, S zero", sig_bytes(&one(), &[0; 32])),
            ("R identity, S one", sig_bytes(&one(), &one())),
        ];
        sigs.push(("R zero, S one", sig_bytes(&[0; 32], &one())));
        let msgs: [(&str, Vec<u8>); 4] = [
            ("empty", vec![]),
            ("zero x32", vec![0; 32]),
            ("ff x32", vec![0xff; 32]),
            ("zero x10KiB", vec![0; 10 * 1024]),
        ];
        for (pn, pk) in &pks {
            for (sn, sig) in &sigs {
                for (mn, msg) in &msgs {
                    push(format!("pk {pn}, sig {sn}, msg {mn}"), pk, msg, sig);
                }
            }
        }
    }

    // Random bytes: fully random, random key with an honest-looking R, and random S < l.
    {
        let mut rng = SplitMix(0xdead_beef);
        for i in 0..200 {
            let pk: [u8; 32] = rng.bytes();
            let sig: [u8; 64] = rng.bytes();
            let len = rng.below(100);
            let msg = rng.vec(len);
            push(format!("random #{i}"), &pk, &msg, &sig);
        }
        for i in 0..100 {
            let pk: [u8; 32] = rng.bytes();
            let r: [u8; 32] = rng.bytes();
            let s = Scalar::from_bytes_mod_order(rng.bytes()).to_bytes();
            push(
                format!("random pk/R, canonical S #{i}"),
                &pk,
                msg0,
                &sig_bytes(&r, &s),
            );
        }
        // Random small-order-or-not encodings with y < 19 (where non-canonical twins exist).
        for i in 0..19u8 {
            for sign in [0u8, 1] {
                let mut e = [0u8; 32];
                e[0] = i;
                e[31] = sign << 7;
                push(
                    format!("A = R = (y = {i}, sign {sign}), S = 0"),
                    &e,
                    msg0,
                    &sig_bytes(&e, &zero32),
                );
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc8032_vectors_are_valid_and_agree() {
    let cases = rfc8032_cases();
    assert_eq!(cases.len(), 5);
    assert_eq!(
        cases[3].msg.len(),
        1023,
        "TEST 1024 has a 1023-byte message"
    );
    let counts = check_all("rfc8032", &cases);
    assert_eq!(counts.valid, 5, "every RFC 8032 vector is valid");
}

#[test]
fn speccheck_vectors_agree() {
    let cases = speccheck_cases();
    assert_eq!(cases.len(), 12);
    let counts = check_all("speccheck", &cases);
    // zebra's answers on this fixed file (pins the loading as well as the rule).
    assert_eq!(
        (counts.valid, counts.invalid, counts.wrong_length),
        (9, 3, 0)
    );
}

#[test]
fn cctv_vectors_agree() {
    let cases = cctv_cases();
    assert_eq!(cases.len(), 914);
    let counts = check_all("cctv", &cases);
    // zebra's answers on this fixed file; reading `msg` as hex instead of UTF-8 would change them.
    assert_eq!(
        (counts.valid, counts.invalid, counts.wrong_length),
        (826, 88, 0)
    );
}

#[test]
fn wycheproof_vectors_agree() {
    let with_verdicts = wycheproof_cases();
    assert_eq!(with_verdicts.len(), 151);
    // ZIP-215 accepts everything RFC 8032 (cofactorless, canonical) accepts.
    for (case, strict_valid) in &with_verdicts {
        if *strict_valid {
            assert_eq!(
                ours(case),
                Some(true),
                "RFC-valid but rejected: {}",
                case.describe()
            );
        }
    }
    let cases: Vec<Case> = with_verdicts.into_iter().map(|(c, _)| c).collect();
    let counts = check_all("wycheproof", &cases);
    // zebra's answers on this fixed file; the 12 wrong-length signatures are invalid for both.
    assert_eq!(
        (counts.valid, counts.invalid, counts.wrong_length),
        (89, 50, 12)
    );
}

#[test]
fn adversarial_cases_agree() {
    let cases = adversarial_cases();
    let counts = check_all("adversarial", &cases);
    assert_eq!(counts.wrong_length, 0);
    assert!(counts.valid >= 300 && counts.invalid >= 1000, "{counts:?}");

    // The generators build what they claim: every small-order pair with S = 0 that decodes is
    // valid, every mixed-order signature is valid, and every S >= l is rejected.
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in &cases {
        let v = ours(c).expect("fixed length");
        let kind = if c.name.starts_with("mixed A (+T") && !c.name.ends_with("other msg") {
            "mixed-order A/R, signed"
        } else if c.name.starts_with("honest A, mixed R") {
            "honest A, mixed-order R, signed"
        } else if c.name.contains(", S = 0") && c.name.starts_with("small A") {
            "small-order A and R, S = 0"
        } else if c.name.contains("S + ") || c.name.contains("S = l") || c.name.contains("S = 2") {
            "S >= l"
        } else {
            continue;
        };
        let e = by_kind.entry(kind).or_default();
        if v {
            e.0 += 1
        } else {
            e.1 += 1
        }
        if kind == "S >= l" {
            assert!(!v, "S >= l accepted: {}", c.describe());
        }
        if kind.contains("signed") {
            assert!(v, "mixed-order signature rejected: {}", c.describe());
        }
        if kind == "small-order A and R, S = 0" {
            // Valid needs both to decode; both decoding to small-order points implies valid (a
            // non-canonical y = p + d decodes, if at all, to the point with y = d, which need not
            // be small-order).
            let point = |b: &[u8]| CompressedEdwardsY(b.try_into().expect("32 bytes")).decompress();
            match (point(&c.pk), point(&c.sig[..32])) {
                (Some(a), Some(r)) if a.is_small_order() && r.is_small_order() => {
                    assert!(v, "small-order A, R with S = 0 rejected: {}", c.describe())
                }
                (Some(_), Some(_)) => {}
                _ => assert!(!v, "undecodable A or R accepted: {}", c.describe()),
            }
        }
    }
    for (kind, (v, i)) in &by_kind {
        println!("adversarial: {kind}: {v} valid, {i} invalid");
    }
    let (small_valid, _) = by_kind["small-order A and R, S = 0"];
    assert!(
        small_valid >= 100,
        "non-canonical small-order encodings are accepted"
    );
    let (_, s_big_invalid) = by_kind["S >= l"];
    assert!(s_big_invalid >= 15);
    // Mixed-order cases really are mixed: most fail the cofactorless equation.
    let cofactorless_failures = cases
        .iter()
        .filter(|c| c.name.starts_with("mixed A (+T") && !c.name.contains("other msg"))
        .filter(|c| {
            let (pk, sig) = c.fixed().expect("fixed");
            !cofactorless(&pk, &c.msg, &sig)
        })
        .count();
    println!(
        "adversarial: {cofactorless_failures} mixed-order signatures fail the cofactorless check"
    );
    assert!(cofactorless_failures >= 40);
}

/// Two invalid signatures whose errors cancel: `S1 = s1 + d`, `S2 = s2 - d`. A batch equation
/// without random weights (or with predictable ones) would accept both; each must still be
/// rejected, and their honest neighbours accepted, in every batch shape.
#[test]
fn cancelling_errors_do_not_pass_a_batch() {
    let msg = b"cancel".to_vec();
    let mut signed: Vec<([u8; 32], Vec<u8>, [u8; 64])> = (0..8u64)
        .map(|i| {
            let key = signing_key(700 + i);
            (
                key.verifying_key().to_bytes(),
                msg.clone(),
                key.sign(&msg).to_bytes(),
            )
        })
        .collect();
    let bump = |sig: &mut [u8; 64], d: Scalar| {
        let s: [u8; 32] = sig[32..].try_into().expect("S");
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).expect("canonical");
        sig[32..].copy_from_slice(&(s + d).to_bytes());
    };
    for (x, y, d) in [
        (2usize, 3usize, Scalar::ONE),
        (5, 6, scalar_from_seed("cancel", 0)),
    ] {
        bump(&mut signed[x].2, d);
        bump(&mut signed[y].2, -d);
    }
    let expected: Vec<bool> = signed
        .iter()
        .map(|(p, m, s)| zip215::verify(p, m, s))
        .collect();
    assert_eq!(
        expected,
        [true, true, false, false, true, false, false, true],
        "single answers"
    );
    for (p, m, s) in &signed {
        assert_eq!(zip215::verify(p, m, s), zebra(p, m, s));
    }
    let batch: Vec<SigItem<'_>> = signed
        .iter()
        .map(|(p, m, s)| SigItem {
            public_key: p,
            signature: s,
            message: m,
        })
        .collect();
    for chunk in [1, 4, 8, 256] {
        for _ in 0..8 {
            assert_eq!(
                CpuVerifier::new(chunk).verify_batch(&batch),
                expected,
                "chunk {chunk}"
            );
        }
    }
    assert_eq!(CpuVerifier::verify_chunk(&batch), expected);
}

/// `[S]B == R + [k]A` without the cofactor, to show the mixed-order cases need it.
fn cofactorless(pk: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let r_enc: [u8; 32] = sig[..32].try_into().expect("R");
    let s_enc: [u8; 32] = sig[32..].try_into().expect("S");
    let (Some(a), Some(r)) = (
        CompressedEdwardsY(*pk).decompress(),
        CompressedEdwardsY(r_enc).decompress(),
    ) else {
        return false;
    };
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_enc)) else {
        return false;
    };
    let k = challenge(&r_enc, pk, msg);
    EdwardsPoint::mul_base(&s) == r + k * a
}

/// Everything at once: one batch of every fixed-length case from every source, in the shapes of
/// `check_batches`. Prints the totals.
#[test]
fn whole_set_as_one_batch() {
    let mut cases = rfc8032_cases();
    cases.extend(speccheck_cases());
    cases.extend(cctv_cases());
    cases.extend(wycheproof_cases().into_iter().map(|(c, _)| c));
    cases.extend(adversarial_cases());
    let counts = check_all("all sources", &cases);
    assert!(counts.total() > 5000, "{counts:?}");
    assert!(counts.valid >= 1000 && counts.invalid >= 1000, "{counts:?}");
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

/// A signature built from a random seed and message, then corrupted in one of several ways.
fn corrupted(seed: [u8; 32], msg: Vec<u8>, how: u8, idx: u16) -> ([u8; 32], Vec<u8>, [u8; 64]) {
    let key = SigningKey::from_bytes(&seed);
    let mut pk = key.verifying_key().to_bytes();
    let mut msg = msg;
    let mut sig = key.sign(&msg).to_bytes();
    let idx = idx as usize;
    let t = EIGHT_TORSION[idx % 8];
    match how {
        0 => {}
        1 => sig[idx % 512 / 8] ^= 1 << (idx % 8),
        2 => pk[idx % 256 / 8] ^= 1 << (idx % 8),
        3 => {
            if msg.is_empty() {
                msg.push(idx as u8);
            } else {
                let i = idx % (msg.len() * 8);
                msg[i / 8] ^= 1 << (i % 8);
            }
        }
        // Small-order R, keeping S.
        4 => sig[..32].copy_from_slice(&t.compress().to_bytes()),
        // Small-order A, keeping the signature.
        5 => pk = t.compress().to_bytes(),
        // Mixed-order A and R, properly signed (valid cofactored only).
        6 => {
            let a = key.to_scalar();
            let r = Scalar::from_hash(Sha512::new().chain_update(seed).chain_update(&msg));
            let a_enc = (EdwardsPoint::mul_base(&a) + t).compress().to_bytes();
            let r_enc = (EdwardsPoint::mul_base(&r) + EIGHT_TORSION[(idx / 8) % 8])
                .compress()
                .to_bytes();
            pk = a_enc;
            sig = sign_raw(&a, &a_enc, &r, &r_enc, &msg);
        }
        // S + l.
        7 => {
            let s: [u8; 32] = sig[32..].try_into().expect("S");
            let s_plus = add_le(&s, &l_bytes()).expect("s + l < 2^256");
            sig[32..].copy_from_slice(&s_plus);
        }
        // Random signature bytes.
        8 => {
            let h = Sha512::new()
                .chain_update(b"random sig")
                .chain_update(seed)
                .finalize();
            sig.copy_from_slice(&h);
        }
        // Add a torsion point to an honest A without re-signing.
        _ => {
            let a = CompressedEdwardsY(pk)
                .decompress()
                .expect("honest key decodes");
            pk = (a + t).compress().to_bytes();
        }
    }
    (pk, msg, sig)
}

fn sig_case() -> impl Strategy<Value = ([u8; 32], Vec<u8>, [u8; 64])> {
    (
        any::<[u8; 32]>(),
        prop::collection::vec(any::<u8>(), 0..300),
        0u8..10,
        any::<u16>(),
    )
        .prop_map(|(seed, msg, how, idx)| corrupted(seed, msg, how, idx))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Ours agrees with zebra; and in a batch with four honest neighbours (enough for a batch
    /// equation), the case gets the same answer and the neighbours stay valid.
    #[test]
    fn random_corruptions_agree_with_zebra((pk, msg, sig) in sig_case()) {
        let mine = zip215::verify(&pk, &msg, &sig);
        let oracle = zebra(&pk, &msg, &sig);
        prop_assert_eq!(
            mine, oracle,
            "pk = {}, msg = {}, sig = {}", hex::encode(pk), hex::encode(&msg), hex::encode(sig)
        );

        let neighbours: Vec<([u8; 32], Vec<u8>, [u8; 64])> = (0..4u64)
            .map(|i| {
                let key = signing_key(500 + i);
                let m = format!("neighbour {i}").into_bytes();
                let s = key.sign(&m).to_bytes();
                (key.verifying_key().to_bytes(), m, s)
            })
            .collect();
        let mut batch: Vec<SigItem<'_>> = neighbours
            .iter()
            .map(|(p, m, s)| SigItem { public_key: p, signature: s, message: m })
            .collect();
        batch.insert(2, SigItem { public_key: &pk, signature: &sig, message: &msg });
        let got = CpuVerifier::default().verify_batch(&batch);
        prop_assert_eq!(got, vec![true, true, mine, true, true]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A random batch of corrupted and honest signatures, verified with a random chunk size,
    /// gives exactly the single answers (which equal zebra's).
    #[test]
    fn random_batches_match_single(
        cases in prop::collection::vec(sig_case(), 0..24),
        chunk in 1usize..12,
    ) {
        let expected: Vec<bool> = cases.iter().map(|(p, m, s)| zip215::verify(p, m, s)).collect();
        for ((p, m, s), e) in cases.iter().zip(&expected) {
            prop_assert_eq!(*e, zebra(p, m, s));
        }
        let batch: Vec<SigItem<'_>> = cases
            .iter()
            .map(|(p, m, s)| SigItem { public_key: p, signature: s, message: m })
            .collect();
        prop_assert_eq!(&CpuVerifier::new(chunk).verify_batch(&batch), &expected);
        prop_assert_eq!(&CpuVerifier::verify_chunk(&batch), &expected);
    }
}

// ---------------------------------------------------------------------------------------------
// The GPU verifier (WGSL through wgpu; lavapipe in CI)
// ---------------------------------------------------------------------------------------------

/// Every case of every source above plus 3,000 seeded random corruptions (the ten kinds of
/// [`corrupted`]), verified by the GPU in one batch cut into several dispatches: each answer must be
/// zebra's and the CPU verifier's. Then the same batch with a zero dispatch timeout: every dispatch
/// times out, the batch is verified on the CPU instead, the report says so, and the answers are the
/// same.
#[test]
fn gpu_agrees_on_every_case() {
    let test = "gpu_agrees_on_every_case";
    let config = GpuConfig {
        dispatch_size_max: 2048,
        ..GpuConfig::default()
    };
    let Some(gpu) = common::gpu::verifier(test, &config) else {
        return;
    };
    let mut cases = rfc8032_cases();
    cases.extend(speccheck_cases());
    cases.extend(cctv_cases());
    cases.extend(wycheproof_cases().into_iter().map(|(c, _)| c));
    cases.extend(adversarial_cases());
    let mut rng = SplitMix(0x6770_7532_3135);
    for i in 0..3000u64 {
        let len = rng.below(300);
        let (pk, msg, sig) = corrupted(
            rng.bytes(),
            rng.vec(len),
            (i % 10) as u8,
            rng.next_u64() as u16,
        );
        cases.push(Case::new(
            "random",
            format!("corruption {i}"),
            &pk,
            &msg,
            &sig,
        ));
    }
    let cases: Vec<Case> = cases.into_iter().filter(|c| c.fixed().is_some()).collect();
    let fixed = fixed_cases(&cases);
    let batch = items(&fixed);
    let expected: Vec<bool> = cases.iter().map(|c| zebra(&c.pk, &c.msg, &c.sig)).collect();
    let valid = expected.iter().filter(|v| **v).count();
    assert!(cases.len() > 10_000 && valid > 1000 && cases.len() - valid > 1000);

    let (got, report) = gpu.verify_batch_report(&batch);
    assert_eq!(report.fallback, None, "the GPU must not have fallen back");
    assert!(report.shares.iter().all(|s| s.backend == Backend::Gpu));
    let refs: Vec<&Case> = cases.iter().collect();
    assert_batch(test, "GPU", &refs, &expected, &got);
    let cpu = CpuVerifier::default().verify_batch(&batch);
    assert_batch(test, "CPU", &refs, &expected, &cpu);
    eprintln!(
        "{test}: {} cases ({valid} valid) agree on {}",
        cases.len(),
        gpu.adapter()
    );

    gpu.set_timeout(Duration::ZERO);
    let (fallback, report) = gpu.verify_batch_report(&batch);
    assert!(
        report.fallback.is_some(),
        "a zero timeout must fail the GPU"
    );
    assert!(report.shares.iter().all(|s| s.backend == Backend::Cpu));
    assert_batch(test, "CPU fallback", &refs, &expected, &fallback);

    // The verifier recovers from the timeouts: the next batch runs on the GPU again.
    gpu.set_timeout(GpuConfig::default().timeout);
    let (again, report) = gpu.verify_batch_report(&batch);
    assert_eq!(
        report.fallback, None,
        "the GPU must be usable after a timeout"
    );
    assert_batch(test, "GPU after recovery", &refs, &expected, &again);
}
