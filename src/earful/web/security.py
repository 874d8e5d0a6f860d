"""Signed session cookies, CSRF tokens and security headers."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earful.errors import CsrfFailed

SESSION_COOKIE = "earful_session"
SESSION_MAX_AGE = 12 * 3600
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(slots=True)
class SessionData:
    """What the signed cookie carries. A signed-in browser's ``sid`` names its server-side
    session row (``auth.sessions``): the cookie alone never signs anyone in. ``pending``
    is a sign-in half done: (user id, "totp" or "enrol", when the password was right)."""

    user_id: int | None
    csrf: str
    tag: str = ""
    fresh: bool = False  # not yet in a cookie
    sid: str = ""
    pending: tuple[int, str, float] | None = None


class Sessions:
    def __init__(self, secret_key: str, secure: bool = True) -> None:
        self.signer = URLSafeTimedSerializer(secret_key, salt="earful.session")
        self.secret_key = secret_key  # also seals TOTP secrets and signs the OIDC round trip
        self.secure = secure

    def read(self, request: Request) -> SessionData:
        cached = getattr(request.state, "session", None)
        if isinstance(cached, SessionData):
            return cached
        data = self._load(request.cookies.get(SESSION_COOKIE))
        request.state.session = data
        return data

    def _load(self, cookie: str | None) -> SessionData:
        if cookie:
            try:
                raw: Any = self.signer.loads(cookie, max_age=SESSION_MAX_AGE)
                if isinstance(raw, dict) and isinstance(raw.get("c"), str):
                    uid = raw.get("u")
                    return SessionData(
                        uid if isinstance(uid, int) else None,
                        raw["c"],
                        str(raw.get("t", "")),
                        sid=str(raw.get("s", "")),
                        pending=_pending(raw.get("p")),
                    )
            except BadSignature:
                pass
        return SessionData(None, secrets.token_urlsafe(32), fresh=True)

    def write(self, response: Response, data: SessionData) -> None:
        raw: dict[str, Any] = {"u": data.user_id, "c": data.csrf, "t": data.tag}
        if data.sid:
            raw["s"] = data.sid
        if data.pending:
            raw["p"] = list(data.pending)
        value = self.signer.dumps(raw)
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            secure=self.secure,
            samesite="lax",
            path="/",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=self.secure, httponly=True, samesite="lax"
        )


def _pending(raw: Any) -> tuple[int, str, float] | None:
    if isinstance(raw, list) and len(raw) == 3:
        uid, kind, at = raw
        if isinstance(uid, int) and isinstance(kind, str) and isinstance(at, int | float):
            return uid, kind, float(at)
    return None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


WEBHOOKS = "/webhooks/"
# Anonymous survey answers: the signed token in the path is the credential (csat/).
SIGNED_LINKS = "/csat/"


async def csrf_protect(request: Request) -> None:
    """Runs before every route: unsafe requests carry the session's CSRF token.

    Requests authenticated by an API token (no ambient cookie) are exempt; their
    session cookie, if any, is then ignored.
    """
    if request.method in SAFE_METHODS or bearer_token(request) is not None:
        return
    if request.url.path.startswith(WEBHOOKS):
        return  # the network calls these: no cookie to ride, each body is signature-checked
    if request.url.path.startswith(SIGNED_LINKS):
        return  # no session to ride: a forger would need the signed token itself
    sessions: Sessions = request.app.state.sessions
    data = sessions.read(request)
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if data.fresh or not sent or not hmac.compare_digest(sent, data.csrf):
        raise CsrfFailed()


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pure ASGI middleware (safe for streaming responses)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in existing]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
