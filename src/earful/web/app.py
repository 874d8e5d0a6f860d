"""The web application. A first page lists conversations per brand; the inbox grows here."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, func, select

from earful.models import Brand, Conversation, Post

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def create_app(engine: Engine) -> FastAPI:
    app = FastAPI(title="Earful", version="0.1.0")
    app.state.engine = engine

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        with engine.connect() as conn:
            conn.execute(select(1))
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        with engine.connect() as conn:
            brands = conn.execute(
                select(Brand.name, Brand.slug, func.count(Conversation.id))
                .outerjoin(Conversation, Conversation.brand_id == Brand.id)
                .group_by(Brand.id)
                .order_by(Brand.name)
            ).all()
            posts = conn.scalar(select(func.count(Post.id))) or 0
        return TEMPLATES.TemplateResponse(request, "home.html", {"brands": brands, "posts": posts})

    return app
