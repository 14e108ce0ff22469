//! The peer table: which connections to and from each peer are open right now, for a read-only
//! snapshot ([`PeerReader::peers`]) that operators query (`NetworkService.GetPeers`).
//!
//! It owns no connection: the task that serves a connection registers it and holds the
//! [`Registration`], which takes the entry's connection handle out again when the task ends, so
//! the table never keeps a connection alive after its task let go of it. Liveness is read from
//! the connection itself at snapshot time (`close_reason`), because the dialler only notices a
//! dead connection at its next write. Bounded: entries are the configured peers and peers that
//! proved an accepted address in their hello (the validator set and configured followers).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Bans, PeerAddr};
use crate::types::Address;

/// Which side opened a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    /// This node dialled the peer and sends on it.
    Outbound,
    /// The peer dialled this node and sends on it.
    Inbound,
}

/// One open connection in the table.
struct Link {
    conn: quinn::Connection,
    since_ms: u64,
}

#[derive(Default)]
struct Entry {
    /// Where this node dials the peer, for a configured peer.
    dial: Option<SocketAddr>,
    outbound: Option<Link>,
    inbound: Option<Link>,
}

impl Entry {
    fn link(&mut self, direction: Direction) -> &mut Option<Link> {
        match direction {
            Direction::Outbound => &mut self.outbound,
            Direction::Inbound => &mut self.inbound,
        }
    }
}

/// Shared between the transport's tasks (which register connections) and its readers.
#[derive(Clone, Default)]
pub(super) struct PeerTable(Arc<Mutex<BTreeMap<Address, Entry>>>);

impl PeerTable {
    /// A table that lists every configured peer, connected or not.
    pub(super) fn configured(peers: &[PeerAddr]) -> Self {
        let entries = peers
            .iter()
            .map(|p| {
                let entry = Entry {
                    dial: Some(p.socket),
                    ..Entry::default()
                };
                (p.address, entry)
            })
            .collect();
        PeerTable(Arc::new(Mutex::new(entries)))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Address, Entry>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every update is
        // one insert or remove), so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets (or, with `None`, clears) where this node dials `peer`; a peer that is neither
    /// dialled nor connected leaves the table.
    pub(super) fn set_dial(&self, peer: Address, dial: Option<SocketAddr>) {
        let mut entries = self.lock();
        let entry = entries.entry(peer).or_default();
        entry.dial = dial;
        if entry.dial.is_none() && entry.outbound.is_none() && entry.inbound.is_none() {
            entries.remove(&peer);
        }
    }

    /// Records `conn` as the open connection with `peer` in `direction` (replacing an older one:
    /// a peer that reconnects), until the returned registration is dropped.
    pub(super) fn register(
        &self,
        peer: Address,
        direction: Direction,
        conn: &quinn::Connection,
    ) -> Registration {
        let link = Link {
            conn: conn.clone(),
            since_ms: crate::pipeline::now_ms(),
        };
        *self.lock().entry(peer).or_default().link(direction) = Some(link);
        Registration {
            table: self.clone(),
            peer,
            direction,
            id: conn.stable_id(),
        }
    }

    fn snapshot(&self, bans: &Bans) -> Vec<PeerInfo> {
        // Connection handles are cloned out under the lock and read after it: reading one takes
        // the connection's own lock, which the table's should never wait on.
        let entries: Vec<_> = self
            .lock()
            .iter()
            .map(|(a, e)| {
                let link = |l: &Option<Link>| l.as_ref().map(|l| (l.conn.clone(), l.since_ms));
                (*a, e.dial, link(&e.outbound), link(&e.inbound))
            })
            .collect();
        let info = |l: Option<(quinn::Connection, u64)>| {
            l.filter(|(conn, _)| conn.close_reason().is_none())
                .map(|(conn, since_ms)| LinkInfo {
                    remote: conn.remote_address(),
                    rtt: conn.rtt(),
                    since_ms,
                })
        };
        entries
            .into_iter()
            .map(|(address, dial, outbound, inbound)| PeerInfo {
                address,
                dial,
                outbound: info(outbound),
                inbound: info(inbound),
                banned: bans.banned_now(&address),
            })
            .collect()
    }
}

/// Keeps a connection in the table while its task runs; dropping it takes the connection out
/// (unless a newer connection of the same peer and direction replaced it meanwhile).
pub(super) struct Registration {
    table: PeerTable,
    peer: Address,
    direction: Direction,
    id: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut entries = self.table.lock();
        let Some(entry) = entries.get_mut(&self.peer) else {
            return;
        };
        let link = entry.link(self.direction);
        if link.as_ref().is_some_and(|l| l.conn.stable_id() == self.id) {
            *link = None;
        }
        // A peer that dialled in is listed only while connected; configured peers always are.
        if entry.dial.is_none() && entry.outbound.is_none() && entry.inbound.is_none() {
            entries.remove(&self.peer);
        }
    }
}

/// An open connection with a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// The peer's UDP address on this connection.
    pub remote: SocketAddr,
    /// The transport's current round-trip estimate.
    pub rtt: Duration,
    /// When the connection was authenticated, Unix milliseconds.
    pub since_ms: u64,
}

/// What the transport knows of one peer right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The validator address the peer proved in its hello (or, for a configured peer not yet
    /// connected, the one it is expected to prove).
    pub address: Address,
    /// Where this node dials it (`p2p.peers`, or the address it published on chain); `None` for
    /// a peer that only dialled in.
    pub dial: Option<SocketAddr>,
    /// The connection this node sends on, when open.
    pub outbound: Option<LinkInfo>,
    /// The connection the peer sends on, when open.
    pub inbound: Option<LinkInfo>,
    /// Refused for misbehaving, for now.
    pub banned: bool,
}

impl PeerInfo {
    /// Whether a connection in either direction is open.
    pub fn connected(&self) -> bool {
        self.outbound.is_some() || self.inbound.is_some()
    }
}

/// A read-only view of the transport for the API: where it listens and a snapshot of its peers.
/// It cannot send, ban or dial. Cloning is cheap.
#[derive(Clone)]
pub struct PeerReader {
    pub(super) table: PeerTable,
    pub(super) bans: Bans,
    pub(super) local_addr: SocketAddr,
}

impl PeerReader {
    /// The address the p2p endpoint is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every configured peer and every peer connected to this node, by address. At most the
    /// accepted set (validators and configured peers) long: no I/O, one short lock per peer.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.table.snapshot(&self.bans)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use ed25519_dalek::SigningKey;
    use tokio::sync::mpsc;

    use crate::p2p::{start, P2pSettings, PeerAddr, PeerMessage};

    /// Both ends list the connection once it is up (the dialler as outbound, with the address
    /// it dials; the listener as inbound), a configured peer that never answers is listed
    /// unconnected, and a ban shows.
    #[tokio::test]
    async fn the_table_lists_open_connections_and_configured_peers() {
        let (a_key, b_key) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let (a_addr, b_addr) = (
            crate::keys::address_of(&a_key),
            crate::keys::address_of(&b_key),
        );
        let absent = crate::keys::address_of(&SigningKey::from_bytes(&[3; 32]));
        let settings = |peers| P2pSettings {
            listen: "127.0.0.1:0".parse().expect("socket"),
            peers,
            frame_bytes_max: 1 << 20,
            send_queue_max: 64,
            connections_max: 4,
        };
        let (a_tx, mut a_rx) = mpsc::channel(64);
        let a = start(settings(vec![]), a_key, [b_addr].into(), a_tx).expect("a");
        assert!(
            a.reader().peers().is_empty(),
            "nobody configured or connected"
        );
        let (b_tx, _b_rx) = mpsc::channel(64);
        // Nothing answers QUIC on UDP port 9 (discard) of localhost: never connected.
        let nowhere = "127.0.0.1:9".parse().expect("socket");
        let b = start(
            settings(vec![
                PeerAddr {
                    address: a_addr,
                    socket: a.local_addr(),
                },
                PeerAddr {
                    address: absent,
                    socket: nowhere,
                },
            ]),
            b_key,
            [a_addr, absent].into(),
            b_tx,
        )
        .expect("b");
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        loop {
            b.broadcast(&PeerMessage::BlockRequest(1));
            if tokio::time::timeout(std::time::Duration::from_millis(100), a_rx.recv())
                .await
                .is_ok()
            {
                break;
            }
            assert!(Instant::now() < deadline, "b never reached a");
        }

        let seen_by_a = a.reader().peers();
        assert_eq!(seen_by_a.len(), 1, "{seen_by_a:?}");
        let p = &seen_by_a[0];
        assert_eq!((p.address, p.dial, p.banned), (b_addr, None, false));
        assert!(p.connected() && p.outbound.is_none(), "{p:?}");
        let link = p.inbound.as_ref().expect("inbound link");
        assert_eq!(
            link.remote,
            b.reader().local_addr(),
            "b dials from its endpoint"
        );
        assert!(link.since_ms > 0);

        let seen_by_b = b.reader().peers();
        assert_eq!(seen_by_b.len(), 2, "{seen_by_b:?}");
        let to_a = seen_by_b
            .iter()
            .find(|p| p.address == a_addr)
            .expect("a is listed");
        assert_eq!(to_a.dial, Some(a.local_addr()));
        assert_eq!(
            to_a.outbound.as_ref().map(|l| l.remote),
            Some(a.local_addr())
        );
        let to_absent = seen_by_b
            .iter()
            .find(|p| p.address == absent)
            .expect("a configured peer is listed");
        assert_eq!(to_absent.dial, Some(nowhere));
        assert!(!to_absent.connected(), "{to_absent:?}");

        // Listed as banned, or already gone if a frame still in flight made a drop it.
        a.ban(&b_addr, std::time::Duration::from_secs(60));
        let after = a.reader().peers();
        assert!(after.iter().all(|p| p.banned), "{after:?}");
    }
}
