//! Key files: an Ed25519 secret key on disk, as JSON, readable by its owner only.
//!
//! - Version 1, plaintext: `{"version": 1, "address": "mamey1...", "secret_key": "<64 hex>"}`.
//! - Version 2, encrypted with a passphrase: `{"version": 2, "address", "kdf": {"name": "scrypt",
//!   "log_n", "r", "p", "salt"}, "cipher": "aes-256-gcm", "nonce", "ciphertext"}` (hex). The key
//!   is scrypt(passphrase, salt) — memory-hard: 2^15 × 8 × 128 bytes = 32 MiB by default — and
//!   AES-256-GCM seals the secret with the address as associated data, so a wrong passphrase or a
//!   changed address is a clear error, never a wrong key.
//!
//! Whoever reads an encrypted key gets the passphrase from `MAMEY_KEY_PASSPHRASE` or from the file
//! named by `MAMEY_KEY_PASSPHRASE_FILE` (its first line).

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
    #[error("{path} is encrypted: set MAMEY_KEY_PASSPHRASE, or MAMEY_KEY_PASSPHRASE_FILE to a file holding the passphrase")]
    PassphraseNeeded { path: PathBuf },
    #[error("wrong passphrase for {path} (or the file was altered)")]
    WrongPassphrase { path: PathBuf },
    #[error("cannot read the passphrase file {path}: {source}")]
    PassphraseFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The environment variables an encrypted key's passphrase comes from.
pub const PASSPHRASE_ENV: &str = "MAMEY_KEY_PASSPHRASE";
pub const PASSPHRASE_FILE_ENV: &str = "MAMEY_KEY_PASSPHRASE_FILE";

/// scrypt cost of new encrypted files: log2(N) = 15, r = 8, p = 1 (32 MiB, ~0.1 s here).
pub const SCRYPT_LOG_N: u8 = 15;
/// Most expensive cost a file may ask for (a file cannot make a reader allocate without bound).
const SCRYPT_LOG_N_MAX: u8 = 20;

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    log_n: u8,
    r: u32,
    p: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct EncryptedFile {
    version: u8,
    address: Address,
    kdf: Kdf,
    cipher: String,
    nonce: String,
    ciphertext: String,
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

/// Writes `key` to a new plaintext file (mode 0600); never overwrites.
pub fn write(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    create(path, &plaintext(key))
}

/// The JSON of `key` in a plaintext (version 1) file.
pub fn plaintext(key: &SigningKey) -> String {
    let file = KeyFile {
        version: 1,
        address: address_of(key),
        secret_key: hex::encode(key.to_bytes()),
    };
    serde_json::to_string_pretty(&file).expect("key file serializes")
}

/// Writes `key` to a new file encrypted with `passphrase` (mode 0600); never overwrites.
pub fn write_encrypted(
    path: &Path,
    key: &SigningKey,
    passphrase: &str,
) -> Result<(), KeyFileError> {
    create(path, &encrypt(key, passphrase, SCRYPT_LOG_N))
}

/// Replaces the key file at `path` with `contents` (the same key, encrypted or not), through a
/// temporary file and a rename, so that a crash leaves the old or the new file, never neither.
pub fn replace(path: &Path, contents: &str) -> Result<(), KeyFileError> {
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    create(&tmp, contents)?;
    std::fs::rename(&tmp, path).map_err(|source| KeyFileError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The JSON of `key` encrypted with `passphrase` at scrypt cost `log_n`.
pub fn encrypt(key: &SigningKey, passphrase: &str, log_n: u8) -> String {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use rand_core::RngCore;
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut salt);
    OsRng.fill_bytes(&mut nonce);
    let address = address_of(key);
    let sealing = derive(passphrase, &salt, log_n, 8, 1).expect("the default cost is valid");
    let cipher = aes_gcm::Aes256Gcm::new(&sealing.into());
    let ciphertext = cipher
        .encrypt(
            &nonce.into(),
            Payload {
                msg: &key.to_bytes(),
                aad: &address.0,
            },
        )
        .expect("AES-GCM seals 32 bytes");
    let file = EncryptedFile {
        version: 2,
        address,
        kdf: Kdf {
            name: "scrypt".into(),
            log_n,
            r: 8,
            p: 1,
            salt: hex::encode(salt),
        },
        cipher: "aes-256-gcm".into(),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    };
    serde_json::to_string_pretty(&file).expect("key file serializes")
}

fn derive(passphrase: &str, salt: &[u8], log_n: u8, r: u32, p: u32) -> Option<[u8; 32]> {
    let params = scrypt::Params::new(log_n, r, p, 32).ok()?;
    let mut out = [0u8; 32];
    scrypt::scrypt(passphrase.as_bytes(), salt, &params, &mut out).ok()?;
    Some(out)
}

fn create(path: &Path, contents: &str) -> Result<(), KeyFileError> {
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
    f.write_all(contents.as_bytes()).map_err(err)?;
    f.write_all(b"\n").map_err(err)?;
    f.sync_all().map_err(err)
}

/// The passphrase from the environment, if one is set.
pub fn passphrase_from_env() -> Result<Option<String>, KeyFileError> {
    if let Ok(p) = std::env::var(PASSPHRASE_ENV) {
        return Ok(Some(p));
    }
    let Some(file) = std::env::var_os(PASSPHRASE_FILE_ENV) else {
        return Ok(None);
    };
    let path = PathBuf::from(file);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| KeyFileError::PassphraseFile { path, source })?;
    Ok(Some(text.lines().next().unwrap_or_default().to_string()))
}

/// Whether the key file at `path` is encrypted (version 2).
pub fn is_encrypted(path: &Path) -> Result<bool, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["version"].as_u64())
        == Some(2))
}

/// Reads a key file, plaintext or encrypted (the passphrase from the environment).
pub fn read(path: &Path) -> Result<SigningKey, KeyFileError> {
    match read_with(path, None) {
        Err(KeyFileError::PassphraseNeeded { .. }) => {
            read_with(path, passphrase_from_env()?.as_deref())
        }
        r => r,
    }
}

/// Reads a key file with `passphrase` for an encrypted one.
pub fn read_with(path: &Path, passphrase: Option<&str>) -> Result<SigningKey, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| KeyFileError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| invalid(e.to_string()))?["version"]
        .as_u64();
    let (secret, address) = match version {
        Some(1) => {
            let file: KeyFile = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
            let mut secret = [0u8; 32];
            hex::decode_to_slice(file.secret_key.trim(), &mut secret)
                .map_err(|e| invalid(format!("secret_key: {e}")))?;
            (secret, file.address)
        }
        Some(2) => {
            let file: EncryptedFile =
                serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
            let Some(passphrase) = passphrase else {
                return Err(KeyFileError::PassphraseNeeded {
                    path: path.to_path_buf(),
                });
            };
            (open(path, &file, passphrase)?, file.address)
        }
        v => return Err(invalid(format!("unknown version {v:?}"))),
    };
    let key = SigningKey::from_bytes(&secret);
    if address_of(&key) != address {
        return Err(invalid(
            "the address does not match the secret key".to_string(),
        ));
    }
    Ok(key)
}

/// The secret of an encrypted file.
fn open(path: &Path, file: &EncryptedFile, passphrase: &str) -> Result<[u8; 32], KeyFileError> {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    let invalid = |reason: &str| KeyFileError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let k = &file.kdf;
    if k.name != "scrypt" || file.cipher != "aes-256-gcm" {
        return Err(invalid(
            "unknown kdf or cipher (scrypt and aes-256-gcm are known)",
        ));
    }
    if k.log_n > SCRYPT_LOG_N_MAX || k.r > 32 || k.p > 16 {
        return Err(invalid("scrypt cost over this node's bound"));
    }
    let salt = hex::decode(&k.salt).map_err(|_| invalid("salt is not hex"))?;
    let mut nonce = [0u8; 12];
    hex::decode_to_slice(&file.nonce, &mut nonce)
        .map_err(|_| invalid("nonce is not 12 hex bytes"))?;
    let ciphertext = hex::decode(&file.ciphertext).map_err(|_| invalid("ciphertext is not hex"))?;
    let sealing = derive(passphrase, &salt, k.log_n, k.r, k.p)
        .ok_or_else(|| invalid("invalid scrypt cost"))?;
    let secret = aes_gcm::Aes256Gcm::new(&sealing.into())
        .decrypt(
            &nonce.into(),
            Payload {
                msg: &ciphertext,
                aad: &file.address.0,
            },
        )
        .map_err(|_| KeyFileError::WrongPassphrase {
            path: path.to_path_buf(),
        })?;
    secret
        .try_into()
        .map_err(|_| invalid("the sealed secret is not 32 bytes"))
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

    #[test]
    fn encrypted_files_need_the_right_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v.key");
        let key = generate();
        // A low cost keeps the test fast; the format carries it.
        std::fs::write(&path, encrypt(&key, "correct horse", 10)).expect("write");
        assert!(is_encrypted(&path).expect("read"));
        let got = read_with(&path, Some("correct horse")).expect("opens");
        assert_eq!(got.to_bytes(), key.to_bytes());
        assert!(matches!(
            read_with(&path, Some("wrong")),
            Err(KeyFileError::WrongPassphrase { .. })
        ));
        assert!(matches!(
            read_with(&path, None),
            Err(KeyFileError::PassphraseNeeded { .. })
        ));
        // The address is sealed with the secret: changing it is detected.
        let text = std::fs::read_to_string(&path).expect("read");
        let other = address_of(&generate()).to_string();
        let altered = text.replace(&address_of(&key).to_string(), &other);
        std::fs::write(&path, altered).expect("write");
        assert!(read_with(&path, Some("correct horse")).is_err());
    }
}
