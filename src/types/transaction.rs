use std::fmt;
use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};

use crate::codec::{decode_exact, put_u64, put_u8, Decode, DecodeError, Encode, Reader};

use super::{Address, Amount, ChainId, Hash, Payload};

/// Encoding version of [`Transaction`].
pub const TX_VERSION: u8 = 1;

/// Protocol limit on one encoded transaction. Nodes may configure a lower one for their ingest.
pub const TX_SIZE_MAX: usize = 4096;

const SIGNATURE_LEN: usize = 64;

/// Transaction id: SHA-256 of the complete signed encoding.
pub type TxId = Hash;

/// An Ed25519 signature as received (`R || S`); its validity is decided only by [`crate::sigverify`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// A signed transaction.
///
/// Encoding (version 1): `version u8 | chain_id u64 | sender [32] | nonce u64 | fee u64 | payload |
/// signature [64]`. The signed message is the encoding without the trailing signature, so it is a
/// prefix of the bytes on the wire and never needs re-encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub chain_id: ChainId,
    pub sender: Address,
    pub nonce: u64,
    pub fee: Amount,
    pub payload: Payload,
    pub signature: Signature,
}

impl Transaction {
    /// The smallest encoding of any transaction (a validator registration: every field
    /// fixed-size, and the shortest payload).
    pub const ENCODED_LEN_MIN: usize = 1 + 8 + 32 + 8 + 8 + (1 + 1 + 2 + 8) + SIGNATURE_LEN;

    /// Builds and signs a transaction with `key`; the sender is the key's public key.
    pub fn sign(
        key: &SigningKey,
        chain_id: ChainId,
        nonce: u64,
        fee: Amount,
        payload: Payload,
    ) -> TxEnvelope {
        let mut tx = Transaction {
            chain_id,
            sender: Address(key.verifying_key().to_bytes()),
            nonce,
            fee,
            payload,
            signature: Signature([0; SIGNATURE_LEN]),
        };
        let mut bytes = Vec::with_capacity(192);
        tx.encode_unsigned(&mut bytes);
        let sig = key.sign(&bytes).to_bytes();
        bytes.extend_from_slice(&sig);
        tx.signature = Signature(sig);
        TxEnvelope::from_parts(tx, bytes)
    }

    fn encode_unsigned(&self, out: &mut Vec<u8>) {
        put_u8(out, TX_VERSION);
        put_u64(out, self.chain_id);
        out.extend_from_slice(&self.sender.0);
        put_u64(out, self.nonce);
        put_u64(out, self.fee);
        self.payload.encode_to(out);
    }

    /// What the sender's native balance must cover: fee plus what the payload moves out of it.
    pub fn cost(&self) -> Option<Amount> {
        self.fee.checked_add(self.payload.native_debit())
    }
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.encode_unsigned(out);
        out.extend_from_slice(&self.signature.0);
    }
    fn encoded_len_hint(&self) -> usize {
        192
    }
}

impl Decode for Transaction {
    const WHAT: &'static str = "transaction";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.version(Self::WHAT, TX_VERSION)?;
        Ok(Transaction {
            chain_id: r.u64("chain id")?,
            sender: Address(r.array("sender")?),
            nonce: r.u64("nonce")?,
            fee: r.u64("fee")?,
            payload: Payload::decode_from(r)?,
            signature: Signature(r.array("signature")?),
        })
    }
}

/// A decoded transaction together with its exact bytes and id: what flows through the pipeline.
///
/// Invariant: `bytes` is the canonical encoding of `tx` and `id == sha256(bytes)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxEnvelope {
    pub tx: Transaction,
    pub bytes: Arc<[u8]>,
    pub id: TxId,
}

impl TxEnvelope {
    fn from_parts(tx: Transaction, bytes: Vec<u8>) -> Self {
        let id = Hash::sha256(&bytes);
        TxEnvelope {
            tx,
            bytes: bytes.into(),
            id,
        }
    }

    /// Decodes a transaction from outside. Because the encoding is canonical (fixed-width fields,
    /// no trailing bytes), the input bytes are exactly the encoding and are kept as they are.
    pub fn decode(bytes: &[u8], len_max: usize) -> Result<Self, DecodeError> {
        let tx = decode_exact::<Transaction>(bytes, len_max.min(TX_SIZE_MAX))?;
        Ok(Self::from_parts(tx, bytes.to_vec()))
    }

    /// [`TxEnvelope::decode`] for bytes the caller already owns (ingest): they become the
    /// envelope's bytes without another copy.
    pub fn decode_owned(bytes: Vec<u8>, len_max: usize) -> Result<Self, DecodeError> {
        let tx = decode_exact::<Transaction>(&bytes, len_max.min(TX_SIZE_MAX))?;
        Ok(Self::from_parts(tx, bytes))
    }

    /// The bytes the signature signs.
    pub fn signing_message(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - SIGNATURE_LEN]
    }

    pub fn public_key(&self) -> &[u8; 32] {
        &self.tx.sender.0
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.tx.signature.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{BankCall, StakingCall};

    #[test]
    fn smallest_encoding_is_a_validator_registration() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let tx = Transaction::sign(
            &key,
            1,
            0,
            1,
            Payload::Staking(StakingCall::RegisterValidator {
                commission_bps: 500,
                amount: 1,
            }),
        );
        assert_eq!(tx.bytes.len(), Transaction::ENCODED_LEN_MIN);
        let transfer = Transaction::sign(
            &key,
            1,
            0,
            1,
            Payload::Bank(BankCall::Transfer {
                to: Address([0; 32]),
                amount: 1,
            }),
        );
        assert!(transfer.bytes.len() > Transaction::ENCODED_LEN_MIN);
    }

    #[test]
    fn every_staking_call_round_trips() {
        let key = SigningKey::from_bytes(&[4; 32]);
        for call in [
            StakingCall::RegisterValidator {
                commission_bps: 10_000,
                amount: 7,
            },
            StakingCall::Delegate {
                validator: Address([9; 32]),
                amount: 8,
            },
            StakingCall::Undelegate {
                validator: Address([9; 32]),
                amount: 9,
            },
            StakingCall::ReportEquivocation {
                evidence: vec![1, 2, 3],
            },
            StakingCall::SetEndpoint {
                endpoint: "10.0.0.7:26656".parse().expect("socket"),
            },
            StakingCall::SetEndpoint {
                endpoint: "[2001:db8::1]:9".parse().expect("socket"),
            },
        ] {
            let tx = Transaction::sign(&key, 1, 2, 3, Payload::Staking(call));
            let back = TxEnvelope::decode(&tx.bytes, TX_SIZE_MAX).expect("decodes");
            assert_eq!(back, tx);
        }
    }
}
