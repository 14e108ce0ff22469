//! Per-client call rate limit for JSON-RPC over HTTP and WebSocket: a token bucket per connection
//! (jsonrpsee builds the RPC middleware once per connection), `rpc.calls_per_second_max` calls a
//! second with bursts of one second's worth. A call over the limit gets error 2004 with a message
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

    fn allow(&self) -> bool {
        self.bucket.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn limited(&self) -> ErrorObject<'static> {
        let per_second = self
            .bucket
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
        if self.allow() {
            ResponseFuture::future(self.inner.call(req))
        } else {
            ResponseFuture::ready(MethodResponse::error(req.id, self.limited()))
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            if let Ok(BatchEntry::Call(req)) = entry {
                if !self.allow() {
                    *entry = Err(BatchEntryErr::new(req.id.clone(), self.limited()));
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
