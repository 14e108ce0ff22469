//! The W3C forms of identity state: `did:mamey` DIDs, DID documents and resolution results
//! (DID Core 1.0, DID Resolution), documents written as JSON by users, and Bitstring Status List
//! credentials. Pure functions of typed values: the front ends serve what these return.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::calls::{DidDocument, DidId, Service, VerificationMethod, RELATIONSHIPS};
use super::did_string;
use super::query::Resolved;
use super::state::Purpose;
use crate::types::Address;

/// Why a DID string does not name a `did:mamey` DID (DID Resolution error names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DidParseError {
    /// Not a DID at all, or a `did:mamey` with a malformed id.
    InvalidDid(String),
    /// A DID of another method.
    MethodNotSupported(String),
}

impl DidParseError {
    /// The DID Resolution error name.
    pub fn name(&self) -> &'static str {
        match self {
            DidParseError::InvalidDid(_) => "invalidDid",
            DidParseError::MethodNotSupported(_) => "methodNotSupported",
        }
    }
    pub fn message(&self) -> &str {
        match self {
            DidParseError::InvalidDid(m) | DidParseError::MethodNotSupported(m) => m,
        }
    }
}

/// Parses `did:mamey:<32 lowercase hex digits>`.
pub fn parse_did(s: &str) -> Result<DidId, DidParseError> {
    let mut parts = s.splitn(3, ':');
    let (Some("did"), Some(method), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(DidParseError::InvalidDid(format!(
            "{s:?} is not a DID (expected did:mamey:<32 hex digits>)"
        )));
    };
    if method != "mamey" {
        return Err(DidParseError::MethodNotSupported(format!(
            "DID method {method:?} is not supported: this node resolves did:mamey"
        )));
    }
    let valid = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let bytes = hex::decode(id).ok().filter(|_| valid);
    match bytes.and_then(|b| <DidId>::try_from(b.as_slice()).ok()) {
        Some(d) => Ok(d),
        None => Err(DidParseError::InvalidDid(format!(
            "{s:?}: a did:mamey id is 32 lowercase hex digits"
        ))),
    }
}

/// RFC 3339 / XML Schema dateTime of a time in ms since the epoch, in UTC to the second
/// (the form DID Resolution metadata uses).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Milliseconds since the epoch of an RFC 3339 time in UTC (`2026-01-02T03:04:05Z`, optional
/// fraction), the inverse of [`iso8601`].
pub fn parse_iso8601(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || !s.ends_with('Z')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    let ms = match frac.strip_prefix('.') {
        None if frac.is_empty() => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit()) => {
            format!("{f:0<3}")[..3].parse::<i64>().ok()?
        }
        _ => return None,
    };
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let t = ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms;
    u64::try_from(t).ok()
}

/// An Ed25519 public key as a JWK (RFC 8037).
pub fn jwk(key: &[u8; 32]) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(key)})
}

/// The W3C DID document of a version.
pub fn document_json(did: &DidId, doc: &DidDocument) -> Value {
    let id = did_string(did);
    let methods: Vec<Value> = doc
        .methods
        .iter()
        .map(|m| {
            json!({
                "id": format!("{id}#{}", m.fragment),
                "type": "JsonWebKey2020",
                "controller": id,
                "publicKeyJwk": jwk(&m.public_key),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert(
        "@context".into(),
        json!([
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/suites/jws-2020/v1"
        ]),
    );
    out.insert("id".into(), json!(id));
    // Controllers are ledger addresses; their transactions change the document.
    // Controllers are ledger addresses (listed under `mamey:controllers`): their transactions
    // change the document, so the DID is its own controller in W3C terms.
    out.insert("controller".into(), json!(id));
    out.insert("verificationMethod".into(), json!(methods));
    for (name, flag) in RELATIONSHIPS {
        let refs: Vec<String> = doc
            .methods
            .iter()
            .filter(|m| m.relationships & flag != 0)
            .map(|m| format!("{id}#{}", m.fragment))
            .collect();
        if !refs.is_empty() {
            out.insert(name.into(), json!(refs));
        }
    }
    if !doc.services.is_empty() {
        let services: Vec<Value> = doc
            .services
            .iter()
            .map(|s| json!({"id": format!("{id}#{}", s.fragment), "type": s.kind, "serviceEndpoint": s.endpoint}))
            .collect();
        out.insert("service".into(), json!(services));
    }
    out.insert(
        "mamey:controllers".into(),
        json!(doc
            .controllers
            .iter()
            .map(Address::to_string)
            .collect::<Vec<_>>()),
    );
    Value::Object(out)
}

/// The DID Resolution result of a resolved DID.
pub fn resolution_json(r: &Resolved) -> Value {
    let mut meta = json!({
        "created": iso8601(r.record.created_ms),
        "deactivated": r.version.deactivated,
        "versionId": r.version_id.to_string(),
    });
    if r.version_id > 1 {
        meta["updated"] = json!(iso8601(r.version.time_ms));
    }
    if let Some((next, time)) = r.next {
        meta["nextVersionId"] = json!(next.to_string());
        meta["nextUpdate"] = json!(iso8601(time));
    }
    json!({
        "@context": "https://w3id.org/did-resolution/v1",
        "didDocument": document_json(&r.did, &r.version.document),
        "didResolutionMetadata": {"contentType": "application/did+ld+json"},
        "didDocumentMetadata": meta,
    })
}

/// The DID Resolution result of a failed resolution (`invalidDid`, `notFound`, ...).
pub fn resolution_error_json(error: &str, message: &str) -> Value {
    json!({
        "@context": "https://w3id.org/did-resolution/v1",
        "didDocument": null,
        "didResolutionMetadata": {"error": error, "errorMessage": message},
        "didDocumentMetadata": {},
    })
}

fn key_of_method(m: &Map<String, Value>, id: &str) -> Result<[u8; 32], String> {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let bytes = match (m.get("publicKeyJwk"), m.get("publicKeyMultibase")) {
        (Some(jwk), _) => {
            let (kty, crv) = (
                jwk.get("kty").and_then(Value::as_str),
                jwk.get("crv").and_then(Value::as_str),
            );
            if kty != Some("OKP") || crv != Some("Ed25519") {
                return Err(format!(
                    "{id}: unknown key type (kty {kty:?}, crv {crv:?}): only Ed25519 keys (OKP, Ed25519) are supported"
                ));
            }
            let x = jwk
                .get("x")
                .and_then(Value::as_str)
                .ok_or(format!("{id}: publicKeyJwk has no \"x\""))?;
            URL_SAFE_NO_PAD
                .decode(x)
                .map_err(|e| format!("{id}: publicKeyJwk.x is not base64url: {e}"))?
        }
        (None, Some(mb)) => {
            let mb = mb.as_str().unwrap_or("");
            let raw = mb
                .strip_prefix('z')
                .and_then(|s| bs58::decode(s).into_vec().ok())
                .ok_or(format!("{id}: publicKeyMultibase is not base58btc ('z…')"))?;
            match ty {
                "Multikey" => raw
                    .strip_prefix(&[0xed, 0x01][..])
                    .ok_or(format!("{id}: the Multikey is not an Ed25519 key (0xed01)"))?
                    .to_vec(),
                "Ed25519VerificationKey2020" => raw
                    .strip_prefix(&[0xed, 0x01][..])
                    .map(<[u8]>::to_vec)
                    .unwrap_or(raw),
                _ => {
                    return Err(format!(
                        "{id}: unknown key type {ty:?}: use JsonWebKey2020, Multikey or Ed25519VerificationKey2020 with an Ed25519 key"
                    ))
                }
            }
        }
        (None, None) => {
            return Err(format!(
            "{id}: unknown key type {ty:?}: give publicKeyJwk (OKP, Ed25519) or publicKeyMultibase"
        ))
        }
    };
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{id}: an Ed25519 key has 32 bytes, not {}", b.len()))
}

/// The fragment of `#frag` or `did:mamey:…#frag`.
fn fragment(id: &str) -> Result<String, String> {
    match id.rsplit_once('#') {
        Some((_, f)) => Ok(f.to_string()),
        None => Err(format!("id {id:?} must be a fragment like \"#key-1\"")),
    }
}

/// A document written as W3C JSON by a user (`--document FILE`): `verificationMethod`
/// (Ed25519 keys only), the relationships (`authentication`, `assertionMethod`, ...: references
/// to methods), `service`, and `controller` (ledger addresses; `default_controller` when absent).
pub fn document_from_json(v: &Value, default_controller: &Address) -> Result<DidDocument, String> {
    let obj = v.as_object().ok_or("a DID document is a JSON object")?;
    let controllers = match obj.get("controller") {
        None => vec![*default_controller],
        Some(Value::String(s)) => vec![s
            .parse::<Address>()
            .map_err(|e| format!("controller: {e}"))?],
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| {
                c.as_str()
                    .ok_or("controller entries are addresses".to_string())?
                    .parse::<Address>()
                    .map_err(|e| format!("controller: {e}"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("controller is an address or a list of addresses".into()),
    };
    let mut methods = Vec::new();
    for m in obj
        .get("verificationMethod")
        .and_then(Value::as_array)
        .ok_or("verificationMethod (a list) is missing")?
    {
        let m = m.as_object().ok_or("a verification method is an object")?;
        let id = m
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a verification method has no id")?;
        methods.push(VerificationMethod {
            fragment: fragment(id)?,
            public_key: key_of_method(m, id)?,
            relationships: 0,
        });
    }
    for (name, flag) in RELATIONSHIPS {
        let Some(refs) = obj.get(name) else { continue };
        for r in refs
            .as_array()
            .ok_or(format!("{name} is a list of method references"))?
        {
            let f = fragment(r.as_str().ok_or(format!(
                "{name}: references are strings (embedded methods are not supported)"
            ))?)?;
            let m = methods.iter_mut().find(|m| m.fragment == f).ok_or(format!(
                "{name} names #{f}, which is not a verification method"
            ))?;
            m.relationships |= flag;
        }
    }
    let mut services = Vec::new();
    if let Some(list) = obj.get("service") {
        for s in list.as_array().ok_or("service is a list")? {
            let id = s
                .get("id")
                .and_then(Value::as_str)
                .ok_or("a service has no id")?;
            services.push(Service {
                fragment: fragment(id)?,
                kind: s
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or(format!("service {id} has no type"))?
                    .to_string(),
                endpoint: s
                    .get("serviceEndpoint")
                    .and_then(Value::as_str)
                    .ok_or(format!("service {id}: serviceEndpoint must be a string"))?
                    .to_string(),
            });
        }
    }
    let doc = DidDocument {
        controllers,
        methods,
        services,
    };
    doc.validate()?;
    Ok(doc)
}

/// CRC-32 (IEEE) for the gzip trailer.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `data` as a gzip member (RFC 1952) of stored DEFLATE blocks: any gzip reader decodes it.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = chunks.peek().is_none();
        out.push(u8::from(last));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A Bitstring Status List credential (unsigned: the ledger is its integrity) for one list of
/// `issuer`, served at `url`.
pub fn status_list_credential(
    url: &str,
    issuer: &Address,
    purpose: Purpose,
    bits: &[u8],
    height: u64,
) -> Value {
    let encoded = format!("u{}", URL_SAFE_NO_PAD.encode(gzip_stored(bits)));
    json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": format!("mamey:{issuer}"),
        "credentialSubject": {
            "id": format!("{url}#list"),
            "type": "BitstringStatusList",
            "statusPurpose": purpose.name(),
            "encodedList": encoded,
        },
        "mamey:height": height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_round_trip() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_000_000_000), "2026-11-18T11:06:40Z");
        for ms in [0u64, 951_782_400_000, 1_795_000_000_000, 4_102_444_800_000] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        assert_eq!(
            parse_iso8601("2026-11-18T11:06:40.5Z"),
            Some(1_795_000_000_500)
        );
        assert_eq!(parse_iso8601("2026-13-18T08:26:40Z"), None);
    }

    #[test]
    fn dids_parse_with_resolution_errors() {
        let d = parse_did("did:mamey:00112233445566778899aabbccddeeff").unwrap();
        assert_eq!(did_string(&d), "did:mamey:00112233445566778899aabbccddeeff");
        assert_eq!(
            parse_did("did:web:example.com").unwrap_err().name(),
            "methodNotSupported"
        );
        for bad in [
            "did:mamey:xyz",
            "mamey:00",
            "did:mamey:00112233445566778899AABBCCDDEEFF",
            "",
        ] {
            assert_eq!(parse_did(bad).unwrap_err().name(), "invalidDid", "{bad}");
        }
    }

    #[test]
    fn gzip_has_the_right_checksum() {
        // CRC-32 of "123456789" is the standard check value.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let z = gzip_stored(&[0u8; 70_000]);
        assert_eq!(&z[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(z.len(), 10 + 2 * 5 + 70_000 + 8);
    }

    #[test]
    fn documents_from_json_refuse_unknown_keys() {
        let me = Address([7; 32]);
        let ok = json!({"verificationMethod": [{"id": "#k", "type": "JsonWebKey2020", "publicKeyJwk": jwk(&[9; 32])}],
                        "assertionMethod": ["#k"], "service": [{"id": "#s", "type": "LinkedDomains", "serviceEndpoint": "https://x.example"}]});
        let d = document_from_json(&ok, &me).unwrap();
        assert_eq!(d.controllers, vec![me]);
        assert_eq!(
            d.methods[0].relationships,
            super::super::calls::REL_ASSERTION
        );
        let p256 = json!({"verificationMethod": [{"id": "#k", "type": "JsonWebKey2020", "publicKeyJwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}]});
        assert!(document_from_json(&p256, &me)
            .unwrap_err()
            .contains("unknown key type"));
        let dangling = json!({"verificationMethod": [{"id": "#k", "type": "JsonWebKey2020", "publicKeyJwk": jwk(&[9; 32])}], "authentication": ["#nope"]});
        assert!(document_from_json(&dangling, &me).is_err());
        assert!(document_from_json(&json!([1]), &me).is_err());
    }
}
