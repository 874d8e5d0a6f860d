"""Give every conversation without a subject the text of its first customer post.

The ingest wrote no subject before this revision (every inbox row read "(no text)"); it
now writes one when it creates or merges a conversation. This fills in the conversations
stored before, with the same function the ingest uses, a page of conversations at a time.
Conversations with no customer post yet (a brand's answer to a post not heard) keep none.

Revision ID: conversation_subjects
Revises: public_page
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "conversation_subjects"
down_revision: str | None = "public_page"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 5_000  # conversations read and written per round trip

PAGE_IDS = sa.text(
    "SELECT id FROM conversations WHERE subject IS NULL AND id > :after ORDER BY id LIMIT :n"
)
# The earliest post not written by the brand, per conversation of the page.
FIRST_POSTS = sa.text(
    "SELECT f.conversation_id, f.text FROM ("
    "SELECT m.conversation_id, p.text, row_number() OVER ("
    "PARTITION BY m.conversation_id ORDER BY p.created_at, p.id) AS n "
    "FROM conversation_posts m JOIN posts p ON p.id = m.post_id "
    "JOIN conversations c ON c.id = m.conversation_id "
    "WHERE c.id > :after AND c.id <= :last AND c.subject IS NULL AND p.from_brand = false"
    ") f WHERE f.n = 1"
)
SET_SUBJECT = sa.text("UPDATE conversations SET subject = :subject WHERE id = :id")


def upgrade() -> None:
    from earful.pipeline.stages import subject_of

    conn = op.get_bind()
    after = 0
    while True:
        ids = conn.execute(PAGE_IDS, {"after": after, "n": PAGE}).scalars().all()
        if not ids:
            return
        last = ids[-1]
        rows = [
            {"id": cid, "subject": subject}
            for cid, text in conn.execute(FIRST_POSTS, {"after": after, "last": last})
            if (subject := subject_of(text)) is not None
        ]
        if rows:
            conn.execute(SET_SUBJECT, rows)
        after = last


def downgrade() -> None:
    """Nothing to undo: a subject is what the ingest writes from now on."""
