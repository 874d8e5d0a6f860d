"""The web application: the team inbox (HTML + htmx) and its JSON API, one FastAPI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, select
from starlette.datastructures import URL
from starlette.exceptions import HTTPException as StarletteHTTPException

from earful.admin import endpoints as admin_endpoints
from earful.alerts import endpoints as alerts_endpoints
from earful.alerts.schemas import alert_out
from earful.audit import endpoints as audit_endpoints
from earful.auth import endpoints as auth_endpoints
from earful.auth import oidc
from earful.config import get_settings
from earful.connectors import meta as meta_webhooks
from earful.connectors import webhook as signed_webhooks
from earful.connectors import x_activity as x_webhooks
from earful.conversations import endpoints as conversations_endpoints
from earful.csat import endpoints as csat_endpoints
from earful.customers import endpoints as customers_endpoints
from earful.dashboard import endpoints as dashboard_endpoints
from earful.db import session_factory
from earful.engagement import endpoints as engagement_endpoints
from earful.errors import DomainError, NotAuthenticated, TooManyAttempts
from earful.handoff import endpoints as handoff_endpoints
from earful.inbox import endpoints as inbox_endpoints
from earful.inbox.live import Tail
from earful.models import Alert
from earful.models.base import utcnow
from earful.notifications import endpoints as notifications_endpoints
from earful.public import endpoints as public_endpoints
from earful.web.hub import Hub
from earful.web.render import TEMPLATES, render
from earful.web.security import SecurityHeaders, Sessions, csrf_protect
from earful.worker import metrics as worker_metrics

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


PAGE_ERRORS = {
    404: "There is no page at this address. It may have moved, or the link is mistyped.",
    405: "This address cannot be opened that way; go back and use the page's own buttons.",
}


def wants_html(request: Request) -> bool:
    return not is_api(request) and "text/html" in request.headers.get("accept", "")


def here(request: Request) -> str:
    """Where to return after login: the page asked for, as a local path with its query;
    for an htmx fragment, the page it was loaded into."""
    url = request.url
    if request.headers.get("hx-request"):
        url = URL(request.headers.get("hx-current-url") or "/inbox")
    return (url.path or "/inbox") + (f"?{url.query}" if url.query else "")


def render_alert(alert: Alert) -> str:
    """The live feed's fragment for a new spike alert (autoescaped like every page)."""
    return TEMPLATES.get_template("_alert.html").render(a=alert_out(alert), can_ack=True)


def create_app(
    engine: Engine,
    *,
    secret_key: str | None = None,
    secure_cookies: bool = True,
    live: bool = True,
) -> FastAPI:
    """``live`` follows the database for new posts (off in tests, which poll by hand)."""
    hub = Hub()
    tail = Tail(engine, hub, render_alert=render_alert)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if live:
            await asyncio.to_thread(tail.start)
            task = asyncio.create_task(tail.run())
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Earful",
        version="0.1.0",
        description="Team inbox API. Authenticate with `Authorization: Bearer <token>` "
        "(create a token on the account page).",
        dependencies=[Depends(csrf_protect)],
        lifespan=lifespan,
        docs_url=None,  # Swagger UI would load from a CDN; the schema is at /openapi.json
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    # Signs survey links and seals event webhooks' signing secrets (as the sources' do).
    app.state.secret_key = secret_key or get_settings().secret_key
    app.state.sessions = Sessions(secret_key or get_settings().secret_key, secure=secure_cookies)
    app.state.hub = hub
    app.state.clock = utcnow  # the sign-in throttle's clock (a test may move it)
    oidc_config = oidc.from_settings(get_settings())
    app.state.oidc = oidc.OidcClient(oidc_config) if oidc_config else None
    app.state.tail = tail
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, NotAuthenticated) and not is_api(request):
            login = "/login?" + urlencode({"next": here(request)})
            if request.headers.get("hx-request"):
                return Response(status_code=401, headers={"HX-Redirect": login})
            if request.method == "GET":  # a page: whatever the Accept header, the login form
                return RedirectResponse(login, status_code=303)
        if wants_html(request):
            return render(
                request,
                "error.html",
                {"status": exc.status_code, "message": str(exc)},
                status_code=exc.status_code,
            )
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """A person who follows a dead link gets a page with a way back, not JSON."""
        if wants_html(request) and exc.status_code in PAGE_ERRORS:
            return render(
                request,
                "error.html",
                {"status": exc.status_code, "message": PAGE_ERRORS[exc.status_code]},
                status_code=exc.status_code,
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_form(request: Request, exc: RequestValidationError) -> Response:
        """A form post with a missing or oversized field says which, on a page."""
        if wants_html(request):
            fields = ", ".join(sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")}))
            return render(
                request,
                "error.html",
                {"status": 422, "message": f"Check these fields and try again: {fields}."},
                status_code=422,
            )
        return await request_validation_exception_handler(request, exc)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        with engine.connect() as conn:
            conn.execute(select(1))
        return {"status": "ok"}

    for router in (
        auth_endpoints.html,
        auth_endpoints.api,
        inbox_endpoints.html,
        inbox_endpoints.api,
        conversations_endpoints.html,
        conversations_endpoints.api,
        engagement_endpoints.html,
        engagement_endpoints.api,
        customers_endpoints.html,
        customers_endpoints.api,
        handoff_endpoints.html,
        alerts_endpoints.html,
        alerts_endpoints.api,
        audit_endpoints.html,
        audit_endpoints.api,
        public_endpoints.html,
        public_endpoints.api,
        admin_endpoints.html,
        dashboard_endpoints.html,
        dashboard_endpoints.api,
        csat_endpoints.html,
        notifications_endpoints.html,
        notifications_endpoints.api,
    ):
        app.include_router(router)
    app.include_router(worker_metrics.router(engine))  # GET /metrics, for Prometheus
    # Network webhooks (/webhooks/...): no login by design; every delivery is checked
    # against its source's signing secret, sealed with the same key as the credentials.
    sources_key = secret_key or get_settings().secret_key
    app.state.sources_key = sources_key  # the admins' sources page seals with it too
    app.include_router(meta_webhooks.router(engine, sources_key))
    app.include_router(signed_webhooks.router(engine, sources_key))
    app.include_router(x_webhooks.router(engine, sources_key))
    STATIC.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
