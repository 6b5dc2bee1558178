"""Time helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callplane.db.types import utcnow

__all__ = ["from_epoch_ms", "to_epoch_ms", "utcnow"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def from_epoch_ms(value: int | None) -> datetime | None:
    """Exact integer arithmetic: `value / 1000` as a float loses the millisecond for some values."""
    return None if value is None else _EPOCH + timedelta(milliseconds=value)


def to_epoch_ms(value: datetime | None) -> int | None:
    """The inverse of `from_epoch_ms` (sub-millisecond parts are dropped, never rounded up)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MILLISECOND
