//! The REST API under `/v1/` on the JSON-RPC port: an HTTP middleware that turns each request on a
//! route of the table (`rest_routes.rs`) into the JSON-RPC call the route names and its answer into
//! a REST answer. It owns only that translation; the call goes through the same inner service as
//! any JSON-RPC request (forwarded as `POST /` with the request's original headers and extensions),
//! so access control, rate limits and metrics apply to REST exactly as to JSON-RPC.
//!
//! - A result is answered 200 with the result as the body.
//! - An error is answered `{"error": {"code", "message", "data"?}}` with the JSON-RPC code and the
//!   HTTP status [`http_status`] maps it to (docs/API.md, "REST").
//! - `GET /v1/openapi.json` is the OpenAPI 3.1 document generated from the table.
//! - An unknown path under `/v1` is 404 (-32601); a known path with another verb is 405 with
//!   `Allow`.
//!
//! Request bodies are read up to `rpc.request_bytes_max` bytes (413 beyond), the inner answer up
//! to `rpc.response_bytes_max` bytes and its JSON-RPC envelope. Other paths pass through untouched.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use http::{header, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt as _;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use tower::{Layer, Service};

use super::rest_routes::{self, Found, Route};
use crate::config::RpcConfig;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;
/// jsonrpsee's codes for an oversized request and response, and a busy server.
const OVERSIZED_REQUEST: i64 = -32007;
const OVERSIZED_RESPONSE: i64 = -32008;
const SERVER_IS_BUSY: i64 = -32009;
/// Access control's codes (INTERFACES §13).
const UNAUTHENTICATED: i64 = 4001;
const FORBIDDEN: i64 = 4003;
const ACCESS_RATE_LIMITED: i64 = 4029;
/// Bytes of JSON-RPC envelope around a result of at most `rpc.response_bytes_max` bytes.
const ENVELOPE_BYTES: usize = 1024;

/// The HTTP status of a JSON-RPC error code.
///
/// Module refusals (10000 and up) and staking refusals (1012) are 422: they only come from
/// submitting a transaction, whose route exists, so even "unknown asset" (10100) is the
/// transaction's content being refused, not a missing resource; the code says which.
pub fn http_status(code: i64) -> StatusCode {
    match code {
        UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        FORBIDDEN => StatusCode::FORBIDDEN,
        ACCESS_RATE_LIMITED | 2004 => StatusCode::TOO_MANY_REQUESTS,
        3000 | METHOD_NOT_FOUND => StatusCode::NOT_FOUND,
        PARSE_ERROR | INVALID_REQUEST | INVALID_PARAMS | OVERSIZED_RESPONSE => {
            StatusCode::BAD_REQUEST
        }
        1000..=1011 => StatusCode::BAD_REQUEST,
        1012 | 10_000.. => StatusCode::UNPROCESSABLE_ENTITY,
        2000..=2003 | SERVER_IS_BUSY => StatusCode::SERVICE_UNAVAILABLE,
        OVERSIZED_REQUEST => StatusCode::PAYLOAD_TOO_LARGE,
        4000..=4999 => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `Retry-After` in whole seconds: the error's `data.retry_after_ms` rounded up, at least 1.
pub fn retry_after_secs(data: Option<&Value>) -> u64 {
    data.and_then(|d| d.get("retry_after_ms"))
        .and_then(Value::as_u64)
        .map_or(1, |ms| ms.div_ceil(1000).max(1))
}

#[derive(Clone)]
pub struct RestLayer {
    request_bytes_max: usize,
    response_bytes_max: usize,
}

impl RestLayer {
    pub fn new(config: &RpcConfig) -> Self {
        Self {
            request_bytes_max: config.request_bytes_max as usize,
            response_bytes_max: config.response_bytes_max as usize,
        }
    }
}

impl<S> Layer<S> for RestLayer {
    type Service = Rest<S>;
    fn layer(&self, inner: S) -> Rest<S> {
        Rest {
            inner,
            limits: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Rest<S> {
    inner: S,
    limits: RestLayer,
}

fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let mut r = HttpResponse::new(HttpBody::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The REST answer to a JSON-RPC error object (`code`, `message`, `data`?).
fn error_response(error: &Value) -> HttpResponse {
    let code = error
        .get("code")
        .and_then(Value::as_i64)
        .unwrap_or(INTERNAL_ERROR);
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let mut e = json!({"code": code, "message": message});
    if let Some(data) = error.get("data").filter(|d| !d.is_null()) {
        e["data"] = data.clone();
    }
    let status = http_status(code);
    let mut r = json_response(status, &json!({ "error": e }));
    let headers = r.headers_mut();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let secs = retry_after_secs(error.get("data"));
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn refuse(code: i64, message: impl Into<String>) -> HttpResponse {
    error_response(&json!({"code": code, "message": message.into()}))
}

/// The OpenAPI document, rendered once.
fn openapi_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| rest_routes::openapi_document().to_string())
}

/// The JSON-RPC request a route's call becomes, as `POST /` with the original headers (access
/// control reads them) and extensions; the body's own headers replaced.
fn forwarded(mut parts: http::request::Parts, body: Vec<u8>) -> HttpRequest<HttpBody> {
    parts.method = Method::POST;
    parts.uri = Uri::from_static("/");
    let h = &mut parts.headers;
    for name in [
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::CONTENT_ENCODING,
        header::UPGRADE,
    ] {
        h.remove(name);
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    HttpRequest::from_parts(parts, HttpBody::from(body))
}

/// The REST answer to the inner service's JSON-RPC answer.
async fn answer(response: HttpResponse, bytes_max: usize) -> HttpResponse {
    let status = response.status();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let body = match http_body_util::Limited::new(response.into_body(), bytes_max)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return refuse(
                INTERNAL_ERROR,
                "the answer was over the node's response limit",
            )
        }
    };
    let reply: Option<Value> = serde_json::from_slice(&body).ok();
    if let Some(result) = reply.as_ref().and_then(|r| r.get("result")) {
        return json_response(StatusCode::OK, result);
    }
    if let Some(error) = reply.as_ref().and_then(|r| r.get("error")) {
        let mut r = error_response(error);
        // The inner status wins where the code alone cannot tell (a body over the request limit).
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            *r.status_mut() = status;
        }
        if let (Some(v), StatusCode::TOO_MANY_REQUESTS) = (retry_after, r.status()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // Not a JSON-RPC answer (an HTTP refusal by a middleware): its status says what happened.
    let code = match status {
        StatusCode::UNAUTHORIZED => UNAUTHENTICATED,
        StatusCode::FORBIDDEN => FORBIDDEN,
        StatusCode::TOO_MANY_REQUESTS => ACCESS_RATE_LIMITED,
        StatusCode::PAYLOAD_TOO_LARGE => OVERSIZED_REQUEST,
        _ => INTERNAL_ERROR,
    };
    let text = String::from_utf8_lossy(&body);
    refuse(code, format!("HTTP {status}: {}", text.trim()))
}

/// Where the OpenAPI document is served.
const OPENAPI_PATH: &str = "/v1/openapi.json";

/// 405 for a path served with other verbs, with `Allow` naming them.
fn wrong_verb(verb: &Method, path: &str, allowed: &[&str]) -> HttpResponse {
    let allow = allowed.join(", ");
    let mut r = refuse(
        METHOD_NOT_FOUND,
        format!("{verb} is not served on {path}; it takes {allow}"),
    );
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    if let Ok(v) = HeaderValue::from_str(&allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

/// Serves one request under `/v1/`.
async fn serve<S>(
    mut inner: S,
    req: HttpRequest<HttpBody>,
    limits: RestLayer,
) -> Result<HttpResponse, S::Error>
where
    S: Service<HttpRequest<HttpBody>, Response = HttpResponse>,
{
    let (verb, path) = (req.method().clone(), req.uri().path().to_string());
    if path == OPENAPI_PATH {
        if verb != Method::GET {
            return Ok(wrong_verb(&verb, &path, &["GET"]));
        }
        let mut r = HttpResponse::new(HttpBody::from(openapi_text()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(r);
    }
    let (route, captures) = match rest_routes::find(verb.as_str(), &path) {
        Err(e) => return Ok(refuse(INVALID_PARAMS, e)),
        Ok(Found::Route(route, captures)) => (route, captures),
        Ok(Found::WrongVerb(verbs)) => return Ok(wrong_verb(&verb, &path, &verbs)),
        Ok(Found::NoRoute) => {
            return Ok(refuse(
                METHOD_NOT_FOUND,
                format!("no route {verb} {path}; the routes are in /v1/openapi.json"),
            ))
        }
    };
    let (parts, body) = req.into_parts();
    let call = match call_body(route, &captures, parts.uri.query(), body, &limits).await {
        Ok(call) => call,
        Err(r) => return Ok(r),
    };
    let response = inner.call(forwarded(parts, call)).await?;
    Ok(answer(response, limits.response_bytes_max + ENVELOPE_BYTES).await)
}

/// The JSON-RPC request body of a call of `route`, or the REST answer refusing it.
async fn call_body(
    route: &Route,
    captures: &[(&'static str, String)],
    query: Option<&str>,
    body: HttpBody,
    limits: &RestLayer,
) -> Result<Vec<u8>, HttpResponse> {
    let query = rest_routes::parse_query(query).map_err(|e| refuse(INVALID_PARAMS, e))?;
    let takes_body = route
        .args
        .iter()
        .any(|a| matches!(a, rest_routes::Arg::Body(_)));
    let body = if takes_body {
        let max = limits.request_bytes_max;
        let bytes = match http_body_util::Limited::new(body, max).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => {
                let mut r = refuse(
                    INVALID_REQUEST,
                    format!("request body over {max} bytes, or unreadable"),
                );
                *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                return Err(r);
            }
        };
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| refuse(PARSE_ERROR, format!("the body is not JSON: {e}")))?;
        if !value.is_object() {
            return Err(refuse(INVALID_PARAMS, "the body is not a JSON object"));
        }
        Some(value)
    } else {
        None
    };
    let params = rest_routes::build_params(route, captures, &query, body.as_ref())
        .map_err(|e| refuse(INVALID_PARAMS, e))?;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": route.method, "params": params});
    Ok(call.to_string().into_bytes())
}

impl<S> Service<HttpRequest<HttpBody>> for Rest<S>
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
        let path = req.uri().path();
        if !(path.starts_with("/v1/") || path == "/v1") {
            return Box::pin(self.inner.call(req));
        }
        // The ready service serves this request; a clone takes its place for the next one.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(serve(inner, req, self.limits.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_statuses() {
        let cases = [
            (4001, 401),
            (4003, 403),
            (4029, 429),
            (2004, 429),
            (3000, 404),
            (-32601, 404),
            (-32602, 400),
            (-32600, 400),
            (-32700, 400),
            (1000, 400),
            (1006, 400),
            (1011, 400),
            (1012, 422),
            (10100, 422),
            (10601, 422),
            (2000, 503),
            (2003, 503),
            (-32603, 500),
            (-32007, 413),
            (-1, 500),
        ];
        for (code, status) in cases {
            assert_eq!(http_status(code).as_u16(), status, "code {code}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(None), 1);
        assert_eq!(retry_after_secs(Some(&json!({"retry_after_ms": 0}))), 1);
        assert_eq!(retry_after_secs(Some(&json!({"retry_after_ms": 1}))), 1);
        assert_eq!(retry_after_secs(Some(&json!({"retry_after_ms": 1000}))), 1);
        assert_eq!(retry_after_secs(Some(&json!({"retry_after_ms": 1001}))), 2);
        assert_eq!(retry_after_secs(Some(&json!({"other": 5}))), 1);
    }

    #[test]
    fn errors_carry_their_headers() {
        let r = error_response(
            &json!({"code": 4029, "message": "slow down", "data": {"retry_after_ms": 2500}}),
        );
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        let r = error_response(&json!({"code": 4001, "message": "who are you"}));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn forwarded_requests_keep_headers_and_replace_the_body_ones() {
        let req = http::Request::builder()
            .method(Method::GET)
            .uri("/v1/status?x=1")
            .header("x-api-key", "k")
            .header(header::AUTHORIZATION, "Bearer t")
            .header(header::CONTENT_LENGTH, "999")
            .body(())
            .expect("request");
        let (mut parts, ()) = req.into_parts();
        parts.extensions.insert(7u32);
        let f = forwarded(parts, b"{}".to_vec());
        assert_eq!(f.method(), Method::POST);
        assert_eq!(f.uri(), "/");
        assert_eq!(f.headers()["x-api-key"], "k");
        assert_eq!(f.headers()[header::AUTHORIZATION], "Bearer t");
        assert_eq!(f.headers()[header::CONTENT_LENGTH], "2");
        assert_eq!(f.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(f.extensions().get::<u32>(), Some(&7));
    }
}
