"""The scheduler pass, run by the outbound worker every round (``earful outbound run`` and
``earful run``), before the round sends what is due.

1. **Notifications**: new spike alerts, conversations whose response clock just ran out
   and new assignments become one :class:`Notification` per subscribed target; the
   ``(target, key)`` unique key makes a second look (or a second worker) a no-op. Email and
   chat messages go into the outbound queue (retries with backoff); browser ones are
   published by the web process's live tail. Quiet hours hold a message until they end
   (its job is due then) or drop it, as the user chose; browser notifications are dropped.
2. **Event webhooks**: conversation events of brands with endpoints are recorded once
   (``WebhookEvent.source`` is unique) and queued once per endpoint.
3. **Settling**: finished jobs are counted on their target or endpoint; after
   ``SUSPEND_AFTER`` failed messages in a row it is suspended and shown to the brand's
   admins, and is not tried again until someone resumes it.

Everything looks back ``LOOKBACK`` (rows committed late by a slow transaction are still
found); older events are not announced, so a worker that was stopped for a day does not
wake everyone with yesterday's news.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from earful.conversations.priority import duration_words
from earful.engagement.service import queue_job
from earful.models import (
    Alert,
    AuditEvent,
    Brand,
    Conversation,
    ConversationState,
    ConversationStatus,
    Identity,
    JobKind,
    JobState,
    Notification,
    NotificationTarget,
    OutboundJob,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from earful.notifications import compose, events
from earful.notifications import repository as repo
from earful.notifications.quiet import quiet_until

LOOKBACK = timedelta(minutes=15)
SUSPEND_AFTER = 3  # failed messages in a row
NOTIFY_ATTEMPTS = 5  # per message, with the worker's backoff between them
EVENT_ATTEMPTS = 8
NETWORKS = {"email": "notify-email", "chat": "notify-chat"}
EVENT_NETWORK = "event-webhook"
HELD_REASON = "held: the endpoint is suspended; it is sent when an admin resumes it"


@dataclass(slots=True)
class Message:
    brand_id: int
    event: str  # spike | sla | assigned
    key: str
    text: compose.Text
    only_user: int | None = None  # an assignment goes to the assignee only
    conversation_id: int | None = None  # erasing its customer deletes the message's job
    post_id: int | None = None  # the post it quotes: erasing its writer deletes the job

    @property
    def title(self) -> str:
        return self.text.title

    @property
    def link(self) -> str:
        return self.text.link


@dataclass(slots=True)
class RoundSummary:
    notifications: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events: int = 0
    deliveries: int = 0
    suspended: int = 0

    def __bool__(self) -> bool:
        return bool(sum(self.notifications.values()) or self.events or self.suspended)

    def line(self) -> str:
        parts = [f"{n} notifications {state}" for state, n in sorted(self.notifications.items())]
        if self.events:
            parts.append(f"{self.events} events ({self.deliveries} deliveries)")
        if self.suspended:
            parts.append(f"{self.suspended} targets suspended")
        return ", ".join(parts)


def notify_round(
    session: Session, now: datetime, public_url: str, lookback: timedelta = LOOKBACK
) -> RoundSummary:
    summary = RoundSummary()
    since = now - lookback
    base = public_url.rstrip("/")
    _fan_out(session, now, _spikes(session, since, base), summary)
    _fan_out(session, now, _breaches(session, now, lookback, base), summary)
    _fan_out(session, now, _assignments(session, since, base), summary)
    _record_events(session, since, base, summary)
    _settle(session, now, summary)
    return summary


# ------------------------------------------------------------------ what to tell


def _spikes(session: Session, since: datetime, base: str) -> list[Message]:
    alerts = repo.new_alerts(session, since)
    brands = repo.brands(session, {a.brand_id for a in alerts})
    return [_spike(session, a, brands[a.brand_id], base) for a in alerts if a.brand_id in brands]


def _spike(session: Session, a: Alert, brand: Brand, base: str) -> Message:
    minutes = max(1, round((a.window_end - a.window_start).total_seconds() / 60))
    top = int(a.post_ids[0]) if a.post_ids else None
    sample = repo.post_texts(session, [top]).get(top) if top is not None else None
    text = compose.spike(brand.name, a.kind, a.observed, minutes, a.expected, sample,
                         f"{base}/alerts/{a.id}")  # fmt: skip
    return Message(a.brand_id, "spike", f"spike:{a.id}", text, post_id=top)


def _breaches(session: Session, now: datetime, lookback: timedelta, base: str) -> list[Message]:
    """Conversations whose wait crossed the brand's target in the last ``lookback``."""
    subs = repo.subscribed(session, None, "sla")
    brands = repo.brands(session, {t.brand_id for t, _ in subs})
    out = []
    for brand in brands.values():
        target = timedelta(minutes=max(1, brand.target_response_minutes))
        for state, conv in repo.breached(session, brand.id, now - target - lookback, now - target):
            if conv.status == ConversationStatus.RESOLVED or state.waiting_since is None:
                continue
            out.append(_breach(session, brand, conv, state, now, base))
    return out


def _breach(
    session: Session, brand: Brand, conv: Conversation, state: ConversationState,
    now: datetime, base: str,
) -> Message:  # fmt: skip
    assert state.waiting_since is not None
    minutes = max(1, brand.target_response_minutes)
    due = state.waiting_since + timedelta(minutes=minutes)
    overdue = max(1, int((now - due).total_seconds() // 60))
    ident = repo.identities(session, [conv.identity_id]).get(conv.identity_id)
    said = repo.last_words(session, conv.id)
    text = compose.breach(
        brand.name, conv.id, _customer(ident), duration_words(minutes), duration_words(overdue),
        said, f"{base}/c/{conv.id}",
    )  # fmt: skip
    key = f"sla:{conv.id}:{int(state.waiting_since.timestamp())}"
    return Message(brand.id, "sla", key, text, conversation_id=conv.id)


def _customer(ident: Identity | None) -> str:
    return compose.who(ident.handle or ident.external_id, ident.network) if ident else "a customer"


def _conv_id(target: str | None) -> int | None:
    if target and target.startswith("conversation:"):
        try:
            return int(target.split(":", 1)[1])
        except ValueError:
            return None
    return None


def _assignments(session: Session, since: datetime, base: str) -> list[Message]:
    wanted = {t.brand_id for t, _ in repo.subscribed(session, None, "assigned")}
    rows = repo.audit_since(session, wanted, ["conversation.assign"], since)
    brands = repo.brands(session, {r.brand_id for r in rows if r.brand_id})
    out = []
    for r in rows:
        m = _assigned(session, r, brands.get(r.brand_id or 0), base)
        if m is not None:
            out.append(m)
    return out


def _assigned(session: Session, r: AuditEvent, brand: Brand | None, base: str) -> Message | None:
    assignee = (r.details or {}).get("assignee")
    conv_id = _conv_id(r.target)
    if not assignee or conv_id is None or brand is None or assignee == r.user_id:
        return None  # unassigned, or taken by oneself: nobody to tell
    by = repo.user_names(session, [r.user_id or 0]).get(r.user_id or 0, r.actor)
    conv = repo.conversations(session, [conv_id]).get(conv_id)
    ident = repo.identities(session, [conv.identity_id]).get(conv.identity_id) if conv else None
    said = repo.last_words(session, conv_id)
    text = compose.assigned(brand.name, conv_id, by, _customer(ident), said, f"{base}/c/{conv_id}")
    return Message(brand.id, "assigned", f"assigned:{r.id}", text, only_user=int(assignee),
                   conversation_id=conv_id)  # fmt: skip


def describe(session: Session, note: Notification, now: datetime) -> compose.Text | None:
    """A notification's words, composed again from its subject (for the browser, whose
    row keeps no customer words): None when the subject is gone (erased, deleted)."""
    kind, _, rest = note.key.partition(":")
    subject = rest.split(":", 1)[0]
    brand = session.get(Brand, note.brand_id)
    if brand is None or not subject.isdigit():
        return None
    m: Message | None = None
    if kind == "spike" and (alert := session.get(Alert, int(subject))) is not None:
        m = _spike(session, alert, brand, "")
    elif kind == "sla" and (conv := session.get(Conversation, int(subject))) is not None:
        state = repo.states(session, [conv.id]).get(conv.id)
        if state is not None and state.waiting_since is not None:
            m = _breach(session, brand, conv, state, now, "")
    elif kind == "assigned" and (row := session.get(AuditEvent, int(subject))) is not None:
        m = _assigned(session, row, brand, "")
    return m.text if m is not None else None


# ------------------------------------------------------------------ to whom, how


def _fan_out(session: Session, now: datetime, messages: list[Message], s: RoundSummary) -> None:
    if not messages:
        return
    by_event: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        by_event[m.event].append(m)
    seen = repo.existing_keys(session, [m.key for m in messages])
    for event, batch in by_event.items():
        subs = repo.subscribed(session, {m.brand_id for m in batch}, event)
        for m in batch:
            for target, user in subs:
                if target.brand_id != m.brand_id or (target.id, m.key) in seen:
                    continue
                if m.only_user is not None and user.id != m.only_user:
                    continue
                state = _deliver(session, now, target, user, m)
                if state:
                    s.notifications[state] += 1


def _deliver(
    session: Session, now: datetime, target: NotificationTarget, user: User, m: Message
) -> str | None:
    """One notification row (once), and its job when it goes out by email or chat."""
    quiet = quiet_until(target.quiet_start, target.quiet_end, target.timezone, now)
    reason = None
    if target.suspended_at is not None:
        state, reason = "skipped", "the target is suspended after repeated failures"
    elif target.channel == "browser":
        state = "dropped" if quiet else "sent"
        reason = "quiet hours" if quiet else None
    elif quiet and target.quiet_mode == "drop":
        state, reason = "dropped", "quiet hours"
    else:
        state = "held" if quiet else "queued"
    row = Notification(
        brand_id=m.brand_id, user_id=user.id, target_id=target.id, channel=target.channel,
        event=m.event, key=m.key, title=m.title[:300], link=m.link[:500], state=state,
        reason=reason, settled=state not in ("queued", "held"), created_at=now,
    )  # fmt: skip
    if not repo.add_once(session, row):
        return None
    if state in ("queued", "held"):
        job = queue_job(
            session, None, m.brand_id, JobKind.NOTIFY, NETWORKS[target.channel],
            target=target.address or user.email, text=compose.email_body(m.text),
            key=f"notify-{row.id}",
        )  # fmt: skip
        job.max_attempts = NOTIFY_ATTEMPTS
        job.payload = {"subject": compose.one_line(m.title), "link": m.link, "event": m.event,
                       "chat": compose.slack_text(m.text), "notification_id": row.id,
                       "conversation_id": m.conversation_id, "post_id": m.post_id}  # fmt: skip
        if quiet is not None:
            job.next_attempt_at = quiet
        row.job_id = job.id
        session.flush()
    return state


# ------------------------------------------------------------------ event webhooks


@dataclass(slots=True)
class _Candidate:
    source: str
    brand_id: int
    type: str
    conversation_id: int
    at: datetime
    data: dict[str, Any]


def _candidates(session: Session, brand_ids: list[int], since: datetime) -> list[_Candidate]:
    out = [
        _Candidate(
            f"conversation:{c.id}", c.brand_id, "conversation.created", c.id, c.created_at, {}
        )
        for c in repo.new_conversations(session, brand_ids, since)
    ]
    actions = ["conversation.assign", "conversation.status", "conversation.handoff"]
    for r in repo.audit_since(session, brand_ids, actions, since):
        conv_id = _conv_id(r.target)
        if r.brand_id not in brand_ids or conv_id is None:
            continue
        details = r.details or {}
        source = f"audit:{r.id}"
        if r.action == "conversation.assign":
            data = {"assignee_id": details.get("assignee")}
            out.append(_Candidate(source, r.brand_id, "conversation.assigned", conv_id, r.at, data))
        elif r.action == "conversation.status" and details.get("status") == "resolved":
            out.append(_Candidate(source, r.brand_id, "conversation.resolved", conv_id, r.at, {}))
        elif r.action == "conversation.handoff":
            data = {"channel": details.get("channel")}
            out.append(
                _Candidate(source, r.brand_id, "conversation.handed_off", conv_id, r.at, data)
            )
    for job in repo.sent_replies(session, brand_ids, since):
        assert job.conversation_id is not None and job.sent_at is not None
        data = {"reply": {"network": job.network, "private": job.kind == JobKind.DIRECT_MESSAGE,
                          "text": job.text, "url": job.result_url}}  # fmt: skip
        out.append(_Candidate(f"job:{job.id}", job.brand_id, "conversation.replied",
                              job.conversation_id, job.sent_at, data))  # fmt: skip
    return out


def _record_events(session: Session, since: datetime, base: str, s: RoundSummary) -> None:
    brand_ids = repo.brands_with_endpoints(session)
    if not brand_ids:
        return
    found = _candidates(session, brand_ids, since)
    known = repo.known_sources(session, [c.source for c in found])
    fresh = [c for c in found if c.source not in known]
    if not fresh:
        return
    brands = repo.brands(session, brand_ids)
    convs = repo.conversations(session, [c.conversation_id for c in fresh])
    states = repo.states(session, convs)
    idents = repo.identities(session, [c.identity_id for c in convs.values()])
    names = repo.user_names(session, [st.assignee_id or 0 for st in states.values()])
    endpoints: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for ep in repo.endpoints(session, brand_ids):
        endpoints[ep.brand_id].append(ep)
    for c in fresh:
        conv = convs.get(c.conversation_id)
        if conv is None:
            continue
        row = WebhookEvent(event_id=str(uuid.uuid4()), source=c.source, brand_id=c.brand_id,
                           type=c.type, conversation_id=conv.id, occurred_at=c.at)  # fmt: skip
        if not repo.add_once(session, row):
            continue
        s.events += 1
        state = states.get(conv.id)
        summary = events.conversation_summary(
            conv, state, idents.get(conv.identity_id),
            names.get(state.assignee_id or 0) if state else None, base,
        )  # fmt: skip
        doc = events.payload(row.event_id, c.type, c.at, brands[c.brand_id], summary, c.data)
        for ep in endpoints[c.brand_id]:
            if c.at < ep.created_at or c.type not in (ep.events or []):
                continue  # what happened before the endpoint existed is not sent to it
            if _queue_delivery(session, row, ep, doc):
                s.deliveries += 1


def _queue_delivery(
    session: Session, event: WebhookEvent, ep: WebhookEndpoint, doc: dict[str, Any]
) -> bool:
    held = ep.suspended_at is not None
    delivery = WebhookDelivery(event_id=event.id, endpoint_id=ep.id,
                               state="held" if held else "queued", settled=held)  # fmt: skip
    if not repo.add_once(session, delivery):
        return False
    job = queue_job(
        session, None, event.brand_id, JobKind.EVENT, EVENT_NETWORK, target=ep.url,
        key=f"event-{event.event_id.replace('-', '')}-{ep.id}",
    )  # fmt: skip
    job.max_attempts = EVENT_ATTEMPTS
    job.payload = {"endpoint_id": ep.id, "event_id": event.event_id, "body": doc,
                   "conversation_id": event.conversation_id}  # fmt: skip
    if held:  # kept, not sent: resuming the endpoint queues it again
        job.state = JobState.FAILED
        job.reason = HELD_REASON
    delivery.job_id = job.id
    session.flush()
    return True


# ------------------------------------------------------------------ outcomes


def _settle(session: Session, now: datetime, s: RoundSummary) -> None:
    for note, job in repo.unsettled_notifications(session):
        note.settled = True
        note.state = "sent" if job.state == JobState.SENT else "failed"
        note.reason = job.reason
        target = session.get(NotificationTarget, note.target_id)
        if target is not None and _count(target, job, now):
            s.suspended += 1
    for delivery, job in repo.unsettled_deliveries(session):
        delivery.settled = True
        delivery.state = "sent" if job.state == JobState.SENT else "failed"
        ep = session.get(WebhookEndpoint, delivery.endpoint_id)
        if ep is not None and _count(ep, job, now):
            s.suspended += 1
    session.flush()


def _count(target: NotificationTarget | WebhookEndpoint, job: OutboundJob, now: datetime) -> bool:
    """Count one outcome on its target; True when this failure suspends it."""
    if job.state == JobState.SENT:
        target.failures = 0
        target.last_error = None
        return False
    target.failures += 1
    target.last_error = (job.reason or "failed")[:500]
    if target.failures >= SUSPEND_AFTER and target.suspended_at is None:
        target.suspended_at = now
        return True
    return False
