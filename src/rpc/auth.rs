//! Access control on the JSON-RPC port (and so on REST, which calls JSON-RPC methods).
//!
//! The HTTP middleware [`CallerLayer`] authenticates each HTTP request (or WebSocket upgrade)
//! once, from its `x-api-key` / `Authorization` headers and the client address the listener put
//! in its extensions, and passes the [`Caller`] on in the extensions, which jsonrpsee hands to
//! every call of the request or connection. The RPC middleware [`Authorize`] asks
//! [`Access::authorize`] for each call, batch entries included, and answers a refused call with
//! 4001, 4003 or 4029 (its data carrying `retry_after_ms`) without running it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use jsonrpsee::core::middleware::{
    Batch, BatchEntry, BatchEntryErr, Notification, ResponseFuture, RpcServiceT,
};
use jsonrpsee::server::HttpRequest;
use jsonrpsee::types::{ErrorObject, Request};
use jsonrpsee::MethodResponse;
use tower::{Layer, Service};

use crate::access::{Access, Caller, Refusal, Who};

/// The client's address, put in each HTTP request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub SocketAddr);

#[derive(Clone)]
pub struct CallerLayer {
    access: Arc<Access>,
}

impl CallerLayer {
    pub fn new(access: Arc<Access>) -> Self {
        Self { access }
    }
}

impl<S> Layer<S> for CallerLayer {
    type Service = WithCaller<S>;
    fn layer(&self, inner: S) -> WithCaller<S> {
        WithCaller {
            inner,
            access: self.access.clone(),
        }
    }
}

#[derive(Clone)]
pub struct WithCaller<S> {
    inner: S,
    access: Arc<Access>,
}

impl<S, B> Service<HttpRequest<B>> for WithCaller<S>
where
    S: Service<HttpRequest<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: HttpRequest<B>) -> Self::Future {
        let ip = req.extensions().get::<RemoteAddr>().map(|a| a.0.ip());
        let caller = self.access.authenticate(req.headers(), ip);
        req.extensions_mut().insert(caller);
        self.inner.call(req)
    }
}

/// The RPC middleware: one per connection (HTTP request or WebSocket).
#[derive(Clone)]
pub struct Authorize<S> {
    inner: S,
    access: Arc<Access>,
}

impl<S> Authorize<S> {
    pub fn layer(access: Arc<Access>) -> impl Fn(S) -> Authorize<S> + Clone {
        move |inner| Authorize {
            inner,
            access: access.clone(),
        }
    }

    fn check(&self, req: &Request<'_>) -> Result<(), ErrorObject<'static>> {
        let anonymous = Caller {
            who: Who::Anonymous,
            ip: None,
        };
        let caller = req.extensions().get::<Caller>().unwrap_or(&anonymous);
        self.access
            .authorize("jsonrpc", caller, req.method_name(), 1)
            .map_err(|r| refusal_error(&r))
    }
}

/// The JSON-RPC error of a refusal: its stable code, its message, and for 4029 the wait.
pub fn refusal_error(r: &Refusal) -> ErrorObject<'static> {
    ErrorObject::owned(
        r.code().code(),
        r.message().to_string(),
        r.retry_after_ms()
            .map(|ms| serde_json::json!({ "retry_after_ms": ms })),
    )
}

impl<S> RpcServiceT for Authorize<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        match self.check(&req) {
            Ok(()) => ResponseFuture::future(self.inner.call(req)),
            Err(e) => ResponseFuture::ready(MethodResponse::error(req.id, e)),
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            if let Ok(BatchEntry::Call(req)) = entry {
                if let Err(e) = self.check(req) {
                    *entry = Err(BatchEntryErr::new(req.id.clone(), e));
                }
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        // A notification gets no answer either way; a refused one is not run.
        let anonymous = Caller {
            who: Who::Anonymous,
            ip: None,
        };
        let caller = n.extensions().get::<Caller>().unwrap_or(&anonymous);
        let allowed = self
            .access
            .authorize("jsonrpc", caller, n.method_name(), 1)
            .is_ok();
        if allowed {
            ResponseFuture::future(self.inner.notification(n))
        } else {
            ResponseFuture::ready(MethodResponse::notification())
        }
    }
}
