"""`record()`: called by services next to each write, in the same session and transaction.

Who acted is not passed around: the request's session carries the request state (where the auth
dependency leaves the subject and the middleware the request id); sessions opened by workflows
name the workflow with `act_as`.

Inside a workflow step an event is recorded at most once: a step whose transaction committed
just before its process died is run again after recovery, and the events of that re-run are
keyed by (workflow id, step id, action, resource, occurrence in the transaction) so that the
database skips what the first run already wrote — and the listeners (webhook fan-out) see only
the events that were really inserted. See docs/workflows.md, "Exactly-once events".
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

from pydantic import BaseModel
from sqlalchemy import Table, exists, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.auth.subject import AuthSubject
from callplane.db import dialect
from callplane.db.types import new_id, utcnow
from callplane.models import AuditEvent
from callplane.workflows import engine

ActorType = Literal["api_key", "user", "workflow", "system"]
_REQUEST_STATE = "audit_request_state"
_ACTOR = "audit_actor"
_STEP_EVENTS = "audit_step_events"  # session.info: occurrences of each keyed event so far


class Recorded(NamedTuple):
    """What a listener is told of an event inserted in the transaction."""

    id: uuid.UUID
    organization_id: uuid.UUID
    action: str


# Called with the events recorded, inside their transaction (webhooks fan out from here): one call
# per `record` or `record_many`. Installed by the wiring (callplane.wiring), so every process that
# records events has the same listeners.
EventListener = Callable[[AsyncSession, Sequence[Recorded]], Awaitable[None]]
_listeners: list[EventListener] = []


@dataclass(frozen=True)
class Entry:
    """One event of a `record_many`."""

    action: str
    resource_type: str
    resource_id: object
    changes: Mapping[str, Any] | None = None


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
) -> None:
    """One event, added to the session (inserted at its next flush with the transaction's other
    ORM rows); inside a workflow step, inserted at once unless an earlier run of the step did."""
    actor, request_id = _who(session)
    dedupe_key = _step_key(session, action, resource_type, str(resource_id))
    event = AuditEvent(
        id=new_id(),
        # Stamped now, not at the flush: events of one transaction keep the order they were
        # recorded in, whether added here or inserted at once by `record_many`.
        created_at=utcnow(),
        organization_id=organization_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        actor_type=actor.type,
        actor_id=actor.id,
        credential_id=actor.credential_id,
        request_id=request_id,
        changes=_jsonable(dict(changes or {})),
        dedupe_key=dedupe_key,
    )
    if dedupe_key is None:
        session.add(event)
    elif not await _insert_once(session, event):
        return  # an earlier run of this step recorded it (and fanned it out)
    await _tell(session, [Recorded(event.id, organization_id, action)])


async def record_many(
    session: AsyncSession, organization_id: uuid.UUID, entries: Sequence[Entry]
) -> None:
    """Several events in one INSERT sent now (one round trip: `dialect.insert_many`), without an
    ORM object per event: a publish to 100 numbers records 101 events, and building, adding and
    flushing 101 ORM objects was most of its server time (issue 15). The same rows, keys and
    listeners as `record`, in the order given; inside a workflow step the events an earlier run
    of the step inserted are skipped (and not told to the listeners again)."""
    if not entries:
        return
    actor, request_id = _who(session)
    in_step = engine.current_step() is not None
    # Entries often share one `changes` mapping (a publish's 100 numbers hold the same version
    # now): converted once. Keyed by identity, while `entries` keeps every mapping alive.
    converted: dict[int, dict[str, Any]] = {}
    rows, events = [], []
    for entry in entries:
        changes = entry.changes or _NO_CHANGES
        jsonable = converted.get(id(changes))
        if jsonable is None:
            jsonable = converted[id(changes)] = _jsonable(dict(changes))
        resource_id, event_id = str(entry.resource_id), new_id()
        events.append(Recorded(event_id, organization_id, entry.action))
        rows.append(
            {
                "id": event_id,
                "organization_id": organization_id,
                "created_at": utcnow(),
                "action": entry.action,
                "resource_type": entry.resource_type,
                "resource_id": resource_id,
                "actor_type": actor.type,
                "actor_id": actor.id,
                "credential_id": actor.credential_id,
                "request_id": request_id,
                "changes": jsonable,
                "dedupe_key": (
                    _step_key(session, entry.action, entry.resource_type, resource_id)
                    if in_step
                    else None
                ),
            }
        )
    table = cast(Table, AuditEvent.__table__)  # declared a FromClause; it is the Table
    if not in_step:
        await dialect.insert_many(session, table, rows)
    else:
        statement = (
            dialect.insert(session, table)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[table.c.dedupe_key], index_where=_KEYED)
            .returning(table.c.dedupe_key)
        )
        inserted = set((await session.execute(statement)).scalars())
        events = [e for e, row in zip(events, rows, strict=True) if row["dedupe_key"] in inserted]
    await _tell(session, events)


_NO_CHANGES: Mapping[str, Any] = {}
# The keyed events: ON CONFLICT names this predicate, which the unique index on `dedupe_key`
# satisfies whole or partial (ADR 0014: a partial one can come once older code is gone).
_KEYED = AuditEvent.dedupe_key.is_not(None)


async def _tell(session: AsyncSession, events: Sequence[Recorded]) -> None:
    if events:
        for listener in _listeners:
            await listener(session, events)


def _step_key(
    session: AsyncSession, action: str, resource_type: str, resource_id: str
) -> str | None:
    """The event's key when recorded inside a workflow step, else None. The step id is DBOS's
    (the step's position in its workflow, the same when the step is re-run); the occurrence
    tells apart events a step records more than once on the same resource."""
    identity = _step_identity(action, resource_type, resource_id)
    if identity is None:
        return None
    seen: Counter[tuple[str, ...]] = session.info.setdefault(_STEP_EVENTS, Counter())
    seen[identity] += 1
    return _digest(identity, seen[identity])


def _step_identity(action: str, resource_type: str, resource_id: str) -> tuple[str, ...] | None:
    step = engine.current_step()
    if step is None:
        return None
    workflow_id, step_id = step
    return (workflow_id, str(step_id), action, resource_type, resource_id)


def _digest(identity: tuple[str, ...], occurrence: int) -> str:
    return hashlib.sha256("\x1f".join([*identity, str(occurrence)]).encode()).hexdigest()


async def recorded_by_this_step(
    session: AsyncSession, action: str, resource_type: str, resource_id: object
) -> bool:
    """Whether an earlier run of the current workflow step already recorded this event (its
    transaction committed, then its process died before the step was checkpointed): for a step
    whose outcome depends on the state its first run changed. False outside a step."""
    identity = _step_identity(action, resource_type, str(resource_id))
    if identity is None:
        return False
    key = _digest(identity, 1)
    return bool(await session.scalar(select(exists().where(AuditEvent.dedupe_key == key))))


async def _insert_once(session: AsyncSession, event: AuditEvent) -> bool:
    """Insert the event unless one with its key exists (then nothing is written). A concurrent
    insert of the same key waits for the other transaction and is skipped if it committed."""
    event.created_at = event.created_at or utcnow()
    values = {column.key: getattr(event, column.key) for column in inspect(AuditEvent).column_attrs}
    statement = (
        dialect.insert(session, AuditEvent)
        .values(values)
        .on_conflict_do_nothing(index_elements=[AuditEvent.dedupe_key], index_where=_KEYED)
        .returning(AuditEvent.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


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
