//! A REST request's outside input: verb, path, query string and JSON body, as the REST layer
//! decodes them into a JSON-RPC call (route matching, percent-decoding, typed parameters), and
//! the credential headers access control reads. Never panic; a request that decodes names a
//! method of the route table and params that are a JSON array's worth of values.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // VERB \n PATH \n QUERY \n BODY (the last parts optional).
    let mut parts = s.splitn(4, '\n');
    let verb = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("");
    let query = parts.next();
    let body = parts.next().and_then(|b| serde_json::from_str(b).ok());
    if let Ok(Some((method, params))) =
        mameynode::rpc::rest_request_params(verb, path, query, body.as_ref())
    {
        assert!(
            mameynode::rpc::rest_route_list()
                .iter()
                .any(|(_, _, m)| *m == method),
            "{method} is not in the route table"
        );
        assert!(serde_json::to_string(&params).is_ok());
    }
    // The same text as header values.
    let mut headers = http::HeaderMap::new();
    for (name, value) in [("x-api-key", verb), ("authorization", path)] {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    let _ = mameynode::access::credentials(&headers);
});
