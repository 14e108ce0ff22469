//! The API listener: accepts TCP connections and, with TLS on, completes each handshake in its
//! own task (bounded in number and time, so a slow or silent client holds no one else up) before
//! handing the connection to the HTTP or gRPC server. Certificates are read from their files at
//! start and again on SIGHUP; a reload that fails keeps the certificate in use.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::{TlsConfig, TlsError, TlsVersion};

/// Accepted connections waiting for the server to take them.
const ACCEPTED_QUEUE: usize = 64;

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> TlsError + '_ {
    move |source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn build(
    cert: &Path,
    key: &Path,
    min_version: TlsVersion,
    alpn: &[Vec<u8>],
) -> Result<rustls::ServerConfig, TlsError> {
    let invalid = |path: &Path, message: String| TlsError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    std::fs::metadata(cert).map_err(read_err(cert))?;
    std::fs::metadata(key).map_err(read_err(key))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| invalid(cert, format!("not a PEM certificate file: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(cert, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(cert, "no CERTIFICATE in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| invalid(key, format!("not a PEM private key file: {e}")))?;
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min_version {
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
        TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

/// One port's TLS configuration, swappable while connections are served.
pub struct ServerTls {
    cert: PathBuf,
    key: PathBuf,
    min_version: TlsVersion,
    alpn: Vec<Vec<u8>>,
    handshake_timeout: Duration,
    handshakes_max: usize,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl ServerTls {
    /// `None` when TLS is off. `alpn` is what the port speaks (`h2` for gRPC, `http/1.1` for
    /// HTTP): gRPC clients such as grpcio insist on negotiating `h2`.
    pub fn load(config: &TlsConfig, alpn: &[&[u8]]) -> Result<Option<Arc<Self>>, TlsError> {
        let Some((cert, key)) = config.files() else {
            return Ok(None);
        };
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let current = build(cert, key, config.min_version, &alpn)?;
        Ok(Some(Arc::new(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            min_version: config.min_version,
            alpn,
            handshake_timeout: Duration::from_millis(config.handshake_timeout_ms.max(1)),
            handshakes_max: config.handshakes_max.max(1),
            current: RwLock::new(Arc::new(current)),
        })))
    }

    /// Rereads the certificate and key; new connections use them, open ones keep theirs.
    pub fn reload(&self) -> Result<(), TlsError> {
        let next = build(&self.cert, &self.key, self.min_version, &self.alpn)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// Reloads every port's certificate on SIGHUP, until the process ends.
pub fn reload_on_sighup(ports: Vec<Arc<ServerTls>>) {
    if ports.is_empty() {
        return;
    }
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP: certificates will not reload");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            for port in &ports {
                match port.reload() {
                    Ok(()) => {
                        tracing::info!(cert = %port.cert.display(), "TLS certificate reloaded")
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "TLS certificate not reloaded; the one in use stays"
                    ),
                }
            }
        }
    });
}

/// An accepted connection's stream, plaintext or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An accepted connection. It holds one of the port's connection slots until it is dropped.
pub struct ConnIo {
    stream: Stream,
    _slot: OwnedSemaphorePermit,
}

impl ConnIo {
    fn tcp(&self) -> &TcpStream {
        match &self.stream {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl tonic::transport::server::Connected for ConnIo {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.tcp().local_addr().ok(),
            remote_addr: self.tcp().peer_addr().ok(),
        }
    }
}

/// A connection ready for HTTP: its stream and the client's address.
pub struct Accepted {
    pub io: ConnIo,
    pub remote: SocketAddr,
}

/// Accepts connections on `listener` until the receiver is dropped, at most `connections_max`
/// open at once (further ones are closed at once, and counted in the log at debug level); with
/// `tls`, only those whose handshake succeeds in time come out. Failed handshakes (plaintext to a
/// TLS port, TLS 1.0/1.1, no common cipher) are logged and closed.
pub fn accept(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    connections_max: usize,
) -> mpsc::Receiver<Accepted> {
    let (tx, rx) = mpsc::channel(ACCEPTED_QUEUE);
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(connections_max.max(1)));
        let handshakes = Arc::new(Semaphore::new(tls.as_ref().map_or(1, |t| t.handshakes_max)));
        loop {
            let (stream, remote) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = tx.closed() => return,
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tracing::debug!(%remote, "connection closed: {connections_max} connections open");
                continue;
            };
            let _ = stream.set_nodelay(true);
            let Some(tls) = tls.clone() else {
                let io = ConnIo {
                    stream: Stream::Plain(stream),
                    _slot: slot,
                };
                if tx.send(Accepted { io, remote }).await.is_err() {
                    return;
                }
                continue;
            };
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                tracing::debug!(%remote, "connection closed: too many TLS handshakes in progress");
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let handshake = tls.acceptor().accept(stream);
                match tokio::time::timeout(tls.handshake_timeout, handshake).await {
                    Ok(Ok(s)) => {
                        let io = ConnIo {
                            stream: Stream::Tls(Box::new(s)),
                            _slot: slot,
                        };
                        let _ = tx.send(Accepted { io, remote }).await;
                    }
                    Ok(Err(e)) => tracing::info!(%remote, error = %e, "TLS handshake refused"),
                    Err(_) => tracing::info!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn connections_beyond_the_limit_are_closed_and_a_closed_one_frees_its_slot() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = accept(listener, None, 2);
        let _a = TcpStream::connect(addr).await.unwrap();
        let _b = TcpStream::connect(addr).await.unwrap();
        let first = accepted.recv().await.unwrap();
        let _second = accepted.recv().await.unwrap();
        // The third is closed by the listener: it reads end of stream.
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        // Dropping an accepted connection frees its slot for the next.
        drop(first);
        let _d = TcpStream::connect(addr).await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), accepted.recv()).await;
        assert!(matches!(next, Ok(Some(_))));
    }
}
