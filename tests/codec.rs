//! Properties of the canonical binary encoding (`mameynode::codec`) and of the text forms of
//! addresses and hashes.
//!
//! - Round trips: random transactions, accounts, receipts, block headers and blocks encode, decode to
//!   the same value and re-encode to the same bytes; a transaction's id is the SHA-256 of its bytes.
//! - Canonicity: whenever bytes decode, re-encoding gives exactly those bytes back: for random byte
//!   strings, for byte strings of the right shape, and for random mutations of valid encodings.
//! - Rejection with the right typed error: truncation, trailing bytes, unknown versions and tags,
//!   over-long input (before any parsing), tampered blocks, and hostile transaction counts (which
//!   must fail fast and without allocating: checked with a per-thread allocation tracker).
//! - Text forms: Bech32m addresses round-trip and reject every single-character substitution; hashes
//!   are exactly 64 lowercase hex digits.
//! - No decoder panics on arbitrary bytes.

// The only unsafe code is the allocation-tracking global allocator below, which delegates to
// `System` unchanged.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature as DalekSignature, SigningKey, Verifier, VerifyingKey};
use mameynode::codec::{decode_exact, Decode, DecodeError, Encode};
use mameynode::modules::{compliance, identity};
use mameynode::types::block::{tx_root, BLOCK_TXS_MAX};
use mameynode::types::{
    Account, Address, AddressError, BankCall, Block, BlockHeader, Hash, HashParseError, Outcome,
    Payload, Receipt, Transaction, TxEnvelope, TX_SIZE_MAX,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------------
// Allocation tracking
// ---------------------------------------------------------------------------------------------

mod alloc_track {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static TRACKING: Cell<bool> = const { Cell::new(false) };
        static LARGEST: Cell<usize> = const { Cell::new(0) };
        static TOTAL: Cell<usize> = const { Cell::new(0) };
    }

    /// `System`, plus a per-thread record of the largest single allocation and the total bytes
    /// requested while [`measure`] runs on that thread. Tests run on many threads at once; counting
    /// per thread keeps their allocations apart.
    pub struct Tracking;

    fn note(size: usize) {
        // `try_with`: never panic inside the allocator, even while a thread is being torn down.
        let _ = TRACKING.try_with(|on| {
            if on.get() {
                let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
                let _ = TOTAL.try_with(|t| t.set(t.get().saturating_add(size)));
            }
        });
    }

    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            System.alloc(layout)
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            note(layout.size());
            System.alloc_zeroed(layout)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            note(new_size);
            System.realloc(ptr, layout, new_size)
        }
    }

    /// Runs `f` and returns its result with the largest single allocation and the total bytes
    /// allocated by this thread meanwhile.
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
        LARGEST.with(|l| l.set(0));
        TOTAL.with(|t| t.set(0));
        TRACKING.with(|on| on.set(true));
        let r = f();
        TRACKING.with(|on| on.set(false));
        (r, LARGEST.with(Cell::get), TOTAL.with(Cell::get))
    }
}

#[global_allocator]
static GLOBAL: alloc_track::Tracking = alloc_track::Tracking;

// ---------------------------------------------------------------------------------------------
// Layout of the encodings (from the documented format), used to aim mutations
// ---------------------------------------------------------------------------------------------

/// `version | chain_id u64 | sender [32] | nonce u64 | fee u64 | module tag | call tag | to [32] |
/// amount u64 | signature [64]`.
const TX_LEN: usize = 1 + 8 + 32 + 8 + 8 + 1 + 1 + 32 + 8 + 64;
const TX_PAYLOAD_TAG_AT: usize = 1 + 8 + 32 + 8 + 8;
const TX_BANK_TAG_AT: usize = TX_PAYLOAD_TAG_AT + 1;
const ACCOUNT_LEN: usize = 1 + 8 + 8;
/// `version (2) | tx_id [32] | outcome tag | fee u64 | event count u32` (no events).
const RECEIPT_LEN: usize = 1 + 32 + 1 + 8 + 4;
const RECEIPT_VERSION: u8 = 2;
const RECEIPT_OUTCOME_AT: usize = 1 + 32;
/// `version | chain_id | height | parent [32] | timestamp | proposer [32] | tx_root [32] |
/// state_root [32] | tx_count u32`.
const HEADER_LEN: usize = 1 + 8 + 8 + 32 + 8 + 32 + 32 + 32 + 4;
const HEADER_TX_ROOT_AT: usize = 1 + 8 + 8 + 32 + 8 + 32;
const HEADER_TX_COUNT_AT: usize = HEADER_LEN - 4;

/// A limit comfortably above any block these tests build.
const BLOCK_LEN_MAX: usize = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn arb_envelope() -> impl Strategy<Value = TxEnvelope> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<u64>(),
    )
        .prop_map(|(seed, chain_id, nonce, fee, to, amount)| {
            let key = SigningKey::from_bytes(&seed);
            let payload = Payload::Bank(BankCall::Transfer {
                to: Address(to),
                amount,
            });
            Transaction::sign(&key, chain_id, nonce, fee, payload)
        })
}

fn arb_account() -> impl Strategy<Value = Account> {
    (any::<u64>(), any::<u64>()).prop_map(|(balance, nonce)| Account { balance, nonce })
}

fn arb_receipt() -> impl Strategy<Value = Receipt> {
    (
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<Option<(u8, u32, String)>>(),
    )
        .prop_map(|(id, fee_paid, refused)| Receipt {
            events: Vec::new(),
            tx_id: Hash(id),
            outcome: match refused {
                None => Outcome::Success,
                Some((module, code, message)) => Outcome::Refused {
                    module,
                    code,
                    message: message.chars().take(100).collect(),
                },
            },
            fee_paid,
        })
}

/// One signed call of each identity and compliance kind (the decoders outside input reaches).
fn module_calls() -> Vec<TxEnvelope> {
    use identity::{ClaimType, DidDocument, IdentityCall, StatusChange, Subject};
    let key = SigningKey::from_bytes(&[9; 32]);
    let me = Address(key.verifying_key().to_bytes());
    let mut doc = DidDocument::of_key(&me);
    doc.services.push(identity::Service {
        fragment: "hub".into(),
        kind: "LinkedDomains".into(),
        endpoint: "https://x.example".into(),
    });
    let calls: Vec<Payload> = vec![
        IdentityCall::CreateDid {
            document: doc.clone(),
        }
        .into(),
        IdentityCall::UpdateDid {
            did: [1; 16],
            document: doc,
        }
        .into(),
        IdentityCall::SetIssuer {
            issuer: me,
            types: vec![ClaimType::Kyc, ClaimType::Jurisdiction],
            name: "kyc".into(),
        }
        .into(),
        IdentityCall::IssueClaim {
            subject: Subject::Address(me),
            claim_type: ClaimType::Jurisdiction,
            level: 3,
            jurisdiction: Some(*b"DE"),
            expires_ms: Some(7),
            evidence: Some(Hash([4; 32])),
        }
        .into(),
        IdentityCall::SetClaimStatus {
            claim: Hash([2; 32]),
            change: StatusChange::Suspend,
        }
        .into(),
        compliance::ComplianceCall::SetRules {
            asset: Hash([3; 32]),
            rules: compliance::AssetRules {
                sender: vec![compliance::Condition::Claim {
                    claim_type: ClaimType::Kyc,
                    min_level: 1,
                    issuers: vec![me],
                }],
                receiver: vec![compliance::Condition::JurisdictionNotIn(vec![*b"KP"])],
                max_holders: Some(10),
                max_balance: Some(5),
                velocity: Some(compliance::Velocity {
                    amount: 9,
                    period_ms: 1000,
                }),
                travel_threshold: Some(100),
            },
        }
        .into(),
        compliance::ComplianceCall::SetBlocked {
            address: me,
            blocked: true,
            reason: "OFAC".into(),
        }
        .into(),
    ];
    calls
        .into_iter()
        .enumerate()
        .map(|(i, p)| Transaction::sign(&key, 7, i as u64, 1, p))
        .collect()
}

prop_compose! {
    fn arb_header()(
        chain_id in any::<u64>(),
        height in any::<u64>(),
        parent in any::<[u8; 32]>(),
        timestamp_ms in any::<u64>(),
        proposer in any::<[u8; 32]>(),
        tx_root in any::<[u8; 32]>(),
        state_root in any::<[u8; 32]>(),
        tx_count in any::<u32>(),
    ) -> BlockHeader {
        BlockHeader {
            chain_id,
            height,
            parent_hash: Hash(parent),
            timestamp_ms,
            proposer: Address(proposer),
            tx_root: Hash(tx_root),
            state_root: Hash(state_root),
            tx_count,
        }
    }
}

/// A consistent block: `tx_count` and `tx_root` match its 0..20 random transactions.
fn arb_block() -> impl Strategy<Value = Block> {
    (arb_header(), vec(arb_envelope(), 0..20)).prop_map(|(mut header, transactions)| {
        let ids: Vec<Hash> = transactions.iter().map(|t| t.id).collect();
        header.tx_root = tx_root(&ids);
        header.tx_count = u32::try_from(transactions.len()).expect("fewer than 20");
        Block {
            header,
            transactions,
        }
    })
}

/// A change to a byte string. Positions are `Index`es so that they always land inside the input.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip(Index, u8),
    /// Overwrite one byte.
    Set(Index, u8),
    /// Keep only a (possibly empty, never full) prefix.
    Truncate(Index),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Insert bytes before a position.
    Insert(Index, Vec<u8>),
    /// Remove 1..8 bytes from a position.
    Delete(Index, usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => vec(any::<u8>(), 1..16).prop_map(Mutation::Extend),
        1 => (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1..8usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn mutate(bytes: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in mutations {
        match m {
            Mutation::Flip(i, mask) if !b.is_empty() => {
                let at = i.index(b.len());
                b[at] ^= mask;
            }
            Mutation::Set(i, byte) if !b.is_empty() => {
                let at = i.index(b.len());
                b[at] = *byte;
            }
            Mutation::Truncate(i) if !b.is_empty() => {
                let keep = i.index(b.len());
                b.truncate(keep);
            }
            Mutation::Extend(extra) => b.extend_from_slice(extra),
            Mutation::Insert(i, extra) => {
                let at = i.index(b.len() + 1);
                b.splice(at..at, extra.iter().copied());
            }
            Mutation::Delete(i, n) if !b.is_empty() => {
                let at = i.index(b.len());
                let end = (at + n).min(b.len());
                b.drain(at..end);
            }
            _ => {}
        }
    }
    b
}

// ---------------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------------

/// `decode(b)` succeeding implies `encode(decode(b)) == b`. Returns whether `b` decoded.
fn assert_canonical<T: Decode + Encode + std::fmt::Debug>(b: &[u8], len_max: usize) -> bool {
    match decode_exact::<T>(b, len_max) {
        Ok(v) => {
            assert_eq!(
                v.to_bytes(),
                b,
                "{} decoded from {} bytes but re-encodes differently: {v:?}",
                T::WHAT,
                b.len()
            );
            true
        }
        Err(DecodeError::TooLarge { len, max }) => {
            assert!(b.len() > len_max && len == b.len() && max == len_max);
            false
        }
        Err(_) => false,
    }
}

/// The envelope's invariants, for bytes that `TxEnvelope::decode` accepted (or that signing made).
fn assert_envelope_consistent(env: &TxEnvelope) {
    assert_eq!(
        env.tx.to_bytes(),
        &env.bytes[..],
        "bytes are not tx's encoding"
    );
    assert_eq!(env.id, Hash::sha256(&env.bytes), "id is not sha256(bytes)");
    assert_eq!(
        env.signing_message(),
        &env.bytes[..env.bytes.len() - 64],
        "signing message is not the encoding less the signature"
    );
    assert_eq!(env.public_key(), &env.tx.sender.0);
    assert_eq!(env.signature(), &env.tx.signature.0);
}

/// Every decoder on the same bytes: none may panic, and any success must be canonical.
fn check_all_decoders(b: &[u8]) {
    assert_canonical::<Transaction>(b, TX_SIZE_MAX);
    assert_canonical::<Account>(b, usize::MAX);
    assert_canonical::<Receipt>(b, usize::MAX);
    assert_canonical::<BlockHeader>(b, usize::MAX);
    assert_canonical::<Block>(b, BLOCK_LEN_MAX);
    // Identity and compliance state (what a node reads back from its own storage).
    assert_canonical::<identity::state::DidRecord>(b, usize::MAX);
    assert_canonical::<identity::state::DidVersion>(b, usize::MAX);
    assert_canonical::<identity::state::TrustedIssuer>(b, usize::MAX);
    assert_canonical::<identity::state::Claim>(b, usize::MAX);
    assert_canonical::<identity::state::SubjectClaims>(b, usize::MAX);
    assert_canonical::<compliance::state::RulesEntry>(b, usize::MAX);
    assert_canonical::<compliance::state::Blocked>(b, usize::MAX);
    match TxEnvelope::decode(b, TX_SIZE_MAX) {
        Ok(env) => {
            assert_eq!(&env.bytes[..], b);
            assert_envelope_consistent(&env);
        }
        Err(e) => assert_eq!(
            Err(e),
            decode_exact::<Transaction>(b, TX_SIZE_MAX),
            "envelope and transaction decoders disagree"
        ),
    }
}

fn tx_ids(txs: &[TxEnvelope]) -> Vec<Hash> {
    txs.iter().map(|t| t.id).collect()
}

fn signed(seed: u8, nonce: u64) -> TxEnvelope {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let payload = Payload::Bank(BankCall::Transfer {
        to: Address([seed.wrapping_add(1); 32]),
        amount: 1000 + nonce,
    });
    Transaction::sign(&key, 7, nonce, 10, payload)
}

fn header_with(tx_count: u32, tx_root: Hash) -> BlockHeader {
    BlockHeader {
        chain_id: 7,
        height: 3,
        parent_hash: Hash([1; 32]),
        timestamp_ms: 1_700_000_000_000,
        proposer: Address([2; 32]),
        tx_root,
        state_root: Hash([3; 32]),
        tx_count,
    }
}

fn block_of(transactions: Vec<TxEnvelope>) -> Block {
    let header = header_with(
        u32::try_from(transactions.len()).expect("small"),
        tx_root(&tx_ids(&transactions)),
    );
    Block {
        header,
        transactions,
    }
}

fn is_unexpected_end<T: std::fmt::Debug>(r: &Result<T, DecodeError>) -> bool {
    matches!(r, Err(DecodeError::UnexpectedEnd { .. }))
}

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn transaction_round_trips(env in arb_envelope()) {
        assert_envelope_consistent(&env);
        let bytes = env.tx.to_bytes();
        prop_assert_eq!(bytes.len(), TX_LEN);
        prop_assert_eq!(env.id, Hash::sha256(&bytes));

        let tx = decode_exact::<Transaction>(&bytes, TX_SIZE_MAX).expect("decodes");
        prop_assert_eq!(&tx, &env.tx);
        prop_assert_eq!(tx.to_bytes(), bytes.clone());

        let again = TxEnvelope::decode(&bytes, TX_SIZE_MAX).expect("decodes");
        prop_assert_eq!(&again, &env);
        prop_assert_eq!(again.id, Hash::sha256(&bytes));

        // The signature signs exactly the encoding less the signature.
        let vk = VerifyingKey::from_bytes(env.public_key()).expect("a real key");
        let sig = DalekSignature::from_bytes(env.signature());
        prop_assert!(vk.verify(env.signing_message(), &sig).is_ok());
    }

    #[test]
    fn account_round_trips(a in arb_account()) {
        let bytes = a.to_bytes();
        prop_assert_eq!(bytes.len(), ACCOUNT_LEN);
        prop_assert_eq!(bytes.len(), Account::ENCODED_LEN);
        let back = decode_exact::<Account>(&bytes, ACCOUNT_LEN).expect("decodes");
        prop_assert_eq!(back, a);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn receipt_round_trips(r in arb_receipt()) {
        let bytes = r.to_bytes();
        if r.outcome == Outcome::Success {
            prop_assert_eq!(bytes.len(), RECEIPT_LEN);
        }
        let back = decode_exact::<Receipt>(&bytes, usize::MAX).expect("decodes");
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn header_round_trips(h in arb_header()) {
        let bytes = h.to_bytes();
        prop_assert_eq!(bytes.len(), HEADER_LEN);
        let back = decode_exact::<BlockHeader>(&bytes, HEADER_LEN).expect("decodes");
        prop_assert_eq!(&back, &h);
        prop_assert_eq!(back.to_bytes(), bytes);
        prop_assert_eq!(back.hash(), h.hash());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn block_round_trips(block in arb_block()) {
        let bytes = block.to_bytes();
        let expected_len = HEADER_LEN
            + block.transactions.iter().map(|t| 4 + t.bytes.len()).sum::<usize>();
        prop_assert_eq!(bytes.len(), expected_len);

        let back = decode_exact::<Block>(&bytes, bytes.len()).expect("decodes");
        prop_assert_eq!(&back, &block);
        prop_assert_eq!(back.to_bytes(), bytes.clone());
        prop_assert_eq!(back.tx_ids(), tx_ids(&block.transactions));
        prop_assert_eq!(back.header.tx_root, tx_root(&back.tx_ids()));
        prop_assert_eq!(back.header.tx_count as usize, back.transactions.len());
        for tx in &back.transactions {
            assert_envelope_consistent(tx);
        }

        // The header alone is a prefix of the block and decodes on its own.
        let header = decode_exact::<BlockHeader>(&bytes[..HEADER_LEN], HEADER_LEN)
            .expect("header decodes");
        prop_assert_eq!(&header, &block.header);
        prop_assert_eq!(back.hash(), block.header.hash());
    }
}

/// The Merkle root against an independent statement of RFC 6962's definition: split at
/// `k = next_power_of_two(n) / 2`, the largest power of two strictly below `n`.
#[test]
fn tx_root_matches_rfc6962_reference() {
    fn reference(ids: &[Hash]) -> Hash {
        match ids.len() {
            0 => Hash::sha256(b""),
            1 => Hash::sha256(&[&[0u8][..], &ids[0].0].concat()),
            n => {
                let k = n.next_power_of_two() / 2;
                let l = reference(&ids[..k]);
                let r = reference(&ids[k..]);
                Hash::sha256(&[&[1u8][..], &l.0, &r.0].concat())
            }
        }
    }
    let ids: Vec<Hash> = (0u8..70).map(|i| Hash::sha256(&[i])).collect();
    for n in 0..=ids.len() {
        assert_eq!(tx_root(&ids[..n]), reference(&ids[..n]), "n = {n}");
    }
    // Order matters, and a leaf cannot pass for the node above it.
    assert_ne!(tx_root(&ids[..2]), tx_root(&[ids[1], ids[0]]));
    assert_ne!(tx_root(&ids[..2]), tx_root(&[tx_root(&ids[..2])]));
}

// ---------------------------------------------------------------------------------------------
// Canonicity
// ---------------------------------------------------------------------------------------------

/// Random bytes, half of them starting with the version byte `1` so that decoders get past it.
fn arb_noise() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), vec(any::<u8>(), 0..600)).prop_map(|(versioned, mut b)| {
        if versioned && !b.is_empty() {
            b[0] = 1;
        }
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// No decoder panics on arbitrary bytes, and any that decodes is canonical.
    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(b in arb_noise()) {
        check_all_decoders(&b);
    }

    /// Bytes of exactly the right shape (right length, known version and tags, anything in the
    /// free fields) always decode, and re-encode to themselves.
    #[test]
    fn every_well_shaped_byte_string_decodes_canonically(
        tx in vec(any::<u8>(), TX_LEN),
        account in vec(any::<u8>(), ACCOUNT_LEN),
        receipt in vec(any::<u8>(), RECEIPT_LEN),
        header in vec(any::<u8>(), HEADER_LEN),
    ) {
        let mut tx = tx;
        tx[0] = 1;
        tx[TX_PAYLOAD_TAG_AT] = 1;
        tx[TX_BANK_TAG_AT] = 1;
        prop_assert!(assert_canonical::<Transaction>(&tx, TX_SIZE_MAX));
        let env = TxEnvelope::decode(&tx, TX_SIZE_MAX).expect("decodes");
        prop_assert_eq!(&env.bytes[..], &tx[..]);
        assert_envelope_consistent(&env);

        let mut account = account;
        account[0] = 1;
        prop_assert!(assert_canonical::<Account>(&account, ACCOUNT_LEN));

        let mut receipt = receipt;
        receipt[0] = RECEIPT_VERSION;
        receipt[RECEIPT_OUTCOME_AT] = 0;
        receipt[RECEIPT_LEN - 4..].copy_from_slice(&[0; 4]);
        prop_assert!(assert_canonical::<Receipt>(&receipt, RECEIPT_LEN));

        let mut header = header;
        header[0] = 1;
        prop_assert!(assert_canonical::<BlockHeader>(&header, HEADER_LEN));
    }

    /// Identity and compliance calls (DID documents, claims, rules) mutated: canonical or refused.
    #[test]
    fn mutated_module_calls_decode_canonically_or_not_at_all(
        which in 0usize..7,
        mutations in vec(arb_mutation(), 1..4),
    ) {
        let calls = module_calls();
        let env = &calls[which];
        prop_assert!(assert_canonical::<Transaction>(&env.bytes, TX_SIZE_MAX));
        let b = mutate(&env.bytes, &mutations);
        check_all_decoders(&b);
    }

    #[test]
    fn mutated_transactions_decode_canonically_or_not_at_all(
        env in arb_envelope(),
        mutations in vec(arb_mutation(), 1..4),
    ) {
        let b = mutate(&env.bytes, &mutations);
        check_all_decoders(&b);
    }

    #[test]
    fn mutated_small_types_decode_canonically_or_not_at_all(
        a in arb_account(),
        r in arb_receipt(),
        h in arb_header(),
        mutations in vec(arb_mutation(), 1..4),
    ) {
        check_all_decoders(&mutate(&a.to_bytes(), &mutations));
        check_all_decoders(&mutate(&r.to_bytes(), &mutations));
        check_all_decoders(&mutate(&h.to_bytes(), &mutations));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn mutated_blocks_decode_canonically_or_not_at_all(
        block in arb_block(),
        mutations in vec(arb_mutation(), 1..4),
    ) {
        let b = mutate(&block.to_bytes(), &mutations);
        assert_canonical::<Block>(&b, BLOCK_LEN_MAX);
        assert_canonical::<BlockHeader>(&b, BLOCK_LEN_MAX);
    }
}

/// A flip of any single bit of a transaction either leaves it decodable (a free field changed, and
/// the result is canonical) or is caught as an unknown version or tag: there is no third outcome.
#[test]
fn every_single_bit_flip_of_a_transaction_is_canonical_or_typed() {
    let env = signed(9, 4);
    for at in 0..env.bytes.len() {
        for bit in 0..8 {
            let mut b = env.bytes.to_vec();
            b[at] ^= 1 << bit;
            let r = TxEnvelope::decode(&b, TX_SIZE_MAX);
            match at {
                0 => assert!(
                    matches!(r, Err(DecodeError::UnknownVersion { found, supported: 1, .. }) if found == b[0]),
                    "{r:?}"
                ),
                // Another module's tag: the rest is read as that module's call (canonical or a
                // typed error); no module's tag: unknown.
                TX_PAYLOAD_TAG_AT if mameynode::modules::module_name(b[at]).is_some() => {
                    if let Ok(got) = r {
                        assert_envelope_consistent(&got);
                    }
                }
                TX_PAYLOAD_TAG_AT => assert!(
                    matches!(r, Err(DecodeError::UnknownTag { tag, .. }) if tag == b[at]),
                    "{r:?}"
                ),
                // Another bank call: the rest of the bytes are read as that call, which either
                // fits exactly (canonical) or is a typed error (unknown tag, short input, trailing
                // bytes, an over-long length prefix).
                TX_BANK_TAG_AT => {
                    if let Ok(got) = r {
                        assert_eq!(&got.bytes[..], &b[..]);
                        assert_envelope_consistent(&got);
                    }
                }
                _ => {
                    let got = r.expect("a flip in a free field still decodes");
                    assert_eq!(&got.bytes[..], &b[..]);
                    assert_envelope_consistent(&got);
                    assert_ne!(got.id, env.id);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rejection with the right error
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_strict_prefix_is_unexpected_end(
        env in arb_envelope(),
        a in arb_account(),
        r in arb_receipt(),
        h in arb_header(),
    ) {
        for n in 0..env.bytes.len() {
            let p = &env.bytes[..n];
            let got = TxEnvelope::decode(p, TX_SIZE_MAX);
            prop_assert!(is_unexpected_end(&got), "prefix of {} bytes: {:?}", n, got);
            let got = decode_exact::<Transaction>(p, TX_SIZE_MAX);
            prop_assert!(is_unexpected_end(&got), "prefix of {} bytes: {:?}", n, got);
        }
        let a = a.to_bytes();
        for n in 0..a.len() {
            let got = decode_exact::<Account>(&a[..n], usize::MAX);
            prop_assert!(is_unexpected_end(&got), "prefix of {} bytes: {:?}", n, got);
        }
        let r = r.to_bytes();
        for n in 0..r.len() {
            let got = decode_exact::<Receipt>(&r[..n], usize::MAX);
            prop_assert!(is_unexpected_end(&got), "prefix of {} bytes: {:?}", n, got);
        }
        let h = h.to_bytes();
        for n in 0..h.len() {
            let got = decode_exact::<BlockHeader>(&h[..n], usize::MAX);
            prop_assert!(is_unexpected_end(&got), "prefix of {} bytes: {:?}", n, got);
        }
    }

    #[test]
    fn trailing_bytes_are_rejected(
        env in arb_envelope(),
        a in arb_account(),
        r in arb_receipt(),
        h in arb_header(),
        extra in vec(any::<u8>(), 1..64),
    ) {
        let with_extra = |b: &[u8]| [b, &extra[..]].concat();
        let trailing = |got: Result<(), DecodeError>| {
            matches!(got, Err(DecodeError::TrailingBytes { count, .. }) if count == extra.len())
        };

        let b = with_extra(&env.bytes);
        let got = TxEnvelope::decode(&b, TX_SIZE_MAX);
        prop_assert!(trailing(got.clone().map(drop)), "{:?}", got);
        prop_assert!(trailing(decode_exact::<Transaction>(&b, TX_SIZE_MAX).map(drop)));
        prop_assert!(trailing(decode_exact::<Account>(&with_extra(&a.to_bytes()), usize::MAX).map(drop)));
        prop_assert!(trailing(decode_exact::<Receipt>(&with_extra(&r.to_bytes()), usize::MAX).map(drop)));
        prop_assert!(trailing(decode_exact::<BlockHeader>(&with_extra(&h.to_bytes()), usize::MAX).map(drop)));

        // A block's length is fixed by its header's count: extra bytes after the last transaction
        // are trailing, not another transaction.
        let block = block_of(vec![env.clone()]);
        let got = decode_exact::<Block>(&with_extra(&block.to_bytes()), BLOCK_LEN_MAX);
        prop_assert!(trailing(got.clone().map(drop)), "{:?}", got);
        let empty = block_of(vec![]);
        let got = decode_exact::<Block>(&with_extra(&empty.to_bytes()), BLOCK_LEN_MAX);
        prop_assert!(trailing(got.clone().map(drop)), "{:?}", got);
    }

    #[test]
    fn unknown_versions_are_rejected(
        env in arb_envelope(),
        a in arb_account(),
        r in arb_receipt(),
        h in arb_header(),
        version in any::<u8>().prop_filter("not the known version", |v| *v != 1),
    ) {
        let with_version = |b: &[u8]| {
            let mut b = b.to_vec();
            b[0] = version;
            b
        };
        let unknown = |got: Result<(), DecodeError>, what: &str| match got {
            Err(DecodeError::UnknownVersion { what: w, found, supported }) => {
                w == what && found == version && supported == 1
            }
            _ => false,
        };

        let b = with_version(&env.bytes);
        prop_assert!(unknown(TxEnvelope::decode(&b, TX_SIZE_MAX).map(drop), "transaction"));
        prop_assert!(unknown(decode_exact::<Transaction>(&b, TX_SIZE_MAX).map(drop), "transaction"));
        prop_assert!(unknown(decode_exact::<Account>(&with_version(&a.to_bytes()), usize::MAX).map(drop), "account"));
        if version != RECEIPT_VERSION {
            let got = decode_exact::<Receipt>(&with_version(&r.to_bytes()), usize::MAX).map(drop);
            prop_assert!(
                matches!(got, Err(DecodeError::UnknownVersion { what: "receipt", found, supported: RECEIPT_VERSION }) if found == version),
                "{:?}", got
            );
        }
        prop_assert!(unknown(decode_exact::<BlockHeader>(&with_version(&h.to_bytes()), usize::MAX).map(drop), "block header"));
        let block = block_of(vec![env.clone()]);
        prop_assert!(unknown(decode_exact::<Block>(&with_version(&block.to_bytes()), BLOCK_LEN_MAX).map(drop), "block header"));

        // A block holding a transaction of an unknown version is rejected for that transaction.
        let mut b = block.to_bytes();
        b[HEADER_LEN + 4] = version;
        prop_assert!(unknown(decode_exact::<Block>(&b, BLOCK_LEN_MAX).map(drop), "transaction"));
    }

    #[test]
    fn unknown_tags_are_rejected(
        env in arb_envelope(),
        r in arb_receipt(),
        tag in any::<u8>(),
    ) {
        let at = |i: usize, v: u8| {
            let mut b = env.bytes.to_vec();
            b[i] = v;
            b
        };
        // Modules: every tag of the module list (bank, staking, identity, compliance, ...).
        if mameynode::modules::module_name(tag).is_none() {
            let got = TxEnvelope::decode(&at(TX_PAYLOAD_TAG_AT, tag), TX_SIZE_MAX);
            prop_assert_eq!(got, Err(DecodeError::UnknownTag { what: "payload module", tag }));
        }
        // Bank calls: 1 native transfer, 2..=13 issued assets, 14 a transfer with a travel record.
        if tag == 0 || tag > 14 {
            let got = TxEnvelope::decode(&at(TX_BANK_TAG_AT, tag), TX_SIZE_MAX);
            prop_assert_eq!(got, Err(DecodeError::UnknownTag { what: "bank call", tag }));
        }
        // Receipt outcomes: 0 success, 1 refused on the record.
        if tag > 1 {
            let mut b = r.to_bytes();
            b[RECEIPT_OUTCOME_AT] = tag;
            let got = decode_exact::<Receipt>(&b, usize::MAX);
            prop_assert_eq!(got, Err(DecodeError::UnknownTag { what: "receipt outcome", tag }));
        }
    }

    /// The size limit is checked before parsing: over-long input is `TooLarge` whatever it holds,
    /// even when it starts with a valid transaction (which would otherwise be `TrailingBytes`) or
    /// with garbage (which would otherwise be `UnknownVersion`).
    #[test]
    fn input_over_the_limit_is_too_large_before_parsing(
        env in arb_envelope(),
        fill in any::<u8>(),
        over in 1..64usize,
    ) {
        let len = TX_SIZE_MAX + over;
        let mut padded = env.bytes.to_vec();
        padded.resize(len, fill);
        let garbage = vec![0xFF; len];
        for b in [&padded, &garbage] {
            prop_assert_eq!(
                TxEnvelope::decode(b, TX_SIZE_MAX).map(drop),
                Err(DecodeError::TooLarge { len, max: TX_SIZE_MAX })
            );
            // A caller cannot raise the protocol limit.
            prop_assert_eq!(
                TxEnvelope::decode(b, usize::MAX).map(drop),
                Err(DecodeError::TooLarge { len, max: TX_SIZE_MAX })
            );
            prop_assert_eq!(
                decode_exact::<Transaction>(b, TX_SIZE_MAX).map(drop),
                Err(DecodeError::TooLarge { len, max: TX_SIZE_MAX })
            );
        }

        // A node's own lower limit applies to otherwise valid transactions.
        let n = env.bytes.len();
        prop_assert_eq!(
            TxEnvelope::decode(&env.bytes, n - 1).map(drop),
            Err(DecodeError::TooLarge { len: n, max: n - 1 })
        );
        prop_assert!(TxEnvelope::decode(&env.bytes, n).is_ok());

        let a = Account { balance: 1, nonce: 2 }.to_bytes();
        prop_assert_eq!(
            decode_exact::<Account>(&a, a.len() - 1),
            Err(DecodeError::TooLarge { len: a.len(), max: a.len() - 1 })
        );
        let block = block_of(vec![env.clone()]).to_bytes();
        prop_assert_eq!(
            decode_exact::<Block>(&block, block.len() - 1).map(drop),
            Err(DecodeError::TooLarge { len: block.len(), max: block.len() - 1 })
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Blocks whose header disagrees with their transactions are rejected: a tampered root, and the
    /// same transactions reordered or with one left out (the header updated to match in count).
    #[test]
    fn blocks_inconsistent_with_their_header_are_rejected(
        txs in vec(arb_envelope(), 2..8),
        byte in any::<Index>(),
        mask in 1..=255u8,
        (i, j) in (any::<Index>(), any::<Index>()),
    ) {
        let block = block_of(txs.clone());
        let invalid = |got: Result<Block, DecodeError>| {
            matches!(got, Err(DecodeError::InvalidValue { what: "block", .. }))
        };

        // Tampered tx_root (in the value and in the bytes).
        let mut bytes = block.to_bytes();
        bytes[HEADER_TX_ROOT_AT + byte.index(32)] ^= mask;
        prop_assert!(invalid(decode_exact::<Block>(&bytes, BLOCK_LEN_MAX)));
        let mut tampered = block.clone();
        tampered.header.tx_root.0[byte.index(32)] ^= mask;
        prop_assert!(invalid(decode_exact::<Block>(&tampered.to_bytes(), BLOCK_LEN_MAX)));

        // Reordered transactions under the original header.
        let (i, j) = (i.index(txs.len()), j.index(txs.len()));
        if txs[i].id != txs[j].id {
            let mut reordered = block.clone();
            reordered.transactions.swap(i, j);
            prop_assert!(invalid(decode_exact::<Block>(&reordered.to_bytes(), BLOCK_LEN_MAX)));
        }

        // One transaction left out, the count adjusted but not the root.
        let mut short = block.clone();
        short.transactions.remove(i);
        short.header.tx_count -= 1;
        prop_assert!(invalid(decode_exact::<Block>(&short.to_bytes(), BLOCK_LEN_MAX)));

        // The count raised without a transaction behind it: the input ends early.
        let mut bytes = block.to_bytes();
        bytes[HEADER_TX_COUNT_AT..HEADER_LEN].copy_from_slice(&(block.header.tx_count + 1).to_le_bytes());
        prop_assert!(is_unexpected_end(&decode_exact::<Block>(&bytes, BLOCK_LEN_MAX)));
    }
}

/// A transaction inside a block that is itself malformed is rejected with its own error.
#[test]
fn a_malformed_transaction_inside_a_block_is_rejected() {
    let block = block_of(vec![signed(1, 0), signed(2, 0)]);
    let bytes = block.to_bytes();
    let second_at = HEADER_LEN + 4 + TX_LEN;

    // The second transaction's payload tag.
    let mut b = bytes.clone();
    b[second_at + 4 + TX_PAYLOAD_TAG_AT] = 9;
    assert_eq!(
        decode_exact::<Block>(&b, BLOCK_LEN_MAX),
        Err(DecodeError::UnknownTag {
            what: "payload module",
            tag: 9
        })
    );

    // The second transaction's length prefix one too short: the transaction is truncated.
    let mut b = bytes.clone();
    b[second_at..second_at + 4].copy_from_slice(&(TX_LEN as u32 - 1).to_le_bytes());
    assert!(is_unexpected_end(&decode_exact::<Block>(&b, BLOCK_LEN_MAX)));

    // One too long: the transaction has a trailing byte (the block's last byte moves into it).
    let mut b = bytes.clone();
    b[second_at..second_at + 4].copy_from_slice(&(TX_LEN as u32 + 1).to_le_bytes());
    assert!(is_unexpected_end(&decode_exact::<Block>(&b, BLOCK_LEN_MAX)));
    b.push(0);
    assert!(matches!(
        decode_exact::<Block>(&b, BLOCK_LEN_MAX),
        Err(DecodeError::TrailingBytes {
            what: "transaction",
            count: 1
        })
    ));

    // A length prefix over the transaction size limit is refused before reading on.
    let mut b = bytes;
    b[second_at..second_at + 4].copy_from_slice(&(TX_SIZE_MAX as u32 + 1).to_le_bytes());
    assert!(matches!(
        decode_exact::<Block>(&b, BLOCK_LEN_MAX),
        Err(DecodeError::LengthOutOfRange { .. })
    ));
}

/// A header claiming an absurd number of transactions over a tiny body fails at once, without
/// allocating for the claimed count.
#[test]
fn hostile_transaction_counts_fail_fast_without_allocating() {
    let cases: [(u32, usize); 6] = [
        (u32::MAX, 0),
        (u32::MAX, 64),
        (BLOCK_TXS_MAX as u32 + 1, 0),
        (BLOCK_TXS_MAX as u32, 0),
        (BLOCK_TXS_MAX as u32, 16),
        (1 << 20, 4),
    ];
    for (count, body_len) in cases {
        let mut bytes = header_with(count, Hash::ZERO).to_bytes();
        bytes.extend(vec![0u8; body_len]);
        let started = Instant::now();
        let (got, largest, total) =
            alloc_track::measure(|| decode_exact::<Block>(&bytes, BLOCK_LEN_MAX));
        let took = started.elapsed();
        assert!(got.is_err(), "count {count}: {got:?}");
        if count as usize > BLOCK_TXS_MAX {
            assert!(
                matches!(got, Err(DecodeError::LengthOutOfRange { len, max: BLOCK_TXS_MAX, .. }) if len == count as usize),
                "count {count}: {got:?}"
            );
        } else {
            assert!(is_unexpected_end(&got), "count {count}: {got:?}");
        }
        assert!(
            largest <= 16 * 1024 && total <= 64 * 1024,
            "count {count}, body {body_len}: largest allocation {largest} B, total {total} B"
        );
        assert!(
            took < Duration::from_millis(200),
            "count {count}: took {took:?}"
        );
    }
}

/// However large the input, decoding a block never allocates more up front than the protocol's
/// transaction limit allows (`BLOCK_TXS_MAX` envelopes), and never for a count the input cannot hold.
///
/// Note: the up-front reservation assumes 4 bytes per transaction, while the smallest valid entry
/// is `4 + TX_LEN` bytes, so a body of `4 * BLOCK_TXS_MAX` zero bytes (512 KiB) makes the decoder
/// reserve `BLOCK_TXS_MAX * size_of::<TxEnvelope>()` (about 26 MiB) before failing on the first
/// transaction: bounded, but about 50 times the input.
#[test]
fn block_preallocation_is_bounded() {
    let cap = BLOCK_TXS_MAX * std::mem::size_of::<TxEnvelope>();
    for body_len in [4, 400, 4 * BLOCK_TXS_MAX, 8 * BLOCK_TXS_MAX] {
        let mut bytes = header_with(BLOCK_TXS_MAX as u32, Hash::ZERO).to_bytes();
        bytes.extend(vec![0u8; body_len]);
        let (got, largest, _) = alloc_track::measure(|| decode_exact::<Block>(&bytes, usize::MAX));
        assert!(is_unexpected_end(&got), "{got:?}");
        let for_body = (body_len / 4) * std::mem::size_of::<TxEnvelope>();
        assert!(
            largest <= cap && largest <= for_body.max(1024),
            "body {body_len}: largest allocation {largest} B (cap {cap} B)"
        );
    }
}

/// The tracker itself works (else the test above would pass vacuously).
#[test]
fn allocation_tracker_sees_allocations() {
    let (v, largest, total) = alloc_track::measure(|| vec![0u8; 1 << 20]);
    assert_eq!(v.len(), 1 << 20);
    assert!(largest >= 1 << 20 && total >= 1 << 20);
    let block = block_of(vec![signed(1, 0)]);
    let bytes = block.to_bytes();
    let (got, _, total) = alloc_track::measure(|| decode_exact::<Block>(&bytes, BLOCK_LEN_MAX));
    assert_eq!(got, Ok(block));
    assert!(total > 0);
}

// ---------------------------------------------------------------------------------------------
// Text forms
// ---------------------------------------------------------------------------------------------

/// Characters to substitute into an address: the whole Bech32 alphabet, the four letters it leaves
/// out, the separator, upper case, whitespace, punctuation and a non-ASCII letter.
const SUBSTITUTES: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l1bio QPZXLM-_.é\t";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn address_text_round_trips(bytes in any::<[u8; 32]>()) {
        let a = Address(bytes);
        let s = a.to_string();
        prop_assert!(s.starts_with("mamey1"), "{}", s);
        prop_assert_eq!(s.len(), 6 + 52 + 6);
        prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        prop_assert_eq!(s.parse::<Address>(), Ok(a));
        prop_assert_eq!(format!("{a:?}"), format!("Address({s})"));
        // Bech32 readers accept the all-uppercase form (BIP-173/350) and nothing mixed.
        prop_assert_eq!(s.to_ascii_uppercase().parse::<Address>(), Ok(a));
        let mut mixed = s.clone();
        mixed.replace_range(0..1, "M");
        prop_assert!(mixed.parse::<Address>().is_err());
        // serde uses the same text form.
        let json = serde_json::to_string(&a).expect("serialises");
        prop_assert_eq!(&json, &format!("\"{s}\""));
        prop_assert_eq!(serde_json::from_str::<Address>(&json).expect("deserialises"), a);
    }

    /// Bech32m detects every single substituted character, in the prefix, the separator, the data
    /// and the checksum alike.
    #[test]
    fn every_single_character_substitution_in_an_address_is_rejected(bytes in any::<[u8; 32]>()) {
        let s = Address(bytes).to_string();
        let chars: Vec<char> = s.chars().collect();
        for i in 0..chars.len() {
            for c in SUBSTITUTES.chars().filter(|&c| c != chars[i]) {
                let mut typo = chars.clone();
                typo[i] = c;
                let typo: String = typo.into_iter().collect();
                prop_assert!(
                    typo.parse::<Address>().is_err(),
                    "{:?} (position {}, {:?} -> {:?}) parsed", typo, i, chars[i], c
                );
            }
        }
        // Dropping, doubling and swapping characters are caught too.
        for i in 0..chars.len() {
            let mut dropped = chars.clone();
            dropped.remove(i);
            prop_assert!(dropped.iter().collect::<String>().parse::<Address>().is_err());
            let mut doubled = chars.clone();
            doubled.insert(i, chars[i]);
            prop_assert!(doubled.iter().collect::<String>().parse::<Address>().is_err());
            if i + 1 < chars.len() && chars[i] != chars[i + 1] {
                let mut swapped = chars.clone();
                swapped.swap(i, i + 1);
                prop_assert!(swapped.iter().collect::<String>().parse::<Address>().is_err());
            }
        }
    }

    #[test]
    fn hash_text_round_trips(bytes in any::<[u8; 32]>()) {
        let h = Hash(bytes);
        let s = h.to_string();
        prop_assert_eq!(s.len(), 64);
        prop_assert!(s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert_eq!(&s, &h.to_hex());
        prop_assert_eq!(s.parse::<Hash>(), Ok(h));
        prop_assert_eq!(format!("{h:?}"), format!("Hash({s})"));
        let json = serde_json::to_string(&h).expect("serialises");
        prop_assert_eq!(serde_json::from_str::<Hash>(&json).expect("deserialises"), h);
    }

    /// Uppercase hex is not the canonical form and is rejected, whether one digit or all of them.
    #[test]
    fn uppercase_hash_hex_is_rejected(bytes in any::<[u8; 32]>(), at in any::<Index>()) {
        let mut bytes = bytes;
        // Make sure there is a letter to upper-case at a chosen position.
        let i = at.index(32);
        bytes[i] |= 0xA0;
        let s = Hash(bytes).to_string();
        prop_assert!(matches!(s.to_ascii_uppercase().parse::<Hash>(), Err(HashParseError::Hex(_))));
        let mut one = s.clone();
        one.replace_range(2 * i..2 * i + 1, &s[2 * i..2 * i + 1].to_ascii_uppercase());
        prop_assert_ne!(&one, &s);
        prop_assert!(matches!(one.parse::<Hash>(), Err(HashParseError::Hex(_))));
    }

    /// No text parser panics on arbitrary strings, and whatever parses is the canonical form up to
    /// what the format allows (surrounding whitespace and all-uppercase for addresses).
    #[test]
    fn text_parsers_never_panic(s in "\\PC{0,80}", hexish in "[0-9a-fA-F g]{60,68}") {
        for s in [&s, &hexish] {
            if let Ok(a) = s.parse::<Address>() {
                prop_assert_eq!(a.to_string(), s.trim().to_ascii_lowercase());
            }
            if let Ok(h) = s.parse::<Hash>() {
                prop_assert_eq!(&h.to_string(), s);
            }
        }
    }
}

#[test]
fn address_parse_errors_are_typed() {
    use bech32::{Bech32, Bech32m, Hrp};
    let hrp = Hrp::parse("mamey").expect("valid hrp");

    let other = bech32::encode::<Bech32m>(Hrp::parse("cosmos").expect("valid hrp"), &[5; 32])
        .expect("encodes");
    assert_eq!(
        other.parse::<Address>(),
        Err(AddressError::WrongPrefix("cosmos".into()))
    );
    for len in [0, 20, 31, 33, 40] {
        let s = bech32::encode::<Bech32m>(hrp, &vec![5; len]).expect("encodes");
        assert_eq!(s.parse::<Address>(), Err(AddressError::Length(len)), "{s}");
    }
    // The same data under the original Bech32 checksum is not a Bech32m address.
    let bech32 = bech32::encode::<Bech32>(hrp, &[5; 32]).expect("encodes");
    assert!(matches!(
        bech32.parse::<Address>(),
        Err(AddressError::Bech32(_))
    ));
    for s in ["", "mamey1", "mamey", "1", "mamey1qqqq", "MAMEY1qqqq"] {
        assert!(s.parse::<Address>().is_err(), "{s:?}");
    }
}

#[test]
fn hash_parse_errors_are_typed() {
    let s = Hash([0xab; 32]).to_string();
    assert_eq!(s[1..].parse::<Hash>(), Err(HashParseError::Length(63)));
    assert_eq!(
        format!("{s}0").parse::<Hash>(),
        Err(HashParseError::Length(65))
    );
    assert_eq!("".parse::<Hash>(), Err(HashParseError::Length(0)));
    let mut bad = s.clone();
    bad.replace_range(10..11, "g");
    assert!(matches!(bad.parse::<Hash>(), Err(HashParseError::Hex(_))));
    // 64 bytes, but not 64 ASCII digits.
    let multibyte = format!("{}é", &s[..62]);
    assert_eq!(multibyte.len(), 64);
    assert!(matches!(
        multibyte.parse::<Hash>(),
        Err(HashParseError::Hex(_))
    ));
    assert!(format!("0x{}", &s[2..]).parse::<Hash>().is_err());
    assert!(format!(" {}", &s[1..]).parse::<Hash>().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Receipts carrying module events round-trip, and every prefix of one is a typed error.
    #[test]
    fn receipts_with_events_round_trip(
        r in arb_receipt(),
        events in vec(
            (1u8..12, "[a-z_]{1,20}", vec(("[a-z]{1,8}", 0u8..4, any::<[u8; 32]>(), any::<u128>(), "[ -~]{0,40}"), 0..6)),
            0..4,
        ),
    ) {
        let mut r = r;
        r.events = events
            .into_iter()
            .map(|(module, kind, attributes)| mameynode::types::Event {
                module,
                kind,
                attributes: attributes
                    .into_iter()
                    .map(|(k, which, bytes, amount, text)| {
                        use mameynode::types::AttrValue;
                        let v = match which {
                            0 => AttrValue::Address(Address(bytes)),
                            1 => AttrValue::Id(Hash(bytes)),
                            2 => AttrValue::Amount(amount),
                            _ => AttrValue::Text(text),
                        };
                        (k, v)
                    })
                    .collect(),
            })
            .collect();
        let bytes = r.to_bytes();
        let back = decode_exact::<Receipt>(&bytes, usize::MAX).expect("decodes");
        prop_assert_eq!(&back, &r);
        for cut in 0..bytes.len() {
            prop_assert!(decode_exact::<Receipt>(&bytes[..cut], usize::MAX).is_err());
        }
    }
}
