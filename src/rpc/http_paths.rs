//! Plain HTTP GET paths on the JSON-RPC port, for clients that speak no JSON-RPC:
//!
//! - `GET /1.0/identifiers/{did}[?versionId=N|versionTime=T]`: DID resolution as a Universal
//!   Resolver driver serves it (the W3C result; 200, 410 deactivated, 400, 404, 501).
//! - `GET /1.0/status/{issuer}/{purpose}/{list}`: a Bitstring Status List credential, the
//!   `statusListCredential` that verifiable credentials issued on this chain point at.
//!
//! Everything else goes on to JSON-RPC.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header, Method, StatusCode};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use serde_json::Value;
use tower::{Layer, Service};

use crate::api::Api;

#[derive(Clone)]
pub struct PathsLayer {
    api: Arc<Api>,
}

impl PathsLayer {
    pub fn new(api: Arc<Api>) -> Self {
        Self { api }
    }
}

impl<S> Layer<S> for PathsLayer {
    type Service = Paths<S>;
    fn layer(&self, inner: S) -> Paths<S> {
        Paths {
            inner,
            api: self.api.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Paths<S> {
    inner: S,
    api: Arc<Api>,
}

/// `%XX` escapes decoded (DIDs arrive with their colons escaped from some clients).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| percent_decode(v))
}

fn respond(status: u16, content_type: &str, body: &Value) -> HttpResponse {
    let mut r = HttpResponse::new(HttpBody::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_str(content_type)
            .unwrap_or(header::HeaderValue::from_static("application/json")),
    );
    r
}

/// The answer to a GET path this layer serves; `None` for everything else.
fn answer(api: &Api, path: &str, query: Option<&str>) -> Option<HttpResponse> {
    if let Some(did) = path.strip_prefix("/1.0/identifiers/") {
        let did = percent_decode(did).unwrap_or_default();
        let (id, time) = (
            query_param(query, "versionId"),
            query_param(query, "versionTime"),
        );
        let r = api.resolve_did(&did, id.as_deref(), time.as_deref());
        return Some(respond(
            r.http_status,
            "application/ld+json;profile=\"https://w3id.org/did-resolution\"",
            &r.result,
        ));
    }
    if let Some(rest) = path.strip_prefix("/1.0/status/") {
        let parts: Vec<&str> = rest.split('/').collect();
        let [issuer, purpose, list] = parts[..] else {
            let e = serde_json::json!({"error": "expected /1.0/status/{issuer}/{revocation|suspension}/{list}"});
            return Some(respond(400, "application/json", &e));
        };
        return Some(match api.status_list(issuer, purpose, list, path) {
            Ok(v) => respond(200, "application/vc+ld+json", &v),
            Err(e) => {
                let status = if e.code == crate::api::ErrorCode::NotFound {
                    404
                } else {
                    400
                };
                respond(
                    status,
                    "application/json",
                    &serde_json::json!({"error": e.message}),
                )
            }
        });
    }
    None
}

impl<S, B> Service<HttpRequest<B>> for Paths<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest<B>) -> Self::Future {
        if req.method() == Method::GET {
            if let Some(r) = answer(&self.api, req.uri().path(), req.uri().query()) {
                return Box::pin(async move { Ok(r) });
            }
        }
        Box::pin(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode() {
        assert_eq!(
            percent_decode("did%3Amamey%3Aab").as_deref(),
            Some("did:mamey:ab")
        );
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(
            query_param(Some("a=1&versionId=2"), "versionId").as_deref(),
            Some("2")
        );
        assert_eq!(
            query_param(Some("versionTime=2026-11-25T10%3A00%3A00Z"), "versionTime").as_deref(),
            Some("2026-11-25T10:00:00Z")
        );
    }
}
