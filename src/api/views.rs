//! The response views every front end serves (JSON-RPC, WebSocket, the CLI's output; gRPC maps
//! them to its messages). They belong to the shared API, not to one front end.

use serde::{Deserialize, Serialize};

use crate::types::{Address, Hash};

/// `mamey_status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    pub chain_id: u64,
    pub height: u64,
    /// With a single validator every committed block is final at once.
    pub finalized_height: u64,
    pub state_root: Hash,
    pub head_hash: Hash,
    pub head_timestamp_ms: u64,
    pub genesis_hash: Hash,
    pub min_fee: u64,
    pub sigverify_backend: String,
    pub version: String,
}

/// `mamey_getAccount` result (also what `mameynode account` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub address: Address,
    pub balance: u64,
    /// Number of transactions the account has sent that committed; the next one carries this nonce.
    pub nonce: u64,
    /// The nonce a new transaction should carry, counting the account's pending transactions.
    pub pending_nonce: u64,
}

/// One registered validator in `mamey_getValidators`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorView {
    pub address: Address,
    /// Bonded tokens (self-delegation, delegations and compounded rewards).
    pub tokens: u64,
    pub commission_bps: u16,
    /// Jailed for double signing: never elected again.
    pub jailed: bool,
    /// Voting power in the current set, if the validator is in it.
    pub power: Option<u64>,
    /// As a proposer, while in the active set (`consensus::leader`): turns that passed without
    /// its block decided, blocks it built that were decided, and the height below which it is
    /// skipped as proposer (0: not skipped).
    #[serde(default)]
    pub missed_proposals: u64,
    #[serde(default)]
    pub proposed: u64,
    #[serde(default)]
    pub proposer_skipped_until: u64,
    /// Heights this node decided since it started with and without the validator's precommit
    /// (in the certificate, or arriving before the next decision), while it was in the set:
    /// this node's view, not consensus state.
    #[serde(default)]
    pub signed_votes: u64,
    #[serde(default)]
    pub missed_votes: u64,
}

/// `mamey_getValidators` result: the registry and the active set at the committed head (the
/// set that finalizes the next height).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorsView {
    pub height: u64,
    pub epoch_blocks: u64,
    pub active_set_max: u32,
    pub total_power: u64,
    pub validators: Vec<ValidatorView>,
}

/// One delegation in `mamey_getStake`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationView {
    pub validator: Address,
    /// Shares of the validator's pool, as a decimal string (they can exceed 2^53).
    pub shares: String,
    /// What the shares are worth now, in tokens.
    pub tokens: u64,
}

/// `mamey_getStake` result: an address's delegations at the committed head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakeView {
    pub delegator: Address,
    pub height: u64,
    pub delegations: Vec<DelegationView>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    Pending,
    Committed,
    Finalized,
    Rejected,
}

/// `mamey_getTransaction` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxView {
    pub id: Hash,
    pub status: TxStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_hash: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_paid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The refusal's stable code, when a committed transaction was refused on the record (a
    /// compliance decision: included, fee paid, nothing moved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<u32>,
    /// What the transaction did, as its module reports it (committed transactions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventView>,
}

/// An event as JSON: `{"module", "type", ...attributes}` (amounts as decimal strings).
pub type EventView = serde_json::Map<String, serde_json::Value>;

/// `mamey_ingestInfo` result: where and how to reach the QUIC ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestInfoView {
    /// QUIC ingest address (UDP).
    pub quic: String,
    /// DER of the node's self-signed TLS certificate, hex; clients pin it.
    pub certificate_der: String,
    /// Largest batch and transaction the node accepts.
    pub batch_txs_max: usize,
    pub tx_bytes_max: usize,
}

/// `mamey_getBlock` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    pub height: u64,
    pub hash: Hash,
    pub parent_hash: Hash,
    pub state_root: Hash,
    pub tx_root: Hash,
    pub proposer: Address,
    pub timestamp_ms: u64,
    pub transactions: Vec<Hash>,
    /// The commit certificate that finalized the block: precommits of more than two thirds of the
    /// voting power for `hash`. Absent for genesis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<CommitView>,
}

/// A block's commit certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitView {
    /// The consensus round that decided the block.
    pub round: u32,
    pub signatures: Vec<CommitSignatureView>,
}

/// One validator's precommit signature (Ed25519 over the canonical precommit, see
/// `consensus::context::vote_sign_bytes`), hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSignatureView {
    pub validator: Address,
    pub signature: String,
}
