"""SQL of reclassification: find posts labeled by another model version, store new labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, func, or_, select, update

from earful.models import ConversationPost, LabelCorrection, Post
from earful.pipeline.schema import LABEL_FIELDS, Labels

posts_t: Table = Post.__table__  # type: ignore[assignment]

# The label columns both tiers write, each bound to the parameter of its own name.
_LABEL_VALUES: dict[str, Any] = {field: bindparam(field) for field in LABEL_FIELDS}


def _label_row(pid: int, labels: Labels, **extra: Any) -> dict[str, Any]:
    return {"pid": pid, **{f: getattr(labels, f) for f in LABEL_FIELDS}, **extra}


class LabelRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _stale(self, version: str):  # type: ignore[no-untyped-def]
        return or_(posts_t.c.model_version.is_(None), posts_t.c.model_version != version)

    def count_stale(self, version: str) -> int:
        return int(
            self.conn.execute(
                select(func.count()).select_from(posts_t).where(self._stale(version))
            ).scalar_one()
        )

    def stale(self, version: str, after_id: int, limit: int) -> list[tuple[int, str]]:
        rows = self.conn.execute(
            select(posts_t.c.id, posts_t.c.text)
            .where(self._stale(version), posts_t.c.id > after_id)
            .order_by(posts_t.c.id)
            .limit(limit)
        )
        return [(int(i), str(t)) for i, t in rows]

    def store(self, ids: Sequence[int], labels: Sequence[Labels], version: str) -> None:
        if not ids:
            return
        self.conn.execute(
            update(posts_t)
            .where(posts_t.c.id == bindparam("pid"))
            .values(
                **_LABEL_VALUES,
                language=bindparam("language"),
                model_version=bindparam("model_version"),
                tier2_version=None,  # the fast tier's labels now
            ),
            [
                _label_row(pid, lab, language=lab.language, model_version=version)
                for pid, lab in zip(ids, labels, strict=True)
            ],
        )
        self.reapply_corrections(ids)

    def second_tier_stale(self, version: str, after_id: int, limit: int) -> list[int]:
        """Customer posts the second tier (this ``version``) has not labeled, by id."""
        rows = self.conn.execute(
            select(posts_t.c.id)
            .where(
                or_(posts_t.c.tier2_version.is_(None), posts_t.c.tier2_version != version),
                posts_t.c.from_brand.is_(False),
                posts_t.c.deleted_at.is_(None),
                posts_t.c.model_version.is_not(None),
                posts_t.c.id > after_id,
            )
            .order_by(posts_t.c.id)
            .limit(limit)
        )
        return [int(i) for (i,) in rows]

    def customer_posts(self, ids: Sequence[int]) -> list[tuple[int, str, str | None]]:
        """(id, text, language) of the live customer posts among ``ids``: what the second
        tier relabels (a brand's own answers carry no customer labels)."""
        rows = self.conn.execute(
            select(posts_t.c.id, posts_t.c.text, posts_t.c.language)
            .where(
                posts_t.c.id.in_(list(ids)),
                posts_t.c.from_brand.is_(False),
                posts_t.c.deleted_at.is_(None),
            )
            .order_by(posts_t.c.id)
        )
        return [(int(i), str(t), lang) for i, t, lang in rows]

    def store_second_tier(self, ids: Sequence[int], labels: Sequence[Labels], version: str) -> None:
        """The second tier's sentiment, intent and urgency; language stays as stored."""
        if not ids:
            return
        self.conn.execute(
            update(posts_t)
            .where(posts_t.c.id == bindparam("pid"), posts_t.c.deleted_at.is_(None))
            .values(**_LABEL_VALUES, tier2_version=bindparam("tier2_version")),
            [
                _label_row(pid, lab, tier2_version=version)
                for pid, lab in zip(ids, labels, strict=True)
            ],
        )
        self.reapply_corrections(ids)

    def conversations_of(self, ids: Sequence[int]) -> list[int]:
        rows = self.conn.execute(
            select(ConversationPost.conversation_id)
            .where(ConversationPost.post_id.in_(list(ids)))
            .distinct()
        )
        return sorted(int(c) for (c,) in rows)

    def reapply_corrections(self, ids: Sequence[int]) -> None:
        """Agents' corrections win over any model: put them back after a relabeling."""
        rows = self.conn.execute(
            select(LabelCorrection.post_id, LabelCorrection.field, LabelCorrection.new_value)
            .where(LabelCorrection.post_id.in_(list(ids)))
            .order_by(LabelCorrection.id)
        ).all()
        latest = {(pid, field): value for pid, field, value in rows}
        for (pid, field), value in latest.items():
            self.conn.execute(
                update(posts_t).where(posts_t.c.id == pid).values(**corrected_values(field, value))
            )


def corrected_values(field: str, value: str) -> dict[str, Any]:
    """A post's columns for a label an agent set (an agent's label is certain: score 1)."""
    if field == "sentiment":
        return {"sentiment": value, "sentiment_score": 1.0}
    if field == "intent":
        return {"intent": value, "intent_score": 1.0}
    level = int(value)
    return {"urgency": level, "urgency_score": round(level / 4, 4)}
