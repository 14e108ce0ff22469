use crate::codec::{
    put_bytes, put_str, put_u32, put_u64, put_u8, Decode, DecodeError, Encode, Reader,
};

use super::module_state::{put_events, read_events};
use super::{Address, Amount, ChainId, Event, Hash, Height, TxEnvelope, TxId, TX_SIZE_MAX};

/// Encoding version of blocks and block headers.
pub const BLOCK_VERSION: u8 = 1;

/// Protocol limit on transactions in one block.
pub const BLOCK_TXS_MAX: usize = 1 << 17;

/// Block header: what is hashed and what consensus agrees on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockHeader {
    pub chain_id: ChainId,
    pub height: Height,
    pub parent_hash: Hash,
    /// Chosen by the proposer (never read by execution); strictly increasing along the chain.
    pub timestamp_ms: u64,
    pub proposer: Address,
    /// Merkle root of the transaction ids, in block order (see [`tx_root`]).
    pub tx_root: Hash,
    /// Commitment to all account state after executing this block (see [`crate::state`]).
    pub state_root: Hash,
    pub tx_count: u32,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        Hash::sha256_tagged(b"mamey/block-header", &[&self.to_bytes()])
    }
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, BLOCK_VERSION);
        put_u64(out, self.chain_id);
        put_u64(out, self.height);
        out.extend_from_slice(&self.parent_hash.0);
        put_u64(out, self.timestamp_ms);
        out.extend_from_slice(&self.proposer.0);
        out.extend_from_slice(&self.tx_root.0);
        out.extend_from_slice(&self.state_root.0);
        put_u32(out, self.tx_count);
    }
    fn encoded_len_hint(&self) -> usize {
        1 + 8 + 8 + 32 + 8 + 32 + 32 + 32 + 4
    }
}

impl Decode for BlockHeader {
    const WHAT: &'static str = "block header";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, BLOCK_VERSION)?;
        Ok(BlockHeader {
            chain_id: r.u64("chain id")?,
            height: r.u64("height")?,
            parent_hash: Hash(r.array("parent hash")?),
            timestamp_ms: r.u64("timestamp")?,
            proposer: Address(r.array("proposer")?),
            tx_root: Hash(r.array("tx root")?),
            state_root: Hash(r.array("state root")?),
            tx_count: r.u32("tx count")?,
        })
    }
}

/// A block: header and the transactions it orders.
///
/// Invariant: `header.tx_count == transactions.len()` and `header.tx_root == tx_root(ids)`; the
/// decoder checks both, so a stored or received block cannot disagree with its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub header: BlockHeader,
    pub transactions: Vec<TxEnvelope>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    pub fn tx_ids(&self) -> Vec<TxId> {
        self.transactions.iter().map(|t| t.id).collect()
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        for tx in &self.transactions {
            put_bytes(out, &tx.bytes);
        }
    }
    fn encoded_len_hint(&self) -> usize {
        self.header.encoded_len_hint()
            + self
                .transactions
                .iter()
                .map(|t| t.bytes.len() + 4)
                .sum::<usize>()
    }
}

impl Decode for Block {
    const WHAT: &'static str = "block";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let header = BlockHeader::decode_from(r)?;
        let count = header.tx_count as usize;
        if count > BLOCK_TXS_MAX {
            return Err(DecodeError::LengthOutOfRange {
                what: "block transactions",
                len: count,
                max: BLOCK_TXS_MAX,
            });
        }
        // Each transaction takes at least its length prefix and the smallest encoding: cap the
        // allocation by what the input can actually hold.
        let entry_min = 4 + super::Transaction::ENCODED_LEN_MIN;
        let mut transactions = Vec::with_capacity(count.min(r.remaining() / entry_min));
        for _ in 0..count {
            let bytes = r.bytes("block transaction", TX_SIZE_MAX)?;
            transactions.push(TxEnvelope::decode(bytes, TX_SIZE_MAX)?);
        }
        let ids: Vec<TxId> = transactions.iter().map(|t| t.id).collect();
        if tx_root(&ids) != header.tx_root {
            return Err(DecodeError::InvalidValue {
                what: "block",
                reason: "tx root does not match the transactions",
            });
        }
        Ok(Block {
            header,
            transactions,
        })
    }
}

/// Merkle root over transaction ids, RFC 6962 style: leaves and inner nodes are hashed with distinct
/// prefixes (so a leaf can never pass for a node), and a list of n > 1 splits at the largest power of
/// two below n.
pub fn tx_root(ids: &[TxId]) -> Hash {
    fn node(ids: &[TxId]) -> Hash {
        if let [id] = ids {
            return Hash::sha256_tagged(&[0], &[&id.0]);
        }
        // ids.len() >= 2 here: split at the largest power of two strictly below the length.
        let below = ids.len() - 1;
        let split = 1usize << (usize::BITS - 1 - below.leading_zeros());
        let (l, r) = ids.split_at(split);
        Hash::sha256_tagged(&[1], &[&node(l).0, &node(r).0])
    }
    if ids.is_empty() {
        return Hash::sha256(b"");
    }
    node(ids)
}

/// What happened to a transaction included in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A refusal kept on the record (a compliance decision): the transaction paid its fee and
    /// used its nonce, moved nothing, and its receipt says which rule refused it.
    Refused {
        module: u8,
        code: u32,
        message: String,
    },
}

/// Longest message of a recorded refusal.
pub const REFUSAL_MESSAGE_LEN_MAX: usize = 512;

/// The record of one included transaction's execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub tx_id: TxId,
    pub outcome: Outcome,
    pub fee_paid: Amount,
    /// What the transaction did, as its module reports it (none for native transfers: their one
    /// movement is the transaction itself).
    pub events: Vec<Event>,
}

impl Receipt {
    /// The id a block's own events are stored under, after its transactions' receipts: no
    /// transaction has it (it is not the hash of any known bytes).
    pub const BLOCK_EVENTS_ID: TxId = crate::types::Hash([0; 32]);

    /// The receipt that holds a block's own events.
    pub fn of_block(events: Vec<Event>) -> Self {
        Receipt {
            tx_id: Self::BLOCK_EVENTS_ID,
            outcome: Outcome::Success,
            fee_paid: 0,
            events,
        }
    }
}

/// Version 2 added events. Data directories from before it are not read (their state root
/// differs too): create them again.
const RECEIPT_VERSION: u8 = 2;

impl Encode for Receipt {
    fn encode_to(&self, out: &mut Vec<u8>) {
        put_u8(out, RECEIPT_VERSION);
        out.extend_from_slice(&self.tx_id.0);
        match &self.outcome {
            Outcome::Success => put_u8(out, 0),
            Outcome::Refused {
                module,
                code,
                message,
            } => {
                put_u8(out, 1);
                put_u8(out, *module);
                put_u32(out, *code);
                put_str(out, message);
            }
        }
        put_u64(out, self.fee_paid);
        put_events(out, &self.events);
    }
}

impl Decode for Receipt {
    const WHAT: &'static str = "receipt";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, RECEIPT_VERSION)?;
        let tx_id = Hash(r.array("receipt tx id")?);
        let outcome = match r.u8("receipt outcome")? {
            0 => Outcome::Success,
            1 => Outcome::Refused {
                module: r.u8("refusing module")?,
                code: r.u32("refusal code")?,
                message: r.string("refusal message", REFUSAL_MESSAGE_LEN_MAX)?,
            },
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "receipt outcome",
                    tag,
                })
            }
        };
        let fee_paid = r.u64("receipt fee")?;
        let events = read_events(r)?;
        Ok(Receipt {
            tx_id,
            outcome,
            fee_paid,
            events,
        })
    }
}
