"""Schema building blocks shared by every domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, model_validator

T = TypeVar("T")


def _iso_z(value: datetime) -> str:
    """ISO-8601 in UTC with a `Z` suffix, as the SPEC requires for every timestamp."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


UTCDateTime = Annotated[datetime, PlainSerializer(_iso_z, return_type=str, when_used="json")]


def contains_nul(data: Any) -> bool:
    """Whether any string (key or value) in a JSON-like value holds a NUL character."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RequestModel(BaseModel):
    """Request bodies reject unknown fields (a typo must not be silently dropped) and NUL
    characters (PostgreSQL cannot store them in text; SQLite could, so both refuse them)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if contains_nul(data):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return data


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
