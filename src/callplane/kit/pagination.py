"""Keyset (cursor) pagination: a page costs the same at row 10 and at row 10,000,000.

A cursor is the sort key of the last row of a page, opaque to clients (base64url JSON). Rows are
ordered descending by a tuple of columns that ends in a unique one, so no row is skipped or repeated
while rows are inserted between pages.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Query
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from callplane.errors import BadRequest

LimitParam = Annotated[int, Query(ge=1, le=100, description="Page size (1-100).")]
CursorParam = Annotated[
    str | None,
    Query(max_length=512, description="Opaque cursor from the previous page's `next_cursor`."),
]


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    default_detail = "The cursor is malformed; pass `next_cursor` from a previous page unchanged."


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"u": value.hex}
    return value


def _decode_value(raw: Any, kind: type) -> Any:
    if kind is datetime and isinstance(raw, dict) and isinstance(raw.get("t"), str):
        value = datetime.fromisoformat(raw["t"])
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if kind is uuid.UUID and isinstance(raw, dict) and isinstance(raw.get("u"), str):
        return uuid.UUID(hex=raw["u"])
    if kind is int and isinstance(raw, int) and not isinstance(raw, bool):
        # Integer sort keys are INTEGER (32-bit) columns; beyond 64 bits both drivers fail (500).
        if not -(2**31) <= raw < 2**31:
            raise ValueError("cursor integer out of range")
        return raw
    if kind is str and isinstance(raw, str):
        return raw
    raise ValueError("unexpected cursor value")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = orjson.dumps([_encode_value(value) for value in values])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[type]) -> list[Any]:
    try:
        raw = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(kinds):
            raise ValueError("wrong cursor length")
        return [_decode_value(item, kind) for item, kind in zip(raw, kinds, strict=True)]
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, binascii.Error) as exc:
        raise InvalidCursor() from exc


async def paginate(
    session: Any,
    statement: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    kinds: Sequence[type],
    *,
    limit: int,
    cursor: str | None,
    rows: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of `statement` ordered by `keys` descending: its objects (or, with `rows`, its
    Core rows: cheaper when the page is encoded straight to JSON) and the next cursor."""
    if cursor is not None:
        after = decode_cursor(cursor, kinds)
        statement = statement.where(tuple_(*keys) < tuple_(*after))
    statement = statement.order_by(*(key.desc() for key in keys)).limit(limit + 1)
    result = await (session.execute(statement) if rows else session.scalars(statement))
    found = list(result.all())
    if len(found) <= limit:
        return found, None
    found = found[:limit]
    last = found[-1]
    return found, encode_cursor([getattr(last, key.key) for key in keys])
