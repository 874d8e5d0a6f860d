"""A brand's engagement settings: how agents sign, the thank-you text, compliment rules.

Never commits. The CLI (`earful engagement ...`) and the web call these same functions;
each value is checked before it is stored, so a bad one never reaches a customer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from earful.engagement import compose
from earful.engagement import repository as repo
from earful.errors import BadInput
from earful.models import AgentSignature, EngagementSettings

PLACEHOLDERS = ("{initials}", "{first}", "{name}")
MAX_SIGNATURE = 32


@dataclass(slots=True, frozen=True)
class Rules:
    thank: bool = False
    like: bool = False
    repost: bool = False
    min_score: float = 0.0

    def as_doc(self) -> dict[str, object]:
        return {
            "thank": self.thank,
            "like": self.like,
            "repost": self.repost,
            "min_score": self.min_score,
        }


def set_signing(
    session: Session,
    brand_id: int,
    *,
    signature_format: str | None = None,
    thank_template: str | None = None,
    rules: Rules | None = None,
) -> EngagementSettings:
    """Change how the brand signs and thanks, and what it does with compliments by itself."""
    settings = repo.settings_for_update(session, brand_id)
    if signature_format is not None:
        fmt = signature_format.strip()
        unknown = compose.SIGNATURE_FIELDS.sub("", fmt)
        if "{" in unknown or "}" in unknown:
            raise BadInput(f"a signature format may use only {', '.join(PLACEHOLDERS)}")
        if len(compose.signature(fmt, "Maximilian Alexander Longname")) > MAX_SIGNATURE:
            raise BadInput(f"a signature is at most {MAX_SIGNATURE} characters once filled in")
        settings.signature_format = fmt
    if thank_template is not None:
        text = thank_template.strip()
        if text and len(text) > 280:
            raise BadInput("the thank-you text must fit a post: 280 characters at most")
        settings.thank_template = text or None
    if rules is not None:
        if not 0.0 <= rules.min_score <= 1.0:
            raise BadInput("the minimum compliment score is between 0 and 1")
        settings.compliment_rules = rules.as_doc()
    session.flush()
    return settings


def set_agent_signature(
    session: Session, brand_id: int, user_id: int, signature: str | None
) -> AgentSignature | None:
    """An agent's own signature in this brand (None or "" goes back to the brand's format)."""
    row = session.get(AgentSignature, (brand_id, user_id))
    text = (signature or "").strip()
    if not text:
        if row is not None:
            session.delete(row)
            session.flush()
        return None
    if len(text) > MAX_SIGNATURE:
        raise BadInput(f"a signature is at most {MAX_SIGNATURE} characters")
    if row is None:
        row = AgentSignature(brand_id=brand_id, user_id=user_id, signature=text)
        session.add(row)
    else:
        row.signature = text
    session.flush()
    return row


def set_public_page(
    session: Session, brand_id: int, *, published: bool | None, contact: str | None
) -> EngagementSettings:
    """Publish (or withdraw) the brand's service page, and say how it prefers to be reached."""
    settings = repo.settings_for_update(session, brand_id)
    if published is not None:
        settings.public_page = published
    if contact is not None:
        text = " ".join(contact.split())
        if len(text) > 200:
            raise BadInput("the preferred contact is at most 200 characters")
        settings.preferred_contact = text or None
    session.flush()
    return settings
