"""A small OpenID Connect provider speaking the real wire format: discovery, JWKS,
``/authorize`` (the user is already signed in there: it answers with a code at once) and
``/token`` (client secret, redirect URI and PKCE S256 checked; RS256 ID token).

``mode`` makes the next ID tokens wrong in one way: "bad_signature" (signed by another
key under the same key id), "wrong_audience", "expired", "wrong_nonce", "unverified"."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

KID = "fake-key-1"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeOidc:
    client_id: str = "earful-test"
    client_secret: str = "fake-client-secret"
    email: str = "alice@example.org"
    mode: str = "ok"
    key: rsa.RSAPrivateKey = field(default_factory=_key)
    other_key: rsa.RSAPrivateKey = field(default_factory=_key)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery(request: Request) -> dict[str, Any]:
            base = str(request.base_url).rstrip("/")
            return {
                "issuer": base,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]}

        @app.get("/authorize")
        def authorize(
            response_type: str,
            client_id: str,
            redirect_uri: str,
            state: str,
            nonce: str,
            code_challenge: str,
            code_challenge_method: str,
            scope: str = "",
        ) -> Response:
            if response_type != "code" or client_id != self.client_id:
                return JSONResponse({"error": "unauthorized_client"}, status_code=400)
            if code_challenge_method != "S256" or "openid" not in scope.split():
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "redirect_uri": redirect_uri,
                "nonce": nonce,
                "challenge": code_challenge,
            }
            query = urlencode({"code": code, "state": state})
            return RedirectResponse(f"{redirect_uri}?{query}", status_code=302)

        @app.post("/token")
        def token(
            request: Request,
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            code_verifier: str = Form(),
        ) -> Response:
            self.token_requests.append({"code": code, "verifier": code_verifier})
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode())
            if request.headers.get("authorization") != f"Basic {expected.decode()}":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            issued = self.codes.pop(code, None)  # a code is good once
            if grant_type != "authorization_code" or issued is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != issued["challenge"] or redirect_uri != issued["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            base = str(request.base_url).rstrip("/")
            return JSONResponse(
                {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": self.id_token(base, issued["nonce"]),
                }
            )

        return app

    def id_token(self, issuer: str, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": "user-123",
            "aud": "another-client" if self.mode == "wrong_audience" else self.client_id,
            "iat": now,
            "exp": now - 600 if self.mode == "expired" else now + 300,
            "nonce": "not-the-nonce" if self.mode == "wrong_nonce" else nonce,
            "email": self.email,
            "email_verified": self.mode != "unverified",
            "name": "Alice from the IdP",
        }
        key = self.other_key if self.mode == "bad_signature" else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KID})
