"""A brand's audit log for its admins: a page, a CSV export and the JSON API.

Only a brand's admins read it (others get 403; non-members 404, as everywhere)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import BaseModel

from earful.audit import repository
from earful.auth.service import audit
from earful.brands.service import access_brand
from earful.models import AuditEvent, Role
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["audit"])
COLUMNS = ("id", "at", "actor", "address", "action", "target", "details")


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    address: str | None
    action: str
    target: str | None
    details: dict[str, object]


def event_out(e: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=e.id,
        at=e.at,
        actor=e.actor,
        address=e.address,
        action=e.action,
        target=e.target,
        details=dict(e.details or {}),
    )


Before = Annotated[int | None, Query(ge=1, description="an event id: the page before it")]


@html.get("/brands/{slug}/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, db: Db, principal: CurrentUser, slug: str, before: Before = None
) -> Response:
    brand = access_brand(db, principal, slug, Role.ADMIN)
    events = [event_out(e) for e in repository.events(db, [brand.id], 200, before)]
    return render(request, "audit.html", {"brand": brand, "events": events})


@html.get("/brands/{slug}/audit.csv")
def audit_csv(db: Db, principal: CurrentUser, slug: str) -> StreamingResponse:
    brand = access_brand(db, principal, slug, Role.ADMIN)
    audit(db, principal, "audit.export", brand_id=brand.id, target=f"brand:{brand.slug}")
    rows = [event_out(e) for e in repository.all_events(db, brand.id)]

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for e in rows:
            details = ";".join(f"{k}={v}" for k, v in sorted(e.details.items()))
            writer.writerow([e.id, e.at.isoformat(), e.actor, e.address or "", e.action,
                             e.target or "", details])  # fmt: skip
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        yield out.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{brand.slug}-audit.csv"'},
    )


@api.get("/brands/{slug}/audit", response_model=list[AuditEventOut])
def api_audit(
    db: Db, principal: CurrentUser, slug: str, before: Before = None
) -> list[AuditEventOut]:
    brand = access_brand(db, principal, slug, Role.ADMIN)
    return [event_out(e) for e in repository.events(db, [brand.id], 200, before)]
