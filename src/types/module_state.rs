//! What the runtime knows of any module's state and events, without knowing the module: keys
//! namespaced by the module's payload tag, values as the module encodes them, and events as a
//! type name with attributes and the addresses they concern.
//!
//! Invariants: a key's first byte is the payload tag of the module that owns it, so no two modules'
//! keys can collide; keys order bytewise, so every walk over them is deterministic.

use std::collections::BTreeMap;
use std::fmt;

use crate::codec::{put_str, put_u32, put_u8, Decode, DecodeError, Encode, Reader};

use super::Address;

/// Longest key a module may use (tag included).
pub const STATE_KEY_LEN_MAX: usize = 256;

/// A key in module state: the owning module's payload tag, then the module's own bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateKey(Box<[u8]>);

impl StateKey {
    /// The key of `module` made of `parts`, concatenated.
    pub fn new(module: u8, parts: &[&[u8]]) -> Self {
        let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
        assert!(len <= STATE_KEY_LEN_MAX, "module keys are short");
        let mut k = Vec::with_capacity(len);
        k.push(module);
        for p in parts {
            k.extend_from_slice(p);
        }
        StateKey(k.into_boxed_slice())
    }

    /// A key read back from storage.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (!bytes.is_empty() && bytes.len() <= STATE_KEY_LEN_MAX)
            .then(|| StateKey(bytes.to_vec().into_boxed_slice()))
    }

    /// The payload tag of the module that owns the key.
    pub fn module(&self) -> u8 {
        self.0[0]
    }

    /// The module's own part of the key (after the tag).
    pub fn suffix(&self) -> &[u8] {
        &self.0[1..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for StateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateKey({}:{})", self.0[0], hex::encode(&self.0[1..]))
    }
}

/// Module state entries a block changed: the new value, `None` where the entry is deleted.
pub type StateWrites = BTreeMap<StateKey, Option<Vec<u8>>>;

/// Largest attribute value of an event.
pub const EVENT_VALUE_LEN_MAX: usize = 1024;
/// Most attributes and addresses in one event.
pub const EVENT_FIELDS_MAX: usize = 32;

/// Something a transaction did, as its module reports it: `kind` (e.g. `transfer`), attributes in
/// the order the module gives them, and every address the event concerns (for history and stream
/// filters). Modules build these from typed event enums; the runtime stores and serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Payload tag of the emitting module.
    pub module: u8,
    pub kind: String,
    pub attributes: Vec<(String, String)>,
    pub addresses: Vec<Address>,
}

impl Event {
    pub fn concerns(&self, address: &Address) -> bool {
        self.addresses.contains(address)
    }
}

impl Encode for Event {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, self.module);
        put_str(out, &self.kind);
        put_u32(out, self.attributes.len() as u32);
        for (k, v) in &self.attributes {
            put_str(out, k);
            put_str(out, v);
        }
        put_u32(out, self.addresses.len() as u32);
        for a in &self.addresses {
            out.extend_from_slice(&a.0);
        }
    }
}

impl Decode for Event {
    const WHAT: &'static str = "event";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let module = r.u8("event module")?;
        let kind = r.string("event type", 64)?;
        let n = r.len_prefix("event attributes", EVENT_FIELDS_MAX, 8)?;
        let mut attributes = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.string("event attribute name", 64)?;
            let v = r.string("event attribute value", EVENT_VALUE_LEN_MAX)?;
            attributes.push((k, v));
        }
        let n = r.len_prefix("event addresses", EVENT_FIELDS_MAX, 32)?;
        let mut addresses = Vec::with_capacity(n);
        for _ in 0..n {
            addresses.push(Address(r.array("event address")?));
        }
        Ok(Event {
            module,
            kind,
            attributes,
            addresses,
        })
    }
}

/// Encodes a list of events (length-prefixed).
pub fn put_events(out: &mut Vec<u8>, events: &[Event]) {
    put_u32(out, events.len() as u32);
    for e in events {
        e.encode_to(out);
    }
}

/// Decodes a list written by [`put_events`].
pub fn read_events(r: &mut Reader<'_>) -> Result<Vec<Event>, DecodeError> {
    let n = r.len_prefix("events", 4096, 9)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(Event::decode_from(r)?);
    }
    Ok(v)
}
