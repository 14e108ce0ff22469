//! Outbound links: one bounded queue and one dialler per peer this node sends to, and who may
//! connect in.
//!
//! Configured peers (`p2p.peers`) are fixed for the process's life. Peers from the chain — the
//! addresses validators published in the staking registry — follow the committed state:
//! [`Outbound::set_chain_peers`] starts a dialler for a new one, restarts one whose address
//! changed and stops those no longer listed (a configured peer always wins over its published
//! address). Bounded: at most the configured peers plus the chain peers the node passes, which
//! the caller limits (`p2p.chain_peers_max`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;

use super::peers::{Direction, PeerTable};
use super::{
    check_hello, exporter, hello, read_hello, PeerAddr, ROLE_DIALER, ROLE_LISTENER, SERVER_NAME,
};
use crate::types::Address;

/// A peer's frames on their way out, already length-checked.
type Frames = mpsc::Sender<Arc<Vec<u8>>>;

/// One peer this node dials and sends to.
struct Link {
    queue: Frames,
    socket: SocketAddr,
    configured: bool,
    dialler: tokio::task::AbortHandle,
}

impl Drop for Link {
    fn drop(&mut self) {
        // The dialler may be waiting out a back-off or a handshake, where a closed queue is not
        // noticed: stop it outright (its connection and table registration go with it).
        self.dialler.abort();
    }
}

/// The peers this node sends to. Cloning is cheap.
#[derive(Clone)]
pub(super) struct Outbound {
    links: Arc<RwLock<BTreeMap<Address, Link>>>,
    endpoint: quinn::Endpoint,
    key: Arc<SigningKey>,
    table: PeerTable,
    send_queue_max: usize,
}

impl Outbound {
    /// Starts dialling every configured peer. Must run inside a tokio runtime.
    pub(super) fn start(
        endpoint: quinn::Endpoint,
        key: Arc<SigningKey>,
        table: PeerTable,
        send_queue_max: usize,
        configured: Vec<PeerAddr>,
    ) -> Self {
        let out = Outbound {
            links: Arc::default(),
            endpoint,
            key,
            table,
            send_queue_max,
        };
        {
            let mut links = out.write();
            for peer in configured {
                let link = out.spawn(&peer, true);
                links.insert(peer.address, link);
            }
        }
        out
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<Address, Link>> {
        // Every update is one insert or remove: a poisoned lock still holds a consistent map.
        self.links.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<Address, Link>> {
        self.links.write().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self, peer: &PeerAddr, configured: bool) -> Link {
        let (queue, rx) = mpsc::channel(self.send_queue_max);
        self.table.set_dial(peer.address, Some(peer.socket));
        let task = tokio::spawn(dial(
            self.endpoint.clone(),
            self.key.clone(),
            peer.clone(),
            rx,
            self.table.clone(),
        ));
        Link {
            queue,
            socket: peer.socket,
            configured,
            dialler: task.abort_handle(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Queues `frame` for every peer; a full queue drops it (consensus repeats what matters).
    pub(super) fn broadcast(&self, frame: &Arc<Vec<u8>>) {
        for link in self.read().values() {
            let _ = link.queue.try_send(frame.clone());
        }
    }

    pub(super) fn send(&self, to: &Address, frame: Arc<Vec<u8>>) {
        if let Some(link) = self.read().get(to) {
            let _ = link.queue.try_send(frame);
        }
    }

    /// Dials exactly `chain` among the peers that are not configured: new ones are dialled, one
    /// whose address changed is dialled again there, and those left out are dropped.
    pub(super) fn set_chain_peers(&self, chain: &BTreeMap<Address, SocketAddr>) {
        let mut links = self.write();
        let gone: Vec<Address> = links
            .iter()
            .filter(|(a, l)| !l.configured && chain.get(a) != Some(&l.socket))
            .map(|(a, _)| *a)
            .collect();
        for a in gone {
            links.remove(&a);
            self.table.set_dial(a, None);
        }
        for (&address, &socket) in chain {
            if links.contains_key(&address) {
                continue; // configured, or already dialled at this address
            }
            tracing::info!(peer = %address, %socket, "dialling a validator at its published address");
            let link = self.spawn(&PeerAddr { address, socket }, false);
            links.insert(address, link);
        }
    }
}

/// Who may connect in: the fixed set (genesis validators and configured peers) and the
/// validators the chain registers now. Cloning is cheap.
#[derive(Clone)]
pub(super) struct Accepted {
    fixed: Arc<BTreeSet<Address>>,
    chain: Arc<RwLock<BTreeSet<Address>>>,
}

impl Accepted {
    pub(super) fn new(fixed: BTreeSet<Address>) -> Self {
        Accepted {
            fixed: Arc::new(fixed),
            chain: Arc::default(),
        }
    }

    pub(super) fn contains(&self, peer: &Address) -> bool {
        self.fixed.contains(peer)
            || self
                .chain
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains(peer)
    }

    pub(super) fn set_chain(&self, chain: BTreeSet<Address>) {
        *self.chain.write().unwrap_or_else(|e| e.into_inner()) = chain;
    }
}

/// Keeps a connection to `peer` and sends its queue on it, reconnecting after failures.
async fn dial(
    endpoint: quinn::Endpoint,
    key: Arc<SigningKey>,
    peer: PeerAddr,
    mut queue: mpsc::Receiver<Arc<Vec<u8>>>,
    table: PeerTable,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Some((conn, mut send)) = connect(&endpoint, &key, &peer).await {
            let _registration = table.register(peer.address, Direction::Outbound, &conn);
            backoff = Duration::from_millis(100);
            while let Some(frame) = queue.recv().await {
                let len = (frame.len() as u32).to_le_bytes();
                if send.write_all(&len).await.is_err() || send.write_all(&frame).await.is_err() {
                    break;
                }
            }
            if queue.is_closed() {
                return;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn connect(
    endpoint: &quinn::Endpoint,
    key: &SigningKey,
    peer: &PeerAddr,
) -> Option<(quinn::Connection, quinn::SendStream)> {
    let conn = endpoint
        .connect(peer.socket, SERVER_NAME)
        .ok()?
        .await
        .ok()?;
    let ekm = exporter(&conn)?;
    let mut send = conn.open_uni().await.ok()?;
    send.write_all(&hello(key, ROLE_DIALER, &ekm)).await.ok()?;
    let mut recv = conn.accept_uni().await.ok()?;
    let h = read_hello(&mut recv).await?;
    if check_hello(&h, ROLE_LISTENER, &ekm) != Some(peer.address) {
        tracing::warn!(peer = %peer.address, socket = %peer.socket, "peer is not the validator it should be");
        conn.close(1u8.into(), b"wrong validator");
        return None;
    }
    tracing::info!(peer = %peer.address, socket = %peer.socket, "connected to peer");
    Some((conn, send))
}
