//! The JSON-RPC server (jsonrpsee, HTTP and WebSocket on one port): parses params, calls the
//! shared [`Api`], and maps failures to the stable error codes. Request size, connection count,
//! batch length, subscriptions per connection and per-connection call rate are bounded by `[rpc]`
//! settings; jsonrpsee answers parse errors, invalid requests and unknown methods with the standard
//! codes.

use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use serde_json::Value;

use super::limits::RateLimit;
use super::params::{api_error, error, one_param, parse_address, parse_hash, string_param};
use super::{subscriptions, ErrorCode};
use crate::api::Api;
use crate::config::RpcConfig;

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

/// Binds the listener and starts serving HTTP and WebSocket. Must run inside a tokio runtime.
pub async fn start(config: &RpcConfig, api: Arc<Api>) -> std::io::Result<RpcServer> {
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
        .layer_fn(RateLimit::layer(config.calls_per_second_max));
    let server = Server::builder()
        .set_config(server_config)
        .set_http_middleware(
            tower::ServiceBuilder::new()
                .option_layer(super::cors::layer(config))
                .layer(paths)
                .layer(super::conformance::ConformanceLayer::new(
                    config.request_bytes_max,
                )),
        )
        .set_rpc_middleware(rpc_middleware)
        .build(config.listen)
        .await?;
    let local_addr = server.local_addr()?;
    let handle = server.start(methods);
    Ok(RpcServer { local_addr, handle })
}
