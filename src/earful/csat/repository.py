"""CSAT SQL: brands that ask, conversations to survey, surveys and their figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from earful.models import (
    Conversation,
    ConversationState,
    ConversationStatus,
    CsatSettings,
    CsatSurvey,
    Handoff,
    JobKind,
    OutboundJob,
)


def settings(session: Session, brand_id: int) -> CsatSettings:
    found = session.get(CsatSettings, brand_id)
    return found if found is not None else CsatSettings(brand_id=brand_id, enabled=False,
                                                        valid_days=7)  # fmt: skip


def settings_for_update(session: Session, brand_id: int) -> CsatSettings:
    found = session.get(CsatSettings, brand_id, with_for_update=True)
    if found is None:
        found = CsatSettings(brand_id=brand_id, enabled=False, valid_days=7)
        session.add(found)
    return found


def enabled_settings(session: Session) -> list[CsatSettings]:
    return list(session.scalars(select(CsatSettings).where(CsatSettings.enabled.is_(True))))


def resolved_unsurveyed(session: Session, brand_id: int, since: datetime) -> list[Conversation]:
    """Conversations resolved since ``since`` (their state's last change) with no survey."""
    return list(
        session.scalars(
            select(Conversation)
            .join(ConversationState, ConversationState.conversation_id == Conversation.id)
            .outerjoin(CsatSurvey, CsatSurvey.conversation_id == Conversation.id)
            .where(
                Conversation.brand_id == brand_id,
                Conversation.status == ConversationStatus.RESOLVED,
                ConversationState.updated_at >= since,
                CsatSurvey.id.is_(None),
            )
            .order_by(Conversation.id)
        )
    )


def last_handoff(session: Session, conv_id: int) -> Handoff | None:
    return session.scalar(
        select(Handoff).where(Handoff.conversation_id == conv_id).order_by(Handoff.id.desc())
    )


def handoff_job(session: Session, handoff_id: int) -> OutboundJob | None:
    return session.scalar(
        select(OutboundJob).where(OutboundJob.handoff_id == handoff_id).order_by(OutboundJob.id)
    )


def last_replier(session: Session, conv_id: int) -> int | None:
    """The agent who last wrote to the customer (a reply, a DM, a handoff) from Earful."""
    return session.scalar(
        select(OutboundJob.author_id)
        .where(
            OutboundJob.conversation_id == conv_id,
            OutboundJob.author_id.is_not(None),
            OutboundJob.kind.in_([JobKind.REPLY, JobKind.DIRECT_MESSAGE, JobKind.HANDOFF]),
        )
        .order_by(OutboundJob.created_at.desc(), OutboundJob.id.desc())
        .limit(1)
    )


def assignee(session: Session, conv_id: int) -> int | None:
    return session.scalar(
        select(ConversationState.assignee_id).where(ConversationState.conversation_id == conv_id)
    )


def record_answer(
    session: Session, survey_id: int, score: int, comment: str | None, now: datetime
) -> bool:
    """Store the answer unless one is stored already (one conditional UPDATE: no race)."""
    result = session.execute(
        update(CsatSurvey)
        .where(and_(CsatSurvey.id == survey_id, CsatSurvey.answered_at.is_(None)))
        .values(score=score, comment=comment, answered_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def figures(
    session: Session, brand_id: int, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """Per (agent, network): surveys sent, answered, the sum of scores, satisfied (4-5)."""
    answered = CsatSurvey.answered_at.is_not(None)
    rows = session.execute(
        select(
            CsatSurvey.agent_id,
            CsatSurvey.network,
            func.count(CsatSurvey.id),
            func.count(CsatSurvey.answered_at),
            func.coalesce(func.sum(CsatSurvey.score), 0),
            func.count(CsatSurvey.id).filter(and_(answered, CsatSurvey.score >= 4)),
        )
        .where(
            CsatSurvey.brand_id == brand_id,
            CsatSurvey.created_at >= since,
            CsatSurvey.created_at <= until,
        )
        .group_by(CsatSurvey.agent_id, CsatSurvey.network)
    )
    return [tuple(r) for r in rows]
