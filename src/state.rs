//! The state commitment: a lattice hash (LtHash) over every account and every module state entry.
//!
//! `state_root = BLAKE3(L)` where `L = sum over accounts of E(address, account)` in `(Z/2^16)^1024`, and
//! `E` expands BLAKE3(domain || address || encoded account) to 2048 bytes. Adding or removing an
//! account is one expansion and a lane-wise add or subtract, so a block updates the root in time
//! proportional to the accounts it touched, and the root is still a pure function of the state alone
//! (not of history or of the order of updates). This is the construction of Bellare–Micciancio /
//! Lewi et al. (LtHash) that Solana adopted for its accounts hash.
//!
//! Invariant: `LtHash::of_state(S)` equals the hash maintained incrementally for `S` (tested).

use crate::codec::Encode;
use crate::types::{Account, Address, Hash, StateKey};

const LANES: usize = 1024;

/// The running lattice hash of the whole state.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash(Box<[u16; LANES]>);

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash(root {})", self.root())
    }
}

impl Default for LtHash {
    fn default() -> Self {
        Self::identity()
    }
}

impl LtHash {
    /// Encoded length: 1024 little-endian `u16` lanes.
    pub const ENCODED_LEN: usize = 2 * LANES;

    /// The hash of the empty state.
    pub fn identity() -> Self {
        LtHash(Box::new([0; LANES]))
    }

    /// The element of one account.
    pub fn of_account(address: &Address, account: &Account) -> Self {
        let mut h = blake3::Hasher::new_derive_key("mamey 2026 state lthash account v1");
        h.update(&address.0);
        h.update(&account.to_bytes());
        Self::expand(h)
    }

    /// The element of one module state entry: a domain apart from accounts, and within it one
    /// per module, since the key starts with the module's tag (and carries its length, so no
    /// key/value split collides with another).
    pub fn of_entry(key: &StateKey, value: &[u8]) -> Self {
        let mut h = blake3::Hasher::new_derive_key("mamey 2026 state lthash module v1");
        let key = key.as_bytes();
        h.update(&(key.len() as u64).to_le_bytes());
        h.update(key);
        h.update(value);
        Self::expand(h)
    }

    fn expand(h: blake3::Hasher) -> Self {
        let mut bytes = [0u8; Self::ENCODED_LEN];
        h.finalize_xof().fill(&mut bytes);
        let mut lanes = Box::new([0u16; LANES]);
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        LtHash(lanes)
    }

    pub fn add(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    pub fn sub(&mut self, other: &LtHash) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.wrapping_sub(*b);
        }
    }

    /// Replaces one account's contribution. `before` is `None` for an account that did not exist.
    pub fn update(&mut self, address: &Address, before: Option<&Account>, after: &Account) {
        if let Some(b) = before {
            self.sub(&Self::of_account(address, b));
        }
        self.add(&Self::of_account(address, after));
    }

    /// Hashes a whole state from scratch (for genesis and for checking the incremental hash).
    pub fn of_state<'a>(accounts: impl IntoIterator<Item = (&'a Address, &'a Account)>) -> Self {
        let mut h = Self::identity();
        for (a, acc) in accounts {
            h.add(&Self::of_account(a, acc));
        }
        h
    }

    /// The 32-byte state root committed in block headers.
    pub fn root(&self) -> Hash {
        Hash(*blake3::hash(&self.to_bytes()).as_bytes())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|l| l.to_le_bytes()).collect()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let mut lanes = Box::new([0u16; LANES]);
        for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
            *lane = u16::from_le_bytes([pair[0], pair[1]]);
        }
        Some(LtHash(lanes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn incremental_equals_from_scratch(
            ops in proptest::collection::vec((0u8..16, 0u64..1000, 0u64..5), 1..60)
        ) {
            let mut state: BTreeMap<Address, Account> = BTreeMap::new();
            let mut h = LtHash::identity();
            for (who, balance, nonce) in ops {
                let addr = Address([who; 32]);
                let after = Account { balance, nonce };
                h.update(&addr, state.get(&addr), &after);
                state.insert(addr, after);
            }
            prop_assert_eq!(h.root(), LtHash::of_state(state.iter()).root());
        }
    }

    #[test]
    fn order_independent_and_round_trips() {
        let a = (
            Address([1; 32]),
            Account {
                balance: 5,
                nonce: 0,
            },
        );
        let b = (
            Address([2; 32]),
            Account {
                balance: 7,
                nonce: 1,
            },
        );
        let h1 = LtHash::of_state([(&a.0, &a.1), (&b.0, &b.1)]);
        let h2 = LtHash::of_state([(&b.0, &b.1), (&a.0, &a.1)]);
        assert_eq!(h1, h2);
        assert_ne!(h1.root(), LtHash::identity().root());
        assert_eq!(LtHash::from_bytes(&h1.to_bytes()), Some(h1));
    }
}
