//! Parameter parsing and error objects shared by every JSON-RPC method (plain methods, module
//! methods and subscriptions), so that they all answer bad input the same way.

use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::Value;

use super::ErrorCode;
use crate::api::ApiError;
use crate::types::{Address, Hash};

pub(super) fn error(code: ErrorCode, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code.code(), message, None::<()>)
}

pub(super) fn api_error(e: ApiError) -> ErrorObjectOwned {
    error(e.code, e.message)
}

/// The positional parameters of a method, with a message naming what was expected.
pub(super) fn positional(
    params: &Params<'_>,
    expected: &str,
) -> Result<Vec<Value>, ErrorObjectOwned> {
    let invalid = || {
        error(
            ErrorCode::InvalidParams,
            format!("expected params [{expected}]"),
        )
    };
    let v: Option<Vec<Value>> = params.parse().map_err(|_| invalid())?;
    v.ok_or_else(invalid)
}

/// The single positional parameter of a method.
pub(super) fn one_param(params: &Params<'_>, expected: &str) -> Result<Value, ErrorObjectOwned> {
    let mut v = positional(params, expected)?;
    if v.len() != 1 {
        return Err(error(
            ErrorCode::InvalidParams,
            format!("expected params [{expected}]"),
        ));
    }
    Ok(v.remove(0))
}

pub(super) fn string_param(
    params: &Params<'_>,
    expected: &str,
) -> Result<String, ErrorObjectOwned> {
    match one_param(params, expected)? {
        Value::String(s) => Ok(s),
        other => Err(error(
            ErrorCode::InvalidParams,
            format!("expected params [{expected}] as a string, got {other}"),
        )),
    }
}

pub(super) fn parse_address(s: &str, at: &str) -> Result<Address, ErrorObjectOwned> {
    s.parse()
        .map_err(|e| error(ErrorCode::InvalidParams, format!("{at}: {e}")))
}

pub(super) fn parse_hash(s: &str, at: &str) -> Result<Hash, ErrorObjectOwned> {
    s.parse()
        .map_err(|e| error(ErrorCode::InvalidParams, format!("{at}: {e}")))
}
