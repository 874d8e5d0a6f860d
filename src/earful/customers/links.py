"""Linking a customer's accounts: an X handle and an email address are one person.

An agent links another account into the customer of a conversation (or unlinks one), and
each change is audited. The other account must have written in one of the brand's
conversations: an agent never reaches accounts only another brand has heard. A channel
that reveals a link only *suggests* it (an email answering a handoff sent for @handle; a
direct message that gives an email address or names another @handle the brand has
heard); an agent accepts or dismisses the suggestion. Never commits.

An account revealed that has not written yet (the address an email handoff went to, an
address or a "my X handle is @foo" in a message) is suggested too: an email account is
its address, so it is recorded as it will write; an account known only by its handle is
a placeholder (``pending:@handle``, no posts) that takes the network's id when that
account first writes (:func:`adopt_pending`), so its posts join whatever it was linked to.
"""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from earful.auth.service import Principal, audit
from earful.conversations import repository as conversations_repo
from earful.conversations.service import access_conversation
from earful.customers.service import customer_of
from earful.errors import BadInput, Conflict, NotFound
from earful.models import (
    Conversation,
    ConversationPost,
    Customer,
    Identity,
    LinkSuggestion,
    Post,
    Role,
)
from earful.models.customer import PENDING


def _in_brand(session: Session, brand_id: int, network: str, account: str) -> Identity:
    """The account (handle, id or address) as the brand has heard it."""
    name = account.strip().lstrip("@")
    if not network.strip() or not name:
        raise BadInput("name the account to link: its network and handle, id or address")
    found = session.scalars(
        select(Identity)
        .join(Post, Post.identity_id == Identity.id)
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .where(
            Conversation.brand_id == brand_id,
            Identity.network == network.strip().lower(),
            or_(Identity.external_id == name, Identity.handle.ilike(name)),
        )
        .distinct()
        .limit(2)
    ).all()
    if not found:
        raise NotFound(f"no {network} account {name!r} has written to this brand")
    if len(found) > 1:
        raise BadInput(f"several {network} accounts match {name!r}: give the id")
    return found[0]


def _join(session: Session, customer: Customer, other: Identity) -> None:
    """Every account of ``other``'s customer becomes ``customer``'s."""
    if other.customer_id == customer.id:
        raise Conflict("these accounts are already linked")
    moved = [other]
    if other.customer_id is not None:
        old_id = other.customer_id
        moved = list(session.scalars(select(Identity).where(Identity.customer_id == old_id)))
        old = session.get(Customer, old_id)
        if old is not None:
            customer.email = customer.email or old.email
            customer.preferred_channel = customer.preferred_channel or old.preferred_channel
    for ident in moved:
        ident.customer_id = customer.id
    if other.network == "email" and not customer.email:
        customer.email = other.external_id
    session.flush()


def link(
    session: Session, principal: Principal, conv_id: int, network: str, account: str
) -> Identity:
    """Link ``network``/``account`` into the customer of conversation ``conv_id``."""
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    other = _in_brand(session, conv.brand_id, network, account)
    if other.id == conv.identity_id:
        raise Conflict("that is the conversation's own account")
    customer = customer_of(session, conv, create=True)
    assert customer is not None
    _join(session, customer, other)
    _settle_suggestions(session, conv.brand_id, conv.identity_id, other.id, "linked")
    conversations_repo.bump_version(session, conv.id)
    audit(session, principal, "customer.link", brand_id=conv.brand_id,
          target=f"identity:{other.id}", network=other.network)  # fmt: skip
    return other


def link_accounts(session: Session, one: Identity, other: Identity) -> Customer:
    """Link two accounts directly (the operator's command; the caller audits)."""
    if one.id == other.id:
        raise Conflict("that is the same account")
    customer = session.get(Customer, one.customer_id) if one.customer_id else None
    if customer is None:
        customer = Customer(display_name=one.display_name or one.handle)
        session.add(customer)
        session.flush()
        one.customer_id = customer.id
    _join(session, customer, other)
    return customer


def unlink(session: Session, principal: Principal, conv_id: int, identity_id: int) -> Identity:
    """Take an account out of the conversation's customer (it becomes its own person)."""
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    starter = session.get(Identity, conv.identity_id)
    other = session.get(Identity, identity_id)
    if starter is None or other is None or starter.customer_id is None:
        raise NotFound("no such linked account")
    if other.customer_id != starter.customer_id:
        raise NotFound("no such linked account")
    if other.id == starter.id:
        raise Conflict("the conversation's own account cannot be unlinked from it")
    other.customer_id = None
    conversations_repo.bump_version(session, conv.id)
    audit(session, principal, "customer.unlink", brand_id=conv.brand_id,
          target=f"identity:{other.id}", network=other.network)  # fmt: skip
    session.flush()
    return other


# ------------------------------------------------------------------ suggestions


def suggest(session: Session, brand_id: int, identity_id: int, other_id: int, reason: str) -> None:
    """Record that two accounts seem to be one customer (once; not when already linked)."""
    a, b = session.get(Identity, identity_id), session.get(Identity, other_id)
    if a is None or b is None or a.id == b.id:
        return
    if a.customer_id is not None and a.customer_id == b.customer_id:
        return
    known = session.scalar(
        select(LinkSuggestion.id).where(
            LinkSuggestion.brand_id == brand_id,
            or_(
                (LinkSuggestion.identity_id == a.id) & (LinkSuggestion.other_id == b.id),
                (LinkSuggestion.identity_id == b.id) & (LinkSuggestion.other_id == a.id),
            ),
        )
    )
    if known is None:
        session.add(
            LinkSuggestion(
                brand_id=brand_id, identity_id=a.id, other_id=b.id, reason=reason[:500],
                state="open",
            )
        )  # fmt: skip
        session.flush()


# What a message may say about its writer's other accounts.
ADDRESS = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})(?![\w@])")
CHANNEL_NAMES = {"x": "X", "facebook": "Messenger", "instagram": "Instagram",
                 "bluesky": "Bluesky", "mastodon": "Mastodon"}  # fmt: skip


# "my X handle is @foo", "Bluesky: @foo.bsky.social" (a signature): a handle and its network.
_NAMED = re.compile(
    r"\b(x|twitter|bluesky|bsky|instagram|insta)\b[^@\n]{0,30}?"
    r"(?<![\w@])@([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})(?![\w@])",
    re.IGNORECASE,
)
NAMED_NETWORKS = {"x": "x", "twitter": "x", "bluesky": "bluesky", "bsky": "bluesky",
                  "instagram": "instagram", "insta": "instagram"}  # fmt: skip


def suggest_from_message(session: Session, brand_id: int, writer: Identity, text: str) -> int:
    """Suggestions a private message reveals: an email address it gives (an ``email``
    account, written or not), a handle it names with its network ("my X handle is @foo",
    written or not) or a bare @handle (an account of the same network that wrote to the
    brand). Returns how many were considered."""
    channel = CHANNEL_NAMES.get(writer.network, writer.network)
    found: list[tuple[Identity, str]] = []
    for address in dict.fromkeys(a.lower() for a in ADDRESS.findall(text)):
        for other in _reachable(session, brand_id, "email", address):
            found.append((other, f"their {channel} message gives the address {address}"))
    named: set[tuple[str, str]] = set()
    for word, handle in _NAMED.findall(text):
        network, handle = NAMED_NETWORKS[word.lower()], handle.rstrip(".").lower()
        named.add((network, handle))
        if network == writer.network and (writer.handle or "").lower() == handle:
            continue
        label = CHANNEL_NAMES.get(network, network)
        for other in _reachable(session, brand_id, network, handle):
            found.append((other, f"their {channel} message gives the {label} handle @{handle}"))
    for handle in dict.fromkeys(h.rstrip(".").lower() for h in _HANDLE.findall(text)):
        if writer.network == "email" or (writer.handle or "").lower() == handle:
            continue
        if (writer.network, handle) in named:
            continue
        for other in _heard(session, brand_id, writer.network, handle):
            found.append((other, f"their {channel} message names @{handle}"))
    for other, reason in found:
        if other.id != writer.id:
            suggest(session, brand_id, writer.id, other.id, reason)
    return len(found)


def suggest_address(session: Session, conv: Conversation, address: str, why: str) -> None:
    """The conversation's customer was reached at ``address`` (an email handoff): suggest
    linking that email account, whether or not it has written yet."""
    starter = session.get(Identity, conv.identity_id)
    if starter is None or starter.network == "email":
        return
    for other in _reachable(session, conv.brand_id, "email", address.strip().lower()):
        suggest(session, conv.brand_id, starter.id, other.id, why)


def _reachable(session: Session, brand_id: int, network: str, name: str) -> list[Identity]:
    """The account to suggest for a revealed address or handle: the one that wrote to the
    brand; else the one waiting to write (no posts; made here when there is none). An
    account only other brands have heard is not reached (see :func:`_in_brand`)."""
    heard = _heard(session, brand_id, network, name)
    if heard:
        return heard
    ext = name if network == "email" else PENDING + name
    known = session.scalars(
        select(Identity).where(
            Identity.network == network,
            or_(
                Identity.external_id == ext,
                Identity.external_id == name,
                func.lower(Identity.handle) == name,
            ),
        )
    ).all()
    if known:
        written = session.scalar(
            select(Post.id).where(Post.identity_id.in_([i.id for i in known])).limit(1)
        )
        return [] if written is not None else list(known)[:1]
    pending = Identity(network=network, external_id=ext, handle=name)
    session.add(pending)
    session.flush()
    return [pending]


def adopt_pending(
    session: Session, network: str, external_id: str, handle: str | None
) -> Identity | None:
    """A placeholder for ``handle`` becomes the account that now writes (its network id
    set), so whatever it was linked to or suggested for is theirs. None when there is none."""
    if not handle or network == "email":
        return None
    pending = session.scalar(
        select(Identity).where(
            Identity.network == network, Identity.external_id == PENDING + handle.lower()
        )
    )
    if pending is not None:
        pending.external_id = external_id
        pending.handle = handle
        session.flush()
    return pending


def _heard(session: Session, brand_id: int, network: str, name: str) -> list[Identity]:
    """Accounts of ``network`` with that id or handle that wrote in the brand's conversations."""
    return list(
        session.scalars(
            select(Identity)
            .join(Post, Post.identity_id == Identity.id)
            .join(ConversationPost, ConversationPost.post_id == Post.id)
            .join(Conversation, Conversation.id == ConversationPost.conversation_id)
            .where(
                Conversation.brand_id == brand_id,
                Identity.network == network,
                or_(Identity.external_id == name, func.lower(Identity.handle) == name),
            )
            .distinct()
            .limit(5)
        )
    )


def suggestions(session: Session, principal: Principal, conv_id: int) -> list[LinkSuggestion]:
    """Open suggestions about the conversation's customer's accounts."""
    conv = access_conversation(session, principal, conv_id)
    ids = [conv.identity_id]
    starter = session.get(Identity, conv.identity_id)
    if starter is not None and starter.customer_id is not None:
        ids = list(
            session.scalars(select(Identity.id).where(Identity.customer_id == starter.customer_id))
        )
    return list(
        session.scalars(
            select(LinkSuggestion)
            .where(
                LinkSuggestion.brand_id == conv.brand_id,
                LinkSuggestion.state == "open",
                or_(LinkSuggestion.identity_id.in_(ids), LinkSuggestion.other_id.in_(ids)),
            )
            .order_by(LinkSuggestion.id)
        )
    )


def decide(
    session: Session, principal: Principal, conv_id: int, suggestion_id: int, accept: bool
) -> LinkSuggestion:
    """Accept (link the two accounts) or dismiss a suggestion shown on the conversation."""
    found = next(
        (s for s in suggestions(session, principal, conv_id) if s.id == suggestion_id), None
    )
    if found is None:
        raise NotFound("no such suggestion")
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    if accept:
        other_id = found.other_id if found.identity_id == conv.identity_id else found.identity_id
        other = session.get(Identity, other_id)
        assert other is not None
        customer = customer_of(session, conv, create=True)
        assert customer is not None
        if other.customer_id != customer.id:
            _join(session, customer, other)
        audit(session, principal, "customer.link", brand_id=conv.brand_id,
              target=f"identity:{other.id}", network=other.network, kind="suggestion")  # fmt: skip
    else:
        audit(session, principal, "customer.link_dismissed", brand_id=conv.brand_id,
              target=f"suggestion:{found.id}")  # fmt: skip
    found.state = "linked" if accept else "dismissed"
    conversations_repo.bump_version(session, conv.id)
    session.flush()
    return found


def _settle_suggestions(
    session: Session, brand_id: int, identity_id: int, other_id: int, state: str
) -> None:
    for s in session.scalars(
        select(LinkSuggestion).where(
            LinkSuggestion.brand_id == brand_id,
            LinkSuggestion.state == "open",
            or_(
                (LinkSuggestion.identity_id == identity_id) & (LinkSuggestion.other_id == other_id),
                (LinkSuggestion.identity_id == other_id) & (LinkSuggestion.other_id == identity_id),
            ),
        )
    ):
        s.state = state
