#!/usr/bin/env python3
"""An independent gRPC client of MameyNode, written against proto/ with the official Python grpcio.

Run by tests/independent_clients.rs after it generated the Python code:

    python3 -m grpc_tools.protoc -I proto --python_out=GEN --grpc_python_out=GEN proto/mamey/*/*.proto proto/mamey/*/v1/*.proto
    PYTHONPATH=GEN python3 tests/clients/grpc_client.py --addr 127.0.0.1:50051 --blocks 5 [--tx-hex HEX]

Prints one JSON object on stdout:

    {"status": {...GetStatus...},
     "blocks": [{"height", "hash", "parent_hash", "state_root", "tx_root", "proposer",
                 "timestamp_ms", "tx_count"}, ...],        # Subscribe(blocks=True, from_height=1)
     "submitted": {"id", "status", "height", "block_hash"},  # with --tx-hex: Submit, then poll
     "not_found": {"code", "mamey_error_code", "details"}}   # GetBlock far beyond the head
"""

import argparse
import json
import sys
import time

import grpc

from mamey.v1 import node_pb2, node_pb2_grpc, stream_pb2, stream_pb2_grpc, types_pb2


def hexs(b):
    return bytes(b).hex()


def header_json(h):
    return {
        "height": h.height,
        "hash": hexs(h.hash),
        "parent_hash": hexs(h.parent_hash),
        "state_root": hexs(h.state_root),
        "tx_root": hexs(h.tx_root),
        "proposer": h.proposer,
        "timestamp_ms": h.timestamp_ms,
        "tx_count": h.tx_count,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--blocks", type=int, default=5)
    ap.add_argument("--tx-hex", default=None)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--asset", default=None, help="an issued asset id to query over BankingService")
    args = ap.parse_args()

    out = {}
    with grpc.insecure_channel(args.addr) as ch:
        grpc.channel_ready_future(ch).result(timeout=args.timeout)
        node = node_pb2_grpc.NodeServiceStub(ch)
        streams = stream_pb2_grpc.StreamServiceStub(ch)

        s = node.GetStatus(node_pb2.GetStatusRequest(), timeout=args.timeout)
        out["status"] = {
            "chain_id": s.chain_id,
            "height": s.height,
            "finalized_height": s.finalized_height,
            "genesis_hash": hexs(s.genesis_hash),
            "head_hash": hexs(s.head_hash),
            "min_fee": s.min_fee,
            "version": s.version,
        }

        blocks = []
        call = streams.Subscribe(
            stream_pb2.SubscribeRequest(blocks=True, from_height=1), timeout=args.timeout
        )
        for u in call:
            kind = u.WhichOneof("update")
            if kind != "block":
                raise SystemExit(f"unexpected update kind {kind!r} on a blocks-only stream")
            if u.block.height != u.block.header.height:
                raise SystemExit(f"BlockUpdate.height {u.block.height} != header.height")
            blocks.append(header_json(u.block.header))
            if len(blocks) >= args.blocks:
                break
        call.cancel()
        out["blocks"] = blocks

        if args.tx_hex:
            r = node.SubmitTransaction(
                node_pb2.SubmitTransactionRequest(transaction=bytes.fromhex(args.tx_hex)),
                timeout=args.timeout,
            )
            deadline = time.monotonic() + args.timeout
            while True:
                t = node.GetTransaction(node_pb2.GetTransactionRequest(id=r.id), timeout=args.timeout)
                if t.status == types_pb2.TX_STATUS_FINALIZED:
                    break
                if t.status == types_pb2.TX_STATUS_REJECTED:
                    raise SystemExit(f"transaction rejected: {t.error}")
                if time.monotonic() > deadline:
                    raise SystemExit("transaction not finalized in time")
                time.sleep(0.02)
            out["submitted"] = {
                "id": hexs(r.id),
                "status": types_pb2.TxStatus.Name(t.status),
                "height": t.height if t.HasField("height") else None,
                "block_hash": hexs(t.block_hash),
            }

        try:
            node.GetBlock(node_pb2.GetBlockRequest(height=s.height + 1_000_000), timeout=args.timeout)
            out["not_found"] = {"code": "OK"}
        except grpc.RpcError as e:
            md = dict(e.trailing_metadata() or ())
            md.update(dict(e.initial_metadata() or ()))
            out["not_found"] = {
                "code": e.code().name,
                "mamey_error_code": md.get("mamey-error-code"),
                "details": e.details(),
            }

        if args.asset:
            from mamey.banking.v1 import banking_pb2, banking_pb2_grpc

            bank = banking_pb2_grpc.BankingServiceStub(ch)
            a = bank.GetAsset(banking_pb2.GetAssetRequest(id=args.asset), timeout=args.timeout)
            listed = bank.ListAssets(banking_pb2.ListAssetsRequest(limit=10), timeout=args.timeout)
            holders = bank.GetHolders(banking_pb2.GetHoldersRequest(id=args.asset), timeout=args.timeout)
            out["asset"] = {
                "id": a.id,
                "symbol": a.symbol,
                "decimals": a.decimals,
                "issuer": a.issuer,
                "supply": a.supply,
                "freezable": a.freezable,
                "clawback": a.clawback,
                "listed": [x.id for x in listed.assets],
                "holders": [[h.holder, h.amount] for h in holders.holders],
            }

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
