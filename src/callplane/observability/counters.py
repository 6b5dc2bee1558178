"""Counters kept by this process, in prometheus_client's default registry.

A module of its own with no other imports, so the crawler can count without loading the app.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

# `*_created` series double the output and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REQUESTS = Counter(
    "callplane_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"),
)
HTTP_DURATION = Histogram(
    "callplane_http_request_duration_seconds",
    "Time from receiving a request to sending the last byte of its response.",
    ("method", "route", "status"),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CRAWLER_FETCHES = Counter(
    "callplane_crawler_fetches",
    "Pages the crawler asked for, by outcome: ok, already_known (a redirect to a page the crawl "
    "has) or the refusal's code (site_unreachable, not_html, nothing_to_crawl, blocked_address).",
    ("outcome",),
)
HOUSEKEEPING_DELETED = Counter(
    "callplane_housekeeping_deleted_rows",
    "Rows housekeeping deleted: expired idempotency_keys, audit_events past retention, "
    "workflow_history (the engine's records of long-finished workflows).",
    ("table",),
)
