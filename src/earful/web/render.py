"""Templates (autoescaped) and the helpers they use."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from earful.web.security import Sessions
from earful.wording import duration_words, network_name

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
assert TEMPLATES.env.autoescape  # user text must never become markup


def highlight(text: str, terms: list[str]) -> Markup:
    """Escape ``text``, then wrap the matched terms in <mark> (terms are escaped too)."""
    words = sorted({t.strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    if not words:
        return escape(text)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(str(escape(text[last : m.start()])))
        out.append(f"<mark>{escape(m.group(0))}</mark>")
        last = m.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def highlight_spans(text: str, spans: list[tuple[int, int]]) -> Markup:
    """Escape ``text`` and wrap the given character spans in <mark> (each piece escaped)."""
    out: list[str] = []
    last = 0
    for start, end in sorted(spans):
        start, end = max(start, last), min(end, len(text))
        if end <= start:
            continue
        out.append(str(escape(text[last:start])))
        out.append(f"<mark>{escape(text[start:end])}</mark>")
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def ago(when: datetime | None) -> str:
    if when is None:
        return ""
    minutes = int((datetime.now(UTC) - when).total_seconds() // 60)
    if minutes < 1:
        return "now"
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


def minutes(value: int) -> str:
    """In the words the service-level clock beside it uses: "45 min", "2 h 5 min"."""
    return duration_words(value)


TEMPLATES.env.filters["highlight"] = highlight
TEMPLATES.env.filters["network_name"] = network_name
TEMPLATES.env.filters["highlight_spans"] = highlight_spans
TEMPLATES.env.filters["ago"] = ago
TEMPLATES.env.filters["minutes"] = minutes


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    sessions: Sessions = request.app.state.sessions
    session = sessions.read(request)
    ctx = {
        "csrf_token": session.csrf,
        "principal": getattr(request.state, "principal", None),
        **context,
    }
    response = TEMPLATES.TemplateResponse(
        request, name, ctx, status_code=status_code, headers=headers
    )
    if session.fresh:
        sessions.write(response, session)
        session.fresh = False
    return response


def back_to_conversation(conv_id: int, anchor: str = "") -> RedirectResponse:
    """After a form post: the conversation page again (the POST/redirect/GET pattern)."""
    return RedirectResponse(f"/c/{conv_id}{anchor}", status_code=303)
