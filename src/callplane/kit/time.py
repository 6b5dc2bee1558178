"""Time helpers."""

from __future__ import annotations

from datetime import UTC, datetime

from callplane.db.types import utcnow

__all__ = ["from_epoch_ms", "utcnow"]


def from_epoch_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)
