"""Automatic acknowledgements: outside hours or with a long queue, say honestly when.

:func:`acknowledge_waiting` runs with the outbound worker: for each brand that turned
acknowledgements on, the conversations that started waiting recently get one public
answer (per waiting spell: the job key is the conversation and the moment it started
waiting) stating when a person will answer, from :func:`earful.engagement.hours.expect`.
The acknowledgement is not signed (no person wrote it) and, once sent, is kept as a
note, never as a brand post: it must not stop the service-level clock or count as the
first response.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earful.auth.service import Principal
from earful.conversations.service import access_conversation
from earful.engagement import compose, hours, service
from earful.engagement import repository as repo
from earful.errors import BadInput
from earful.models import Brand, EngagementSettings, JobKind, OutboundJob

LOOKBACK = timedelta(minutes=30)


def brand_expectation(
    session: Session, brand_id: int, now: datetime
) -> tuple[hours.Hours, hours.Expectation]:
    settings = repo.settings(session, brand_id)
    brand = session.get(Brand, brand_id)
    assert brand is not None
    h = hours.parse(settings.timezone, settings.hours)
    e = hours.expect(
        h,
        now,
        waiting=repo.waiting_count(session, brand_id),
        samples=repo.response_samples(session, brand_id, now - timedelta(days=14)),
        target_minutes=brand.target_response_minutes,
    )
    return h, e


def expectation(
    session: Session, principal: Principal, conv_id: int, now: datetime
) -> hours.Expectation:
    """What the agent sees beside the reply box: open or not, and the honest wait."""
    conv = access_conversation(session, principal, conv_id)
    return brand_expectation(session, conv.brand_id, now)[1]


def acknowledge_waiting(
    session: Session, now: datetime, lookback: timedelta = LOOKBACK
) -> list[OutboundJob]:
    """Queue one acknowledgement per recently waiting conversation where the brand wants it."""
    jobs: list[OutboundJob] = []
    for settings in repo.auto_ack_settings(session):
        try:
            h, e = brand_expectation(session, settings.brand_id, now)
        except BadInput:
            continue  # bad hours are refused when saved; never guess here
        if not hours.should_acknowledge(settings.auto_ack, settings.ack_backlog, e):
            continue
        text = hours.ack_text(h, e, now, settings.ack_template)
        if text is None:
            continue
        for conv, since in repo.recently_waiting(session, settings.brand_id, now - lookback):
            key = f"ack-{conv.id}-{int(since.timestamp())}"
            if repo.job_by_key(session, key) is not None:
                continue
            post = repo.target_post(session, conv.id)
            if post is None:
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
    return settings
