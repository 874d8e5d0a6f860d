"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) keyed from ``EARFUL_SECRET_KEY``.

The stored token is opaque; a changed secret key makes old tokens unreadable (and says
so) rather than silently wrong. Plain secrets never reach logs: :class:`Secret` hides its
value from ``repr``/``str``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken


class CredentialError(Exception):
    """Stored credentials cannot be read with this secret key."""


class Secret(str):
    """A string that never prints itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    @property
    def value(self) -> str:
        return str.__str__(self)


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"earful-credentials:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(credentials: dict[str, Any], secret_key: str) -> str:
    return _fernet(secret_key).encrypt(orjson.dumps(credentials)).decode("ascii")


def unseal(token: str, secret_key: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(_fernet(secret_key).decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError):
        raise CredentialError(
            "stored credentials cannot be decrypted: EARFUL_SECRET_KEY changed since they "
            "were saved? Add the source's credentials again."
        ) from None
    if not isinstance(doc, dict):
        raise CredentialError("stored credentials are not an object")
    return doc
