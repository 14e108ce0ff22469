//! Per-connection call rate limit for JSON-RPC over HTTP and WebSocket: a token bucket per TCP
//! connection, `rpc.calls_per_second_max` calls a second with bursts of one second's worth. The
//! listener makes one [`ConnectionBudget`] per connection and puts it in every request's
//! extensions (jsonrpsee builds the RPC middleware per HTTP request, so a bucket of its own would
//! only bound one batch); a WebSocket's calls carry its upgrade request's budget. A call over the limit gets error 2004 with a message
//! saying so; the connection stays open. Connections themselves are bounded by
//! `rpc.connections_max`, so a client cannot escape the limit without bound by opening more.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use jsonrpsee::core::middleware::{
    Batch, BatchEntry, BatchEntryErr, Notification, ResponseFuture, RpcServiceT,
};
use jsonrpsee::types::{ErrorObject, Request};
use jsonrpsee::MethodResponse;

use crate::api::ErrorCode;

struct Bucket {
    per_second: u64,
    /// Available calls, in thousandths, so refills need no floating point.
    available_milli: u64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed_ms = now.duration_since(self.last).as_millis() as u64;
        self.last = now;
        let capacity = self.per_second * 1000;
        self.available_milli = (self.available_milli + elapsed_ms * self.per_second).min(capacity);
        if self.available_milli >= 1000 {
            self.available_milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// One connection's bucket, shared by the requests on it.
#[derive(Clone)]
pub struct ConnectionBudget(Arc<Mutex<Bucket>>);

impl ConnectionBudget {
    pub fn new(per_second: u32) -> Self {
        let per_second = u64::from(per_second.max(1));
        Self(Arc::new(Mutex::new(Bucket {
            per_second,
            available_milli: per_second * 1000,
            last: Instant::now(),
        })))
    }
}

#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    bucket: Arc<Mutex<Bucket>>,
}

impl<S> RateLimit<S> {
    /// The layer function for `RpcServiceBuilder::layer_fn`: one bucket per connection.
    pub fn layer(per_second: u32) -> impl Fn(S) -> RateLimit<S> + Clone {
        let per_second = u64::from(per_second.max(1));
        move |inner| RateLimit {
            inner,
            bucket: Arc::new(Mutex::new(Bucket {
                per_second,
                available_milli: per_second * 1000,
                last: Instant::now(),
            })),
        }
    }

    /// The connection's bucket when the listener gave one, else this middleware's own.
    fn bucket<'r>(&'r self, req: &'r Request<'_>) -> &'r Mutex<Bucket> {
        match req.extensions().get::<ConnectionBudget>() {
            Some(budget) => &budget.0,
            None => &self.bucket,
        }
    }

    fn allow(&self, req: &Request<'_>) -> bool {
        self.bucket(req)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    fn limited(&self, req: &Request<'_>) -> ErrorObject<'static> {
        let per_second = self
            .bucket(req)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .per_second;
        ErrorObject::owned(
            ErrorCode::RateLimited.code(),
            format!(
                "rate limited: more than {per_second} calls per second on this connection; slow \
                 down and retry"
            ),
            None::<()>,
        )
    }
}

impl<S> RpcServiceT for RateLimit<S>
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
        if self.allow(&req) {
            ResponseFuture::future(self.inner.call(req))
        } else {
            let limited = self.limited(&req);
            ResponseFuture::ready(MethodResponse::error(req.id, limited))
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            if let Ok(BatchEntry::Call(req)) = entry {
                if !self.allow(req) {
                    *entry = Err(BatchEntryErr::new(req.id.clone(), self.limited(req)));
                }
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}
