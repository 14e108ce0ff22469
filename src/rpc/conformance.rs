//! JSON-RPC 2.0 conformance on the HTTP port, where jsonrpsee falls short of the specification as
//! client libraries exercise it:
//!
//! - a request whose `id` is not a string, an integer or null (an array, an object, a fraction, a
//!   boolean) is answered with error -32600 "Invalid Request" and `"id": null` (jsonrpsee answers
//!   an empty body); in a batch, each such element gets its own error and the others are served;
//! - `mamey_subscribe` and `mamey_unsubscribe` over plain HTTP say that subscriptions need a
//!   WebSocket (jsonrpsee answers -32603 "Internal error").
//!
//! Only POST bodies without a WebSocket upgrade are read here, bounded by the server's request size
//! (a larger one is refused with HTTP 413, as jsonrpsee would); everything else passes untouched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{header, Method, StatusCode};
use http_body_util::BodyExt as _;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tower::{Layer, Service};

/// JSON-RPC's "Invalid Request".
const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC's "Method not found" (here: not on this transport).
const METHOD_NOT_FOUND: i64 = -32601;

#[derive(Clone)]
pub struct ConformanceLayer {
    request_bytes_max: usize,
}

impl ConformanceLayer {
    pub fn new(request_bytes_max: u32) -> Self {
        Self {
            request_bytes_max: request_bytes_max as usize,
        }
    }
}

impl<S> Layer<S> for ConformanceLayer {
    type Service = Conformance<S>;
    fn layer(&self, inner: S) -> Conformance<S> {
        Conformance {
            inner,
            request_bytes_max: self.request_bytes_max,
        }
    }
}

#[derive(Clone)]
pub struct Conformance<S> {
    inner: S,
    request_bytes_max: usize,
}

/// Why a request object cannot be served here, as its error object; `None` when it can.
fn refusal(request: &Value) -> Option<Value> {
    let id_ok = match request.get("id") {
        None | Some(Value::Null | Value::String(_)) => true,
        Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
        Some(_) => false,
    };
    if !id_ok {
        return Some(error(
            INVALID_REQUEST,
            "Invalid Request: an id is a string, an integer or null",
        ));
    }
    match request.get("method").and_then(Value::as_str) {
        Some(m @ ("mamey_subscribe" | "mamey_unsubscribe")) => Some(error(
            METHOD_NOT_FOUND,
            &format!(
                "{m} needs a WebSocket connection (ws:// on this port): subscriptions cannot be served over plain HTTP"
            ),
        )),
        _ => None,
    }
}

fn error(code: i64, message: &str) -> Value {
    json!({ "code": code, "message": message })
}

/// The response to a refused request: its id when the id is usable, else null.
fn refused_response(request: &Value, error: Value) -> Value {
    let id = match request.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) if refusal_is_method(&error) => id.clone(),
        _ => Value::Null,
    };
    json!({ "jsonrpc": "2.0", "error": error, "id": id })
}

fn refusal_is_method(error: &Value) -> bool {
    error["code"] == METHOD_NOT_FOUND
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut r = HttpResponse::new(HttpBody::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn is_websocket_upgrade(req: &HttpRequest<HttpBody>) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

impl<S> Service<HttpRequest<HttpBody>> for Conformance<S>
where
    S: Service<HttpRequest<HttpBody>, Response = HttpResponse> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest<HttpBody>) -> Self::Future {
        if req.method() != Method::POST || is_websocket_upgrade(&req) {
            return Box::pin(self.inner.call(req));
        }
        // The ready service serves this request; a clone takes its place for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max = self.request_bytes_max;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = match http_body_util::Limited::new(body, max).collect().await {
                Ok(c) => c.to_bytes(),
                Err(_) => {
                    let e = error(
                        INVALID_REQUEST,
                        &format!("request body over {max} bytes, or unreadable"),
                    );
                    let body = json!({ "jsonrpc": "2.0", "error": e, "id": null });
                    return Ok(json_response(StatusCode::PAYLOAD_TOO_LARGE, &body));
                }
            };
            let rebuilt = |b: Vec<u8>| HttpRequest::from_parts(parts.clone(), HttpBody::from(b));
            // Not JSON: jsonrpsee answers the parse error itself.
            let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
                return inner.call(rebuilt(bytes.to_vec())).await;
            };
            match value {
                Value::Object(_) => match refusal(&value) {
                    Some(e) => Ok(json_response(StatusCode::OK, &refused_response(&value, e))),
                    None => inner.call(rebuilt(bytes.to_vec())).await,
                },
                Value::Array(items) if !items.is_empty() => {
                    let (refused, served): (Vec<_>, Vec<_>) =
                        items.into_iter().partition(|i| refusal(i).is_some());
                    if refused.is_empty() {
                        return inner.call(rebuilt(bytes.to_vec())).await;
                    }
                    let mut answers: Vec<Value> = refused
                        .iter()
                        .filter_map(|i| refusal(i).map(|e| refused_response(i, e)))
                        .collect();
                    if !served.is_empty() {
                        let body = Value::Array(served).to_string().into_bytes();
                        let response = inner.call(rebuilt(body)).await?;
                        let bytes = response
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        match serde_json::from_slice::<Value>(&bytes) {
                            Ok(Value::Array(mut more)) => answers.append(&mut more),
                            Ok(one) => answers.push(one),
                            // Notifications only: nothing to add.
                            Err(_) => {}
                        }
                    }
                    Ok(json_response(StatusCode::OK, &Value::Array(answers)))
                }
                _ => inner.call(rebuilt(bytes.to_vec())).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_transports_are_checked() {
        let ok = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "mamey_status"}),
            json!({"jsonrpc": "2.0", "id": "a", "method": "mamey_status"}),
            json!({"jsonrpc": "2.0", "id": null, "method": "mamey_status"}),
            json!({"jsonrpc": "2.0", "method": "mamey_status"}),
        ];
        for r in ok {
            assert_eq!(refusal(&r), None, "{r}");
        }
        for id in [json!([1]), json!({"a": 1}), json!(1.5), json!(true)] {
            let r = json!({"jsonrpc": "2.0", "id": id, "method": "mamey_status"});
            let e = refusal(&r).expect("refused");
            assert_eq!(e["code"], INVALID_REQUEST);
            assert_eq!(refused_response(&r, e)["id"], Value::Null);
        }
        let sub =
            json!({"jsonrpc": "2.0", "id": 7, "method": "mamey_subscribe", "params": ["newHeads"]});
        let e = refusal(&sub).expect("refused");
        assert!(e["message"].as_str().unwrap_or("").contains("WebSocket"));
        assert_eq!(refused_response(&sub, e)["id"], 7);
    }
}
