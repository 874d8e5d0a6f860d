"""The replay connector on good and bad files: bad input never crashes a run or loses a row."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, func, select

from earful.brands.service import create_brand
from earful.connectors.base import ConnectorError
from earful.connectors.replay import MAX_LINE_BYTES, FileReplay
from earful.db import transaction
from earful.models import DeadLetter, Post
from earful.pipeline.runner import Pipeline
from tests.conftest import TWCS_SAMPLE


def good_line(i: int, text: str = "acme is great") -> bytes:
    return orjson.dumps(
        {
            "network": "mastodon",
            "id": f"m{i}",
            "author": {"id": f"u{i}", "handle": f"u{i}"},
            "text": text,
            "created_at": f"2026-01-01T00:00:{i % 60:02d}Z",
        }
    )


@pytest.fixture
def acme(engine: Engine) -> int:
    with transaction(engine) as session:
        return create_brand(session, "acme", "Acme").id


def ingest(engine: Engine, path: Path, fmt: str = "jsonl", brand: int | None = None):  # type: ignore[no-untyped-def]
    return Pipeline(engine).ingest(FileReplay(path, fmt, batch_size=3), brand)  # type: ignore[arg-type]


def dead(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return sorted(
            (p, r) for p, r in conn.execute(select(DeadLetter.position, DeadLetter.reason))
        )


def stored(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(Post.external_id)))


def test_bad_json_lines_are_dead_lettered_and_the_rest_goes_on(
    engine: Engine, acme: int, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        good_line(1),
        b'{"network": "mastodon", "id": "m2", "text": "acme',  # truncated JSON
        b"\xff\xfe acme \x80",  # not UTF-8
        b"[1, 2, 3]",  # JSON but not an object
        orjson.dumps({"network": "mastodon", "id": "m5", "text": "acme"}),  # no author
        b"",  # blank lines are skipped silently
        good_line(7),
        orjson.dumps(
            {
                "network": "mastodon",
                "id": "m8",
                "author": {"id": "x"},
                "text": "acme",
                "created_at": "yesterday",
            }
        ),
        good_line(9),
    ]
    path.write_bytes(b"\n".join(lines))  # last line without a newline is still read
    summary = ingest(engine, path)
    assert stored(engine) == {"m1", "m7", "m9"}
    assert summary.dead_lettered == 5
    reasons = dict(dead(engine))
    assert reasons["line 2"].startswith("invalid JSON")
    assert reasons["line 3"] == "not UTF-8: invalid byte at offset 0"
    assert reasons["line 4"] == "expected a JSON object, got list"
    assert reasons["line 5"] == "missing author.id"
    assert reasons["line 8"] == "created_at is not an ISO 8601 time: 'yesterday'"
    with engine.connect() as conn:
        raw = conn.scalar(select(DeadLetter.raw).where(DeadLetter.position == "line 3"))
    assert raw == lines[2], "the bad bytes are kept exactly"


def test_huge_line_is_dead_lettered_without_swallowing_its_neighbours(
    engine: Engine, acme: int, tmp_path: Path
) -> None:
    path = tmp_path / "huge.jsonl"
    huge = b'{"text": "' + b"a" * (MAX_LINE_BYTES * 2) + b'"}'
    path.write_bytes(good_line(1) + b"\n" + huge + b"\n" + good_line(3) + b"\n")
    ingest(engine, path)
    assert stored(engine) == {"m1", "m3"}
    [(position, reason)] = dead(engine)
    assert position == "line 2"
    assert reason.startswith(f"line longer than {MAX_LINE_BYTES} bytes")


def test_empty_file_is_fine(engine: Engine, acme: int, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    summary = ingest(engine, path)
    assert (summary.read, summary.ingested, summary.dead_lettered) == (0, 0, 0)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="no such file"):
        FileReplay(tmp_path / "nope.jsonl", "jsonl")


def test_csv_with_wrong_columns_is_refused_with_the_columns_named(
    engine: Engine, acme: int, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("id,user,message\n1,ann,acme rocks\n", encoding="utf-8")
    summary = ingest(engine, path, "twcs", acme)
    assert summary.ingested == 0
    [(position, reason)] = dead(engine)
    assert position == "line 1"
    assert "missing column(s) tweet_id, author_id, inbound" in reason


def test_bad_csv_rows_are_dead_lettered_and_good_rows_kept(
    engine: Engine, acme: int, tmp_path: Path
) -> None:
    header = TWCS_SAMPLE.read_bytes().splitlines()[0]
    rows = [
        b'1,ann,True,Wed Oct 11 06:55:44 +0000 2017,"@acme my order, it is late",,',
        b"2,ann,True,Wed Oct 11 06:56:44 +0000 2017,too few fields",
        b'3,ann,True,Wed Oct 11 06:57:44 +0000 2017,"unterminated quote,,',
        b"4,bob,maybe,Wed Oct 11 06:58:44 +0000 2017,hi,,",
        b"5,bob,True,not a date,hi,,",
        b"6,bob,True,Wed Oct 11 07:00:44 +0000 2017,caf\xe9 latin-1,,",
        b'7,AcmeCare,False,Wed Oct 11 07:01:44 +0000 2017,"Sorry!\nDM us ^JS",,1',
    ]
    path = tmp_path / "twcs.csv"
    path.write_bytes(header + b"\n" + b"\n".join(rows) + b"\n")
    ingest(engine, path, "twcs", acme)
    assert stored(engine) == {"1", "7"}
    reasons = dict(dead(engine))
    assert reasons == {
        "line 3": "expected 7 fields, found 5",
        "line 4": "unterminated quoted field",
        "line 5": "inbound must be True or False, got 'maybe'",
        "line 6": "created_at is not a Twitter date: 'not a date'",
        "line 7": "not UTF-8: invalid byte at offset 45",
    }
    with engine.connect() as conn:
        text = conn.scalar(select(Post.text).where(Post.external_id == "7"))
        brand_posts = conn.scalar(select(func.count()).where(Post.from_brand.is_(True)))
    assert text == "Sorry!\nDM us ^JS", "a quoted field may span lines"
    assert brand_posts == 1


def test_jetstream_posts_replies_and_quotes(engine: Engine, acme: int, tmp_path: Path) -> None:
    did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"

    def event(
        rkey: str,
        record: dict[str, object],
        op: str = "create",
        collection: str = "app.bsky.feed.post",
        t: int = 1,
    ) -> bytes:
        commit: dict[str, object] = {
            "rev": "3l3qo2vuowo2b",
            "operation": op,
            "collection": collection,
            "rkey": rkey,
        }
        if op != "delete":
            commit |= {
                "record": record,
                "cid": "bafyreidwaivazkwu67xztlmuobx35hs2lnfh3kolmgfmucldvhd3sgzcqi",
            }
        return orjson.dumps(
            {"did": did, "time_us": 1725911162329308 + t, "kind": "commit", "commit": commit}
        )

    root = f"at://{did}/app.bsky.feed.post/3l3qo2vutsw2b"
    ref = {"uri": root, "cid": "bafyreid"}
    lines = [
        event(
            "3l3qo2vutsw2b",
            {
                "$type": "app.bsky.feed.post",
                "text": "acme lost my parcel",
                "createdAt": "2024-09-09T19:46:02.102Z",
                "langs": ["en"],
            },
        ),
        event(
            "3l3qo2vutsw2c",
            {
                "$type": "app.bsky.feed.post",
                "text": "same here",
                "createdAt": "2024-09-09T19:47:02.102Z",
                "reply": {"root": ref, "parent": ref},
            },
            t=2,
        ),
        event(
            "3l3qo2vutsw2d",
            {
                "$type": "app.bsky.feed.post",
                "text": "look at this",
                "createdAt": "2024-09-09T19:48:02.102Z",
                "embed": {"$type": "app.bsky.embed.record", "record": ref},
            },
            t=3,
        ),
        event("3l3qo2vutsw2e", {"subject": ref}, collection="app.bsky.feed.like", t=4),
        event("3l3qo2vutsw2b", {}, op="delete", t=5),
        orjson.dumps(
            {
                "did": did,
                "time_us": 1725911162329399,
                "kind": "identity",
                "identity": {"did": did, "handle": "ann.bsky.social"},
            }
        ),
        b'{"did": "x", "kind": "commit"}',
    ]
    path = tmp_path / "jetstream.jsonl"
    path.write_bytes(b"\n".join(lines))
    summary = Pipeline(engine).ingest(FileReplay(path, "jetstream"))
    assert summary.skipped == 3
    assert dead(engine) == [("line 7", "missing time_us")]
    with engine.connect() as conn:
        rows = {r.external_id: r for r in conn.execute(select(Post))}
    assert set(rows) == {root, root[:-1] + "c"}  # the quote has no keyword and no thread
    reply = rows[root[:-1] + "c"]
    assert reply.reply_to_external_id == root
    assert rows[root].language == "en"
