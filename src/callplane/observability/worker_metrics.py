"""Metrics of a `callplane worker` process, which serves no API: a small HTTP listener of its
own (CALLPLANE_WORKER_METRICS_PORT) with the same token rule as the API's /metrics.

It serves this process's registry (crawler fetches, process and Python runtime metrics); the
workflow counts, read from the shared database, are on every API process's /metrics.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import orjson
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from callplane.config import Settings
from callplane.errors import AppError, NotFound
from callplane.observability.endpoints import refusal

StartResponse = Callable[..., Any]


def serve(settings: Settings, port: int) -> None:
    """Serve GET /metrics on `port` (all interfaces) from a daemon thread."""
    scrape = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            return _answer(start_response, NotFound())
        refused = refusal(settings, environ.get("HTTP_AUTHORIZATION"))
        if refused is not None:
            return _answer(start_response, refused)
        body: Iterable[bytes] = scrape(environ, start_response)
        return body

    server = make_server("", port, app, ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()


def _answer(start_response: StartResponse, error: AppError) -> list[bytes]:
    """The API's error shape, `{"detail", "code"}`, with the error's status and headers."""
    status = f"{error.status} {HTTPStatus(error.status).phrase}"
    headers = [("Content-Type", "application/json"), *(error.headers or {}).items()]
    start_response(status, headers)
    return [orjson.dumps({"detail": error.detail, "code": error.code})]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line each."""
