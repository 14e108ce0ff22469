//! TLS for the node's endpoints: `[tls]` settings, a self-signed development certificate
//! (`mameynode tls self-signed --out DIR`, INTERFACES §13), and in [`server`] the listener that
//! serves JSON-RPC/WebSocket/REST, gRPC and metrics over TLS with certificate files reloaded on
//! SIGHUP.
//!
//! Invariant: with `[tls]` set, every API port speaks TLS only (1.3, or 1.2 and up when
//! `min_version = "1.2"`); without it, the node refuses to bind a non-loopback API address
//! unless `allow_plaintext = true`.

pub mod server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use base64::Engine as _;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("{path} exists already: remove it or choose another --out directory")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// The oldest TLS version served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    V1_2,
    #[default]
    #[serde(rename = "1.3")]
    V1_3,
}

/// `[tls]`: certificate files for every API port.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first). With `key_file`, every API port serves TLS only.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    pub min_version: TlsVersion,
    /// Allow plaintext APIs on a non-loopback address (behind a TLS-terminating proxy, say).
    pub allow_plaintext: bool,
    /// A client must finish its TLS handshake within this time.
    pub handshake_timeout_ms: u64,
    /// Connections in their handshake at once per port; more are closed at once.
    pub handshakes_max: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: None,
            key_file: None,
            min_version: TlsVersion::V1_3,
            allow_plaintext: false,
            handshake_timeout_ms: 10_000,
            handshakes_max: 256,
        }
    }
}

impl TlsConfig {
    /// The certificate and key files, when TLS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert_file.as_deref()?, self.key_file.as_deref()?))
    }

    /// `None` if the settings are usable for these API addresses, else why not.
    pub fn problem(
        &self,
        api_addresses: &[(&'static str, SocketAddr)],
    ) -> Option<(&'static str, String)> {
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Some((
                "tls.cert_file",
                "give both tls.cert_file and tls.key_file (--tls-cert and --tls-key), or neither"
                    .into(),
            ));
        }
        if self.files().is_some() || self.allow_plaintext {
            return None;
        }
        api_addresses
            .iter()
            .find(|(_, a)| !a.ip().is_loopback())
            .map(|(field, a)| {
                (
                    *field,
                    format!(
                        "{a} is not a loopback address and TLS is off: set tls.cert_file and \
                         tls.key_file (--tls-cert, --tls-key), or tls.allow_plaintext = true to \
                         serve plaintext on purpose"
                    ),
                )
            })
    }
}

/// The names a development certificate covers.
pub const DEV_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// DER as PEM under `label`, in lines of 64 characters (RFC 7468).
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A self-signed certificate for `names` (IP addresses or DNS names) and its PKCS#8 key, as PEM.
pub fn self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let c = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((
        pem("CERTIFICATE", c.cert.der()),
        pem("PRIVATE KEY", &c.key_pair.serialize_der()),
    ))
}

/// Writes `dir/cert.pem` and `dir/key.pem` (the key readable by its owner only) for `names`;
/// never overwrites either. Returns their paths.
pub fn write_self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = self_signed(names)?;
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(TlsError::Exists { path: path.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    write_new(&key_path, &key, true)?;
    write_new(&cert_path, &cert, false)?;
    Ok((cert_path, key_path))
}

fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), TlsError> {
    use std::io::Write as _;
    let err = |source| TlsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options.open(path).map_err(err)?;
    f.write_all(contents.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_plaintext_needs_allow_plaintext_and_files_come_in_pairs() {
        let public: SocketAddr = "0.0.0.0:8545".parse().unwrap();
        let loopback: SocketAddr = "127.0.0.1:8545".parse().unwrap();
        let mut c = TlsConfig::default();
        assert!(c.problem(&[("rpc.listen", loopback)]).is_none());
        let (field, reason) = c
            .problem(&[("rpc.listen", loopback), ("grpc.listen", public)])
            .unwrap();
        assert_eq!(field, "grpc.listen");
        assert!(reason.contains("allow_plaintext"), "{reason}");
        c.allow_plaintext = true;
        assert!(c.problem(&[("grpc.listen", public)]).is_none());
        c.allow_plaintext = false;
        c.cert_file = Some("cert.pem".into());
        assert_eq!(c.problem(&[]).unwrap().0, "tls.cert_file");
        c.key_file = Some("key.pem".into());
        assert!(c.problem(&[("grpc.listen", public)]).is_none());
    }
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    #[test]
    fn a_dev_certificate_loads_into_a_tls_server_config_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = DEV_NAMES.iter().map(|s| s.to_string()).collect();
        let (cert, key) = write_self_signed(dir.path(), &names).unwrap();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(certs.len(), 1);
        let key = PrivateKeyDer::from_pem_file(&key).unwrap();
        rustls::ServerConfig::builder_with_provider(crate::quic::server::ring_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("the certificate and key belong together");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            write_self_signed(dir.path(), &names),
            Err(TlsError::Exists { .. })
        ));
    }
}
