"""The desk's own admin pages, driven through HTTP as an admin would: live sources (added
sealed, paused, resumed, deleted; health, last event and last error shown, secrets never),
holidays that move the next opening, SLA targets per priority that change the inbox's
clock, agents' signatures, API tokens' last use; admins of the brand only."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from markupsafe import escape
from sqlalchemy import Engine, select

from earful.connectors import fields, webhook
from earful.connectors.base import Health
from earful.db import transaction
from earful.engagement import hours
from earful.models import AgentSignature, ApiToken, AuditEvent, Holiday, Post, SlaPolicy, Source
from earful.sources.live import write_health
from earful.sources.service import add_source, live_connectors
from tests.web.world import World, build_world, client, login

KEY = "test-secret-key-0123456789abcdef"  # the key tests.web.world's app seals with
TOKEN = "mastodon-token-never-shown-0001"


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def actions(engine: Engine) -> list[str]:
    with transaction(engine) as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.mark.parametrize(("who", "status"), [("agent", 403), ("viewer", 403), ("bob", 404)])
def test_only_the_brands_admins_reach_the_desk_pages(
    engine: Engine, world: World, who: str, status: int
) -> None:
    c = client(engine)
    csrf = login(c, who)
    slug = world.slug_a
    for url in (f"/brands/{slug}/sources", f"/brands/{slug}/service-levels"):
        assert c.get(url).status_code == status
    posts = {
        f"/brands/{slug}/sources": {"kind": "webhook", "name": "x", "set_secret": "s"},
        f"/brands/{slug}/holidays": {"day": "2026-12-25"},
        f"/brands/{slug}/sla": {"urgent": "5"},
        f"/brands/{slug}/members/{world.users['agent']}/signature": {"signature": "-hijack"},
    }
    for url, form in posts.items():
        assert c.post(url, data={"csrf_token": csrf, **form}).status_code == status
    with transaction(engine) as s:
        for model in (Source, Holiday, SlaPolicy, AgentSignature):
            assert s.scalar(select(model).limit(1)) is None


def test_an_admin_adds_pauses_resumes_and_deletes_a_source(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    slug = world.slug_a
    r = c.post(f"/brands/{slug}/sources", data={
        "csrf_token": csrf, "kind": "mastodon", "name": "acme-masto",
        "set_base_url": "https://social.example", "set_tag": "acme", "set_access_token": TOKEN,
        "set_stream": "public",  # not a field of the form: ignored
    })  # fmt: skip
    assert r.status_code == 200 and "Source acme-masto added." in r.text
    assert TOKEN not in r.text
    row = re.search(r"<tr><td>acme-masto</td>.*?</tr>", r.text, re.S)
    assert row and "mastodon" in row.group() and ">set<" in row.group() and "never" in row.group()
    with transaction(engine) as s:
        source = s.scalars(select(Source).where(Source.name == "acme-masto")).one()
        sid = source.id
        assert source.brand_id == world.brand_a
        assert TOKEN not in orjson.dumps(source.config).decode()  # sealed at rest
    heard = [name for _, name, _ in live_connectors(engine, KEY)[0]]
    assert heard == ["acme-masto"]  # what `earful run` would listen to

    r = c.post(f"/brands/{slug}/sources/{sid}", data={"csrf_token": csrf, "action": "pause"})
    assert "Source paused." in r.text and "Resume acme-masto" in r.text
    assert live_connectors(engine, KEY)[0] == []  # a paused source is not started
    r = c.post(f"/brands/{slug}/sources/{sid}", data={"csrf_token": csrf, "action": "resume"})
    assert "Source resumed." in r.text
    assert [n for _, n, _ in live_connectors(engine, KEY)[0]] == ["acme-masto"]

    # Health as a listener writes it: the failure stays as "last error" after recovery.
    write_health(engine, sid, source_health("failing", "401 from social.example"))
    write_health(engine, sid, source_health("connected", None))
    page = c.get(f"/brands/{slug}/sources").text
    assert "connected" in page and "401 from social.example" in page and TOKEN not in page

    r = c.post(f"/brands/{slug}/sources/{sid}", data={"csrf_token": csrf, "action": "delete"})
    assert "Source deleted." in r.text and "<tr><td>acme-masto</td>" not in r.text
    assert {"source.add", "source.pause", "source.resume", "source.delete"} <= set(actions(engine))


def source_health(state: str, reason: str | None) -> Health:
    return Health(state, reason)  # type: ignore[arg-type]


def test_bad_sources_are_refused_with_the_reason(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    url = f"/brands/{world.slug_a}/sources"
    r = c.post(url, data={"csrf_token": csrf, "kind": "myspace", "name": "n"})
    assert r.status_code == 400 and "unknown source kind" in r.text
    r = c.post(url, data={"csrf_token": csrf, "kind": "mastodon", "name": "n",
                          "set_base_url": "https://social.example", "set_tag": " ",
                          "set_access_token": TOKEN})  # fmt: skip
    assert r.status_code == 400 and "mastodon: Hashtag is required" in r.text
    assert TOKEN not in r.text
    with transaction(engine) as s:
        assert s.scalar(select(Source).limit(1)) is None
        other = add_source(s, kind="webhook", name="bolt-hook", brand_id=world.brand_b,
                           settings={"secret": TOKEN}, secret_key=KEY)  # fmt: skip
    # Brand B's source through brand A's page: not found, and left as it was.
    r = c.post(f"{url}/{other.id}", data={"csrf_token": csrf, "action": "pause"})
    assert r.status_code == 404 and TOKEN not in r.text
    with transaction(engine) as s:
        found = s.get(Source, other.id)
        assert found is not None and not found.paused


def test_a_paused_webhook_source_is_refused_then_heard_with_its_last_event(
    engine: Engine, world: World
) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    slug = world.slug_a
    c.post(f"/brands/{slug}/sources", data={
        "csrf_token": csrf, "kind": "webhook", "name": "acme-forum", "set_secret": "whsec-9",
    })  # fmt: skip
    with transaction(engine) as s:
        sid = s.scalars(select(Source.id).where(Source.name == "acme-forum")).one()
    c.post(f"/brands/{slug}/sources/{sid}", data={"csrf_token": csrf, "action": "pause"})
    post = {"network": "forum", "id": "f-1", "author": {"id": "u-1", "handle": "dana"},
            "text": "acme lost my bag", "created_at": "2026-11-23T13:53:20+00:00"}  # fmt: skip
    body = orjson.dumps({"posts": [post]})

    def deliver() -> int:
        ts = int(datetime.now(UTC).timestamp())
        headers = {webhook.TIMESTAMP_HEADER: str(ts),
                   webhook.SIGNATURE_HEADER: webhook.sign("whsec-9", ts, body)}  # fmt: skip
        return c.post(f"/webhooks/in/{sid}", content=body, headers=headers).status_code

    assert deliver() == 503  # the network delivers again later: nothing is lost
    with transaction(engine) as s:
        assert s.scalar(select(Post.id).where(Post.external_id == "f-1")) is None
    assert "never" in c.get(f"/brands/{slug}/sources").text
    c.post(f"/brands/{slug}/sources/{sid}", data={"csrf_token": csrf, "action": "resume"})
    assert deliver() == 202
    with transaction(engine) as s:
        source = s.get(Source, sid)
        assert source is not None and source.last_event_at is not None
    row = re.search(r"<tr><td>acme-forum</td>.*?</tr>", c.get(f"/brands/{slug}/sources").text, re.S)
    assert row and "whsec-9" not in row.group() and "<time" in row.group()


def test_a_holiday_moves_the_next_opening_and_the_promise() -> None:
    # Thursday 24 December 2026, 18:00 in Paris: closed until Friday 09:00...
    h = hours.parse("Europe/Paris", {d: [["09:00", "17:00"]] for d in hours.DAYS[:5]})
    now = datetime(2026, 12, 24, 17, 0, tzinfo=UTC)
    assert hours.next_open(h, now) == datetime(2026, 12, 25, 8, 0, tzinfo=UTC)
    # ...unless Friday is Christmas: then Monday, and the 40-minute promise with it.
    closed = hours.parse("Europe/Paris", {d: [["09:00", "17:00"]] for d in hours.DAYS[:5]},
                         [date(2026, 12, 25)])  # fmt: skip
    assert hours.next_open(closed, now) == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)
    e = hours.expect(closed, now, waiting=0, samples=[], target_minutes=40)
    assert e.answer_by == datetime(2026, 12, 28, 8, 40, tzinfo=UTC)
    # An always-staffed brand is closed on its holidays only.
    always = hours.parse("UTC", {}, [date(2026, 12, 25)])
    assert hours.is_open(always, now) and not hours.is_open(always, now + timedelta(hours=8))
    assert hours.next_open(always, now + timedelta(hours=8)) == datetime(2026, 12, 26, tzinfo=UTC)


def test_a_holiday_added_by_an_admin_closes_the_public_page_today(
    engine: Engine, world: World
) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    slug = world.slug_a
    c.post(f"/brands/{slug}/settings/public", data={"csrf_token": csrf, "published": "true"})
    assert client(engine).get(f"/s/{slug}/status.json").json()["open_now"] is True
    today = datetime.now(UTC).date()
    r = c.post(f"/brands/{slug}/holidays",
               data={"csrf_token": csrf, "day": today.isoformat(), "name": "Team day"})  # fmt: skip
    assert r.status_code == 200 and "Team day" in r.text
    status = client(engine).get(f"/s/{slug}/status.json").json()  # a fresh cache
    assert status["open_now"] is False
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    assert datetime.fromisoformat(status["back_at"]) == tomorrow
    assert datetime.fromisoformat(status["expected_first_response_by"]) > tomorrow
    r = c.post(f"/brands/{slug}/holidays/remove",
               data={"csrf_token": csrf, "day": today.isoformat()})  # fmt: skip
    assert "Team day" not in r.text
    assert client(engine).get(f"/s/{slug}/status.json").json()["open_now"] is True
    r = c.post(f"/brands/{slug}/holidays", data={"csrf_token": csrf, "day": "25/12/2026"})
    assert r.status_code == 400 and "not a date like" in r.text
    assert {"settings.holiday_add", "settings.holiday_remove"} <= set(actions(engine))


def sla_words(c: object, conv_id: int) -> str:
    r = c.get(f"/api/v1/conversations/{conv_id}")  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return str(r.json()["summary"]["sla"])


def test_sla_targets_per_priority_change_the_inbox_clock(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    slug = world.slug_a
    low, normal, high = world.convs_a  # urgency 0, 1, 2; each waiting for 30 minutes
    # No policies yet: the brand's 60 min, scaled by priority (low x2, normal, high /2).
    assert sla_words(c, low) == "due in 1 h 30 min"
    assert sla_words(c, normal) == "due in 30 min"
    assert sla_words(c, high) == "due now"
    r = c.post(f"/brands/{slug}/sla",
               data={"csrf_token": csrf, "high": "15", "low": "120", "urgent": "5"})  # fmt: skip
    assert r.status_code == 200 and "SLA targets saved." in r.text
    assert sla_words(c, high) == "overdue 15 min"
    assert sla_words(c, low) == "due in 1 h 30 min"
    assert sla_words(c, normal) == "due in 30 min"  # no target of its own: the brand's
    listed = c.get("/inbox").text
    assert "overdue 15 min" in listed and "due in 1 h 30 min" in listed
    # An empty field goes back to the brand's target, scaled (high: half of 60 min).
    c.post(f"/brands/{slug}/sla", data={"csrf_token": csrf, "high": "", "low": "120"})
    assert sla_words(c, high) == "due now"
    r = c.post(f"/brands/{slug}/sla", data={"csrf_token": csrf, "low": "0"})
    assert r.status_code == 400 and "between 1 and" in r.text
    assert sla_words(c, low) == "due in 1 h 30 min"  # nothing saved


def test_an_admin_sets_an_agents_own_signature(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    agent = world.users["agent"]
    url = f"/brands/{world.slug_a}/members/{agent}/signature"
    r = c.post(url, data={"csrf_token": csrf, "signature": "-Ag"})
    assert r.status_code == 200 and 'value="-Ag"' in r.text
    r = c.post(url, data={"csrf_token": csrf, "signature": "x" * 40})
    assert r.status_code == 400 and "at most 32" in r.text
    # Bob is a member of brand B only: not a member here.
    r = c.post(f"/brands/{world.slug_a}/members/{world.users['bob']}/signature",
               data={"csrf_token": csrf, "signature": "-B"})  # fmt: skip
    assert r.status_code == 404
    c.post(url, data={"csrf_token": csrf, "signature": ""})
    with transaction(engine) as s:
        assert s.scalar(select(AgentSignature).limit(1)) is None


def test_api_tokens_show_once_and_their_last_use(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    r = c.post("/account/tokens", data={"csrf_token": csrf, "name": "helpdesk"})
    clear = re.search(r"<code>([^<]+)</code>", r.text)
    assert clear and 'last used <span class="when">never' in r.text
    assert clear.group(1) not in c.get("/account").text  # shown once
    api = client(engine)
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {clear.group(1)}"}).is_success
    with transaction(engine) as s:
        used = s.scalars(select(ApiToken.last_used_at).where(ApiToken.name == "helpdesk")).one()
    assert used is not None
    assert "never" not in c.get("/account").text.split("helpdesk")[1].split("</li>")[0]
    tid = s_token_id(engine, "helpdesk")
    c.post(f"/account/tokens/{tid}/delete", data={"csrf_token": csrf})
    assert (
        api.get("/api/v1/me", headers={"Authorization": f"Bearer {clear.group(1)}"}).status_code
        == 401
    )
    assert {"token.create", "token.revoke"} <= set(actions(engine))


def s_token_id(engine: Engine, name: str) -> int:
    with transaction(engine) as s:
        return s.scalars(select(ApiToken.id).where(ApiToken.name == name)).one()


def test_the_admin_navigation_links_every_admin_page(engine: Engine, world: World) -> None:
    c = client(engine)
    login(c, "alice")
    slug = world.slug_a
    pages = ["settings", "queries", "sources", "service-levels", "canned"]
    for page in pages:
        html = c.get(f"/brands/{slug}/{page}").text
        nav = html.split('class="sub admin-nav"')[1].split("</nav>")[0]
        for other in [*pages, "audit", "dashboard"]:
            assert f'href="/brands/{slug}/{other}"' in nav, (page, other)
        assert 'href="/account"' in nav and 'aria-current="page"' in nav


def test_the_form_shows_each_networks_own_fields_and_adds_what_the_cli_adds(
    engine: Engine, world: World
) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    url = f"/brands/{world.slug_a}/sources"
    for kind, declared in fields.FIELDS.items():
        page = c.get(url, params={"kind": kind}).text
        assert f'name="kind" value="{kind}"' in page
        for f in declared:
            assert str(escape(f.label)) in page
            tag = re.search(rf'<(?:input|textarea) name="set_{f.name}"[^>]*>', page)
            assert tag, (kind, f.name)
            assert ('type="password"' in tag.group()) == f.secret
            assert (" required" in tag.group()) == f.required
    assert 'name="kind" value="bluesky"' in c.get(url, params={"kind": "myspace"}).text

    r = c.post(url, data={
        "csrf_token": csrf, "kind": "x", "name": "acme-x", "set_bearer_token": TOKEN,
        "set_queries": "acme\nacme air\n", "set_user_id": "",
    })  # fmt: skip
    assert r.status_code == 200 and "Source acme-x added." in r.text and TOKEN not in r.text
    with transaction(engine) as s:
        # The CLI's `earful sources add x acme-x-cli --set queries=...`: the same service.
        add_source(s, kind="x", name="acme-x-cli", brand_id=world.brand_a,
                   settings={"bearer_token": TOKEN, "queries": "acme,acme air"},
                   secret_key=KEY)  # fmt: skip
        web, cli = (s.scalars(select(Source).where(Source.name == n)).one()
                    for n in ("acme-x", "acme-x-cli"))  # fmt: skip
        assert web.config["options"] == cli.config["options"] == {"queries": ["acme", "acme air"]}
        assert TOKEN not in orjson.dumps(web.config).decode()
    built = {name: conn for _, name, conn in live_connectors(engine, KEY)[0]}
    assert built["acme-x"].rules == built["acme-x-cli"].rules  # type: ignore[attr-defined]
    assert len(built["acme-x"].rules) == 2  # type: ignore[attr-defined]

    r = c.post(url, data={"csrf_token": csrf, "kind": "x", "name": "acme-x2",
                          "set_queries": "acme", "set_bearer_token": ""})  # fmt: skip
    assert r.status_code == 400 and "x: Bearer token is required" in r.text
