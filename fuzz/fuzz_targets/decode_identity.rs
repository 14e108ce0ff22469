//! Identity and compliance input from outside: the first byte picks the decoder, the rest is the
//! input. Binary decoders (DID documents, claims, live claims, rules) must never panic and must be
//! canonical when they decode; the text parsers (a W3C DID document as JSON, a DID, a credential
//! token, a status list) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mameynode::codec::{decode_exact, Decode, Encode, Reader};
use mameynode::modules::compliance::state::{Blocked, RulesEntry};
use mameynode::modules::identity::calls::{encode_document, read_document};
use mameynode::modules::identity::did::{document_from_json, parse_did, parse_iso8601};
use mameynode::modules::identity::state::{Claim, DidVersion, SubjectClaims, TrustedIssuer};
use mameynode::modules::identity::vc;
use mameynode::types::Address;

const LEN_MAX: usize = 16 * 1024;

fn check<T: Decode + Encode>(data: &[u8]) {
    if let Ok(value) = decode_exact::<T>(data, LEN_MAX) {
        assert_eq!(value.to_bytes(), data, "{} re-encoding differs", T::WHAT);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 10 {
        0 => {
            let mut r = Reader::new(rest);
            if let Ok(doc) = read_document(&mut r) {
                let used = rest.len() - r.remaining();
                let mut out = Vec::new();
                encode_document(&doc, &mut out);
                assert_eq!(out, &rest[..used], "document re-encoding differs");
                let _ = doc.validate();
            }
        }
        1 => check::<Claim>(rest),
        2 => check::<SubjectClaims>(rest),
        3 => check::<RulesEntry>(rest),
        4 => check::<DidVersion>(rest),
        5 => {
            check::<TrustedIssuer>(rest);
            check::<Blocked>(rest);
        }
        6 => {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(rest) {
                if let Ok(doc) = document_from_json(&v, &Address([7; 32])) {
                    assert!(doc.validate().is_ok(), "a parsed document is valid");
                }
            }
        }
        7 => {
            if let Ok(s) = std::str::from_utf8(rest) {
                let _ = parse_did(s);
                let _ = parse_iso8601(s);
                let _ = vc::decode_status_list(s);
            }
        }
        _ => {
            if let Ok(s) = std::str::from_utf8(rest) {
                if let Ok(t) = vc::parse(s) {
                    let _ = t.signed_by(&[9; 32]);
                }
            }
        }
    }
});
