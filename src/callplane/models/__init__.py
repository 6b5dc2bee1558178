"""All ORM models; importing this package registers every table on `Base.metadata`."""

from callplane.models.agent import Agent
from callplane.models.agent_conversation_stat import (
    AgentConversationStat,
    AgentConversationSummary,
)
from callplane.models.agent_test import AgentTest, AgentTestSettings, TestResult, TestRun
from callplane.models.agent_version import AgentVersion
from callplane.models.api_key import ApiKey
from callplane.models.audit_event import AuditEvent
from callplane.models.base import Base
from callplane.models.console_session import ConsoleLoginLink, ConsoleSession
from callplane.models.conversation import Conversation
from callplane.models.conversation_rollup import ConversationDurationRollup, ConversationRollup
from callplane.models.idempotency_key import IdempotencyKey
from callplane.models.knowledge_collection import (
    KnowledgeChunk,
    KnowledgeCollection,
    KnowledgeDocument,
)
from callplane.models.membership import Membership
from callplane.models.organization import Organization
from callplane.models.personal_access_token import PersonalAccessToken
from callplane.models.phone_number import PhoneNumber
from callplane.models.rate_limit_window import RateLimitWindow
from callplane.models.telephony_credential import TelephonyCredential
from callplane.models.used_call_token import UsedCallToken
from callplane.models.user import User
from callplane.models.web_widget import WebWidget
from callplane.models.webhook import Webhook
from callplane.models.webhook_delivery import WebhookDelivery
from callplane.models.workflow_run import WorkflowRun

__all__ = [
    "Agent",
    "AgentConversationStat",
    "AgentConversationSummary",
    "AgentTest",
    "AgentTestSettings",
    "AgentVersion",
    "ApiKey",
    "AuditEvent",
    "Base",
    "ConsoleLoginLink",
    "ConsoleSession",
    "Conversation",
    "ConversationDurationRollup",
    "ConversationRollup",
    "IdempotencyKey",
    "KnowledgeChunk",
    "KnowledgeCollection",
    "KnowledgeDocument",
    "Membership",
    "Organization",
    "PersonalAccessToken",
    "PhoneNumber",
    "RateLimitWindow",
    "TelephonyCredential",
    "TestResult",
    "TestRun",
    "UsedCallToken",
    "User",
    "WebWidget",
    "Webhook",
    "WebhookDelivery",
    "WorkflowRun",
]
