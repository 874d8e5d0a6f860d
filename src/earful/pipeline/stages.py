"""The five pipeline stages. Each is a pure function over a batch.

Stages that need to know what is already stored (thread, route) receive a snapshot of it
(:class:`ThreadIndex`) loaded by the runner beforehand and return a plan that the store
applies; they never touch the database themselves.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from earful.models.conversation import ConversationStatus
from earful.pipeline.schema import (
    EMPTY_LABELS,
    Classified,
    Labels,
    Matched,
    PostIn,
    Rejected,
)

MAX_TEXT_CHARS = 40_000  # far above any network's limit; longer is a broken payload
MAX_ID_CHARS = 200  # post, author and linked post ids; handles too (the columns' width)
MAX_NAME_CHARS = 300  # a display name is cut to it, not refused: it only labels the author
MAX_LANGUAGE_CHARS = 16  # a longer language tag is no tag: the detector decides
SUBJECT_CHARS = 140  # a conversation's title in the inbox (the column holds 200)

# Zero-width and bidi control characters that hide text or break matching; ZWJ (U+200D)
# is kept because emoji sequences need it.
_INVISIBLE = re.compile("[\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# ---------------------------------------------------------------- normalize


def normalize(posts: Sequence[PostIn]) -> tuple[list[PostIn], list[Rejected]]:
    """Validate and clean posts: NFC text, no control characters, UTC times, sane sizes."""
    good: list[PostIn] = []
    bad: list[Rejected] = []
    for post in posts:
        problem = _problem(post)
        if problem:
            bad.append(
                Rejected(position=post.external_id[:100], reason=problem, raw=post.raw or b"")
            )
            continue
        text = post.text
        if not text.isascii():
            text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
        if _CONTROL.search(text):
            text = _CONTROL.sub(" ", text)
        created = post.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        elif created.utcoffset():
            created = created.astimezone(UTC)
        handle = post.author_handle.lstrip("@") if post.author_handle else None
        if text is not post.text or created is not post.created_at or handle != post.author_handle:
            post = post._replace(text=text, created_at=created, author_handle=handle)
        if (post.author_name and len(post.author_name) > MAX_NAME_CHARS) or (
            post.language and len(post.language) > MAX_LANGUAGE_CHARS
        ):
            post = _trimmed(post)
        good.append(post)
    return good, bad


def _problem(post: PostIn) -> str | None:
    if not post.external_id or not post.external_id.strip():
        return "missing post id"
    if len(post.external_id) > MAX_ID_CHARS:
        return f"post id longer than {MAX_ID_CHARS} characters"
    if not post.author_id:
        return "missing author id"
    if len(post.text) > MAX_TEXT_CHARS:
        return f"text longer than {MAX_TEXT_CHARS} characters ({len(post.text)})"
    # Each would overflow its column: PostgreSQL would refuse the whole batch.
    for what, value in (
        ("author id", post.author_id),
        ("author handle", post.author_handle),
        ("reply-to id", post.reply_to),
        ("quoted post id", post.quote_of),
        ("reposted post id", post.repost_of),
    ):
        if value and len(value) > MAX_ID_CHARS:
            return f"{what} longer than {MAX_ID_CHARS} characters ({len(value)})"
    return None


def _trimmed(post: PostIn) -> PostIn:
    """An over-long display name cut to fit; an over-long language tag dropped."""
    name = post.author_name
    if name and len(name) > MAX_NAME_CHARS:
        name = name[: MAX_NAME_CHARS - 1] + "…"
    language = post.language
    if language and len(language) > MAX_LANGUAGE_CHARS:
        language = None
    return post._replace(author_name=name, language=language)


# ---------------------------------------------------------------- subject


def subject_of(text: str, limit: int = SUBJECT_CHARS) -> str | None:
    """A conversation's title from its first customer post: the text on one line (runs
    of whitespace collapsed), at most ``limit`` characters.

    Longer text is cut at the last space when one falls in the second half of the limit,
    else between two graphemes, and ends with "…". Text that is only whitespace gives None.
    """
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        flat = text  # the usual case, tested at half the cost: no space but single ones
    else:
        flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat or None
    cut = limit - 1  # room for the ellipsis
    space = flat.rfind(" ", 0, cut + 1)
    if space >= limit // 2:
        cut = space
    else:
        while cut > 1 and _inside_grapheme(flat, cut):
            cut -= 1
    body = flat[:cut].rstrip()
    return (body.rstrip(",;:-") or body) + "…"


_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """``ch`` belongs to the grapheme before it: a combining mark, a variation selector,
    a zero-width joiner, an emoji skin-tone modifier or an emoji tag character."""
    code = ord(ch)
    return (
        ch == _ZWJ
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or unicodedata.category(ch) in ("Mn", "Mc", "Me")
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _inside_grapheme(text: str, at: int) -> bool:
    """Cutting ``text`` before index ``at`` would split a grapheme (an accented letter, an
    emoji sequence joined by ZWJ, a flag's pair of regional indicators)."""
    if _extends(text[at]) or text[at - 1] == _ZWJ:
        return True
    if _regional(text[at]) and _regional(text[at - 1]):
        run = 0  # regional indicators pair up from the start of their run
        while at - run - 1 >= 0 and _regional(text[at - run - 1]):
            run += 1
        return run % 2 == 1
    return False


# ---------------------------------------------------------------- match


class Matcher(Protocol):
    """Finds the brands a post is about. The listening engine implements this."""

    def match(self, posts: Sequence[PostIn]) -> list[frozenset[int]]: ...


@dataclass(frozen=True, slots=True)
class BrandAccounts:
    """The brands' own accounts: {(network, lower-case handle or id): brand id}."""

    owners: dict[tuple[str, str], int] = field(default_factory=dict)

    def owner_of(self, post: PostIn) -> int | None:
        key_id = (post.network, post.author_id.lower())
        if key_id in self.owners:
            return self.owners[key_id]
        if post.author_handle:
            return self.owners.get((post.network, post.author_handle.lower()))
        return None


def match(
    posts: Sequence[PostIn],
    matcher: Matcher,
    accounts: BrandAccounts,
    source_brand: int | None = None,
) -> list[Matched]:
    """Attach the brands each post concerns.

    A brand's own posts belong to that brand; every post of a source bound to a brand
    (``ingest --brand``) belongs to it too.
    """
    hits = matcher.match(posts)
    bound = frozenset((source_brand,)) if source_brand is not None else frozenset()
    out: list[Matched] = []
    for post, brands in zip(posts, hits, strict=True):
        owner = accounts.owner_of(post)
        if owner is None and post.author_is_brand and source_brand is not None:
            owner = source_brand
        own = frozenset((owner,)) if owner is not None else frozenset()
        out.append(Matched(post=post, brand_ids=brands | own | bound, own_brand_ids=own))
    return out


def follow_threads(batch: Sequence[Matched], index: ThreadIndex) -> list[Matched]:
    """Give a post the brands of the thread it belongs to, keyword or not.

    "still broken!!" in reply to a complaint concerns the brand even without its name;
    a parent that arrives after a matched reply concerns the reply's brands too.
    """
    brands: dict[PostKey, frozenset[int]] = {
        (m.post.network, m.post.external_id): m.brand_ids for m in batch
    }
    for key, convs in index.parent_convs.items():
        brands[key] = brands.get(key, frozenset()) | frozenset(convs)
    for key, children in index.child_convs.items():
        brands[key] = brands.get(key, frozenset()) | frozenset(b for b, _ in children)
    edges = [
        ((m.post.network, m.post.external_id), (m.post.network, m.post.reply_to))
        for m in batch
        if m.post.reply_to
    ]
    changed = True
    while changed:  # a fixed point: at most one pass per level of nesting in the batch
        changed = False
        for child, parent in edges:
            union = brands[child] | brands.get(parent, frozenset())
            if union != brands[child]:
                brands[child] = union
                changed = True
            if union != brands.get(parent, frozenset()):
                brands[parent] = union
                changed = True
    out: list[Matched] = []
    for m in batch:
        found = brands[(m.post.network, m.post.external_id)]
        out.append(m if found == m.brand_ids else m._replace(brand_ids=found))
    return out


# ---------------------------------------------------------------- classify


class Classifier(Protocol):
    """Labels texts in a batch. The understanding package implements this."""

    version: str

    def classify(self, texts: Sequence[str]) -> list[Labels]: ...


class NullClassifier:
    """Leaves every label empty (used when no model is installed)."""

    version = "none"

    def classify(self, texts: Sequence[str]) -> list[Labels]:
        return [EMPTY_LABELS] * len(texts)


def classify(batch: Sequence[Matched], classifier: Classifier) -> list[Classified]:
    """Label the posts that concern a brand; firehose noise is never classified."""
    wanted = [m for m in batch if m.brand_ids]
    labels = classifier.classify([m.post.text for m in wanted]) if wanted else []
    return [
        Classified(
            post=m.post,
            brand_ids=m.brand_ids,
            own_brand_ids=m.own_brand_ids,
            labels=lab,
            model_version=classifier.version,
        )
        for m, lab in zip(wanted, labels, strict=True)
    ]


# ---------------------------------------------------------------- thread

PostKey = tuple[str, str]  # (network, external id)
# Existing conversations are their database ids (> 0); new ones get -1, -2, ... in order.
ConvKey = int


@dataclass(slots=True)
class ThreadIndex:
    """What the store already knows that threading this batch depends on."""

    # Stored posts referenced by the batch as parents: their conversation per brand.
    parent_convs: dict[PostKey, dict[int, ConvKey]] = field(default_factory=dict)
    # Stored posts that reply to a post of the batch (they arrived first): (brand, conv).
    child_convs: dict[PostKey, list[tuple[int, ConvKey]]] = field(default_factory=dict)
    # Open conversations per (brand, network, author id).
    open_convs: dict[tuple[int, str, str], ConvKey] = field(default_factory=dict)
    # Current status and time of the newest post of every existing conversation named above.
    statuses: dict[ConvKey, ConversationStatus] = field(default_factory=dict)
    last_post_at: dict[ConvKey, datetime] = field(default_factory=dict)


@dataclass(slots=True)
class NewConversation:
    key: ConvKey
    brand_id: int
    network: str
    author_id: str
    first_post: PostKey
    # The earliest customer post's text as a title (None: only the brand has spoken yet).
    subject: str | None = None


@dataclass(slots=True)
class ThreadPlan:
    new_conversations: list[NewConversation]
    # (post, conversation) memberships, with merged keys already resolved.
    members: list[tuple[PostKey, ConvKey]]
    # Existing conversations folded into another one: (from id, into id).
    merges: list[tuple[ConvKey, ConvKey]]


def link_keys(posts: Sequence[PostIn]) -> tuple[set[PostKey], set[PostKey]]:
    """What the runner must look up to follow threads: the batch's parents and itself."""
    selves = {(p.network, p.external_id) for p in posts}
    parents = {(p.network, p.reply_to) for p in posts if p.reply_to}
    return parents - selves, selves


def customer_keys(batch: Sequence[Classified]) -> set[tuple[int, str, str]]:
    """(brand, network, author) of each customer post: their open conversations matter."""
    return {
        (brand, c.post.network, c.post.author_id)
        for c in batch
        for brand in c.brand_ids - c.own_brand_ids
    }


def thread(batch: Sequence[Classified], index: ThreadIndex) -> ThreadPlan:
    """Put each post in its brands' conversations.

    A reply joins the conversation of the post it answers, whichever arrives first (a parent
    that arrives after its children joins theirs, and two threads that turn out to be one
    are merged into the older). A customer's new post joins their open conversation with
    the brand; otherwise it starts a new one. A brand's own post starts one only when it
    answers a post not seen yet (the customer is then filled in when that post arrives).
    """
    alias: dict[ConvKey, ConvKey] = {}

    def find(key: ConvKey) -> ConvKey:
        while key in alias:
            key = alias[key]
        return key

    def rank(key: ConvKey) -> tuple[int, int]:
        return (0, key) if key > 0 else (1, -key)

    def union(keys: Iterable[ConvKey]) -> ConvKey:
        roots = sorted({find(k) for k in keys}, key=rank)
        for other in roots[1:]:
            alias[other] = roots[0]
        return roots[0]

    post_convs: dict[PostKey, dict[int, ConvKey]] = dict(index.parent_convs)
    waiting: dict[PostKey, list[tuple[int, ConvKey]]] = {
        k: list(v) for k, v in index.child_convs.items()
    }
    open_convs = dict(index.open_convs)
    new: list[NewConversation] = []
    members: list[tuple[PostKey, ConvKey]] = []
    said: list[PostIn | None] = []  # per membership: the post when a customer wrote it

    for c in batch:
        p = c.post
        me: PostKey = (p.network, p.external_id)
        parent: PostKey | None = (p.network, p.reply_to) if p.reply_to else None
        by_brand: dict[int, list[ConvKey]] = {}
        if parent is not None:
            for brand, conv in post_convs.get(parent, {}).items():
                by_brand.setdefault(brand, []).append(conv)
        for brand, conv in waiting.pop(me, []):
            by_brand.setdefault(brand, []).append(conv)
        mine: dict[int, ConvKey] = {}
        for brand in sorted(c.brand_ids | by_brand.keys()):
            found = by_brand.get(brand)
            own = brand in c.own_brand_ids
            if found:
                conv = union(found)
            elif not own and (brand, p.network, p.author_id) in open_convs:
                conv = find(open_convs[(brand, p.network, p.author_id)])
            elif own and parent is None:
                continue  # the brand talking on its own starts no conversation
            else:
                conv = -(len(new) + 1)
                new.append(NewConversation(conv, brand, p.network, p.author_id, me))
            if not own:
                open_convs[(brand, p.network, p.author_id)] = conv
            mine[brand] = conv
            members.append((me, conv))
            said.append(None if c.own_brand_ids else p)
        post_convs[me] = mine
        if parent is not None and parent not in post_convs:
            # The parent has not arrived yet: when it does, it joins these conversations.
            waiting.setdefault(parent, []).extend(mine.items())

    resolved = [(post, find(conv)) for post, conv in members]
    merges = sorted((k, find(k)) for k in alias if k > 0)
    kept_new = [n for n in new if find(n.key) == n.key]
    # A new conversation holds only posts of this batch: its subject is known here (the
    # store recomputes stored conversations' subjects, since older posts may join them).
    first: dict[ConvKey, PostIn] = {}
    for (_, conv), customer_post in zip(resolved, said, strict=True):
        if conv < 0 and customer_post is not None:
            best = first.get(conv)
            if best is None or customer_post.created_at < best.created_at:
                first[conv] = customer_post
    for n in kept_new:
        if n.key in first:
            n.subject = subject_of(first[n.key].text)
    return ThreadPlan(
        new_conversations=kept_new, members=list(dict.fromkeys(resolved)), merges=merges
    )


# ---------------------------------------------------------------- route


@dataclass(slots=True)
class RoutePlan:
    """Where the batch lands: each touched conversation's status, and one event per post."""

    # Each new conversation's status, and each stored one's whose status changes.
    statuses: dict[ConvKey, ConversationStatus]
    events: list[tuple[int, ConvKey, PostKey]]  # (brand, conversation, post) for live views


def route(
    batch: Sequence[Classified], plan: ThreadPlan, index: ThreadIndex, brand_of: dict[ConvKey, int]
) -> RoutePlan:
    """Decide each conversation's status from who spoke last.

    A customer writing reopens a resolved or waiting conversation; the brand answering
    puts it in "waiting on customer". New conversations start as "new".
    """
    own: dict[PostKey, frozenset[int]] = {
        (c.post.network, c.post.external_id): c.own_brand_ids for c in batch
    }
    created: dict[PostKey, datetime] = {
        (c.post.network, c.post.external_id): c.post.created_at for c in batch
    }
    statuses: dict[ConvKey, ConversationStatus] = {}
    latest: dict[ConvKey, datetime] = dict(index.last_post_at)
    events: list[tuple[int, ConvKey, PostKey]] = []
    for post, conv in plan.members:
        brand = brand_of[conv]
        events.append((brand, conv, post))
        current = statuses.get(conv) or index.statuses.get(conv)
        if conv in latest and created[post] < latest[conv]:
            # An older post arriving late (a parent after its replies) changes no status.
            if current is None:
                statuses[conv] = ConversationStatus.NEW
            continue
        latest[conv] = created[post]
        if brand in own.get(post, frozenset()):
            if current is not ConversationStatus.RESOLVED:
                statuses[conv] = ConversationStatus.WAITING
        elif current is None:
            statuses[conv] = ConversationStatus.NEW
        elif current in (ConversationStatus.RESOLVED, ConversationStatus.WAITING):
            statuses[conv] = ConversationStatus.OPEN
        else:
            statuses[conv] = current
    # A stored conversation that keeps its status needs no write.
    changed = {
        conv: status
        for conv, status in statuses.items()
        if conv < 0 or status is not index.statuses.get(conv)
    }
    return RoutePlan(statuses=changed, events=events)
