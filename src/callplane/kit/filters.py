"""Query filters shared by list endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute


def _not_a_bare_number(value: Any) -> Any:
    """ISO-8601 only: Pydantic would read `2026` as 2026 seconds after the epoch (1970), which a
    client meaning the year would never notice."""
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("expected an ISO-8601 timestamp such as 2026-01-31T09:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_not_a_bare_number)]


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": "timestamp out of range", "type": "datetime_range"}]
        ) from None


@dataclass(frozen=True)
class TimeFilters:
    """`created_*`/`updated_*`: ISO-8601 (naive = UTC); `_after` is strict >, `_before` strict <."""

    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None

    def apply(
        self,
        statement: Select[Any],
        created: InstrumentedAttribute[Any],
        updated: InstrumentedAttribute[Any],
    ) -> Select[Any]:
        if self.created_after:
            statement = statement.where(created > self.created_after)
        if self.created_before:
            statement = statement.where(created < self.created_before)
        if self.updated_after:
            statement = statement.where(updated > self.updated_after)
        if self.updated_before:
            statement = statement.where(updated < self.updated_before)
        return statement


async def time_filters(
    created_after: Annotated[Timestamp | None, Query()] = None,
    created_before: Annotated[Timestamp | None, Query()] = None,
    updated_after: Annotated[Timestamp | None, Query()] = None,
    updated_before: Annotated[Timestamp | None, Query()] = None,
) -> TimeFilters:
    """async although it awaits nothing: FastAPI runs a plain `def` dependency in a worker
    thread, a thread hop on every list request (issue 15)."""
    return TimeFilters(
        _utc(created_after, "created_after"),
        _utc(created_before, "created_before"),
        _utc(updated_after, "updated_after"),
        _utc(updated_before, "updated_before"),
    )


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` as a literal substring (escape char is backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def created_filters(
    created_after: Annotated[Timestamp | None, Query()] = None,
    created_before: Annotated[Timestamp | None, Query()] = None,
) -> TimeFilters:
    """Only the `created_*` pair, for append-only resources (nothing is ever updated); async
    for the reason `time_filters` is."""
    return TimeFilters(_utc(created_after, "created_after"), _utc(created_before, "created_before"))
