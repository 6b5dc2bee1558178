"""Property-based API fuzzing with schemathesis against the app's own OpenAPI document.

Every operation is fuzzed (one test each, so a failure names it) with positive and negative
data, authenticated as a tenant that holds real resources; half the cases put the ids of those
resources in the path. A response must not be a 5xx, must have a documented status code and
content type, and its body must match the documented schema.

The requests go to the session's app, whose lifespan (database, authenticator, workflow engine)
runs on the test event loop. schemathesis' own ASGI transport would start a second app on an
event loop of its own, so instead Hypothesis runs in a worker thread and hands each request,
serialized exactly as schemathesis' transport does it, to the test loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from callplane.app import create_app
from callplane.config import Settings
from callplane.scaffolding.schemas import CreateDemo
from tests.factories import Tenant
from tests.fuzz.conftest import Seeded

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 25  # per operation: about 30 s for all of them
BASE_URL = "http://testserver"
# httpx refuses to send a longer URL (`httpx.InvalidURL: URL too long`) and servers answer 414
# before the app sees it, so such a generated case tests the client, not callplane.
MAX_URL_LENGTH = 65_536


def _labels(openapi: dict[str, Any]) -> list[str]:
    schema = schemathesis.openapi.from_dict(openapi)
    return [result.ok().label for result in schema.get_all_operations()]


# Collected from an app built like the session's (no lifespan needed to read its routes), so
# operations added later are fuzzed without touching this file.
LABELS = _labels(create_app(Settings(env="test")).openapi())


@pytest.fixture(scope="module")
def openapi(app_client: httpx.AsyncClient) -> dict[str, Any]:
    """The document the running app serves."""
    document: dict[str, Any] = app_client.app.openapi()  # type: ignore[attr-defined]
    return document


def test_every_operation_is_fuzzed(openapi: dict[str, Any]) -> None:
    assert sorted(_labels(openapi)) == sorted(LABELS)


def _crawl_locally(website: str) -> Any:
    """Point every `company_website` the API would accept at the local site, so the crawls the
    fuzzer starts succeed without leaving the machine. Values the API refuses are kept as
    generated, so its validation is still fuzzed."""

    def rewrite(case: schemathesis.Case) -> schemathesis.Case:
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("company_website"), str):
            try:
                CreateDemo.model_validate({"company_website": body["company_website"]})
            except ValidationError:
                return case
            case.body = {**body, "company_website": website}
        return case

    return rewrite


def _cases(operation: Any, seeded: Seeded, website: str) -> st.SearchStrategy[Any]:
    real = {
        name: value
        for name, value in seeded.path_values.items()
        if "{" + name + "}" in operation.path
    }
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(generation_mode=mode))
        if real:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=real))
    return st.one_of(strategies).map(_crawl_locally(website))


def _prepare(case: Any, headers: dict[str, str]) -> requests.PreparedRequest:
    """The request exactly as schemathesis' own transport would send it."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    return requests.Request(**kwargs).prepare()


async def _send(client: httpx.AsyncClient, case: Any, headers: dict[str, str]) -> httpx.Response:
    prepared = _prepare(case, headers)
    assert prepared.method is not None and prepared.url is not None
    return await client.request(
        prepared.method, prepared.url, headers=dict(prepared.headers), content=prepared.body
    )


@pytest.mark.parametrize("label", LABELS)
async def test_operation_conforms_to_openapi(
    label: str,
    openapi: dict[str, Any],
    seeded: Seeded,
    website: str,
    app_client: httpx.AsyncClient,
) -> None:
    operation = schemathesis.openapi.from_dict(openapi).find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the running app's OpenAPI document"
    headers = seeded.tenant.headers
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same requests on every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the report names the request
        # Drawing cases for the larger bodies (an AgentConfig) is slow, and that is not a bug.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=_cases(operation, seeded, website))
    def fuzz(case: Any) -> None:
        assume(len(_prepare(case, headers).url or "") <= MAX_URL_LENGTH)
        response = asyncio.run_coroutine_threadsafe(_send(app_client, case, headers), loop)
        case.validate_response(response.result(timeout=60), checks=CHECKS, headers=headers)

    await asyncio.to_thread(fuzz)
    await _settle_workflows(seeded.tenant)


async def _settle_workflows(tenant: Tenant, within: float = 60.0) -> None:
    """Workflows the fuzzer started (crawls, instruction writing) finish while the site they
    crawl is still up, and do not spill into the next test."""
    deadline = time.monotonic() + within
    while True:
        pending = []
        for status in ("queued", "running"):
            page = await tenant.get("/core/workflows", params={"status": status, "limit": 100})
            assert page.status_code == 200, page.text
            pending += page.json()["data"]
        if not pending:
            return
        assert time.monotonic() < deadline, f"workflows still pending: {pending}"
        await asyncio.sleep(0.1)
