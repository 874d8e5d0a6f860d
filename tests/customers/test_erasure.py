"""Erasing one customer: after it, a walk over every table and every text, JSON and byte
column of the database finds nothing of them; a replay of the same stream brings nothing
back; another customer's data is untouched. A new table must be classified first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import Engine, LargeBinary, String, Text, inspect, select, text
from sqlalchemy.types import JSON
from typer.testing import CliRunner

from earful.auth.service import Principal, create_user
from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.conversations import repository as conversations_repo
from earful.conversations import service as conversations
from earful.customers import erasure
from earful.customers import service as customers
from earful.db import transaction
from earful.engagement import replies
from earful.handoff import service as handoff
from earful.handoff.config import HandoffSettings
from earful.models import Base, Conversation, ConversationPost, Post, Role
from earful.pipeline.runner import Pipeline

DANA = {"id": "2244994945", "handle": "dana_traveller", "name": "Dana Quillfeather"}
SAM = {"id": "1111111111", "handle": "sam_flyer", "name": "Sam Other"}
EMAIL = "dana.quillfeather@example.org"
DANA_WORDS = ["suitcase never arrived at Zurich", "file number ZRH-88123"]


def post(n: int, who: dict[str, str], words: str, **extra: object) -> bytes:
    at = datetime.now(UTC) - timedelta(minutes=60 - n)
    doc = {"network": "x", "id": f"18500000000000000{n:02d}", "author": who,
           "text": f"@AcmeHelp {words}", "created_at": at.isoformat(), **extra}  # fmt: skip
    return orjson.dumps(doc)


def stream(tmp_path: Path) -> Path:
    """What X sent: Dana's complaint and follow-up, Sam's unrelated one, and a malformed
    record that names Dana (dead-lettered with its bytes)."""
    path = tmp_path / "x.jsonl"
    lines = [
        post(1, DANA, DANA_WORDS[0]),
        post(2, SAM, "my seat was double booked on LX318"),
        post(3, DANA, DANA_WORDS[1], reply_to="1850000000000000001"),
        json.dumps({"network": "x", "author": DANA, "text": 42}).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def markers() -> list[str]:
    return [DANA["id"], DANA["handle"], DANA["name"], EMAIL, *DANA_WORDS]


def walk(engine: Engine) -> list[str]:
    """Every (table.column) cell anywhere that holds one of Dana's markers."""
    found = []
    insp = inspect(engine)
    with engine.connect() as conn:
        for table in insp.get_table_names():
            if table == "erasures":
                continue  # hashes only
            for col in insp.get_columns(table):
                if not isinstance(col["type"], String | Text | LargeBinary | JSON):
                    continue
                name = col["name"]
                for (value,) in conn.execute(text(f'SELECT "{name}" FROM "{table}"')):
                    blob = value if isinstance(value, bytes) else str(value or "").encode()
                    hits = [m for m in markers() if m.lower().encode() in blob.lower()]
                    if hits:
                        found.append(f"{table}.{name}: {hits}")
    return found


def test_erasure_leaves_nothing_of_the_customer_anywhere(engine: Engine, tmp_path: Path) -> None:
    with transaction(engine) as s:
        brand = create_brand(s, "acme", "Acme Air", ["acme"], {"x": ["AcmeHelp"]})
        user = create_user(s, "jo@acme.example", "Jo Agent", "correct horse battery",
                           {brand.id: Role.AGENT})  # fmt: skip
        jo = Principal(user.id, user.name, user.email, {brand.id: Role.AGENT})
    corpus = stream(tmp_path)
    first = Pipeline(engine).ingest(FileReplay(corpus, "jsonl"))
    assert first.ingested == 3 and first.dead_lettered == 1
    with transaction(engine) as s:
        convs = dict(
            s.execute(
                select(Post.external_id, ConversationPost.conversation_id).join(
                    ConversationPost, ConversationPost.post_id == Post.id
                )
            ).all()
        )
        dana_conv, sam_conv = convs["1850000000000000001"], convs["1850000000000000002"]
        conversations_repo.refresh_states(s, [dana_conv, sam_conv])
        # The agent works the case as production does: an email on file, a reply, a
        # handoff by email, and a note in *Sam's* conversation that mentions Dana.
        customers.set_preferred_channel(s, jo, dana_conv, "email", EMAIL)
        st = conversations_repo.state(s, dana_conv)
        assert st is not None
        replies.queue_reply(s, jo, dana_conv, f"Sorry {DANA['name']}, tracing it", st.version)
        handoff.handoff(s, jo, dana_conv, "email", HandoffSettings(secret_key="k"), "More soon")
        conversations.add_note(s, jo, sam_conv, f"same flight as @{DANA['handle']}")
    assert walk(engine), "the set-up stored none of Dana's data: the walk would prove nothing"

    with transaction(engine) as s:
        who = erasure.find_identity(s, "x", handle="@" + DANA["handle"].upper())
        report = erasure.erase(s, who)
    assert report.identities == 1 and report.conversations == 1 and report.dead_letters == 1
    assert report.redacted >= 1  # the note in Sam's conversation
    assert walk(engine) == []
    with transaction(engine) as s:
        assert s.get(Conversation, dana_conv) is None
        sam = s.get(Conversation, sam_conv)
        assert sam is not None  # the other customer's conversation stays
        assert "LX318" in (s.scalar(select(Post.text).where(Post.external_id.like("%02"))) or "")

    # A replay of the whole stream, and a late post of Dana's, bring nothing back.
    again = Pipeline(engine).ingest(FileReplay(corpus, "jsonl"), from_start=True)
    late = tmp_path / "late.jsonl"
    late.write_bytes(post(9, DANA, "any news on my suitcase never arrived at Zurich?") + b"\n")
    later = Pipeline(engine).ingest(FileReplay(late, "jsonl"))
    assert again.erased == 3  # her two posts and the bad record that names her
    assert later.erased == 1 and later.ingested == 0
    assert walk(engine) == []


def test_every_table_is_classified_for_erasure(engine: Engine) -> None:
    """A new table must say whether it holds customer data (and be handled) or not."""
    tables = set(inspect(engine).get_table_names()) | set(Base.metadata.tables)
    unclassified = tables - erasure.HANDLED - erasure.HOLDS_NO_CUSTOMER_DATA
    assert unclassified == set(), f"classify these in customers/erasure.py: {unclassified}"


def test_the_cli_exports_then_erases(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    mp.delenv("EARFUL_DATABASE_URL", raising=False)
    try:
        from earful.cli.main import app

        runner = CliRunner()
        assert runner.invoke(app, ["init"]).exit_code == 0
        assert (
            runner.invoke(
                app, ["brands", "add", "acme", "--keyword", "acme", "--handle", "x:AcmeHelp"]
            ).exit_code
            == 0
        )
        ingest = runner.invoke(app, ["ingest", str(stream(tmp_path)), "--format", "jsonl"])
        assert ingest.exit_code == 0, ingest.output
        out = tmp_path / "dana.json"
        exported = runner.invoke(
            app, ["customers", "export", "x", "--handle", DANA["handle"], "-o", str(out)]
        )
        assert exported.exit_code == 0, exported.output
        data = orjson.loads(out.read_bytes())
        assert [a["handle"] for a in data["accounts"]] == [DANA["handle"]]
        assert len(data["posts"]) == 2 and all(p["at"] for p in data["posts"])
        assert data["conversations"][0]["posts"][0]["text"].endswith(DANA_WORDS[0])
        refused = runner.invoke(app, ["customers", "erase", "x", "--handle", "nobody", "--yes"])
        assert refused.exit_code == 2 and "no x account" in refused.output
        done = runner.invoke(app, ["customers", "erase", "x", "--id", DANA["id"], "--yes"])
        assert done.exit_code == 0, done.output
        assert "erased x dana_traveller: 1 account(s), 2 posts" in done.output
        gone = runner.invoke(app, ["customers", "export", "x", "--id", DANA["id"]])
        assert gone.exit_code == 2
    finally:
        mp.undo()
