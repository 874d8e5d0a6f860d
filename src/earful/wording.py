"""Durations in the words people use, shared by every page and message that says how long."""

from __future__ import annotations


def duration_words(minutes: int) -> str:
    """12 min, 3 h, 2 h 5 min, 4 days: how long, as people say it."""
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h" if rest == 0 or hours >= 10 else f"{hours} h {rest} min"
    return f"{round(minutes / 1440)} days"


NETWORK_NAMES = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon", "reddit": "Reddit",
                 "facebook": "Facebook", "instagram": "Instagram", "email": "email"}  # fmt: skip


def network_name(network: str) -> str:
    """A network as its users write it ("Bluesky", "X"); an unknown one as stored."""
    return NETWORK_NAMES.get(network, network)
