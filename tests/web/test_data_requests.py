"""The admins' data requests in the browser: the erasure page (what goes, a typed
confirmation, admins of every brand concerned only, audited), one customer's JSON, and the
brand's conversations streamed as JSON Lines and CSV (also `earful brands export`)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.cli.main import app
from earful.db import transaction
from earful.models import AuditEvent, Conversation, Identity
from tests.web.world import World, client, login


def customer_of(engine: Engine, conv_id: int) -> int:
    with transaction(engine) as s:
        found = s.scalar(select(Conversation.identity_id).where(Conversation.id == conv_id))
        assert found is not None
        return found


def actions(engine: Engine, brand_id: int) -> list[tuple[str, str]]:
    with transaction(engine) as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.actor)
            .where(AuditEvent.brand_id == brand_id)
            .order_by(AuditEvent.id)
        )
        return [(a, b) for a, b in rows]


def erase_url(w: World, identity_id: int) -> str:
    return f"/brands/{w.slug_a}/customers/{identity_id}/erase"


def test_an_admin_sees_what_goes_types_the_handle_and_erases(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    who = customer_of(engine, world.convs_a[0])
    page = c.get(erase_url(world, who))
    assert page.status_code == 200
    assert "anna0" in page.text and "1 posts and 1 conversations" in page.text
    assert f"/customers/{who}/export.json" in page.text
    assert 'name="csrf_token"' in page.text
    # The conversation page links admins to it.
    assert erase_url(world, who) in c.get(f"/c/{world.convs_a[0]}").text

    wrong = c.post(erase_url(world, who), data={"confirm": "anna1", "csrf_token": csrf})
    assert wrong.status_code == 400 and "type anna0 to confirm" in wrong.text
    no_csrf = c.post(erase_url(world, who), data={"confirm": "anna0"})
    assert no_csrf.status_code == 403
    with transaction(engine) as s:
        assert s.get(Identity, who) is not None  # nothing erased yet

    done = c.post(
        erase_url(world, who),
        data={"confirm": "@Anna0", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("/audit")
    with transaction(engine) as s:
        assert s.get(Identity, who) is None
        assert s.get(Conversation, world.convs_a[0]) is None
        assert s.get(Conversation, world.convs_a[1]) is not None
    assert ("customer.erase", "alice@example.org") in actions(engine, world.brand_a)
    assert c.get(erase_url(world, who)).status_code == 404  # gone: a clear 404


@pytest.mark.parametrize("who", ["agent", "viewer"])
def test_only_admins_reach_the_data_requests(engine: Engine, world: World, who: str) -> None:
    c = client(engine)
    csrf = login(c, who)
    ident = customer_of(engine, world.convs_a[0])
    assert c.get(erase_url(world, ident)).status_code == 403
    post = c.post(erase_url(world, ident), data={"confirm": "anna0", "csrf_token": csrf})
    assert post.status_code == 403
    assert c.get(f"/brands/{world.slug_a}/customers/{ident}/export.json").status_code == 403
    assert c.get(f"/brands/{world.slug_a}/export.jsonl").status_code == 403
    with transaction(engine) as s:
        assert s.get(Identity, ident) is not None


def test_unknown_or_other_brands_customer_is_a_404(engine: Engine, world: World) -> None:
    c = client(engine)
    login(c, "alice")
    assert c.get(erase_url(world, 999_999)).status_code == 404
    theirs = customer_of(engine, world.convs_b[0])
    assert c.get(erase_url(world, theirs)).status_code == 404


def test_a_customers_json_export_is_audited(engine: Engine, world: World) -> None:
    c = client(engine)
    login(c, "alice")
    who = customer_of(engine, world.convs_a[2])
    r = c.get(f"/brands/{world.slug_a}/customers/{who}/export.json")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    data = orjson.loads(r.content)
    assert [a["handle"] for a in data["accounts"]] == ["anna2"]
    assert ("customer.export", "alice@example.org") in actions(engine, world.brand_a)


def read_jsonl(c: TestClient, url: str) -> list[dict[str, object]]:
    r = c.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    return [orjson.loads(line) for line in r.content.splitlines()]


def test_the_brand_export_streams_jsonl_and_csv(engine: Engine, world: World) -> None:
    c = client(engine)
    login(c, "alice")
    convs = read_jsonl(c, f"/brands/{world.slug_a}/export.jsonl")
    assert [conv["id"] for conv in convs] == sorted(world.convs_a)
    first = convs[0]["posts"]
    assert isinstance(first, list) and first[0]["text"] == "my flight 0 was late"
    r = c.get(f"/brands/{world.slug_a}/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 3 and {row["customer"] for row in rows} == {"anna0", "anna1", "anna2"}
    assert c.get(f"/brands/{world.slug_a}/export.xml").status_code == 404
    assert ("brand.export", "alice@example.org") in actions(engine, world.brand_a)


def test_the_cli_exports_a_brand_with_a_progress_bar(
    engine: Engine, world: World, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EARFUL_DATABASE_URL", db_url)
    runner = CliRunner()
    out = tmp_path / "acme.csv"
    done = runner.invoke(app, ["brands", "export", "acme", "--format", "csv", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "exported 3 conversations of acme as csv" in done.output
    assert len(list(csv.DictReader(out.open()))) == 3
    jsonl = runner.invoke(app, ["brands", "export", "acme"])
    assert len([ln for ln in jsonl.stdout.splitlines() if ln.startswith("{")]) == 3
    bad = runner.invoke(app, ["brands", "export", "acme", "--format", "xml"])
    assert bad.exit_code == 2 and "jsonl or csv" in bad.output
    missing = runner.invoke(app, ["brands", "export", "nope"])
    assert missing.exit_code == 2 and re.search("no brand 'nope'", missing.output)
