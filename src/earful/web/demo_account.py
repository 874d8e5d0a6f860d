"""The demo admin: one account with the admin role in every brand."""

from __future__ import annotations

from sqlalchemy.orm import Session

from earful.auth import repository
from earful.auth.passwords import hash_password
from earful.auth.service import create_user, grant
from earful.engagement import repository as engagement_repo
from earful.models import CannedReply, Role

DEMO_EMAIL = "admin@demo.earful"
DEMO_PASSWORD = "earful-demo-admin"  # a local demo only: printed by `earful demo`
DEMO_CANNED = [
    ("Thanks", "Thank you {customer}, that's lovely to hear! — {agent}, {brand}"),
    ("Sorry, DM us", "Sorry about this, {handle}. Could you DM us your order number? — {agent}"),
]


def ensure_demo_admin(session: Session) -> tuple[str, str]:
    user = repository.user_by_email(session, DEMO_EMAIL)
    if user is None:
        user = create_user(session, DEMO_EMAIL, "Demo Admin", DEMO_PASSWORD)
    else:
        user.password_hash = hash_password(DEMO_PASSWORD)
    for brand in repository.all_brands(session):
        grant(session, user.id, brand.id, Role.ADMIN)
        if not any(c.brand_id == brand.id for c in _canned(session, brand.id)):
            for name, body in DEMO_CANNED:
                session.add(CannedReply(brand_id=brand.id, name=name, body=body))
    session.flush()
    return DEMO_EMAIL, DEMO_PASSWORD


def _canned(session: Session, brand_id: int) -> list[CannedReply]:

    return engagement_repo.canned_replies(session, [brand_id])
