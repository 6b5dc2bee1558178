from __future__ import annotations

from callplane.errors import NotFound


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    default_detail = "Conversation not found."
