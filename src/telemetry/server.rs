//! The HTTP endpoint serving the metrics (`[metrics] listen`, path `/metrics`).

use super::*;

// ---------------------------------------------------------------------------------------------
// The HTTP endpoint
// ---------------------------------------------------------------------------------------------

/// A running metrics endpoint; it stops accepting connections when dropped (a scrape in progress
/// finishes).
#[derive(Debug)]
pub struct MetricsServer {
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the endpoint of `config` serving `telemetry`, unless metrics are disabled (`None`).
///
/// With `listen` set explicitly, failing to bind is an error. When it is not set, the default
/// address is tried and, if it is taken (say, by another node on this machine), the node runs
/// without metrics and logs a warning. Must run inside a tokio runtime.
pub async fn serve(
    config: &MetricsConfig,
    telemetry: Arc<Telemetry>,
    access: Arc<crate::access::Access>,
    tls: Option<Arc<crate::tls::server::ServerTls>>,
) -> std::io::Result<Option<MetricsServer>> {
    if !config.enabled {
        return Ok(None);
    }
    let addr = config.listen_addr();
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if config.listen.is_none() => {
            tracing::warn!(
                %addr,
                error = %e,
                "metrics endpoint not started: the default address is unavailable; set \
                 [metrics] listen (or --metrics-listen) to choose another"
            );
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let local_addr = listener.local_addr()?;
    let accepted = crate::tls::server::accept(listener, tls, CONNECTIONS_MAX);
    let task = tokio::spawn(accept_loop(accepted, telemetry, access));
    Ok(Some(MetricsServer { local_addr, task }))
}

async fn accept_loop(
    mut accepted: tokio::sync::mpsc::Receiver<crate::tls::server::Accepted>,
    telemetry: Arc<Telemetry>,
    access: Arc<crate::access::Access>,
) {
    // The listener holds the connections to CONNECTIONS_MAX.
    while let Some(conn) = accepted.recv().await {
        let remote = conn.remote;
        let telemetry = telemetry.clone();
        let access = access.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let caller = access.authenticate(req.headers(), Some(remote.ip()));
                let response =
                    match access.authorize("metrics", &caller, crate::access::policy::METRICS, 1) {
                        Ok(()) => respond(&telemetry, &req),
                        Err(refusal) => refused(&refusal),
                    };
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(conn.io), service);
            // A connection past its time is dropped (closed); errors are the client's business.
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_TIME_MAX, connection).await {
                tracing::debug!(%remote, error = %e, "metrics connection error");
            }
        });
    }
}

/// 401, 403 or 429 (with `Retry-After`), the reason in the body.
fn refused(refusal: &crate::access::Refusal) -> Response<Full<Bytes>> {
    use crate::access::Refusal;
    let status = match refusal {
        Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
        Refusal::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
    };
    let mut r = Response::new(Full::new(Bytes::from(format!("{}\n", refusal.message()))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    if let Some(ms) = refusal.retry_after_ms() {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(ms.div_ceil(1000).max(1)),
        );
    }
    r
}

fn respond(telemetry: &Telemetry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    if req.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let openmetrics = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (body, content_type) = if openmetrics {
        (telemetry.encode_openmetrics(), OPENMETRICS_CONTENT_TYPE)
    } else {
        (telemetry.encode_prometheus(), PROMETHEUS_CONTENT_TYPE)
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}
