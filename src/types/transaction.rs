use std::fmt;
use std::sync::Arc;

use ed25519_dalek::{Signer, SigningKey};

use crate::codec::{decode_exact, put_bytes, put_u64, put_u8, Decode, DecodeError, Encode, Reader};

use super::{Address, Amount, ChainId, Hash};

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

/// A call into one of the node's application modules. New modules get new tags; the tag values are
/// part of the protocol and never reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Bank(BankCall),
    Staking(StakingCall),
}

/// Calls into the native bank module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BankCall {
    /// Move `amount` of the native asset from the sender to `to`.
    Transfer { to: Address, amount: Amount },
}

/// Largest equivocation evidence a transaction may carry (two signed votes need about 300 bytes).
pub const EVIDENCE_BYTES_MAX: usize = 1024;

/// Calls into the staking (DPoS) module; see `crate::execution::staking`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StakingCall {
    /// Make the sender a validator candidate, bonding `amount` of its own as self-delegation;
    /// `commission_bps` (basis points) of its rewards go to it before the rest is shared.
    RegisterValidator { commission_bps: u16, amount: Amount },
    /// Bond `amount` of the sender's balance to `validator`.
    Delegate { validator: Address, amount: Amount },
    /// Unbond `amount` of the sender's stake with `validator`; it returns to the sender's balance
    /// after the unbonding period.
    Undelegate { validator: Address, amount: Amount },
    /// Proof that a validator signed two different votes for one height, round and kind: the
    /// consensus wire encoding of the two signed votes. Slashes and jails the validator.
    ReportEquivocation { evidence: Vec<u8> },
}

const PAYLOAD_TAG_BANK: u8 = 1;
const PAYLOAD_TAG_STAKING: u8 = 2;
const BANK_TAG_TRANSFER: u8 = 1;
const STAKING_TAG_REGISTER: u8 = 1;
const STAKING_TAG_DELEGATE: u8 = 2;
const STAKING_TAG_UNDELEGATE: u8 = 3;
const STAKING_TAG_EVIDENCE: u8 = 4;

impl Encode for Payload {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Bank(BankCall::Transfer { to, amount }) => {
                put_u8(out, PAYLOAD_TAG_BANK);
                put_u8(out, BANK_TAG_TRANSFER);
                out.extend_from_slice(&to.0);
                put_u64(out, *amount);
            }
            Payload::Staking(call) => {
                put_u8(out, PAYLOAD_TAG_STAKING);
                match call {
                    StakingCall::RegisterValidator {
                        commission_bps,
                        amount,
                    } => {
                        put_u8(out, STAKING_TAG_REGISTER);
                        out.extend_from_slice(&commission_bps.to_le_bytes());
                        put_u64(out, *amount);
                    }
                    StakingCall::Delegate { validator, amount } => {
                        put_u8(out, STAKING_TAG_DELEGATE);
                        out.extend_from_slice(&validator.0);
                        put_u64(out, *amount);
                    }
                    StakingCall::Undelegate { validator, amount } => {
                        put_u8(out, STAKING_TAG_UNDELEGATE);
                        out.extend_from_slice(&validator.0);
                        put_u64(out, *amount);
                    }
                    StakingCall::ReportEquivocation { evidence } => {
                        put_u8(out, STAKING_TAG_EVIDENCE);
                        put_bytes(out, evidence);
                    }
                }
            }
        }
    }
}

impl Decode for Payload {
    const WHAT: &'static str = "payload";
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("payload module tag")? {
            PAYLOAD_TAG_BANK => match r.u8("bank call tag")? {
                BANK_TAG_TRANSFER => Ok(Payload::Bank(BankCall::Transfer {
                    to: Address(r.array("transfer recipient")?),
                    amount: r.u64("transfer amount")?,
                })),
                tag => Err(DecodeError::UnknownTag {
                    what: "bank call",
                    tag,
                }),
            },
            PAYLOAD_TAG_STAKING => {
                let call = match r.u8("staking call tag")? {
                    STAKING_TAG_REGISTER => StakingCall::RegisterValidator {
                        commission_bps: u16::from_le_bytes(r.array("commission")?),
                        amount: r.u64("self-delegation amount")?,
                    },
                    STAKING_TAG_DELEGATE => StakingCall::Delegate {
                        validator: Address(r.array("validator")?),
                        amount: r.u64("delegation amount")?,
                    },
                    STAKING_TAG_UNDELEGATE => StakingCall::Undelegate {
                        validator: Address(r.array("validator")?),
                        amount: r.u64("undelegation amount")?,
                    },
                    STAKING_TAG_EVIDENCE => StakingCall::ReportEquivocation {
                        evidence: r.bytes("evidence", EVIDENCE_BYTES_MAX)?.to_vec(),
                    },
                    tag => {
                        return Err(DecodeError::UnknownTag {
                            what: "staking call",
                            tag,
                        })
                    }
                };
                Ok(Payload::Staking(call))
            }
            tag => Err(DecodeError::UnknownTag {
                what: "payload module",
                tag,
            }),
        }
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

    /// What the sender's balance must cover: fee plus what the payload moves out.
    pub fn cost(&self) -> Option<Amount> {
        match &self.payload {
            Payload::Bank(BankCall::Transfer { amount, .. })
            | Payload::Staking(StakingCall::RegisterValidator { amount, .. })
            | Payload::Staking(StakingCall::Delegate { amount, .. }) => {
                self.fee.checked_add(*amount)
            }
            Payload::Staking(
                StakingCall::Undelegate { .. } | StakingCall::ReportEquivocation { .. },
            ) => Some(self.fee),
        }
    }

    /// The account that receives what this transaction moves, if it is not the sender's.
    pub fn recipient(&self) -> Option<&Address> {
        match &self.payload {
            Payload::Bank(BankCall::Transfer { to, .. }) => Some(to),
            Payload::Staking(_) => None,
        }
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

    /// What signature verification needs of this transaction.
    pub fn sig_item(&self) -> crate::sigverify::SigItem<'_> {
        crate::sigverify::SigItem {
            public_key: self.public_key(),
            signature: self.signature(),
            message: self.signing_message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            let tx = Transaction::sign(&key, 1, 2, 3, Payload::Staking(call));
            let back = TxEnvelope::decode(&tx.bytes, TX_SIZE_MAX).expect("decodes");
            assert_eq!(back, tx);
        }
    }
}
