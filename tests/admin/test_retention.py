"""The retention form on a brand's admin pages, driven as an admin would: it sets and
clears the window the CLI sets (`earful retention show` sees it), shows the last run with
its counts once `earful retention run` has applied it, refuses bad input with a clear
message, is audited with the admin's address, and is closed to everyone but the brand's
admins."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.cli.main import app
from earful.db import transaction
from earful.models import AuditEvent, Conversation, RetentionPolicy
from tests.web.world import World, add_conversation, build_world, client, login

FORTY_DAYS = 40 * 24 * 60  # minutes


@pytest.fixture
def world(engine: Engine) -> World:
    w = build_world(engine)
    with transaction(engine) as s:  # a complaint heard 40 days ago, through the pipeline
        w.convs_a.append(
            add_conversation(s, w.brand_a, 9, "lost bag in May", "old", minutes_ago=FORTY_DAYS)
        )
    return w


def policy(engine: Engine) -> tuple[str, int] | None:
    with transaction(engine) as s:
        row = s.scalar(select(RetentionPolicy))
        return (row.mode, row.days) if row else None


def audited(engine: Engine) -> list[tuple[str, str, str | None, dict[str, object]]]:
    with transaction(engine) as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("retention.%")).order_by(AuditEvent.id)
        )
        return [(e.action, e.actor, e.address, dict(e.details or {})) for e in rows]


def test_an_admin_sets_runs_and_clears_the_window(
    engine: Engine, world: World, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    url = f"/brands/{world.slug_a}/retention"
    page = c.get(url)
    assert page.status_code == 200
    assert "Kept for good" in page.text and "never" in page.text
    assert f'href="{url}" aria-current="page"' in page.text  # in the admin navigation

    r = c.post(url, data={"csrf_token": csrf, "days": "30", "mode": "delete"})
    assert r.status_code == 200
    assert "Conversations quiet for over 30 days are deleted." in r.text
    assert policy(engine) == ("delete", 30)
    monkeypatch.setenv("EARFUL_DATABASE_URL", db_url)
    runner = CliRunner()
    shown = runner.invoke(app, ["retention", "show"])
    assert "delete" in shown.output and "30" in shown.output  # the CLI's window

    done = runner.invoke(app, ["retention", "run"])
    assert "acme: delete 1 conversations, 1 posts" in done.output, done.output
    with transaction(engine) as s:
        assert s.get(Conversation, world.convs_a[-1]) is None
        assert s.get(Conversation, world.convs_a[0]) is not None
    page = c.get(url).text
    assert "Last run" in page and "1 conversations, 1 posts, 1 accounts" in page

    r = c.post(url, data={"csrf_token": csrf, "days": "90", "mode": "anonymise"})
    assert "over 90 days are anonymised" in r.text and policy(engine) == ("anonymise", 90)
    r = c.post(f"{url}/clear", data={"csrf_token": csrf})
    assert r.status_code == 200 and "kept for good" in r.text and policy(engine) is None

    assert [(a, who, where) for a, who, where, _ in audited(engine)] == [
        ("retention.set", "alice@example.org", "testclient"),
        ("retention.run", "cli", None),
        ("retention.set", "alice@example.org", "testclient"),
        ("retention.clear", "alice@example.org", "testclient"),
    ]
    assert audited(engine)[0][3] == {"mode": "delete", "days": 30}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"days": "a year", "mode": "delete"}, "whole number"),
        ({"days": "0", "mode": "delete"}, "between 1 and"),
        ({"days": "30", "mode": "shred"}, "must be one of delete, anonymise"),
        ({"mode": "delete"}, "whole number"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    engine: Engine, world: World, form: dict[str, str], message: str
) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    r = c.post(f"/brands/{world.slug_a}/retention", data={"csrf_token": csrf, **form})
    assert r.status_code == 400 and message in r.text
    assert policy(engine) is None and audited(engine) == []


def test_clearing_a_window_never_set_says_so(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    r = c.post(f"/brands/{world.slug_a}/retention/clear", data={"csrf_token": csrf})
    assert r.status_code == 404 and "keeps everything already" in r.text


@pytest.mark.parametrize(("who", "status"), [("agent", 403), ("viewer", 403), ("bob", 404)])
def test_only_the_brands_admins_reach_the_retention_form(
    engine: Engine, world: World, who: str, status: int
) -> None:
    c = client(engine)
    csrf = login(c, who)
    url = f"/brands/{world.slug_a}/retention"
    assert c.get(url).status_code == status
    r = c.post(url, data={"csrf_token": csrf, "days": "1", "mode": "delete"})
    assert r.status_code == status
    assert c.post(f"{url}/clear", data={"csrf_token": csrf}).status_code == status
    assert policy(engine) is None and audited(engine) == []


def test_the_form_needs_its_csrf_token(engine: Engine, world: World) -> None:
    c = client(engine)
    login(c, "alice")
    url = f"/brands/{world.slug_a}/retention"
    assert c.post(url, data={"days": "1", "mode": "delete"}).status_code == 403
    assert c.post(url, data={"csrf_token": "forged", "days": "1"}).status_code == 403
    assert policy(engine) is None
