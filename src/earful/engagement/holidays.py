"""A brand's holidays: closed days that the service hours, the expected response time,
the acknowledgements and the public page's "back at" all honour. Never commits; the CLI
(`earful brands holidays ...`) and the admin page call these same functions."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from earful.conversations import sla
from earful.engagement import repository as repo
from earful.errors import BadInput, NotFound
from earful.models import Holiday


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{text.strip()!r} is not a date like 2026-12-25") from None


def add_holiday(session: Session, brand_id: int, day: date, name: str = "") -> Holiday:
    """Close the brand on ``day`` (its local date); adding it again renames it."""
    if len(name.strip()) > 200:
        raise BadInput("a holiday's name is at most 200 characters")
    row = repo.holiday(session, brand_id, day)
    if row is None:
        row = Holiday(brand_id=brand_id, day=day, name=name.strip())
        session.add(row)
    else:
        row.name = name.strip()
    session.flush()
    sla.rekey(session, brand_id)  # waiting conversations fall due by the new calendar
    return row


def remove_holiday(session: Session, brand_id: int, day: date) -> None:
    row = repo.holiday(session, brand_id, day)
    if row is None:
        raise NotFound(f"no holiday on {day.isoformat()}")
    session.delete(row)
    session.flush()
    sla.rekey(session, brand_id)


def holidays_of(session: Session, brand_id: int) -> list[Holiday]:
    return repo.holidays(session, brand_id)


def closed_days(session: Session, brand_id: int) -> list[date]:
    return [h.day for h in repo.holidays(session, brand_id)]
