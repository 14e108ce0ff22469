//! API keys: the file `mameynode access key …` writes and the node reads.
//!
//! A key is `mamey_<id>_<secret>`: the id (8 hex digits) names it in lists, audit lines and
//! revocations; the secret is 32 random bytes. The file keeps only the SHA-256 of the whole key
//! (a fast hash is enough for 256 random bits), so reading the file does not give a key away.
//! The node rereads the file when its modification time or size changes, at most once a second,
//! so a new or revoked key takes effect without a restart.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::Role;

const FILE_VERSION: u32 = 1;
/// Keys in one file: the whole file is read on every change.
pub const KEYS_MAX: usize = 10_000;
const PREFIX: &str = "mamey_";
const RELOAD_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Error)]
pub enum KeyStoreError {
    #[error("cannot read the API key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the API key file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the API key file {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no API key with id {0}")]
    UnknownId(String),
    #[error("the API key file is full ({KEYS_MAX} keys); revoke and remove old keys first")]
    Full,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyEntry {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub role: Role,
    /// SHA-256 of the whole key, hex.
    pub sha256: String,
    pub created_ms: u64,
    #[serde(default)]
    pub revoked_ms: Option<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyFile {
    version: u32,
    keys: Vec<KeyEntry>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The id of a well-formed key, without looking it up.
pub fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == 8
        && secret.len() == 64
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then_some(id)
}

fn read_file(path: &Path) -> Result<KeyFile, KeyStoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeyFile::default()),
        Err(source) => {
            return Err(KeyStoreError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| KeyStoreError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if file.version != FILE_VERSION || file.keys.len() > KEYS_MAX {
        return Err(KeyStoreError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "version {} with {} keys (this node reads version {FILE_VERSION}, at most \
                 {KEYS_MAX} keys)",
                file.version,
                file.keys.len()
            ),
        });
    }
    Ok(file)
}

/// Writes the whole file through a temporary file and a rename, readable by its owner only, so
/// the node never reads half a file.
fn write_file(path: &Path, file: &KeyFile) -> Result<(), KeyStoreError> {
    use std::io::Write as _;
    let err = |source| KeyStoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let body = serde_json::to_vec_pretty(file).map_err(|e| err(std::io::Error::other(e)))?;
    let mut f = options.open(&tmp).map_err(err)?;
    f.write_all(&body).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Creates a key of `role`, stores its hash and returns the key (shown once, never stored).
pub fn create(path: &Path, role: Role, name: &str) -> Result<(String, KeyEntry), KeyStoreError> {
    let mut file = read_file(path)?;
    file.version = FILE_VERSION;
    if file.keys.len() >= KEYS_MAX {
        return Err(KeyStoreError::Full);
    }
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let id = loop {
        let mut id = [0u8; 4];
        OsRng.fill_bytes(&mut id);
        let id = hex::encode(id);
        if !file.keys.iter().any(|k| k.id == id) {
            break id;
        }
    };
    let key = format!("{PREFIX}{id}_{}", hex::encode(secret));
    let entry = KeyEntry {
        id,
        name: name.to_string(),
        role,
        sha256: digest(&key),
        created_ms: now_ms(),
        revoked_ms: None,
    };
    file.keys.push(entry.clone());
    write_file(path, &file)?;
    Ok((key, entry))
}

/// Marks a key revoked (kept in the file, so its id stays meaningful in the audit log).
pub fn revoke(path: &Path, id: &str) -> Result<KeyEntry, KeyStoreError> {
    let mut file = read_file(path)?;
    let entry = file
        .keys
        .iter_mut()
        .find(|k| k.id == id)
        .ok_or_else(|| KeyStoreError::UnknownId(id.to_string()))?;
    entry.revoked_ms.get_or_insert_with(now_ms);
    let entry = entry.clone();
    write_file(path, &file)?;
    Ok(entry)
}

pub fn list(path: &Path) -> Result<Vec<KeyEntry>, KeyStoreError> {
    Ok(read_file(path)?.keys)
}

/// What a presented key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    Valid { id: String, role: Role },
    Revoked { id: String },
    Unknown,
}

struct Loaded {
    keys: Vec<KeyEntry>,
    stamp: Option<(SystemTime, u64)>,
    checked: Instant,
}

/// The node's view of the key file.
pub struct KeyStore {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl KeyStore {
    pub fn open(path: PathBuf) -> Result<Self, KeyStoreError> {
        let keys = read_file(&path)?.keys;
        let loaded = Loaded {
            keys,
            stamp: stamp(&path),
            checked: Instant::now(),
        };
        Ok(Self {
            path,
            loaded: Mutex::new(loaded),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rereads the file if it changed; a file that does not parse keeps the keys last read (and
    /// says so in the log) rather than locking everyone out.
    fn refresh(&self, loaded: &mut Loaded) {
        if loaded.checked.elapsed() < RELOAD_CHECK {
            return;
        }
        loaded.checked = Instant::now();
        let now = stamp(&self.path);
        if now == loaded.stamp {
            return;
        }
        match read_file(&self.path) {
            Ok(file) => {
                tracing::info!(path = %self.path.display(), keys = file.keys.len(), "API keys reloaded");
                loaded.keys = file.keys;
                loaded.stamp = now;
            }
            Err(e) => {
                tracing::error!(error = %e, "API keys not reloaded; keeping the keys last read")
            }
        }
    }

    pub fn check(&self, key: &str) -> KeyCheck {
        let Some(id) = key_id(key) else {
            return KeyCheck::Unknown;
        };
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        self.refresh(&mut loaded);
        let presented = digest(key);
        let Some(entry) = loaded.keys.iter().find(|k| k.id == id) else {
            return KeyCheck::Unknown;
        };
        if !constant_time_eq(entry.sha256.as_bytes(), presented.as_bytes()) {
            return KeyCheck::Unknown;
        }
        match entry.revoked_ms {
            Some(_) => KeyCheck::Revoked {
                id: entry.id.clone(),
            },
            None => KeyCheck::Valid {
                id: entry.id.clone(),
                role: entry.role,
            },
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_checked_revoked_and_picked_up_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access/api-keys.json");
        let store = KeyStore::open(path.clone()).unwrap();
        let (key, entry) = create(&path, Role::Submit, "exchange").unwrap();
        assert_eq!(key_id(&key), Some(entry.id.as_str()));
        assert!(!std::fs::read_to_string(&path).unwrap().contains(&key));
        // The store rereads at most once a second.
        std::thread::sleep(RELOAD_CHECK + Duration::from_millis(50));
        assert_eq!(
            store.check(&key),
            KeyCheck::Valid {
                id: entry.id.clone(),
                role: Role::Submit
            }
        );
        let mut forged = key.clone();
        forged.pop();
        forged.push(if key.ends_with('0') { '1' } else { '0' });
        assert_eq!(store.check(&forged), KeyCheck::Unknown);
        assert_eq!(store.check("mamey_nothex"), KeyCheck::Unknown);
        revoke(&path, &entry.id).unwrap();
        std::thread::sleep(RELOAD_CHECK + Duration::from_millis(50));
        assert_eq!(
            store.check(&key),
            KeyCheck::Revoked {
                id: entry.id.clone()
            }
        );
        assert!(matches!(
            revoke(&path, "00000000"),
            Err(KeyStoreError::UnknownId(_))
        ));
        let listed = list(&path).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked_ms.is_some());
    }
}
