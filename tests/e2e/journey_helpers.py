"""What the journeys stand on: a desk served as `earful serve` runs it, Chromium, and the
networks' fakes, with the production code between them.

Nothing here writes a row the pipeline, the web app or the outbound worker would write:
brands, people and sources are set up through their services (as an admin does with the
CLI); posts arrive from a fake network through the source's own connector (built from its
sealed settings) and the pipeline; replies and likes leave through the outbound worker
with the brand's own source acting (``actors.resolver``). Reads are fine: a journey finds
the conversation a post was threaded into to know which row to look at.
"""

from __future__ import annotations

import asyncio
import html
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from earful.auth.service import create_user
from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.db import transaction
from earful.engagement.worker import OutboundWorker, Sender, Summary
from earful.models import Conversation, ConversationPost, Post, Role
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.sources import actors, live
from earful.sources.service import add_source, build_connector, get_source
from earful.web.app import create_app
from earful.web.server import Server, config
from tests.e2e.test_browser import ARGS, CHROMIUM, _need_browser
from tests.protocol.fake_bluesky import FakeBluesky
from tests.protocol.fake_mastodon import FakeMastodon

T = TypeVar("T")
SECRET = "journey-secret-key-0123456789abcdef"  # the app's key: sessions and sealed sources
PASSWORD = "correct horse battery"
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT_MS = 15_000  # a generous wait for what must happen; the 1 s budget is measured apart

# How a listening source is run in a journey: until its stream is quiet (as `--once`).
QUIET = {"idle_timeout": 0.5, "batch_wait_s": 0.05, "max_failures": 3}


# ------------------------------------------------------------------ set-up (services)


def brand(
    engine: Engine,
    slug: str,
    name: str,
    keywords: list[str] | None = None,
    handles: dict[str, list[str]] | None = None,
) -> int:
    with transaction(engine) as s:
        return create_brand(s, slug, name, keywords or [], handles or {}).id


def person(engine: Engine, email: str, name: str, brands: dict[int, Role]) -> None:
    with transaction(engine) as s:
        create_user(s, email, name, PASSWORD, brands)


def source(engine: Engine, brand_id: int, kind: str, settings: dict[str, Any]) -> int:
    """A source as `earful sources add` stores it: its secrets sealed with the app's key."""
    with transaction(engine) as s:
        return add_source(
            s,
            kind=kind,
            name=f"{kind}:{brand_id}",
            brand_id=brand_id,
            settings=settings,
            secret_key=SECRET,
        ).id


# ------------------------------------------------------------------ the served desk


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(engine: Engine, port: int | None = None) -> Iterator[str]:
    """The web app as `earful serve` runs it (its live tail on): yields its base URL.
    Served again on the same ``port``, it is the same app restarted (as by a deploy)."""
    app = create_app(engine, secret_key=SECRET)
    port = port or _free_port()
    server = Server(config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the app did not start"
    try:
        # localhost: a secure context, so Chromium keeps the Secure session cookie.
        yield f"http://localhost:{port}"
    finally:
        server.handle_exit(signal.SIGTERM, None)  # ends the open event streams
        thread.join(timeout=15)
        assert not thread.is_alive(), "the server did not stop"


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright; outside CI a missing one skips, under CI fails."""
    sync_playwright = _need_browser()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(browser: Any, base: str, email: str) -> Any:
    """A fresh browser context logged in through the form; the page is on the inbox."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/inbox")
    return page


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"journey-{name}.png"), full_page=True)


# ------------------------------------------------------------------ the production path


def elsewhere(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in a thread of its own, as another process (`earful sources run`,
    `earful outbound run`) would: Playwright's sync API holds an event loop on this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn, *args).result(timeout=120)


@dataclass
class Heard:
    summary: IngestSummary
    stored_at: list[float] = field(default_factory=list)  # wall clock after each commit


def hear(engine: Engine, source_id: int, pipeline: Pipeline) -> Heard:
    """Run the source's connector, built from its sealed settings, until its stream is
    quiet (as `earful sources run --once`, sooner): each batch through the pipeline and
    committed with its cursor. Records when each batch with new posts was stored."""
    return elsewhere(_hear, engine, source_id, pipeline)


def _hear(engine: Engine, source_id: int, pipeline: Pipeline) -> Heard:
    with Session(engine) as s:
        connector = build_connector(get_source(s, source_id), SECRET, **QUIET)
    stamps: list[float] = []

    def stored(batch: Batch, result: IngestSummary) -> None:
        if result.ingested:
            stamps.append(time.time())

    summary = live.run(engine, connector, source_id, pipeline, on_batch=stored)
    return Heard(summary, stamps)


def worker(engine: Engine, senders: dict[str, Sender] | None = None) -> OutboundWorker:
    """The outbound worker as `earful outbound run` builds it: the brand's own sources act."""
    return OutboundWorker(engine, actors=actors.resolver(engine, SECRET), senders=senders or {})


def drain(engine: Engine, senders: dict[str, Sender] | None = None) -> Summary:
    """Send what is due until nothing is; then another worker finds nothing left."""
    first = elsewhere(asyncio.run, worker(engine, senders).drain(idle_s=0.0))
    again = elsewhere(asyncio.run, worker(engine, senders).drain(idle_s=0.0))
    assert again.claimed == 0, f"a second round found more to send: {again}"
    return first


def conversation_of(engine: Engine, network: str, external_id: str) -> int:
    """The conversation the pipeline threaded this network post into (a read)."""
    with transaction(engine) as s:
        conv_id = s.scalar(
            select(Conversation.id)
            .join(ConversationPost, ConversationPost.conversation_id == Conversation.id)
            .join(Post, Post.id == ConversationPost.post_id)
            .where(Post.network == network, Post.external_id == external_id)
        )
    assert conv_id is not None, f"the pipeline did not thread {external_id}"
    return int(conv_id)


# ------------------------------------------------------------------ what the page shows


WATCH_ROWS = """() => {
  window.__rowSeen = window.__rowSeen || {};
  const note = () => document.querySelectorAll("tr.row[data-id]").forEach((r) => {
    if (!(r.dataset.id in window.__rowSeen)) window.__rowSeen[r.dataset.id] = Date.now();
  });
  note();
  new MutationObserver(note).observe(document.body, {childList: true, subtree: true});
}"""


def watch_rows(page: Any) -> None:
    """Note the wall-clock moment each inbox row first appears in the page's DOM."""
    page.evaluate(WATCH_ROWS)


def row_seen_at(page: Any, conv_id: int) -> float:
    seen = page.evaluate(f"window.__rowSeen[{str(conv_id)!r}]")
    assert seen is not None, f"row {conv_id} was never seen"
    return float(seen) / 1000.0


def row(page: Any, conv_id: int) -> Any:
    return page.locator(f'tr.row[data-id="{conv_id}"]')


def select_row(page: Any, conv_id: int) -> None:
    """Click the row (not its link): the keyboard shortcuts act on the selected row."""
    row(page, conv_id).locator("td.sla").click()
    page.locator(f'tr.row.selected[data-id="{conv_id}"]').wait_for()


def outsider_sees_none(
    browser: Any,
    base: str,
    email: str,
    conv_ids: list[int],
    texts: list[str],
    alert_ids: tuple[int, ...] = (),
) -> Any:
    """Another brand's agent, logged in: no row, no text, and 404 on every URL."""
    page = login(browser, base, email)
    inbox = page.locator("table.conversations").inner_text()
    for text in texts:
        assert text not in inbox
    assert page.locator("tr.row").count() == 0
    for conv_id in conv_ids:
        assert page.goto(f"{base}/c/{conv_id}").status == 404
        assert page.locator(".error-page h1").inner_text() == "404"
        for text in texts:
            assert text not in page.content()
        assert page.goto(f"{base}/c/{conv_id}/engage").status == 404
        assert page.request.get(f"{base}/api/v1/conversations/{conv_id}").status == 404
    for alert_id in alert_ids:
        assert page.goto(f"{base}/alerts/{alert_id}").status == 404
        assert page.locator(".error-page h1").inner_text() == "404"
        assert page.request.get(f"{base}/api/v1/alerts/{alert_id}").status == 404
    page.goto(f"{base}/inbox?status=all")
    assert page.locator("tr.row").count() == 0
    for text in texts:  # nor does a search for the words of the posts find them
        word = max(re.findall(r"[a-z]{4,}", text.lower()), key=len)
        page.goto(f"{base}/inbox?status=all&q={word}")
        assert page.locator("tr.row").count() == 0
    return page


# ------------------------------------------------------------------ networks a customer uses


def plain(content: str) -> str:
    """A Mastodon status's HTML content as text."""
    return html.unescape(re.sub(r"<[^>]+>", "", content))


class Bluesky:
    """Jetstream + the brand's PDS, and a customer who posts on it."""

    kind = "bluesky"
    customer = "did:plc:travellertravellertrav"

    def __init__(self) -> None:
        self.fake = FakeBluesky(events=[])
        self.host = ""

    @property
    def handles(self) -> dict[str, list[str]]:
        return {"bluesky": [self.fake.did, self.fake.handle]}

    def settings(self) -> dict[str, Any]:
        return {
            "jetstream_url": f"ws://{self.host}/subscribe",
            "pds_url": f"http://{self.host}",
            "identifier": self.fake.handle,
            "password": self.fake.password,
        }

    def post(self, text: str, reply_to: str | None = None) -> str:
        return self.fake.publish(self.customer, text, reply_to)

    def acts(self) -> list[str]:
        return [c for c in self.fake.calls if c == "com.atproto.repo.createRecord"]

    def replies(self) -> list[tuple[str, str, str]]:
        """(our post's id, its text, the post it answers) of each reply the brand posted."""
        return [
            (uri, rec["value"]["text"], rec["value"]["reply"]["parent"]["uri"])
            for uri, rec in self.fake.records.items()
            if uri.startswith(f"at://{self.fake.did}/app.bsky.feed.post/")
        ]


class Mastodon:
    """A Mastodon server (the hashtag stream, REST), and a customer who posts on it."""

    kind = "mastodon"

    def __init__(self) -> None:
        self.fake = FakeMastodon(script=[])
        self.host = ""

    @property
    def handles(self) -> dict[str, list[str]]:
        return {"mastodon": ["acme"]}

    def settings(self) -> dict[str, Any]:
        return {
            "base_url": f"http://{self.host}",
            "access_token": self.fake.token,
            "tag": "acmeair",
        }

    def post(self, text: str, reply_to: str | None = None) -> str:
        parent = reply_to.rpartition("/")[2] if reply_to else None
        return f"{self.host}/{self.fake.publish(text, in_reply_to_id=parent)['id']}"

    def acts(self) -> list[str]:
        return [r for r in self.fake.requests if r == "POST /api/v1/statuses"]

    def replies(self) -> list[tuple[str, str, str]]:
        return [
            (f"{self.host}/{sid}", plain(st["content"]), f"{self.host}/{st['in_reply_to_id']}")
            for sid, st in self.fake.statuses.items()
            if st["account"]["id"] == "999" and st["in_reply_to_id"]
        ]
