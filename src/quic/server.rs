//! The QUIC ingest server: accepts connections up to the limit, reads submit and commit-stream
//! requests, feeds submissions into the pipeline's ingest stage and answers per transaction.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::{broadcast, Semaphore};

use super::{
    decode_submit, encode_answers, encode_batch_refusal, encode_block_frame, encode_lagged_frame,
    Answer, QuicError, Refusal, ALPN, REQUEST_COMMITS, REQUEST_SUBMIT, SERVER_NAME,
};
use crate::api::ErrorCode;
use crate::config::{IngestConfig, QuicConfig};
use crate::pipeline::{CommittedBlock, Ingest, SubmitError};
use crate::telemetry::{SubscriberGuard, SubscriberKind};

/// A running QUIC ingest endpoint.
pub struct QuicIngest {
    pub local_addr: SocketAddr,
    /// DER of the self-signed certificate clients pin.
    pub certificate_der: Vec<u8>,
    endpoint: quinn::Endpoint,
}

impl QuicIngest {
    /// Closes every connection and stops accepting.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"node shutting down");
    }
}

fn refusal(e: &SubmitError) -> Refusal {
    Refusal {
        code: ErrorCode::from(e).code(),
        message: e.to_string(),
    }
}

pub fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Binds the endpoint and starts accepting. Must run inside a tokio runtime.
pub fn start(
    config: &QuicConfig,
    ingest_config: &IngestConfig,
    ingest: Addr<Ingest>,
    commits: broadcast::Sender<Arc<CommittedBlock>>,
    metrics: Arc<crate::metrics::PipelineMetrics>,
) -> Result<QuicIngest, QuicError> {
    let tls_err = |e: &dyn std::fmt::Display| QuicError::Tls(e.to_string());
    let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
        .map_err(|e| tls_err(&e))?;
    let cert_der: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let mut tls = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .map_err(|e| tls_err(&e))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| tls_err(&e))?;
    let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(quinn::VarInt::from_u32(config.streams_per_connection_max))
        .max_concurrent_uni_streams(0u8.into())
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(30))
                .expect("30 s is a valid idle timeout"),
        ));
    server_config.transport_config(Arc::new(transport));
    let endpoint = quinn::Endpoint::server(server_config, config.listen)
        .map_err(|e| QuicError::Connection(format!("cannot bind {}: {e}", config.listen)))?;
    let local_addr = endpoint
        .local_addr()
        .map_err(|e| QuicError::Connection(e.to_string()))?;

    let limits = Arc::new(Limits {
        batch_txs_max: ingest_config.batch_txs_max,
        tx_bytes_max: ingest_config.tx_bytes_max,
        metrics,
    });
    let connections = Arc::new(Semaphore::new(config.connections_max as usize));
    let ep = endpoint.clone();
    tokio::spawn(async move {
        while let Some(incoming) = ep.accept().await {
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                tracing::warn!(remote = %incoming.remote_address(), "QUIC connection refused: connections_max reached");
                incoming.refuse();
                continue;
            };
            let ingest = ingest.clone();
            let commits = commits.clone();
            let limits = limits.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match incoming.await {
                    Ok(conn) => serve_connection(conn, ingest, commits, limits).await,
                    Err(e) => tracing::debug!(error = %e, "QUIC handshake failed"),
                }
            });
        }
    });
    Ok(QuicIngest {
        local_addr,
        certificate_der: cert_der.to_vec(),
        endpoint,
    })
}

struct Limits {
    batch_txs_max: usize,
    tx_bytes_max: usize,
    metrics: Arc<crate::metrics::PipelineMetrics>,
}

async fn serve_connection(
    conn: quinn::Connection,
    ingest: Addr<Ingest>,
    commits: broadcast::Sender<Arc<CommittedBlock>>,
    limits: Arc<Limits>,
) {
    loop {
        let (send, recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(_) => return, // closed by the client or the node
        };
        let ingest = ingest.clone();
        let commits = commits.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_stream(send, recv, ingest, commits, &limits).await {
                tracing::debug!(error = %e, "QUIC stream ended with an error");
            }
        });
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    ingest: Addr<Ingest>,
    commits: broadcast::Sender<Arc<CommittedBlock>>,
    limits: &Limits,
) -> Result<(), QuicError> {
    let stream_err = |e: &dyn std::fmt::Display| QuicError::Stream(e.to_string());
    let mut kind = [0u8; 1];
    recv.read_exact(&mut kind)
        .await
        .map_err(|e| stream_err(&e))?;
    let reply = match kind[0] {
        REQUEST_SUBMIT => {
            // Count, then per transaction a length prefix and at most tx_bytes_max bytes.
            let body_max = 4 + limits.batch_txs_max * (4 + limits.tx_bytes_max);
            match recv.read_to_end(body_max).await {
                Ok(body) => submit(&body, ingest, limits).await,
                Err(quinn::ReadToEndError::TooLong) => encode_batch_refusal(&format!(
                    "batch over {body_max} bytes (limits: {} transactions of {} bytes)",
                    limits.batch_txs_max, limits.tx_bytes_max
                )),
                Err(e) => return Err(stream_err(&e)),
            }
        }
        REQUEST_COMMITS => return stream_commits(send, commits.subscribe()).await,
        other => encode_batch_refusal(&format!("unknown request kind {other}")),
    };
    send.write_all(&reply).await.map_err(|e| stream_err(&e))?;
    send.finish().map_err(|e| stream_err(&e))?;
    Ok(())
}

async fn submit(body: &[u8], ingest: Addr<Ingest>, limits: &Limits) -> Vec<u8> {
    let txs = match decode_submit(body, limits.batch_txs_max, limits.tx_bytes_max) {
        Ok(t) => t,
        Err(e) => return encode_batch_refusal(&format!("malformed batch: {e}")),
    };
    let answers: Vec<Answer> = crate::pipeline::submit(&ingest, &limits.metrics, txs, None)
        .await
        .into_iter()
        .map(|r| r.map_err(|e| refusal(&e)))
        .collect();
    encode_answers(&answers)
}

async fn stream_commits(
    mut send: quinn::SendStream,
    mut rx: broadcast::Receiver<Arc<CommittedBlock>>,
) -> Result<(), QuicError> {
    let stream_err = |e: &dyn std::fmt::Display| QuicError::Stream(e.to_string());
    // Counted while this function runs, however the stream ends.
    let subscriber = SubscriberGuard::new(SubscriberKind::Quic);
    loop {
        match rx.recv().await {
            Ok(c) => {
                let ids: Vec<_> = c.block.transactions.iter().map(|t| t.id).collect();
                let discarded: Vec<_> = c
                    .discarded
                    .iter()
                    .map(|(id, e)| (*id, ErrorCode::from(e).code()))
                    .collect();
                let frame =
                    encode_block_frame(c.head.height, c.head.timestamp_ms, &ids, &discarded);
                send.write_all(&frame).await.map_err(|e| stream_err(&e))?;
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "commit-stream subscriber lagged; closing its stream"
                );
                subscriber.lagged();
                send.write_all(&encode_lagged_frame(missed))
                    .await
                    .map_err(|e| stream_err(&e))?;
                let _ = send.finish();
                return Ok(());
            }
            Err(broadcast::error::RecvError::Closed) => {
                let _ = send.finish();
                return Ok(());
            }
        }
    }
}
