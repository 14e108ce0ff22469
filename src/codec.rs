//! The one canonical binary encoding of MameyNode.
//!
//! Every consensus-visible object (transactions, blocks, accounts, receipts) is encoded here, and the
//! same bytes are used for signing, hashing, storage and the wire. The rules:
//! - integers are fixed-width little-endian; booleans are one byte, `0` or `1`;
//! - byte strings and lists carry a `u32` length prefix and a per-field maximum;
//! - every top-level object starts with a version byte, and decoding rejects versions it does not know;
//! - [`decode_exact`] rejects input over the caller's size limit *before* parsing, and rejects trailing
//!   bytes after it, so each value has exactly one encoding that decodes.
//!
//! Invariant: `decode(encode(x)) == x` and `encode(decode(b)) == b` for every `b` that decodes.

use thiserror::Error;

/// Why bytes from outside could not be decoded. Every variant says where and what, so that a client
/// can fix its encoder.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("input is {len} bytes, over the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("input ended at byte {at}: {needed} more bytes needed for {what}")]
    UnexpectedEnd {
        what: &'static str,
        at: usize,
        needed: usize,
    },
    #[error("{count} trailing bytes after a complete {what}")]
    TrailingBytes { what: &'static str, count: usize },
    #[error("unknown {what} version {found} (this node understands version {supported})")]
    UnknownVersion {
        what: &'static str,
        found: u8,
        supported: u8,
    },
    #[error("unknown {what} tag {tag}")]
    UnknownTag { what: &'static str, tag: u8 },
    #[error("{what} length {len} is over its limit of {max}")]
    LengthOutOfRange {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("invalid {what}: {reason}")]
    InvalidValue {
        what: &'static str,
        reason: &'static str,
    },
}

/// Appends the canonical encoding of `self` to a buffer.
pub trait Encode {
    fn encode_to(&self, out: &mut Vec<u8>);

    /// Size hint for the encoding; exact for fixed-size types.
    fn encoded_len_hint(&self) -> usize {
        64
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        self.encode_to(&mut out);
        out
    }
}

/// Reads a value from a [`Reader`], consuming exactly its encoding.
pub trait Decode: Sized {
    /// Name used in error messages.
    const WHAT: &'static str;
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// Decodes one complete value from `bytes`, which must be at most `len_max` bytes and hold nothing else.
pub fn decode_exact<T: Decode>(bytes: &[u8], len_max: usize) -> Result<T, DecodeError> {
    if bytes.len() > len_max {
        return Err(DecodeError::TooLarge {
            len: bytes.len(),
            max: len_max,
        });
    }
    let mut r = Reader::new(bytes);
    let value = T::decode_from(&mut r)?;
    r.finish(T::WHAT)?;
    Ok(value)
}

/// A cursor over input bytes. It never allocates more than the input it has seen can justify.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::UnexpectedEnd {
                what,
                at: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A one-byte count, at most `max` (lists of a few entries).
    pub fn count_u8(&mut self, what: &'static str, max: usize) -> Result<usize, DecodeError> {
        let n = self.u8(what)? as usize;
        if n > max {
            return Err(DecodeError::LengthOutOfRange { what, len: n, max });
        }
        Ok(n)
    }

    /// An optional value: a presence byte (0 or 1, nothing else), then the value read by `read`.
    /// The writer is [`put_opt`].
    pub fn opt<T>(
        &mut self,
        what: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.bool(what)? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn u128(&mut self, what: &'static str) -> Result<u128, DecodeError> {
        Ok(u128::from_le_bytes(self.array(what)?))
    }

    /// Length-prefixed UTF-8 text of at most `max` bytes.
    pub fn string(&mut self, what: &'static str, max: usize) -> Result<String, DecodeError> {
        let bytes = self.bytes(what, max)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidValue {
                what,
                reason: "not UTF-8",
            })
    }

    pub fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidValue {
                what,
                reason: "a boolean must be 0 or 1",
            }),
        }
    }

    /// Reads the version byte of a top-level object and checks it.
    pub fn version(&mut self, what: &'static str, supported: u8) -> Result<(), DecodeError> {
        let found = self.u8(what)?;
        if found != supported {
            return Err(DecodeError::UnknownVersion {
                what,
                found,
                supported,
            });
        }
        Ok(())
    }

    /// Reads a `u32` length prefix and checks it against `max` and against the bytes left, so that a
    /// hostile length can never make us allocate.
    pub fn len_prefix(
        &mut self,
        what: &'static str,
        max: usize,
        min_item_len: usize,
    ) -> Result<usize, DecodeError> {
        let len = self.u32(what)? as usize;
        if len > max {
            return Err(DecodeError::LengthOutOfRange { what, len, max });
        }
        if len.saturating_mul(min_item_len.max(1)) > self.remaining() && min_item_len > 0 {
            return Err(DecodeError::UnexpectedEnd {
                what,
                at: self.pos,
                needed: len * min_item_len - self.remaining(),
            });
        }
        Ok(len)
    }

    /// Length-prefixed bytes.
    pub fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.len_prefix(what, max, 1)?;
        self.take(len, what)
    }

    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        if self.remaining() != 0 {
            return Err(DecodeError::TrailingBytes {
                what,
                count: self.remaining(),
            });
        }
        Ok(())
    }
}

/// Writers for the primitive encodings, kept beside the reader so the two cannot drift apart.
pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn put_u128(out: &mut Vec<u8>, v: u128) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub fn put_str(out: &mut Vec<u8>, v: &str) {
    put_bytes(out, v.as_bytes());
}
pub fn put_bool(out: &mut Vec<u8>, v: bool) {
    out.push(u8::from(v));
}
/// An optional value: a presence byte, then the value written by `put` (read by [`Reader::opt`]).
pub fn put_opt<T>(out: &mut Vec<u8>, v: Option<T>, put: impl FnOnce(&mut Vec<u8>, T)) {
    match v {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            put(out, v);
        }
    }
}
/// Length-prefixed bytes. Callers bound the length by the same maximum that the decoder enforces.
pub fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    let len = u32::try_from(v.len()).expect("encoded byte strings are bounded far below 4 GiB");
    put_u32(out, len);
    out.extend_from_slice(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_short_input_with_position() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u8("a"), Ok(1));
        assert_eq!(
            r.u32("b"),
            Err(DecodeError::UnexpectedEnd {
                what: "b",
                at: 1,
                needed: 2
            })
        );
    }

    #[test]
    fn hostile_length_prefix_is_rejected_before_allocation() {
        let mut buf = Vec::new();
        put_u32(&mut buf, u32::MAX);
        let mut r = Reader::new(&buf);
        assert!(matches!(
            r.bytes("blob", 1 << 20),
            Err(DecodeError::LengthOutOfRange { .. })
        ));
        let mut buf = Vec::new();
        put_u32(&mut buf, 100);
        let mut r = Reader::new(&buf);
        assert!(matches!(
            r.bytes("blob", 1 << 20),
            Err(DecodeError::UnexpectedEnd { .. })
        ));
    }

    #[test]
    fn bool_is_strict() {
        assert_eq!(Reader::new(&[1]).bool("b"), Ok(true));
        assert!(Reader::new(&[2]).bool("b").is_err());
    }
}
