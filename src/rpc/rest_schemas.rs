//! JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of what the REST routes answer: the result of
//! each JSON-RPC method as `src/api/` serializes it, the error body, and the named component
//! schemas the results share. They must be true: the REST test validates every response of a live
//! node against them (Schemathesis), so a field the code can leave out is not `required` and a field
//! the code can set to null says so (`["string", "null"]`). Objects stay open (no
//! `additionalProperties: false`): adding a field to a view must not break clients.

use serde_json::{json, Value};

/// Bech32m address characters after `mamey1` (32 bytes: 52 data characters and a 6-character
/// checksum).
pub const ADDRESS_PATTERN: &str = "^mamey1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$";
/// A SHA-256 hash or an id derived from one: 64 lowercase hex digits.
pub const HASH_PATTERN: &str = "^[0-9a-f]{64}$";

pub fn address() -> Value {
    json!({"type": "string", "pattern": ADDRESS_PATTERN})
}

pub fn hash() -> Value {
    json!({"type": "string", "pattern": HASH_PATTERN})
}

/// A non-negative JSON integer (u64, u32, usize).
fn uint() -> Value {
    json!({"type": "integer", "minimum": 0})
}

/// An amount or another big number as a decimal string.
fn decimal() -> Value {
    json!({"type": "string", "pattern": "^[0-9]+$"})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn any_object() -> Value {
    json!({"type": "object"})
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

/// `schema` or null (an `Option` the view serializes as null).
fn nullable(schema: Value) -> Value {
    let mut s = schema;
    if let Some(t) = s.get("type").and_then(Value::as_str).map(str::to_string) {
        s["type"] = json!([t, "null"]);
        return s;
    }
    json!({"anyOf": [s, {"type": "null"}]})
}

/// A reference to a shared schema under `components.schemas`.
pub fn named(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An object with the properties of `props` (a JSON object of schemas); the names in `optional`
/// may be absent (serde `skip_serializing_if`), every other property is always there.
fn obj(props: Value, optional: &[&str]) -> Value {
    let required: Vec<&String> = props
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|k| !optional.contains(&k.as_str()))
        .collect();
    json!({"type": "object", "properties": props, "required": required})
}

/// A page of a listing: `{"items": [...], "next_cursor": c | null}`.
fn page(item: Value) -> Value {
    obj(
        json!({"items": array(item), "next_cursor": nullable(string())}),
        &[],
    )
}

fn tx_status() -> Value {
    json!({"type": "string", "enum": ["pending", "committed", "finalized", "rejected"]})
}

/// The REST error body: the JSON-RPC error object under `error`.
pub fn error() -> Value {
    let e = obj(
        json!({"code": {"type": "integer"}, "message": string(), "data": {}}),
        &["data"],
    );
    obj(json!({ "error": e }), &[])
}

/// The schemas results share, by name (`components.schemas`).
pub fn components() -> Vec<(&'static str, Value)> {
    vec![
        ("Error", error()),
        ("Event", event()),
        ("Asset", asset()),
        ("Holding", holding()),
        ("Payment", payment()),
        ("Escrow", escrow()),
        ("StandingOrder", standing_order()),
        ("Invoice", invoice()),
        ("Market", market()),
        ("Order", order()),
        ("Trade", trade()),
        ("Claim", claim()),
        ("Issuer", issuer()),
    ]
}

/// An event: `{"module", "type", ...attributes as strings}`.
fn event() -> Value {
    json!({
        "type": "object",
        "properties": {"module": string(), "type": string()},
        "required": ["module", "type"],
        "additionalProperties": string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Node and staking
// ---------------------------------------------------------------------------------------------

pub fn status() -> Value {
    obj(
        json!({
            "chain_id": uint(), "height": uint(), "finalized_height": uint(),
            "state_root": hash(), "head_hash": hash(), "head_timestamp_ms": uint(),
            "genesis_hash": hash(), "min_fee": uint(), "sigverify_backend": string(),
            "version": string(),
        }),
        &[],
    )
}

pub fn account() -> Value {
    obj(
        json!({
            "address": address(), "balance": uint(), "nonce": uint(), "pending_nonce": uint(),
        }),
        &[],
    )
}

/// `mamey_sendTransaction`: the transaction id.
pub fn tx_id() -> Value {
    hash()
}

pub fn transaction() -> Value {
    obj(
        json!({
            "id": hash(), "status": tx_status(), "height": uint(), "index": uint(),
            "block_hash": hash(), "fee_paid": uint(), "error": string(), "error_code": uint(),
            "events": array(named("Event")),
        }),
        &[
            "height",
            "index",
            "block_hash",
            "fee_paid",
            "error",
            "error_code",
            "events",
        ],
    )
}

pub fn block() -> Value {
    let signature = obj(json!({"validator": address(), "signature": string()}), &[]);
    let commit = obj(
        json!({"round": uint(), "signatures": array(signature)}),
        &[],
    );
    obj(
        json!({
            "height": uint(), "hash": hash(), "parent_hash": hash(), "state_root": hash(),
            "tx_root": hash(), "proposer": address(), "timestamp_ms": uint(),
            "transactions": array(hash()), "commit": commit,
        }),
        &["commit"],
    )
}

pub fn history() -> Value {
    let item = obj(
        json!({
            "id": hash(), "height": uint(), "index": uint(), "status": tx_status(),
            "sender": address(), "module": string(), "fee_paid": uint(),
            "events": array(named("Event")),
        }),
        &[],
    );
    obj(
        json!({"transactions": array(item), "next_cursor": nullable(string())}),
        &[],
    )
}

pub fn ingest_info() -> Value {
    obj(
        json!({
            "quic": string(), "certificate_der": string(), "batch_txs_max": uint(),
            "tx_bytes_max": uint(),
        }),
        &[],
    )
}

pub fn pipeline_stats() -> Value {
    let stage = obj(
        json!({"batches": uint(), "items": uint(), "refused": uint(), "busy_us": uint()}),
        &[],
    );
    obj(
        json!({
            "ingest": stage, "sigverify": stage, "mempool": stage, "select": stage,
            "execute": stage, "commit": stage, "notify": stage, "busy_refusals": uint(),
        }),
        &[],
    )
}

pub fn validators() -> Value {
    let validator = obj(
        json!({
            "address": address(), "tokens": uint(), "commission_bps": uint(),
            "jailed": boolean(), "power": nullable(uint()),
            "missed_proposals": uint(), "proposed": uint(), "proposer_skipped_until": uint(),
            "signed_votes": uint(), "missed_votes": uint(),
        }),
        &[],
    );
    obj(
        json!({
            "height": uint(), "epoch_blocks": uint(), "active_set_max": uint(),
            "total_power": uint(), "validators": array(validator),
        }),
        &[],
    )
}

pub fn stake() -> Value {
    let delegation = obj(
        json!({"validator": address(), "shares": decimal(), "tokens": uint()}),
        &[],
    );
    obj(
        json!({"delegator": address(), "height": uint(), "delegations": array(delegation)}),
        &[],
    )
}

// ---------------------------------------------------------------------------------------------
// Banking
// ---------------------------------------------------------------------------------------------

fn asset() -> Value {
    obj(
        json!({
            "id": hash(), "symbol": string(), "name": string(), "decimals": uint(),
            "issuer": address(), "supply": decimal(), "max_supply": nullable(decimal()),
            "mintable": boolean(), "holder_burnable": boolean(), "freezable": boolean(),
            "clawback": boolean(), "auth_required": boolean(), "global_frozen": boolean(),
            "locked": boolean(), "metadata_uri": string(), "created_height": uint(),
        }),
        &[],
    )
}

fn holding() -> Value {
    obj(
        json!({
            "asset": hash(), "symbol": string(), "holder": address(), "amount": decimal(),
            "frozen": boolean(), "authorized": boolean(),
        }),
        &[],
    )
}

pub fn asset_ref() -> Value {
    named("Asset")
}

pub fn assets() -> Value {
    page(named("Asset"))
}

pub fn holders() -> Value {
    page(named("Holding"))
}

pub fn balances() -> Value {
    obj(
        json!({"address": address(), "balances": array(named("Holding"))}),
        &[],
    )
}

// ---------------------------------------------------------------------------------------------
// Payments
// ---------------------------------------------------------------------------------------------

/// The payment references a view flattens into itself (each absent when not set).
const REFS: &[&str] = &[
    "end_to_end_id",
    "uetr",
    "remittance",
    "creditor_reference",
    "purpose",
    "destination_tag",
];

/// An object of `props` and the flattened references; `optional` as [`obj`]'s.
fn with_refs(mut props: Value, optional: &[&str]) -> Value {
    for r in REFS {
        props[*r] = if *r == "destination_tag" {
            uint()
        } else {
            string()
        };
    }
    let optional: Vec<&str> = optional.iter().chain(REFS).copied().collect();
    obj(props, &optional)
}

fn payment() -> Value {
    with_refs(
        json!({
            "transaction": hash(), "output": uint(),
            "kind": {"type": "string", "enum": ["pay", "batch", "escrow"]},
            "status": tx_status(), "height": nullable(uint()), "from": address(),
            "to": address(), "asset": nullable(hash()), "amount": decimal(), "error": string(),
            "error_code": uint(), "later": array(hash()),
        }),
        &["error", "error_code", "later"],
    )
}

fn escrow() -> Value {
    with_refs(
        json!({
            "id": hash(), "sender": address(), "to": address(), "asset": nullable(hash()),
            "amount": decimal(), "finish_after_ms": nullable(uint()),
            "cancel_after_ms": nullable(uint()), "condition": nullable(hash()),
            "created_height": uint(), "held_by": address(),
        }),
        &[],
    )
}

fn standing_order() -> Value {
    with_refs(
        json!({
            "id": hash(), "owner": address(), "to": address(), "asset": nullable(hash()),
            "amount": decimal(), "period": any_object(), "remaining": nullable(uint()),
            "on_failure": {"type": "string", "enum": ["retry", "stop"]},
            "paid": uint(), "failed": uint(), "next_due": uint(),
            "last_attempt_height": nullable(uint()), "last_attempt_code": nullable(uint()),
            "created_height": uint(),
        }),
        &[],
    )
}

fn invoice() -> Value {
    with_refs(
        json!({
            "id": hash(), "payee": address(), "asset": nullable(hash()), "amount": decimal(),
            "expires_ms": nullable(uint()),
            "status": {"type": "string", "enum": ["open", "paid", "expired", "cancelled"]},
            "payer": nullable(address()), "settled_height": nullable(uint()),
            "created_height": uint(),
        }),
        &[],
    )
}

pub fn payment_ref() -> Value {
    named("Payment")
}

pub fn payments() -> Value {
    array(named("Payment"))
}

pub fn escrow_ref() -> Value {
    named("Escrow")
}

pub fn escrows() -> Value {
    page(named("Escrow"))
}

pub fn standing_order_ref() -> Value {
    named("StandingOrder")
}

pub fn standing_orders() -> Value {
    page(named("StandingOrder"))
}

pub fn invoice_ref() -> Value {
    named("Invoice")
}

pub fn invoices() -> Value {
    page(named("Invoice"))
}

pub fn account_options() -> Value {
    obj(
        json!({"address": address(), "require_destination_tag": boolean()}),
        &[],
    )
}

// ---------------------------------------------------------------------------------------------
// DEX
// ---------------------------------------------------------------------------------------------

fn market() -> Value {
    obj(
        json!({
            "id": hash(), "base": hash(), "quote": hash(), "tick": decimal(), "lot": decimal(),
            "min_size": decimal(), "maker_fee_bps": {"type": "integer"},
            "taker_fee_bps": uint(), "halted": boolean(), "vault": address(),
            "created_height": uint(), "sequence": uint(), "best_bid": nullable(decimal()),
            "best_ask": nullable(decimal()), "bid_orders": uint(), "ask_orders": uint(),
            "last_price": nullable(decimal()), "trades": uint(), "fees": decimal(),
            "height": uint(),
        }),
        &[],
    )
}

fn order() -> Value {
    obj(
        json!({
            "order": uint(), "client_id": uint(), "owner": address(), "side": string(),
            "price": decimal(), "size": decimal(), "locked": decimal(),
            "expires": nullable(any_object()),
        }),
        &[],
    )
}

/// A trade as the history index rebuilds it from its event: text fields are the attributes'
/// text (empty if an attribute were missing), so only their type is promised.
fn trade() -> Value {
    obj(
        json!({
            "market": hash(), "price": string(), "size": string(), "quote": string(),
            "maker": address(), "taker": address(), "maker_order": uint(),
            "taker_order": uint(), "taker_side": string(), "sequence": uint(),
            "height": uint(), "transaction": hash(),
        }),
        &[],
    )
}

/// A book side: `[price, size]` levels, best first.
fn levels() -> Value {
    array(json!({"type": "array", "items": decimal(), "minItems": 2, "maxItems": 2}))
}

pub fn market_ref() -> Value {
    named("Market")
}

pub fn markets() -> Value {
    array(named("Market"))
}

pub fn book() -> Value {
    obj(
        json!({
            "market": hash(), "bids": levels(), "asks": levels(), "sequence": uint(),
            "height": uint(),
        }),
        &[],
    )
}

pub fn dex_account() -> Value {
    let owed = obj(json!({"base": decimal(), "quote": decimal()}), &[]);
    obj(
        json!({
            "market": hash(), "address": address(), "orders": array(named("Order")),
            "pending": owed, "held": owed, "height": uint(),
        }),
        &[],
    )
}

pub fn orders() -> Value {
    array(named("Order"))
}

pub fn trades() -> Value {
    array(named("Trade"))
}

pub fn pool() -> Value {
    obj(
        json!({
            "market": hash(), "base": decimal(), "quote": decimal(), "shares": decimal(),
            "fee_bps": uint(), "price": nullable(decimal()), "owner_shares": decimal(),
            "height": uint(),
        }),
        &["owner_shares"],
    )
}

pub fn stats() -> Value {
    let hour = obj(
        json!({
            "hour_start_ms": uint(), "open": decimal(), "high": decimal(), "low": decimal(),
            "close": decimal(), "volume_base": decimal(), "volume_quote": decimal(),
            "trades": uint(),
        }),
        &[],
    );
    obj(
        json!({
            "market": hash(), "open": nullable(decimal()), "high": nullable(decimal()),
            "low": nullable(decimal()), "last": nullable(decimal()), "volume_base": decimal(),
            "volume_quote": decimal(), "trades": uint(), "hours": array(hour), "height": uint(),
        }),
        &[],
    )
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

/// The W3C DID Resolution result (errors are inside it, in `didResolutionMetadata.error`).
pub fn resolution() -> Value {
    obj(
        json!({
            "@context": string(), "didDocument": nullable(any_object()),
            "didResolutionMetadata": any_object(), "didDocumentMetadata": any_object(),
        }),
        &[],
    )
}

fn claim() -> Value {
    obj(
        json!({
            "id": hash(), "issuer": address(), "subject": string(), "type": string(),
            "level": {"type": "integer", "minimum": 0, "maximum": 255},
            "jurisdiction": nullable(string()), "expires_ms": nullable(uint()),
            "evidence": nullable(hash()), "issued_ms": uint(), "issued_height": uint(),
            "revoked": boolean(), "suspended": boolean(), "current": boolean(),
            "status_index": uint(), "status_list": uint(), "status_list_index": uint(),
        }),
        &[],
    )
}

fn issuer() -> Value {
    obj(
        json!({
            "issuer": address(), "name": string(), "types": array(string()),
            "trusted": boolean(), "claims_issued": uint(),
        }),
        &[],
    )
}

pub fn claim_ref() -> Value {
    named("Claim")
}

pub fn claims() -> Value {
    page(named("Claim"))
}

pub fn issuer_ref() -> Value {
    named("Issuer")
}

pub fn issuers() -> Value {
    page(named("Issuer"))
}

/// A Bitstring Status List credential (unsigned; the ledger is its integrity).
pub fn status_list() -> Value {
    let subject = obj(
        json!({
            "id": string(), "type": string(), "statusPurpose": string(), "encodedList": string(),
        }),
        &[],
    );
    obj(
        json!({
            "@context": array(string()), "id": string(), "type": array(string()),
            "issuer": string(), "credentialSubject": subject, "mamey:height": uint(),
        }),
        &[],
    )
}

// ---------------------------------------------------------------------------------------------
// Compliance
// ---------------------------------------------------------------------------------------------

pub fn rules() -> Value {
    obj(
        json!({
            "asset": hash(), "paused": boolean(), "sender": array(any_object()),
            "receiver": array(any_object()), "max_holders": nullable(uint()),
            "holders": nullable(uint()), "max_balance": nullable(decimal()),
            "velocity": nullable(any_object()), "travel_threshold": nullable(decimal()),
            "description": string(),
        }),
        &[],
    )
}

pub fn check_transfer() -> Value {
    obj(
        json!({
            "allowed": boolean(), "reason": nullable(string()), "code": nullable(uint()),
            "message": nullable(string()), "rules": array(string()), "height": uint(),
        }),
        &[],
    )
}

pub fn is_blocked() -> Value {
    obj(
        json!({
            "address": address(), "blocked": boolean(), "reason": string(),
            "since_height": uint(),
        }),
        &["reason", "since_height"],
    )
}

pub fn blocked_list() -> Value {
    page(obj(
        json!({"address": address(), "reason": string(), "since_height": uint()}),
        &[],
    ))
}

pub fn report() -> Value {
    let row = obj(
        json!({
            "height": uint(), "time_ms": uint(), "transaction": hash(), "index": uint(),
            "sender": address(), "event": string(), "module": string(),
            "from": nullable(string()), "to": nullable(string()), "amount": nullable(string()),
            "rule": nullable(string()), "attributes": any_object(),
        }),
        &[],
    );
    obj(
        json!({
            "asset": hash(), "from_height": uint(), "to_height": uint(), "rows": array(row),
            "next_height": nullable(uint()),
        }),
        &[],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_and_optional_fields() {
        assert_eq!(nullable(string())["type"], json!(["string", "null"]));
        let r = &transaction()["required"];
        assert_eq!(r.as_array().map(Vec::len), Some(2), "{r}");
        assert_eq!(page(string())["required"], json!(["items", "next_cursor"]));
        let refs = &payment()["properties"];
        assert_eq!(refs["destination_tag"]["type"], "integer");
        assert!(!payment()["required"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k == "uetr"));
    }

    /// The views' real JSON has the schemas' required properties (a spot check; the REST test
    /// validates every response of a live node).
    #[test]
    fn views_have_the_required_properties() {
        let view = serde_json::to_value(crate::api::views::StatusView {
            chain_id: 1,
            height: 2,
            finalized_height: 2,
            state_root: crate::types::Hash([0; 32]),
            head_hash: crate::types::Hash([1; 32]),
            head_timestamp_ms: 3,
            genesis_hash: crate::types::Hash([2; 32]),
            min_fee: 1,
            sigverify_backend: "cpu".into(),
            version: "0".into(),
        })
        .expect("serializes");
        let required = status()["required"].clone();
        for k in required.as_array().into_iter().flatten() {
            let k = k.as_str().unwrap_or_default();
            assert!(view.get(k).is_some(), "status lacks {k}");
        }
    }
}
