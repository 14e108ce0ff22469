//! The consensus write-ahead log on disk: the [`WalEntry`] records of the current height. The host
//! appends what the engine asks to persist and calls [`WalFile::sync`] (`fdatasync`) before
//! anything it logged can be seen outside the process, so that a validator killed at any instant
//! restarts knowing every vote it sent.
//!
//! Record framing: `len: u32 | height: u64 | record (len bytes) | check: 8 bytes`, where `check` is
//! the first 8 bytes of BLAKE3 over height and record. A kill during a write leaves at most one torn
//! record at the end; [`WalFile::open`] keeps the records before it and cuts the file there.
//! Records of another height (the log of a height whose block is already committed) are ignored;
//! [`WalFile::reset`] cuts them off only once they take more than [`SPENT_BYTES_MAX`], so that most
//! heights cost no extra sync.
//!
//! Bounded: the log of one height may not grow past `bytes_max`; an append beyond it fails, and the
//! validator must stop rather than sign what it cannot log.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::context::Height;
use super::engine::WalEntry;
use super::wire::MESSAGE_BYTES_MAX;
use crate::codec::{decode_exact, Encode};

const HEADER_LEN: usize = 4 + 8;
/// Records of committed heights kept at the head of the file before a reset truncates it.
pub const SPENT_BYTES_MAX: u64 = 1 << 20;
const CHECK_LEN: usize = 8;

#[derive(Debug, Error)]
pub enum WalError {
    #[error("write-ahead log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write-ahead log {path} would exceed {bytes_max} bytes for one height; stopping rather than signing unlogged")]
    Full { path: PathBuf, bytes_max: u64 },
}

/// The open log file of the current height.
pub struct WalFile {
    file: File,
    path: PathBuf,
    height: Height,
    len: u64,
    /// Bytes of the current height's records.
    height_len: u64,
    bytes_max: u64,
    /// Appended since the last sync.
    dirty: bool,
}

fn check(height: u64, record: &[u8]) -> [u8; CHECK_LEN] {
    let mut h = blake3::Hasher::new();
    h.update(&height.to_le_bytes());
    h.update(record);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&h.finalize().as_bytes()[..CHECK_LEN]);
    out
}

/// Parses records from the start of `bytes`; returns the entries of `height` and the length of
/// the intact prefix.
fn parse(bytes: &[u8], height: Height) -> (Vec<WalEntry>, usize) {
    let mut entries = Vec::new();
    let mut pos = 0;
    while bytes.len() - pos >= HEADER_LEN {
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&bytes[pos..pos + 4]);
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MESSAGE_BYTES_MAX {
            break;
        }
        let end = pos + HEADER_LEN + len + CHECK_LEN;
        if end > bytes.len() {
            break;
        }
        let mut h = [0u8; 8];
        h.copy_from_slice(&bytes[pos + 4..pos + HEADER_LEN]);
        let record_height = u64::from_le_bytes(h);
        let record = &bytes[pos + HEADER_LEN..pos + HEADER_LEN + len];
        if bytes[end - CHECK_LEN..end] != check(record_height, record) {
            break;
        }
        let Ok(entry) = decode_exact::<WalEntry>(record, MESSAGE_BYTES_MAX) else {
            break;
        };
        if record_height == height.0 {
            entries.push(entry);
        }
        pos = end;
    }
    (entries, pos)
}

impl WalFile {
    /// Opens (or creates) the log at `path` for `height`: returns the entries it holds for that
    /// height, in order, after cutting off a torn tail. Entries of other heights are discarded.
    pub fn open(
        path: &Path,
        height: Height,
        bytes_max: u64,
    ) -> Result<(Self, Vec<WalEntry>), WalError> {
        let io = |source| WalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (entries, intact) = parse(&bytes, height);
        // Keep the intact prefix only if it belongs to this height; a log of an older height is
        // spent (its block is committed) and starts over.
        let keep = if entries.is_empty() { 0 } else { intact };
        if keep as u64 != bytes.len() as u64 {
            file.set_len(keep as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::Start(keep as u64)).map_err(io)?;
        Ok((
            Self {
                file,
                path: path.to_path_buf(),
                height,
                len: keep as u64,
                height_len: keep as u64,
                bytes_max,
                dirty: false,
            },
            entries,
        ))
    }

    pub fn height(&self) -> Height {
        self.height
    }

    /// Appends one record; durable after the next [`WalFile::sync`].
    pub fn append(&mut self, entry: &WalEntry) -> Result<(), WalError> {
        let record = entry.to_bytes();
        let mut frame = Vec::with_capacity(HEADER_LEN + record.len() + CHECK_LEN);
        let len =
            u32::try_from(record.len()).expect("log records are bounded by MESSAGE_BYTES_MAX");
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(&self.height.0.to_le_bytes());
        frame.extend_from_slice(&record);
        frame.extend_from_slice(&check(self.height.0, &record));
        if self.height_len + frame.len() as u64 > self.bytes_max {
            return Err(WalError::Full {
                path: self.path.clone(),
                bytes_max: self.bytes_max,
            });
        }
        let io = |source| WalError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&frame).map_err(io)?;
        self.len += frame.len() as u64;
        self.height_len += frame.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) -> Result<(), WalError> {
        if self.dirty {
            self.file.sync_data().map_err(|source| WalError::Io {
                path: self.path.clone(),
                source,
            })?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Starts the log of a new height (after the previous height's block is durably committed).
    /// The records before it are spent; they are cut off once they add up to
    /// [`SPENT_BYTES_MAX`].
    pub fn reset(&mut self, height: Height) -> Result<(), WalError> {
        self.sync()?;
        if self.len > SPENT_BYTES_MAX {
            let io = |source| WalError::Io {
                path: self.path.clone(),
                source,
            };
            self.file.set_len(0).map_err(io)?;
            self.file.seek(SeekFrom::Start(0)).map_err(io)?;
            self.file.sync_all().map_err(io)?;
            self.len = 0;
        }
        self.height = height;
        self.height_len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::context::{BlockHash, Round, Timeout, TimeoutKind, Value};

    fn entries(n: u32) -> Vec<WalEntry> {
        (0..n)
            .map(|i| {
                if i % 2 == 0 {
                    WalEntry::Timeout(Timeout {
                        kind: TimeoutKind::Prevote,
                        round: Round::new(i),
                    })
                } else {
                    WalEntry::OwnValue(Round::new(i), Value(BlockHash([i as u8; 32])))
                }
            })
            .collect()
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("consensus.wal");
        let written = entries(6);
        {
            let (mut wal, found) = WalFile::open(&path, Height(3), 1 << 20).expect("open");
            assert!(found.is_empty());
            for e in &written {
                wal.append(e).expect("append");
            }
        }
        let (_, found) = WalFile::open(&path, Height(3), 1 << 20).expect("reopen");
        assert_eq!(found, written);

        // Every cut of the file (a kill in the middle of a write) keeps exactly the whole records.
        let full = std::fs::read(&path).expect("read");
        for cut in 0..full.len() {
            std::fs::write(&path, &full[..cut]).expect("write");
            let (mut wal, found) = WalFile::open(&path, Height(3), 1 << 20).expect("open torn");
            assert!(written.starts_with(&found), "cut {cut}");
            // Appending after a torn tail continues the log cleanly.
            wal.append(&written[0]).expect("append after cut");
            drop(wal);
            let (_, again) = WalFile::open(&path, Height(3), 1 << 20).expect("reopen");
            assert_eq!(again.len(), found.len() + 1, "cut {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_log_and_other_heights_are_dropped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("consensus.wal");
        {
            let (mut wal, _) = WalFile::open(&path, Height(3), 1 << 20).expect("open");
            for e in entries(4) {
                wal.append(&e).expect("append");
            }
        }
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        let (_, found) = WalFile::open(&path, Height(3), 1 << 20).expect("open");
        assert_eq!(found, entries(3));
        // The node restarts one height later: the log of height 3 is spent.
        let (_, found) = WalFile::open(&path, Height(4), 1 << 20).expect("open");
        assert!(found.is_empty());
        assert_eq!(std::fs::metadata(&path).expect("meta").len(), 0);

        // A reset keeps spent records (ignored) until they grow large.
        let (mut wal, _) = WalFile::open(&path, Height(4), 1 << 20).expect("open");
        wal.append(&entries(1)[0]).expect("append");
        wal.reset(Height(5)).expect("reset");
        wal.append(&entries(2)[1]).expect("append");
        wal.sync().expect("sync");
        drop(wal);
        let (_, found) = WalFile::open(&path, Height(5), 1 << 20).expect("open");
        assert_eq!(found, vec![entries(2)[1].clone()]);
    }

    #[test]
    fn a_full_log_refuses_instead_of_growing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("consensus.wal");
        let (mut wal, _) = WalFile::open(&path, Height(1), 100).expect("open");
        wal.append(&entries(1)[0]).expect("first fits");
        let mut full = false;
        for e in entries(10) {
            if let Err(WalError::Full { .. }) = wal.append(&e) {
                full = true;
                break;
            }
        }
        assert!(full);
        wal.reset(Height(2)).expect("reset");
        wal.append(&entries(1)[0])
            .expect("a new height starts empty");
    }
}
