"""Reply-To tokens: ``reply+c<conversation>-<mac>@domain`` threads an email answer back.

The MAC (HMAC-SHA256 over the conversation id, 80 bits, base32) makes the address
unguessable, so only someone who received our mail can write into the conversation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

TOKEN = re.compile(r"^c(\d{1,18})-([a-z2-7]{16})$")


def _mac(conv_id: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"earful-conversation:{conv_id}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()[:10]).decode().lower()


def token(conv_id: int, secret: str) -> str:
    return f"c{conv_id}-{_mac(conv_id, secret)}"


def verify(value: str, secret: str) -> int | None:
    m = TOKEN.match(value.strip().lower())
    if not m:
        return None
    conv_id = int(m.group(1))
    return conv_id if hmac.compare_digest(m.group(2), _mac(conv_id, secret)) else None


def reply_address(conv_id: int, secret: str, domain: str, prefix: str = "reply") -> str:
    return f"{prefix}+{token(conv_id, secret)}@{domain}"


def conversation_of(address: str, secret: str) -> int | None:
    """The conversation an address like ``reply+c12-...@domain`` belongs to, if genuine."""
    local = address.strip().strip("<>").rsplit("@", 1)[0]
    if "+" not in local:
        return None
    return verify(local.split("+", 1)[1], secret)
