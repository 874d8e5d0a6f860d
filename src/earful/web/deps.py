"""Request dependencies: the unit of work and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from earful.auth.service import Principal, load_principal, principal_for_token
from earful.errors import NotAuthenticated
from earful.web.security import Sessions, bearer_token


def get_db(request: Request) -> Iterator[Session]:
    """A session per request; endpoints that write commit at their end (the edge)."""
    with request.app.state.session_factory() as session:
        yield session


Db = Annotated[Session, Depends(get_db)]


def optional_principal(request: Request, db: Db) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = bearer_token(request)
    principal: Principal | None = None
    if token is not None:
        principal = principal_for_token(db, token)
    else:
        sessions: Sessions = request.app.state.sessions
        data = sessions.read(request)
        if data.user_id is not None:
            found = load_principal(db, data.user_id)
            if found is not None and found.password_tag == data.tag:
                principal = found
    request.state.principal = principal
    return principal


def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise NotAuthenticated()
    return principal


CurrentUser = Annotated[Principal, Depends(require_principal)]
MaybeUser = Annotated[Principal | None, Depends(optional_principal)]
