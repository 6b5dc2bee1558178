"""The README's walkthrough is docs/quickstart.sh, quoted whole and in order."""

from __future__ import annotations

from pathlib import Path

from tests.docs.examples import QUICKSTART, QUICKSTART_MARKER, REPO, quoted_quickstart

README = REPO / "README.md"


def test_the_readme_quotes_the_quickstart_exactly() -> None:
    quoted = quoted_quickstart(README)
    assert quoted == QUICKSTART.read_text(), (
        f"README.md must quote docs/quickstart.sh whole: its ```sh blocks that follow a "
        f"`{QUICKSTART_MARKER}` line, joined by blank lines, are the script byte for byte. "
        "After editing the script, run: .venv/bin/python -m tests.docs.examples"
    )


def test_a_changed_script_is_caught(tmp_path: Path) -> None:
    """The check compares content, not just the presence of the marker."""
    copy = tmp_path / "README.md"
    copy.write_text(README.read_text().replace("set -euo pipefail", "set -eu", 1))
    assert quoted_quickstart(copy) != QUICKSTART.read_text()
