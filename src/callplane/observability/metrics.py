"""The scrape: this process's counters (see `counters`), plus gauges read at scrape time.

Counters live in the process's default registry, so every process (each uvicorn worker) has its
own and serves only its own. Pool gauges are this process's pool. Workflow counts are read from
the shared `workflow_runs` table at scrape time, so every process reports the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import get_args

from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.pool import QueuePool

from callplane.db.engine import Database
from callplane.observability import repository
from callplane.workflows.schemas import WorkflowStatus, WorkflowType

logger = logging.getLogger("callplane.metrics")

# Every known (type, status) is reported, zeros included, so a series exists before its first run.
KNOWN_RUNS = [(t, s) for t in get_args(WorkflowType) for s in get_args(WorkflowStatus)]


class _Snapshot(Collector):
    """Metric families gathered before encoding (collectors are synchronous; the workflow
    counts need an async query)."""

    def __init__(self, families: list[Metric]):
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


async def render(database: Database, accept: str | None) -> tuple[bytes, str]:
    """The exposition in the format the scraper asked for (Prometheus text by default, or
    OpenMetrics), and its content type: this process's counters, its pool, the workflow counts."""
    families = [
        *REGISTRY.collect(),
        *_pool_families(database),
        *await _workflow_families(database),
    ]
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_Snapshot(families)), content_type


def _pool_families(database: Database) -> list[Metric]:
    pool = database.engine.pool
    if not isinstance(pool, QueuePool):  # NullPool: nothing is kept open
        return []
    values = {
        "size": ("Connections the pool keeps open in this process.", pool.size()),
        "checked_out": ("Connections in use by this process right now.", pool.checkedout()),
        "overflow": (
            "Connections open beyond the pool size in this process right now.",
            max(pool.overflow(), 0),
        ),
    }
    return [
        GaugeMetricFamily(f"callplane_db_pool_{name}", help_text, value=value)
        for name, (help_text, value) in values.items()
    ]


async def _workflow_families(database: Database) -> list[Metric]:
    up = GaugeMetricFamily(
        "callplane_database_up", "1 when the scrape could read the database, else 0."
    )
    try:
        counts = await repository.workflow_counts(database)
    except Exception:  # the scrape still reports this process's counters
        logger.warning("metrics scrape could not read workflow counts", exc_info=True)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    runs = GaugeMetricFamily(
        "callplane_workflow_runs",
        "Workflow runs in the database (all organizations), by type and status.",
        labels=("type", "status"),
    )
    every = dict.fromkeys(KNOWN_RUNS, 0)
    every.update(counts)
    for (type_, status), count in sorted(every.items()):
        runs.add_metric([type_, status], count)
    return [up, runs]
