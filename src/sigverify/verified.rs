//! Transactions whose signatures this node has already verified, by id, so that a peer's block
//! need not verify them again (with several validators, every client transaction reaches every
//! validator twice: gossiped at admission, then inside the proposer's block).
//!
//! Sound because an id is SHA-256 of the whole encoding, signature included: a transaction with
//! the same id has the same signature over the same bytes. Bounded: the oldest ids are forgotten
//! first (a forgotten id is only verified again). Membership is all it answers, so the hash set's
//! order never matters.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use crate::types::TxId;

pub struct VerifiedIds {
    capacity: usize,
    inner: Mutex<(HashSet<TxId>, VecDeque<TxId>)>,
}

impl VerifiedIds {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "a cache of verified ids holds something");
        Self {
            capacity,
            inner: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    /// Records ids whose signatures verified.
    pub fn insert_all(&self, ids: impl IntoIterator<Item = TxId>) {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *guard;
        for id in ids {
            if set.insert(id) {
                order.push_back(id);
                if order.len() > self.capacity {
                    if let Some(old) = order.pop_front() {
                        set.remove(&old);
                    }
                }
            }
        }
        debug_assert_eq!(set.len(), order.len());
    }

    /// For each id, whether its signature was verified here.
    pub fn contains_each(&self, ids: impl IntoIterator<Item = TxId>) -> Vec<bool> {
        let guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ids.into_iter().map(|id| guard.0.contains(&id)).collect()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Hash;

    #[test]
    fn remembers_the_newest_up_to_its_capacity() {
        let ids: Vec<TxId> = (0u8..5).map(|i| Hash::sha256(&[i])).collect();
        let v = VerifiedIds::new(3);
        v.insert_all(ids.iter().copied());
        v.insert_all([ids[4]]);
        assert_eq!(v.len(), 3);
        assert_eq!(
            v.contains_each(ids.iter().copied()),
            vec![false, false, true, true, true]
        );
    }
}
