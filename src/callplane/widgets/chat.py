"""The public widget chat: conversations a published widget starts and continues for a visitor.

No credential: what protects it is that only the widget's own agent version is reachable, only
from the widget's domains (the browser's Origin, checked on every request), at a limited rate per
widget and client address, and that each conversation answers only to the token it was started
with (kept by the visitor's page; only its SHA-256 is stored, in the conversation's metadata,
beside the widget's id). Conversations are on channel `text` (SPEC §10: the widget's chat).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.conversations.live import LiveConversationService, LiveRuntime
from callplane.conversations.repository import ConversationRepository
from callplane.errors import AppError, Forbidden
from callplane.models import AgentVersion, Conversation, WebWidget
from callplane.widgets.errors import WidgetNotFound
from callplane.widgets.repository import get_published
from callplane.widgets.service import origin_allowed

CHANNEL = "text"
TOKEN_HEADER = "x-widget-token"
_NAMESPACE = uuid.UUID("5b0f5a57-3c55-4a0e-9a38-8f0f9e6f3c21")


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"
    default_detail = "This widget does not answer pages of this origin."


class WidgetConversationNotFound(AppError):
    status = 404
    code = "conversation_not_found"
    default_detail = "Conversation not found."


@dataclass(frozen=True)
class WidgetStart:
    conversation: Conversation
    token: str
    version: int
    starting_message: str | None


def rate_key(widget_id: uuid.UUID, client: str) -> uuid.UUID:
    """The rate limiter's key for one visitor address of one widget."""
    return uuid.uuid5(_NAMESPACE, f"{widget_id}|{client}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def widget_for(session: AsyncSession, widget_id: uuid.UUID, origin: str | None) -> WebWidget:
    """The published widget, if this origin may use it (a request without Origin may not)."""
    widget = await get_published(session, widget_id)
    if widget is None:
        raise WidgetNotFound()
    if not origin or not origin_allowed(origin, list(widget.domains)):
        raise OriginNotAllowed()
    return widget


async def start(session: AsyncSession, widget: WebWidget, runtime: LiveRuntime) -> WidgetStart:
    version = await session.get(AgentVersion, widget.agent_version_id)
    if version is None:  # the cascade removes the widget with its version; a race at most
        raise WidgetNotFound()
    token = secrets.token_urlsafe(32)
    started = await LiveConversationService(session, widget.organization_id, runtime).start(
        widget.agent_id,
        version=version.version,
        channel=CHANNEL,
        metadata={"widget_id": str(widget.id), "widget_token_sha256": _digest(token)},
    )
    return WidgetStart(started.conversation, token, started.version, started.starting_message)


async def conversation_for(
    session: AsyncSession, widget: WebWidget, conversation_id: uuid.UUID, token: str | None
) -> Conversation:
    """The widget's conversation, for the token it was started with; anything else is 404."""
    row = await ConversationRepository(session, widget.organization_id).get(conversation_id)
    metadata: dict[str, Any] = (row.metadata_ or {}) if row is not None else {}
    stored = str(metadata.get("widget_token_sha256", ""))
    if (
        row is None
        or metadata.get("widget_id") != str(widget.id)
        or not token
        or not hmac.compare_digest(stored, _digest(token))
    ):
        raise WidgetConversationNotFound()
    return row


def visible_messages(row: Conversation) -> list[dict[str, Any]]:
    """What the visitor saw: their messages and the agent's replies, nothing internal."""
    shown = []
    for entry in row.transcript or []:
        if isinstance(entry, dict) and entry.get("role") in ("user", "agent"):
            content = entry.get("content")
            if isinstance(content, str) and content:
                shown.append({"role": entry["role"], "content": content})
    return shown
