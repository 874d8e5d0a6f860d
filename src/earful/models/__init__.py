"""ORM models, one module per aggregate. Import from here so metadata is complete."""

from earful.models.base import Base
from earful.models.brand import Brand
from earful.models.conversation import (
    OPEN_STATUSES,
    Conversation,
    ConversationPost,
    ConversationStatus,
)
from earful.models.customer import Customer, Identity
from earful.models.dead_letter import DeadLetter
from earful.models.post import Post
from earful.models.source import Source

__all__ = [
    "OPEN_STATUSES",
    "Base",
    "Brand",
    "Conversation",
    "ConversationPost",
    "ConversationStatus",
    "Customer",
    "DeadLetter",
    "Identity",
    "Post",
    "Source",
]
