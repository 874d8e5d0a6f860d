"""Request dependencies: the unit of work and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from earful.auth import sessions as server_sessions
from earful.auth.service import Principal, principal_for_token, principal_of
from earful.db import unit_of_work
from earful.errors import NotAuthenticated
from earful.web.security import Sessions, bearer_token


def get_db(request: Request) -> Iterator[Session]:
    """The request's unit of work: commits once the endpoint returns, rolls back if it
    raises, and only then publishes what the endpoint announced (``after_commit``).

    Function-scoped, so the commit happens before the response is sent: a client that
    follows the redirect always reads what it just wrote, and a failed commit is an
    error response, not a success that did not happen."""
    with unit_of_work(request.app.state.session_factory) as session:
        yield session


Db = Annotated[Session, Depends(get_db, scope="function")]


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
            # The signed cookie alone signs no one in: its session row must still exist
            # (a revoked one is deleted), and the password must not have changed since.
            live = server_sessions.resolve(db, data.sid, data.user_id, request.app.state.clock())
            if live is not None:
                row, user, roles = live
                found = principal_of(user, roles)
                if found.password_tag == data.tag:
                    principal = replace(found, session_id=row.id)
    if principal is not None and request.client is not None:
        principal = replace(principal, address=request.client.host)
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
