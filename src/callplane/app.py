"""create_app(): the ASGI application with its lifespan, middleware and error handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp
from swagger_ui_bundle import swagger_ui_path

from callplane import wiring, worker
from callplane.api import document_validation_errors, mount_routers
from callplane.audit.recorder import bind_request
from callplane.auth.authenticator import Authenticator
from callplane.config import Settings, get_settings
from callplane.console.endpoints import router as console_router
from callplane.console.knowledge_pages import router as console_knowledge_router
from callplane.console.web import HERE as CONSOLE_DIR
from callplane.console.web import StaticAssets
from callplane.console.widget_pages import router as console_widgets_router
from callplane.db.engine import Database, create_engine, is_transient
from callplane.db.session import WriteHooks
from callplane.errors import AppError, DatabaseUnavailable, validation_error_body
from callplane.idempotency.middleware import IdempotentReplay, replay_response
from callplane.idempotency.repository import mark_committed
from callplane.kit import memory
from callplane.kit.dispatch import RouteIndex, index_routes
from callplane.kit.lean import ErrorHandlers
from callplane.kit.openapi import TAGS, name_operations
from callplane.observability.middleware import RequestMiddleware
from callplane.ratelimit import limiter as ratelimit
from callplane.routing.service import ConfigCache

logger = logging.getLogger("callplane")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(
            create_engine(settings.database_url, pool_size=settings.database_pool_size)
        )
        app.state.database = database
        app.state.authenticator = Authenticator(database, settings.auth_cache_ttl_seconds)
        app.state.rate_limiter = ratelimit.build(
            database,
            limit=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
            backend=settings.rate_limit_backend,
        )
        app.state.writer = wiring.writer(settings)
        # The public widget chat: per widget and client address (callplane.widgets.chat).
        app.state.widget_rate_limiter = ratelimit.build(
            database,
            limit=settings.widget_rate_limit_requests,
            window_seconds=60,
            backend=settings.rate_limit_backend,
        )
        app.state.live_runtime = wiring.live_runtime(settings)
        app.state.voice = wiring.voice_gateway(settings, database, lambda: app.state.live_runtime)
        background: list[asyncio.Task[None]] = []
        if settings.workflows != "off":
            await worker.start(settings, database, listen=settings.workflows == "embedded")
            if settings.workflows == "embedded":
                background.append(asyncio.create_task(worker.sweep_forever(database, settings)))
        # What importing and starting left free goes back to the system; then after each burst.
        memory.trim()
        background.append(asyncio.create_task(memory.trim_periodically()))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            if settings.workflows != "off":
                await worker.stop()
            await app.state.voice.close()
            await database.dispose()

    app = CallplaneAPI(
        title="callplane",
        version="0.1.0",
        summary="Control plane for conversational AI agents (Anyreach Agents API compatible).",
        lifespan=lifespan,
        openapi_tags=TAGS,
        docs_url=None,
        redoc_url=None,
        telemetry=None if settings.opentelemetry else NO_TELEMETRY,
    )
    app.state.settings = settings
    # A request's write session: tied to the request (who acts, for the audit events) and, in
    # the same transaction as its work, marks its Idempotency-Key committed.
    app.state.write_hooks = WriteHooks(opened=(bind_request,), committing=(mark_committed,))
    # Resolve answers' configs by (version id, revision): immutable, checked on every call.
    app.state.routing_configs = ConfigCache()
    wiring.install()
    _install_error_handlers(app)
    _install_docs(app)
    _install_console(app)
    mount_routers(app)
    name_operations(app)
    document_validation_errors(app)
    # A request is matched against the routes that can match its path, not all ~120 in turn.
    index_routes(app.router)
    return app


class CallplaneAPI(FastAPI):
    """FastAPI with the request middleware as its outermost layer (issue 15).

    One pure-ASGI layer does what four did: metrics and the access log, request ids, refusals
    at the door and body buffering, Idempotency-Key settling; and it serves the lean routes
    (kit/lean.py) and the quick routes' common requests (kit/quick.py) itself, so they skip the
    framework's seven layers below it. Every response, errors and 500s included, leaves through
    it, so every one carries X-Request-ID. Built, like FastAPI's own stack, at the first
    request: exception handlers and routes added before then are the ones served."""

    def build_middleware_stack(self) -> ASGIApp:
        settings: Settings = self.state.settings
        index = self.router.middleware_stack
        return RequestMiddleware(
            super().build_middleware_stack(),
            access_log=settings.access_log,
            max_bytes=settings.max_body_bytes,
            index=index if isinstance(index, RouteIndex) else None,
            errors=ErrorHandlers(self.exception_handlers),
        )


def _error(
    status: int, detail: str, code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status, headers=headers)


def _app_error(exc: AppError) -> JSONResponse:
    return _error(exc.status, exc.detail, exc.code, exc.headers)


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _allowed_methods(app: FastAPI, path: str) -> str:
    """Every method any route serves at `path`: the router itself names only the first route's."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods))


# FastAPI looks the OpenTelemetry providers up on every request unless all of it is off.
NO_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def _install_error_handlers(app: FastAPI) -> None:
    # Not an error: `authorize()` found the caller's stored answer to this Idempotency-Key.
    app.add_exception_handler(IdempotentReplay, replay_response)

    @app.exception_handler(AppError)
    async def app_error(_: Request, exc: AppError) -> JSONResponse:
        return _app_error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's undocumented 400 for a body that is not UTF-8: it is malformed JSON,
            # which FastAPI itself reports as a 422 `json_invalid`.
            issue = {"loc": ["body"], "msg": "Body is not UTF-8 JSON", "type": "json_invalid"}
            return JSONResponse(validation_error_body([issue]), status_code=422)
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = exc.headers
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(app, request.url.path)}
        return _error(exc.status_code, detail, _code_for(exc.status_code), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse(validation_error_body(errors), status_code=422)

    @app.exception_handler(RecursionError)
    async def too_deep(_: Request, __: RecursionError) -> JSONResponse:
        return _error(400, "Request body is nested too deeply.", "body_too_deep")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", "unknown")
        if is_transient(exc):  # not a bug: tell the client to come back (the SDK retries)
            logger.warning(
                "database busy or unreachable", extra={"request_id": request_id}, exc_info=exc
            )
            return _app_error(DatabaseUnavailable(headers={"Retry-After": "1"}))
        logger.exception("unhandled error", extra={"request_id": request_id})
        return _error(
            500,
            f"Internal server error. Quote request id {request_id} when reporting it.",
            "internal_error",
        )


def _install_docs(app: FastAPI) -> None:
    """Swagger UI served from the installed package: no CDN, works offline."""
    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="callplane API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _install_console(app: FastAPI) -> None:
    """The web console at /console (HTML, not in the OpenAPI) and its vendored assets, served
    from the package: no CDN, no build step."""
    app.mount(
        "/console/static",
        StaticAssets(directory=str(CONSOLE_DIR / "static")),
        name="console-static",
    )
    app.router.routes.extend(console_router.routes)
    app.router.routes.extend(console_widgets_router.routes)
    app.router.routes.extend(console_knowledge_router.routes)
