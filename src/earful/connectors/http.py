"""HTTP for connectors: one retrying request helper and the networks' rate-limit headers.

Every network says when to come back in its own words:

* ``Retry-After``: seconds (or an HTTP date) - generic, Meta, Mastodon on 503.
* ``ratelimit-reset`` (Bluesky PDS), ``x-rate-limit-reset`` (X): Unix time in seconds.
* ``X-RateLimit-Reset`` (Mastodon): an ISO 8601 time.
* ``X-Ratelimit-Reset`` (Reddit): seconds until the window resets (with ``-Remaining``).

:func:`retry_after` reads whichever is present. A request whose remaining quota hits zero
waits for the reset before the next one (``RateGate``) instead of earning a 429.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from earful.connectors.base import ActionError, AuthError, Backoff, Retry

MAX_WAIT_S = 900.0  # never sleep longer than this on a header's word


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def reset_in(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds until the rate-limit window resets, from whichever header the network sends."""
    now = time.time() if now is None else now
    raw = headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset")
    raw = raw or headers.get("x-rate-limit-reset")
    if raw is None:
        return None
    number = _number(raw)
    if number is None:  # Mastodon: ISO 8601
        try:
            at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return max(0.0, at.timestamp() - now)
    if number > 1_000_000_000:  # an absolute Unix time (Bluesky, X)
        return max(0.0, number - now)
    return max(0.0, number)  # seconds from now (Reddit)


def remaining(headers: httpx.Headers) -> float | None:
    return _number(
        headers.get("x-ratelimit-remaining")
        or headers.get("ratelimit-remaining")
        or headers.get("x-rate-limit-remaining")
    )


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """How long the network asks us to wait before trying again, when it says."""
    raw = response.headers.get("retry-after")
    if raw is not None:
        number = _number(raw)
        if number is not None:
            return min(MAX_WAIT_S, max(0.0, number))
        try:
            at = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            at = None
        if at is not None:
            return min(MAX_WAIT_S, max(0.0, at.timestamp() - (now or time.time())))
    wait = reset_in(response.headers, now)
    return None if wait is None else min(MAX_WAIT_S, wait)


@dataclass(slots=True)
class RateGate:
    """Holds the next request back while the network says the quota is spent."""

    not_before: float = 0.0
    waits: list[float] = field(default_factory=list)  # for tests and health

    def observe(self, response: httpx.Response) -> None:
        left = remaining(response.headers)
        if left is not None and left <= 0:
            wait = reset_in(response.headers)
            if wait:
                self.not_before = max(self.not_before, time.monotonic() + min(wait, MAX_WAIT_S))

    async def wait(self) -> None:
        delay = self.not_before - time.monotonic()
        if delay > 0:
            self.waits.append(delay)
            await asyncio.sleep(delay)


def describe(response: httpx.Response) -> str:
    """A short reason for logs and health: status and the network's error name, no body text."""
    reason = f"HTTP {response.status_code}"
    try:
        doc: Any = response.json()
    except ValueError:
        return reason
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict):  # Meta Graph API
            err = err.get("type") or err.get("code")
        title = doc.get("title")  # X API problem documents
        name = err or title
        if isinstance(name, str | int):
            reason += f" {str(name)[:80]}"
    return reason


async def request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    gate: RateGate | None = None,
    attempts: int = 4,
    backoff: Backoff | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request; wait and retry on 429, 5xx and dropped connections.

    Returns the first 2xx/3xx/4xx (other than 429) response; raises :class:`Retry` when
    the attempts run out (the caller's reconnect loop takes over), :class:`AuthError` on
    401/403 (after the caller's own refresh logic had its chance).
    """
    backoff = backoff or Backoff(base=0.2, cap=10.0)
    reason = "no attempt made"
    for attempt in range(attempts):
        if gate:
            await gate.wait()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            reason = f"connection failed: {type(exc).__name__}"
            delay = backoff.next_delay()
        else:
            if gate:
                gate.observe(response)
            status = response.status_code
            if status == 429 or status >= 500:
                reason = describe(response)
                wait = retry_after(response)
                delay = wait if wait is not None else backoff.next_delay()
            else:
                return response
        if attempt + 1 < attempts:
            await asyncio.sleep(delay)
    raise Retry(reason)


def check(response: httpx.Response, what: str) -> Any:
    """The JSON body of a successful response, or a typed error naming ``what``."""
    if response.status_code in (401, 403):
        raise AuthError(f"{what}: {describe(response)}")
    if response.status_code >= 400:
        raise ActionError(f"{what}: {describe(response)}", response.status_code)
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError:
        raise ActionError(f"{what}: response is not JSON", response.status_code) from None
