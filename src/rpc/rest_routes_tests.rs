//! Unit tests of the REST route table: matching, parameter building, coverage of every JSON-RPC
//! method, and the generated OpenAPI document.

use serde_json::{json, Value};

use super::*;

fn route(verb: &str, path: &str) -> (&'static Route, Vec<(&'static str, String)>) {
    match find(verb, path).expect("decodes") {
        Found::Route(r, c) => (r, c),
        other => panic!("{verb} {path}: {other:?}"),
    }
}

const ADDR: &str = "mamey1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq0acdef";

#[test]
fn routes_match_by_path_and_verb() {
    let (r, c) = route("GET", "/v1/accounts/abc");
    assert_eq!(r.method, "mamey_getAccount");
    assert_eq!(c, vec![("address", "abc".to_string())]);
    let (r, _) = route("GET", "/v1/accounts/abc/transactions");
    assert_eq!(r.method, "mamey_getAccountTransactions");
    let (r, _) = route("GET", "/v1/compliance/blocked");
    assert_eq!(r.method, "compliance_getBlocked");
    let (r, _) = route("POST", "/v1/transactions");
    assert_eq!(r.method, "mamey_sendTransaction");
    let (r, c) = route("GET", "/v1/payments/end-to-end/s/INV%2F42%20x");
    assert_eq!(r.method, "payments_getByEndToEndId");
    assert_eq!(c[1], ("end_to_end_id", "INV/42 x".to_string()));
    match find("GET", "/v1/transactions").expect("decodes") {
        Found::WrongVerb(v) => assert_eq!(v, vec!["POST"]),
        other => panic!("{other:?}"),
    }
    for p in [
        "/v1/nothing",
        "/v1/accounts/",
        "/v1/accounts/a/b/c",
        "/v1/status/",
    ] {
        assert!(
            matches!(find("GET", p), Ok(Found::NoRoute)),
            "{p} names no route"
        );
    }
    assert!(find("GET", "/v1/accounts/%zz").is_err());
}

#[test]
fn no_two_routes_share_a_shape() {
    let shape = |p: &str| -> String {
        p.split('/')
            .map(|s| if s.starts_with('{') { "{}" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut seen = std::collections::BTreeSet::new();
    for r in ROUTES {
        assert!(
            seen.insert((r.verb.name(), shape(r.path))),
            "{} {} is ambiguous",
            r.verb.name(),
            r.path
        );
        assert!(r.path.starts_with("/v1/"), "{}", r.path);
    }
}

#[test]
fn params_come_from_path_query_and_body() {
    let (r, c) = route("GET", "/v1/blocks/12");
    assert_eq!(build_params(r, &c, &[], None), Ok(vec![json!(12)]));
    let (r, c) = route("GET", &format!("/v1/accounts/{ADDR}/transactions"));
    let q = parse_query(Some("limit=10&cursor=5%3A0&other=x")).expect("decodes");
    assert_eq!(
        build_params(r, &c, &q, None),
        Ok(vec![json!(ADDR), json!({"limit": 10, "cursor": "5:0"})])
    );
    assert_eq!(build_params(r, &c, &[], None), Ok(vec![json!(ADDR)]));
    let bad = parse_query(Some("limit=0")).expect("decodes");
    assert!(build_params(r, &c, &bad, None).is_err());
    let twice = parse_query(Some("limit=1&limit=2")).expect("decodes");
    assert!(build_params(r, &c, &twice, None).is_err());
    let (r, c) = route("GET", &format!("/v1/dex/markets/{}/book", "a".repeat(64)));
    let q = parse_query(Some("depth=5")).expect("decodes");
    assert_eq!(
        build_params(r, &c, &q, None),
        Ok(vec![json!("a".repeat(64)), json!(5)])
    );
    let (r, c) = route("GET", "/v1/compliance/check-transfer");
    let q = format!(
        "asset={}&from={ADDR}&to={ADDR}&amount=10&travel_record=true",
        "b".repeat(64)
    );
    let q = parse_query(Some(&q)).expect("decodes");
    let p = build_params(r, &c, &q, None).expect("fits");
    assert_eq!(p[0]["amount"], "10");
    assert_eq!(p[0]["travel_record"], true);
    assert!(
        build_params(r, &c, &q[1..], None).is_err(),
        "asset is required"
    );
    let (r, c) = route("POST", "/v1/transactions");
    assert_eq!(
        build_params(r, &c, &[], Some(&json!({"tx": "00ff"}))),
        Ok(vec![json!("00ff")])
    );
    for body in [
        json!({}),
        json!({"tx": 5}),
        json!({"tx": "0"}),
        json!({"tx": "AB"}),
    ] {
        assert!(build_params(r, &c, &[], Some(&body)).is_err(), "{body}");
    }
}

#[test]
fn kinds_enforce_their_schemas() {
    let ok = [
        (Kind::Address, ADDR),
        (Kind::Hash, &"0f".repeat(32)),
        (Kind::Uetr, "EB6305C9-1f7f-49de-aed0-16487c27b42d"),
        (Kind::Subject, "did:mamey:0123456789abcdef0123456789abcdef"),
        (Kind::EndToEndId, "INV-2026/0042"),
        (Kind::Purpose, "suspension"),
        (Kind::Amount, "340282366920938463463374607431768211455"),
        (Kind::VersionId, "2"),
    ];
    for (k, text) in ok {
        assert_eq!(k.parse(text), Ok(json!(text)), "{k:?} {text}");
    }
    let bad = [
        (Kind::Address, "mamey1b"),
        (Kind::Address, &ADDR.to_uppercase()),
        (Kind::Hash, &"0F".repeat(32)),
        (Kind::Uetr, "eb6305c9-1f7f-39de-aed0-16487c27b42d"),
        (Kind::Subject, "did:mamey:0123"),
        (Kind::EndToEndId, "a\u{1}"),
        (Kind::EndToEndId, &"x".repeat(36)),
        (Kind::Purpose, "other"),
        (Kind::Uint { min: 1, max: 10 }, "0"),
        (Kind::Uint { min: 1, max: 10 }, "11"),
        (
            Kind::Uint {
                min: 0,
                max: u64::MAX,
            },
            "18446744073709551616",
        ),
        (Kind::Uint { min: 0, max: 10 }, "+1"),
        (Kind::Uint { min: 0, max: 10 }, ""),
        (Kind::Bool, "1"),
        (Kind::Amount, "-1"),
        (Kind::Cursor, ""),
        (Kind::TxHex, ""),
    ];
    for (k, text) in bad {
        assert!(k.parse(text).is_err(), "{k:?} {text:?}");
    }
    let u = Kind::Uint { min: 0, max: 10 };
    assert_eq!(u.parse_json(&json!(3)), Ok(json!(3)));
    assert!(u.parse_json(&json!(1.5)).is_err());
    assert!(u.parse_json(&json!("3")).is_err());
}

/// Every JSON-RPC method the server registers has a route, or is listed in [`UNROUTED`] with
/// the reason; every route calls a registered method.
#[test]
fn every_method_has_a_route() {
    let sources = [
        include_str!("server.rs"),
        include_str!("modules.rs"),
        include_str!("payments.rs"),
        include_str!("dex.rs"),
        include_str!("identity.rs"),
        include_str!("subscriptions.rs"),
    ];
    let mut registered = std::collections::BTreeSet::new();
    for src in sources {
        for marker in [
            "register_method(",
            "register_async_method(",
            "register_subscription(",
        ] {
            for piece in src.split(marker).skip(1) {
                let name = piece
                    .trim_start()
                    .strip_prefix('"')
                    .and_then(|p| p.split('"').next());
                if let Some(name) = name {
                    registered.insert(name.to_string());
                }
            }
        }
    }
    assert!(registered.len() > 40, "found {registered:?}");
    for m in &registered {
        let routed = ROUTES.iter().any(|r| r.method == m);
        let unrouted = UNROUTED.iter().any(|(u, _)| u == m);
        assert!(routed || unrouted, "JSON-RPC method {m} has no REST route");
    }
    for r in ROUTES {
        assert!(
            registered.contains(r.method),
            "{} calls unknown {}",
            r.path,
            r.method
        );
    }
    let methods: std::collections::BTreeSet<_> = ROUTES.iter().map(|r| r.method).collect();
    assert_eq!(methods.len(), ROUTES.len(), "one route per method");
}

#[test]
fn openapi_document_lists_every_route() {
    let doc = openapi_document();
    let text = doc.to_string();
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    for (verb, path, method) in route_list() {
        let op = &doc["paths"][path][verb.to_ascii_lowercase()];
        assert_eq!(op["operationId"], method, "{verb} {path}");
        assert!(op["responses"]["200"]["content"]["application/json"]["schema"].is_object());
        for status in ["400", "401", "403", "404", "429", "500", "503"] {
            assert!(
                op["responses"][status]["$ref"].is_string(),
                "{path} {status}"
            );
        }
        let params = op["parameters"].as_array().expect("parameters");
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')) {
            let name = name.trim_end_matches('}');
            let p = params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{path}: no parameter {name}"));
            assert_eq!(p["in"], "path");
            assert_eq!(p["required"], true);
        }
    }
    let send = &doc["paths"]["/v1/transactions"]["post"];
    assert_eq!(
        send["requestBody"]["content"]["application/json"]["schema"]["required"],
        json!(["tx"])
    );
    assert!(send["responses"]["422"].is_object());
    let r429 = &doc["components"]["responses"]["Error429"];
    assert_eq!(r429["headers"]["Retry-After"]["required"], true);
    assert_eq!(
        doc["components"]["securitySchemes"]["apiKey"]["name"],
        "x-api-key"
    );
    // Every reference resolves.
    for piece in text.split("\"$ref\":\"#/").skip(1) {
        let target = piece.split('"').next().unwrap_or_default();
        let pointer = format!("/{target}");
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {target}");
    }
    // Every example fits its own schema's check.
    for r in ROUTES {
        for arg in r.args {
            if let Arg::Path(p) | Arg::Query(p) = arg {
                if let Some(Value::String(e)) = example(p.kind) {
                    assert!(p.kind.parse(&e).is_ok(), "{} example {e}", p.name);
                }
            }
        }
    }
}

/// docs/API.md's REST table names every route and its method.
#[test]
fn the_api_docs_list_every_route() {
    let docs = include_str!("../../docs/API.md");
    for (verb, path, method) in route_list() {
        let row = docs
            .lines()
            .find(|l| {
                let cell = format!("| `{verb} {path}");
                l.strip_prefix(&cell)
                    .is_some_and(|rest| rest.starts_with(['`', '?']))
            })
            .unwrap_or_else(|| panic!("docs/API.md has no REST row for {verb} {path}"));
        assert!(
            row.contains(&format!("`{method}`")),
            "{row} should name {method}"
        );
    }
}
