"""The only door to brand data: every brand-scoped read or write asks here first.

Not a member of the brand → 404 (its existence is not revealed); a member whose role
is too low → 403. Queries that list data take ``access_brand_ids`` as their scope.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from earful.auth.service import Principal
from earful.errors import Forbidden, NotFound
from earful.inbox import repository as inbox_repo
from earful.models import Brand, CannedReply, Conversation, Reply, Role, SavedView


def access_brand_ids(principal: Principal, need: Role = Role.VIEWER) -> list[int]:
    """The brands this principal may read (or act on, with a higher ``need``)."""
    return principal.brand_ids(need)


def access_brand_id(principal: Principal, brand_id: int, need: Role = Role.VIEWER) -> int:
    role = principal.roles.get(brand_id)
    if role is None:
        raise NotFound("no such brand")
    if role.rank < need.rank:
        raise Forbidden(f"this needs the {need.value} role in this brand")
    return brand_id


def access_brand(
    session: Session, principal: Principal, slug: str, need: Role = Role.VIEWER
) -> Brand:
    brand = inbox_repo.brand_by_slug(session, slug, principal.brand_ids())
    if brand is None:
        raise NotFound("no such brand")
    access_brand_id(principal, brand.id, need)
    return brand


def access_conversation(
    session: Session, principal: Principal, conversation_id: int, need: Role = Role.VIEWER
) -> Conversation:
    conv = inbox_repo.conversation(session, conversation_id, principal.brand_ids())
    if conv is None:
        raise NotFound("no such conversation")
    access_brand_id(principal, conv.brand_id, need)
    return conv


def access_reply(
    session: Session, principal: Principal, reply_id: int, need: Role = Role.AGENT
) -> Reply:
    reply = inbox_repo.reply(session, reply_id, principal.brand_ids())
    if reply is None:
        raise NotFound("no such reply")
    access_brand_id(principal, reply.brand_id, need)
    return reply


def access_canned(
    session: Session, principal: Principal, canned_id: int, need: Role = Role.VIEWER
) -> CannedReply:
    canned = inbox_repo.canned(session, canned_id, principal.brand_ids())
    if canned is None:
        raise NotFound("no such canned reply")
    access_brand_id(principal, canned.brand_id, need)
    return canned


def access_saved_view(session: Session, principal: Principal, view_id: int) -> SavedView:
    view = inbox_repo.saved_view(session, view_id, principal.user_id)
    if view is None:
        raise NotFound("no such view")
    return view


def access_user_in_brand(
    principal: Principal, members: list[tuple[int, str, int]], user_id: int, brand_id: int
) -> int:
    """An assignee must be a member of the conversation's brand."""
    if not any(uid == user_id and bid == brand_id for uid, _, bid in members):
        raise NotFound("no such agent in this brand")
    return user_id
