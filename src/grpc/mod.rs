//! gRPC API (tonic, protos in `proto/`): `mamey.v1.NodeService` (unary queries and submission),
//! `mamey.v1.StreamService` (filtered, resumable streams of blocks, transactions, accounts and
//! module events), one service per module (`mamey.banking.v1.BankingService`,
//! `mamey.staking.v1.StakingService`, `mamey.identity.v1.IdentityService`,
//! `mamey.compliance.v1.ComplianceService`, `mamey.payments.v1.PaymentService`,
//! `mamey.dex.v1.DEXService`), the node-wide `mamey.network.v1.NetworkService` (identity, listen
//! addresses, p2p peers, sync state, validators and stake) and `mamey.metrics.v1.MetricsService`
//! (the Prometheus text and pipeline counters, once or streamed), the standard health service and
//! server reflection (v1 and v1alpha, over one descriptor set holding every proto file). The
//! protos are compiled at build time by `protox`, so no system `protoc` is needed.
//!
//! Queries and submissions go through [`crate::api::Api`], the same code as JSON-RPC, so the two
//! APIs cannot disagree; errors carry the JSON-RPC code of `docs/API.md` in the `mamey-error-code`
//! metadata.

mod auth;
mod dex;
mod identity;
mod metrics;
mod modules;
mod network;
mod payments;

pub use dex::dex_proto;
pub use identity::{compliance_proto, identity_proto};
pub use metrics::metrics_proto;
pub use network::network_proto;
pub use payments::payments_proto;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status};

use crate::api::{Api, ApiError, ErrorCode};
use crate::config::GrpcConfig;
use crate::rpc::{TxStatus, TxView};
use crate::types::{BlockHeader, Hash};

/// Generated code for `mamey.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod proto {
    tonic::include_proto!("mamey.v1");

    /// The encoded descriptors of every `mamey.v1` file, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("mamey_descriptor");
}

use proto::node_service_server::{NodeService, NodeServiceServer};
use proto::stream_service_server::StreamServiceServer;

/// Maps an API error to a gRPC status, keeping the stable code in metadata.
pub fn status_of(e: &ApiError) -> Status {
    use tonic::Code;
    let code = match e.code {
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::Unauthenticated => Code::Unauthenticated,
        ErrorCode::Forbidden => Code::PermissionDenied,
        ErrorCode::QuotaExceeded => Code::ResourceExhausted,
        ErrorCode::AlreadyKnown => Code::AlreadyExists,
        ErrorCode::MempoolFull | ErrorCode::SenderQueueFull | ErrorCode::Busy => {
            Code::ResourceExhausted
        }
        ErrorCode::ShuttingDown => Code::Unavailable,
        ErrorCode::Internal => Code::Internal,
        ErrorCode::NonceTooLow
        | ErrorCode::NonceTooHigh
        | ErrorCode::InsufficientFunds
        | ErrorCode::NonceAlreadyPending
        | ErrorCode::Module(_) => Code::FailedPrecondition,
        _ => Code::InvalidArgument,
    };
    let mut status = Status::new(code, e.message.clone());
    if let Ok(v) = e.code.code().to_string().parse() {
        status.metadata_mut().insert("mamey-error-code", v);
    }
    status
}

/// INVALID_ARGUMENT with the JSON-RPC "invalid params" code in metadata, like every other error.
/// An optional text field: empty is absent.
pub(crate) fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A page size: 0 is the default.
pub(crate) fn page_limit(l: u32) -> Option<usize> {
    (l > 0).then_some(l as usize)
}

/// A 64-hex-digit id field.
pub(crate) fn parse_hash(s: &str, what: &str) -> Result<Hash, Status> {
    s.parse()
        .map_err(|e| invalid_argument(format!("{what} {s:?}: {e}")))
}

/// A Bech32m address field.
pub(crate) fn parse_address(s: &str, what: &str) -> Result<crate::types::Address, Status> {
    s.parse()
        .map_err(|e| invalid_argument(format!("{what} {s:?}: {e}")))
}

pub(crate) fn invalid_argument(message: impl Into<String>) -> Status {
    status_of(&ApiError::new(ErrorCode::InvalidParams, message))
}

fn hash_of(bytes: &[u8], what: &str) -> Result<Hash, Status> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| invalid_argument(format!("{what} must be 32 bytes, got {}", bytes.len())))?;
    Ok(Hash(arr))
}

pub(crate) fn header_of(h: &BlockHeader) -> proto::BlockHeader {
    proto::BlockHeader {
        height: h.height,
        hash: h.hash().0.to_vec(),
        parent_hash: h.parent_hash.0.to_vec(),
        state_root: h.state_root.0.to_vec(),
        tx_root: h.tx_root.0.to_vec(),
        proposer: h.proposer.to_string(),
        timestamp_ms: h.timestamp_ms,
        tx_count: h.tx_count,
    }
}

fn tx_status(s: TxStatus) -> proto::TxStatus {
    match s {
        TxStatus::Pending => proto::TxStatus::Pending,
        TxStatus::Committed => proto::TxStatus::Committed,
        TxStatus::Finalized => proto::TxStatus::Finalized,
        TxStatus::Rejected => proto::TxStatus::Rejected,
    }
}

struct Node {
    api: Arc<Api>,
}

#[tonic::async_trait]
impl NodeService for Node {
    async fn get_status(
        &self,
        _req: Request<proto::GetStatusRequest>,
    ) -> Result<Response<proto::GetStatusResponse>, Status> {
        let s = self.api.status();
        Ok(Response::new(proto::GetStatusResponse {
            chain_id: s.chain_id,
            height: s.height,
            finalized_height: s.finalized_height,
            state_root: s.state_root.0.to_vec(),
            head_hash: s.head_hash.0.to_vec(),
            genesis_hash: s.genesis_hash.0.to_vec(),
            min_fee: s.min_fee,
            version: s.version,
        }))
    }

    async fn get_account(
        &self,
        req: Request<proto::GetAccountRequest>,
    ) -> Result<Response<proto::Account>, Status> {
        let address = req
            .into_inner()
            .address
            .parse()
            .map_err(|e| invalid_argument(format!("address: {e}")))?;
        let a = self.api.account(address).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::Account {
            address: a.address.to_string(),
            balance: a.balance,
            nonce: a.nonce,
            pending_nonce: a.pending_nonce,
        }))
    }

    async fn get_transaction(
        &self,
        req: Request<proto::GetTransactionRequest>,
    ) -> Result<Response<proto::GetTransactionResponse>, Status> {
        let id = hash_of(&req.into_inner().id, "id")?;
        let v: TxView = self.api.transaction(id).await.map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::GetTransactionResponse {
            id: v.id.0.to_vec(),
            status: tx_status(v.status) as i32,
            height: v.height,
            index: v.index,
            block_hash: v.block_hash.map(|h| h.0.to_vec()).unwrap_or_default(),
            fee_paid: v.fee_paid,
            error: v.error.unwrap_or_default(),
            events: v.events.iter().map(modules::event_of_view).collect(),
        }))
    }

    async fn get_account_transactions(
        &self,
        req: Request<proto::GetAccountTransactionsRequest>,
    ) -> Result<Response<proto::GetAccountTransactionsResponse>, Status> {
        modules::account_transactions(&self.api, req.into_inner()).map(Response::new)
    }

    async fn get_block(
        &self,
        req: Request<proto::GetBlockRequest>,
    ) -> Result<Response<proto::GetBlockResponse>, Status> {
        let (block, _) = self
            .api
            .stored_block(req.into_inner().height)
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::GetBlockResponse {
            header: Some(header_of(&block.header)),
            transactions: block.transactions.iter().map(|t| t.id.0.to_vec()).collect(),
        }))
    }

    async fn submit_transaction(
        &self,
        req: Request<proto::SubmitTransactionRequest>,
    ) -> Result<Response<proto::SubmitTransactionResponse>, Status> {
        let id = self
            .api
            .submit(req.into_inner().transaction)
            .await
            .map_err(|e| status_of(&e))?;
        Ok(Response::new(proto::SubmitTransactionResponse {
            id: id.0.to_vec(),
        }))
    }
}

/// A running gRPC server.
pub struct GrpcServer {
    pub local_addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
}

impl GrpcServer {
    pub fn stop(self) {
        let _ = self.shutdown.send(());
    }
}

/// Binds and serves. Must run inside a tokio runtime.
/// With `tls`, the port speaks TLS only (ALPN `h2`); every call passes [`auth::AuthLayer`].
pub async fn start(
    config: &GrpcConfig,
    api: Arc<Api>,
    access: Arc<crate::access::Access>,
    tls: Option<Arc<crate::tls::server::ServerTls>>,
) -> std::io::Result<GrpcServer> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<NodeServiceServer<Node>>()
        .await;
    health_reporter
        .set_serving::<StreamServiceServer<stream::Streams>>()
        .await;
    health_reporter
        .set_serving::<modules::BankingServiceServer<modules::Banking>>()
        .await;
    health_reporter
        .set_serving::<modules::StakingServiceServer<modules::Staking>>()
        .await;
    health_reporter
        .set_serving::<identity::IdentityServiceServer<identity::Identity>>()
        .await;
    health_reporter
        .set_serving::<identity::ComplianceServiceServer<identity::Compliance>>()
        .await;
    health_reporter
        .set_serving::<payments::PaymentServiceServer<payments::Payments>>()
        .await;
    health_reporter
        .set_serving::<dex::DexServiceServer<dex::DexGrpc>>()
        .await;
    health_reporter
        .set_serving::<network::NetworkServiceServer<network::Network>>()
        .await;
    health_reporter
        .set_serving::<metrics::MetricsServiceServer<metrics::MetricsGrpc>>()
        .await;
    // Reflection in both versions: grpcurl speaks v1, the Python grpcio-reflection client and
    // older tools only v1alpha.
    let reflection_builder = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection = reflection_builder()
        .build_v1()
        .map_err(std::io::Error::other)?;
    let reflection_v1alpha = reflection_builder()
        .build_v1alpha()
        .map_err(std::io::Error::other)?;
    let node = NodeServiceServer::new(Node { api: api.clone() })
        .max_decoding_message_size(config.message_bytes_max);
    let banking = modules::BankingServiceServer::new(modules::Banking { api: api.clone() })
        .max_decoding_message_size(config.message_bytes_max);
    let staking = modules::StakingServiceServer::new(modules::Staking { api: api.clone() })
        .max_decoding_message_size(config.message_bytes_max);
    let identity = identity::IdentityServiceServer::new(identity::Identity { api: api.clone() })
        .max_decoding_message_size(config.message_bytes_max);
    let compliance =
        identity::ComplianceServiceServer::new(identity::Compliance { api: api.clone() })
            .max_decoding_message_size(config.message_bytes_max);
    let payments = payments::PaymentServiceServer::new(payments::Payments {
        api: api.clone(),
        streams: stream::Streams::new(api.clone(), config),
    })
    .max_decoding_message_size(config.message_bytes_max);
    let dex = dex::DexServiceServer::new(dex::DexGrpc::new(api.clone(), config))
        .max_decoding_message_size(config.message_bytes_max);
    let network = network::NetworkServiceServer::new(network::Network { api: api.clone() })
        .max_decoding_message_size(config.message_bytes_max);
    let metrics = metrics::MetricsServiceServer::new(metrics::MetricsGrpc { api: api.clone() })
        .max_decoding_message_size(config.message_bytes_max);
    let streams = StreamServiceServer::new(stream::Streams::new(api, config))
        .max_decoding_message_size(config.message_bytes_max);
    let connections_max = config.connections_max;
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = tonic::transport::Server::builder()
        .concurrency_limit_per_connection(config.concurrent_requests_per_connection_max)
        .max_concurrent_streams(Some(config.streams_per_connection_max))
        .layer(crate::telemetry::GrpcMetricsLayer::new())
        .layer(auth::AuthLayer::new(access))
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(node)
        .add_service(streams)
        .add_service(banking)
        .add_service(staking)
        .add_service(identity)
        .add_service(compliance)
        .add_service(payments)
        .add_service(dex)
        .add_service(network)
        .add_service(metrics);
    tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::ReceiverStream::new(crate::tls::server::accept(
            listener,
            tls,
            connections_max,
        ))
        .map(|c| Ok::<_, std::io::Error>(c.io));
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await
        {
            tracing::error!(error = %e, "gRPC server stopped");
        }
    });
    Ok(GrpcServer {
        local_addr,
        shutdown,
    })
}
