"""Conversation work: access, assignment, status, notes, tags. Never commits."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from earful.auth import repository as auth_repo
from earful.auth.access import access_brand_id, access_user_in_brand
from earful.auth.service import Principal, audit
from earful.conversations import priority as prio
from earful.conversations import repository as repo
from earful.conversations import sla
from earful.conversations.schemas import ConversationSummary
from earful.errors import BadInput, NotFound
from earful.models import (
    Brand,
    Conversation,
    ConversationState,
    ConversationStatus,
    Identity,
    Note,
    Role,
)
from earful.models.base import utcnow

TAG = re.compile(r"^[\w][\w .:-]{0,63}$", re.UNICODE)


def summary(
    row: repo.InboxRow, now: datetime, targets: sla.Targets | None = None
) -> ConversationSummary:
    """The inbox row; the SLA clock counts against the target of the conversation's
    priority when the brand set one (``targets`` from :func:`sla.targets_of`)."""
    target = sla.target(targets or {}, row.brand_id, row.urgency, row.target_minutes)
    waited, _ = prio.sla(row.waiting_since, now, target)
    due = prio.due_at(row.priority_key) if row.waiting_since is not None else None
    return ConversationSummary(
        id=row.id,
        brand_id=row.brand_id,
        brand=row.brand_name,
        status=row.status,
        subject=row.subject,
        customer_handle=row.handle,
        customer_name=row.author_name,
        network=row.network,
        sentiment=row.sentiment,
        intent=row.intent,
        urgency=row.urgency,
        language=row.language,
        priority=round(prio.priority(row.priority_key, now, row.target_minutes), 3),
        waited_minutes=waited,
        overdue=due is not None and now > due,
        waiting=row.waiting_since is not None,
        target_minutes=target,
        sla=prio.sla_words(due, now),
        assignee_id=row.assignee_id,
        assignee=row.assignee_name,
        tags=row.tags,
        last_post_at=row.last_post_at,
        post_count=row.post_count,
        version=row.version,
    )


def _touch(session: Session, conv: Conversation) -> ConversationState:
    st = repo.state_for_update(session, conv)
    st.version += 1
    st.updated_at = utcnow()
    return st


def assign(
    session: Session, principal: Principal, conv_id: int, assignee: str
) -> ConversationState:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    st = _touch(session, conv)
    if assignee == "none":
        st.assignee_id = None
    else:
        uid = principal.user_id if assignee == "me" else _int(assignee, "assignee")
        members = auth_repo.members_of(session, [conv.brand_id])
        st.assignee_id = access_user_in_brand(principal, members, uid, conv.brand_id)
    if conv.status == ConversationStatus.NEW:
        conv.status = ConversationStatus.OPEN
    st.status = conv.status.value
    audit(session, principal, "conversation.assign", brand_id=conv.brand_id,
          target=f"conversation:{conv.id}", assignee=st.assignee_id)  # fmt: skip
    session.flush()
    return st


def set_status(
    session: Session, principal: Principal, conv_id: int, status: str
) -> ConversationState:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    try:
        new = ConversationStatus(status)
    except ValueError:
        raise BadInput("status must be new, open, waiting or resolved") from None
    st = _touch(session, conv)
    conv.status = new
    st.status = new.value
    audit(session, principal, "conversation.status", brand_id=conv.brand_id,
          target=f"conversation:{conv.id}", status=new.value)  # fmt: skip
    session.flush()
    return st


def add_note(session: Session, principal: Principal, conv_id: int, text: str) -> Note:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    text = text.strip()
    if not text:
        raise BadInput("a note needs some text")
    note = Note(
        conversation_id=conv.id, brand_id=conv.brand_id, author_id=principal.user_id, text=text
    )
    session.add(note)
    _touch(session, conv)
    audit(session, principal, "conversation.note", brand_id=conv.brand_id,
          target=f"conversation:{conv.id}")  # fmt: skip
    session.flush()
    return note


def clean_tag(tag: str) -> str:
    tag = " ".join(tag.strip().lower().split())
    if not TAG.match(tag):
        raise BadInput("a tag is 1-64 letters, digits, spaces, dots, colons or dashes")
    return tag


def add_tag(session: Session, principal: Principal, conv_id: int, tag: str) -> Conversation:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    repo.add_tag(session, conv, clean_tag(tag))
    _touch(session, conv)
    return conv


def remove_tag(session: Session, principal: Principal, conv_id: int, tag: str) -> Conversation:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    repo.remove_tag(session, conv, clean_tag(tag))
    _touch(session, conv)
    return conv


def _int(value: str, what: str) -> int:
    if not value.isdigit():
        raise BadInput(f"{what} must be a number")
    return int(value)


def access_conversation(
    session: Session, principal: Principal, conv_id: int, need: Role = Role.VIEWER
) -> Conversation:
    """The conversation, if one of the principal's brands owns it and the role suffices."""
    conv = repo.get_readable(session, conv_id, principal.brand_ids())
    if conv is None:
        raise NotFound("no such conversation")
    access_brand_id(principal, conv.brand_id, need)
    return conv


def summary_row(
    conv: Conversation,
    brand: Brand,
    st: ConversationState,
    ident: Identity,
    tags: list[str],
    members: list[tuple[int, str]],
) -> repo.InboxRow:
    """The inbox row of one loaded conversation (as the list query would return it)."""
    assignee_name = next((n for uid, n in members if uid == st.assignee_id), None)
    return repo.InboxRow(
        conv.id,
        conv.brand_id,
        brand.name,
        brand.target_response_minutes,
        str(conv.status.value),
        conv.subject,
        conv.last_post_at,
        conv.post_count,
        ident.handle,
        ident.display_name,
        st.network,
        st.sentiment,
        st.intent,
        st.urgency,
        st.language,
        st.waiting_since,
        st.priority_key,
        st.version,
        st.assignee_id,
        assignee_name,
        tags,
    )


def brand_members(session: Session, brand_id: int) -> list[tuple[int, str]]:
    """(user id, name) of the brand's members: who a conversation can be assigned to."""
    return [
        (uid, name)
        for uid, name, bid in auth_repo.members_of(session, [brand_id])
        if bid == brand_id
    ]


def summary_of(session: Session, principal: Principal, conv_id: int) -> ConversationSummary:
    """One conversation as an inbox row, for the JSON API's answers to a change."""
    conv = access_conversation(session, principal, conv_id)
    st = repo.state_for_update(session, conv)
    brand = session.get(Brand, conv.brand_id)
    ident = session.get(Identity, conv.identity_id)
    assert brand is not None and ident is not None
    tags = repo.tags_of(session, [conv.id]).get(conv.id, [])
    row = summary_row(conv, brand, st, ident, tags, brand_members(session, conv.brand_id))
    return summary(row, utcnow(), sla.targets_of(session, [conv.brand_id]))
