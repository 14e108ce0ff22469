//! `mameynode identity …`: DIDs, the trusted issuers registry, claims and verifiable credentials
//! from the command line (INTERFACES §12).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use mameynode::keys;
use mameynode::modules::identity::did::{document_from_json, jwk, parse_did, parse_iso8601};
use mameynode::modules::identity::vc::{self, CredentialClaim};
use mameynode::modules::identity::{
    claim_id, did_id, did_string, ClaimType, DidDocument, IdentityCall, Service, StatusChange,
    Subject, VerificationMethod,
};
use mameynode::rpc::client::RpcClient;
use mameynode::types::{Address, Hash, Payload};
use serde_json::{json, Value};

use super::{print_json, send, send_quiet, RpcArg, TxOptions};

#[derive(Subcommand)]
pub(super) enum IdentityCommand {
    /// DIDs (did:mamey): create, update, rotate keys, deactivate, resolve.
    #[command(subcommand)]
    Did(DidCommand),
    /// The trusted issuers registry (the identity authority only).
    #[command(subcommand)]
    Issuer(IssuerCommand),
    /// Claims about addresses and DIDs (trusted issuers only).
    #[command(subcommand)]
    Claim(ClaimCommand),
    /// Verifiable credentials (VC Data Model 2.0, JOSE, EdDSA) of on-chain claims.
    #[command(subcommand)]
    Vc(VcCommand),
}

#[derive(Subcommand)]
pub(super) enum DidCommand {
    /// Create a DID controlled by the key's account; prints the DID. Without --document it has
    /// the key's public key as #key-1 for every relationship.
    Create {
        /// A W3C DID document (JSON): verificationMethod (Ed25519), relationships, service,
        /// controller (addresses).
        #[arg(long)]
        document: Option<PathBuf>,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Replace the document (a controller only): a new version.
    Update {
        #[arg(long)]
        did: String,
        #[arg(long)]
        document: PathBuf,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Replace the document's keys with the key in --new-key (as #key-N, every relationship).
    RotateKey {
        #[arg(long)]
        did: String,
        /// Key file holding the new key.
        #[arg(long)]
        new_key: PathBuf,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Deactivate for good (a controller only).
    Deactivate {
        #[arg(long)]
        did: String,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print the W3C resolution result.
    Resolve {
        did: String,
        /// A version number.
        #[arg(long)]
        version_id: Option<String>,
        /// The version in force at this RFC 3339 time.
        #[arg(long)]
        version_time: Option<String>,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

#[derive(Subcommand)]
pub(super) enum IssuerCommand {
    /// Trust --issuer for --types (comma-separated: kyc, cdd, accredited, affiliate,
    /// jurisdiction, exempted, business_registration).
    Add {
        #[arg(long)]
        issuer: Address,
        #[arg(long, value_delimiter = ',', required = true)]
        types: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Trust --issuer for nothing any more (its claims stop counting).
    Remove {
        #[arg(long)]
        issuer: Address,
        #[command(flatten)]
        tx: TxOptions,
    },
    /// Print the registry as JSON.
    List(RpcArg),
    /// Print one entry as JSON.
    Show {
        issuer: Address,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

#[derive(Args)]
pub(super) struct ClaimRef {
    #[arg(long)]
    claim: Hash,
    #[command(flatten)]
    tx: TxOptions,
}

#[derive(Args)]
pub(super) struct IssueArgs {
    /// An address, or a did:mamey DID.
    #[arg(long)]
    subject: String,
    #[arg(long = "type")]
    claim_type: String,
    #[arg(long, default_value_t = 0)]
    level: u8,
    /// ISO 3166-1 alpha-2 code (jurisdiction claims).
    #[arg(long)]
    jurisdiction: Option<String>,
    /// Expiry, in ms since the epoch of block time.
    #[arg(long)]
    expires_ms: Option<u64>,
    /// SHA-256 (hex) of the off-chain evidence.
    #[arg(long)]
    evidence: Option<Hash>,
    #[command(flatten)]
    tx: TxOptions,
}

#[derive(Subcommand)]
pub(super) enum ClaimCommand {
    /// Attest a claim; prints the claim id.
    Issue(IssueArgs),
    /// Revoke for good (the claim's issuer).
    Revoke(ClaimRef),
    /// Suspend until reinstated.
    Suspend(ClaimRef),
    /// Lift a suspension.
    Reinstate(ClaimRef),
    /// Print a claim as JSON.
    Show {
        id: Hash,
        #[command(flatten)]
        rpc: RpcArg,
    },
    /// Print every claim about a subject as JSON.
    List {
        subject: String,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

// Parsed once per process: the size of a command does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(super) enum VcCommand {
    /// Issue a claim on chain and print its credential: a compact JWS (vc+jwt) signed by the
    /// key, whose credentialStatus points at the chain's status lists.
    Issue {
        /// The issuer's DID; a verification method of it with assertionMethod holds --key.
        #[arg(long)]
        did: String,
        /// Base URL the status lists are served at (default: --rpc).
        #[arg(long)]
        base_url: Option<String>,
        #[command(flatten)]
        claim: IssueArgs,
    },
    /// Verify a credential: signature (by the DID's key), issuer trusted for the type, validity
    /// dates, revocation and suspension on chain. Prints the checks; exits non-zero if any fails.
    Verify {
        /// File holding the token; `-` for stdin.
        #[arg(long)]
        vc: PathBuf,
        #[command(flatten)]
        rpc: RpcArg,
    },
}

fn ident(tx: TxOptions, call: IdentityCall) -> Result<()> {
    send(tx, Payload::Identity(call))
}

/// A claim type by name (`kyc`, `jurisdiction`, ...), or an error listing them.
pub(super) fn claim_type(s: &str) -> Result<ClaimType> {
    ClaimType::from_name(s).with_context(|| {
        let names: Vec<&str> = ClaimType::ALL.iter().map(|t| t.name()).collect();
        format!("unknown claim type {s:?}; types: {}", names.join(", "))
    })
}

fn subject(s: &str) -> Result<Subject> {
    if s.starts_with("did:") {
        return parse_did(s)
            .map(Subject::Did)
            .map_err(|e| anyhow::anyhow!(e.message().to_string()));
    }
    Ok(Subject::Address(
        s.parse()
            .context("--subject is an address or a did:mamey DID")?,
    ))
}

fn did(s: &str) -> Result<[u8; 16]> {
    parse_did(s).map_err(|e| anyhow::anyhow!("--did: {}", e.message()))
}

fn read_document(path: &Path, key: &Path) -> Result<DidDocument> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let me = keys::address_of(&keys::read(key)?);
    document_from_json(&v, &me).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn resolve(rpc: &RpcClient, d: &str) -> Result<Value> {
    let r: Value = rpc.call("identity_resolve", json!([d]))?;
    if let Some(e) = r["didResolutionMetadata"]["error"].as_str() {
        bail!(
            "{d}: {e}: {}",
            r["didResolutionMetadata"]["errorMessage"]
                .as_str()
                .unwrap_or("")
        );
    }
    Ok(r)
}

fn issue_call(a: &IssueArgs) -> Result<IdentityCall> {
    let jurisdiction = match &a.jurisdiction {
        None => None,
        Some(j) => Some(
            <[u8; 2]>::try_from(j.as_bytes())
                .map_err(|_| anyhow::anyhow!("--jurisdiction is two letters, e.g. DE"))?,
        ),
    };
    Ok(IdentityCall::IssueClaim {
        subject: subject(&a.subject)?,
        claim_type: claim_type(&a.claim_type)?,
        level: a.level,
        jurisdiction,
        expires_ms: a.expires_ms,
        evidence: a.evidence,
    })
}

pub(super) fn command(c: IdentityCommand) -> Result<()> {
    match c {
        IdentityCommand::Did(d) => did_command(d),
        IdentityCommand::Issuer(IssuerCommand::Add {
            issuer,
            types,
            name,
            tx,
        }) => {
            let types = types
                .iter()
                .map(|t| claim_type(t.trim()))
                .collect::<Result<Vec<_>>>()?;
            ident(
                tx,
                IdentityCall::SetIssuer {
                    issuer,
                    types,
                    name,
                },
            )
        }
        IdentityCommand::Issuer(IssuerCommand::Remove { issuer, tx }) => ident(
            tx,
            IdentityCall::SetIssuer {
                issuer,
                types: Vec::new(),
                name: String::new(),
            },
        ),
        IdentityCommand::Issuer(IssuerCommand::List(rpc)) => {
            print_json(&RpcClient::new(&rpc.rpc).call::<Value>("identity_listIssuers", json!([]))?)
        }
        IdentityCommand::Issuer(IssuerCommand::Show { issuer, rpc }) => print_json(
            &RpcClient::new(&rpc.rpc)
                .call::<Value>("identity_getIssuer", json!([issuer.to_string()]))?,
        ),
        IdentityCommand::Claim(ClaimCommand::Issue(a)) => {
            let call = issue_call(&a)?;
            let sent = send_quiet(a.tx, Payload::Identity(call))?;
            println!("{}", claim_id(&sent.sender, sent.nonce));
            Ok(())
        }
        IdentityCommand::Claim(ClaimCommand::Revoke(r)) => status(r, StatusChange::Revoke),
        IdentityCommand::Claim(ClaimCommand::Suspend(r)) => status(r, StatusChange::Suspend),
        IdentityCommand::Claim(ClaimCommand::Reinstate(r)) => status(r, StatusChange::Reinstate),
        IdentityCommand::Claim(ClaimCommand::Show { id, rpc }) => print_json(
            &RpcClient::new(&rpc.rpc)
                .call::<Value>("identity_getClaim", json!([id.to_string()]))?,
        ),
        IdentityCommand::Claim(ClaimCommand::List { subject, rpc }) => print_json(
            &RpcClient::new(&rpc.rpc).call::<Value>("identity_getClaims", json!([subject]))?,
        ),
        IdentityCommand::Vc(VcCommand::Issue {
            did,
            base_url,
            claim,
        }) => vc_issue(&did, base_url, claim),
        IdentityCommand::Vc(VcCommand::Verify { vc, rpc }) => {
            vc_verify(&vc, &RpcClient::new(&rpc.rpc))
        }
    }
}

fn status(r: ClaimRef, change: StatusChange) -> Result<()> {
    ident(
        r.tx,
        IdentityCall::SetClaimStatus {
            claim: r.claim,
            change,
        },
    )
}

fn did_command(c: DidCommand) -> Result<()> {
    match c {
        DidCommand::Create { document, tx } => {
            let doc = match &document {
                Some(path) => read_document(path, &tx.key)?,
                None => DidDocument::of_key(&keys::address_of(&keys::read(&tx.key)?)),
            };
            let sent = send_quiet(
                tx,
                Payload::Identity(IdentityCall::CreateDid { document: doc }),
            )?;
            println!("{}", did_string(&did_id(&sent.sender, sent.nonce)));
            Ok(())
        }
        DidCommand::Update {
            did: d,
            document,
            tx,
        } => {
            let doc = read_document(&document, &tx.key)?;
            ident(
                tx,
                IdentityCall::UpdateDid {
                    did: did(&d)?,
                    document: doc,
                },
            )
        }
        DidCommand::RotateKey {
            did: d,
            new_key,
            tx,
        } => {
            let id = did(&d)?;
            let r = resolve(&RpcClient::new(&tx.rpc.rpc), &d)?;
            let version: u32 = r["didDocumentMetadata"]["versionId"]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let controllers = r["didDocument"]["mamey:controllers"]
                .as_array()
                .context("the resolved document lists no controllers")?
                .iter()
                .map(|c| {
                    c.as_str()
                        .unwrap_or("")
                        .parse::<Address>()
                        .map_err(anyhow::Error::from)
                })
                .collect::<Result<Vec<_>>>()?;
            // Services stay as they are.
            let services = r["didDocument"]["service"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| Service {
                            fragment: s["id"]
                                .as_str()
                                .and_then(|i| i.rsplit_once('#'))
                                .map(|(_, f)| f.to_string())
                                .unwrap_or_default(),
                            kind: s["type"].as_str().unwrap_or_default().to_string(),
                            endpoint: s["serviceEndpoint"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let new = keys::address_of(&keys::read(&new_key)?);
            let document = DidDocument {
                controllers,
                methods: vec![VerificationMethod {
                    fragment: format!("key-{}", version + 1),
                    public_key: new.0,
                    relationships: 0x0f,
                }],
                services,
            };
            ident(tx, IdentityCall::UpdateDid { did: id, document })
        }
        DidCommand::Deactivate { did: d, tx } => {
            ident(tx, IdentityCall::DeactivateDid { did: did(&d)? })
        }
        DidCommand::Resolve {
            did: d,
            version_id,
            version_time,
            rpc,
        } => {
            let r: Value = RpcClient::new(&rpc.rpc).call(
                "identity_resolve",
                json!([d, {"versionId": version_id, "versionTime": version_time}]),
            )?;
            print_json(&r)?;
            if let Some(e) = r["didResolutionMetadata"]["error"].as_str() {
                bail!("{d}: {e}");
            }
            Ok(())
        }
    }
}

/// The fragment of the DID's method that holds `key` with assertionMethod.
fn assertion_kid(resolution: &Value, key: &[u8; 32]) -> Result<String> {
    let doc = &resolution["didDocument"];
    let want = jwk(key);
    let methods = doc["verificationMethod"]
        .as_array()
        .context("the DID document has no verification methods")?;
    let assertion: Vec<&str> = doc["assertionMethod"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    methods
        .iter()
        .find(|m| m["publicKeyJwk"] == want && m["id"].as_str().is_some_and(|id| assertion.contains(&id)))
        .and_then(|m| m["id"].as_str().map(str::to_string))
        .context("no verification method of the DID holds this key with assertionMethod: update the DID first")
}

fn vc_issue(issuer_did: &str, base_url: Option<String>, mut a: IssueArgs) -> Result<()> {
    did(issuer_did)?;
    let key = keys::read(&a.tx.key)?;
    let rpc = RpcClient::new(&a.tx.rpc.rpc);
    let kid = assertion_kid(&resolve(&rpc, issuer_did)?, &key.verifying_key().to_bytes())?;
    let call = issue_call(&a)?;
    a.tx.wait = true;
    let base_url = base_url.unwrap_or_else(|| a.tx.rpc.rpc.clone());
    let sent = send_quiet(a.tx, Payload::Identity(call))?;
    let id = claim_id(&sent.sender, sent.nonce);
    let c: Value = rpc.call("identity_getClaim", json!([id.to_string()]))?;
    let subject = match c["subject"].as_str().unwrap_or("") {
        s if s.starts_with("did:") => s.to_string(),
        s => format!("mamey:{s}"),
    };
    let claim = CredentialClaim {
        claim: id,
        issuer_did: issuer_did.to_string(),
        issuer: sent.sender,
        subject,
        claim_type: c["type"].as_str().unwrap_or("").to_string(),
        level: c["level"].as_u64().unwrap_or(0) as u8,
        jurisdiction: c["jurisdiction"].as_str().map(str::to_string),
        valid_from_ms: c["issued_ms"].as_u64().unwrap_or(0),
        valid_until_ms: c["expires_ms"].as_u64(),
        evidence: c["evidence"].as_str().map(str::to_string),
        status_list: c["status_list"].as_u64().unwrap_or(0) as u32,
        status_list_index: c["status_list_index"].as_u64().unwrap_or(0),
    };
    let credential = vc::credential(&claim, &base_url);
    println!("{}", vc::sign(&credential, &key, &kid));
    Ok(())
}

/// One check of a credential.
fn check(checks: &mut serde_json::Map<String, Value>, name: &str, r: Result<(), String>) -> bool {
    let ok = r.is_ok();
    checks.insert(
        name.into(),
        match r {
            Ok(()) => json!({"ok": true}),
            Err(e) => json!({"ok": false, "error": e}),
        },
    );
    ok
}

fn vc_verify(path: &Path, rpc: &RpcClient) -> Result<()> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let token = vc::parse(&text).map_err(|e| anyhow::anyhow!("not a credential: {e}"))?;
    let cred = token.credential.clone();
    let mut checks = serde_json::Map::new();
    // Signature: by the key of the DID's verification method named in kid.
    let kid = token.kid().unwrap_or("").to_string();
    let did_part = kid.split('#').next().unwrap_or("");
    let signer: Result<[u8; 32], String> = (|| {
        if cred["issuer"].as_str() != Some(did_part) {
            return Err(format!(
                "kid {kid:?} is not a method of the issuer {}",
                cred["issuer"]
            ));
        }
        let r: Value = rpc
            .call("identity_resolve", json!([did_part]))
            .map_err(|e| e.to_string())?;
        let m = r["didDocument"]["verificationMethod"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["id"] == kid.as_str()))
            .ok_or(format!("{kid} is not in the issuer's DID document"))?;
        let x = m["publicKeyJwk"]["x"]
            .as_str()
            .ok_or("the method has no JWK")?;
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or("the method's key is not an Ed25519 key".into())
    })();
    let signed = signer.clone().and_then(|k| {
        if token.signed_by(&k) {
            Ok(())
        } else {
            Err("the signature does not verify: forged or tampered".into())
        }
    });
    let mut ok = check(&mut checks, "signature", signed);
    // The signer is trusted for the credential's claim type.
    let claim_type = cred["credentialSubject"]["claimType"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let trusted = signer.and_then(|k| {
        let e: Value = rpc
            .call("identity_getIssuer", json!([Address(k).to_string()]))
            .map_err(|e| e.to_string())?;
        let types: Vec<&str> = e["types"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if types.contains(&claim_type.as_str()) {
            Ok(())
        } else {
            Err(format!("the issuer is not trusted for {claim_type} claims"))
        }
    });
    ok &= check(&mut checks, "issuer_trusted", trusted);
    // Validity dates against this machine's clock.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let from = cred["validFrom"].as_str().and_then(parse_iso8601);
    ok &= check(
        &mut checks,
        "valid_from",
        match from {
            Some(f) if f <= now => Ok(()),
            Some(_) => Err("not valid yet".into()),
            None => Err("validFrom is missing".into()),
        },
    );
    let until = cred["validUntil"].as_str().map(parse_iso8601);
    ok &= check(
        &mut checks,
        "valid_until",
        match until {
            None => Ok(()),
            Some(Some(u)) if now < u => Ok(()),
            Some(Some(_)) => Err("expired".into()),
            Some(None) => Err("validUntil is not a time".into()),
        },
    );
    // Status: each entry's bit in the list the ledger keeps.
    for entry in cred["credentialStatus"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let purpose = entry["statusPurpose"].as_str().unwrap_or("").to_string();
        let r = (|| {
            let url = entry["statusListCredential"]
                .as_str()
                .ok_or("no statusListCredential")?;
            let path = url
                .split("/1.0/status/")
                .nth(1)
                .ok_or("not a status list of this chain")?;
            let parts: Vec<&str> = path.split('/').collect();
            let [issuer, p, list] = parts[..] else {
                return Err("malformed status list URL".to_string());
            };
            let list: u64 = list.parse().map_err(|_| "malformed list number")?;
            let l: Value = rpc
                .call("identity_getStatusList", json!([issuer, p, list]))
                .map_err(|e| e.to_string())?;
            let bits = vc::decode_status_list(
                l["credentialSubject"]["encodedList"].as_str().unwrap_or(""),
            )?;
            let index: u64 = entry["statusListIndex"]
                .as_str()
                .and_then(|i| i.parse().ok())
                .ok_or("statusListIndex is not a number")?;
            match vc::status_bit(&bits, index) {
                Some(false) => Ok(()),
                Some(true) => Err(format!(
                    "{purpose} bit set: the credential is {}",
                    if purpose == "revocation" {
                        "revoked"
                    } else {
                        "suspended"
                    }
                )),
                None => Err("statusListIndex is outside the list".into()),
            }
        })();
        ok &= check(&mut checks, &purpose, r);
    }
    print_json(
        &json!({"verified": ok, "id": cred["id"], "issuer": cred["issuer"], "checks": checks}),
    )?;
    if !ok {
        bail!("the credential does not verify");
    }
    Ok(())
}
