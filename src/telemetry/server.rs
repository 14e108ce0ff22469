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
    let task = tokio::spawn(accept_loop(listener, telemetry));
    Ok(Some(MetricsServer { local_addr, task }))
}

async fn accept_loop(listener: TcpListener, telemetry: Arc<Telemetry>) {
    let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "metrics endpoint cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%remote, "metrics connection refused: too many connections");
            continue; // dropping the stream closes it
        };
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let response = respond(&telemetry, &req);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // A connection past its time is dropped (closed); errors are the client's business.
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_TIME_MAX, connection).await {
                tracing::debug!(%remote, error = %e, "metrics connection error");
            }
        });
    }
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
