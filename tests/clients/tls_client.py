"""TLS clients nobody on this project wrote, against a node serving its APIs over TLS
(tests/tls.rs): Python `requests` and `ssl`, grpcio and `websockets`, all trusting the node's
certificate (--ca). Prints one JSON object with what each client saw; exits non-zero with a
message on the first unexpected outcome.

    python3 tls_client.py --rpc 127.0.0.1:P --grpc 127.0.0.1:G --metrics 127.0.0.1:M --ca cert.pem
"""

import argparse
import warnings
import asyncio
import json
import socket
import ssl
import sys

import grpc
import requests
import websockets

warnings.filterwarnings("ignore", category=DeprecationWarning)


def fail(message):
    print(message, file=sys.stderr)
    raise SystemExit(1)


def handshake(host, port, ca, minimum, maximum):
    """Whether a TLS handshake limited to [minimum, maximum] succeeds; the error otherwise."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    # Let OpenSSL offer old versions at all (its default security level forbids them), so the
    # refusal we see is the server's.
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.minimum_version = minimum
    ctx.maximum_version = maximum
    try:
        with socket.create_connection((host, port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                return tls.version()
    except (ssl.SSLError, OSError) as e:
        return f"refused: {e}"


def plaintext_to_tls_port(host, port):
    """What a plaintext HTTP request to the TLS port gets back (nothing usable, we expect)."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"mamey_status","params":[]}'
    request = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    try:
        with socket.create_connection((host, port), timeout=5) as s:
            s.sendall(request)
            data = s.recv(4096)
            return data.decode("latin-1")
    except OSError as e:
        return f"error: {e}"


async def wss_new_head(url, ca):
    ctx = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=ctx) as ws:
        await ws.send(json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "mamey_subscribe", "params": ["newHeads"]}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if "result" not in reply:
            fail(f"wss subscribe failed: {reply}")
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return msg["params"]["result"]["height"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rpc", required=True)
    p.add_argument("--grpc", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--ca", required=True)
    a = p.parse_args()
    host, rpc_port = a.rpc.rsplit(":", 1)
    out = {}

    r = requests.post(f"https://{a.rpc}/",
                      json={"jsonrpc": "2.0", "id": 1, "method": "mamey_status", "params": []},
                      verify=a.ca, timeout=10)
    out["requests_status"] = r.json()["result"]
    out["rest_status"] = requests.get(f"https://{a.rpc}/v1/status", verify=a.ca,
                                      timeout=10).status_code
    try:
        requests.post(f"https://{a.rpc}/", json={}, timeout=10)  # public roots only
        fail("a client that does not trust the node's certificate connected")
    except requests.exceptions.SSLError:
        out["untrusted_refused"] = True

    out["tls13"] = handshake(host, int(rpc_port), a.ca, ssl.TLSVersion.TLSv1_3,
                             ssl.TLSVersion.TLSv1_3)
    out["tls12"] = handshake(host, int(rpc_port), a.ca, ssl.TLSVersion.TLSv1_2,
                             ssl.TLSVersion.TLSv1_2)
    out["tls10_11"] = handshake(host, int(rpc_port), a.ca, ssl.TLSVersion.TLSv1,
                                ssl.TLSVersion.TLSv1_1)
    out["plaintext"] = plaintext_to_tls_port(host, int(rpc_port))

    with open(a.ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    with grpc.secure_channel(a.grpc, creds) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=None, response_deserializer=None)
        # An empty HealthCheckRequest asks about the whole server; `08 01` is SERVING.
        out["grpc_health"] = check(b"", timeout=10).hex()
        status = channel.unary_unary("/mamey.v1.NodeService/GetStatus",
                                     request_serializer=None, response_deserializer=None)
        out["grpc_status_bytes"] = len(status(b"", timeout=10))

    m = requests.get(f"https://{a.metrics}/metrics", verify=a.ca, timeout=10)
    out["metrics_status"] = m.status_code
    out["metrics_has_stage_counter"] = "mamey_" in m.text

    out["wss_height"] = asyncio.run(wss_new_head(f"wss://{a.rpc}/", a.ca))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
