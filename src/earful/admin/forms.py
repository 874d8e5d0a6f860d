"""The one flow every admin form follows: look the brand up with the admin's access (a
slug of another brand answers 404 before any field is looked at, never a 422 that would
confirm it exists), validate and save (the service records the change in the audit log),
then redirect back to the page with what was saved. Bad input raises and nothing is saved."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from fastapi.responses import RedirectResponse

from earful.admin import service
from earful.web.deps import CurrentUser, Db


def back_to(page: str, saved: str = "", section: str = "") -> RedirectResponse:
    """See-other to ``page`` with the "saved" line (and the section to scroll to)."""
    query = f"?saved={quote(saved)}" if saved else ""
    anchor = f"#{section}" if section else ""
    return RedirectResponse(f"{page}{query}{anchor}", status_code=303)


def submit(
    db: Db,
    principal: CurrentUser,
    slug: str,
    save: Callable[[], str],
    *,
    page: str = "settings",
    section: str = "",
) -> RedirectResponse:
    """Access, then ``save()`` (validates, saves, audits; returns what to say), then back to
    the brand's ``page``."""
    service.admin_brand(db, principal, slug)
    return back_to(f"/brands/{slug}/{page}", save(), section)
