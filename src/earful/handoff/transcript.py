"""The transcript a handoff carries: every post, note and label, so no one repeats themselves.

Two renderings: :meth:`Transcript.for_customer` (the public posts only: an email to the
customer must never leak internal notes) and :meth:`Transcript.for_team` (posts with their
labels, notes, tags: a helpdesk ticket's internal note, a webhook).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from earful.conversations import repository as conversations_repo
from earful.models import Brand, Conversation, Identity


@dataclass(slots=True, frozen=True)
class Entry:
    at: datetime
    who: str
    network: str
    text: str
    from_brand: bool
    url: str | None
    sentiment: str | None
    intent: str | None
    urgency: int | None
    language: str | None

    def labels(self) -> str:
        parts = [
            p
            for p in (
                self.sentiment,
                self.intent,
                f"urgency {self.urgency}" if self.urgency is not None else None,
                self.language,
            )
            if p
        ]
        return ", ".join(parts)


@dataclass(slots=True, frozen=True)
class NoteEntry:
    at: datetime
    who: str
    text: str


@dataclass(slots=True, frozen=True)
class Transcript:
    conversation_id: int
    brand: str
    customer: str
    subject: str | None
    link: str
    entries: list[Entry]
    notes: list[NoteEntry]
    tags: list[str]
    status: str

    def _posts(self, labels: bool) -> list[str]:
        lines = []
        for e in self.entries:
            head = f"[{e.at:%Y-%m-%d %H:%M} UTC] {e.who} on {e.network}"
            if labels and e.labels():
                head += f" ({e.labels()})"
            lines.append(head + ":")
            lines.extend("  " + ln for ln in e.text.splitlines() or [""])
            lines.append("")
        return lines

    def for_customer(self) -> str:
        lines = [f"Our conversation so far ({self.brand}):", ""]
        return "\n".join(lines + self._posts(labels=False)).rstrip() + "\n"

    def for_team(self) -> str:
        lines = [
            f"Conversation #{self.conversation_id} with {self.customer} ({self.brand})",
            f"Status: {self.status}. Tags: {', '.join(self.tags) or 'none'}.",
            f"In Earful: {self.link}",
            "",
        ]
        lines += self._posts(labels=True)
        if self.notes:
            lines.append("Internal notes:")
            for n in self.notes:
                lines.append(f"[{n.at:%Y-%m-%d %H:%M} UTC] {n.who}: {n.text}")
        return "\n".join(lines).rstrip() + "\n"

    def as_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for item in doc["entries"] + doc["notes"]:
            item["at"] = item["at"].isoformat()
        return doc


def build(session: Session, conv: Conversation, public_url: str) -> Transcript:
    brand = session.get(Brand, conv.brand_id)
    ident = session.get(Identity, conv.identity_id)
    assert brand is not None and ident is not None
    entries = [
        Entry(
            at=p.created_at,
            who=(brand.name if p.from_brand else f"@{p.handle}" if p.handle else "customer"),
            network=p.network,
            text=p.text,
            from_brand=p.from_brand,
            url=p.url,
            sentiment=p.sentiment,
            intent=p.intent,
            urgency=p.urgency,
            language=p.language,
        )
        for p in conversations_repo.thread(session, conv.id)
    ]
    notes = [
        NoteEntry(n.created_at, name or "agent", n.text)
        for n, name in conversations_repo.notes(session, conv.id)
    ]
    who = f"@{ident.handle}" if ident.handle else ident.external_id
    if ident.display_name:
        who += f" ({ident.display_name})"
    return Transcript(
        conversation_id=conv.id,
        brand=brand.name,
        customer=who,
        subject=conv.subject,
        link=f"{public_url.rstrip('/')}/conversations/{conv.id}",
        entries=entries,
        notes=notes,
        tags=conversations_repo.tags_of(session, [conv.id]).get(conv.id, []),
        status=str(conv.status.value),
    )
