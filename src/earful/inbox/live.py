"""Live updates from other processes: the tail that follows the database into the hub.

Ingest in another process (a worker, ``earful ingest``) writes posts and alerts; the
:class:`Tail` polls for them, refreshes the conversations' triage state, and publishes
to the :class:`earful.web.hub.Hub`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.alerts import repository as alerts_repo
from earful.conversations import repository as repo
from earful.db import transaction
from earful.engagement import repository as engagement_repo
from earful.models import Alert, Notification
from earful.models.base import utcnow
from earful.notifications import compose
from earful.notifications import repository as notifications_repo
from earful.notifications.dispatch import describe
from earful.web.hub import Cursor, Hub, Item

log = logging.getLogger(__name__)

# What a reopened stream is sent again, at most: a page left shut for a week gets the last
# few of each kind, not a flood (its reload shows the rest as they stand now).
REPLAY_LIMIT = 50
REPLAY_AGE = timedelta(days=1)


class Tail:
    """Follows posts threaded into conversations, refreshes their state, publishes.

    It follows the spike detector's new alerts too: each goes to its brand's
    subscribers as an ``alert`` event whose data is ``render_alert(row)``; and the outbound
    worker's sends (a like, a reply, a failure), so an open conversation shows them live;
    and browser notifications, each to its user's own streams as a ``notify`` event.
    """

    def __init__(
        self,
        engine: Engine,
        hub: Hub,
        render_alert: Callable[[Alert], str] | None = None,
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.after: int | None = None
        self.alert_after = 0
        self.jobs_after: datetime | None = None
        self.notify_after = 0
        self.render_alert = render_alert or (lambda alert: str(alert.id))

    def start(self) -> None:
        """Bring every conversation's triage state up to date, then follow from the end."""
        with transaction(self.engine) as session:
            while stale := repo.stale_conversations(session):
                repo.refresh_states(session, stale)
            self.after = repo.last_post_id(session)
            self.alert_after = alerts_repo.last_alert_id(session)
            self.jobs_after = engagement_repo.last_job_change(session) or utcnow()
            self.notify_after = notifications_repo.last_notification_id(session)

    def poll_once(self) -> int:
        if self.after is None:
            self.start()
        with transaction(self.engine) as session:
            rows = repo.posts_after(session, self.after or 0)
            if rows:
                repo.refresh_states(session, [c for _, c, _ in rows])
            alerts = alerts_repo.alerts_after(session, self.alert_after)
            jobs = engagement_repo.jobs_changed_since(session, self.jobs_after or utcnow())
            notes = notifications_repo.browser_after(session, self.notify_after)
            # Composed now from the subject: the notification row keeps no customer words.
            words = {n.id: describe(session, n, utcnow()) for n in notes if n.state == "sent"}
        if rows:
            self.after = max(p for _, _, p in rows)
            self.hub.publish_ingest(rows)
        if jobs:
            self.jobs_after = max(at for _, _, at in jobs)
            for brand_id, conv_id in sorted({(b, c) for b, c, _ in jobs}):
                self.hub.publish(brand_id, f"conv-{conv_id}", "job", conversation=conv_id)
        for note in notes:
            self.notify_after = max(self.notify_after, note.id)
            if note.state == "sent":
                data = notify_data(note, words.get(note.id))
                self.hub.publish_user(note.user_id, note.brand_id, "notify", data, row=note.id)
        for alert in alerts:
            self.alert_after = max(self.alert_after, alert.id)
            self.hub.publish(alert.brand_id, "alert", self.render_alert(alert), row=alert.id)
        return len(rows)

    def published(self, session: Session) -> Cursor:
        """How far the hub has been told: a stream subscribed now hears every later row
        live. A tail that never started publishes nothing: everything is behind it."""
        if self.after is None:
            return Cursor(
                alerts_repo.last_alert_id(session),
                notifications_repo.last_notification_id(session),
            )
        return Cursor(self.alert_after, self.notify_after)

    def missed(
        self, session: Session, brand_ids: Sequence[int], user_id: int, cursor: Cursor
    ) -> list[Item]:
        """What a stream reopened at ``cursor`` was not sent: these brands' open alerts and
        this user's browser notifications since, capped, as the tail publishes them."""
        now = utcnow()
        since = now - REPLAY_AGE
        alerts = alerts_repo.open_alerts_after(
            session, brand_ids, cursor.alert, since, REPLAY_LIMIT
        )
        notes = notifications_repo.browser_sent_after(
            session, user_id, brand_ids, cursor.note, since, REPLAY_LIMIT
        )
        return [Item("alert", self.render_alert(a), a.id) for a in alerts] + [
            Item("notify", notify_data(n, describe(session, n, now)), n.id) for n in notes
        ]

    async def run(self, interval: float = 0.25) -> None:
        while True:
            try:
                await asyncio.to_thread(self.poll_once)
            except Exception:  # keep following; the next poll retries
                log.exception("live tail failed")
            await asyncio.sleep(interval)


def notify_data(note: Notification, text: compose.Text | None) -> str:
    """A ``notify`` event's data: the words composed from its subject (gone: its title)."""
    body = compose.browser_body(text) if text else ""
    doc = {"id": note.id, "title": text.title if text else note.title,
           "link": note.link, "event": note.event, "body": body}  # fmt: skip
    return json.dumps(doc)
