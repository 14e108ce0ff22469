//! QUIC transaction ingest (quinn) for high-volume clients, and its wire protocol.
//!
//! ALPN `mamey-ingest/1`. TLS with the node's self-signed certificate, which clients pin (it is served
//! by `mamey_ingestInfo` and written to `DATA_DIR/ingest-cert.der`). Nothing else is authenticated yet.
//!
//! Every request is a client-opened bidirectional stream whose first byte says what it is:
//!
//! - `0x01` **submit**: `u32 count`, then `count` × (`u32 len`, `len` bytes of an encoded transaction);
//!   the client finishes its side. The server answers `u8 0` then `u32 count` and per transaction
//!   either `u8 1` + 32-byte id (admitted) or `u8 0` + `i32 code` + `u16 len` + UTF-8 message (the
//!   JSON-RPC error code and message of `docs/API.md`), in order; or, if the batch itself is
//!   malformed, `u8 1` + `u16 len` + message. Then it finishes.
//! - `0x02` **commits**: no body. The server writes one frame per committed block, `u8 1`, `u64 height`,
//!   `u64 timestamp_ms`, `u32 n`, `n` × 32-byte id, followed by `u32 m`, `m` × (32-byte id, `i32 code`)
//!   for transactions discarded from it; until the connection closes. A subscriber too slow for its
//!   buffer gets `u8 2`, `u64 missed` and the stream ends: it is told, never silently skipped.
//!
//! All integers little-endian. Limits: `quic.connections_max` connections (more are refused),
//! `quic.streams_per_connection_max` concurrent streams per connection (QUIC flow control holds the
//! client back), `ingest.tx_bytes_max` per transaction and `ingest.batch_txs_max` per batch.

pub mod client;
pub(crate) mod server;

use thiserror::Error;

pub use server::{start, QuicIngest};

use crate::codec::{put_u32, put_u64, put_u8, DecodeError, Reader};
use crate::types::{Hash, TxId};

pub const ALPN: &[u8] = b"mamey-ingest/1";
pub const REQUEST_SUBMIT: u8 = 0x01;
pub const REQUEST_COMMITS: u8 = 0x02;
const FRAME_BLOCK: u8 = 1;
const FRAME_LAGGED: u8 = 2;
/// Server name in the node's certificate.
pub const SERVER_NAME: &str = "mameynode";
const MESSAGE_LEN_MAX: usize = 1024;

#[derive(Debug, Error)]
pub enum QuicError {
    #[error("QUIC connection failed: {0}")]
    Connection(String),
    #[error("QUIC stream failed: {0}")]
    Stream(String),
    #[error("malformed frame from the peer: {0}")]
    Decode(#[from] DecodeError),
    #[error("the node refused the batch: {0}")]
    BatchRefused(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// A transaction the node refused, as the submit answer carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i32,
    pub message: String,
}

pub type Answer = Result<TxId, Refusal>;

pub fn encode_submit(txs: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + txs.iter().map(|t| t.len() + 4).sum::<usize>());
    put_u8(&mut out, REQUEST_SUBMIT);
    put_u32(&mut out, txs.len() as u32);
    for t in txs {
        put_u32(&mut out, t.len() as u32);
        out.extend_from_slice(t);
    }
    out
}

/// Parses a submit body (after the request byte) within the given limits.
pub fn decode_submit(
    body: &[u8],
    count_max: usize,
    tx_len_max: usize,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut r = Reader::new(body);
    let count = r.len_prefix("batch count", count_max, 4)?;
    let mut txs = Vec::with_capacity(count);
    for _ in 0..count {
        txs.push(r.bytes("batch transaction", tx_len_max)?.to_vec());
    }
    r.finish("batch")?;
    Ok(txs)
}

fn put_message(out: &mut Vec<u8>, m: &str) {
    let mut end = m.len().min(MESSAGE_LEN_MAX);
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&m.as_bytes()[..end]);
}

fn read_message(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let len = u16::from_le_bytes(r.array("message length")?) as usize;
    if len > MESSAGE_LEN_MAX {
        return Err(DecodeError::LengthOutOfRange {
            what: "message",
            len,
            max: MESSAGE_LEN_MAX,
        });
    }
    Ok(String::from_utf8_lossy(r.take(len, "message")?).into_owned())
}

pub fn encode_answers(answers: &[Answer]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + answers.len() * 33);
    put_u8(&mut out, 0);
    put_u32(&mut out, answers.len() as u32);
    for a in answers {
        match a {
            Ok(id) => {
                put_u8(&mut out, 1);
                out.extend_from_slice(&id.0);
            }
            Err(refusal) => {
                put_u8(&mut out, 0);
                out.extend_from_slice(&refusal.code.to_le_bytes());
                put_message(&mut out, &refusal.message);
            }
        }
    }
    out
}

pub fn encode_batch_refusal(message: &str) -> Vec<u8> {
    let mut out = vec![1u8];
    put_message(&mut out, message);
    out
}

pub fn decode_answers(bytes: &[u8], count_max: usize) -> Result<Vec<Answer>, QuicError> {
    let mut r = Reader::new(bytes);
    match r.u8("answer status")? {
        0 => {}
        _ => return Err(QuicError::BatchRefused(read_message(&mut r)?)),
    }
    let count = r.len_prefix("answer count", count_max, 1)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(match r.u8("answer kind")? {
            1 => Ok(Hash(r.array("answer id")?)),
            _ => Err(Refusal {
                code: i32::from_le_bytes(r.array("answer code")?),
                message: read_message(&mut r)?,
            }),
        });
    }
    r.finish("answers")?;
    Ok(out)
}

/// One event of the commit stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitEvent {
    Block {
        height: u64,
        timestamp_ms: u64,
        committed: Vec<TxId>,
        discarded: Vec<(TxId, i32)>,
    },
    /// The subscriber fell behind by this many blocks and the stream ended.
    Lagged { missed: u64 },
}

pub fn encode_block_frame(
    height: u64,
    timestamp_ms: u64,
    committed: &[TxId],
    discarded: &[(TxId, i32)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(25 + committed.len() * 32 + 4 + discarded.len() * 36);
    put_u8(&mut out, FRAME_BLOCK);
    put_u64(&mut out, height);
    put_u64(&mut out, timestamp_ms);
    put_u32(&mut out, committed.len() as u32);
    for id in committed {
        out.extend_from_slice(&id.0);
    }
    put_u32(&mut out, discarded.len() as u32);
    for (id, code) in discarded {
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&code.to_le_bytes());
    }
    out
}

pub fn encode_lagged_frame(missed: u64) -> Vec<u8> {
    let mut out = vec![FRAME_LAGGED];
    put_u64(&mut out, missed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_and_answers_round_trip_and_limits() {
        let a = vec![1u8, 2, 3];
        let b = vec![9u8; 10];
        let body = encode_submit(&[&a, &b]);
        assert_eq!(body[0], REQUEST_SUBMIT);
        assert_eq!(decode_submit(&body[1..], 10, 100), Ok(vec![a, b]));
        assert!(matches!(
            decode_submit(&body[1..], 1, 100),
            Err(DecodeError::LengthOutOfRange { .. })
        ));
        assert!(matches!(
            decode_submit(&body[1..], 10, 5),
            Err(DecodeError::LengthOutOfRange { .. })
        ));
        let answers = vec![
            Ok(Hash([4; 32])),
            Err(Refusal {
                code: 1003,
                message: "bad signature".into(),
            }),
        ];
        assert_eq!(
            decode_answers(&encode_answers(&answers), 10).expect("decodes"),
            answers
        );
        assert!(matches!(
            decode_answers(&encode_batch_refusal("too big"), 10),
            Err(QuicError::BatchRefused(m)) if m == "too big"
        ));
    }
}
