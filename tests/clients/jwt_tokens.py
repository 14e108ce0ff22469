"""Mints OAuth/OIDC bearer tokens with PyJWT, an independent JWT library, for tests/access.rs:
writes the issuer's public JSON Web Key Set (RSA, P-256 and Ed25519 keys) to --jwks and prints
one JSON object mapping a case name to its token. Good tokens name a role; the bad ones are each
wrong in exactly one way.

    python3 jwt_tokens.py --jwks PATH --issuer ISS --audience AUD
"""

import argparse
import json
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jwks", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--audience", required=True)
    a = p.parse_args()

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(algorithm, public, kid, alg):
        k = json.loads(algorithm.to_jwk(public))
        k.update({"kid": kid, "alg": alg, "use": "sig"})
        return k

    jwks = {"keys": [
        jwk(RSAAlgorithm, rsa_key.public_key(), "rsa-1", "RS256"),
        jwk(ECAlgorithm, ec_key.public_key(), "ec-1", "ES256"),
        jwk(OKPAlgorithm, ed_key.public_key(), "ed-1", "EdDSA"),
    ]}
    with open(a.jwks, "w") as f:
        json.dump(jwks, f)

    now = int(time.time())

    def claims(**over):
        c = {"iss": a.issuer, "aud": a.audience, "sub": "alice", "iat": now,
             "nbf": now - 10, "exp": now + 3600, "role": "read"}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def sign(key, alg, kid, **over):
        return jwt.encode(claims(**over), key, algorithm=alg, headers={"kid": kid})

    tokens = {
        "rs256_read": sign(rsa_key, "RS256", "rsa-1", sub="reader", role="read"),
        "es256_submit": sign(ec_key, "ES256", "ec-1", sub="submitter", role="submit"),
        "eddsa_admin": sign(ed_key, "EdDSA", "ed-1", sub="operator", role=["read", "admin"]),
        "scope_submit": sign(rsa_key, "RS256", "rsa-1", sub="scoped", role="openid submit"),
        "expired": sign(rsa_key, "RS256", "rsa-1", exp=now - 3600, nbf=now - 7200, iat=now - 7200),
        "not_yet_valid": sign(ec_key, "ES256", "ec-1", nbf=now + 3600),
        "wrong_audience": sign(ed_key, "EdDSA", "ed-1", aud="someone-else"),
        "wrong_issuer": sign(rsa_key, "RS256", "rsa-1", iss="https://evil.example"),
        "bad_signature": sign(impostor, "RS256", "rsa-1"),
        "unknown_kid": sign(rsa_key, "RS256", "rsa-9"),
        "no_role": sign(rsa_key, "RS256", "rsa-1", role=None),
        "no_expiry": sign(ec_key, "ES256", "ec-1", exp=None),
        "alg_none": jwt.encode(claims(), None, algorithm="none", headers={"kid": "rsa-1"}),
        # The classic confusion: HMAC keyed with the RSA public key's text.
        "hs256_confusion": jwt.encode(
            claims(), jwks["keys"][0]["n"], algorithm="HS256", headers={"kid": "rsa-1"}),
    }
    print(json.dumps(tokens))


if __name__ == "__main__":
    main()
