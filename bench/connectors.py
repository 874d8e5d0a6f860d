"""Jetstream connector throughput: frames off a local WebSocket, parsed and handed over.

The fake Jetstream runs in its own process (so its CPU is not ours) and sends N
real-shaped events as fast as the socket takes them. Subject: the Bluesky connector's
frame loop (orjson, typed PostIn, batches handed to the pipeline's door). Baseline, same
run, same socket, same frames: ``json.loads`` and walking the dicts by hand.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

import orjson
import websockets

from bench.harness import Figure, Size, interleaved, rate_figure
from earful.connectors.base import Retry
from earful.connectors.bluesky import Bluesky

SIZES = {"quick": 10_000, "default": 100_000, "large": 500_000}
TARGET = ">= 20,000 events/s on one core"


def events(n: int) -> list[bytes]:
    """Jetstream post events: plain, replies, quotes; one in ten another kind."""
    out = []
    base = 1732370000000000
    for i in range(n):
        did = f"did:plc:{i % 5000:024d}"
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "createdAt": "2024-11-23T13:53:20.001Z",
            "langs": ["en"],
            "text": f"@acmeair my bag number {i} is still missing after flight {i % 900}",
        }
        if i % 3 == 1:
            parent = {
                "cid": "bafyreihd5kqj2pbgpejqd3cdgtc7zeiwehfhl4hkz3vfamtt2b7tq2ftvm",
                "uri": f"at://did:plc:{(i - 1) % 5000:024d}/app.bsky.feed.post/3l{i - 1:011d}",
            }
            record["reply"] = {"parent": parent, "root": parent}
        elif i % 3 == 2:
            record["embed"] = {
                "$type": "app.bsky.embed.record",
                "record": {
                    "cid": "bafyreihd5kqj2pbgpejqd3cdgtc7zeiwehfhl4hkz3vfamtt2b7tq2ftvm",
                    "uri": f"at://did:plc:{(i - 2) % 5000:024d}/app.bsky.feed.post/3l{i - 2:011d}",
                },
            }
        doc: dict[str, Any] = {
            "did": did,
            "time_us": base + i,
            "kind": "commit",
            "commit": {
                "rev": f"3l{i:011d}",
                "operation": "create",
                "collection": "app.bsky.feed.post",
                "rkey": f"3l{i:011d}",
                "record": record,
                "cid": "bafyreiaj4ow2dpnvg4ttrtfh3w6yj2wwdsqhalqbd2zmewqg3adhz5wdua",
            },
        }
        if i % 10 == 9:
            doc = {
                "did": did,
                "time_us": base + i,
                "kind": "identity",
                "identity": {
                    "did": did,
                    "handle": "x.bsky.social",
                    "seq": i,
                    "time": "2024-11-23T13:53:20.004Z",
                },
            }
        out.append(orjson.dumps(doc))
    return out


def _frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked server-to-client WebSocket frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 1 << 16:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


def _serve(n: int, conn: Connection) -> None:  # pragma: no cover - runs in the child
    """A minimal Jetstream: the RFC 6455 handshake, then every frame in one write.

    Pre-framed so the fake spends no CPU per event: what is measured is the client.
    """
    import base64
    import hashlib
    import socket

    wire = b"".join(_frame(e) for e in events(n)) + _frame(b"\x03\xe8", opcode=0x8)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    conn.send(srv.getsockname()[1])
    while True:
        client, _ = srv.accept()
        request = b""
        while b"\r\n\r\n" not in request:
            request += client.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        client.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        client.sendall(wire)
        try:
            client.recv(1024)  # the client's close frame
        finally:
            client.close()


def _connector(port: int) -> Bluesky:
    return Bluesky(
        jetstream_url=f"ws://127.0.0.1:{port}/subscribe", batch_size=1000, batch_wait_s=0.2
    )


async def _subject(port: int) -> int:
    conn = _connector(port)
    seen = 0
    async with websockets.connect(conn.subscribe_url(None), compression=None, max_size=2**21) as ws:
        try:
            async for batch in conn._frames(ws, None):
                seen += len(batch.posts) + batch.skipped  # the handoff: a Batch per 1000
        except Retry:
            pass
    return seen


async def _baseline(port: int) -> int:
    seen = 0
    posts = []
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/subscribe", compression=None, max_size=2**21
    ) as ws:
        try:
            while True:
                doc = json.loads(await ws.recv())
                seen += 1
                if doc.get("kind") != "commit":
                    continue
                commit = doc["commit"]
                record = commit.get("record") or {}
                posts.append(
                    {
                        "id": f"at://{doc['did']}/{commit['collection']}/{commit['rkey']}",
                        "author": doc["did"],
                        "text": record.get("text"),
                        "reply_to": (record.get("reply") or {}).get("parent", {}).get("uri"),
                        "quote_of": ((record.get("embed") or {}).get("record") or {}).get("uri"),
                        "created_at": record.get("createdAt"),
                        "time_us": doc["time_us"],
                    }
                )
                if len(posts) >= 1000:
                    posts = []
        except websockets.ConnectionClosed:
            pass
    return seen


def run(size: Size) -> list[Figure]:
    n = SIZES[size]
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(n, child), daemon=True)
    server.start()
    try:
        port = parent.recv()
        counts: list[int] = []
        pair = interleaved(
            lambda: counts.append(asyncio.run(_subject(port))),
            lambda: counts.append(asyncio.run(_baseline(port))),
            repeat=3 if size == "quick" else 5,
        )
    finally:
        server.terminate()
        server.join(timeout=5)
    assert all(c == n for c in counts), f"lost frames: {set(counts)} of {n}"
    return [
        rate_figure(
            "connectors",
            "jetstream parse + handoff",
            pair,
            n,
            unit="events/s",
            target=TARGET,
            passed=lambda value, base: value >= 20_000,
        )
    ]
