//! The REST route table: the one list of `/v1/` routes, each naming the JSON-RPC method it calls
//! and how that method's params are built from the path, the query string and the JSON body. The
//! REST layer (`rest.rs`) serves from it, and the OpenAPI 3.1 document at `GET /v1/openapi.json`
//! is generated from it (with the result schemas of `rest_schemas.rs`), so routes, parameters and
//! documentation cannot drift apart.
//!
//! Parameters are checked here against the schema the document gives them (a Bech32m address, 64
//! lowercase hex digits, an integer in range...), so a value outside the schema is answered 400
//! with JSON-RPC's -32602 before it reaches a method; the method then applies its own checks
//! (an address's checksum, a hash that names nothing...) exactly as over JSON-RPC.

use serde_json::{json, Map, Value};

use super::rest_schemas as schema;

/// The tags that group routes in the document (one per module, and the node's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    Node,
    Banking,
    Staking,
    Payments,
    Dex,
    Identity,
    Compliance,
}

impl Tag {
    pub fn name(self) -> &'static str {
        match self {
            Tag::Node => "node",
            Tag::Banking => "banking",
            Tag::Staking => "staking",
            Tag::Payments => "payments",
            Tag::Dex => "dex",
            Tag::Identity => "identity",
            Tag::Compliance => "compliance",
        }
    }
}

/// What a parameter holds: its JSON Schema and the check that enforces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A Bech32m `mamey1…` address (the checksum is the method's to check).
    Address,
    /// 64 lowercase hex digits (a transaction id, an asset, market, claim... id).
    Hash,
    /// A UUID v4 (any case), a payment's UETR.
    Uetr,
    /// Any DID: resolution reports a malformed one or another method inside its result.
    Did,
    /// An address or a `did:mamey` DID.
    Subject,
    /// An ISO 20022 end-to-end id: 1–35 characters, no control characters.
    EndToEndId,
    /// A status list's purpose.
    Purpose,
    /// An integer in `min..=max`, sent to the method as a JSON number.
    Uint {
        min: u64,
        max: u64,
    },
    Bool,
    /// A positive amount of base units, a decimal string (up to 2^128).
    Amount,
    /// A listing's cursor, as the previous page's `next_cursor` gave it.
    Cursor,
    /// DID Resolution's `versionId`: decimal digits, sent as a string.
    VersionId,
    /// DID Resolution's `versionTime` (RFC 3339; the resolution reports a malformed one).
    VersionTime,
    /// A signed, encoded transaction: non-empty lowercase hex.
    TxHex,
}

/// Bech32's data characters.
const BECH32: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn is_hex_lower(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_address(s: &str) -> bool {
    s.strip_prefix("mamey1")
        .is_some_and(|d| d.len() == 58 && d.chars().all(|c| BECH32.contains(c)))
}

fn is_uetr(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups
        .iter()
        .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    lens == [8, 4, 4, 4, 12]
        && hex
        && groups[2].starts_with('4')
        && groups[3].starts_with(['8', '9', 'a', 'b', 'A', 'B'])
}

fn digits(s: &str, max_len: usize) -> bool {
    !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
}

impl Kind {
    /// The parameter's JSON Schema.
    pub fn schema(self) -> Value {
        let s = |pattern: &str| json!({"type": "string", "pattern": pattern});
        match self {
            Kind::Address => schema::address(),
            Kind::Hash => schema::hash(),
            Kind::Uetr => s("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"),
            Kind::Did => json!({"type": "string", "minLength": 1, "maxLength": 256}),
            Kind::Subject => s("^(mamey1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}|did:mamey:[0-9a-f]{32})$"),
            Kind::EndToEndId => s("^[^\\u0000-\\u001f\\u007f]{1,35}$"),
            Kind::Purpose => json!({"type": "string", "enum": ["revocation", "suspension"]}),
            Kind::Uint { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Amount => s("^[0-9]{1,39}$"),
            Kind::Cursor => json!({"type": "string", "minLength": 1, "maxLength": 128}),
            Kind::VersionId => s("^[0-9]{1,10}$"),
            Kind::VersionTime => json!({"type": "string", "minLength": 1, "maxLength": 64}),
            Kind::TxHex => s("^([0-9a-f]{2})+$"),
        }
    }

    /// What the schema asks for, in words (error messages).
    fn expected(self) -> String {
        match self {
            Kind::Address => "a Bech32m address: mamey1 and 58 characters".into(),
            Kind::Hash => "64 lowercase hex digits".into(),
            Kind::Uetr => "a UUID version 4 (8-4-4-4-12 hex digits)".into(),
            Kind::Did => "a DID of 1 to 256 characters".into(),
            Kind::Subject => {
                "an address (mamey1…) or did:mamey: and 32 lowercase hex digits".into()
            }
            Kind::EndToEndId => "1 to 35 characters, no control characters".into(),
            Kind::Purpose => "revocation or suspension".into(),
            Kind::Uint { min, max } => format!("an integer from {min} to {max}"),
            Kind::Bool => "true or false".into(),
            Kind::Amount => "a decimal number of base units (up to 39 digits)".into(),
            Kind::Cursor => "the previous page's next_cursor (1 to 128 characters)".into(),
            Kind::VersionId => "a version number (up to 10 digits)".into(),
            Kind::VersionTime => "an RFC 3339 time (1 to 64 characters)".into(),
            Kind::TxHex => {
                "lowercase hex of a signed transaction (an even number of digits)".into()
            }
        }
    }

    /// The JSON value a method receives for the text of a path or query parameter, or why the
    /// text is outside the schema.
    pub fn parse(self, text: &str) -> Result<Value, String> {
        let string = || Value::String(text.to_string());
        let chars = text.chars().count();
        let ok = match self {
            Kind::Address => is_address(text),
            Kind::Hash => text.len() == 64 && is_hex_lower(text),
            Kind::Uetr => is_uetr(text),
            Kind::Did => (1..=256).contains(&chars),
            Kind::Subject => {
                is_address(text)
                    || text
                        .strip_prefix("did:mamey:")
                        .is_some_and(|id| id.len() == 32 && is_hex_lower(id))
            }
            Kind::EndToEndId => {
                (1..=35).contains(&chars) && !text.chars().any(|c| c < ' ' || c == '\u{7f}')
            }
            Kind::Purpose => matches!(text, "revocation" | "suspension"),
            Kind::Uint { min, max } => {
                return match text.parse::<u64>() {
                    Ok(n) if digits(text, 20) && (min..=max).contains(&n) => Ok(json!(n)),
                    _ => Err(format!("expected {}", self.expected())),
                }
            }
            Kind::Bool => {
                return match text {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    _ => Err(format!("expected {}", self.expected())),
                }
            }
            Kind::Amount => digits(text, 39),
            Kind::Cursor => (1..=128).contains(&chars),
            Kind::VersionId => digits(text, 10),
            Kind::VersionTime => (1..=64).contains(&chars),
            Kind::TxHex => !text.is_empty() && text.len() % 2 == 0 && is_hex_lower(text),
        };
        if ok {
            Ok(string())
        } else {
            Err(format!("expected {}", self.expected()))
        }
    }

    /// The JSON value a method receives for a body field, or why it is outside the schema.
    pub fn parse_json(self, v: &Value) -> Result<Value, String> {
        match (self, v) {
            (Kind::Uint { .. }, Value::Number(n)) => self.parse(&n.to_string()),
            (Kind::Bool, Value::Bool(b)) => Ok(Value::Bool(*b)),
            (Kind::Uint { .. } | Kind::Bool, _) => Err(format!("expected {}", self.expected())),
            (_, Value::String(s)) => self.parse(s),
            _ => Err(format!("expected a string: {}", self.expected())),
        }
    }
}

/// One parameter of a route.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub doc: &'static str,
}

/// Where a method's positional param comes from, in order.
#[derive(Clone, Copy, Debug)]
pub enum Arg {
    /// A `{name}` segment of the path.
    Path(Param),
    /// A query parameter, as a positional param of its own.
    Query(Param),
    /// An options object (`{"limit": 10, ...}`) built from the query parameters present.
    Options(&'static [Param]),
    /// A field of the JSON request body.
    Body(Param),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }
}

/// One REST route.
#[derive(Debug)]
pub struct Route {
    pub verb: Verb,
    /// Template, e.g. `/v1/accounts/{address}`.
    pub path: &'static str,
    /// The JSON-RPC method it calls.
    pub method: &'static str,
    pub args: &'static [Arg],
    pub summary: &'static str,
    pub tag: Tag,
    /// Needs the `admin` role (anonymous callers get 401 once access control is on).
    pub admin: bool,
    /// JSON Schema of the method's result (the 200 body).
    pub result: fn() -> Value,
}

const fn path(name: &'static str, kind: Kind, doc: &'static str) -> Arg {
    Arg::Path(Param {
        name,
        kind,
        required: true,
        doc,
    })
}

const fn opt(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        doc,
    }
}

const fn req(name: &'static str, kind: Kind, doc: &'static str) -> Param {
    Param {
        name,
        kind,
        required: true,
        doc,
    }
}

const HEIGHT_MAX: u64 = u64::MAX;
const LIMIT: Param = opt(
    "limit",
    Kind::Uint { min: 1, max: 1000 },
    "page size (the node caps it at its own maximum)",
);
const CURSOR: Param = opt("cursor", Kind::Cursor, "the previous page's next_cursor");
const PAGE: Arg = Arg::Options(&[LIMIT, CURSOR]);
const ADDRESS: Arg = path("address", Kind::Address, "account address (Bech32m)");
const MARKET: Arg = path("market", Kind::Hash, "market id");
const ASSET: Arg = path("asset", Kind::Hash, "asset id");

/// Every route (one line each: the table reads as a table). Aliases (`mamey_getValidators`, `mamey_getStake`: the staking routes call the
/// `staking_` names) and subscriptions (WebSocket only) have none.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    // Node
    Route { verb: Verb::Get, path: "/v1/status", method: "mamey_status", args: &[], summary: "Chain id, head, finalized height and state root", tag: Tag::Node, admin: false, result: schema::status },
    Route { verb: Verb::Get, path: "/v1/blocks/{height}", method: "mamey_getBlock", args: &[path("height", Kind::Uint { min: 0, max: HEIGHT_MAX }, "block height")], summary: "A committed block with its commit certificate", tag: Tag::Node, admin: false, result: schema::block },
    Route { verb: Verb::Post, path: "/v1/transactions", method: "mamey_sendTransaction", args: &[Arg::Body(req("tx", Kind::TxHex, "hex of a signed, encoded transaction (any module's call)"))], summary: "Submit a signed transaction; answers its id", tag: Tag::Node, admin: false, result: schema::tx_id },
    Route { verb: Verb::Get, path: "/v1/transactions/{id}", method: "mamey_getTransaction", args: &[path("id", Kind::Hash, "transaction id")], summary: "A transaction's status, block and events", tag: Tag::Node, admin: false, result: schema::transaction },
    Route { verb: Verb::Get, path: "/v1/accounts/{address}", method: "mamey_getAccount", args: &[ADDRESS], summary: "Native balance and nonces of an account", tag: Tag::Node, admin: false, result: schema::account },
    Route { verb: Verb::Get, path: "/v1/accounts/{address}/transactions", method: "mamey_getAccountTransactions", args: &[ADDRESS, PAGE], summary: "Every module's committed transactions touching the address, newest first", tag: Tag::Node, admin: false, result: schema::history },
    Route { verb: Verb::Get, path: "/v1/node/ingest", method: "mamey_ingestInfo", args: &[], summary: "Where the QUIC ingest listens and its certificate", tag: Tag::Node, admin: false, result: schema::ingest_info },
    Route { verb: Verb::Get, path: "/v1/node/pipeline", method: "mamey_pipelineStats", args: &[], summary: "Per-stage pipeline counters (admin)", tag: Tag::Node, admin: true, result: schema::pipeline_stats },
    // Staking
    Route { verb: Verb::Get, path: "/v1/staking/validators", method: "staking_getValidators", args: &[], summary: "The validator registry and active set", tag: Tag::Staking, admin: false, result: schema::validators },
    Route { verb: Verb::Get, path: "/v1/staking/delegations/{address}", method: "staking_getStake", args: &[path("address", Kind::Address, "delegator address")], summary: "An address's delegations", tag: Tag::Staking, admin: false, result: schema::stake },
    // Banking
    Route { verb: Verb::Get, path: "/v1/banking/assets", method: "banking_listAssets", args: &[PAGE], summary: "Issued assets in id order", tag: Tag::Banking, admin: false, result: schema::assets },
    Route { verb: Verb::Get, path: "/v1/banking/assets/{id}", method: "banking_getAsset", args: &[path("id", Kind::Hash, "asset id")], summary: "An issued asset and its policy", tag: Tag::Banking, admin: false, result: schema::asset_ref },
    Route { verb: Verb::Get, path: "/v1/banking/assets/{id}/holders", method: "banking_getHolders", args: &[path("id", Kind::Hash, "asset id"), PAGE], summary: "An asset's holders in address order", tag: Tag::Banking, admin: false, result: schema::holders },
    Route { verb: Verb::Get, path: "/v1/banking/balances/{address}", method: "banking_getBalances", args: &[ADDRESS], summary: "The issued assets an address holds", tag: Tag::Banking, admin: false, result: schema::balances },
    // Payments
    Route { verb: Verb::Get, path: "/v1/payments/uetr/{uetr}", method: "payments_getByUetr", args: &[path("uetr", Kind::Uetr, "UETR (UUID v4)")], summary: "The payment carrying a UETR", tag: Tag::Payments, admin: false, result: schema::payment_ref },
    Route { verb: Verb::Get, path: "/v1/payments/end-to-end/{sender}/{end_to_end_id}", method: "payments_getByEndToEndId", args: &[path("sender", Kind::Address, "sender address"), path("end_to_end_id", Kind::EndToEndId, "the sender's end-to-end id")], summary: "A sender's payment with an end-to-end id", tag: Tag::Payments, admin: false, result: schema::payment_ref },
    Route { verb: Verb::Get, path: "/v1/transactions/{id}/payments", method: "payments_getPayments", args: &[path("id", Kind::Hash, "transaction id")], summary: "Every payment a committed transaction made", tag: Tag::Payments, admin: false, result: schema::payments },
    Route { verb: Verb::Get, path: "/v1/payments/escrows/{id}", method: "payments_getEscrow", args: &[path("id", Kind::Hash, "escrow id")], summary: "An open escrow", tag: Tag::Payments, admin: false, result: schema::escrow_ref },
    Route { verb: Verb::Get, path: "/v1/payments/standing-orders/{id}", method: "payments_getStandingOrder", args: &[path("id", Kind::Hash, "standing order id")], summary: "An active standing order", tag: Tag::Payments, admin: false, result: schema::standing_order_ref },
    Route { verb: Verb::Get, path: "/v1/payments/invoices/{id}", method: "payments_getInvoice", args: &[path("id", Kind::Hash, "invoice id")], summary: "An invoice, any status", tag: Tag::Payments, admin: false, result: schema::invoice_ref },
    Route { verb: Verb::Get, path: "/v1/payments/accounts/{address}/options", method: "payments_getAccountOptions", args: &[ADDRESS], summary: "An account's receiving options", tag: Tag::Payments, admin: false, result: schema::account_options },
    Route { verb: Verb::Get, path: "/v1/payments/accounts/{address}/escrows", method: "payments_getEscrows", args: &[ADDRESS, PAGE], summary: "Open escrows the address sends or receives", tag: Tag::Payments, admin: false, result: schema::escrows },
    Route { verb: Verb::Get, path: "/v1/payments/accounts/{address}/standing-orders", method: "payments_getStandingOrders", args: &[ADDRESS, PAGE], summary: "The address's active standing orders", tag: Tag::Payments, admin: false, result: schema::standing_orders },
    Route { verb: Verb::Get, path: "/v1/payments/accounts/{address}/invoices", method: "payments_getInvoices", args: &[ADDRESS, PAGE], summary: "Invoices the address issued", tag: Tag::Payments, admin: false, result: schema::invoices },
    // DEX
    Route { verb: Verb::Get, path: "/v1/dex/markets", method: "dex_getMarkets", args: &[], summary: "Every market", tag: Tag::Dex, admin: false, result: schema::markets },
    Route { verb: Verb::Get, path: "/v1/dex/markets/{market}", method: "dex_getMarket", args: &[MARKET], summary: "A market's terms and top of book", tag: Tag::Dex, admin: false, result: schema::market_ref },
    Route { verb: Verb::Get, path: "/v1/dex/markets/{market}/book", method: "dex_getBook", args: &[MARKET, Arg::Query(opt("depth", Kind::Uint { min: 1, max: 1000 }, "price levels per side (default 20)"))], summary: "L2 book, best first, with its sequence", tag: Tag::Dex, admin: false, result: schema::book },
    Route { verb: Verb::Get, path: "/v1/dex/markets/{market}/trades", method: "dex_getTrades", args: &[MARKET, Arg::Options(&[opt("limit", Kind::Uint { min: 1, max: 1000 }, "trades (default 100)")])], summary: "Trades, newest first", tag: Tag::Dex, admin: false, result: schema::trades },
    Route { verb: Verb::Get, path: "/v1/dex/markets/{market}/pool", method: "dex_getPool", args: &[MARKET, Arg::Query(opt("address", Kind::Address, "an owner whose shares to show"))], summary: "The market's constant-product pool", tag: Tag::Dex, admin: false, result: schema::pool },
    Route { verb: Verb::Get, path: "/v1/dex/markets/{market}/stats", method: "dex_getStats", args: &[MARKET], summary: "The last 24 hours of trading", tag: Tag::Dex, admin: false, result: schema::stats },
    Route { verb: Verb::Get, path: "/v1/dex/markets/{market}/accounts/{address}", method: "dex_getAccount", args: &[MARKET, ADDRESS], summary: "An account's open orders and proceeds in a market", tag: Tag::Dex, admin: false, result: schema::dex_account },
    Route { verb: Verb::Get, path: "/v1/dex/markets/{market}/accounts/{address}/orders", method: "dex_getOrders", args: &[MARKET, ADDRESS], summary: "An account's open orders in a market", tag: Tag::Dex, admin: false, result: schema::orders },
    // Identity
    Route { verb: Verb::Get, path: "/v1/identity/dids/{did}", method: "identity_resolve", args: &[path("did", Kind::Did, "the DID (did:mamey:…)"), Arg::Options(&[opt("versionId", Kind::VersionId, "a version number"), opt("versionTime", Kind::VersionTime, "an RFC 3339 UTC time")])], summary: "DID resolution (the W3C result; errors inside it)", tag: Tag::Identity, admin: false, result: schema::resolution },
    Route { verb: Verb::Get, path: "/v1/identity/claims/{id}", method: "identity_getClaim", args: &[path("id", Kind::Hash, "claim id")], summary: "A claim and its status", tag: Tag::Identity, admin: false, result: schema::claim_ref },
    Route { verb: Verb::Get, path: "/v1/identity/subjects/{subject}/claims", method: "identity_getClaims", args: &[path("subject", Kind::Subject, "an address or a did:mamey DID"), PAGE], summary: "Every claim about a subject", tag: Tag::Identity, admin: false, result: schema::claims },
    Route { verb: Verb::Get, path: "/v1/identity/issuers", method: "identity_listIssuers", args: &[PAGE], summary: "The trusted issuers registry", tag: Tag::Identity, admin: false, result: schema::issuers },
    Route { verb: Verb::Get, path: "/v1/identity/issuers/{address}", method: "identity_getIssuer", args: &[path("address", Kind::Address, "issuer address")], summary: "A trusted issuer", tag: Tag::Identity, admin: false, result: schema::issuer_ref },
    Route { verb: Verb::Get, path: "/v1/identity/issuers/{address}/status-lists/{purpose}/{list}", method: "identity_getStatusList", args: &[path("address", Kind::Address, "issuer address"), path("purpose", Kind::Purpose, "revocation or suspension"), path("list", Kind::Uint { min: 0, max: u32::MAX as u64 }, "list number")], summary: "A Bitstring Status List credential", tag: Tag::Identity, admin: false, result: schema::status_list },
    // Compliance
    Route { verb: Verb::Get, path: "/v1/compliance/assets/{asset}/rules", method: "compliance_getRules", args: &[ASSET], summary: "An asset's transfer rules", tag: Tag::Compliance, admin: false, result: schema::rules },
    Route { verb: Verb::Get, path: "/v1/compliance/assets/{asset}/report", method: "compliance_report", args: &[ASSET, Arg::Options(&[opt("from_height", Kind::Uint { min: 1, max: HEIGHT_MAX }, "first block (default 1)"), opt("to_height", Kind::Uint { min: 1, max: HEIGHT_MAX }, "last block (default the head)")])], summary: "The regulator's report of an asset's events", tag: Tag::Compliance, admin: false, result: schema::report },
    Route { verb: Verb::Get, path: "/v1/compliance/check-transfer", method: "compliance_checkTransfer", args: &[Arg::Options(&[req("asset", Kind::Hash, "asset id"), req("from", Kind::Address, "sender"), req("to", Kind::Address, "receiver"), req("amount", Kind::Amount, "base units"), opt("travel_record", Kind::Bool, "the transfer carries a travel-rule record")])], summary: "Dry run of a transfer against the asset's rules", tag: Tag::Compliance, admin: false, result: schema::check_transfer },
    Route { verb: Verb::Get, path: "/v1/compliance/blocked", method: "compliance_getBlocked", args: &[PAGE], summary: "The chain-wide blocked list", tag: Tag::Compliance, admin: false, result: schema::blocked_list },
    Route { verb: Verb::Get, path: "/v1/compliance/blocked/{address}", method: "compliance_isBlocked", args: &[ADDRESS], summary: "Whether an address is blocked", tag: Tag::Compliance, admin: false, result: schema::is_blocked },
];

/// JSON-RPC methods with no route of their own, and why.
pub const UNROUTED: &[(&str, &str)] = &[
    ("mamey_getValidators", "alias of staking_getValidators"),
    ("mamey_getStake", "alias of staking_getStake"),
    ("mamey_subscribe", "subscriptions need a WebSocket"),
    ("mamey_unsubscribe", "subscriptions need a WebSocket"),
];

/// Every route as (HTTP verb, path template, JSON-RPC method), for tests and access policies.
pub fn route_list() -> Vec<(&'static str, &'static str, &'static str)> {
    ROUTES
        .iter()
        .map(|r| (r.verb.name(), r.path, r.method))
        .collect()
}

/// Path parameters' text by name.
pub type Captures = Vec<(&'static str, String)>;

/// What a request's verb and path name.
#[derive(Debug)]
pub enum Found {
    /// The route, and its path parameters' text (percent-decoded).
    Route(&'static Route, Captures),
    /// The path is a route's, the verb is not: the verbs it has.
    WrongVerb(Vec<&'static str>),
    NoRoute,
}

/// `%XX` escapes decoded; `None` for a bad escape or text that is not UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// How a template matches `segments`: the number of literal segments (more is more specific) and
/// the parameters' raw text; `None` when it does not match.
fn match_template(template: &'static str, segments: &[&str]) -> Option<(usize, Captures)> {
    let parts: Vec<&'static str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literals = 0;
    let mut captures = Vec::new();
    for (t, s) in parts.iter().zip(segments) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            // An empty segment names nothing (`/v1/accounts/`).
            Some(name) if !s.is_empty() => captures.push((name, s.to_string())),
            Some(_) => return None,
            None if t == s => literals += 1,
            None => return None,
        }
    }
    Some((literals, captures))
}

/// The route `verb path` names. Literal segments win over parameters (`/v1/compliance/blocked`
/// before a would-be `{x}` in its place). Err: a path parameter's escapes do not decode.
pub fn find(verb: &str, path: &str) -> Result<Found, String> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut best: Option<(usize, &'static Route, Captures)> = None;
    let mut verbs: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        let Some((literals, captures)) = match_template(r.path, &segments) else {
            continue;
        };
        if r.verb.name() != verb {
            verbs.push(r.verb.name());
            continue;
        }
        if best.as_ref().map_or(true, |(l, _, _)| literals > *l) {
            best = Some((literals, r, captures));
        }
    }
    let Some((_, route, raw)) = best else {
        verbs.dedup();
        return Ok(if verbs.is_empty() {
            Found::NoRoute
        } else {
            Found::WrongVerb(verbs)
        });
    };
    let mut captures = Vec::with_capacity(raw.len());
    for (name, text) in raw {
        let text = percent_decode(&text, false)
            .ok_or_else(|| format!("path parameter {name}: bad percent-encoding or not UTF-8"))?;
        captures.push((name, text));
    }
    Ok(Found::Route(route, captures))
}

/// The query string's parameters, decoded (`+` is a space). Err: a bad escape.
pub fn parse_query(query: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (percent_decode(k, true), percent_decode(v, true)) else {
            return Err(format!(
                "query parameter {pair:?}: bad percent-encoding or not UTF-8"
            ));
        };
        out.push((k, v));
    }
    Ok(out)
}

/// The text of query parameter `name`; Err when it is given twice.
fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, String> {
    let mut found = query.iter().filter(|(k, _)| k == name);
    let first = found.next().map(|(_, v)| v.as_str());
    if found.next().is_some() {
        return Err(format!("query parameter {name} is given more than once"));
    }
    Ok(first)
}

/// The value of `p` from the query, checked; `None` when absent and optional.
fn query_param(p: &Param, query: &[(String, String)]) -> Result<Option<Value>, String> {
    match query_value(query, p.name)? {
        Some(text) => p
            .kind
            .parse(text)
            .map(Some)
            .map_err(|e| format!("query parameter {}: {e}", p.name)),
        None if p.required => Err(format!("query parameter {} is required", p.name)),
        None => Ok(None),
    }
}

/// The JSON-RPC params of `route` from the request's path parameters, query and body (the body
/// already parsed; `None` when the route takes none). Err: why the request does not fit the
/// route's schema (answered 400, -32602).
pub fn build_params(
    route: &Route,
    captures: &[(&'static str, String)],
    query: &[(String, String)],
    body: Option<&Value>,
) -> Result<Vec<Value>, String> {
    let mut params = Vec::with_capacity(route.args.len());
    for arg in route.args {
        let value = match arg {
            Arg::Path(p) => {
                let text = captures
                    .iter()
                    .find(|(n, _)| *n == p.name)
                    .map(|(_, t)| t.as_str())
                    .ok_or_else(|| format!("path parameter {} is missing", p.name))?;
                p.kind
                    .parse(text)
                    .map_err(|e| format!("path parameter {}: {e}", p.name))?
            }
            Arg::Query(p) => query_param(p, query)?.unwrap_or(Value::Null),
            Arg::Options(fields) => {
                let mut o = Map::new();
                for p in *fields {
                    if let Some(v) = query_param(p, query)? {
                        o.insert(p.name.to_string(), v);
                    }
                }
                if o.is_empty() {
                    Value::Null
                } else {
                    Value::Object(o)
                }
            }
            Arg::Body(p) => match body.and_then(|b| b.get(p.name)) {
                Some(v) => p
                    .kind
                    .parse_json(v)
                    .map_err(|e| format!("body field {}: {e}", p.name))?,
                None if p.required => return Err(format!("body field {} is required", p.name)),
                None => Value::Null,
            },
        };
        params.push(value);
    }
    // Absent optional params at the end are left out, as a JSON-RPC caller would.
    while params.last().is_some_and(Value::is_null) {
        params.pop();
    }
    Ok(params)
}

/// The JSON-RPC call (method and params) a REST request makes: `Ok(None)` when no route has this
/// verb and path, `Err` when the request does not fit its route. The whole decoding of a
/// request's outside input, for the fuzz target `rest_request`.
pub fn request_params(
    verb: &str,
    path: &str,
    query: Option<&str>,
    body: Option<&Value>,
) -> Result<Option<(&'static str, Vec<Value>)>, String> {
    let Found::Route(route, captures) = find(verb, path)? else {
        return Ok(None);
    };
    let query = parse_query(query)?;
    build_params(route, &captures, &query, body).map(|params| Some((route.method, params)))
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document
// ---------------------------------------------------------------------------------------------

/// The error statuses every route documents (the shared `Error` body); POST adds 413 and 422.
/// 401 and 403 come from access control, 429 from rate limits, on any route.
const ERROR_STATUSES: &[(&str, &str)] = &[
    ("400", "Bad request: a parameter outside its schema (-32602), or a transaction the node refuses as malformed or invalid (1000-1011)"),
    ("401", "Unauthenticated (4001): no or an unknown API key or token"),
    ("403", "Forbidden (4003): the caller's role does not allow this route"),
    ("404", "Not found (3000): no such block, transaction or object; or no such route (-32601)"),
    ("413", "Request body over the node's rpc.request_bytes_max"),
    ("422", "A module or the staking state refuses the transaction (1012, 10100-11199)"),
    ("429", "Rate limited (4029, 2004): retry after Retry-After seconds"),
    ("500", "Internal error (-32603): the node failed; the request may be retried"),
    ("503", "Unavailable (2000-2003): mempool full, sender queue full, busy or shutting down; retry later"),
];

fn error_response(status: &str, description: &str) -> Value {
    let mut r = json!({
        "description": description,
        "content": {"application/json": {"schema": schema::named("Error")}},
    });
    let header = |description: &str, schema: Value| json!({"description": description, "required": true, "schema": schema});
    match status {
        "429" => {
            r["headers"] = json!({"Retry-After": header(
                "whole seconds to wait before retrying",
                json!({"type": "integer", "minimum": 1}),
            )})
        }
        "401" => {
            r["headers"] = json!({"WWW-Authenticate": header(
                "the scheme to authenticate with (Bearer)",
                json!({"type": "string"}),
            )})
        }
        _ => {}
    }
    r
}

/// An example value that fits the kind's schema, for the document's readers and the tests'
/// explicit examples.
fn example(kind: Kind) -> Option<Value> {
    Some(match kind {
        Kind::Address => json!(crate::types::Address([0; 32]).to_string()),
        Kind::Hash => json!("0".repeat(64)),
        Kind::Uetr => json!("eb6305c9-1f7f-49de-aed0-16487c27b42d"),
        Kind::Subject => json!(format!("did:mamey:{}", "0".repeat(32))),
        Kind::Did => json!(format!("did:mamey:{}", "0".repeat(32))),
        Kind::Uint { min, .. } => json!(min.max(1)),
        _ => return None,
    })
}

fn parameter(p: &Param, location: &str) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": location,
        "required": p.required,
        "description": p.doc,
        "schema": p.kind.schema(),
    });
    if let Some(e) = example(p.kind) {
        v["example"] = e;
    }
    v
}

fn operation(r: &Route) -> Value {
    let mut parameters = Vec::new();
    let mut body = Map::new();
    let mut body_required = Vec::new();
    for arg in r.args {
        match arg {
            Arg::Path(p) => parameters.push(parameter(p, "path")),
            Arg::Query(p) => parameters.push(parameter(p, "query")),
            Arg::Options(fields) => parameters.extend(fields.iter().map(|p| parameter(p, "query"))),
            Arg::Body(p) => {
                let mut s = p.kind.schema();
                s["description"] = json!(p.doc);
                body.insert(p.name.to_string(), s);
                if p.required {
                    body_required.push(p.name);
                }
            }
        }
    }
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({
            "description": format!("the result of JSON-RPC {}", r.method),
            "content": {"application/json": {"schema": (r.result)()}},
        }),
    );
    for (status, _) in ERROR_STATUSES {
        if r.verb == Verb::Get && matches!(*status, "413" | "422") {
            continue;
        }
        let reference = format!("#/components/responses/Error{status}");
        responses.insert(status.to_string(), json!({ "$ref": reference }));
    }
    let mut op = json!({
        "operationId": r.method,
        "summary": r.summary,
        "description": format!("Calls the JSON-RPC method `{}`.", r.method),
        "tags": [r.tag.name()],
        "x-jsonrpc-method": r.method,
        "parameters": parameters,
        "responses": responses,
    });
    if r.admin {
        op["security"] = json!([{"apiKey": []}, {"bearerAuth": []}]);
    }
    if !body.is_empty() {
        op["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {
                "type": "object", "properties": body, "required": body_required,
            }}},
        });
    }
    op
}

/// The OpenAPI 3.1 document of every route, served at `GET /v1/openapi.json`.
pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let item = paths.entry(r.path).or_insert_with(|| json!({}));
        item[r.verb.name().to_ascii_lowercase()] = operation(r);
    }
    let schemas: Map<String, Value> = schema::components()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let responses: Map<String, Value> = ERROR_STATUSES
        .iter()
        .map(|(s, d)| (format!("Error{s}"), error_response(s, d)))
        .collect();
    let tags: Vec<Value> = [
        Tag::Node,
        Tag::Banking,
        Tag::Staking,
        Tag::Payments,
        Tag::Dex,
        Tag::Identity,
        Tag::Compliance,
    ]
    .iter()
    .map(|t| json!({"name": t.name()}))
    .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "MameyNode REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every route calls one JSON-RPC method on the same port (x-jsonrpc-method) \
                and answers its result (200) or its error as {\"error\": {\"code\", \"message\", \
                \"data\"?}} with the JSON-RPC code and an HTTP status mapped from it (docs/API.md, \
                \"REST\"). Transactions of every module are submitted with POST /v1/transactions.",
        },
        "tags": tags,
        "x-jsonrpc-without-route": UNROUTED
            .iter()
            .map(|(m, why)| (m.to_string(), json!(why)))
            .collect::<Map<String, Value>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
        // Anonymous callers are served (dev mode: read and submit); keys and tokens carry roles.
        "security": [{}, {"apiKey": []}, {"bearerAuth": []}],
    })
}

#[cfg(test)]
#[path = "rest_routes_tests.rs"]
mod tests;
