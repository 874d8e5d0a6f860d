"""Dashboard routes: the HTML page with its charts, CSV downloads, and the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from earful.brands import repository as brands_repo
from earful.dashboard import service
from earful.dashboard.schemas import Chart, DashboardOut
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["dashboard"])

Days = Annotated[int, Query(ge=1, le=366, description="window in UTC days, today included")]
DAY_CHOICES = (7, 30, 90)
OVERVIEW_DAYS = 7  # the overview of several brands: this week


@html.get("/dashboard")
def dashboard_home(request: Request, db: Db, principal: CurrentUser) -> Response:
    """The brand's dashboard, or, for several brands, each one's week side by side: what
    is unanswered, how fast it was answered, its spikes, so the one in trouble shows."""
    brands = brands_repo.readable(db, principal.brand_ids())
    if len(brands) == 1:
        return RedirectResponse(f"/brands/{brands[0].slug}/dashboard", status_code=303)
    overview = [service.dashboard(db, principal, b.slug, OVERVIEW_DAYS) for b in brands]
    return render(request, "dashboards.html", {"overview": overview, "days": OVERVIEW_DAYS})


@html.get("/brands/{slug}/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request, db: Db, principal: CurrentUser, slug: str, days: Days = 30
) -> Response:
    data = service.dashboard(db, principal, slug, days)
    return render(
        request,
        "dashboard.html",
        {
            "d": data,
            "chart_data": data.model_dump(mode="json"),
            "day_choices": DAY_CHOICES,
            "brands": brands_repo.readable(db, principal.brand_ids()),
        },
    )


@html.get("/brands/{slug}/dashboard.csv")
def dashboard_csv(
    db: Db, principal: CurrentUser, slug: str, chart: Chart = "volume", days: Days = 30
) -> Response:
    data = service.dashboard(db, principal, slug, days)
    name = f"{data.brand.slug}-{chart}-{days}d.csv"
    return Response(
        service.to_csv(data, chart),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api.get("/brands/{slug}/dashboard", response_model=DashboardOut)
def api_dashboard(db: Db, principal: CurrentUser, slug: str, days: Days = 30) -> DashboardOut:
    return service.dashboard(db, principal, slug, days)
