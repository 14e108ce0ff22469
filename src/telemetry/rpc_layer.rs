//! The jsonrpsee middleware counting and timing every JSON-RPC call by method.

use super::*;

// ---------------------------------------------------------------------------------------------
// JSON-RPC middleware (jsonrpsee)
// ---------------------------------------------------------------------------------------------

/// Method names that may appear as label values: the ones registered in code.
#[derive(Debug, Clone)]
pub struct MethodSet(Arc<HashSet<&'static str>>);

impl MethodSet {
    pub fn new(names: impl IntoIterator<Item = &'static str>) -> Self {
        Self(Arc::new(names.into_iter().collect()))
    }

    /// `name` as a label value: itself if registered, else [`UNKNOWN_METHOD`].
    pub fn label(&self, name: &str) -> &'static str {
        self.0.get(name).copied().unwrap_or(UNKNOWN_METHOD)
    }
}

/// jsonrpsee RPC middleware counting and timing every call by method. Install with
/// `Server::builder().set_rpc_middleware(RpcServiceBuilder::new().layer(RpcMetricsLayer::new(
/// methods.method_names())))`, where `methods` is the `RpcModule` the server will serve.
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    methods: MethodSet,
    telemetry: Arc<Telemetry>,
}

impl RpcMetricsLayer {
    /// Counts into the process-wide metrics; `methods` are the registered method names.
    pub fn new(methods: impl IntoIterator<Item = &'static str>) -> Self {
        Self::with(global().clone(), methods)
    }

    pub fn with(
        telemetry: Arc<Telemetry>,
        methods: impl IntoIterator<Item = &'static str>,
    ) -> Self {
        let methods = MethodSet::new(methods);
        telemetry.register_rpc_methods(methods.0.iter().copied());
        Self { methods, telemetry }
    }
}

impl<S> tower_layer::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, service: S) -> Self::Service {
        RpcMetrics {
            service,
            methods: self.methods.clone(),
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service of [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RpcMetrics<S> {
    service: S,
    methods: MethodSet,
    telemetry: Arc<Telemetry>,
}

impl<S> RpcServiceT for RpcMetrics<S>
where
    S: RpcServiceT + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: jsonrpsee::types::Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let label = self.methods.label(request.method_name());
        let service = self.service.clone();
        let telemetry = self.telemetry.clone();
        async move {
            let started = Instant::now();
            let response = service.call(request).await;
            telemetry.record_rpc(label, started.elapsed());
            response
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        // jsonrpsee answers the calls of a batch inside the inner service, out of this
        // middleware's sight: each call is counted under its method and timed as the whole batch.
        let labels: Vec<&'static str> = batch
            .iter()
            .filter_map(|entry| entry.as_ref().ok())
            .map(|entry| self.methods.label(entry.method_name()))
            .collect();
        let service = self.service.clone();
        let telemetry = self.telemetry.clone();
        async move {
            let started = Instant::now();
            let response = service.batch(batch).await;
            let elapsed = started.elapsed();
            for label in labels {
                telemetry.record_rpc(label, elapsed);
            }
            response
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        let label = self.methods.label(&n.method);
        let service = self.service.clone();
        let telemetry = self.telemetry.clone();
        async move {
            let started = Instant::now();
            let response = service.notification(n).await;
            telemetry.record_rpc(label, started.elapsed());
            response
        }
    }
}
