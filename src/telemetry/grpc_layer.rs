//! The tower layer counting and timing every gRPC call by method.

use super::*;

// ---------------------------------------------------------------------------------------------
// gRPC middleware (a tower layer for tonic's `Server::builder().layer(…)`)
// ---------------------------------------------------------------------------------------------

/// Tower layer counting and timing every gRPC call by method (see [`grpc_methods`]). The time is
/// until the response headers: for a server stream, until the stream is open.
#[derive(Debug, Clone)]
pub struct GrpcMetricsLayer {
    telemetry: Arc<Telemetry>,
}

impl Default for GrpcMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcMetricsLayer {
    /// Counts into the process-wide metrics.
    pub fn new() -> Self {
        Self::with(global().clone())
    }

    pub fn with(telemetry: Arc<Telemetry>) -> Self {
        Self { telemetry }
    }
}

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, service: S) -> Self::Service {
        GrpcMetrics {
            service,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service of [`GrpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    service: S,
    telemetry: Arc<Telemetry>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower_service::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Match against the fixed set now: the label is 'static, the path is not kept.
        let label = grpc_label(request.uri().path());
        let telemetry = self.telemetry.clone();
        let started = Instant::now();
        let future = self.service.call(request);
        Box::pin(async move {
            let response = future.await;
            telemetry.record_grpc(label, started.elapsed());
            response
        })
    }
}
