"""Agents correct a post's labels: through the form and the JSON API, shown on the post,
read by the inbox at once, kept over a model's relabeling, exported and trained on."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.cli.main import app
from earful.models import AuditEvent, ConversationPost, LabelCorrection, Post
from earful.pipeline.schema import Labels
from earful.understanding.repository import LabelRepository
from tests.web.world import World, client, login


def first_post(engine: Engine, conv_id: int) -> int:
    with engine.connect() as conn:
        pid = conn.scalar(
            select(ConversationPost.post_id).where(ConversationPost.conversation_id == conv_id)
        )
    assert pid is not None
    return int(pid)


def test_an_agent_corrects_sentiment_and_the_inbox_follows(engine: Engine, world: World) -> None:
    conv = world.convs_a[0]
    post = first_post(engine, conv)
    c = client(engine)
    csrf = login(c, "agent")
    # Before: no conversation of brand A is positive.
    before = c.get("/inbox?sentiment=positive")
    assert f"/c/{conv}" not in before.text
    page = c.get(f"/c/{conv}")
    assert f'action="/c/{conv}/posts/{post}/labels"' in page.text  # the form is offered

    r = c.post(
        f"/c/{conv}/posts/{post}/labels",
        data={"field": "sentiment", "value": "positive", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/c/{conv}#post-{post}"

    page = c.get(f"/c/{conv}")
    assert re.search(r"sentiment corrected by <bdi>Agent</bdi>", page.text), page.text[-3000:]
    after = c.get("/inbox?sentiment=positive")
    assert f"/c/{conv}" in after.text  # the filter reads the corrected label at once
    api = c.get("/api/v1/conversations", params={"sentiment": "positive"})
    assert conv in [row["id"] for row in api.json()["conversations"]]

    with engine.connect() as conn:
        row = conn.execute(select(LabelCorrection)).one()
        audit = conn.execute(
            select(AuditEvent.action, AuditEvent.target).where(
                AuditEvent.action == "post.label_corrected"
            )
        ).all()
    assert (row.field, row.old_value, row.new_value) == ("sentiment", None, "positive")
    assert row.user_id == world.users["agent"]
    assert row.created_at is not None
    assert audit == [("post.label_corrected", f"post:{post}")]


def test_the_api_twin_raises_priority_with_urgency(engine: Engine, world: World) -> None:
    """The corrected urgency names a priority with a shorter SLA target: due sooner, the
    conversation goes first."""
    c = client(engine)
    admin = client(engine)
    csrf = login(admin, "alice")
    r = admin.post(f"/brands/{world.slug_a}/sla",
                   data={"csrf_token": csrf, "urgent": "5", "low": "600"})  # fmt: skip
    assert r.status_code == 200, r.text
    auth = {"Authorization": f"Bearer {world.token_a}"}
    conv = world.convs_a[0]  # urgency 0 at first: the lowest priority of brand A
    post = first_post(engine, conv)

    def order() -> list[int]:
        rows = c.get("/api/v1/conversations", headers=auth).json()["conversations"]
        return [r["id"] for r in rows if r["id"] in world.convs_a]

    assert order()[0] != conv
    r = c.post(
        f"/api/v1/conversations/{conv}/posts/{post}/labels",
        json={"field": "urgency", "value": "4"},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["field"], body["old_value"], body["new_value"]) == ("urgency", "0", "4")
    assert body["by"] == "Alice"
    assert order()[0] == conv  # priority follows the corrected urgency
    summary = c.get(f"/api/v1/conversations/{conv}", headers=auth).json()
    assert summary["summary"]["urgency"] == 4


def test_bad_corrections_are_refused_and_change_nothing(engine: Engine, world: World) -> None:
    c = client(engine)
    conv = world.convs_a[0]
    post = first_post(engine, conv)
    other_post = first_post(engine, world.convs_a[1])
    auth = {"Authorization": f"Bearer {world.token_a}"}
    url = f"/api/v1/conversations/{conv}/posts/{post}/labels"
    assert (
        c.post(url, json={"field": "sentiment", "value": "furious"}, headers=auth).status_code
        == 400
    )
    assert c.post(url, json={"field": "language", "value": "en"}, headers=auth).status_code == 422
    wrong = f"/api/v1/conversations/{conv}/posts/{other_post}/labels"
    assert c.post(wrong, json={"field": "urgency", "value": "1"}, headers=auth).status_code == 404
    # A viewer may read the conversation but not correct it.
    viewer = client(engine)
    csrf = login(viewer, "viewer")
    assert "Correct labels" not in viewer.get(f"/c/{conv}").text
    r = viewer.post(
        f"/c/{conv}/posts/{post}/labels",
        data={"field": "sentiment", "value": "positive", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(LabelCorrection)).all() == []


def test_corrections_outlive_relabeling_and_feed_training(
    engine: Engine, world: World, tmp_path: Path
) -> None:
    c = client(engine)
    auth = {"Authorization": f"Bearer {world.token_a}"}
    conv = world.convs_a[1]
    post = first_post(engine, conv)
    for field, value in (("sentiment", "negative"), ("intent", "complaint")):
        r = c.post(
            f"/api/v1/conversations/{conv}/posts/{post}/labels",
            json={"field": field, "value": value},
            headers=auth,
        )
        assert r.status_code == 201, r.text
    # A model relabels the post (as `earful reclassify` does): the agent's values stay.
    with engine.begin() as conn:
        LabelRepository(conn).store(
            [post], [Labels("positive", 0.9, "compliment", 0.8, 0, 0.0, "en")], "u9"
        )
    with engine.connect() as conn:
        got = conn.execute(select(Post.sentiment, Post.intent, Post.model_version)).all()
    assert ("negative", "complaint", "u9") in got

    out = tmp_path / "corrections.jsonl"
    result = CliRunner().invoke(
        app, ["train", "export-corrections", "--database", str(engine.url), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(d["field"], d["label"]) for d in lines} == {
        ("sentiment", "negative"),
        ("intent", "complaint"),
    }
    assert all(d["text"] == "my flight 1 was late" and d["post_id"] == post for d in lines)

    # `earful train --with-corrections` adds them to a head's training rows.
    data = tmp_path / "data"
    (data / "semeval2017-4a-train").mkdir(parents=True)
    (data / "tweeteval-sentiment").mkdir()
    rows = [
        ("positive", "love it"),
        ("positive", "great service thanks"),
        ("negative", "awful delay again"),
        ("negative", "worst flight ever"),
        ("neutral", "the gate is B12"),
        ("neutral", "flight leaves at 9"),
    ] * 3
    table = "label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in rows)
    (data / "semeval2017-4a-train" / "train.tsv").write_text(table)
    (data / "tweeteval-sentiment" / "val.tsv").write_text(table)
    heads = tmp_path / "heads"
    result = CliRunner().invoke(
        app,
        ["train", "sentiment", "--data-dir", str(data), "--out", str(heads),
         "--with-corrections", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sentiment"]["corrections_n"] == 1
    assert report["sentiment"]["train_n"] == len(rows) + 1
    assert (heads / "sentiment.npz").is_file()
