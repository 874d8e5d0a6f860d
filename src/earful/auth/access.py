"""Role checks on brand data: the one door every domain's ``access_*`` goes through.

Not a member of the brand → 404 (its existence is not revealed); a member whose role
is too low → 403. Each domain reads its own rows scoped to ``principal.brand_ids()``
(``get_readable`` in its repository) and then asks here whether the role suffices, so
this module depends on no domain.
"""

from __future__ import annotations

from earful.auth.service import Principal
from earful.errors import Forbidden, NotFound
from earful.models import Role


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


def access_user_in_brand(
    principal: Principal, members: list[tuple[int, str, int]], user_id: int, brand_id: int
) -> int:
    """An assignee must be a member of the conversation's brand."""
    if not any(uid == user_id and bid == brand_id for uid, _, bid in members):
        raise NotFound("no such agent in this brand")
    return user_id
