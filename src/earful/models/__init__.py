"""ORM models, one module per aggregate. Import from here so metadata is complete."""

from earful.models.alert import Alert, MentionCount
from earful.models.audit import AuditEvent
from earful.models.base import Base
from earful.models.brand import Brand
from earful.models.conversation import (
    OPEN_STATUSES,
    Conversation,
    ConversationPost,
    ConversationStatus,
)
from earful.models.customer import Customer, Erasure, Identity
from earful.models.dead_letter import DeadLetter
from earful.models.inbox import (
    CannedReply,
    ConversationState,
    ConversationTag,
    Note,
    Reply,
    ReplyStatus,
    SavedView,
)
from earful.models.listening_query import ListeningQuery
from earful.models.outbound import (
    AgentSignature,
    EngagementSettings,
    Handoff,
    JobKind,
    JobState,
    OutboundAttempt,
    OutboundJob,
)
from earful.models.post import Post
from earful.models.source import Source
from earful.models.user import ApiToken, Membership, Role, SignInThrottle, User

__all__ = [
    "OPEN_STATUSES",
    "AgentSignature",
    "Alert",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Brand",
    "CannedReply",
    "Conversation",
    "ConversationPost",
    "ConversationState",
    "ConversationStatus",
    "ConversationTag",
    "Customer",
    "DeadLetter",
    "EngagementSettings",
    "Erasure",
    "Handoff",
    "Identity",
    "JobKind",
    "JobState",
    "ListeningQuery",
    "Membership",
    "MentionCount",
    "Note",
    "OutboundAttempt",
    "OutboundJob",
    "Post",
    "Reply",
    "ReplyStatus",
    "Role",
    "SavedView",
    "SignInThrottle",
    "Source",
    "User",
]
