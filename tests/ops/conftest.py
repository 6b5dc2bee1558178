from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.processes import Processes


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Real callplane processes for one test; all killed afterwards."""
    started = Processes(tmp_path)
    yield started
    started.stop_all()
