"""`dialect.insert_many`: the rows read back are the rows given, on both databases (on PostgreSQL
they travel as one JSON document, so every kind of value must come through it unchanged)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from asyncpg.pgproto.pgproto import UUID as AsyncpgUUID
from sqlalchemy import Table, select

from callplane.db import dialect
from callplane.db.engine import Database
from callplane.db.types import new_id
from callplane.models import AuditEvent
from tests.factories import Tenant

TABLE = cast(Table, AuditEvent.__table__)


def _row(tenant: Tenant, **values: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "organization_id": tenant.organization_id,
        "created_at": datetime(2026, 12, 5, 4, 30, 1, 123456, tzinfo=UTC),
        "action": "agent.updated",
        "resource_type": "agent",
        "resource_id": "r",
        "actor_type": "api_key",
        "actor_id": None,
        "credential_id": None,
        "request_id": None,
        "changes": {},
        "dedupe_key": None,
        **values,
    }


async def test_rows_read_back_as_given(tenant: Tenant, database: Database) -> None:
    shared = {"inbound": {"agent_id": str(uuid.uuid4()), "version": 2}, "n": 1.5, "ok": True}
    credential = uuid.uuid4()
    rows = [
        _row(tenant, changes=shared, resource_id="+14155550100", credential_id=credential),
        _row(tenant, changes=shared, resource_id="+14155550101", actor_id='ü "quoted" \\ 🎧'),
        _row(
            tenant,
            # asyncpg's own UUID type (what a UUID read from PostgreSQL is), a timestamp in
            # another zone, and one without a zone (UTC, as `UTCDateTime` takes it).
            credential_id=AsyncpgUUID(str(credential)),
            created_at=datetime(2026, 12, 5, 6, 30, 1, 5, tzinfo=timezone(timedelta(hours=2))),
            changes={"list": [1, None, "x"], "nested": {"empty": {}}},
            request_id="req-1",
        ),
        _row(tenant, created_at=datetime(2026, 12, 5, 4, 30, 2), dedupe_key="k" * 64),
    ]
    async with database.session(write=True) as session, session.begin():
        await dialect.insert_many(session, TABLE, rows)
    async with database.session(write=False) as session:
        stored = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.id.in_([row["id"] for row in rows]))
                .order_by(AuditEvent.id)
            )
        ).all()
    expected = [
        {**row, "created_at": row["created_at"].replace(tzinfo=row["created_at"].tzinfo or UTC)}
        for row in rows
    ]
    assert [{name: getattr(event, name) for name in rows[0]} for event in stored] == expected
    assert stored[2].created_at == datetime(2026, 12, 5, 4, 30, 1, 5, tzinfo=UTC)
