//! What the runtime knows of any module's state and events, without knowing the module: keys
//! namespaced by the module's payload tag, values as the module encodes them, and events as a
//! type name with typed attributes.
//!
//! Invariants: a key's first byte is the payload tag of the module that owns it, so no two modules'
//! keys can collide; keys order bytewise, so every walk over them is deterministic.

use std::collections::BTreeMap;
use std::fmt;

use crate::codec::{put_str, put_u128, put_u32, put_u8, Decode, DecodeError, Encode, Reader};

use super::{Address, Hash};

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

/// Longest text attribute of an event.
pub const EVENT_TEXT_LEN_MAX: usize = 1024;
/// Most attributes in one event.
pub const EVENT_FIELDS_MAX: usize = 32;

/// An event attribute's value, typed so that execution formats nothing (text forms are made
/// where events are shown) and the addresses an event concerns are its address values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    Address(Address),
    /// An id (asset id, ...), shown as hex.
    Id(Hash),
    /// An amount in base units, shown as a decimal string.
    Amount(u128),
    Text(String),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Address(a) => write!(f, "{a}"),
            AttrValue::Id(h) => write!(f, "{}", h.to_hex()),
            AttrValue::Amount(v) => write!(f, "{v}"),
            AttrValue::Text(t) => f.write_str(t),
        }
    }
}

/// Something a transaction did, as its module reports it: `kind` (e.g. `transfer`) and typed
/// attributes in the order the module gives them. The addresses it concerns (for history and
/// stream filters) are its address attributes. Modules build these from typed event enums; the
/// runtime stores and serves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Payload tag of the emitting module.
    pub module: u8,
    pub kind: String,
    pub attributes: Vec<(String, AttrValue)>,
}

impl Event {
    /// Every address the event concerns, in attribute order.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.attributes.iter().filter_map(|(_, v)| match v {
            AttrValue::Address(a) => Some(a),
            _ => None,
        })
    }

    pub fn concerns(&self, address: &Address) -> bool {
        self.addresses().any(|a| a == address)
    }
}

const ATTR_ADDRESS: u8 = 1;
const ATTR_ID: u8 = 2;
const ATTR_AMOUNT: u8 = 3;
const ATTR_TEXT: u8 = 4;

impl Encode for Event {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, self.module);
        put_str(out, &self.kind);
        put_u32(out, self.attributes.len() as u32);
        for (k, v) in &self.attributes {
            put_str(out, k);
            match v {
                AttrValue::Address(a) => {
                    put_u8(out, ATTR_ADDRESS);
                    out.extend_from_slice(&a.0);
                }
                AttrValue::Id(h) => {
                    put_u8(out, ATTR_ID);
                    out.extend_from_slice(&h.0);
                }
                AttrValue::Amount(x) => {
                    put_u8(out, ATTR_AMOUNT);
                    put_u128(out, *x);
                }
                AttrValue::Text(t) => {
                    put_u8(out, ATTR_TEXT);
                    put_str(out, t);
                }
            }
        }
    }
}

impl Decode for Event {
    const WHAT: &'static str = "event";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let module = r.u8("event module")?;
        let kind = r.string("event type", 64)?;
        let n = r.len_prefix("event attributes", EVENT_FIELDS_MAX, 6)?;
        let mut attributes = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.string("event attribute name", 64)?;
            let v = match r.u8("event attribute kind")? {
                ATTR_ADDRESS => AttrValue::Address(Address(r.array("event address")?)),
                ATTR_ID => AttrValue::Id(Hash(r.array("event id")?)),
                ATTR_AMOUNT => AttrValue::Amount(r.u128("event amount")?),
                ATTR_TEXT => AttrValue::Text(r.string("event text", EVENT_TEXT_LEN_MAX)?),
                tag => {
                    return Err(DecodeError::UnknownTag {
                        what: "event attribute kind",
                        tag,
                    })
                }
            };
            attributes.push((k, v));
        }
        Ok(Event {
            module,
            kind,
            attributes,
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
