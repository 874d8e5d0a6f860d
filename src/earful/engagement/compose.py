"""Composing a reply: the agent's signature and each network's character limit.

Networks count differently: X weighs a URL as 23 characters and CJK as 2, Mastodon counts
a URL as 23 and a mention by its local part, Bluesky counts graphemes. :func:`length`
follows each rule closely enough for a counter that never lets a too-long reply through.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from earful.errors import BadInput

LIMITS: dict[str, int] = {
    "x": 280,
    "twitter": 280,
    "bluesky": 300,
    "mastodon": 500,
    "threads": 500,
    "instagram": 2200,
    "facebook": 8000,
    "youtube": 10000,
    "reddit": 10000,
}
DEFAULT_LIMIT = 500
# Private channels (an answer in a DM, Messenger, Instagram or email conversation).
PRIVATE_LIMITS: dict[str, int] = {
    "x": 10000,
    "facebook": 2000,
    "instagram": 1000,
    "mastodon": 500,
    "bluesky": 1000,
    "email": 100_000,
}


def private_channel(network: str) -> str:
    """The limit key of a network's private channel (see :data:`LIMITS`)."""
    return f"{network} direct message"


LIMITS.update({private_channel(n): n_max for n, n_max in PRIVATE_LIMITS.items()})
URL = re.compile(r"https?://\S+")
MASTODON_MENTION = re.compile(r"(@[\w.]+)@[\w.-]+\w")
SIGNATURE_FIELDS = re.compile(r"\{(initials|first|name)\}")


def limit_for(network: str) -> int:
    return LIMITS.get(network, DEFAULT_LIMIT)


def _graphemes(text: str) -> int:
    return sum(1 for ch in text if not unicodedata.combining(ch) and ch != "\u200d")


def _x_weight(ch: str) -> int:
    o = ord(ch)
    light = o <= 0x10FF or 0x2000 <= o <= 0x200D or 0x2010 <= o <= 0x201F or 0x2032 <= o <= 0x2037
    return 1 if light else 2


def length(text: str, network: str) -> int:
    """How many characters ``network`` counts for ``text``."""
    if network in ("x", "twitter"):
        rest = URL.sub("", text)
        return 23 * len(URL.findall(text)) + sum(_x_weight(c) for c in _nfc(rest))
    if network == "mastodon":
        rest = MASTODON_MENTION.sub(r"\1", URL.sub("", text))
        return 23 * len(URL.findall(text)) + len(rest)
    if network == "bluesky":
        return _graphemes(_nfc(text))
    return len(text)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def initials(name: str) -> str:
    parts = [p for p in re.split(r"[\s\-]+", name.strip()) if p]
    return "".join(p[0].upper() for p in parts[:3]) or "?"


def signature(fmt: str, agent_name: str, override: str | None = None) -> str:
    """The agent's signature in a brand: their own, or the brand's format filled in."""
    if override:
        return override.strip()
    first = agent_name.split()[0] if agent_name.strip() else ""
    values = {"initials": initials(agent_name), "first": first, "name": agent_name.strip()}
    return SIGNATURE_FIELDS.sub(lambda m: values[m.group(1)], fmt).strip()


def sign(text: str, sig: str) -> str:
    text = text.strip()
    if not sig or text.endswith(sig):
        return text
    return f"{text} {sig}"


@dataclass(slots=True, frozen=True)
class Counter:
    used: int
    limit: int

    @property
    def left(self) -> int:
        return self.limit - self.used

    @property
    def over(self) -> bool:
        return self.used > self.limit


def count(text: str, network: str, sig: str = "") -> Counter:
    """The counter shown beside the reply box: the signature counts too."""
    return Counter(length(sign(text, sig) if text.strip() else sig, network), limit_for(network))


def check_reply(text: str, network: str, sig: str = "") -> str:
    """The signed text to send, or :class:`BadInput` saying what is wrong (nothing is sent)."""
    if not text or not text.strip():
        raise BadInput("a reply needs some text")
    signed = sign(text, sig)
    c = count(text, network, sig)
    if c.over:
        raise BadInput(
            f"the reply is {c.used} characters with the signature; {network} allows "
            f"{c.limit}: shorten it by {c.used - c.limit}"
        )
    return signed
