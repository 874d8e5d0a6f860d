"""OpenID Connect sign-in: the authorization code flow with PKCE (S256), a state and a
nonce, and an RS256 ID token checked against the provider's JWKS (signature, issuer,
audience, expiry, nonce). The provider's discovery document and keys are fetched when
first needed and kept; an unknown key id fetches the keys once more (key rotation)."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from earful.config import Settings
from earful.errors import NotAuthenticated

log = logging.getLogger(__name__)
LEEWAY_S = 60  # clock skew allowed on exp/iat


class OidcError(NotAuthenticated):
    """The identity provider's answer is refused; the message says why (no token in it)."""


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    create_users: bool = False
    label: str = "your identity provider"

    def __repr__(self) -> str:  # the client secret never reaches a log
        return f"OidcConfig(issuer={self.issuer!r}, client_id={self.client_id!r})"


@dataclass(frozen=True, slots=True)
class Challenge:
    """What the browser's round trip must bring back, kept in a signed cookie."""

    url: str
    state: str
    nonce: str
    verifier: str


def from_settings(settings: Settings) -> OidcConfig | None:
    if not settings.oidc_issuer:
        return None
    return OidcConfig(
        issuer=settings.oidc_issuer.rstrip("/"),
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        create_users=settings.oidc_create_users,
        label=settings.oidc_label,
    )


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    def __init__(self, config: OidcConfig, timeout: float = 10.0) -> None:
        self.config = config
        self.label = config.label
        self.timeout = timeout
        self._metadata: dict[str, Any] | None = None
        self._keys: jwt.PyJWKSet | None = None
        self._lock = threading.Lock()

    def _get(self, url: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self.timeout)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcError(
                f"the identity provider cannot be reached ({type(exc).__name__})"
            ) from None
        if not isinstance(doc, dict):
            raise OidcError("the identity provider answered with something else than JSON")
        return doc

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                doc = self._get(self.config.issuer + "/.well-known/openid-configuration")
                if str(doc.get("issuer", "")).rstrip("/") != self.config.issuer:
                    raise OidcError("the discovery document names another issuer")
                for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(doc.get(name), str):
                        raise OidcError(f"the discovery document has no {name}")
                self._metadata = doc
            return self._metadata

    def begin(self, redirect_uri: str) -> Challenge:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": _s256(verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint = self.metadata()["authorization_endpoint"]
        separator = "&" if "?" in endpoint else "?"
        return Challenge(f"{endpoint}{separator}{query}", state, nonce, verifier)

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> str:
        """Trade the code for tokens at the token endpoint; returns the ID token."""
        try:
            response = httpx.post(
                self.metadata()["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": verifier,
                },
                auth=(self.config.client_id, self.config.client_secret),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise OidcError(
                f"the identity provider cannot be reached ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            log.warning("OIDC token endpoint answered %s", response.status_code)
            raise OidcError("the identity provider refused the sign-in code")
        try:
            token = response.json().get("id_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str):
            raise OidcError("the identity provider sent no ID token")
        return token

    def _key(self, kid: str | None, refresh: bool = False) -> jwt.PyJWK:
        if self._keys is None or refresh:
            doc = self._get(self.metadata()["jwks_uri"])
            try:
                self._keys = jwt.PyJWKSet.from_dict(doc)
            except jwt.PyJWTError:
                raise OidcError("the identity provider's keys cannot be read") from None
        try:
            return self._keys[kid] if kid else self._keys.keys[0]
        except (KeyError, IndexError):
            if not refresh:
                return self._key(kid, refresh=True)
            raise OidcError("the ID token is signed with an unknown key") from None

    def verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature (RS256 only), issuer, audience,
        expiry and nonce are right."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcError("the ID token is malformed") from None
        if header.get("alg") != "RS256":
            raise OidcError("the ID token is not signed with RS256")
        key = self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=["RS256"],
                audience=self.config.client_id,
                issuer=self.config.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise OidcError("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise OidcError("the ID token is for another client") from None
        except jwt.InvalidIssuerError:
            raise OidcError("the ID token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise OidcError("the ID token's signature is wrong") from None
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token is refused ({type(exc).__name__})") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("the ID token's nonce does not match this sign-in")
        return claims
