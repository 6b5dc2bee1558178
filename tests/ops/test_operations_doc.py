"""docs/operations.md stays the complete configuration reference."""

from __future__ import annotations

from pathlib import Path

from callplane.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_documented() -> None:
    text = DOC.read_text()
    missing = [
        f"CALLPLANE_{name.upper()}"
        for name in Settings.model_fields
        if f"`CALLPLANE_{name.upper()}`" not in text
    ]
    assert missing == []
