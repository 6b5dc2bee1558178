"""GET /metrics: HTTP metrics by route template, pool gauges, workflow counts from the database,
crawler fetches, and the metrics token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from pydantic import SecretStr, ValidationError

from callplane.config import Settings
from callplane.crawler.site_crawl import crawl
from callplane.db.engine import Database
from callplane.models import WorkflowRun
from tests.apps import another_app
from tests.factories import Tenant
from tests.observability.helpers import parse, scrape, value
from tests.support.processes import free_port
from tests.support.site import LocalSite, Reply, Route, html
from tests.workflows.helpers import generate_instructions

Serve = Callable[[dict[str, Route]], LocalSite]
REQUESTS = "callplane_http_requests_total"
DURATION_COUNT = "callplane_http_request_duration_seconds_count"
TOKEN = "metrics-token-0123456789"


async def test_requests_are_counted_by_route_template_never_raw_path(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent_id = str(uuid.uuid4())
    template = "/core/agents/{agent_id}"
    before = await scrape(client)

    assert (await tenant.get(f"/core/agents/{agent_id}")).status_code == 404
    assert (await tenant.get(f"/core/agents/{agent_id}")).status_code == 404
    assert (await client.get(f"/core/agents/{agent_id}")).status_code == 401
    assert (await client.get(f"/no/such/{agent_id}")).status_code == 404
    assert (await client.request("BREW", "/health")).status_code == 405
    assert (await client.get("/docs-assets/swagger-ui.css")).status_code == 200

    response = await client.get("/metrics")
    after = parse(response.text)
    assert agent_id not in response.text  # no raw path ever becomes a label

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(REQUESTS, method="GET", route=template, status="404") == 2
    assert delta(DURATION_COUNT, method="GET", route=template, status="404") == 2
    assert delta(REQUESTS, method="GET", route=template, status="401") == 1
    assert delta(REQUESTS, method="GET", route="unmatched", status="404") == 1
    assert delta(REQUESTS, method="OTHER", route="/health", status="405") == 1
    assert delta(REQUESTS, method="GET", route="/docs-assets", status="200") == 1
    # The previous scrape is counted too.
    assert delta(REQUESTS, method="GET", route="/metrics", status="200") == 1
    buckets = {
        dict(labels)["le"]: count
        for (name, labels), count in after.items()
        if name == "callplane_http_request_duration_seconds_bucket"
        and dict(labels)["method"] == "GET"
        and dict(labels)["route"] == template
        and dict(labels)["status"] == "404"
    }
    assert buckets["+Inf"] == value(
        after, DURATION_COUNT, method="GET", route=template, status="404"
    )
    assert (
        value(
            after,
            "callplane_http_request_duration_seconds_sum",
            method="GET",
            route=template,
            status="404",
        )
        > 0
    )


async def test_pool_gauges_show_this_processs_connections(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    idle = await scrape(client)
    assert value(idle, "callplane_db_pool_size") == settings.database_pool_size
    assert value(idle, "callplane_db_pool_overflow") >= 0
    async with database.engine.connect() as held:
        await held.exec_driver_sql("SELECT 1")
        busy = await scrape(client)
    assert value(busy, "callplane_db_pool_checked_out") >= 1


async def test_workflow_counts_come_from_the_database(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    # Rows of a type of this test's own, so other runs cannot change what is expected.
    kind = f"metrics-test-{uuid.uuid4().hex[:8]}"
    async with database.session(write=True) as session, session.begin():
        for status in ("queued", "queued", "running", "failed"):
            session.add(
                WorkflowRun(
                    id=str(uuid.uuid4()),
                    organization_id=tenant.organization_id,
                    type=kind,
                    status=status,
                    input={},
                    progress={},
                )
            )
    samples = await scrape(client)
    counts = {
        dict(labels)["status"]: count
        for (name, labels), count in samples.items()
        if name == "callplane_workflow_runs" and dict(labels)["type"] == kind
    }
    assert counts == {"queued": 2, "running": 1, "failed": 1}
    assert value(samples, "callplane_database_up") == 1
    # Every known type shows every status, zeros included, so alerts see a series from the start.
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        assert (
            "callplane_workflow_runs",
            frozenset({("type", "create_demo"), ("status", status)}),
        ) in samples


async def test_a_real_run_shows_in_the_workflow_counts(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    labels = {"type": "generate_instructions", "status": "succeeded"}
    before = value(await scrape(client), "callplane_workflow_runs", **labels)
    await generate_instructions(tenant)
    after = value(await scrape(client), "callplane_workflow_runs", **labels)
    assert after >= before + 1  # other tests' runs may finish meanwhile; this one surely did


async def test_crawler_fetches_are_counted_by_outcome(
    client: httpx.AsyncClient, serve: Serve
) -> None:
    site = serve(
        {
            "/": html('<a href="/about">About</a> <a href="/gone">Gone</a> <a href="/data">D</a>'),
            "/about": html("<p>About us.</p>"),
            "/gone": Reply(status=404, body="not found"),
            "/data": Reply(body='{"a": 1}', content_type="application/json"),
        }
    )
    name = "callplane_crawler_fetches_total"
    before = await scrape(client)
    profile = await crawl(site.url, allow_private_networks=True)
    after = await scrape(client)
    assert len(profile.pages) == 2

    def delta(outcome: str) -> float:
        return value(after, name, outcome=outcome) - value(before, name, outcome=outcome)

    assert delta("ok") == 2
    assert delta("nothing_to_crawl") == 1
    assert delta("not_html") == 1


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a metrics token (and no workflow engine: the session's app runs it)."""
    async with another_app(settings, metrics_token=SecretStr(TOKEN)) as client:
        yield client


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer"],
)
async def test_a_metrics_token_is_required_when_set(
    guarded: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await guarded.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Missing or wrong metrics token.", "code": "unauthorized"}


async def test_the_right_metrics_token_is_let_in(guarded: httpx.AsyncClient) -> None:
    for scheme in ("Bearer", "bearer"):
        samples = await scrape(guarded, {"Authorization": f"{scheme} {TOKEN}"})
        assert value(samples, "callplane_database_up") == 1


async def test_production_without_a_token_refuses_metrics(settings: Settings) -> None:
    # Overrides skip validation: production on SQLite is refused at startup otherwise.
    async with another_app(settings, env="production") as client:
        response = await client.get("/metrics")
    assert response.status_code == 403
    assert "CALLPLANE_METRICS_TOKEN" in response.json()["detail"]


async def test_openmetrics_is_served_to_a_scraper_that_asks(client: httpx.AsyncClient) -> None:
    plain = await client.get("/metrics")
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text;")
    assert response.text.endswith("# EOF\n") and "callplane_workflow_runs" in response.text


async def test_an_unreachable_database_still_gives_this_processs_metrics(
    settings: Settings,
) -> None:
    closed = free_port()
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{closed}/nowhere"
    async with another_app(settings, database_url=nowhere) as down:
        assert (await down.get("/health")).status_code == 200
        samples = await scrape(down)
    assert value(samples, "callplane_database_up") == 0
    assert not any(name == "callplane_workflow_runs" for name, _ in samples)
    assert value(samples, REQUESTS, method="GET", route="/health", status="200") >= 1


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="metrics_token"):
        Settings(metrics_token="short")


async def test_metrics_stay_out_of_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


@pytest.mark.parametrize("enabled", [False, True])
async def test_opentelemetry_providers_are_looked_up_only_when_turned_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    """FastAPI's native OpenTelemetry asks for the global providers on every request: off by
    default (CALLPLANE_OPENTELEMETRY), no request pays for it."""
    lookups = 0
    real = trace.get_tracer_provider

    def counted() -> Any:
        nonlocal lookups
        lookups += 1
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    async with another_app(settings, opentelemetry=enabled) as client:
        lookups = 0
        for _ in range(3):
            assert (await client.get("/health")).status_code == 200
    assert (lookups >= 3) if enabled else (lookups == 0)


class _Span(trace.NonRecordingSpan):
    """Keeps what FastAPI's telemetry tells a server span (the OpenTelemetry API alone, no SDK)."""

    def __init__(self, name: str, attributes: dict[str, Any]):
        super().__init__(trace.INVALID_SPAN_CONTEXT)
        self.name, self.attributes = name, dict(attributes)

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def update_name(self, name: str) -> None:
        self.name = name


class _Tracer(trace.NoOpTracer):
    def __init__(self) -> None:
        self.spans: list[_Span] = []

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> _Span:  # type: ignore[override]
        span = _Span(name, kwargs.get("attributes") or {})
        self.spans.append(span)
        return span


class _Provider(trace.TracerProvider):
    def __init__(self) -> None:
        self.tracer = _Tracer()

    def get_tracer(self, *args: Any, **kwargs: Any) -> _Tracer:
        return self.tracer


async def test_lean_and_quick_routes_are_traced_with_their_route_when_opentelemetry_is_on(
    settings: Settings, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request middleware serves the lean detail and the quick lists itself, below FastAPI's
    router, which names a server span after its route: with OpenTelemetry on, the route index
    steps aside (FastAPI's telemetry is in the scope) and they go down FastAPI's path like any
    route, so their spans carry `http.route` as every other's do."""
    agent = await tenant.create_agent()
    provider = _Provider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    async with another_app(settings, opentelemetry=True) as client:
        for path, route in [
            (f"/core/agents/{agent['id']}", "/core/agents/{agent_id}"),
            ("/core/agents?limit=5", "/core/agents"),
        ]:
            provider.tracer.spans.clear()
            response = await client.get(path, headers=tenant.headers)
            assert response.status_code == 200, response.text
            [span] = provider.tracer.spans
            assert span.attributes.get("http.route") == route, (path, span.attributes)
            assert span.name == f"GET {route}"
