//! A QUIC ingest client (used by `loadgen` and the tests): submit batches, follow commits.

use std::net::SocketAddr;
use std::sync::Arc;

use quinn::crypto::rustls::QuicClientConfig;
use rustls::pki_types::CertificateDer;

use super::{
    decode_answers, encode_submit, server::ring_provider, Answer, CommitEvent, QuicError, ALPN,
    FRAME_BLOCK, FRAME_LAGGED, REQUEST_COMMITS, SERVER_NAME,
};
use crate::types::Hash;

pub struct IngestClient {
    connection: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl IngestClient {
    /// Connects to a node's ingest endpoint, trusting exactly `certificate_der`.
    pub async fn connect(addr: SocketAddr, certificate_der: &[u8]) -> Result<Self, QuicError> {
        let tls_err = |e: &dyn std::fmt::Display| QuicError::Tls(e.to_string());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(certificate_der.to_vec()))
            .map_err(|e| tls_err(&e))?;
        let mut tls = rustls::ClientConfig::builder_with_provider(ring_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| tls_err(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = QuicClientConfig::try_from(tls).map_err(|e| tls_err(&e))?;
        // Loopback nodes are reached from loopback; others from any local address.
        let bind: SocketAddr = match (addr.is_ipv4(), addr.ip().is_loopback()) {
            (true, true) => ([127, 0, 0, 1], 0).into(),
            (true, false) => ([0, 0, 0, 0], 0).into(),
            (false, true) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
            (false, false) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let mut endpoint =
            quinn::Endpoint::client(bind).map_err(|e| QuicError::Connection(e.to_string()))?;
        let mut client_config = quinn::ClientConfig::new(Arc::new(crypto));
        // Keep idle connections (e.g. while a load generator pre-signs) from timing out.
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(std::time::Duration::from_secs(5)));
        client_config.transport_config(Arc::new(transport));
        endpoint.set_default_client_config(client_config);
        let connection = endpoint
            .connect(addr, SERVER_NAME)
            .map_err(|e| QuicError::Connection(e.to_string()))?
            .await
            .map_err(|e| QuicError::Connection(e.to_string()))?;
        Ok(Self {
            connection,
            _endpoint: endpoint,
        })
    }

    /// Submits a batch; one answer per transaction, in order.
    pub async fn submit(&self, txs: &[&[u8]]) -> Result<Vec<Answer>, QuicError> {
        let stream_err = |e: &dyn std::fmt::Display| QuicError::Stream(e.to_string());
        let (mut send, mut recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| stream_err(&e))?;
        send.write_all(&encode_submit(txs))
            .await
            .map_err(|e| stream_err(&e))?;
        send.finish().map_err(|e| stream_err(&e))?;
        let reply = recv
            .read_to_end(16 + txs.len() * (1 + 32 + 4 + 2 + 1024))
            .await
            .map_err(|e| stream_err(&e))?;
        let answers = decode_answers(&reply, txs.len())?;
        if answers.len() != txs.len() {
            return Err(QuicError::Stream(format!(
                "{} answers for {} transactions",
                answers.len(),
                txs.len()
            )));
        }
        Ok(answers)
    }

    /// Opens the commit stream.
    pub async fn commits(&self) -> Result<CommitStream, QuicError> {
        let stream_err = |e: &dyn std::fmt::Display| QuicError::Stream(e.to_string());
        let (mut send, recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|e| stream_err(&e))?;
        send.write_all(&[REQUEST_COMMITS])
            .await
            .map_err(|e| stream_err(&e))?;
        send.finish().map_err(|e| stream_err(&e))?;
        Ok(CommitStream { recv })
    }
}

pub struct CommitStream {
    recv: quinn::RecvStream,
}

impl CommitStream {
    async fn read<const N: usize>(&mut self) -> Result<[u8; N], QuicError> {
        let mut b = [0u8; N];
        self.recv
            .read_exact(&mut b)
            .await
            .map_err(|e| QuicError::Stream(e.to_string()))?;
        Ok(b)
    }

    async fn read_u32(&mut self) -> Result<u32, QuicError> {
        Ok(u32::from_le_bytes(self.read().await?))
    }

    async fn read_u64(&mut self) -> Result<u64, QuicError> {
        Ok(u64::from_le_bytes(self.read().await?))
    }

    /// The next event; `None` when the node closed the stream.
    pub async fn next(&mut self) -> Result<Option<CommitEvent>, QuicError> {
        let mut kind = [0u8; 1];
        match self.recv.read_exact(&mut kind).await {
            Ok(()) => {}
            Err(quinn::ReadExactError::FinishedEarly(_)) => return Ok(None),
            Err(e) => return Err(QuicError::Stream(e.to_string())),
        }
        match kind[0] {
            FRAME_BLOCK => {
                let height = self.read_u64().await?;
                let timestamp_ms = self.read_u64().await?;
                let n = self.read_u32().await? as usize;
                let mut committed = Vec::with_capacity(n.min(1 << 17));
                for _ in 0..n {
                    committed.push(Hash(self.read().await?));
                }
                let m = self.read_u32().await? as usize;
                let mut discarded = Vec::with_capacity(m.min(1 << 17));
                for _ in 0..m {
                    let id = Hash(self.read().await?);
                    discarded.push((id, i32::from_le_bytes(self.read().await?)));
                }
                Ok(Some(CommitEvent::Block {
                    height,
                    timestamp_ms,
                    committed,
                    discarded,
                }))
            }
            FRAME_LAGGED => Ok(Some(CommitEvent::Lagged {
                missed: self.read_u64().await?,
            })),
            other => Err(QuicError::Stream(format!(
                "unknown commit frame kind {other}"
            ))),
        }
    }
}
