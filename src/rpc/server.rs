//! The JSON-RPC server (jsonrpsee, HTTP and WebSocket on one port): parses params, calls the
//! shared [`Api`], and maps failures to the stable error codes. Request size, connection count,
//! batch length, subscriptions per connection and per-connection call rate are bounded by `[rpc]`
//! settings, and request headers by size and time; callers by [`crate::access`] (see `auth.rs`).
//! With `[tls]` the port speaks TLS only. jsonrpsee answers parse errors, invalid requests and unknown methods with the standard
//! codes.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use jsonrpsee::core::BoxError;
use jsonrpsee::server::{
    BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, Server, ServerConfig, ServerHandle,
    StopHandle,
};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{Methods, RpcModule};
use serde_json::Value;

use super::auth::{Authorize, CallerLayer, RemoteAddr};
use super::limits::{ConnectionBudget, RateLimit};
use super::params::{api_error, error, one_param, parse_address, parse_hash, string_param};
use super::{subscriptions, ErrorCode};
use crate::access::Access;
use crate::api::Api;
use crate::config::RpcConfig;
use crate::tls::server::{Accepted, ServerTls};

pub struct RpcServer {
    pub local_addr: SocketAddr,
    pub handle: ServerHandle,
}

fn height_param(params: &Params<'_>) -> Result<u64, ErrorObjectOwned> {
    let bad = || {
        error(
            ErrorCode::InvalidParams,
            "params[0] (height) must be a non-negative integer",
        )
    };
    match one_param(params, "height")? {
        Value::Number(n) => n.as_u64().ok_or_else(bad),
        Value::String(s) => s.parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Decodes the hex of a transaction, refusing oversized input before decoding it.
fn tx_bytes(hex_tx: &str, tx_bytes_max: usize) -> Result<Vec<u8>, ErrorObjectOwned> {
    let hex_tx = hex_tx.trim();
    if hex_tx.len() > 2 * tx_bytes_max {
        return Err(error(
            ErrorCode::TxTooLarge,
            format!(
                "transaction is {} bytes, over this node's limit of {tx_bytes_max} bytes",
                hex_tx.len() / 2
            ),
        ));
    }
    if hex_tx.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(error(
            ErrorCode::InvalidParams,
            "params[0]: transaction hex must be lowercase",
        ));
    }
    hex::decode(hex_tx).map_err(|e| {
        error(
            ErrorCode::InvalidParams,
            format!("params[0]: not a hex string: {e}"),
        )
    })
}

fn module(api: Arc<Api>) -> Result<RpcModule<Api>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::from_arc(api);
    m.register_method("mamey_status", |_p, api, _| {
        Ok::<_, ErrorObjectOwned>(api.status())
    })?;
    m.register_async_method("mamey_getAccount", |p, api, _| async move {
        let address = parse_address(&string_param(&p, "address")?, "params[0]")?;
        api.account(address).await.map_err(api_error)
    })?;
    m.register_async_method("mamey_sendTransaction", |p, api, _| async move {
        let hex_tx = string_param(&p, "hex of a signed, encoded transaction")?;
        let bytes = tx_bytes(&hex_tx, api.tx_bytes_max)?;
        api.submit(bytes).await.map_err(api_error)
    })?;
    m.register_async_method("mamey_getTransaction", |p, api, _| async move {
        let id = parse_hash(
            &string_param(&p, "transaction id")?,
            "params[0] (transaction id)",
        )?;
        api.transaction(id).await.map_err(api_error)
    })?;
    m.register_method("mamey_getBlock", |p, api, _| {
        let height = height_param(&p)?;
        api.block(height).map_err(api_error)
    })?;
    m.register_method("mamey_getValidators", |_p, api, _| {
        api.validators().map_err(api_error)
    })?;
    m.register_method("mamey_getStake", |p, api, _| {
        let address = parse_address(&string_param(&p, "delegator address")?, "params[0]")?;
        api.stake(address).map_err(api_error)
    })?;
    m.register_method("mamey_ingestInfo", |_p, api, _| {
        Ok::<_, ErrorObjectOwned>(api.ingest_info.clone())
    })?;
    m.register_method("mamey_pipelineStats", |_p, api, _| {
        Ok::<_, ErrorObjectOwned>(api.pipeline_stats())
    })?;
    super::modules::register(&mut m)?;
    subscriptions::register(&mut m)?;
    Ok(m)
}

/// Binds the listener and starts serving HTTP and WebSocket (over TLS when `tls` is given).
/// Must run inside a tokio runtime.
pub async fn start(
    config: &RpcConfig,
    api: Arc<Api>,
    access: Arc<Access>,
    tls: Option<Arc<ServerTls>>,
) -> std::io::Result<RpcServer> {
    let server_config = ServerConfig::builder()
        .max_request_body_size(config.request_bytes_max)
        .max_response_body_size(config.response_bytes_max)
        .max_connections(config.connections_max)
        .max_subscriptions_per_connection(config.subscriptions_per_connection_max)
        .set_message_buffer_capacity(config.ws_buffer_messages)
        .set_batch_request_config(BatchRequestConfig::Limit(config.batch_calls_max))
        .build();
    let paths = super::http_paths::PathsLayer::new(api.clone());
    let methods = module(api).map_err(std::io::Error::other)?;
    let rpc_middleware = jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new()
        .layer(crate::telemetry::RpcMetricsLayer::new(
            methods.method_names(),
        ))
        .layer_fn(Authorize::layer(access.clone()))
        .layer_fn(RateLimit::layer(config.calls_per_second_max));
    let service_builder = Server::builder()
        .set_config(server_config)
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .option_layer(super::cors::layer(config))
                .layer(super::rest::RestLayer::new(config))
                .layer(paths)
                .layer(CallerLayer::new(access))
                .layer(super::conformance::ConformanceLayer::new(
                    config.request_bytes_max,
                )),
        )
        .set_rpc_middleware(rpc_middleware)
        .to_service_builder();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let (stop_handle, handle) = jsonrpsee::server::stop_channel();
    let methods: Methods = methods.into();
    let http = HttpLimits {
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms.max(1)),
        header_bytes_max: config.header_bytes_max.max(8192),
        calls_per_second_max: config.calls_per_second_max,
    };
    let mut accepted = crate::tls::server::accept(listener, tls, config.connections_max as usize);
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = accepted.recv() => match c {
                    Some(c) => c,
                    None => return,
                },
                _ = stop_handle.clone().shutdown() => return,
            };
            let service = ConnService::new(
                service_builder
                    .clone()
                    .build(methods.clone(), stop_handle.clone()),
            );
            tokio::spawn(serve_connection(conn, service, stop_handle.clone(), http));
        }
    });
    Ok(RpcServer { local_addr, handle })
}

/// Bounds on one HTTP connection's requests.
#[derive(Clone, Copy)]
struct HttpLimits {
    /// A request's headers must arrive within this time (slowloris), and the first request
    /// within it of the connection opening.
    header_read_timeout: Duration,
    /// Request line and headers together (bigger: 431).
    header_bytes_max: usize,
    /// JSON-RPC calls per second on one connection.
    calls_per_second_max: u32,
}

/// Serves one connection with HTTP/1.1 (and its WebSocket upgrade); the client's address goes
/// into every request's extensions for access control.
/// The JSON-RPC service of one connection, type-erased: its middleware's future types are too
/// general for `tokio::spawn` to see through otherwise.
type ConnService =
    tower::util::BoxCloneService<HttpRequest<HttpBody>, HttpResponse<HttpBody>, BoxError>;

async fn serve_connection(
    conn: Accepted,
    service: ConnService,
    stop: StopHandle,
    limits: HttpLimits,
) {
    let hyper_service = WithRemote {
        service,
        remote: RemoteAddr(conn.remote),
        budget: ConnectionBudget::new(limits.calls_per_second_max),
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.header_bytes_max)
        .serve_connection(hyper_util::rt::TokioIo::new(conn.io), hyper_service)
        .with_upgrades();
    tokio::pin!(connection);
    let stopped = stop.shutdown();
    tokio::pin!(stopped);
    let result = tokio::select! {
        r = &mut connection => r,
        _ = &mut stopped => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(remote = %conn.remote, error = %e, "JSON-RPC connection ended");
    }
}

/// The hyper service of one connection: the client's address into each request's extensions,
/// then the JSON-RPC service.
struct WithRemote {
    service: ConnService,
    remote: RemoteAddr,
    budget: ConnectionBudget,
}

impl hyper::service::Service<HttpRequest<hyper::body::Incoming>> for WithRemote {
    type Response = HttpResponse<HttpBody>;
    type Error = BoxError;
    type Future = <ConnService as tower::Service<HttpRequest<HttpBody>>>::Future;

    fn call(&self, mut req: HttpRequest<hyper::body::Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.remote);
        req.extensions_mut().insert(self.budget.clone());
        tower::Service::call(&mut self.service.clone(), req.map(HttpBody::new))
    }
}
