"""Retention: a brand's conversations quiet for longer than its window are deleted or
anonymised by `earful retention run` and by `earful run`'s outbound rounds, on a clock the
test controls; the search index follows, the run is audited with counts only, and newer
conversations and other brands are untouched."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from earful.brands.service import create_brand
from earful.cli.main import app
from earful.cli.outbound import outbound, outbound_rounds
from earful.connectors.replay import FileReplay
from earful.conversations import repository as conversations_repo
from earful.customers import retention
from earful.db import transaction
from earful.models import (
    AuditEvent,
    Conversation,
    ConversationPost,
    Identity,
    Post,
    RetentionPolicy,
)
from earful.pipeline.runner import Pipeline
from tests.protocol.conftest import found_by_search

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DANA = {"id": "2244994945", "handle": "dana_traveller", "name": "Dana Quillfeather"}
SAM = {"id": "1111111111", "handle": "sam_flyer", "name": "Sam Other"}


def post(n: int, who: dict[str, str], words: str, at: datetime, **extra: object) -> bytes:
    doc = {"network": "x", "id": f"18500000000000000{n:02d}", "author": who,
           "text": f"@AcmeHelp {words}", "created_at": at.isoformat(), **extra}  # fmt: skip
    return orjson.dumps(doc)


def seed(engine: Engine, tmp_path: Path, now: datetime) -> dict[str, int]:
    """Dana's complaint from 100 days ago (with a follow-up at 95), Sam's from 2 days ago."""
    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air", ["acme"], {"x": ["AcmeHelp"]})
    corpus = tmp_path / "x.jsonl"
    lines = [
        post(1, DANA, "suitcase vanished at Zurich", now - timedelta(days=100)),
        post(
            3,
            DANA,
            "still no suitcase, ref ZRH-88123",
            now - timedelta(days=95),
            reply_to="1850000000000000001",
        ),
        post(2, SAM, "seat double booked on LX318", now - timedelta(days=2)),
    ]
    corpus.write_bytes(b"\n".join(lines) + b"\n")
    assert Pipeline(engine).ingest(FileReplay(corpus, "jsonl")).ingested == 3
    with transaction(engine) as s:
        convs = dict(
            s.execute(
                select(Post.external_id, ConversationPost.conversation_id).join(
                    ConversationPost, ConversationPost.post_id == Post.id
                )
            ).all()
        )
        conversations_repo.refresh_states(s, list(set(convs.values())))
    return {"dana": convs["1850000000000000001"], "sam": convs["1850000000000000002"]}


def set_policy(engine: Engine, mode: str, days: int) -> None:
    with transaction(engine) as s:
        brand = s.scalars(select(retention.Brand)).one()
        retention.set_policy(s, None, brand, mode, days)


def run_at(engine: Engine, now: datetime) -> list[retention.RetentionResult]:
    with transaction(engine) as s:
        return retention.run_due(s, now)


def identities(engine: Engine) -> set[str]:
    with transaction(engine) as s:
        return set(s.scalars(select(Identity.external_id)))


def test_delete_mode_removes_old_conversations_on_a_controlled_clock(
    engine: Engine, tmp_path: Path
) -> None:
    convs = seed(engine, tmp_path, NOW)
    set_policy(engine, "delete", 96)
    # Dana's thread has been quiet for 95 days: nothing goes yet.
    assert [r.conversations for r in run_at(engine, NOW)] == [0]
    # Within the hour the job does not look again; two days later it deletes Dana's thread.
    assert run_at(engine, NOW + timedelta(minutes=30)) == []
    [result] = run_at(engine, NOW + timedelta(days=2))
    assert (result.conversations, result.posts, result.identities) == (1, 2, 1)
    with transaction(engine) as s:
        assert s.get(Conversation, convs["dana"]) is None
        assert s.get(Conversation, convs["sam"]) is not None
        assert s.scalar(select(func.count()).select_from(Post)) == 1
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run")).all()
        assert event[-1].details["conversations"] == 1 and event[-1].actor == "cli"
        assert "suitcase" not in orjson.dumps(event[-1].details).decode()
    assert DANA["id"] not in identities(engine) and SAM["id"] in identities(engine)
    assert found_by_search(engine, "suitcase") == 0
    assert found_by_search(engine, "LX318") == 1


def test_anonymise_mode_keeps_the_counts_and_drops_the_words_and_names(
    engine: Engine, tmp_path: Path
) -> None:
    convs = seed(engine, tmp_path, NOW)
    set_policy(engine, "anonymise", 30)
    [result] = run_at(engine, NOW)
    assert (result.conversations, result.posts) == (1, 2)
    with transaction(engine) as s:
        dana = s.get(Conversation, convs["dana"])
        assert dana is not None and dana.subject is None and dana.post_count == 2
        posts = s.scalars(select(Post).order_by(Post.id)).all()
        old = [p for p in posts if p.created_at < NOW - timedelta(days=30)]
        assert [(p.text, p.raw, p.url) for p in old] == [("", None, None)] * 2
        assert all(p.sentiment is not None or p.model_version for p in old)  # labels stay
        anon = s.get(Identity, dana.identity_id)
        assert anon is not None and anon.external_id == retention.ANONYMOUS_ID
        assert anon.handle is None and anon.display_name is None
    assert DANA["id"] not in identities(engine)
    assert found_by_search(engine, "suitcase") == 0 and found_by_search(engine, "LX318") == 1
    # Running again finds nothing more to anonymise.
    [again] = run_at(engine, NOW + timedelta(hours=2))
    assert again.conversations == 0


def test_bad_settings_are_refused(engine: Engine) -> None:
    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air", ["acme"], {})
    with pytest.raises(retention.BadInput, match="mode must be one of"):
        set_policy(engine, "shred", 30)
    with pytest.raises(retention.BadInput, match="between 1 and"):
        set_policy(engine, "delete", 0)
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(RetentionPolicy)) == 0


def test_the_cli_and_the_outbound_round_apply_the_window(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    seed(engine, tmp_path, now)
    monkeypatch.setenv("EARFUL_DATABASE_URL", db_url)
    runner = CliRunner()
    bad = runner.invoke(app, ["retention", "set", "nope", "--days", "30"])
    assert bad.exit_code == 2 and "no brand 'nope'" in bad.output
    ok = runner.invoke(app, ["retention", "set", "acme", "--days", "97", "--mode", "anonymise"])
    assert ok.exit_code == 0, ok.output
    shown = runner.invoke(app, ["retention", "show"])
    assert "anonymise" in shown.output and "97" in shown.output
    # `earful run`'s outbound round applies it (Dana's thread is 95 days quiet: kept).
    asyncio.run(outbound_rounds(outbound(engine, "k"), threading.Event(), once=True))
    assert DANA["id"] in identities(engine)
    with transaction(engine) as s:
        assert s.scalars(select(RetentionPolicy)).one().last_run_at is not None
    runner.invoke(app, ["retention", "set", "acme", "--days", "30", "--mode", "delete"])
    done = runner.invoke(app, ["retention", "run"])
    assert done.exit_code == 0, done.output
    assert "acme: delete 1 conversations, 2 posts" in done.output
    assert DANA["id"] not in identities(engine)
