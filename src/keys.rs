//! Key files: an Ed25519 secret key on disk, as JSON
//! `{"version": 1, "address": "mamey1...", "secret_key": "<64 hex digits>"}`, readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::types::Address;

#[derive(Debug, Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("{path} is not a valid key file: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    version: u8,
    address: Address,
    secret_key: String,
}

/// A fresh key from the operating system's random generator.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

pub fn address_of(key: &SigningKey) -> Address {
    Address(key.verifying_key().to_bytes())
}

/// Writes `key` to a new file (mode 0600); never overwrites.
pub fn write(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let file = KeyFile {
        version: 1,
        address: address_of(key),
        secret_key: hex::encode(key.to_bytes()),
    };
    let json = serde_json::to_string_pretty(&file).expect("key file serializes");
    let err = |source| KeyFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            err(source)
        }
    })?;
    f.write_all(json.as_bytes()).map_err(err)?;
    f.write_all(b"\n").map_err(err)?;
    f.sync_all().map_err(err)
}

pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| KeyFileError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if file.version != 1 {
        return Err(invalid(format!("unknown version {}", file.version)));
    }
    let mut secret = [0u8; 32];
    hex::decode_to_slice(file.secret_key.trim(), &mut secret)
        .map_err(|e| invalid(format!("secret_key: {e}")))?;
    let key = SigningKey::from_bytes(&secret);
    if address_of(&key) != file.address {
        return Err(invalid(
            "the address does not match the secret key".to_string(),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_round_trip_and_no_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k/a.key");
        let key = generate();
        write(&path, &key).expect("write");
        assert_eq!(read(&path).expect("read").to_bytes(), key.to_bytes());
        assert!(matches!(
            write(&path, &key),
            Err(KeyFileError::Exists { .. })
        ));
        std::fs::write(&path, "{}").expect("clobber");
        assert!(matches!(read(&path), Err(KeyFileError::Invalid { .. })));
    }
}
