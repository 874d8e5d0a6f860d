"""Quiet hours: a daily window in the user's zone (it may cross midnight)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from earful.errors import BadInput

HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def clock(value: str | None, what: str) -> str | None:
    """``"HH:MM"`` (24 h) or None for an empty field; BadInput otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    if not HHMM.match(value):
        raise BadInput(f"{what} is a time like 22:00")
    return value


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo((name or "UTC").strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"unknown time zone {name!r} (use e.g. Europe/Paris)") from None


def _at(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def quiet_until(start: str | None, end: str | None, tz: str, now: datetime) -> datetime | None:
    """When the quiet window that holds ``now`` ends (UTC), or None when ``now`` is not quiet."""
    if not start or not end or start == end:
        return None
    local = now.astimezone(zone(tz))
    begin, finish = _at(start), _at(end)
    today = local.time()
    if begin < finish:  # 01:00-06:00
        quiet = begin <= today < finish
        end_day = local.date()
    else:  # 22:00-07:00: crosses midnight
        quiet = today >= begin or today < finish
        end_day = local.date() + timedelta(days=1) if today >= begin else local.date()
    if not quiet:
        return None
    ends = datetime.combine(end_day, finish, tzinfo=local.tzinfo)
    return ends.astimezone(now.tzinfo)
