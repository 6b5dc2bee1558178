from __future__ import annotations

from callplane.errors import Conflict, NotFound, UnprocessableRequest


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    default_detail = "Conversation not found."


class ConversationEnded(Conflict):
    code = "conversation_ended"
    default_detail = "This conversation has ended; start a new one."


class AgentNotLive(Conflict):
    code = "agent_not_live"
    default_detail = (
        "The agent has no live version: publish one, or start with `version` set to a number "
        "or `latest` to try a draft."
    )


class MessageTooLong(UnprocessableRequest):
    code = "message_too_long"
    default_detail = "The message is too long."


class ConfigNotRunnable(UnprocessableRequest):
    code = "config_not_runnable"
    default_detail = "This version's config cannot run."
