//! CORS for browser clients of the JSON-RPC port: off unless `rpc.cors_allowed_origins` lists
//! origins (`["*"]` allows any).

use http::{header, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::RpcConfig;

pub fn layer(config: &RpcConfig) -> Option<CorsLayer> {
    if config.cors_allowed_origins.is_empty() {
        return None;
    }
    let origin = if config.cors_allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            config
                .cors_allowed_origins
                .iter()
                .filter_map(|o| o.parse().ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
            .allow_headers([header::CONTENT_TYPE]),
    )
}
