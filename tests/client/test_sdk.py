"""The SDK against a real server process: typed round trips, paging, errors, streaming, workflows,
and a retried write the server had already executed being replayed, not run twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from callplane.agents.schemas import AgentDetail, AgentRead, SipEndpoint
from callplane.client import (
    AsyncClient,
    BadRequest,
    Client,
    Conflict,
    ConnectionFailed,
    NotFound,
    PreconditionFailed,
    StaleInstructions,
    Unauthorized,
    ValidationFailed,
)
from callplane.phone_numbers.schemas import PhoneNumberRead
from callplane.versions.schemas import VersionRead
from callplane.widgets.schemas import WidgetRead
from callplane.workflows.schemas import WorkflowRead
from tests.factories import Tenant, unique_phone_number
from tests.support.processes import closed_port

INPUTS = {"company_name": "Acme Dental", "purpose": "book appointments"}


@pytest.fixture
def sdk(server_url: str, tenant: Tenant) -> Iterator[Client]:
    with Client(server_url, tenant.api_key, backoff=0.01) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_agent_round_trip_is_typed_as_the_server_models(sdk: Client) -> None:
    name = unique("Front desk")
    created = sdk.agents.create(name=name, description="Main line", metadata={"team": "support"})
    assert isinstance(created, AgentRead)
    assert (created.name, created.description, created.active) == (name, "Main line", True)
    assert created.metadata == {"team": "support"} and created.live_version is None

    detail = sdk.agents.get(created.id)
    assert isinstance(detail, AgentDetail)
    assert detail.id == created.id and detail.versions == [] and detail.phone_numbers == []
    assert detail.sip_endpoint.enabled is False

    updated = sdk.agents.update(str(created.id), if_match=created.etag, active=False)
    assert updated.active is False and updated.name == name and updated.etag != created.etag
    assert [a.id for a in sdk.agents.list(name=name, active=False)] == [created.id]
    assert list(sdk.agents.list(name=name, active=True)) == []
    listed = list(sdk.agents.list(name=name, metadata={"team": "support"}))
    assert [a.id for a in listed] == [created.id]

    sdk.agents.delete(created.id)
    with pytest.raises(NotFound) as missing:
        sdk.agents.get(created.id)
    assert missing.value.status == 404 and missing.value.code == "agent_not_found"
    assert isinstance(missing.value.detail, str) and missing.value.request_id


async def test_list_follows_cursors_across_pages(server_url: str, tenant: Tenant) -> None:
    requests: list[httpx.Request] = []
    transport = httpx.HTTPTransport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return transport.handle_request(request)

    prefix = unique("paged")
    with Client(server_url, tenant.api_key, transport=Recording()) as sdk:
        made = [sdk.agents.create(name=f"{prefix} {i}").id for i in range(5)]
        requests.clear()
        seen = [agent.id for agent in sdk.agents.list(name=prefix, limit=2)]
    assert seen == made[::-1]  # every agent once, newest first
    pages = [r for r in requests if r.method == "GET"]
    assert len(pages) == 3
    assert [r.url.params.get("limit") for r in pages] == ["2", "2", "2"]
    assert "cursor" not in pages[0].url.params
    assert pages[1].url.params["cursor"] and pages[2].url.params["cursor"]


async def test_versions_publish_numbers_diff_and_compare(sdk: Client) -> None:
    agent = sdk.agents.create(name=unique("Versions"))
    v1 = sdk.agents.versions.create(
        agent.id, config={"instructions": "Greet callers.", "voice": {"voice_id": "alloy"}}
    )
    assert isinstance(v1, VersionRead) and v1.version == 1 and v1.published is False
    v2 = sdk.agents.versions.create(agent.id, base_version=1)
    v2 = sdk.agents.versions.update(
        agent.id,
        v2.version,
        config={
            "instructions": "Greet callers. Never quote prices.",
            "voice": {"voice_id": "verse"},
        },
        if_match=v2.etag,
    )
    assert v2.config["instructions"].endswith("Never quote prices.")
    assert sdk.agents.versions.get(agent.id, "latest").id == v2.id

    number = sdk.phone_numbers.register(unique_phone_number(), label="Main")
    assert isinstance(number, PhoneNumberRead) and number.inbound_agent_id is None
    touched = sdk.agents.versions.publish(agent.id, 2, phone_numbers=[number.phone_number])
    assert [n.phone_number for n in touched] == [number.phone_number]
    assert isinstance(touched[0], PhoneNumberRead)
    assert (touched[0].inbound_agent_id, touched[0].inbound_version) == (agent.id, 2)
    assert sdk.agents.get(agent.id).live_version == 2
    published = list(sdk.agents.versions.list(agent.id, published=True))
    assert [v.version for v in published] == [2]
    assert [v.version for v in sdk.agents.versions.list(agent.id, limit=1)] == [2, 1]

    diff = sdk.agents.versions.diff(agent.id, 1, 2)
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    by_path = {change["path"]: change for change in diff["changes"]}
    assert by_path["voice.voice_id"] == {
        "path": "voice.voice_id",
        "op": "changed",
        "before": "alloy",
        "after": "verse",
    }
    chunks = list(sdk.agents.versions.compare(agent.id, 1, "latest"))
    assert len(chunks) >= 1 and all(isinstance(c, str) for c in chunks)
    text = "".join(chunks)
    assert "Never quote prices" in text and "verse" in text

    sip = sdk.agents.deploy_sip(agent.id)
    assert isinstance(sip, SipEndpoint) and sip.enabled and str(agent.id) in (sip.sip_uri or "")
    sdk.agents.remove_sip(agent.id)
    assert sdk.agents.get(agent.id).sip_endpoint.enabled is False


async def test_typed_errors_and_nothing_changed(sdk: Client) -> None:
    agent = sdk.agents.create(name=unique("Errors"))
    draft = sdk.agents.versions.create(agent.id, config={}, instruction_builder_inputs=INPUTS)
    with pytest.raises(StaleInstructions) as stale:
        sdk.agents.versions.publish(agent.id, draft.version)
    assert isinstance(stale.value, Conflict)
    assert (stale.value.status, stale.value.code) == (409, "instructions_stale")
    assert stale.value.request_id
    assert sdk.agents.versions.get(agent.id, draft.version).published is False

    renamed = sdk.agents.update(agent.id, name="Renamed")
    with pytest.raises(PreconditionFailed) as precondition:
        sdk.agents.update(agent.id, if_match=agent.etag, name="Lost update")
    assert (precondition.value.status, precondition.value.code) == (412, "precondition_failed")
    assert sdk.agents.get(agent.id).name == "Renamed" and renamed.name == "Renamed"

    with pytest.raises(ValidationFailed) as invalid:
        sdk.agents.update(agent.id, colour="blue")
    assert invalid.value.status == 422 and invalid.value.code == "validation_error"
    assert isinstance(invalid.value.detail, list)
    assert invalid.value.detail[0]["loc"] == ["body", "colour"]
    assert sdk.agents.get(agent.id).etag == renamed.etag  # nothing written

    with pytest.raises(NotFound) as no_version:
        sdk.agents.versions.update(agent.id, 99, config={})
    assert no_version.value.code == "version_not_found"

    live = sdk.agents.versions.create(agent.id, config={"instructions": "Hi"})
    sdk.agents.versions.publish(agent.id, live.version)
    with pytest.raises(BadRequest) as frozen:
        sdk.agents.versions.update(agent.id, live.version, config={"instructions": "Changed"})
    assert (frozen.value.status, frozen.value.code) == (400, "version_published")
    assert sdk.agents.versions.get(agent.id, live.version).config["instructions"] == "Hi"


async def test_wrong_credentials_and_unreachable_server(server_url: str) -> None:
    with Client(server_url, "ak_not_a_real_key") as sdk, pytest.raises(Unauthorized) as denied:
        sdk.my_scopes()
    assert denied.value.status == 401 and denied.value.request_id

    with (
        closed_port() as port,
        Client(f"http://127.0.0.1:{port}", "ak_x", max_retries=2, backoff=0.001) as sdk,
        pytest.raises(ConnectionFailed) as unreachable,
    ):
        sdk.agents.get(uuid.uuid4())
    assert unreachable.value.status is None and unreachable.value.code == "connection_failed"


async def test_phone_numbers_round_trip(sdk: Client) -> None:
    number = unique_phone_number()
    registered = sdk.phone_numbers.register(number, label="Main", outbound_shareable=True)
    assert (registered.phone_number, registered.label) == (number, "Main")
    assert registered.outbound_shareable is True
    assert sdk.phone_numbers.get(number) == registered
    updated = sdk.phone_numbers.update(number, label="Support line")
    assert updated.label == "Support line"
    assert [n.phone_number for n in sdk.phone_numbers.list(phone_number=number)] == [number]
    with pytest.raises(ValidationFailed):
        sdk.phone_numbers.register("not a number")
    sdk.phone_numbers.delete(number)
    with pytest.raises(NotFound):
        sdk.phone_numbers.get(number)


async def test_generate_instructions_and_wait(sdk: Client) -> None:
    agent = sdk.agents.create(name=unique("Generated"))
    draft = sdk.agents.versions.create(agent.id, config={}, instruction_builder_inputs=INPUTS)
    workflow_id = sdk.agents.versions.generate_instructions(agent.id, draft.version)
    run = sdk.workflows.wait(workflow_id, timeout=30, poll_interval=0.05)
    assert isinstance(run, WorkflowRead)
    assert (run.workflow_id, run.type, run.status) == (
        workflow_id,
        "generate_instructions",
        "succeeded",
    )
    assert run.result == {"agent_id": str(agent.id), "version": draft.version, "applied": True}
    assert sdk.workflows.get(workflow_id) == run
    listed = [r.workflow_id for r in sdk.workflows.list(type="generate_instructions")]
    assert listed == [workflow_id]  # this organization's runs only
    assert "Acme Dental" in sdk.agents.versions.get(agent.id, draft.version).config["instructions"]
    published = sdk.agents.versions.publish(agent.id, draft.version)  # no longer stale
    assert published == []
    with pytest.raises(Conflict) as finished:
        sdk.workflows.cancel(workflow_id)
    assert finished.value.status == 409


async def test_config_contract_scopes_and_widgets(sdk: Client) -> None:
    schema = sdk.config_schema()
    assert "instructions" in schema["properties"]
    assert sdk.validate_config({"instructions": "Hi"}) == {"valid": True, "errors": []}
    invalid = sdk.validate_config({"max_tool_steps": 500})
    assert invalid["valid"] is False and invalid["errors"][0]["loc"] == ["max_tool_steps"]
    assert "agents:manage" in sdk.my_scopes()

    agent = sdk.agents.create(name=unique("Widget"))
    version = sdk.agents.versions.create(agent.id, config={"instructions": "Hi"})
    sdk.agents.versions.publish(agent.id, version.version)
    widget = sdk.widgets.create(
        agent_id=agent.id, agent_version_id=version.id, domains=["acme.test"]
    )
    assert isinstance(widget, WidgetRead) and widget.published is False
    assert sdk.widgets.update(widget.id, published=True).published is True
    assert [w.id for w in sdk.widgets.list(agent_id=str(agent.id))] == [widget.id]
    sdk.widgets.delete(widget.id)
    with pytest.raises(NotFound):
        sdk.widgets.get(widget.id)
    assert list(sdk.conversations.list(agent_id=str(agent.id))) == []


async def test_async_client_round_trip(server_url: str, tenant: Tenant) -> None:
    async with AsyncClient(server_url, tenant.api_key) as sdk:
        name = unique("Async")
        agent = await sdk.agents.create(name=name)
        assert isinstance(agent, AgentRead)
        assert [a.id async for a in sdk.agents.list(name=name, limit=1)] == [agent.id]
        await sdk.agents.versions.create(agent.id, config={"instructions": "One."})
        await sdk.agents.versions.create(agent.id, config={"instructions": "Two."})
        chunks = [c async for c in sdk.agents.versions.compare(agent.id, 1, 2)]
        assert "Two." in "".join(chunks)
        draft = await sdk.agents.versions.create(
            agent.id, config={}, instruction_builder_inputs=INPUTS
        )
        workflow_id = await sdk.agents.versions.generate_instructions(agent.id, draft.version)
        run = await sdk.workflows.wait(workflow_id, timeout=30, poll_interval=0.05)
        assert run.status == "succeeded"
        await sdk.agents.delete(agent.id)
        with pytest.raises(NotFound):
            await sdk.agents.get(agent.id)


class DropFirstResponse(httpx.BaseTransport):
    """Forwards to the real server, but loses the first response after the server handled it,
    as a network failure between server and client would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = self.inner.handle_request(request)
        if len(self.sent) == 1:
            response.read()
            raise httpx.ReadError("connection lost", request=request)
        self.responses.append(response)
        return response


async def test_a_retried_write_the_server_ran_is_replayed(server_url: str, tenant: Tenant) -> None:
    transport = DropFirstResponse()
    name = unique("Once")
    with Client(server_url, tenant.api_key, transport=transport, backoff=0.01) as sdk:
        created = sdk.agents.create(name=name)
    assert len(transport.sent) == 2
    keys = [r.headers["Idempotency-Key"] for r in transport.sent]
    assert keys[0] == keys[1] and uuid.UUID(keys[0]).version == 4
    assert transport.responses[0].headers["Idempotent-Replayed"] == "true"
    with Client(server_url, tenant.api_key) as sdk:
        assert [a.id for a in sdk.agents.list(name=name)] == [created.id]  # exactly one
