//! Peer-to-peer transport between validators, over QUIC (quinn).
//!
//! Identity: every connection is bound to a validator key. TLS (1.3, self-signed certificates)
//! gives an encrypted channel; then each side signs, with its validator key, the channel's exported
//! keying material (RFC 5705, unique to this TLS session) and its role, and sends it as a hello.
//! A peer is accepted only if its hello verifies for an address of the validator set (and, for a
//! peer we dialled, the address we dialled). A man in the middle has two different sessions, so
//! it cannot replay a hello.
//!
//! Each node dials every configured peer (`p2p.peers`) and every validator the chain lists with a
//! published address ([`P2pHandle::set_chain_peers`], kept current by the node from the staking
//! registry), and sends to it on that connection (one unidirectional stream of length-prefixed
//! frames); it receives on the connections its peers dialled. Dialling is retried forever with a
//! back-off. Connections are accepted from the genesis validators, the configured peers and the
//! validators the registry holds now (not jailed): a validator registered after genesis is
//! accepted and dialled without any config edit.
//!
//! Bounded: frames over `frame_bytes_max` or that do not decode end the connection (a misbehaving
//! peer is dropped); the outgoing queue per peer and the incoming queue are bounded, and what does
//! not fit is dropped (consensus repeats what matters); inbound connections are bounded.
//!
//! Observable: [`P2pHandle::reader`] gives the API a read-only [`PeerReader`] (the peer table of
//! [`peers`]: which connections are open, to where, since when).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use thiserror::Error;
use tokio::sync::{mpsc, Semaphore};

use crate::codec::{
    decode_exact, put_bytes, put_u32, put_u64, put_u8, Decode, DecodeError, Encode, Reader,
};
use crate::consensus::engine::Message;
use crate::types::TX_SIZE_MAX;
use crate::types::{Address, Block};

pub mod chain;
mod outbound;
mod peers;

use outbound::{Accepted, Outbound};
use peers::{Direction, PeerTable};
pub use peers::{LinkInfo, PeerInfo, PeerReader};

const ALPN: &[u8] = b"mamey-p2p/1";
const SERVER_NAME: &str = "mamey-validator";
const EXPORTER_LABEL: &[u8] = b"EXPORTER-mamey-p2p-hello";
const HELLO_DOMAIN: &[u8] = b"mamey/p2p/hello/v1";
const HELLO_LEN: usize = 1 + 32 + 64;
const ROLE_DIALER: u8 = 1;
const ROLE_LISTENER: u8 = 2;
const VERSION: u8 = 1;

#[derive(Debug, Error)]
pub enum P2pError {
    #[error("p2p TLS setup: {0}")]
    Tls(String),
    #[error("cannot bind the p2p endpoint on {addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("invalid peer \"{0}\": expected ADDRESS@HOST:PORT (e.g. mamey1…@127.0.0.1:26656)")]
    Peer(String),
}

/// What validators send each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMessage {
    Consensus(Message),
    /// A block body (a proposal's, or a committed one for a peer that is behind).
    Block(Box<Block>),
    /// "Send me your block at this height."
    BlockRequest(u64),
    /// Transactions a client submitted to the sender (encoded, each at most `TX_SIZE_MAX`).
    Transactions(Vec<Vec<u8>>),
}

/// Most transactions in one gossip message (at most 4 MiB of transactions).
pub const GOSSIP_TXS_MAX: usize = 1_024;

/// Most bytes of one frame by default: a block of the default `block.txs_max` (20,000) transactions
/// of the default `ingest.tx_bytes_max` (1,024 bytes) with room to spare.
pub const FRAME_BYTES_MAX_DEFAULT: usize = 32 << 20;

impl Encode for PeerMessage {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, VERSION);
        match self {
            PeerMessage::Consensus(m) => {
                put_u8(out, 1);
                m.encode_to(out);
            }
            PeerMessage::Block(b) => {
                put_u8(out, 2);
                b.encode_to(out);
            }
            PeerMessage::BlockRequest(h) => {
                put_u8(out, 3);
                put_u64(out, *h);
            }
            PeerMessage::Transactions(txs) => {
                put_u8(out, 4);
                put_u32(
                    out,
                    u32::try_from(txs.len()).expect("gossip batches are bounded"),
                );
                for t in txs {
                    put_bytes(out, t);
                }
            }
        }
    }
}

impl Decode for PeerMessage {
    const WHAT: &'static str = "peer message";

    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, VERSION)?;
        Ok(match r.u8("peer message tag")? {
            1 => PeerMessage::Consensus(Message::decode_from(r)?),
            2 => PeerMessage::Block(Box::new(Block::decode_from(r)?)),
            3 => PeerMessage::BlockRequest(r.u64("requested height")?),
            4 => {
                let n = r.len_prefix("gossiped transactions", GOSSIP_TXS_MAX, 4)?;
                let mut txs = Vec::with_capacity(n);
                for _ in 0..n {
                    txs.push(r.bytes("gossiped transaction", TX_SIZE_MAX)?.to_vec());
                }
                PeerMessage::Transactions(txs)
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "peer message tag",
                    tag,
                })
            }
        })
    }
}

/// A peer to dial: its validator address and where it listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddr {
    pub address: Address,
    pub socket: SocketAddr,
}

impl FromStr for PeerAddr {
    type Err = P2pError;

    fn from_str(s: &str) -> Result<Self, P2pError> {
        let (a, sock) = s.split_once('@').ok_or_else(|| P2pError::Peer(s.into()))?;
        Ok(PeerAddr {
            address: a.parse().map_err(|_| P2pError::Peer(s.into()))?,
            socket: sock.parse().map_err(|_| P2pError::Peer(s.into()))?,
        })
    }
}

/// Settings of the transport.
#[derive(Clone, Debug)]
pub struct P2pSettings {
    pub listen: SocketAddr,
    pub peers: Vec<PeerAddr>,
    pub frame_bytes_max: usize,
    /// Frames waiting for one peer; more are dropped.
    pub send_queue_max: usize,
    /// Inbound connections at once.
    pub connections_max: usize,
}

/// Peers banned for misbehaving, until when. Keys are authenticated peers (at most the accepted
/// set), so the map is bounded.
#[derive(Clone, Default)]
struct Bans(Arc<std::sync::Mutex<BTreeMap<Address, Instant>>>);

impl Bans {
    fn is_banned(&self, peer: &Address) -> bool {
        let mut bans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match bans.get(peer) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                bans.remove(peer);
                false
            }
            None => false,
        }
    }

    /// Whether `peer` is banned now, without clearing an expired ban (for readers).
    fn banned_now(&self, peer: &Address) -> bool {
        let bans = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bans.get(peer).is_some_and(|until| *until > Instant::now())
    }
}

/// Sends to peers. Cloning is cheap.
#[derive(Clone)]
pub struct P2pHandle {
    outbound: Outbound,
    accepted: Accepted,
    local_addr: SocketAddr,
    frame_bytes_max: usize,
    bans: Bans,
    table: PeerTable,
}

impl P2pHandle {
    /// A read-only view of the peers, for the API.
    pub fn reader(&self) -> PeerReader {
        PeerReader {
            table: self.table.clone(),
            bans: self.bans.clone(),
            local_addr: self.local_addr,
        }
    }

    /// Drops `peer`'s inbound connection at its next frame and refuses it for `duration`: for a
    /// peer that keeps sending what an honest validator never sends (forged signatures, invalid
    /// certificates or blocks).
    pub fn ban(&self, peer: &Address, duration: Duration) {
        tracing::warn!(%peer, secs = duration.as_secs(), "peer banned for misbehaving");
        self.bans
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(*peer, Instant::now() + duration);
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn has_peers(&self) -> bool {
        !self.outbound.is_empty()
    }

    /// The peers the chain names now: `accepted` may connect in (registered validators), and
    /// `dial` are dialled at their published addresses (besides the configured peers, which keep
    /// their configured address). Called as the committed state changes.
    pub fn set_chain_peers(
        &self,
        accepted: BTreeSet<Address>,
        dial: &BTreeMap<Address, SocketAddr>,
    ) {
        self.accepted.set_chain(accepted);
        self.outbound.set_chain_peers(dial);
    }

    /// The frame of `message`, unless it is over the limit peers enforce (they would drop the
    /// connection); the config check keeps blocks under it, so this only logs a misconfiguration.
    fn frame(&self, message: &PeerMessage) -> Option<Arc<Vec<u8>>> {
        let bytes = message.to_bytes();
        if bytes.len() > self.frame_bytes_max {
            tracing::error!(
                len = bytes.len(),
                max = self.frame_bytes_max,
                "peer message over p2p.frame_bytes_max; not sent"
            );
            return None;
        }
        Some(Arc::new(bytes))
    }

    pub fn broadcast(&self, message: &PeerMessage) {
        if let Some(bytes) = self.frame(message) {
            self.outbound.broadcast(&bytes);
        }
    }

    pub fn send(&self, to: &Address, message: &PeerMessage) {
        if let Some(bytes) = self.frame(message) {
            self.outbound.send(to, bytes);
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts any certificate: the peer's identity is proven by its hello, not by the certificate.
/// The TLS handshake signature is still checked, so the session keys are the peer's.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn hello_bytes(role: u8, ekm: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(HELLO_DOMAIN.len() + 33);
    m.extend_from_slice(HELLO_DOMAIN);
    m.push(role);
    m.extend_from_slice(ekm);
    m
}

fn exporter(conn: &quinn::Connection) -> Option<[u8; 32]> {
    let mut ekm = [0u8; 32];
    conn.export_keying_material(&mut ekm, EXPORTER_LABEL, b"")
        .ok()?;
    Some(ekm)
}

fn hello(key: &SigningKey, role: u8, ekm: &[u8; 32]) -> [u8; HELLO_LEN] {
    let mut out = [0u8; HELLO_LEN];
    out[0] = role;
    out[1..33].copy_from_slice(&key.verifying_key().to_bytes());
    out[33..].copy_from_slice(&key.sign(&hello_bytes(role, ekm)).to_bytes());
    out
}

/// The address a hello proves, if it is valid for this session and role.
fn check_hello(h: &[u8; HELLO_LEN], role: u8, ekm: &[u8; 32]) -> Option<Address> {
    if h[0] != role {
        return None;
    }
    let mut pk = [0u8; 32];
    pk.copy_from_slice(&h[1..33]);
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&h[33..]);
    crate::sigverify::zip215::verify(&pk, &hello_bytes(role, ekm), &sig).then_some(Address(pk))
}

async fn read_hello(recv: &mut quinn::RecvStream) -> Option<[u8; HELLO_LEN]> {
    let mut h = [0u8; HELLO_LEN];
    recv.read_exact(&mut h).await.ok()?;
    Some(h)
}

/// Starts listening and dialling. `validators` are the addresses always allowed to connect (more
/// come from the chain, [`P2pHandle::set_chain_peers`]); what peers send arrives on `inbound`.
/// Must run inside a tokio runtime.
pub fn start(
    settings: P2pSettings,
    key: SigningKey,
    validators: BTreeSet<Address>,
    inbound: mpsc::Sender<(Address, PeerMessage)>,
) -> Result<P2pHandle, P2pError> {
    let tls_err = |e: &dyn std::fmt::Display| P2pError::Tls(e.to_string());
    let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
        .map_err(|e| tls_err(&e))?;
    let cert_der: CertificateDer<'static> = certified.cert.der().clone();
    let private =
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let mut server_tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], private)
        .map_err(|e| tls_err(&e))?;
    server_tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(
        QuicServerConfig::try_from(server_tls).map_err(|e| tls_err(&e))?,
    ));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(0u8.into())
        .max_concurrent_uni_streams(4u8.into())
        .keep_alive_interval(Some(Duration::from_secs(2)))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(10)).expect("valid idle timeout"),
        ));
    let transport = Arc::new(transport);
    server.transport_config(transport.clone());
    let mut client_tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
        .with_no_client_auth();
    client_tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut client = quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(client_tls).map_err(|e| tls_err(&e))?,
    ));
    client.transport_config(transport);
    let mut endpoint =
        quinn::Endpoint::server(server, settings.listen).map_err(|e| P2pError::Bind {
            addr: settings.listen,
            reason: e.to_string(),
        })?;
    endpoint.set_default_client_config(client);
    let local_addr = endpoint.local_addr().map_err(|e| P2pError::Bind {
        addr: settings.listen,
        reason: e.to_string(),
    })?;
    let key = Arc::new(key);
    let accepted = Accepted::new(validators);
    let bans = Bans::default();
    let table = PeerTable::configured(&settings.peers);

    // Inbound: authenticate, then read frames.
    {
        let bans = bans.clone();
        let table = table.clone();
        let endpoint = endpoint.clone();
        let key = key.clone();
        let accepted = accepted.clone();
        let limit = Arc::new(Semaphore::new(settings.connections_max));
        let frame_max = settings.frame_bytes_max;
        tokio::spawn(async move {
            while let Some(incoming) = endpoint.accept().await {
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    incoming.refuse();
                    continue;
                };
                let (key, accepted, inbound) = (key.clone(), accepted.clone(), inbound.clone());
                let (bans, table) = (bans.clone(), table.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Ok(conn) = incoming.await {
                        serve_inbound(conn, &key, &accepted, &bans, &table, inbound, frame_max)
                            .await;
                    }
                });
            }
        });
    }

    let outbound = Outbound::start(
        endpoint,
        key,
        table.clone(),
        settings.send_queue_max,
        settings.peers,
    );
    Ok(P2pHandle {
        outbound,
        accepted,
        local_addr,
        frame_bytes_max: settings.frame_bytes_max,
        bans,
        table,
    })
}

async fn serve_inbound(
    conn: quinn::Connection,
    key: &SigningKey,
    accepted: &Accepted,
    bans: &Bans,
    table: &PeerTable,
    inbound: mpsc::Sender<(Address, PeerMessage)>,
    frame_max: usize,
) {
    let Some(ekm) = exporter(&conn) else { return };
    let Ok(mut recv) = conn.accept_uni().await else {
        return;
    };
    let peer = match read_hello(&mut recv).await {
        Some(h) => match check_hello(&h, ROLE_DIALER, &ekm) {
            Some(a) if bans.is_banned(&a) => {
                conn.close(4u8.into(), b"banned");
                return;
            }
            Some(a) if accepted.contains(&a) => a,
            _ => {
                conn.close(1u8.into(), b"not a validator");
                return;
            }
        },
        None => return,
    };
    // Prove who we are to the dialler.
    let Ok(mut send) = conn.open_uni().await else {
        return;
    };
    if send
        .write_all(&hello(key, ROLE_LISTENER, &ekm))
        .await
        .is_err()
    {
        return;
    }
    let _ = send.finish();
    let _registration = table.register(peer, Direction::Inbound, &conn);
    loop {
        let mut len = [0u8; 4];
        if recv.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > frame_max {
            tracing::warn!(%peer, len, "peer sent an oversized frame; dropped");
            conn.close(2u8.into(), b"frame too large");
            return;
        }
        let mut frame = vec![0u8; len];
        if recv.read_exact(&mut frame).await.is_err() {
            return;
        }
        if bans.is_banned(&peer) {
            conn.close(4u8.into(), b"banned");
            return;
        }
        if !accepted.contains(&peer) {
            // It left the registry's validators (jailed): its connection goes with it.
            conn.close(1u8.into(), b"not a validator");
            return;
        }
        match decode_exact::<PeerMessage>(&frame, frame_max) {
            Ok(m) => {
                // A full queue drops the message: consensus repeats what matters.
                let _ = inbound.try_send((peer, m));
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "peer sent an undecodable frame; dropped");
                conn.close(3u8.into(), b"bad frame");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellos_bind_key_role_and_session() {
        let k = SigningKey::from_bytes(&[1; 32]);
        let ekm = [9u8; 32];
        let h = hello(&k, ROLE_DIALER, &ekm);
        assert_eq!(
            check_hello(&h, ROLE_DIALER, &ekm),
            Some(crate::keys::address_of(&k))
        );
        assert_eq!(check_hello(&h, ROLE_LISTENER, &ekm), None, "role");
        assert_eq!(check_hello(&h, ROLE_DIALER, &[8u8; 32]), None, "session");
        let mut forged = h;
        forged[1..33].copy_from_slice(&SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes());
        assert_eq!(check_hello(&forged, ROLE_DIALER, &ekm), None, "key");
    }

    /// A banned peer's connection is dropped at its next frame and it is refused when it dials
    /// again, until the ban ends.
    #[tokio::test]
    async fn a_banned_peer_is_dropped_and_refused() {
        let (a_key, b_key) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let (a_addr, b_addr) = (
            crate::keys::address_of(&a_key),
            crate::keys::address_of(&b_key),
        );
        let settings = |peers| P2pSettings {
            listen: "127.0.0.1:0".parse().expect("socket"),
            peers,
            frame_bytes_max: 1 << 20,
            send_queue_max: 64,
            connections_max: 4,
        };
        let (a_tx, mut a_rx) = mpsc::channel(64);
        let a = start(settings(vec![]), a_key, [b_addr].into(), a_tx).expect("a");
        let (b_tx, _b_rx) = mpsc::channel(64);
        let b = start(
            settings(vec![PeerAddr {
                address: a_addr,
                socket: a.local_addr(),
            }]),
            b_key,
            [a_addr].into(),
            b_tx,
        )
        .expect("b");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            b.broadcast(&PeerMessage::BlockRequest(1));
            if let Ok(Some((from, _))) =
                tokio::time::timeout(Duration::from_millis(100), a_rx.recv()).await
            {
                assert_eq!(from, b_addr);
                break;
            }
            assert!(Instant::now() < deadline, "b never reached a");
        }
        a.ban(&b_addr, Duration::from_secs(60));
        // What was already on its way may still arrive; after that, nothing does.
        tokio::time::sleep(Duration::from_millis(200)).await;
        while a_rx.try_recv().is_ok() {}
        for _ in 0..20 {
            b.broadcast(&PeerMessage::BlockRequest(2));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            a_rx.try_recv().is_err(),
            "a banned peer's messages still arrive"
        );
    }

    #[test]
    fn peer_messages_round_trip_and_peer_addresses_parse() {
        for m in [
            PeerMessage::BlockRequest(42),
            PeerMessage::Transactions(vec![vec![1, 2, 3], vec![]]),
        ] {
            assert_eq!(decode_exact::<PeerMessage>(&m.to_bytes(), 1 << 20), Ok(m));
        }
        let mut huge = vec![VERSION, 4];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_exact::<PeerMessage>(&huge, 1 << 20).is_err());
        let a = crate::keys::address_of(&SigningKey::from_bytes(&[1; 32]));
        let p: PeerAddr = format!("{a}@127.0.0.1:26656").parse().expect("peer");
        assert_eq!(p.address, a);
        assert!("nonsense".parse::<PeerAddr>().is_err());
    }
}
