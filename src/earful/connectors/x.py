"""X (Twitter) API v2: the filtered stream, recent search, and replies / likes / reposts.

* Rules: each of the brand's listening queries becomes one filtered-stream rule where X's
  syntax can say it (words, "phrases", #hashtags, @mentions, AND by juxtaposition, OR,
  NOT as ``-``, ``lang:``, ``from:``, ``is:reply`` / ``is:quote`` / ``is:retweet``). What X
  cannot say (proximity ``NEAR/n`` and ``"..."~n``, prefixes ``word*``, typo matching
  ``word~``) is refused with :class:`RuleError`, naming the query and the column. Rules
  are tagged ``earful:<source>`` and synced on each connection through
  ``POST /2/tweets/search/stream/rules`` (``add`` / ``delete``).
* Listen: ``GET /2/tweets/search/stream`` (newline-delimited JSON, ``\\r\\n``
  keep-alives every 20 s), ``data`` + ``includes.users`` + ``matching_rules``. Each
  (re)connection opens the stream first, then fills the gap through
  ``GET /2/tweets/search/recent`` with ``since_id`` = the newest id stored (paged with
  ``next_token``); the pipeline's idempotency drops the overlap.
* Reconnect as X asks: right away after a connection that worked drops; network errors
  back off linearly (250 ms steps, up to 16 s); HTTP errors exponentially (5 s, doubling,
  up to 320 s); 429 exponentially from one minute (or ``x-rate-limit-reset`` when later).
  No byte for ``keepalive_s`` (20 s + margin) is a stalled stream: reconnect.
* Payload: ``referenced_tweets`` ``replied_to`` / ``quoted`` / ``retweeted`` become
  reply_to / quote_of / repost_of; an edit (``edit_history_tweet_ids`` longer than one)
  replaces the text of the first version; compliance-shaped ``{"data": {"delete": ...}}``
  lines mark the post deleted.
* Deletions (Enterprise access): with ``compliance_partitions``, the Post compliance
  stream ``GET /2/tweets/compliance/stream?partition=N`` (X splits its events over four
  partitions) is read beside the filtered stream, into the same batches: ``delete``
  marks the post deleted; ``tweet_edit`` (it has no text), ``withheld``, ``drop`` and
  ``undrop`` count as skipped. Each connection asks for ``backfill_minutes`` (up to 5)
  of replay, so a shorter drop loses no deletion (marking twice is harmless). The
  partitions are opened before the filtered stream, so one that refuses or times out
  never costs lines X already sent on it. A partition that drops reconnects the
  filtered stream too, whose catch-up fills its side. A deletion heard before its post
  is stored is not kept.
* Act (OAuth 2.0 user token): ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``,
  ``POST /2/users/:id/likes``, ``POST /2/users/:id/retweets``, direct messages through
  ``POST /2/dm_conversations/with/:participant_id/messages``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
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
    PostKey,
    Retry,
    Sent,
)
from earful.connectors.batching import cancel, frame_batches
from earful.connectors.http import MAX_WAIT_S, RateGate, check, describe, request, reset_in
from earful.connectors.registry import register
from earful.connectors.wire import BadRecord, parse_time
from earful.listening.parser import QuerySyntaxError, parse
from earful.listening.query import And, Filter, Near, Node, Not, Proximity, Term
from earful.pipeline.schema import PostIn, Rejected

MAX_ID = 2**63 - 1  # X ids are 64-bit snowflakes
MAX_RULE_LENGTH = 512  # Essential/Basic access; Pro allows 1024
TWEET_FIELDS = (
    "created_at,author_id,lang,conversation_id,referenced_tweets,edit_history_tweet_ids,"
    "note_tweet,in_reply_to_user_id"
)
EXPANSIONS = "author_id"
USER_FIELDS = "username,name"
STREAM = "/2/tweets/search/stream"
COMPLIANCE_STREAM = "/2/tweets/compliance/stream"


class RuleError(ConnectorError):
    """A listening query that X's rule syntax cannot express."""


# ------------------------------------------------------------------ rules


def x_rule(query: str, max_length: int = MAX_RULE_LENGTH) -> str:
    """Our listening query as an X filtered-stream rule, or :class:`RuleError` saying why."""
    try:
        root = parse(query).root
    except QuerySyntaxError as exc:
        raise RuleError(f"query {query!r}: {exc}") from None
    if not _standalone(root):
        raise RuleError(
            f"query {query!r}: X needs at least one word, phrase, @mention or #hashtag"
            " that is not negated"
        )
    rule = _rule(root, query, top=True)
    if len(rule) > max_length:
        raise RuleError(f"query {query!r}: the X rule is {len(rule)} characters (max {max_length})")
    return rule


def _refuse(query: str, column: int, what: str) -> RuleError:
    return RuleError(f"query {query!r}, column {column}: X rules cannot express {what}")


def _term(term: Term, query: str) -> str:
    if term.prefix:
        raise _refuse(query, term.column, f"a prefix ({term.text}); list the words instead")
    if term.fuzzy:
        raise _refuse(query, term.column, f"typo matching ({term.text}); list the spellings")
    spellings = [term.tokens, *term.variants]
    out = []
    for tokens in spellings:
        if any('"' in t for t in tokens):
            raise _refuse(query, term.column, "a quote inside a phrase")
        out.append(f'"{" ".join(tokens)}"' if len(tokens) > 1 else tokens[0])
    return out[0] if len(out) == 1 else "(" + " OR ".join(out) + ")"


def _rule(node: Node, query: str, top: bool = False) -> str:
    if isinstance(node, Term):
        return _term(node, query)
    if isinstance(node, Near):
        raise _refuse(query, node.column, f"proximity (NEAR/{node.distance})")
    if isinstance(node, Proximity):
        raise _refuse(query, node.column, f"proximity ({node.text})")
    if isinstance(node, Filter):
        value = node.value.lstrip("@")
        if node.field == "lang":
            return f"lang:{value}"
        if node.field == "author":
            return f"from:{value}"
        if node.field == "is" and value in ("reply", "quote", "retweet", "repost"):
            return "is:retweet" if value == "repost" else f"is:{value}"
        if node.field == "network" and value in ("x", "twitter"):
            return ""  # always true here
        raise _refuse(query, node.column, f"the filter {node.field}:{node.value}")
    if isinstance(node, Not):
        inner = _rule(node.child, query)
        return f"-({inner})" if isinstance(node.child, And) else f"-{inner}"
    parts = [p for p in (_rule(c, query) for c in node.children) if p]
    if isinstance(node, And):
        return " ".join(parts)  # an Or child or spelling variants come back grouped
    joined = " OR ".join(parts)
    return joined if top else f"({joined})"


def _standalone(node: Node) -> bool:
    """X refuses rules made only of negations and conjunction-required operators."""
    if isinstance(node, Term):
        return True
    if isinstance(node, Filter):
        return node.field == "author"  # from: is standalone; lang:, is: are not
    if isinstance(node, Near | Proximity | Not):
        return isinstance(node, Near | Proximity)
    if isinstance(node, And):
        return any(_standalone(c) for c in node.children)
    return all(_standalone(c) for c in node.children)


# ------------------------------------------------------------------ payload


def _ident(value: Any, what: str) -> str:
    """An id as X writes them: ASCII digits of a positive 64-bit integer (a snowflake).

    Anything else would end up in ``since_id``, and X answers 400 to the next catch-up.
    """
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise BadRecord(f"missing {what}")
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        raise BadRecord(f"{what} is not a numeric id: {text[:30]!r}")
    if len(text) > 19 or int(text) > MAX_ID:
        raise BadRecord(f"{what} is out of the 64-bit id range: {text[:30]!r}")
    return text


def _label(value: Any) -> str | None:
    """An optional string we can store: None when absent or not UTF-8 (a lone surrogate)."""
    if not isinstance(value, str):
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        return None
    return value


def parse_tweet(
    tweet: Any, users: dict[str, Any], raw: bytes, brand_id: str | None = None
) -> PostIn:
    """A v2 Tweet object (with ``includes.users`` by id) as a post."""
    if not isinstance(tweet, dict):
        raise BadRecord(f"tweet is not an object, got {type(tweet).__name__}")
    tweet_id = _ident(tweet.get("id"), "id")
    author = _ident(tweet.get("author_id"), "author_id")
    note = tweet.get("note_tweet")
    text = note.get("text") if isinstance(note, dict) else None
    if not isinstance(text, str):
        text = tweet.get("text")
    if not isinstance(text, str):
        raise BadRecord("missing text")
    reply_to = quote_of = repost_of = None
    refs = tweet.get("referenced_tweets") or []
    if not isinstance(refs, list):
        raise BadRecord("referenced_tweets is not a list")
    for ref in refs:
        if not isinstance(ref, dict):
            raise BadRecord("a referenced tweet is not an object")
        kind = ref.get("type")
        ref_id = _ident(ref.get("id"), "referenced_tweets.id")
        if kind == "replied_to":
            reply_to = ref_id
        elif kind == "quoted":
            quote_of = ref_id
        elif kind == "retweeted":
            repost_of = ref_id
    user = users.get(author) or {}
    handle = _label(user.get("username"))
    name = _label(user.get("name"))
    lang = tweet.get("lang")
    return PostIn(
        network="x",
        external_id=tweet_id,
        author_id=author,
        author_handle=handle,
        author_name=name,
        text=text,
        created_at=parse_time(tweet.get("created_at")),
        language=lang if isinstance(lang, str) and lang not in ("und", "qme", "zxx") else None,
        url=f"https://x.com/{handle or 'i'}/status/{tweet_id}",
        reply_to=reply_to,
        quote_of=quote_of,
        repost_of=repost_of,
        raw=raw,
        author_is_brand=brand_id is not None and author == brand_id,
    )


def _users(doc: dict[str, Any]) -> dict[str, Any]:
    includes = doc.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    if not isinstance(users, list):
        return {}
    return {str(u.get("id")): u for u in users if isinstance(u, dict)}


XEvent = tuple[str, Any]  # ("post" | "edit" | "delete" | "error" | "skip", payload)
# Compliance events heard and let be: an edit brings no text (the edited post comes
# through the filtered stream or recent search when it matches); drop / undrop and
# withheld are about visibility, which we do not model.
COMPLIANCE_SKIPPED = frozenset({"tweet_edit", "withheld", "drop", "undrop"})


def tweet_event(tweet: Any, users: dict[str, Any], raw: bytes, brand_id: str | None) -> XEvent:
    post = parse_tweet(tweet, users, raw, brand_id)
    history = tweet.get("edit_history_tweet_ids") if isinstance(tweet, dict) else None
    if isinstance(history, list) and len(history) > 1 and str(history[0]) != post.external_id:
        first = _ident(history[0], "edit_history_tweet_ids[0]")
        return "edit", post._replace(external_id=first)
    return "post", post


def parse_stream_line(raw: bytes, brand_id: str | None = None) -> XEvent:
    """One line of the filtered stream (keep-alives are filtered out before)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRecord(f"expected a JSON object, got {type(doc).__name__}")
    data = doc.get("data")
    if data is None and isinstance(doc.get("errors"), list):
        first = doc["errors"][0] if doc["errors"] else {}
        title = first.get("title") if isinstance(first, dict) else None
        return "error", str(title or "stream error")[:100]
    if not isinstance(data, dict):
        raise BadRecord("line without data")
    if "delete" in data:  # compliance shape: {"delete": {"tweet": {"id": ...}}}
        gone = data["delete"]
        tweet = gone.get("tweet") if isinstance(gone, dict) else None
        if not isinstance(tweet, dict):
            raise BadRecord("delete without a tweet")
        key: PostKey = ("x", _ident(tweet.get("id"), "delete.tweet.id"))
        return "delete", key
    if len(data) == 1 and next(iter(data)) in COMPLIANCE_SKIPPED:
        return "skip", next(iter(data))
    return tweet_event(data, _users(doc), raw, brand_id)


# ------------------------------------------------------------------ connector


class _Reconnect:
    """X's reconnect rules, with scales tests can shrink."""

    def __init__(self, network_step: float, http_start: float, limit_start: float) -> None:
        self.network_step = network_step
        self.http_start = http_start
        self.limit_start = limit_start
        self.network = self.http = self.limited = 0

    def reset(self) -> None:
        self.network = self.http = self.limited = 0

    def network_error(self) -> float:
        self.network += 1
        return min(16.0 * self.network_step / 0.25, self.network_step * self.network)

    def http_error(self) -> float:
        delay = min(self.http_start * 64, self.http_start * 2.0**self.http)
        self.http += 1
        return delay

    def rate_limited(self, response: httpx.Response) -> float:
        delay: float = self.limit_start * 2.0**self.limited
        self.limited += 1
        header = reset_in(response.headers)
        return min(MAX_WAIT_S, max(delay, header or 0.0))


@register
class X(LiveConnector, Actor):
    name: ClassVar[str] = "x"
    network: ClassVar[str] = "x"

    def __init__(
        self,
        bearer_token: str,
        queries: Sequence[str] = (),
        rules: Sequence[str] = (),
        user_token: str | None = None,
        user_id: str | None = None,
        base_url: str = "https://api.x.com",
        backfill: bool = True,
        catch_up_pages: int = 10,
        batch_size: int = 200,
        batch_wait_s: float = 0.5,
        keepalive_s: float = 30.0,
        network_step_s: float = 0.25,
        http_error_s: float = 5.0,
        rate_limit_s: float = 60.0,
        compliance_partitions: Sequence[int] = (),
        compliance_backfill_min: int = 5,
        idle_timeout: float | None = None,
        max_failures: int | None = None,
        source_key: str | None = None,
    ) -> None:
        super().__init__()
        self.rules = [*rules, *(x_rule(q) for q in queries)]
        if not self.rules:
            raise ConnectorError("x needs listening queries (or raw rules) to filter the stream")
        odd = [p for p in compliance_partitions if p not in (1, 2, 3, 4)]
        if odd:
            raise ConnectorError(f"x compliance partitions are 1 to 4, not {odd[0]!r}")
        if not 0 <= compliance_backfill_min <= 5:
            raise ConnectorError("x compliance backfill is 0 to 5 minutes")
        self.compliance_partitions = list(dict.fromkeys(compliance_partitions))
        self.compliance_backfill_min = compliance_backfill_min
        self.bearer = bearer_token
        self.user_token = user_token
        self.user_id = user_id
        self.base = base_url.rstrip("/")
        self.backfill = backfill
        self.catch_up_pages = catch_up_pages
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.keepalive_s = keepalive_s
        self.idle_timeout = idle_timeout
        self.max_failures = max_failures
        self.source_key = source_key or "x"
        self.tag = f"earful:{self.source_key}"
        self.reconnect = _Reconnect(network_step_s, http_error_s, rate_limit_s)
        self.gate = RateGate()
        self._client: httpx.AsyncClient | None = None

    @property
    def source_name(self) -> str:
        return f"x:{self.source_key}"

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30.0)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _app(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"}

    async def _call(self, method: str, path: str, user: bool = False, **kw: Any) -> Any:
        token = self.user_token if user else self.bearer
        return await call(self.client(), self.gate, self.base, token, method, path, **kw)

    # ------------------------------------------------------------ rules

    async def sync_rules(self) -> None:
        """Make the stream's rules tagged as ours exactly :attr:`rules`."""
        doc = await self._call("GET", "/2/tweets/search/stream/rules")
        current = [r for r in (doc.get("data") or []) if r.get("tag") == self.tag]
        have = {r["value"]: r["id"] for r in current}
        stale = [rid for value, rid in have.items() if value not in self.rules]
        missing = [value for value in self.rules if value not in have]
        if stale:
            await self._call(
                "POST", "/2/tweets/search/stream/rules", json={"delete": {"ids": stale}}
            )
        if missing:
            answer = await self._call(
                "POST",
                "/2/tweets/search/stream/rules",
                json={"add": [{"value": v, "tag": self.tag} for v in missing]},
            )
            errors = answer.get("errors") or []
            if errors:
                first = errors[0]
                details = "; ".join(str(d) for d in (first.get("details") or []))[:200]
                raise RuleError(f"X refused the rule {first.get('value')!r}: {details}")

    # ------------------------------------------------------------ listen

    def _query(self) -> str:
        return " OR ".join(f"({r})" for r in self.rules) if len(self.rules) > 1 else self.rules[0]

    async def catch_up(self, since_id: str | None) -> list[Any]:
        """Recent-search pages newer than ``since_id`` (decoded, as X sent them)."""
        params: dict[str, Any] = {
            "query": self._query(),
            "max_results": 100,
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS,
        }
        if since_id:
            params["since_id"] = since_id
        pages: list[Any] = []
        for _ in range(self.catch_up_pages if since_id else 1):
            doc = await self._call("GET", "/2/tweets/search/recent", params=params)
            if not isinstance(doc, dict):
                pages.append(doc)  # refused with a reason by take_page
                break
            if doc.get("data"):
                pages.append(doc)
            meta = doc.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not isinstance(token, str) or not token:
                break
            params["next_token"] = token
        return pages

    async def _open(
        self, stack: contextlib.AsyncExitStack, path: str, params: dict[str, str]
    ) -> httpx.Response:
        """Connect to a stream; ``stack`` closes the connection (also when refused)."""
        what = "compliance stream" if path == COMPLIANCE_STREAM else "stream"
        timeout = httpx.Timeout(10.0, read=self.keepalive_s)
        try:
            response = await stack.enter_async_context(
                self.client().stream(
                    "GET", self.base + path, params=params, headers=self._app(), timeout=timeout
                )
            )
        except httpx.TransportError as exc:
            delay = self.reconnect.network_error()
            raise Retry(f"cannot connect to the {what}: {type(exc).__name__}", delay) from None
        status = response.status_code
        if status == 200:
            return response
        await response.aread()
        if status in (401, 403):
            raise AuthError(f"{what} refused the token: {describe(response)}")
        if status == 429:
            raise Retry(f"{what}: {describe(response)}", self.reconnect.rate_limited(response))
        raise Retry(f"{what}: {describe(response)}", self.reconnect.http_error())

    async def _streams(self, stack: contextlib.AsyncExitStack) -> AsyncGenerator[bytes, None]:
        """The filtered stream's lines, merged with those of the compliance partitions.

        The partitions open first and the filtered stream last, right before reading: X
        sends on the filtered stream as soon as it is open, and a partition that then
        refuses or times out would end the connection with those lines unread. With no
        ``since_id`` yet (a new source without backfill) no catch-up finds those posts,
        and none ever finds the deletions among them. A partition's lines lost that way
        cost nothing: the next connection's ``backfill_minutes`` replays them.
        """
        # X replays up to five minutes of compliance events on request; a deletion heard
        # twice is marked once, so every connection asks for them.
        backfill = self.compliance_backfill_min
        more = [
            _lines(
                await self._open(
                    stack,
                    COMPLIANCE_STREAM,
                    {
                        "partition": str(p),
                        **({"backfill_minutes": str(backfill)} if backfill else {}),
                    },
                )
            )
            for p in self.compliance_partitions
        ]
        fields = {
            "tweet.fields": TWEET_FIELDS,
            "expansions": EXPANSIONS,
            "user.fields": USER_FIELDS,
        }
        lines = _lines(await self._open(stack, STREAM, fields))
        return _merge([lines, *more]) if more else lines

    async def session(self, cursor: str | None) -> AsyncIterator[Batch]:
        state = orjson.loads(cursor) if cursor else {}
        newest: str | None = state.get("since_id")
        try:
            await self.sync_rules()
        except Retry as exc:
            raise Retry(exc.reason, self.reconnect.http_error()) from None
        async with contextlib.AsyncExitStack() as stack:
            lines = await self._streams(stack)
            first = asyncio.ensure_future(anext(lines))
            await asyncio.sleep(0)
            try:
                if newest or self.backfill:
                    backlog = Batch(posts=[])
                    for page in await self.catch_up(newest):
                        newest = self.take_page(backlog, page, newest)
                    backlog.cursor = _cursor(newest)
                    if backlog.posts or backlog.edited or backlog.rejected:
                        yield backlog
            except Retry as exc:
                await cancel(first)
                await lines.aclose()
                raise Retry(exc.reason, self.reconnect.http_error()) from None
            except BaseException:
                await cancel(first)
                await lines.aclose()
                raise
            self.reconnect.reset()  # a working connection: the next drop reconnects at once
            async with contextlib.aclosing(self._batches(first, lines, newest)) as batches:
                async for batch in batches:
                    yield batch

    def take_page(self, batch: Batch, doc: Any, newest: str | None) -> str | None:
        """A recent-search page into ``batch`` (oldest first); returns the newest id."""
        where = f"recent after {newest}"
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            why = "page is not an object" if not isinstance(doc, dict) else "data is not a list"
            batch.rejected.append(Rejected(where, why, _raw(doc)))
            return newest
        users = _users(doc)
        for tweet in reversed(data):
            try:
                raw = _dump(tweet)
                what, item = tweet_event(tweet, users, raw, self.user_id)
            except BadRecord as exc:
                batch.rejected.append(Rejected(where, str(exc), _raw(tweet)))
                continue
            (batch.posts if what == "post" else batch.edited).append(item)
            newest = _newer(newest, str(tweet["id"]))
        return newest

    async def _batches(
        self, first: asyncio.Future[bytes], lines: AsyncIterator[bytes], newest: str | None
    ) -> AsyncGenerator[Batch, None]:
        cursor = _cursor(newest)
        bad = 0
        chunks = frame_batches(
            lines,
            first=first,
            size=self.batch_size,
            wait_s=self.batch_wait_s,
            idle_timeout=self.idle_timeout,
            end_delay=0.0,  # reconnect at once
        )
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                batch = Batch(posts=[], cursor=cursor)
                for line in chunk:
                    try:
                        what, item = parse_stream_line(line, self.user_id)
                    except BadRecord as exc:
                        bad += 1
                        where = f"line {bad} after {newest}"
                        batch.rejected.append(Rejected(where, str(exc), line))
                        continue
                    if what == "post":
                        batch.posts.append(item)
                        newest = _newer(newest, item.external_id)
                        batch.cursor = cursor = _cursor(newest)
                    elif what == "edit":
                        batch.edited.append(item)
                        newest = _newer(newest, str(orjson.loads(line)["data"]["id"]))
                        batch.cursor = cursor = _cursor(newest)
                    elif what == "delete":
                        batch.deleted.append(item)
                    elif what == "skip":
                        batch.skipped += 1
                    elif what == "error":
                        yield batch
                        raise Retry(f"stream error: {item}", 0.0)
                yield batch

    # ------------------------------------------------------------ act

    def _me(self) -> str:
        if not self.user_id:
            raise ActionError("x: likes and reposts need the brand account's user_id")
        return self.user_id

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        doc = await self._call(
            "POST",
            "/2/tweets",
            user=True,
            json={"text": text, "reply": {"in_reply_to_tweet_id": target}},
        )
        new_id = str((doc.get("data") or {}).get("id"))
        return Sent(new_id, f"https://x.com/i/status/{new_id}")

    async def like(self, target: str) -> Sent:
        await self._call(
            "POST", f"/2/users/{self._me()}/likes", user=True, json={"tweet_id": target}
        )
        return Sent(None)

    async def repost(self, target: str) -> Sent:
        await self._call(
            "POST", f"/2/users/{self._me()}/retweets", user=True, json={"tweet_id": target}
        )
        return Sent(None)

    async def direct_message(self, recipient: str, text: str) -> Sent:
        return await send_direct_message(
            self.client(), self.gate, self.base, self.user_token, recipient, text
        )


async def call(
    client: httpx.AsyncClient,
    gate: RateGate,
    base: str,
    token: str | None,
    method: str,
    path: str,
    **kw: Any,
) -> Any:
    """One X API request with a bearer token (429 and 5xx waited out by ``request``)."""
    if not token:
        raise AuthError("x: acting needs a user_token (OAuth 2.0 user context)")
    response = await request(
        client, method, base + path, gate=gate, headers={"Authorization": f"Bearer {token}"}, **kw
    )
    return check(response, path)


async def send_direct_message(
    client: httpx.AsyncClient,
    gate: RateGate,
    base: str,
    user_token: str | None,
    recipient: str,
    text: str,
) -> Sent:
    """``POST /2/dm_conversations/with/:participant_id/messages`` (the one-to-one DM)."""
    path = f"/2/dm_conversations/with/{recipient}/messages"
    doc = await call(client, gate, base, user_token, "POST", path, json={"text": text})
    return Sent(str((doc.get("data") or {}).get("dm_event_id")))


async def _lines(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """Non-empty lines of the stream; keep-alive newlines only keep the read timer alive."""
    buffer = b""
    try:
        async for chunk in response.aiter_bytes():
            buffer += chunk
            *complete, buffer = buffer.split(b"\n")
            for line in complete:
                line = line.strip()
                if line:
                    yield line
    except httpx.ReadTimeout:
        raise Retry("no data or keep-alive for too long", 0.0) from None
    except httpx.TransportError as exc:
        raise Retry(f"stream connection lost: {type(exc).__name__}", 0.0) from None


async def _merge(streams: list[AsyncIterator[bytes]]) -> AsyncGenerator[bytes, None]:
    """The lines of several streams as they come; the first to fail or end ends all.

    One task per stream feeds a bounded queue (a slow consumer slows the readers down,
    as with one stream); closing this generator cancels the tasks and closes the streams.
    """
    queue: asyncio.Queue[bytes | Exception] = asyncio.Queue(maxsize=1000)

    async def pump(stream: AsyncIterator[bytes]) -> None:
        try:
            async for line in stream:
                await queue.put(line)
            await queue.put(Retry("stream ended", 0.0))
        except Exception as exc:  # handed on to the reader, raised there
            await queue.put(exc)

    tasks = [asyncio.ensure_future(pump(stream)) for stream in streams]
    try:
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        for task in tasks:
            await cancel(task)
        for stream in streams:
            if isinstance(stream, AsyncGenerator):
                await stream.aclose()


def _dump(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError as exc:  # an integer over 64 bits, a lone surrogate in a string
        raise BadRecord(f"cannot be stored as JSON: {exc}") from None


def _raw(doc: Any) -> bytes:
    """Bytes for a dead letter, whatever ``doc`` holds."""
    try:
        return orjson.dumps(doc)
    except TypeError:
        return repr(doc).encode()


def _newer(a: str | None, b: str) -> str:
    return b if a is None or (len(b), b) > (len(a), a) else a


def _cursor(newest: str | None) -> str | None:
    return orjson.dumps({"since_id": newest}).decode() if newest else None
