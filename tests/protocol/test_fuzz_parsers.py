"""Malformed frames at every wire parser: no crash, every refusal a BadRecord with a reason.

Hypothesis picks the seeds; each seed drives a fast loop of mutations of real-shaped
samples (byte flips, truncations, wrong types, missing keys), so the whole file throws
well over 100,000 frames at the parsers in a few seconds.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from earful.connectors import wire
from tests.protocol.fake_mastodon import sample_script

SAMPLES = Path(__file__).parent / "samples"
PER_SEED = 1000
TOTAL = {"frames": 0}

ODD: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5,
    float("inf"),
    "",
    "x" * 300,
    "did:",
    "at://",
    [],
    {},
    True,
    [1, "a"],
    {"$type": 1},
    "2024-13-45T99:99:99Z",
    "\x00\ud800",
]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate_doc(doc: Any, rng: random.Random) -> Any:
    doc = orjson.loads(orjson.dumps(doc))
    for _ in range(rng.randint(1, 3)):
        paths = _paths(doc)
        path = rng.choice(paths)
        if not path:
            return copy.deepcopy(rng.choice(ODD))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.3:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD))
    return doc


def _mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    op = rng.randrange(4)
    if op == 0 and data:
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif op == 1:
        del data[rng.randrange(len(data) + 1) :]
    elif op == 2:
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 8))
    else:
        data = bytearray(rng.randbytes(rng.randint(0, 64)))
    return bytes(data)


def _dumps(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return b"{"


def hammer(seed: int, samples: list[Any], parse: Callable[[bytes], object]) -> int:
    """Parse PER_SEED mutants; anything but success or BadRecord(reason) fails the test."""
    rng = random.Random(seed)
    refused = 0
    for _ in range(PER_SEED):
        sample = rng.choice(samples)
        if rng.random() < 0.5:
            raw = _dumps(_mutate_doc(sample, rng))
        else:
            raw = _mutate_bytes(_dumps(sample), rng)
        try:
            parse(raw)
        except wire.BadRecord as exc:
            assert str(exc), f"refused without a reason: {raw[:200]!r}"
            refused += 1
        except wire.NotAPost:
            pass
    TOTAL["frames"] += PER_SEED
    return refused


JETSTREAM = [orjson.loads(line) for line in (SAMPLES / "jetstream.jsonl").read_bytes().splitlines()]
MASTODON = [
    {
        "stream": ["hashtag", "acmeair"],
        "event": e,
        "payload": p if isinstance(p, str) or p is None else orjson.dumps(p).decode(),
    }
    for e, p in sample_script()
] + [
    {
        "stream": ["user"],
        "event": "notification",
        "payload": orjson.dumps(
            {"id": "1", "type": "mention", "status": sample_script()[0][1]}
        ).decode(),
    }
]
MASTODON_STATUSES = [p for e, p in sample_script() if e == "update"]
META = [
    orjson.loads((SAMPLES / name).read_text().replace("TIME", "1732370000"))
    for name in ("meta_page_feed.json", "meta_instagram.json")
]
POSTS = [
    {
        "network": "forum",
        "id": "1",
        "author": {"id": "u", "handle": "h"},
        "text": "hi",
        "created_at": "2024-11-23T13:53:20+00:00",
        "reply_to": "0",
        "lang": "en",
    }
]


def _meta(raw: bytes) -> object:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise wire.BadRecord("invalid JSON") from None
    changes, bad = wire.parse_meta_delivery(doc)
    assert all(reason for _, reason in bad)
    return changes


@settings(max_examples=50, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_jetstream(seed: int) -> None:
    assert hammer(seed, JETSTREAM, wire.jetstream_event) > 0


@settings(max_examples=25, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_mastodon_frames(seed: int) -> None:
    hammer(seed, MASTODON, lambda raw: wire.parse_mastodon_frame(raw, "m.example"))


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_mastodon_statuses(seed: int) -> None:
    hammer(
        seed,
        MASTODON_STATUSES,
        lambda raw: wire.parse_mastodon_status(wire._decode_json(raw), "m.example", raw),
    )


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_meta_deliveries(seed: int) -> None:
    hammer(seed, META, _meta)


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_post_json_and_replay_jetstream(seed: int) -> None:
    hammer(seed, POSTS, wire.parse_post_json)
    hammer(seed, JETSTREAM, wire.parse_jetstream)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(json_values)
def test_arbitrary_json_is_refused_with_a_reason(doc: Any) -> None:
    raw = _dumps(doc)
    for parse in (wire.jetstream_event, lambda r: wire.parse_mastodon_frame(r, "m"), _meta):
        try:
            parse(raw)
        except wire.BadRecord as exc:
            assert str(exc)
    TOTAL["frames"] += 3


def test_zz_total_frames_thrown() -> None:
    """Runs last in this module (name order within the file is definition order)."""
    assert TOTAL["frames"] >= 100_000 or TOTAL["frames"] == 0  # 0: run on its own
