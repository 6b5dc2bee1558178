"""What workflow steps need from the process they run in (set once when the engine launches).

DBOS runs a workflow on the process's main event loop while that loop runs, and on a background
loop of its own otherwise (e.g. while the main thread is blocked). Database connections and HTTP
clients belong to the loop that created them, so code running on another loop gets its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callplane.config import Settings
from callplane.db.engine import Database, create_engine
from callplane.llm import Writer


class Runtime:
    def __init__(self, settings: Settings, database: Database, make_writer: Callable[[], Writer]):
        self.settings = settings
        self._home = asyncio.get_running_loop()
        self._database = database
        self._writer = make_writer()
        self._make_writer = make_writer
        self._elsewhere: dict[asyncio.AbstractEventLoop, tuple[Database, Writer]] = {}

    def _away(self) -> tuple[Database, Writer] | None:
        loop = asyncio.get_running_loop()
        if loop is self._home:
            return None
        if loop not in self._elsewhere:
            database = Database(create_engine(self.settings.database_url, pool_size=2))
            self._elsewhere[loop] = (database, self._make_writer())
        return self._elsewhere[loop]

    @property
    def database(self) -> Database:
        away = self._away()
        return self._database if away is None else away[0]

    @property
    def writer(self) -> Writer:
        away = self._away()
        return self._writer if away is None else away[1]

    @writer.setter
    def writer(self, writer: Writer) -> None:
        self._writer = writer


_runtime: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("workflow runtime not configured in this process")
    return _runtime
