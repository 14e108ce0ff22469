//! The fixed sets label values come from: pipeline stages, rejection reasons (from the typed
//! errors; every module refusal is `module_refused`), subscriber kinds, and gRPC methods (generated
//! from `proto/`, so a module's service needs no change here).

use super::*;

// gRPC methods (`/package.Service/Method`) counted by name; anything else is `unknown`. Ours
// are generated from `proto/` (every module's service included), the standard ones listed here.
include!(concat!(env!("OUT_DIR"), "/grpc_methods.rs"));

/// The standard services served beside ours.
pub const GRPC_STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Every gRPC method counted by name: the node's services and the standard ones.
pub fn grpc_methods() -> impl Iterator<Item = &'static str> {
    GRPC_SERVICE_METHODS
        .iter()
        .chain(GRPC_STANDARD_METHODS)
        .copied()
}

/// The `method` label of a request path: the path itself when it is one of ours, else `unknown`.
pub(super) fn grpc_label(path: &str) -> &'static str {
    grpc_methods()
        .find(|m| *m == path)
        .unwrap_or(UNKNOWN_METHOD)
}

// ---------------------------------------------------------------------------------------------
// Label values: fixed sets
// ---------------------------------------------------------------------------------------------

/// A pipeline stage (the `stage` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Ingest,
    Sigverify,
    Mempool,
    Select,
    Execute,
    Commit,
    Notify,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Ingest,
        Stage::Sigverify,
        Stage::Mempool,
        Stage::Select,
        Stage::Execute,
        Stage::Commit,
        Stage::Notify,
    ];

    /// Stages whose queue depth is tracked: the ones fed by messages that are counted when sent
    /// (`Select` and `Execute` have one message in flight at most).
    pub const QUEUED: [Stage; 5] = [
        Stage::Ingest,
        Stage::Sigverify,
        Stage::Mempool,
        Stage::Commit,
        Stage::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Sigverify => "sigverify",
            Stage::Mempool => "mempool",
            Stage::Select => "select",
            Stage::Execute => "execute",
            Stage::Commit => "commit",
            Stage::Notify => "notify",
        }
    }
}

/// Why a transaction was refused or dropped (the `reason` label): one value per
/// [`crate::pipeline::SubmitError`]
/// and [`DropReason`] variant (and per [`TxError`] variant inside them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    InvalidEncoding,
    TxTooLarge,
    TooManyTxs,
    BadSignature,
    WrongChain,
    FeeTooLow,
    NonceTooLow,
    NonceTooHigh,
    InsufficientFunds,
    AmountOverflow,
    ZeroAmount,
    /// The staking state refuses the call.
    StakingRefused,
    /// A module refuses the call (its code is in the error; the label stays bounded).
    ModuleRefused,
    /// A module's refusal kept on the record (a compliance rule): in its block, moved nothing.
    RefusedOnRecord,
    AlreadyPending,
    AlreadyCommitted,
    NonceAlreadyPending,
    MempoolFull,
    SenderFull,
    GappedFull,
    Busy,
    ShuttingDown,
    Internal,
    /// Admitted, then left out of a block because it could no longer apply.
    Discarded,
    /// Admitted, then dropped after waiting longer than `mempool.expiry_secs`.
    Expired,
    /// Admitted, then its nonce was used by another transaction of the sender.
    Superseded,
}

impl RejectReason {
    pub const ALL: [RejectReason; 26] = [
        RejectReason::InvalidEncoding,
        RejectReason::TxTooLarge,
        RejectReason::TooManyTxs,
        RejectReason::BadSignature,
        RejectReason::WrongChain,
        RejectReason::FeeTooLow,
        RejectReason::NonceTooLow,
        RejectReason::NonceTooHigh,
        RejectReason::InsufficientFunds,
        RejectReason::AmountOverflow,
        RejectReason::ZeroAmount,
        RejectReason::StakingRefused,
        RejectReason::ModuleRefused,
        RejectReason::RefusedOnRecord,
        RejectReason::AlreadyPending,
        RejectReason::AlreadyCommitted,
        RejectReason::NonceAlreadyPending,
        RejectReason::MempoolFull,
        RejectReason::SenderFull,
        RejectReason::GappedFull,
        RejectReason::Busy,
        RejectReason::ShuttingDown,
        RejectReason::Internal,
        RejectReason::Discarded,
        RejectReason::Expired,
        RejectReason::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidEncoding => "invalid_encoding",
            RejectReason::TxTooLarge => "tx_too_large",
            RejectReason::TooManyTxs => "too_many_txs",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::WrongChain => "wrong_chain",
            RejectReason::FeeTooLow => "fee_too_low",
            RejectReason::NonceTooLow => "nonce_too_low",
            RejectReason::NonceTooHigh => "nonce_too_high",
            RejectReason::InsufficientFunds => "insufficient_funds",
            RejectReason::AmountOverflow => "amount_overflow",
            RejectReason::ZeroAmount => "zero_amount",
            RejectReason::StakingRefused => "staking_refused",
            RejectReason::ModuleRefused => "module_refused",
            RejectReason::RefusedOnRecord => "refused_on_record",
            RejectReason::AlreadyPending => "already_pending",
            RejectReason::AlreadyCommitted => "already_committed",
            RejectReason::NonceAlreadyPending => "nonce_already_pending",
            RejectReason::MempoolFull => "mempool_full",
            RejectReason::SenderFull => "sender_full",
            RejectReason::GappedFull => "gapped_full",
            RejectReason::Busy => "busy",
            RejectReason::ShuttingDown => "shutting_down",
            RejectReason::Internal => "internal",
            RejectReason::Discarded => "discarded",
            RejectReason::Expired => "expired",
            RejectReason::Superseded => "superseded",
        }
    }
}

impl From<&TxError> for RejectReason {
    fn from(e: &TxError) -> Self {
        match e {
            TxError::WrongChain { .. } => RejectReason::WrongChain,
            TxError::FeeTooLow { .. } => RejectReason::FeeTooLow,
            TxError::NonceTooLow { .. } => RejectReason::NonceTooLow,
            TxError::NonceTooHigh { .. } => RejectReason::NonceTooHigh,
            TxError::InsufficientFunds { .. } => RejectReason::InsufficientFunds,
            TxError::AmountOverflow => RejectReason::AmountOverflow,
            TxError::ZeroAmount => RejectReason::ZeroAmount,
            TxError::Module(_) => RejectReason::ModuleRefused,
            e => {
                debug_assert!(e.is_staking_refusal(), "{e:?} has no reason of its own");
                RejectReason::StakingRefused
            }
        }
    }
}

impl From<&DropReason> for RejectReason {
    fn from(r: &DropReason) -> Self {
        match r {
            DropReason::Discarded(_) => RejectReason::Discarded,
            DropReason::Expired { .. } => RejectReason::Expired,
            DropReason::Superseded { .. } => RejectReason::Superseded,
        }
    }
}

/// Who holds a live stream of committed blocks (the `kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberKind {
    /// QUIC commit stream.
    Quic,
    /// JSON-RPC subscription over WebSocket.
    WebSocket,
    /// A gRPC server stream (`StreamService.Subscribe`, the payments, DEX and metrics streams).
    Grpc,
}

impl SubscriberKind {
    pub const ALL: [SubscriberKind; 3] = [
        SubscriberKind::Quic,
        SubscriberKind::WebSocket,
        SubscriberKind::Grpc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberKind::Quic => "quic",
            SubscriberKind::WebSocket => "websocket",
            SubscriberKind::Grpc => "grpc",
        }
    }
}
