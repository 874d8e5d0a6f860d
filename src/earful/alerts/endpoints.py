"""Spike alerts: open one onto the posts that made it, and acknowledge it (HTML + JSON).

An acknowledgement leaves every open inbox's banner at once (an ``alert-ack`` live event
after the commit)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from earful.alerts import repository, service
from earful.alerts.schemas import AlertDetailOut, AlertOut, alert_out
from earful.auth.access import access_brand_ids
from earful.db import after_commit
from earful.models import Role
from earful.web.deps import CurrentUser, Db
from earful.web.hub import hub_of
from earful.web.render import render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["alerts"])


def _announce(request: Request, db: Db, brand_id: int, alert_id: int) -> None:
    hub = hub_of(request)
    after_commit(db, lambda: hub.publish(brand_id, "alert-ack", str(alert_id)))


@html.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, db: Db, principal: CurrentUser, alert_id: int) -> Response:
    detail = service.alert_detail(db, principal, alert_id)
    can_ack = principal.roles[detail.alert.brand_id].rank >= Role.AGENT.rank
    return render(request, "alert.html", {"d": detail, "can_ack": can_ack})


@html.post("/alerts/{alert_id}/ack")
def acknowledge(request: Request, db: Db, principal: CurrentUser, alert_id: int) -> Response:
    alert = service.acknowledge(db, principal, alert_id)
    _announce(request, db, alert.brand_id, alert.id)
    if request.headers.get("hx-request"):
        return Response(status_code=200)  # htmx removes the banner's item
    return RedirectResponse("/inbox", status_code=303)


@api.get("/alerts", response_model=list[AlertOut])
def api_open_alerts(db: Db, principal: CurrentUser) -> list[AlertOut]:
    return [alert_out(a) for a in repository.open_alerts(db, access_brand_ids(principal), 100)]


@api.get("/alerts/{alert_id}", response_model=AlertDetailOut)
def api_alert(db: Db, principal: CurrentUser, alert_id: int) -> AlertDetailOut:
    return service.alert_detail(db, principal, alert_id)


@api.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def api_acknowledge(request: Request, db: Db, principal: CurrentUser, alert_id: int) -> AlertOut:
    alert = service.acknowledge(db, principal, alert_id)
    _announce(request, db, alert.brand_id, alert.id)
    return alert_out(alert)
