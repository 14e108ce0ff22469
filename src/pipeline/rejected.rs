//! Remembers why recently admitted transactions left the mempool without being committed, so that
//! `mamey_getTransaction` can say "rejected: <reason>". Bounded: the oldest entries are forgotten.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::mempool::DropReason;
use crate::types::TxId;

pub struct RejectedCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    reasons: HashMap<TxId, DropReason>,
    order: VecDeque<TxId>,
}

impl RejectedCache {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0);
        Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn record(&self, entries: impl IntoIterator<Item = (TxId, DropReason)>) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        for (id, reason) in entries {
            if g.reasons.insert(id, reason).is_none() {
                g.order.push_back(id);
            }
            while g.order.len() > self.capacity {
                if let Some(old) = g.order.pop_front() {
                    g.reasons.remove(&old);
                }
            }
        }
    }

    pub fn get(&self, id: &TxId) -> Option<DropReason> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.reasons.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Hash;

    #[test]
    fn bounded_oldest_first() {
        let c = RejectedCache::new(2);
        let r = DropReason::Expired { waited_ms: 1 };
        c.record((1..=3u8).map(|i| (Hash([i; 32]), r.clone())));
        assert_eq!(c.get(&Hash([1; 32])), None);
        assert_eq!(c.get(&Hash([3; 32])), Some(r));
    }
}
