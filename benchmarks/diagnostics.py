"""EXPLAIN ANALYZE of the exact SQL the app sends for a list page, to tell database time from the
time spent in Python."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event

from callplane.agents.repository import AgentRepository
from callplane.db.engine import Database, create_engine
from callplane.kit.filters import TimeFilters

_EXECUTION = re.compile(r"Execution Time: ([\d.]+) ms")
_PLANNING = re.compile(r"Planning Time: ([\d.]+) ms")
_NODE = re.compile(
    r"^\s*(?:->\s*)?([A-Z][A-Za-z ]+?)(?: using (\S+))?(?: on (\S+))?(?: \w+)?\s+\(cost="
)


@dataclass(frozen=True)
class Plan:
    planning_ms: float
    execution_ms: float
    text: str

    @property
    def nodes(self) -> str:
        """The plan's node types, outermost first, e.g. `Limit > Index Scan (ix_agents_...)`."""
        names = []
        for line in self.text.splitlines():
            match = _NODE.match(line)
            if match:
                index = match[2] or (match[3] if match[1] == "Bitmap Index Scan" else None)
                names.append(f"{match[1]} ({index})" if index else match[1])
        return " > ".join(names)


async def explain_agent_list(
    url: str,
    organization_id: uuid.UUID,
    *,
    name: str | None = None,
    metadata: dict[str, Any] | None = None,
    repeat: int = 3,
) -> Plan:
    """Plan of `GET /core/agents?limit=20` (with the given filters), warm, fastest of `repeat`."""
    database = Database(create_engine(url, pool_size=0))
    captured: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        _conn, _cursor, statement, parameters, _context, _many = args
        captured.append((statement, parameters))

    event.listen(database.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with database.session(write=False) as session, session.begin():
            await AgentRepository(session, organization_id).list(
                name=name,
                active=None,
                is_demo=None,
                metadata=metadata,
                times=TimeFilters(),
                limit=20,
                cursor=None,
            )
            statement, parameters = captured[-1]
            connection = await session.connection()
            plans = []
            for _ in range(repeat):
                result = await connection.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters
                )
                text = "\n".join(str(row[0]) for row in result)
                execution = _EXECUTION.search(text)
                planning = _PLANNING.search(text)
                plans.append(
                    Plan(
                        float(planning[1]) if planning else 0.0,
                        float(execution[1]) if execution else 0.0,
                        text,
                    )
                )
    finally:
        await database.dispose()
    return min(plans, key=lambda plan: plan.execution_ms)
