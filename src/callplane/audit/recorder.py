"""`record()`: called by services next to each write, in the same session and transaction.

Who acted is not passed around: the request's session carries the request state (where the auth
dependency leaves the subject and the middleware the request id); sessions opened by workflows
name the workflow with `act_as`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.auth.subject import AuthSubject
from callplane.models import AuditEvent

ActorType = Literal["api_key", "user", "workflow", "system"]
_REQUEST_STATE = "audit_request_state"
_ACTOR = "audit_actor"

# Called with every recorded event inside its transaction (webhooks fan out from here).
EventListener = Callable[[AsyncSession, AuditEvent], Awaitable[None]]
_listeners: list[EventListener] = []


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None = None
    credential_id: uuid.UUID | None = None

    @classmethod
    def of(cls, subject: AuthSubject) -> Actor:
        if subject.kind == "user":
            return cls("user", str(subject.user_id), subject.credential_id)
        return cls("api_key", str(subject.credential_id), subject.credential_id)


SYSTEM = Actor("system")


def bind_request(session: AsyncSession, request_state: Any) -> None:
    """Tie a request's session to the request: its subject and id are read when an event is."""
    session.info[_REQUEST_STATE] = request_state


def act_as(session: AsyncSession, actor: Actor) -> None:
    session.info[_ACTOR] = actor


def on_event(listener: EventListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _who(session: AsyncSession) -> tuple[Actor, str | None]:
    state = session.info.get(_REQUEST_STATE)
    if state is not None:
        subject = getattr(state, "subject", None)
        actor = Actor.of(subject) if subject is not None else SYSTEM
        return actor, getattr(state, "request_id", None)
    return session.info.get(_ACTOR, SYSTEM), None


async def record(
    session: AsyncSession,
    organization_id: uuid.UUID,
    action: str,
    resource_type: str,
    resource_id: object,
    changes: Mapping[str, Any] | None = None,
) -> AuditEvent:
    actor, request_id = _who(session)
    event = AuditEvent(
        organization_id=organization_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        actor_type=actor.type,
        actor_id=actor.id,
        credential_id=actor.credential_id,
        request_id=request_id,
        changes=_jsonable(dict(changes or {})),
    )
    session.add(event)
    for listener in _listeners:
        await listener(session, event)
    return event


def update_from(
    target: object, body: BaseModel, *, attributes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Set the fields a partial update sent (`body.model_fields_set`) on `target`, and return
    what changed as an audit event's `{field: {"from": old, "to": new}}`. `attributes` maps a
    field to the attribute that stores it when the names differ."""
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        attribute = (attributes or {}).get(name, name)
        old, new = getattr(target, attribute), getattr(body, name)
        setattr(target, attribute, new)
        if old != new:
            changes[name] = {"from": old, "to": new}
    return changes


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
