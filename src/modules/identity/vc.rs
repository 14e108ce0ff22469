//! Verifiable credentials of claims (W3C VC Data Model 2.0), secured as JOSE (VC-JOSE-COSE):
//! a compact JWS with `alg: EdDSA` (Ed25519, RFC 8037), `typ: vc+jwt`, `cty: vc`, and `kid` the
//! issuer DID's verification method; the payload is the credential itself. Any JOSE library
//! verifies the signature with the JWK the DID document publishes; `credentialStatus` points at
//! the issuer's Bitstring Status Lists on the ledger (`/1.0/status/...`).
//!
//! Pure functions: building, signing, splitting and checking a token, and decoding a status list.
//! Fetching what a check needs (the DID document, the registry, the lists) is the caller's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Value};

use super::did::iso8601;
use super::state::Purpose;
use super::ClaimId;
use crate::types::Address;

/// What a credential says, from an on-chain claim.
#[derive(Debug, Clone)]
pub struct CredentialClaim {
    pub claim: ClaimId,
    /// `did:mamey:…` of the issuer (its document holds the signing key).
    pub issuer_did: String,
    pub issuer: Address,
    /// A DID, or an address as `mamey:<address>`.
    pub subject: String,
    pub claim_type: String,
    pub level: u8,
    pub jurisdiction: Option<String>,
    pub valid_from_ms: u64,
    pub valid_until_ms: Option<u64>,
    pub evidence: Option<String>,
    /// The index in the issuer's lists, and which list.
    pub status_list: u32,
    pub status_list_index: u64,
}

/// The status list credential URL of `issuer`'s list for `purpose` on the node at `base_url`.
pub fn status_list_url(base_url: &str, issuer: &Address, purpose: Purpose, list: u32) -> String {
    format!(
        "{}/1.0/status/{issuer}/{}/{list}",
        base_url.trim_end_matches('/'),
        purpose.name()
    )
}

/// The credential (VC Data Model 2.0) of a claim.
pub fn credential(c: &CredentialClaim, base_url: &str) -> Value {
    let entry = |purpose: Purpose| {
        let url = status_list_url(base_url, &c.issuer, purpose, c.status_list);
        json!({
            "id": format!("{url}#{}", c.status_list_index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose.name(),
            "statusListIndex": c.status_list_index.to_string(),
            "statusListCredential": url,
        })
    };
    let mut subject = json!({"id": c.subject, "claimType": c.claim_type, "level": c.level});
    if let Some(j) = &c.jurisdiction {
        subject["jurisdiction"] = json!(j);
    }
    let type_name = format!(
        "{}Credential",
        c.claim_type
            .split('_')
            .map(|w| {
                let mut cs = w.chars();
                cs.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                    .unwrap_or_default()
            })
            .collect::<String>()
    );
    let mut vc = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": format!("urn:mamey:claim:{}", c.claim.to_hex()),
        "type": ["VerifiableCredential", type_name],
        "issuer": c.issuer_did,
        "validFrom": iso8601(c.valid_from_ms),
        "credentialSubject": subject,
        "credentialStatus": [entry(Purpose::Revocation), entry(Purpose::Suspension)],
    });
    if let Some(u) = c.valid_until_ms {
        vc["validUntil"] = json!(iso8601(u));
    }
    if let Some(e) = &c.evidence {
        vc["evidence"] = json!([{"type": ["Evidence"], "digestSHA256": e}]);
    }
    vc
}

/// `credential` signed as a compact JWS (`vc+jwt`) by `key`, whose verification method is `kid`.
pub fn sign(credential: &Value, key: &SigningKey, kid: &str) -> String {
    let header = json!({"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(credential.to_string())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

/// A token split and decoded, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Token {
    pub header: Value,
    pub credential: Value,
    signing_input: String,
    signature: [u8; 64],
}

/// Splits and decodes a compact JWS.
pub fn parse(token: &str) -> Result<Token, String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [h, p, s] = parts[..] else {
        return Err("not a compact JWS (three base64url parts separated by dots)".into());
    };
    let json_of = |part: &str, what: &str| -> Result<Value, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|e| format!("{what} is not base64url: {e}"))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{what} is not JSON: {e}"))
    };
    let header = json_of(h, "the header")?;
    if header["alg"] != "EdDSA" {
        return Err(format!(
            "unsupported alg {}: credentials here are EdDSA (Ed25519)",
            header["alg"]
        ));
    }
    let credential = json_of(p, "the payload")?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| format!("the signature is not base64url: {e}"))?
        .try_into()
        .map_err(|_| "an Ed25519 signature has 64 bytes".to_string())?;
    Ok(Token {
        header,
        credential,
        signing_input: format!("{h}.{p}"),
        signature,
    })
}

impl Token {
    /// The `kid` of the header.
    pub fn kid(&self) -> Option<&str> {
        self.header["kid"].as_str()
    }

    /// Whether `key` signed exactly these header and payload bytes (RFC 8032, strict: no
    /// malleable or small-order forms).
    pub fn signed_by(&self, key: &[u8; 32]) -> bool {
        let Ok(vk) = VerifyingKey::from_bytes(key) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature);
        vk.verify_strict(self.signing_input.as_bytes(), &sig)
            .is_ok()
    }
}

/// Decodes a Bitstring Status List `encodedList` written by this node: multibase base64url
/// (`u…`) of a gzip member of stored DEFLATE blocks.
pub fn decode_status_list(encoded: &str) -> Result<Vec<u8>, String> {
    let z = URL_SAFE_NO_PAD
        .decode(
            encoded
                .strip_prefix('u')
                .ok_or("encodedList is multibase base64url ('u…')")?,
        )
        .map_err(|e| format!("encodedList is not base64url: {e}"))?;
    if z.len() < 18 || z[..3] != [0x1f, 0x8b, 8] || z[3] != 0 {
        return Err("encodedList is not a plain gzip member".into());
    }
    let mut out = Vec::new();
    let mut at = 10;
    loop {
        let header = *z.get(at).ok_or("truncated gzip")?;
        if header & 0b110 != 0 {
            return Err("only stored DEFLATE blocks are read here".into());
        }
        let len_bytes = z.get(at + 1..at + 5).ok_or("truncated gzip")?;
        let len = u16::from_le_bytes([len_bytes[0], len_bytes[1]]) as usize;
        out.extend_from_slice(z.get(at + 5..at + 5 + len).ok_or("truncated gzip")?);
        at += 5 + len;
        if header & 1 == 1 {
            break;
        }
    }
    Ok(out)
}

/// The bit at `index` of a status list (bit 0 the most significant bit of byte 0).
pub fn status_bit(list: &[u8], index: u64) -> Option<bool> {
    let byte = list.get(usize::try_from(index / 8).ok()?)?;
    Some(byte & (0x80 >> (index % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Hash;

    fn claim() -> CredentialClaim {
        CredentialClaim {
            claim: Hash([3; 32]),
            issuer_did: "did:mamey:00112233445566778899aabbccddeeff".into(),
            issuer: Address([1; 32]),
            subject: "mamey:x".into(),
            claim_type: "business_registration".into(),
            level: 2,
            jurisdiction: None,
            valid_from_ms: 0,
            valid_until_ms: Some(10_000),
            evidence: None,
            status_list: 0,
            status_list_index: 9,
        }
    }

    #[test]
    fn tokens_verify_and_tampering_does_not() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let vc = credential(&claim(), "http://127.0.0.1:8545/");
        assert_eq!(vc["type"][1], "BusinessRegistrationCredential");
        assert_eq!(vc["credentialStatus"][0]["statusListIndex"], "9");
        assert_eq!(vc["validUntil"], "1970-01-01T00:00:10Z");
        let token = sign(
            &vc,
            &key,
            "did:mamey:00112233445566778899aabbccddeeff#key-1",
        );
        let t = parse(&token).unwrap();
        assert!(t.signed_by(&key.verifying_key().to_bytes()));
        assert!(!t.signed_by(&[7; 32]));
        assert_eq!(t.credential, vc);
        // A payload changed after signing no longer verifies.
        let mut forged = vc.clone();
        forged["credentialSubject"]["level"] = json!(3);
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(forged.to_string()),
            parts[2]
        );
        assert!(!parse(&tampered)
            .unwrap()
            .signed_by(&key.verifying_key().to_bytes()));
        assert!(parse("a.b").is_err());
    }

    #[test]
    fn status_lists_round_trip() {
        let mut bits = vec![0u8; 16_384];
        bits[1] = 0b0010_0000;
        let v = super::super::did::status_list_credential(
            "u",
            &Address([1; 32]),
            Purpose::Revocation,
            &bits,
            1,
        );
        let decoded =
            decode_status_list(v["credentialSubject"]["encodedList"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, bits);
        assert_eq!(status_bit(&decoded, 10), Some(true));
        assert_eq!(status_bit(&decoded, 9), Some(false));
    }
}
