"""A conversation's subject is its first customer post, written by the ingest itself.

Real payloads go through ``Pipeline.ingest`` (the production path) on SQLite and
PostgreSQL; the subjects are read back from the database.
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.conversations.repository import export_rows
from earful.db import transaction
from earful.demo.generate import brands_config, write
from earful.models import Conversation, ConversationPost, Post
from earful.pipeline.runner import Pipeline
from earful.pipeline.stages import SUBJECT_CHARS, subject_of

SAMPLES = Path(__file__).parents[1] / "protocol" / "samples"


def _brand(engine: Engine) -> None:
    with transaction(engine) as s:
        create_brand(
            s, "acme", "Acme Air", ["acmeair", "acme"], {"x": ["AcmeHelp"], "bluesky": ["acmeair"]}
        )


def _ingest(engine: Engine, path: Path, posts: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in posts))
    Pipeline(engine).ingest(FileReplay(path, "jsonl", batch_size=50))


def _post(
    ext: str, author: str, text: str, minute: int, reply_to: str | None = None
) -> dict[str, Any]:
    return {
        "network": "x",
        "id": ext,
        "author": {"id": author, "handle": author},
        "text": text,
        "created_at": f"2026-11-20T09:{minute:02d}:00Z",
        "reply_to": reply_to,
        "from_brand": author == "AcmeHelp",
    }


def _subjects(engine: Engine) -> dict[str, str | None]:
    """{external id of each post: the subject of its conversation}."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Post.external_id, Conversation.subject)
            .join(ConversationPost, ConversationPost.post_id == Post.id)
            .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        ).all()
    return dict(rows)


def test_jetstream_posts_name_their_conversations(engine: Engine) -> None:
    _brand(engine)
    Pipeline(engine).ingest(FileReplay(SAMPLES / "jetstream.jsonl", "jetstream"))
    with engine.connect() as conn:
        rows = conn.execute(select(Conversation.subject, Conversation.post_count)).all()
    # The reply and the author's second post ("still waiting") join the first thread.
    assert sorted(rows) == [
        ("@acmeair lost my bag on flight 212, nobody answers the phone", 3),
        ("Koffer weg bei acmeair, super.", 1),
        ("acmeair really needs to fix this", 1),
        ("this is my bag at the acmeair counter", 1),
    ]


def test_a_long_post_gives_a_one_line_cut_subject(engine: Engine, tmp_path: Path) -> None:
    _brand(engine)
    words = " ".join(f"word{i}" for i in range(60))
    text = f"@AcmeHelp my  bag\n\nis lost!\t{words}"
    _ingest(engine, tmp_path / "long.jsonl", [_post("1", "ann", text, 0)])
    subject = _subjects(engine)["1"]
    assert subject is not None
    assert subject.startswith("@AcmeHelp my bag is lost! word0 word1")
    assert subject.endswith("…") and len(subject) <= SUBJECT_CHARS
    assert subject[:-1] == " ".join(text.split())[: len(subject) - 1]
    assert not subject[:-1].endswith(" ")
    # Cut after a whole word: the character after the cut in the full text is a space.
    assert " ".join(text.split())[len(subject) - 1] == " "


def test_later_posts_keep_the_first_customer_post_as_subject(
    engine: Engine, tmp_path: Path
) -> None:
    _brand(engine)
    _ingest(
        engine,
        tmp_path / "a.jsonl",
        [
            _post("q", "ann", "acme lost my bag", 0),
            _post("a", "AcmeHelp", "Sorry! DM us your booking reference.", 5, reply_to="q"),
        ],
    )
    _ingest(engine, tmp_path / "b.jsonl", [_post("r", "ann", "done, sent it", 9, reply_to="a")])
    assert _subjects(engine) == {
        "q": "acme lost my bag",
        "a": "acme lost my bag",
        "r": "acme lost my bag",
    }


def test_a_late_parent_becomes_the_subject(engine: Engine, tmp_path: Path) -> None:
    _brand(engine)
    # The brand's answer arrives first: it opens the conversation, which has no customer
    # post yet; then the reply arrives before the question it answers.
    _ingest(engine, tmp_path / "1.jsonl", [_post("a", "AcmeHelp", "We are on it", 5, "q")])
    assert _subjects(engine) == {"a": None}
    _ingest(engine, tmp_path / "2.jsonl", [_post("r", "bob", "acme, me too", 7, "a")])
    assert _subjects(engine)["r"] == "acme, me too"
    _ingest(engine, tmp_path / "3.jsonl", [_post("q", "ann", "acme cancelled my flight", 1)])
    assert set(_subjects(engine).values()) == {"acme cancelled my flight"}


def test_merged_threads_take_the_subject_of_their_earliest_post(
    engine: Engine, tmp_path: Path
) -> None:
    _brand(engine)
    # Conversation 1: a reply to a post not heard yet. Conversation 2 (created later, but
    # about an earlier post): another customer's complaint. Then the missing middle post
    # arrives, replying to the complaint and answered by the first reply: one thread,
    # kept under the older conversation with the complaint as its subject.
    _ingest(engine, tmp_path / "1.jsonl", [_post("child", "bob", "acme same here", 9, "mid")])
    _ingest(engine, tmp_path / "2.jsonl", [_post("gp", "ann", "acme lost my bag", 1)])
    with engine.connect() as conn:
        before = dict(conn.execute(select(Conversation.subject, Conversation.id)).all())
    assert before.keys() == {"acme same here", "acme lost my bag"}
    older = min(before.values())
    assert before["acme same here"] == older

    _ingest(engine, tmp_path / "3.jsonl", [_post("mid", "cy", "any news?", 4, "gp")])
    with engine.connect() as conn:
        after = conn.execute(select(Conversation.id, Conversation.subject)).all()
    assert [tuple(row) for row in after] == [(older, "acme lost my bag")]
    assert set(_subjects(engine)) == {"child", "gp", "mid"}


def _oracle(posts: list[dict[str, Any]], members: list[str]) -> set[str | None]:
    """The acceptable subjects of a conversation: its earliest customer post(s)' text."""
    by_id = {p["id"]: p for p in posts}
    customers = [by_id[m] for m in members if not by_id[m]["from_brand"]]
    if not customers:
        return {None}
    first = min(p["created_at"] for p in customers)
    return {subject_of(p["text"]) for p in customers if p["created_at"] == first}


@pytest.mark.parametrize("shuffle", [False, True])
def test_demo_corpus_subjects_are_each_threads_first_customer_post(
    engine: Engine, tmp_path: Path, shuffle: bool
) -> None:
    with transaction(engine) as s:
        for cfg in brands_config():
            create_brand(s, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
    corpus = tmp_path / "corpus.jsonl"
    write(corpus, seed=5, posts=900)
    lines = corpus.read_bytes().splitlines(keepends=True)
    if shuffle:  # parents after replies, threads merged across batches
        random.Random(3).shuffle(lines)
        corpus.write_bytes(b"".join(lines))
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=61))
    posts = [orjson.loads(line) for line in lines]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Conversation.id, Conversation.subject)).all())
        convs = list(export_rows(conn))
    assert len(convs) > 100
    for conv in convs:
        assert stored[conv["id"]] in _oracle(posts, conv["posts"]), conv


# ---------------------------------------------------------------- the cut itself


def test_short_text_is_kept_whole_on_one_line() -> None:
    assert subject_of("  Lost my\tbag\n\non flight 212  ") == "Lost my bag on flight 212"
    assert subject_of(" \n\t ") is None
    assert subject_of("x" * SUBJECT_CHARS) == "x" * SUBJECT_CHARS


def test_a_long_word_is_cut_between_graphemes() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # one grapheme, five code points
    for pad in range(len(family) + 1):
        text = "a" * (SUBJECT_CHARS - 3 - pad) + family * 3
        subject = subject_of(text)
        assert subject is not None and subject.endswith("…")
        body = subject[:-1]
        tail = body[SUBJECT_CHARS - 3 - pad :]
        assert tail == family * (len(tail) // len(family)), (pad, tail)
    flags = "a" * (SUBJECT_CHARS - 2) + "\U0001f1eb\U0001f1f7" * 3  # 🇫🇷 🇫🇷 🇫🇷
    subject = subject_of(flags)
    assert subject is not None
    assert (len(subject) - 1 - (SUBJECT_CHARS - 2)) % 2 == 0


@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
    | st.text(alphabet=st.characters(codec="utf-8"), min_size=130, max_size=400)
)
def test_subjects_are_short_one_line_prefixes(text: str) -> None:
    subject = subject_of(text)
    flat = " ".join(text.split())
    if not flat:
        assert subject is None
        return
    assert subject is not None and len(subject) <= SUBJECT_CHARS
    assert "  " not in subject and "\n" not in subject
    if len(flat) <= SUBJECT_CHARS:
        assert subject == flat
        return
    body = subject[:-1]
    assert subject.endswith("…") and flat.startswith(body)
    if len(body) > 1:
        # Never a combining mark or a joined emoji split from what it belongs to.
        assert unicodedata.category(flat[len(body)]) not in ("Mn", "Mc", "Me")
        assert not body.endswith("\u200d")
