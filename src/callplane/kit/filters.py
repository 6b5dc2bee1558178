"""Query filters shared by list endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute


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


def time_filters(
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
    updated_after: Annotated[datetime | None, Query()] = None,
    updated_before: Annotated[datetime | None, Query()] = None,
) -> TimeFilters:
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


def created_filters(
    created_after: Annotated[datetime | None, Query()] = None,
    created_before: Annotated[datetime | None, Query()] = None,
) -> TimeFilters:
    """Only the `created_*` pair, for append-only resources (nothing is ever updated)."""
    return TimeFilters(_utc(created_after, "created_after"), _utc(created_before, "created_before"))
