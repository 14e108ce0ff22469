"""An independent check of DID resolution and verifiable credentials, with libraries nobody on
this project wrote: `requests` for HTTP, PyJWT (with `cryptography`) for the EdDSA JWS, and the
standard library's gzip for the Bitstring Status List.

Usage: vc_client.py --url http://HOST:PORT --vc FILE
Prints one JSON object: the resolution checks, whether the signature verified with the key the
issuer's DID document publishes, and the credential's revocation and suspension bits.
"""

import argparse
import base64
import gzip
import json

import jwt
import requests

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--vc", required=True)
args = parser.parse_args()

token = open(args.vc).read().strip()
header = jwt.get_unverified_header(token)
assert header["alg"] == "EdDSA" and header["typ"] == "vc+jwt", header
did = header["kid"].split("#")[0]

# DID Resolution over HTTP, as a Universal Resolver driver serves it.
res = requests.get(f"{args.url}/1.0/identifiers/{did}", timeout=10)
result = res.json()
shape = sorted(k for k in result if not k.startswith("@"))
doc = result["didDocument"]
method = next(m for m in doc["verificationMethod"] if m["id"] == header["kid"])
assert header["kid"] in doc["assertionMethod"], "the signing key is an assertion method"
missing = requests.get(f"{args.url}/1.0/identifiers/did:mamey:{'0' * 32}", timeout=10)
invalid = requests.get(f"{args.url}/1.0/identifiers/did:mamey:zz", timeout=10)

# The signature, with the JWK of the DID document.
key = jwt.PyJWK(method["publicKeyJwk"], algorithm="EdDSA").key
credential = jwt.decode(token, key, algorithms=["EdDSA"])
try:
    forged = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(forged[1] + "=" * (-len(forged[1]) % 4)))
    body["credentialSubject"]["level"] = 99
    forged[1] = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    jwt.decode(".".join(forged), key, algorithms=["EdDSA"])
    tampered_rejected = False
except jwt.InvalidSignatureError:
    tampered_rejected = True

# Bitstring Status List: each entry's bit in the list the node serves.
status = {}
for entry in credential["credentialStatus"]:
    lst = requests.get(entry["statusListCredential"], timeout=10).json()
    encoded = lst["credentialSubject"]["encodedList"]
    assert encoded[0] == "u", "multibase base64url"
    bits = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(bits) * 8 >= 131072, "herd privacy: at least 131,072 entries"
    i = int(entry["statusListIndex"])
    status[entry["statusPurpose"]] = bool(bits[i // 8] & (0x80 >> (i % 8)))

print(json.dumps({
    "resolution_status": res.status_code,
    "resolution_keys": shape,
    "content_type": res.headers.get("content-type", ""),
    "not_found": [missing.status_code, missing.json()["didResolutionMetadata"].get("error")],
    "invalid": [invalid.status_code, invalid.json()["didResolutionMetadata"].get("error")],
    "signature_verified": True,
    "tampered_rejected": tampered_rejected,
    "issuer": credential["issuer"],
    "subject_level": credential["credentialSubject"]["level"],
    "status": status,
}))
