"""SQL of reclassification: find posts labeled by another model version, store new labels."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table, bindparam, func, or_, select, update

from earful.models import Post
from earful.pipeline.schema import Labels

posts_t: Table = Post.__table__  # type: ignore[assignment]


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
                sentiment=bindparam("sentiment"),
                sentiment_score=bindparam("sentiment_score"),
                intent=bindparam("intent"),
                intent_score=bindparam("intent_score"),
                urgency=bindparam("urgency"),
                urgency_score=bindparam("urgency_score"),
                language=bindparam("language"),
                model_version=bindparam("model_version"),
            ),
            [
                {
                    "pid": pid,
                    "sentiment": lab.sentiment,
                    "sentiment_score": lab.sentiment_score,
                    "intent": lab.intent,
                    "intent_score": lab.intent_score,
                    "urgency": lab.urgency,
                    "urgency_score": lab.urgency_score,
                    "language": lab.language,
                    "model_version": version,
                }
                for pid, lab in zip(ids, labels, strict=True)
            ],
        )
