"""Reddit: polling listings over OAuth2, answering with comments and upvotes.

* Auth: ``POST https://www.reddit.com/api/v1/access_token`` with HTTP Basic
  ``client_id:client_secret`` and ``grant_type=password`` (a "script" app) or
  ``grant_type=refresh_token`` (an installed/web app). Tokens last ``expires_in`` seconds;
  we refresh a minute early, and once more when the API answers 401.
* Listen: per configured subreddit ``/r/{sub}/new`` (submissions, ``t3``) and
  ``/r/{sub}/comments`` (comments, ``t1``), and ``/r/{sub}/search?restrict_sr=1&sort=new``
  (or site-wide ``/search``) for the brand's keywords. Listings are newest first and paged
  backwards with ``after=<fullname>``.
* No gap, no duplicate: the cursor keeps, per listing, the newest fullname stored (a
  high-water mark). Each poll pages back with ``after`` until it meets an id at or below
  the mark (ids are sequential base 36 per kind), so an item deleted since (which would
  break a ``before=`` cursor) does not matter; what is new is handed over oldest first.
  An answer that is not a listing is dead-lettered and the mark stays: the next poll
  pages again. Things that cannot be posts are dead-lettered with the reason.
* Edits and deletions: listings only show new items, so the newest ``watch_size`` items
  heard are re-read each poll through ``/api/info?id=...``; a changed ``edited`` timestamp
  is an edit, a ``[deleted]`` / ``[removed]`` body (or ``removed_by_category``) a deletion.
  The watch list is part of the cursor, so it survives a restart.
* Rate limits: ``X-Ratelimit-Used / -Remaining / -Reset`` (seconds to the end of the
  window); when ``Remaining`` reaches 0 the next request sleeps until the reset.
* Act: ``POST /api/comment`` (``thing_id`` = the fullname answered, so the reply threads
  under it), ``POST /api/vote dir=1`` (like = upvote), ``POST /api/compose`` (private
  message). Reddit has no repost of a comment: :meth:`repost` raises NotSupported.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
import orjson

from earful.connectors.base import (
    ActionError,
    Actor,
    AuthError,
    Batch,
    ConnectorError,
    LiveConnector,
    NotSupported,
    Sent,
)
from earful.connectors.http import RateGate, check, request
from earful.connectors.registry import register
from earful.connectors.wire import BadRecord
from earful.pipeline.schema import PostIn, Rejected

GONE = frozenset({"[deleted]", "[removed]"})
REFRESH_EARLY_S = 60.0
FULLNAME = re.compile(r"t[13]_[0-9a-z]{1,13}")  # Reddit ids: base 36, 7 digits today


def base36(fullname: str) -> int:
    """The numeric part of a fullname (``t1_abc``): ids grow with time within a kind."""
    _, _, ident = fullname.partition("_")
    try:
        return int(ident or fullname, 36)
    except ValueError:
        return -1


def _gone_text(value: Any) -> bool:
    return isinstance(value, str) and value in GONE


def is_gone(kind: str, data: dict[str, Any]) -> bool:
    """Deleted by its author (``[deleted]``) or removed by a moderator (``[removed]``)."""
    if kind == "t1":
        return _gone_text(data.get("body"))
    if data.get("removed_by_category"):
        return True
    return _gone_text(data.get("selftext")) and data.get("author") == "[deleted]"


def _created(data: dict[str, Any]) -> datetime:
    value = data.get("created_utc")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRecord("missing created_utc")
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRecord(f"created_utc is out of range: {value!r:.40}") from None


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadRecord(f"missing {what}" if value is None else f"{what} must be a string")
    return value


def parse_thing(thing: Any, brand_user: str | None = None) -> PostIn:
    """A listing child ``{"kind": "t1"|"t3", "data": {...}}`` as a post (ids are fullnames)."""
    if not isinstance(thing, dict):
        raise BadRecord(f"thing is not an object, got {type(thing).__name__}")
    kind = thing.get("kind")
    data = thing.get("data")
    if kind not in ("t1", "t3"):
        raise BadRecord(f"not a comment or a submission: kind {str(kind)[:20]!r}")
    if not isinstance(data, dict):
        raise BadRecord(f"{kind} without data")
    name = _text(data.get("name"), "name")
    if not name.startswith(f"{kind}_"):
        raise BadRecord(f"name {name[:40]!r} does not match kind {kind}")
    if not FULLNAME.fullmatch(name):
        raise BadRecord(f"name {name[:40]!r} is not a fullname")
    author = _text(data.get("author"), "author")
    author_id = data.get("author_fullname")
    if not isinstance(author_id, str) or not author_id:
        author_id = f"u/{author}"
    reply_to = repost_of = None
    if kind == "t1":
        text = _text(data.get("body"), "body")
        parent = _text(data.get("parent_id"), "parent_id")
        if not parent.startswith(("t1_", "t3_")):
            raise BadRecord(f"parent_id {parent[:40]!r} is not a comment or a submission")
        reply_to = parent
    else:
        title = _text(data.get("title"), "title")
        body = data.get("selftext")
        text = f"{title}\n\n{body}" if isinstance(body, str) and body else title
        crosspost = data.get("crosspost_parent")
        if isinstance(crosspost, str) and crosspost.startswith("t3_"):
            repost_of = crosspost
    permalink = data.get("permalink")
    try:
        raw = orjson.dumps(thing)
    except TypeError as exc:  # an integer over 64 bits, a lone surrogate in a string
        raise BadRecord(f"{kind} cannot be stored as JSON: {exc}") from None
    return PostIn(
        network="reddit",
        external_id=name,
        author_id=author_id,
        author_handle=author,
        text=text,
        created_at=_created(data),
        url=f"https://www.reddit.com{permalink}" if isinstance(permalink, str) else None,
        reply_to=reply_to,
        repost_of=repost_of,
        raw=raw,
        author_is_brand=bool(brand_user) and author.lower() == (brand_user or "").lower(),
    )


def listing_children(doc: Any) -> tuple[list[Any], str | None]:
    """The children and the ``after`` cursor of a ``Listing``."""
    if not isinstance(doc, dict) or doc.get("kind") != "Listing":
        raise BadRecord("not a Listing")
    data = doc.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("children"), list):
        raise BadRecord("Listing without children")
    after = data.get("after")
    return data["children"], after if isinstance(after, str) and after else None


def _edited(data: dict[str, Any]) -> float:
    """The ``edited`` time (``false`` when never edited); 0.0 when it is not a finite number."""
    value = data.get("edited")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        stamp = float(value)
    except OverflowError:
        return 0.0
    return stamp if math.isfinite(stamp) else 0.0


@register
class Reddit(LiveConnector, Actor):
    name: ClassVar[str] = "reddit"
    network: ClassVar[str] = "reddit"

    def __init__(
        self,
        client_id: str,
        client_secret: str = "",
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        subreddits: Sequence[str] = (),
        query: str | None = None,
        search_in: Sequence[str] = (),
        user_agent: str = "python:earful:v0.1 (social customer service)",
        base_url: str = "https://oauth.reddit.com",
        auth_url: str = "https://www.reddit.com",
        page_size: int = 100,
        max_pages: int = 10,
        backfill_pages: int = 1,
        watch_size: int = 100,
        poll_interval: float = 30.0,
        idle_timeout: float | None = None,
        max_failures: int | None = None,
        source_key: str | None = None,
    ) -> None:
        super().__init__()
        if not refresh_token and not (username and password):
            raise ConnectorError(
                "reddit needs a refresh_token (installed/web app) or username and password"
                " (script app)"
            )
        self.subreddits = [s.removeprefix("r/").strip("/") for s in subreddits if s]
        if not self.subreddits and not query:
            raise ConnectorError("reddit needs subreddits to watch or a query to search")
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.password = password
        self.refresh_token = refresh_token
        self.query = query
        self.search_in = [s.removeprefix("r/").strip("/") for s in search_in if s]
        self.user_agent = user_agent
        self.base = base_url.rstrip("/")
        self.auth_base = auth_url.rstrip("/")
        self.page_size = page_size
        self.max_pages = max_pages
        self.backfill_pages = backfill_pages
        self.watch_size = watch_size
        self.poll_interval = poll_interval
        self.idle_timeout = idle_timeout
        self.max_failures = max_failures
        self.source_key = source_key or ",".join(self.subreddits) or (query or "")
        self.gate = RateGate()
        self.token: str | None = None
        self.token_expires = 0.0
        self.token_refreshes = 0
        self._client: httpx.AsyncClient | None = None

    @property
    def source_name(self) -> str:
        return f"reddit:{self.source_key}"

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30.0, headers={"User-Agent": self.user_agent})
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------ auth

    async def authenticate(self) -> str:
        """Get (or refresh) the bearer token; never logs it."""
        form: dict[str, str]
        if self.refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        else:
            form = {
                "grant_type": "password",
                "username": self.username or "",
                "password": self.password or "",
            }
        response = await request(
            self.client(),
            "POST",
            f"{self.auth_base}/api/v1/access_token",
            data=form,
            auth=(self.client_id, self.client_secret),
            gate=self.gate,
        )
        doc = check(response, "reddit token")
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            # Reddit answers 200 {"error": "invalid_grant"} for a bad password or token.
            error = doc.get("error") if isinstance(doc, dict) else None
            raise AuthError(f"reddit token refused: {str(error or 'no access_token')[:60]}")
        expires = doc.get("expires_in")
        lifetime = float(expires) if isinstance(expires, int | float) else 3600.0
        self.token = token
        self.token_expires = time.monotonic() + lifetime - REFRESH_EARLY_S
        self.token_refreshes += 1
        return token

    async def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.token is None or time.monotonic() >= self.token_expires:
            await self.authenticate()
        for attempt in range(2):
            response = await request(
                self.client(),
                method,
                self.base + path,
                headers={"Authorization": f"bearer {self.token}"},
                gate=self.gate,
                **kwargs,
            )
            if response.status_code == 401 and attempt == 0:
                await self.authenticate()  # expired early or revoked: one fresh token
                continue
            return check(response, path)
        raise AuthError(f"{path}: HTTP 401 after a fresh token")  # pragma: no cover

    # ------------------------------------------------------------ listen

    def listings(self) -> list[tuple[str, str, dict[str, str]]]:
        """(cursor key, path, extra params) of every listing polled."""
        out: list[tuple[str, str, dict[str, str]]] = []
        for sub in self.subreddits:
            out.append((f"{sub}:new", f"/r/{sub}/new", {}))
            out.append((f"{sub}:comments", f"/r/{sub}/comments", {}))
        if self.query:
            search = {"q": self.query, "sort": "new", "type": "link"}
            if self.search_in:
                for sub in self.search_in:
                    out.append(
                        (f"{sub}:search", f"/r/{sub}/search", {**search, "restrict_sr": "1"})
                    )
            else:
                out.append(("all:search", "/search", search))
        return out

    async def fetch_new(
        self, path: str, params: dict[str, str], mark: str | None
    ) -> tuple[list[Any], int, Rejected | None]:
        """Things newer than ``mark`` (oldest first), how many pages it took, and the page
        that was not a listing, if one was (paging stops there; what came before is kept).
        """
        mark_id = base36(mark) if mark else None
        found: list[Any] = []
        after: str | None = None
        pages = self.max_pages if mark else self.backfill_pages
        for page in range(1, pages + 1):
            query = {**params, "limit": str(self.page_size), "raw_json": "1"}
            if after:
                query["after"] = after
            doc = await self._api("GET", path, params=query)
            try:
                children, after = listing_children(doc)
            except BadRecord as exc:
                where = f"{path} after {query.get('after') or mark}"
                return found[::-1], page, Rejected(where, f"{path}: {exc}", _raw(doc))
            reached = False
            for child in children:
                name = _fullname(child)
                if mark_id is not None and name is not None and base36(name) <= mark_id:
                    reached = True
                    break
                found.append(child)
            if reached or after is None:
                return found[::-1], page, None
        return found[::-1], pages, None

    async def session(self, cursor: str | None) -> AsyncIterator[Batch]:
        state: dict[str, Any] = orjson.loads(cursor) if cursor else {}
        marks: dict[str, str] = dict(state.get("hw") or {})
        watch: dict[str, float] = dict(state.get("watch") or {})
        quiet_since = time.monotonic()
        while True:
            heard = False
            async for batch in self.poll(marks, watch):
                # Dead letters alone are no activity: an answer that stays broken must not
                # keep a bounded run (idle_timeout) polling forever.
                heard = heard or bool(batch.posts or batch.edited or batch.deleted)
                yield batch
            if heard:
                quiet_since = time.monotonic()
            elif self.idle_timeout is not None and (
                time.monotonic() - quiet_since >= self.idle_timeout
            ):
                return
            await asyncio.sleep(self.poll_interval)

    async def poll(self, marks: dict[str, str], watch: dict[str, float]) -> AsyncIterator[Batch]:
        """One round over the listings and the watched items; moves ``marks`` and ``watch``.

        A listing whose paging met a page that is not a listing hands over what it found
        and the bad page as a dead letter, but keeps its mark: the next poll pages again.
        """
        for key, path, params in self.listings():
            things, _, bad_page = await self.fetch_new(path, params, marks.get(key))
            if not things and bad_page is None:
                continue
            batch = self._batch(things, key, watch)
            if bad_page is not None:
                batch.rejected.append(bad_page)
            else:
                names = (_fullname(t) for t in things)
                newest = max((n for n in names if n), key=base36, default=None)
                if newest is not None and (key not in marks or base36(newest) > base36(marks[key])):
                    marks[key] = newest
            batch.cursor = _cursor(marks, watch)
            yield batch
        batch = await self._recheck(watch)
        if batch.deleted or batch.edited or batch.rejected:
            batch.cursor = _cursor(marks, watch)
            yield batch

    def _batch(self, things: list[Any], key: str, watch: dict[str, float]) -> Batch:
        batch = Batch(posts=[])
        newest_at: float | None = None
        for i, thing in enumerate(things):
            data = thing.get("data") if isinstance(thing, dict) else None
            kind = thing.get("kind") if isinstance(thing, dict) else None
            if isinstance(data, dict) and kind in ("t1", "t3") and is_gone(kind, data):
                name = _fullname(thing)
                if name is None:
                    why = f"deleted {kind} without a valid name"
                    batch.rejected.append(Rejected(f"{key}:{i}", why, _raw(thing)))
                else:
                    batch.deleted.append(("reddit", name))
                continue
            try:
                post = parse_thing(thing, self.username)
            except BadRecord as exc:
                batch.rejected.append(Rejected(f"{key}:{i}", str(exc), _raw(thing)))
                continue
            batch.posts.append(post)
            watch[post.external_id] = _edited(thing["data"])
            stamp = post.created_at.timestamp()
            newest_at = stamp if newest_at is None else max(newest_at, stamp)
        while len(watch) > self.watch_size:
            del watch[min(watch, key=base36)]  # keep the newest
        if newest_at is not None:
            batch.lag_s = max(0.0, time.time() - newest_at)
        return batch

    async def _recheck(self, watch: dict[str, float]) -> Batch:
        """Re-read the watched items: new ``edited`` stamps are edits, gone bodies deletions."""
        batch = Batch(posts=[])
        names = list(watch)
        for start in range(0, len(names), 100):
            chunk = names[start : start + 100]
            doc = await self._api("GET", "/api/info", params={"id": ",".join(chunk)})
            try:
                children, _ = listing_children(doc)
            except BadRecord as exc:  # the next poll asks again
                where = f"/api/info {chunk[0]}.."
                batch.rejected.append(Rejected(where, f"/api/info: {exc}", _raw(doc)))
                continue
            for thing in children:
                if not _named(thing):
                    continue
                data = thing["data"]
                name = data["name"]
                if name not in watch:
                    continue
                if is_gone(str(thing.get("kind")), data):
                    batch.deleted.append(("reddit", name))
                    del watch[name]
                    continue
                stamp = _edited(data)
                if stamp > watch[name]:
                    try:
                        batch.edited.append(parse_thing(thing, self.username))
                    except BadRecord as exc:
                        batch.rejected.append(Rejected(f"edit {name}", str(exc), _raw(thing)))
                    watch[name] = stamp
        return batch

    # ------------------------------------------------------------ act

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        if not target.startswith(("t1_", "t3_")):
            raise ActionError(f"{target[:40]!r} is not a reddit comment or submission fullname")
        doc = await self._api(
            "POST",
            "/api/comment",
            data={"api_type": "json", "thing_id": target, "text": text},
        )
        things = _json_things(doc, "/api/comment")
        if not things:
            raise ActionError("/api/comment: no comment in the answer")
        data = things[0].get("data") or {}
        permalink = data.get("permalink")
        return Sent(
            str(data.get("name") or f"t1_{data.get('id')}"),
            f"https://www.reddit.com{permalink}" if isinstance(permalink, str) else None,
        )

    async def like(self, target: str) -> Sent:
        await self._api("POST", "/api/vote", data={"id": target, "dir": "1"})
        return Sent(None)

    async def repost(self, target: str) -> Sent:
        raise NotSupported("reddit has no repost of a comment; crossposting is not supported")

    async def direct_message(self, recipient: str, text: str) -> Sent:
        to = recipient.removeprefix("u/").removeprefix("/u/")
        doc = await self._api(
            "POST",
            "/api/compose",
            data={"api_type": "json", "to": to, "subject": "About your post", "text": text},
        )
        _json_things(doc, "/api/compose")
        return Sent(None)


def _json_things(doc: Any, what: str) -> list[dict[str, Any]]:
    """``{"json": {"errors": [[code, message, field]], "data": {"things": [...]}}}``."""
    body = doc.get("json") if isinstance(doc, dict) else None
    if not isinstance(body, dict):
        return []
    errors = body.get("errors") or []
    if errors:
        first = errors[0]
        code = first[0] if isinstance(first, list) and first else first
        status = 429 if code == "RATELIMIT" else 400
        raise ActionError(f"{what}: reddit refused: {str(code)[:40]}", status)
    things = (body.get("data") or {}).get("things") or []
    return [t for t in things if isinstance(t, dict)]


def _fullname(thing: Any) -> str | None:
    """The thing's name when it is a well-formed comment or submission fullname.

    Only those move a listing's high-water mark: a garbled name (``t1_zzzzzzzzzzzzzzzz``)
    would put the mark past every real id, and nothing newer would ever be read.
    """
    name = thing["data"]["name"] if _named(thing) else None
    return name if name is not None and FULLNAME.fullmatch(name) else None


def _named(thing: Any) -> bool:
    return (
        isinstance(thing, dict)
        and isinstance(thing.get("data"), dict)
        and isinstance(thing["data"].get("name"), str)
    )


def _cursor(marks: dict[str, str], watch: dict[str, float]) -> str:
    return orjson.dumps({"hw": marks, "watch": watch}).decode()


def _raw(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:
        return repr(doc).encode()
