"""What a notification says, for a person who is not looking at the desk: what happened,
to whom, a short excerpt of what the customer wrote, and where to open it.

One :class:`Text` per message (a title and a few plain lines); each medium renders it
with its own escaping: email as plain text, Slack/Mattermost as mrkdwn with ``& < >``
escaped and the link as ``<url|label>``, the browser notification as its title and body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from earful.customers.links import ADDRESS

EXCERPT_CHARS = 140
BROWSER_BODY_CHARS = 300  # the notification shows a few lines; the column holds 500
_SPACE = re.compile(r"\s+")
NETWORK_NAMES = {"x": "X", "bluesky": "Bluesky", "mastodon": "Mastodon", "reddit": "Reddit",
                 "facebook": "Messenger", "instagram": "Instagram", "email": "email"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Text:
    title: str
    lines: tuple[str, ...]
    link: str
    link_label: str

    @property
    def body(self) -> str:
        return "\n".join(self.lines)


def one_line(text: str) -> str:
    """Whitespace (newlines included: a header, a notification title) collapsed."""
    return _SPACE.sub(" ", text).strip()


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str:
    """The customer's words on one line, email addresses hidden, cut at a word."""
    flat = one_line(ADDRESS.sub("[address]", text or ""))
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:") + "…"


def who(handle: str | None, network: str | None) -> str:
    """A customer as an agent names them; an email identity's address is not shown."""
    name = NETWORK_NAMES.get(network or "", network or "unknown network")
    if not handle or network == "email":
        return f"a customer by {name}"
    return f"@{handle.lstrip('@')} on {name}"


def quoted(text: str | None) -> str | None:
    words = excerpt(text)
    return f"“{words}”" if words else None


def _lines(*lines: str | None) -> tuple[str, ...]:
    return tuple(line for line in lines if line)


def spike(
    brand: str, kind: str, observed: int, minutes: int, expected: float, sample: str | None,
    link: str,
) -> Text:  # fmt: skip
    what = "negative posts" if kind == "negative" else "mentions"
    usual = f"{expected:.1f}" if expected < 10 else f"{expected:.0f}"
    return Text(
        one_line(f"{brand}: spike of {kind} mentions, {observed} in {minutes} min"),
        _lines(
            f"{observed} {what} about {brand} in the last {minutes} min; usually about "
            f"{usual} in that time.",
            f"Top post: {quoted(sample)}" if quoted(sample) else None,
        ),
        link,
        "Open the alert",
    )


def breach(
    brand: str, conv_id: int, customer: str, target_words: str, overdue_words: str,
    said: str | None, link: str,
) -> Text:  # fmt: skip
    return Text(
        one_line(f"{brand}: conversation #{conv_id} is past its {target_words} response target"),
        _lines(
            f"{customer} has waited past the {target_words} target; {overdue_words} overdue.",
            f"They wrote: {quoted(said)}" if quoted(said) else None,
        ),
        link,
        "Open the conversation",
    )


def assigned(brand: str, conv_id: int, by: str, customer: str, said: str | None, link: str) -> Text:
    return Text(
        one_line(f"{brand}: {by} assigned you conversation #{conv_id}"),
        _lines(
            f"{by} assigned you the conversation with {customer}.",
            f"They wrote: {quoted(said)}" if quoted(said) else None,
        ),
        link,
        "Open the conversation",
    )


# ------------------------------------------------------------------ per medium


def email_body(t: Text) -> str:
    return f"{t.body}\n\n{t.link_label}: {t.link}\n"


def slack_escape(text: str) -> str:
    """Slack's and Mattermost's control characters; nothing else is entity-encoded."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: str, label: str) -> str:
    # A "|" or ">" in the label or address would end the link early.
    safe = slack_escape(label.replace("|", "/"))
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{safe}>" if url else safe


def slack_text(t: Text) -> str:
    lines = [f"*{slack_escape(t.title)}*", *map(slack_escape, t.lines)]
    return "\n".join([*lines, slack_link(t.link, t.link_label)])


def browser_body(t: Text) -> str:
    body = t.body
    return body if len(body) <= BROWSER_BODY_CHARS else body[: BROWSER_BODY_CHARS - 1] + "…"
