"""Schema building blocks shared by every domain."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from itertools import chain
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    PlainSerializer,
    model_validator,
)

T = TypeVar("T")


def _iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a `Z` suffix, as the SPEC requires for every timestamp."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UTCDateTime = Annotated[datetime, PlainSerializer(_iso_z, return_type=str, when_used="json")]


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_JSON_DEPTH = 64
_INF = float("inf")
_INSIDE_CHECKED_INPUT: ContextVar[bool] = ContextVar("inside_checked_input", default=False)


def unstorable(data: Any) -> str | None:
    """Why a JSON-like value cannot be stored faithfully on both databases, or None.

    PostgreSQL text cannot hold NUL; JSON has no NaN/Infinity (Python's parser accepts them);
    integers beyond 64 bits and lone surrogates break JSON columns and encoders; orjson refuses
    to encode nesting deeper than 255 levels (a TypeError, so a 500, in any validator using it).
    Every request body passes through here, so it is written for speed.
    """
    stack: list[tuple[Any, int]] = [([data], -1)]
    while stack:
        container, depth = stack.pop()
        if container and depth >= MAX_JSON_DEPTH:
            return f"JSON must not nest deeper than {MAX_JSON_DEPTH} levels"
        children = (
            chain(container, container.values()) if isinstance(container, dict) else container
        )
        for item in children:
            if isinstance(item, str):
                if "\x00" in item:
                    return "text must not contain NUL (\\u0000) characters"
                if not item.isascii():
                    try:
                        item.encode("utf-8")
                    except UnicodeEncodeError:
                        return "text must be valid Unicode (no lone surrogates)"
            elif isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
            elif isinstance(item, bool):
                continue
            elif isinstance(item, int):
                if not INT64_MIN <= item <= INT64_MAX:
                    return "integers must fit in 64 bits"
            elif isinstance(item, float) and (item != item or item in (_INF, -_INF)):
                return "numbers must be finite (no NaN or Infinity)"
    return None


class RequestModel(BaseModel):
    """Request bodies reject unknown fields (a typo must not be silently dropped) and values
    that one of the databases could not store faithfully (see `unstorable`)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="wrap")
    @classmethod
    def _storable(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Walks the input once, at the outermost request model: nested ones would walk their
        part again (a 1 MiB body walked twice cost ~0.5 s)."""
        if _INSIDE_CHECKED_INPUT.get():
            return handler(data)
        problem = unstorable(data)
        if problem is not None:
            raise ValueError(problem)
        token = _INSIDE_CHECKED_INPUT.set(True)
        try:
            return handler(data)
        finally:
            _INSIDE_CHECKED_INPUT.reset(token)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(BaseModel):
    detail: str
    code: str


class PaginationInfo(BaseModel):
    limit: int
    next_cursor: str | None


class Page(BaseModel, Generic[T]):
    data: list[T]
    pagination: PaginationInfo

    @classmethod
    def of(cls, data: list[T], limit: int, next_cursor: str | None) -> Page[T]:
        return cls(data=data, pagination=PaginationInfo(limit=limit, next_cursor=next_cursor))


def not_null(value: Any) -> Any:
    """For optional update fields: omitting one leaves it alone, but null is not a value."""
    if value is None:
        raise ValueError("may be omitted but not null")
    return value
