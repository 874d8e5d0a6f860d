"""Automatic acknowledgements: outside hours or with a long queue, say honestly when.

:func:`acknowledge_waiting` runs with the outbound worker: for each brand that turned
acknowledgements on, the conversations that started waiting recently get one public
answer (per waiting spell: the job key is the conversation and the moment it started
waiting) stating when a person will answer *that* conversation, from its place in the
queue (:func:`earful.engagement.hours.expect`).
The acknowledgement is not signed (no person wrote it) and, once sent, is kept as a
note, never as a brand post: it must not stop the service-level clock or count as the
first response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earful.auth.service import Principal
from earful.conversations import priority as prio
from earful.conversations import sla
from earful.conversations.service import access_conversation
from earful.engagement import compose, holidays, hours, service
from earful.engagement import repository as repo
from earful.errors import BadInput
from earful.models import Brand, ConversationState, EngagementSettings, JobKind, OutboundJob

LOOKBACK = timedelta(minutes=30)
ARRIVALS = timedelta(hours=24)  # a day of new conversations: the rate per priority
WINDOW = timedelta(days=14)  # the evidence the expectation rests on
# The public figure is for a calm post (no urgency, no anger: what an unlabelled post
# scores too): the last in the triage order at equal wait, so nobody is promised sooner
# than the queue allows; an urgent customer's own acknowledgement quotes sooner.
CALM_SCORE = prio.score(None, None, None)


@dataclass(slots=True, frozen=True)
class Desk:
    """One brand's evidence at ``now``, read once: an expectation per place in the queue."""

    brand_id: int
    h: hours.Hours
    now: datetime
    waiting: int
    samples: list[tuple[datetime, datetime]]
    answers: list[datetime]
    target_minutes: int
    arrivals: dict[str, float] = field(default_factory=dict)  # priority: new per minute
    targets: dict[str, int] = field(default_factory=dict)  # priority: target minutes

    def for_key(self, session: Session, key: float) -> hours.Expectation:
        """For a conversation whose inbox priority key is ``key``."""
        return hours.expect(
            self.h, self.now, waiting=self.waiting,
            ahead=repo.waiting_ahead(session, self.brand_id, key),
            samples=self.samples, answers=self.answers, target_minutes=self.target_minutes,
            overtaken=self._overtaking(prio.due_at(key)),
        )  # fmt: skip

    def _overtaking(self, due: datetime | None) -> Callable[[datetime], float] | None:
        """How many new conversations to expect, from now until a moment, that are due
        before ``due``: of each priority, its arrival rate times the stretch in which a
        newcomer with that priority's target would still be due sooner."""
        if due is None or not self.arrivals:
            return None

        def overtaken(taken: datetime) -> float:
            until = min(taken, due)
            count = 0.0
            for name, per_minute in self.arrivals.items():
                last = hours.last_arrival_before(self.h, self.now, until, due, self.targets[name])
                count += per_minute * (last - self.now).total_seconds() / 60
            return count

        return overtaken

    def for_new_post(self, session: Session) -> hours.Expectation:
        """For a calm customer writing now: the figure the brand publishes."""
        # The inbox orders by due time: a calm post written now is due one target later,
        # counted in service hours.
        due = hours.add_working(self.h, self.now, self.target_minutes) or self.now
        key = prio.priority_key(CALM_SCORE, due)
        return self.for_key(session, key)


def desk(session: Session, brand_id: int, now: datetime) -> Desk:
    settings = repo.settings(session, brand_id)
    brand = session.get(Brand, brand_id)
    assert brand is not None
    since = now - WINDOW
    set_targets = sla.targets_of(session, [brand_id])
    targets = {
        name: prio.target_minutes(set_targets, brand_id, level, brand.target_response_minutes)
        for level, name in prio.BY_URGENCY.items()
    }
    minutes = ARRIVALS.total_seconds() / 60
    arrivals: dict[str, float] = {}
    for urgency, count in repo.arrivals(session, brand_id, now - ARRIVALS, now).items():
        name = prio.priority_of(urgency)
        arrivals[name] = arrivals.get(name, 0.0) + count / minutes
    return Desk(
        brand_id,
        hours.parse(settings.timezone, settings.hours, holidays.closed_days(session, brand_id)),
        now,
        repo.waiting_count(session, brand_id),
        repo.response_samples(session, brand_id, since),
        repo.answer_times(session, brand_id, since),
        brand.target_response_minutes,
        arrivals,
        targets,
    )


def brand_expectation(
    session: Session, brand_id: int, now: datetime
) -> tuple[hours.Hours, hours.Expectation]:
    """The brand's published figure: a calm customer writing now."""
    d = desk(session, brand_id, now)
    return d.h, d.for_new_post(session)


def expectation(
    session: Session, principal: Principal, conv_id: int, now: datetime
) -> hours.Expectation:
    """What the agent sees beside the reply box: open or not, and the honest wait, the
    same figure the public page publishes."""
    conv = access_conversation(session, principal, conv_id)
    return brand_expectation(session, conv.brand_id, now)[1]


def acknowledge_waiting(
    session: Session, now: datetime, lookback: timedelta = LOOKBACK
) -> list[OutboundJob]:
    """Queue one acknowledgement per recently waiting conversation where the brand wants it."""
    jobs: list[OutboundJob] = []
    for settings in repo.auto_ack_settings(session):
        try:
            d = desk(session, settings.brand_id, now)
            e = d.for_new_post(session)
        except BadInput:
            continue  # bad hours are refused when saved; never guess here
        if not hours.should_acknowledge(settings.auto_ack, settings.ack_backlog, e):
            continue
        for conv, since in repo.recently_waiting(session, settings.brand_id, now - lookback):
            key = f"ack-{conv.id}-{int(since.timestamp())}"
            if repo.job_by_key(session, key) is not None:
                continue
            post = repo.target_post(session, conv.id)
            state = session.get(ConversationState, conv.id)
            if post is None or state is None:
                continue
            # This conversation's own place in the queue: an urgent one is told sooner.
            e = d.for_key(session, state.priority_key)
            text = hours.ack_text(d.h, e, now, settings.ack_template)
            if text is None:
                continue
            try:
                checked = compose.check_reply(text, post.network)
            except BadInput:
                continue
            job = service.queue_job(
                session, conv, conv.brand_id, JobKind.REPLY, post.network,
                target=post.external_id, text=checked, key=key,
            )  # fmt: skip
            job.payload = {"auto": True, "answer_by": e.answer_by.isoformat()
                           if e.answer_by else None, "basis": e.basis}  # fmt: skip
            jobs.append(job)
    session.flush()
    return jobs


def set_hours(
    session: Session,
    brand_id: int,
    *,
    timezone: str | None = None,
    spans: dict[str, list[list[str]]] | None = None,
    auto_ack: bool | None = None,
    ack_backlog: int | None = None,
    ack_template: str | None = None,
    target_minutes: int | None = None,
) -> EngagementSettings:
    """Change a brand's service hours and expectations; bad hours are refused, not stored."""
    settings = repo.settings_for_update(session, brand_id)
    tz = timezone if timezone is not None else settings.timezone
    new_hours = spans if spans is not None else settings.hours
    hours.parse(tz, new_hours)  # BadInput says which day and value
    settings.timezone, settings.hours = tz, new_hours
    if auto_ack is not None:
        settings.auto_ack = auto_ack
    if ack_backlog is not None:
        if ack_backlog < 0:
            raise BadInput("the backlog threshold is 0 (never) or more")
        settings.ack_backlog = ack_backlog
    if ack_template is not None:
        if ack_template and "{when}" not in ack_template:
            raise BadInput("the acknowledgement must say when: put {when} in it")
        settings.ack_template = ack_template or None
    if target_minutes is not None:
        if target_minutes < 1:
            raise BadInput("the target response time is at least 1 minute")
        brand = session.get(Brand, brand_id)
        assert brand is not None
        brand.target_response_minutes = target_minutes
    session.flush()
    sla.rekey(session, brand_id)  # waiting conversations fall due by the new hours
    return settings
