"""The C heap's settings and trimming (kit/memory.py): what is asked of glibc, and when."""

from __future__ import annotations

import asyncio
import platform
from types import SimpleNamespace

import pytest

from callplane.kit import memory
from tests.support.processes import modules_loaded_by


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def mallopt(self, *args: int) -> int:
        self.calls.append(("mallopt", args))
        return 1

    def malloc_trim(self, *args: int) -> int:
        self.calls.append(("malloc_trim", args))
        return 1


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(memory, "_libc", fake)
    return fake


def test_configure_limits_arenas_and_fixes_the_mmap_threshold(libc: FakeLibc) -> None:
    environ: dict[str, str] = {}
    memory.configure(environ)
    assert libc.calls == [
        ("mallopt", (memory._M_ARENA_MAX, 2)),
        ("mallopt", (memory._M_MMAP_THRESHOLD, 128 * 1024)),
    ]
    # ... and for the processes it starts (`serve --workers N`), which glibc sets up from these.
    assert environ == {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}


def test_the_environment_variables_win(libc: FakeLibc) -> None:
    environ = {"MALLOC_ARENA_MAX": "8"}
    memory.configure(environ)
    assert libc.calls == [("mallopt", (memory._M_MMAP_THRESHOLD, 128 * 1024))]
    assert environ["MALLOC_ARENA_MAX"] == "8"
    environ = {"MALLOC_ARENA_MAX": "8", "MALLOC_MMAP_THRESHOLD_": "65536"}
    libc.calls.clear()
    memory.configure(environ)
    assert libc.calls == []
    assert environ == {"MALLOC_ARENA_MAX": "8", "MALLOC_MMAP_THRESHOLD_": "65536"}


def test_without_glibc_nothing_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_libc", None)
    environ: dict[str, str] = {}
    memory.configure(environ)
    assert environ == {}
    memory.trim()
    asyncio.run(asyncio.wait_for(memory.trim_periodically(), 1))  # returns at once


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_is_found_and_answers() -> None:
    assert memory._libc is not None
    assert memory._libc.malloc_trim(0) in (0, 1)


async def test_trims_while_the_process_works_not_while_it_rests(
    libc: FakeLibc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CPU seconds used before each 10 s check: a quiet start whose trickle reaches 1 s at the
    third (one trim), two busy checks (a trim each), then rest with less than 1 s (none)."""
    used_before_check = iter([0.3, 0.3, 0.5, 4.0, 4.0, 0.6, 0.0, 0.2])
    clock = {"cpu": 0.0, "check": 0.0}
    done = asyncio.Event()
    trims_at: list[int] = []

    async def sleep(_: float) -> None:
        try:
            clock["cpu"] += next(used_before_check)
        except StopIteration:
            done.set()
            await asyncio.Future()  # parked until the test cancels the task
        clock["check"] += 1

    monkeypatch.setattr(memory, "asyncio", SimpleNamespace(sleep=sleep))
    monkeypatch.setattr(memory, "time", SimpleNamespace(process_time=lambda: clock["cpu"]))
    monkeypatch.setattr(memory, "trim", lambda: trims_at.append(int(clock["check"])))
    task = asyncio.create_task(memory.trim_periodically())
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    assert trims_at == [3, 4, 5]
    assert libc.calls == []  # trim() was the only way to the C library


def test_a_serving_process_imports_no_library_only_some_requests_use() -> None:
    """What only some requests use is imported by the first of them, not by every serving
    process (issues 15 and 16: each is MBs of resident memory): the crawler's extractors,
    the HTML parser, the crypto of the voice secrets, the migrations; and on SQLite, the
    PostgreSQL driver."""
    lazy = ["trafilatura", "extruct", "lxml", "selectolax", "cryptography", "alembic", "mako"]
    lazy.append("asyncpg")
    setup = (
        "from callplane.app import create_app\n"
        "from callplane.config import Settings\n"
        "create_app(Settings(database_url='sqlite+aiosqlite:///unused.db'))"
    )
    assert modules_loaded_by(setup, lazy) == []
