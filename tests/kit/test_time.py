"""Epoch milliseconds (the `expires_at` wire format) convert exactly, both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from callplane.kit.time import from_epoch_ms, to_epoch_ms


@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
def test_epoch_ms_round_trips(value: int) -> None:
    converted = from_epoch_ms(value)
    assert converted is not None and converted.tzinfo is not None
    assert to_epoch_ms(converted) == value


def test_known_values() -> None:
    assert from_epoch_ms(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert from_epoch_ms(1_079_919_129_416) == datetime(2004, 3, 22, 1, 32, 9, 416_000, tzinfo=UTC)
    assert from_epoch_ms(None) is None and to_epoch_ms(None) is None


def test_sub_millisecond_parts_are_dropped() -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(microseconds=1999)
    assert to_epoch_ms(moment) == 1_893_456_000_001


def test_naive_datetimes_are_read_as_utc() -> None:
    assert to_epoch_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000
