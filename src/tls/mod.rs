//! TLS material for the node's endpoints (issue #16): a self-signed development certificate,
//! `mameynode tls self-signed --out DIR` (INTERFACES §13). Serving JSON-RPC, gRPC and metrics over
//! TLS with certificate files from config builds on these files.

use std::path::{Path, PathBuf};

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
