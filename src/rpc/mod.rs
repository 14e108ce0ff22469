//! JSON-RPC 2.0: the methods of `../shared/INTERFACES.md` §4, their JSON shapes, and the stable
//! error codes every client can rely on.
//!
//! Error codes (also in `docs/API.md`); they never change meaning:
//!
//! | code   | name                  | when                                                        |
//! |--------|-----------------------|-------------------------------------------------------------|
//! | -32700 | parse error           | the request is not JSON                                     |
//! | -32600 | invalid request       | JSON, but not a JSON-RPC 2.0 request                        |
//! | -32601 | method not found      | unknown method                                              |
//! | -32602 | invalid params        | wrong number or type of params, bad hex, bad address        |
//! | -32603 | internal error        | the node failed; the request may be retried                 |
//! | 1000   | invalid encoding      | the transaction bytes do not decode                         |
//! | 1001   | tx too large          | over the node's transaction size limit                      |
//! | 1002   | wrong chain           | the transaction names another chain id                      |
//! | 1003   | bad signature         | the signature does not verify (ZIP-215)                     |
//! | 1004   | nonce too low         | the nonce was already used                                  |
//! | 1005   | nonce too high        | the nonce is too far ahead of the account's next nonce      |
//! | 1006   | insufficient funds    | balance below amount + fee (+ the sender's pending ones)    |
//! | 1007   | fee too low           | fee below the chain's minimum                               |
//! | 1008   | already known         | the same transaction is pending or committed                |
//! | 1009   | nonce already pending | another pending transaction of the sender has this nonce    |
//! | 1010   | invalid amount        | zero amount, or amount + fee overflows                      |
//! | 1011   | too many transactions | too many transactions in one submission                     |
//! | 2000   | mempool full          | retry later                                                 |
//! | 2001   | sender queue full     | wait for some of the sender's transactions to commit        |
//! | 2002   | busy                  | a pipeline stage is saturated; retry after a short pause    |
//! | 2003   | shutting down         | the node is stopping                                        |
//! | 2004   | rate limited          | over `rpc.calls_per_second_max` on this connection          |
//! | 3000   | not found             | no such transaction or block                                |
//! | 4001   | unauthenticated       | credentials needed, or they do not verify                   |
//! | 4003   | forbidden             | the caller's role may not call this method                  |
//! | 4029   | over quota            | over the caller's quota; `data.retry_after_ms` says when to retry |

mod auth;
pub mod client;
mod conformance;
mod cors;
mod dex;
mod http_paths;
mod identity;
mod limits;
mod modules;
mod params;
mod payments;
mod rest;
mod rest_routes;
mod rest_schemas;
mod server;
mod subscriptions;

pub use crate::api::views::*;
pub use crate::api::ErrorCode;
/// The REST routes as (HTTP verb, path template, JSON-RPC method), and their OpenAPI document.
pub use rest_routes::{
    openapi_document as rest_openapi_document, request_params as rest_request_params,
    route_list as rest_route_list,
};
pub use server::{start, RpcServer};
