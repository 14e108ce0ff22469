//! The audit log: every admin call and every refused call, one JSON object per line (who, from
//! where, what, when, the result), appended by one writer thread and rotated by size
//! (`audit.log` → `audit.log.1` → … → `audit.log.N`, the oldest dropped).
//!
//! Callers never wait on the disk: lines go through a bounded queue; when it is full the line is
//! dropped, counted, and the count is written as its own line once the writer catches up, so a
//! gap is never silent.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

/// One audited event.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub ts_ms: u64,
    /// `jsonrpc`, `grpc` or `metrics`.
    pub api: &'static str,
    /// `key:<id>`, `token:<sub>`, `anonymous`, or `invalid` (credentials that did not verify).
    pub who: String,
    pub ip: Option<String>,
    /// The JSON-RPC method, gRPC path or HTTP path.
    pub what: String,
    /// `allowed`, `unauthenticated`, `forbidden` or `rate_limited`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub struct AuditLog {
    tx: SyncSender<AuditEntry>,
    dropped: Arc<AtomicU64>,
}

struct Writer {
    path: PathBuf,
    bytes_max: u64,
    files_max: u32,
    file: Option<std::fs::File>,
    size: u64,
    dropped: Arc<AtomicU64>,
}

impl Writer {
    fn open(&mut self) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    fn rotated(path: &Path, n: u32) -> PathBuf {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.files_max == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.files_max).rev() {
                let from = Self::rotated(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, Self::rotated(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, Self::rotated(&self.path, 1))?;
        }
        self.open()
    }

    fn write(&mut self, entry: &AuditEntry) -> std::io::Result<()> {
        if self.file.is_none() {
            self.open()?;
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        let mut lines = Vec::with_capacity(256);
        if dropped > 0 {
            let gap = serde_json::json!({"ts_ms": now_ms(), "dropped": dropped});
            serde_json::to_writer(&mut lines, &gap).map_err(std::io::Error::other)?;
            lines.push(b'\n');
        }
        serde_json::to_writer(&mut lines, entry).map_err(std::io::Error::other)?;
        lines.push(b'\n');
        if self.size > 0 && self.size + lines.len() as u64 > self.bytes_max {
            self.rotate()?;
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(&lines)?;
            self.size += lines.len() as u64;
        }
        Ok(())
    }

    fn run(mut self, rx: Receiver<AuditEntry>) {
        while let Ok(entry) = rx.recv() {
            if let Err(e) = self.write(&entry) {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit log");
                self.file = None;
            }
        }
    }
}

impl AuditLog {
    /// Starts the writer thread; the log file is created on the first line.
    pub fn start(
        path: PathBuf,
        bytes_max: u64,
        files_max: u32,
        queue_max: usize,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(queue_max.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            path,
            bytes_max: bytes_max.max(1024),
            files_max,
            file: None,
            size: 0,
            dropped: dropped.clone(),
        };
        std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || writer.run(rx))?;
        Ok(Self { tx, dropped })
    }

    pub fn record(&self, entry: AuditEntry) {
        match self.tx.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(what: &str) -> AuditEntry {
        AuditEntry {
            ts_ms: now_ms(),
            api: "jsonrpc",
            who: "anonymous".into(),
            ip: Some("127.0.0.1".into()),
            what: what.into(),
            result: "forbidden",
            code: Some(4003),
            detail: None,
        }
    }

    #[test]
    fn lines_are_json_and_the_log_rotates_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::start(path.clone(), 1024, 2, 64).unwrap();
        for i in 0..40 {
            log.record(entry(&format!("method_{i}")));
        }
        drop(log);
        // The writer drains the queue and stops when the sender is gone.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let lines = |p: &Path| -> Vec<serde_json::Value> {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        while std::time::Instant::now() < deadline {
            if lines(&path)
                .last()
                .and_then(|v| v["what"].as_str().map(String::from))
                == Some("method_39".into())
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let current = lines(&path);
        assert_eq!(current.last().unwrap()["what"], "method_39");
        assert!(std::fs::metadata(&path).unwrap().len() <= 1024);
        let one = lines(&Writer::rotated(&path, 1));
        assert!(!one.is_empty());
        assert!(std::fs::metadata(Writer::rotated(&path, 2)).is_ok());
        assert!(std::fs::metadata(Writer::rotated(&path, 3)).is_err());
        assert_eq!(one[0]["result"], "forbidden");
    }
}
