//! Access control on the gRPC port: a tower layer that authenticates each call from its
//! `x-api-key` / `authorization` metadata and the client address, asks the policy table about its
//! path (`/mamey.v1.NodeService/GetStatus`), and answers a refused call with UNAUTHENTICATED,
//! PERMISSION_DENIED or RESOURCE_EXHAUSTED (with `retry-after` metadata, seconds, and
//! `retry-after-ms`) without running it. The stable code is in `mamey-error-code` as elsewhere.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::transport::server::TcpConnectInfo;

use crate::access::{Access, Refusal};
use crate::api::ApiError;

#[derive(Clone)]
pub struct AuthLayer {
    access: Arc<Access>,
}

impl AuthLayer {
    pub fn new(access: Arc<Access>) -> Self {
        Self { access }
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            access: self.access.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    access: Arc<Access>,
}

/// The status of a refusal.
pub fn refusal_status(r: &Refusal) -> tonic::Status {
    let mut status = super::status_of(&ApiError::new(r.code(), r.message().to_string()));
    if let Some(ms) = r.retry_after_ms() {
        let m = status.metadata_mut();
        m.insert("retry-after", ms.div_ceil(1000).max(1).into());
        m.insert("retry-after-ms", ms.into());
    }
    status
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for Auth<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let ip = req
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(|i| i.remote_addr)
            .map(|a| a.ip());
        let caller = self.access.authenticate(req.headers(), ip);
        match self.access.authorize("grpc", &caller, req.uri().path(), 1) {
            Ok(()) => Box::pin(self.inner.call(req)),
            Err(refusal) => {
                let response = refusal_status(&refusal).into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}
