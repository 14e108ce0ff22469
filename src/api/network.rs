//! What the node knows of itself on the network, shared by the front ends
//! (`mamey.network.v1.NetworkService`): the address of its key and whether it votes, the
//! addresses it listens on, a read-only view of its p2p peers, and how its head moves, from which
//! "catching up" is derived (the consensus engine exposes no sync state of its own).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{Api, ApiError};
use crate::p2p::{PeerInfo, PeerReader};
use crate::storage::ChainHead;
use crate::types::{Address, Hash};

/// A head whose block time is further behind this node's clock than this, and which moved within
/// [`HEAD_MOVING`], means the node is committing old blocks: catching up with its peers.
pub const CATCHING_UP_LAG: Duration = Duration::from_secs(10);
/// How recently the head must have moved to count as moving (a stalled chain is not catching up).
pub const HEAD_MOVING: Duration = Duration::from_secs(5);

/// The servers' bound addresses, known only once they are started (after the [`Api`] is built).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub rpc: SocketAddr,
    pub grpc: SocketAddr,
    pub metrics: Option<SocketAddr>,
}

/// The node's own network identity and what it observes; part of [`Api`].
pub struct NetworkInfo {
    /// The address of the node's key: the validator it votes as, and the identity it proves to
    /// peers.
    pub validator: Address,
    /// The node follows the chain without voting (`consensus.follower`).
    pub follower: bool,
    /// The p2p transport, when the node has peers configured.
    pub peers: Option<PeerReader>,
    endpoints: OnceLock<Endpoints>,
    /// When the head was last seen to change (or when this was built).
    head_moved: Arc<Mutex<Instant>>,
}

impl NetworkInfo {
    /// Starts a task that notes each change of `head` and ends with the pipeline (when the
    /// sender is dropped). Must run inside a tokio runtime.
    pub fn new(
        validator: Address,
        follower: bool,
        peers: Option<PeerReader>,
        mut head: watch::Receiver<ChainHead>,
    ) -> Self {
        let head_moved = Arc::new(Mutex::new(Instant::now()));
        let moved = head_moved.clone();
        tokio::spawn(async move {
            while head.changed().await.is_ok() {
                *moved.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
            }
        });
        Self {
            validator,
            follower,
            peers,
            endpoints: OnceLock::new(),
            head_moved,
        }
    }

    /// Records the servers' bound addresses (once; later calls are ignored).
    pub fn set_endpoints(&self, endpoints: Endpoints) {
        let _ = self.endpoints.set(endpoints);
    }

    fn head_moved_ago(&self) -> Duration {
        self.head_moved
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }
}

/// One address the node listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenView {
    /// `json-rpc`, `grpc`, `metrics`, `quic-ingest` or `p2p`.
    pub kind: &'static str,
    pub address: String,
}

/// `NetworkService.GetNodeInfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfoView {
    pub chain_id: u64,
    pub genesis_hash: Hash,
    pub version: String,
    pub validator: Address,
    pub follower: bool,
    /// The node's address is in the active set at the head.
    pub active: bool,
    pub sigverify_backend: String,
    pub listen: Vec<ListenView>,
    pub head: ChainHead,
    pub finalized_height: u64,
}

/// `NetworkService.GetSyncStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncView {
    pub head: ChainHead,
    pub finalized_height: u64,
    /// This node's clock minus the head's block time (0 if the head is ahead of the clock).
    pub head_age: Duration,
    pub head_moved_ago: Duration,
    pub catching_up: bool,
    /// Peers with an open connection, and peers known (configured or connected).
    pub peers_connected: usize,
    pub peers_known: usize,
}

/// `NetworkService.GetPeers`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeersView {
    /// The p2p listen address; `None` when the node runs without p2p (no peers configured).
    pub listen: Option<SocketAddr>,
    pub peers: Vec<PeerInfo>,
}

/// The sync rule: committing (head moved recently) blocks far older than the clock.
pub fn is_catching_up(head_age: Duration, head_moved_ago: Duration) -> bool {
    head_age > CATCHING_UP_LAG && head_moved_ago < HEAD_MOVING
}

impl Api {
    pub fn node_info(&self) -> Result<NodeInfoView, ApiError> {
        let n = &self.network;
        let head = *self.head.borrow();
        let active = self
            .validators()?
            .validators
            .iter()
            .any(|v| v.address == n.validator && v.power.is_some());
        let mut listen = Vec::new();
        if let Some(e) = n.endpoints.get() {
            listen.push(("json-rpc", e.rpc));
            listen.push(("grpc", e.grpc));
            listen.extend(e.metrics.map(|m| ("metrics", m)));
        }
        listen.extend(n.peers.as_ref().map(|p| ("p2p", p.local_addr())));
        let mut listen: Vec<ListenView> = listen
            .into_iter()
            .map(|(kind, a)| ListenView {
                kind,
                address: a.to_string(),
            })
            .collect();
        listen.push(ListenView {
            kind: "quic-ingest",
            address: self.ingest_info.quic.clone(),
        });
        Ok(NodeInfoView {
            chain_id: self.params.chain_id,
            genesis_hash: self.genesis_hash,
            version: env!("CARGO_PKG_VERSION").to_string(),
            validator: n.validator,
            follower: n.follower,
            active,
            sigverify_backend: self.sigverify_backend.clone(),
            listen,
            head,
            // Blocks are committed only once decided by BFT consensus: the head is final.
            finalized_height: head.height,
        })
    }

    pub fn peers(&self) -> PeersView {
        match &self.network.peers {
            None => PeersView {
                listen: None,
                peers: Vec::new(),
            },
            Some(p) => PeersView {
                listen: Some(p.local_addr()),
                peers: p.peers(),
            },
        }
    }

    pub fn sync_status(&self) -> SyncView {
        let head = *self.head.borrow();
        let now = crate::pipeline::now_ms();
        let head_age = Duration::from_millis(now.saturating_sub(head.timestamp_ms));
        let head_moved_ago = self.network.head_moved_ago();
        let peers = self.network.peers.as_ref().map(PeerReader::peers);
        let peers = peers.unwrap_or_default();
        SyncView {
            head,
            finalized_height: head.height,
            head_age,
            head_moved_ago,
            catching_up: is_catching_up(head_age, head_moved_ago),
            peers_connected: peers.iter().filter(|p| p.connected()).count(),
            peers_known: peers.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catching_up_needs_an_old_head_that_moves() {
        let s = Duration::from_secs;
        assert!(is_catching_up(s(60), s(1)), "old blocks committed now");
        assert!(!is_catching_up(s(60), s(60)), "a stalled chain");
        assert!(!is_catching_up(s(1), s(1)), "a live head");
        assert!(
            !is_catching_up(s(1), s(60)),
            "a quiet chain without empty blocks"
        );
    }
}
