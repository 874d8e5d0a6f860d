"""CSAT: ask "How did we do?" once a conversation is resolved, take the answer, add it up.

Never commits. :func:`survey_round` runs with the outbound worker (``earful outbound run``,
``earful run``): for each brand that asks, every newly resolved conversation gets one
survey, sent where the customer talked to us: the handoff email (to the address the
case went to), the direct message of a DM handoff, or else a public reply to their
newest post. The survey is an outbound job (key ``csat-<conversation>``), so a round
run twice queues nothing new. Its link carries a signed token: the answer page needs no
login, and one answer per conversation is kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earful.csat import repository as repo
from earful.csat import tokens
from earful.csat.schemas import CsatLine, CsatOut
from earful.engagement import compose
from earful.engagement import repository as engagement_repo
from earful.engagement import service as engagement
from earful.errors import BadInput, Conflict, NotFound
from earful.handoff import tokens as reply_tokens
from earful.handoff.config import HandoffSettings
from earful.models import (
    Brand,
    Conversation,
    CsatSettings,
    CsatSurvey,
    JobKind,
    OutboundJob,
)

# Resolved conversations this recent are surveyed (older ones were resolved before the
# brand turned surveys on, or the worker was down for longer: asking late is worse).
LOOKBACK = timedelta(days=2)
MAX_VALID_DAYS = 90
MAX_COMMENT = 2000
QUESTION = "How did we do? Tell us in one click, 1 to 5: {link}"
EMAIL_TEXT = (
    "Hello,\n\nYour conversation with {brand} is resolved. How did we do?\n"
    "Tell us in one click, from 1 (poor) to 5 (great):\n\n{link}\n\n"
    "The link works once and for {days} days. Thank you!\n"
)


# ------------------------------------------------------------------ settings


def set_csat(
    session: Session, brand_id: int, *, enabled: bool | None = None, valid_days: int | None = None
) -> CsatSettings:
    """Turn the survey on or off for a brand, and say how long its link may be answered."""
    settings = repo.settings_for_update(session, brand_id)
    if enabled is not None:
        settings.enabled = enabled
    if valid_days is not None:
        if not 1 <= valid_days <= MAX_VALID_DAYS:
            raise BadInput(f"a survey link is valid for 1 to {MAX_VALID_DAYS} days")
        settings.valid_days = valid_days
    session.flush()
    return settings


def settings(session: Session, brand_id: int) -> CsatSettings:
    return repo.settings(session, brand_id)


# ------------------------------------------------------------------ sending


def link(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/csat/{token}"


@dataclass(slots=True, frozen=True)
class Route:
    """Where the survey goes: the job's kind, network and target."""

    channel: str  # reply | dm | email
    kind: JobKind
    network: str  # the job's network (or "email")
    target: str
    customer_network: str  # where the customer wrote (the dashboard's "network")


def route(session: Session, conv: Conversation) -> Route | None:
    """The channel the customer used last: a handoff's email or DM, else a public reply."""
    post = engagement_repo.target_post(session, conv.id)
    handoff = repo.last_handoff(session, conv.id)
    if handoff is not None:
        job = repo.handoff_job(session, handoff.id)
        if handoff.channel == "dm" and job is not None and job.target:
            return Route("dm", JobKind.DIRECT_MESSAGE, job.network, job.target, job.network)
        to = (job.payload or {}).get("requester_email") if job is not None else None
        to = handoff.address if handoff.channel == "email" else to
        if handoff.channel in ("email", "zendesk", "helpscout") and isinstance(to, str) and to:
            network = post.network if post is not None else "email"
            return Route("email", JobKind.HANDOFF, "email", to, network)
    if post is None:
        return None  # nothing public to answer and no private channel: do not guess
    return Route("reply", JobKind.REPLY, post.network, post.external_id, post.network)


def survey_round(
    session: Session, now: datetime, secret: str, handoff: HandoffSettings
) -> list[OutboundJob]:
    """Queue one survey for each newly resolved conversation of the brands that ask."""
    jobs: list[OutboundJob] = []
    for settings in repo.enabled_settings(session):
        brand = session.get(Brand, settings.brand_id)
        assert brand is not None
        for conv in repo.resolved_unsurveyed(session, brand.id, now - LOOKBACK):
            job = _survey(session, conv, brand, settings, now, secret, handoff)
            if job is not None:
                jobs.append(job)
    session.flush()
    return jobs


def _survey(
    session: Session,
    conv: Conversation,
    brand: Brand,
    settings: CsatSettings,
    now: datetime,
    secret: str,
    handoff: HandoffSettings,
) -> OutboundJob | None:
    r = route(session, conv)
    if r is None:
        return None
    agent = repo.last_replier(session, conv.id) or repo.assignee(session, conv.id)
    survey = CsatSurvey(
        brand_id=brand.id, conversation_id=conv.id, agent_id=agent, network=r.customer_network,
        channel=r.channel, expires_at=now + timedelta(days=settings.valid_days), created_at=now,
    )  # fmt: skip
    session.add(survey)
    session.flush()
    url = link(handoff.public_url, tokens.sign(survey.id, secret))
    payload: dict[str, object] = {"auto": True, "csat": survey.id,
                                  "note": "Satisfaction survey"}  # fmt: skip
    key = f"csat-{conv.id}"
    if r.channel == "email":
        text = EMAIL_TEXT.format(brand=brand.name, link=url, days=settings.valid_days)
        payload.update(
            to=r.target,
            subject=f"{brand.name}: how did we do? [#{conv.id}]",
            message_id=f"<{key}-{survey.id}@{handoff.reply_domain}>",
            reply_to=reply_tokens.reply_address(conv.id, handoff.secret_key, handoff.reply_domain),
            **{"from": f"{brand.name} <{handoff.mail_from}>"},
        )
    else:
        try:
            text = compose.check_reply(QUESTION.format(link=url), r.network)
        except BadInput:
            session.delete(survey)  # the network cannot carry it: ask nothing
            return None
    job = engagement.queue_job(
        session, conv, brand.id, r.kind, r.network, target=r.target, text=text, key=key
    )
    job.payload = payload
    survey.job_id = job.id
    return job


# ------------------------------------------------------------------ answering


@dataclass(slots=True, frozen=True)
class SurveyPage:
    brand: str
    answered: bool
    score: int | None


def _survey_of(session: Session, token: str, secret: str, now: datetime) -> CsatSurvey:
    survey_id = tokens.survey_of(token, secret, MAX_VALID_DAYS * 86400)
    survey = session.get(CsatSurvey, survey_id)
    if survey is None:
        raise NotFound("this survey no longer exists")
    if survey.answered_at is None and survey.expires_at < now:
        raise tokens.LinkExpired("this survey link has expired; thank you all the same")
    return survey


def open_survey(session: Session, token: str, secret: str, now: datetime) -> SurveyPage:
    """What the answer page shows: the brand's name, and whether it is answered already."""
    survey = _survey_of(session, token, secret, now)
    brand = session.get(Brand, survey.brand_id)
    assert brand is not None
    return SurveyPage(brand.name, survey.answered_at is not None, survey.score)


def answer(
    session: Session, token: str, secret: str, score: str, comment: str | None, now: datetime
) -> SurveyPage:
    """Keep the customer's score (1-5) and comment; a second answer is refused (409)."""
    survey = _survey_of(session, token, secret, now)
    if not score.strip().isdigit() or not 1 <= int(score) <= 5:
        raise BadInput("pick a score from 1 to 5")
    text = (comment or "").strip()
    if len(text) > MAX_COMMENT:
        raise BadInput(f"the comment is at most {MAX_COMMENT} characters")
    if not repo.record_answer(session, survey.id, int(score), text or None, now):
        raise Conflict("this survey is answered already: thank you!")
    brand = session.get(Brand, survey.brand_id)
    assert brand is not None
    return SurveyPage(brand.name, True, int(score))


# ------------------------------------------------------------------ figures


def _line(scope: str, key: str, name: str, counts: list[int]) -> CsatLine:
    sent, answered, total, satisfied = counts
    return CsatLine(
        scope=scope, key=key, name=name, sent=sent, answered=answered,
        average=round(total / answered, 2) if answered else None,
        satisfied_pct=round(100 * satisfied / answered, 1) if answered else None,
        response_pct=round(100 * answered / sent, 1) if sent else None,
    )  # fmt: skip


def figures(
    session: Session,
    brand: Brand,
    since: datetime,
    until: datetime,
    names: dict[int, str],
) -> CsatOut:
    """CSAT of surveys sent in the window: the brand, each agent, each network.

    ``average`` is the mean score, ``satisfied_pct`` the share of 4s and 5s (the usual
    CSAT figure), ``response_pct`` the share of surveys answered."""
    by_agent: dict[int | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_network: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    total = [0, 0, 0, 0]
    for row in repo.figures(session, brand.id, since, until):
        agent_id, network, counts = row[0], row[1], [int(n or 0) for n in row[2:]]
        for acc in (by_agent[agent_id], by_network[network], total):
            for i, n in enumerate(counts):
                acc[i] += n

    def agent_name(uid: int | None) -> str:
        return "nobody" if uid is None else names.get(uid, f"user {uid}")

    agents: Iterable[tuple[int | None, list[int]]] = sorted(
        by_agent.items(), key=lambda kv: (kv[0] is None, agent_name(kv[0]))
    )
    return CsatOut(
        brand=_line("brand", brand.slug, brand.name, total),
        agents=[_line("agent", str(uid or ""), agent_name(uid), c) for uid, c in agents],
        networks=[_line("network", n, n, c) for n, c in sorted(by_network.items())],
    )
