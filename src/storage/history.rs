//! The history of each address: every committed transaction that touches it (as sender, as a
//! transfer's recipient, or as a party in its events), and the blocks whose own events (standing
//! orders) name it, at the position after the block's last transaction; newest first. The same table lists each
//! payment under the digests of its references (`Module::references`: a UETR, a sender's
//! end-to-end id), which is how payments are found by them.
//!
//! Table `history`: key `address | !height (BE) | !index (BE)`, empty value; the complemented
//! height and index make a forward walk from an address go newest first. Like `txindex` it is
//! derived data written behind commits by the indexer: a committed block's entries wait in memory
//! (consulted by every lookup) until the indexer writes them in key order.

use std::collections::BTreeSet;

use lmdb::{Cursor as _, Transaction as _};

use super::{Result, Storage, TxLocation};
use crate::types::{Address, Block, Height, Receipt};

/// One entry of the history table.
pub(super) type HistoryKey = [u8; 44];

/// Most entries one history page returns.
pub const HISTORY_PAGE_MAX: usize = 1_000;

pub(super) fn history_key(address: &Address, height: Height, index: u32) -> HistoryKey {
    let mut k = [0u8; 44];
    k[..32].copy_from_slice(&address.0);
    k[32..40].copy_from_slice(&(!height).to_be_bytes());
    k[40..].copy_from_slice(&(!index).to_be_bytes());
    k
}

fn location_of(k: &[u8]) -> TxLocation {
    let mut h = [0u8; 8];
    h.copy_from_slice(&k[32..40]);
    let mut i = [0u8; 4];
    i.copy_from_slice(&k[40..44]);
    TxLocation {
        height: !u64::from_be_bytes(h),
        index: !u32::from_be_bytes(i),
    }
}

/// The history entries of a block: for each transaction, the addresses it touches.
pub(super) fn block_entries(block: &Block, receipts: &[Receipt]) -> Vec<HistoryKey> {
    let height = block.header.height;
    let mut out = Vec::with_capacity(block.transactions.len() * 2);
    for (i, tx) in block.transactions.iter().enumerate() {
        let index = i as u32;
        let more = tx.tx.payload.parties();
        let mut parties: Vec<&Address> = vec![&tx.tx.sender];
        if let Some(to) = tx.tx.payload.counterparty() {
            parties.push(to);
        }
        parties.extend(&more);
        if let Some(r) = receipts.get(i) {
            parties.extend(r.events.iter().flat_map(|e| e.addresses()));
        }
        parties.sort();
        parties.dedup();
        out.extend(parties.into_iter().map(|a| history_key(a, height, index)));
        // A payment's references (tagged digests, never an address) list it the same way, so
        // that it is found by UETR and by end-to-end id.
        for r in tx.tx.payload.references(&tx.tx.sender) {
            out.push(history_key(&Address(r.0), height, index));
        }
    }
    // The block's own events (standing orders), stored after its receipts, are listed at the
    // position after its last transaction.
    let n = block.transactions.len();
    for r in receipts.iter().skip(n) {
        let mut parties: Vec<&Address> = r.events.iter().flat_map(|e| e.addresses()).collect();
        parties.sort();
        parties.dedup();
        out.extend(
            parties
                .into_iter()
                .map(|a| history_key(a, height, n as u32)),
        );
    }
    out
}

impl Storage {
    /// Transactions that touch `address`, newest first: up to `limit` (at most
    /// [`HISTORY_PAGE_MAX`] and one more, so that a caller can tell whether a full page has a
    /// next one) older than `before` when given.
    pub fn account_history(
        &self,
        address: &Address,
        before: Option<TxLocation>,
        limit: usize,
    ) -> Result<Vec<TxLocation>> {
        let limit = limit.clamp(1, HISTORY_PAGE_MAX + 1);
        // Keys after `before`'s own (exclusive), or from the newest.
        let start = match before {
            Some(l) => history_key(address, l.height, l.index),
            None => history_key(address, Height::MAX, u32::MAX),
        };
        let in_range = |k: &[u8]| k.starts_with(&address.0) && (before.is_none() || k > &start[..]);
        let mut found: BTreeSet<HistoryKey> = self
            .unindexed_history
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .range(start..)
            .take_while(|k| k.starts_with(&address.0))
            .filter(|k| in_range(&k[..]))
            .take(limit)
            .copied()
            .collect();
        let txn = self.ro()?;
        let mut cursor = txn
            .open_ro_cursor(self.history)
            .map_err(self.err("open a cursor"))?;
        // Entries can be in memory and on disk at once while the indexer writes them: the set
        // keeps one of each.
        let mut taken = 0;
        for item in cursor.iter_from(start) {
            let (k, _) = item.map_err(self.err("read history"))?;
            if !k.starts_with(&address.0) || taken >= limit {
                break;
            }
            if in_range(k) {
                if let Ok(k) = HistoryKey::try_from(k) {
                    found.insert(k);
                    taken += 1;
                }
            }
        }
        Ok(found.iter().take(limit).map(|k| location_of(k)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_walk_newest_first_and_round_trip() {
        let a = Address([7; 32]);
        let keys = [
            history_key(&a, 10, 3),
            history_key(&a, 10, 0),
            history_key(&a, 9, 5),
        ];
        let mut sorted = keys;
        sorted.sort();
        assert_eq!(sorted, keys, "newest first");
        assert_eq!(
            location_of(&keys[2]),
            TxLocation {
                height: 9,
                index: 5
            }
        );
    }
}
