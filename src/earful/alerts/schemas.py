"""Pydantic shapes of the inbox: filters in, conversations out (the JSON API's schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AlertOut(BaseModel):
    """An open spike alert, as the inbox, the live feed and the dashboard show it."""

    id: int | None
    brand_id: int | None
    opened_at: datetime | None
    title: str


def alert_out(row: dict[str, object]) -> AlertOut:
    """A row of the alerts table (whatever columns this build has) in words."""
    kind = str(row.get("kind") or "spike")
    observed, expected = row.get("observed"), row.get("expected")
    title = f"{kind} spike"
    if isinstance(observed, int) and isinstance(expected, int | float):
        title += f": {observed} posts in the window, {expected:.1f} expected"
    opened = next(
        (v for k in ("window_start", "created_at") if isinstance(v := row.get(k), datetime)),
        None,
    )
    ident, brand = row.get("id"), row.get("brand_id")
    return AlertOut(
        id=ident if isinstance(ident, int) else None,
        brand_id=brand if isinstance(brand, int) else None,
        opened_at=opened,
        title=title,
    )
