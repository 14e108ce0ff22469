#!/usr/bin/env python3
"""An independent WebSocket client of MameyNode, with the Python `websockets` package.

    python3 tests/clients/ws_client.py --url ws://127.0.0.1:8545 --heads 3

Subscribes to newHeads and prints one JSON object on stdout:

    {"subscription": "<id>", "heads": [{"height", "hash", "parent_hash"}, ...]}
"""

import argparse
import asyncio
import json
import sys

import websockets


async def run(url, count, timeout):
    async with websockets.connect(url, open_timeout=timeout) as ws:
        await ws.send(json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "mamey_subscribe", "params": ["newHeads"]}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if reply.get("id") != 1 or "result" not in reply:
            raise SystemExit(f"mamey_subscribe failed: {reply}")
        sub = reply["result"]
        heads = []
        while len(heads) < count:
            msg = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if msg.get("method") != "mamey_subscription":
                raise SystemExit(f"unexpected message: {msg}")
            params = msg["params"]
            if params.get("subscription") != sub:
                raise SystemExit(f"notification for another subscription: {msg}")
            if "error" in params:
                raise SystemExit(f"error notification: {msg}")
            r = params["result"]
            heads.append({"height": r["height"], "hash": r["hash"], "parent_hash": r["parent_hash"]})
        await ws.send(json.dumps(
            {"jsonrpc": "2.0", "id": 2, "method": "mamey_unsubscribe", "params": [sub]}))
        return {"subscription": sub, "heads": heads}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--heads", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=20.0)
    args = ap.parse_args()
    out = asyncio.run(run(args.url, args.heads, args.timeout))
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
