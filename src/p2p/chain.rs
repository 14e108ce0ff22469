//! The peers the chain names: the validators the staking registry holds (who may connect in)
//! and the addresses they published (whom to dial), read from the committed state.
//!
//! Bounded: at most `dial_max` peers are dialled, the active set first (by power), then the
//! other candidates by bonded tokens (they follow the chain, ready for their election); ties go
//! to the lower address, so every node picks the same peers from the same state.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use crate::storage::{StateReader, StorageError};
use crate::types::Address;

/// Who may connect in, and whom to dial where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainPeers {
    /// Registered validators that are not jailed.
    pub accepted: BTreeSet<Address>,
    /// Published addresses of the peers to dial (not `own`).
    pub dial: BTreeMap<Address, SocketAddr>,
}

/// The chain's peers at `reader`'s head, as seen by the node whose validator key is `own`.
pub fn chain_peers(
    reader: &StateReader<'_>,
    own: &Address,
    dial_max: usize,
) -> Result<ChainPeers, StorageError> {
    let registry = reader.registry()?;
    let active: BTreeMap<Address, u64> = registry.active.iter().copied().collect();
    let mut candidates: Vec<(Address, (u64, u64))> = registry
        .validators
        .iter()
        .filter(|(_, v)| !v.jailed)
        .map(|(a, v)| (*a, (active.get(a).copied().unwrap_or(0), v.tokens)))
        .collect();
    let accepted = candidates.iter().map(|(a, _)| *a).collect();
    // In the set before out of it, then by power and tokens, descending.
    candidates.sort_by(|(a, x), (b, y)| {
        let in_set = |a: &Address| active.contains_key(a);
        in_set(b).cmp(&in_set(a)).then(y.cmp(x)).then(a.cmp(b))
    });
    let mut dial = BTreeMap::new();
    for (a, _) in candidates {
        if dial.len() >= dial_max {
            break;
        }
        if a == *own {
            continue;
        }
        if let Some(socket) = reader.endpoint(&a)? {
            dial.insert(a, socket);
        }
    }
    Ok(ChainPeers { accepted, dial })
}
