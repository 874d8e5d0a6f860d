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
from earful.models.csat import CsatSettings, CsatSurvey, ShiftPostSettings
from earful.models.customer import Customer, Erasure, Identity, LinkSuggestion
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
from earful.models.label_correction import LabelCorrection
from earful.models.listening_query import ListeningQuery
from earful.models.notification import (
    Notification,
    NotificationTarget,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
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
from earful.models.retention import RETENTION_MODES, ErasureRequest, RetentionPolicy
from earful.models.service_levels import Holiday, SlaPolicy
from earful.models.signin import RecoveryCode, SignInPolicy, TotpCredential, UserSession
from earful.models.source import Source
from earful.models.user import ApiToken, Membership, Role, SignInThrottle, User

__all__ = [
    "OPEN_STATUSES",
    "RETENTION_MODES",
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
    "CsatSettings",
    "CsatSurvey",
    "Customer",
    "DeadLetter",
    "EngagementSettings",
    "Erasure",
    "ErasureRequest",
    "Handoff",
    "Holiday",
    "Identity",
    "JobKind",
    "JobState",
    "LabelCorrection",
    "LinkSuggestion",
    "ListeningQuery",
    "Membership",
    "MentionCount",
    "Note",
    "Notification",
    "NotificationTarget",
    "OutboundAttempt",
    "OutboundJob",
    "Post",
    "RecoveryCode",
    "Reply",
    "ReplyStatus",
    "RetentionPolicy",
    "Role",
    "SavedView",
    "ShiftPostSettings",
    "SignInPolicy",
    "SignInThrottle",
    "SlaPolicy",
    "Source",
    "TotpCredential",
    "User",
    "UserSession",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
