"""The config contract over HTTP: the published JSON Schema and stateless validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from callplane.agent_config import default_config
from tests.factories import Tenant, TenantFactory

SCHEMA = "/core/agent-config-schema"
VALIDATE = "/core/agent-config/validate"


async def _nothing_stored(tenant: Tenant) -> None:
    response = await tenant.get("/core/agents")
    assert response.status_code == 200
    assert response.json()["data"] == []


async def test_schema_is_2020_12_and_agrees_with_the_model(tenant: Tenant) -> None:
    response = await tenant.get(SCHEMA)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)

    config = default_config()
    assert list(validator.iter_errors(config)) == []
    assert list(validator.iter_errors({"instructions": "Help callers."})) == []
    assert list(validator.iter_errors({})) == []

    unknown = {**config, "instructionz": "typo"}
    assert not validator.is_valid(unknown)
    assert not validator.is_valid({"llm": {**config["llm"], "temprature": 0.5}})
    assert not validator.is_valid([])
    await _nothing_stored(tenant)


async def test_schema_answers_match_the_validate_endpoint(tenant: Tenant) -> None:
    """What the published schema says and what the server enforces must not drift."""
    validator = Draft202012Validator((await tenant.get(SCHEMA)).json())
    good = default_config()
    bad = copy.deepcopy(good)
    bad["llm"]["temperature"] = "hot"
    for config, valid in ((good, True), (bad, False), ({"unknown": 1}, False)):
        assert validator.is_valid(config) is valid
        response = await tenant.post(VALIDATE, json=config)
        assert response.status_code == 200
        assert response.json()["valid"] is valid


async def test_validate_accepts_good_configs(tenant: Tenant) -> None:
    for config in (default_config(), {"instructions": "Help callers."}, {}):
        response = await tenant.post(VALIDATE, json=config)
        assert response.status_code == 200, response.text
        assert response.json() == {"valid": True, "errors": []}
    await _nothing_stored(tenant)


async def test_validate_reports_errors_as_data(tenant: Tenant) -> None:
    response = await tenant.post(
        VALIDATE, json={"instructions": "ok", "unknown_key": 1, "llm": {"temperature": "hot"}}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is False
    assert len(body["errors"]) >= 2
    for error in body["errors"]:
        assert set(error) == {"loc", "msg", "type"}
        assert isinstance(error["loc"], list)
        assert isinstance(error["msg"], str) and error["msg"]
        assert isinstance(error["type"], str) and error["type"]
    by_loc = {tuple(error["loc"]): error for error in body["errors"]}
    assert by_loc[("unknown_key",)]["type"] == "extra_forbidden"
    assert ("llm", "temperature") in by_loc
    await _nothing_stored(tenant)


@pytest.mark.parametrize("body", [[], [{"instructions": "x"}], "config", 42, True])
async def test_validate_non_object_body_is_invalid_not_an_error(tenant: Tenant, body: Any) -> None:
    response = await tenant.post(VALIDATE, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "valid": False,
        "errors": [{"loc": [], "msg": "Input should be a JSON object", "type": "model_type"}],
    }


async def test_validate_does_not_touch_existing_agents(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    before = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    response = await tenant.post(VALIDATE, json={"instructions": "Something else entirely."})
    assert response.json()["valid"] is True
    assert (await tenant.get(SCHEMA)).status_code == 200
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json() == before
    stored = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()
    assert stored["config"] == version["config"]


@pytest.mark.parametrize("scope", ["agents:read", "agents:manage"])
async def test_either_agents_scope_is_enough(tenant: Tenant, scope: str) -> None:
    headers = await tenant.key_with(scope)
    assert (await tenant.get(SCHEMA, headers=headers)).status_code == 200
    response = await tenant.post(VALIDATE, json={}, headers=headers)
    assert response.status_code == 200 and response.json()["valid"] is True


async def test_other_scopes_are_forbidden(tenant: Tenant) -> None:
    headers = await tenant.key_with("phone_numbers:read")
    for response in (
        await tenant.get(SCHEMA, headers=headers),
        await tenant.post(VALIDATE, json={}, headers=headers),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        assert "agents:read" in response.json()["detail"]
    assert (await tenant.client.get(SCHEMA)).status_code == 401
    assert (await tenant.client.post(VALIDATE, json={})).status_code == 401


async def test_viewer_token_can_use_both(tenants: TenantFactory) -> None:
    viewer = await tenants.create(role="viewer")
    assert (await viewer.get(SCHEMA, headers=viewer.token_headers)).status_code == 200
    response = await viewer.post(VALIDATE, json={"instructions": "x"}, headers=viewer.token_headers)
    assert response.status_code == 200 and response.json()["valid"] is True


async def test_validate_null_body_is_invalid_but_a_missing_body_is_a_bad_request(
    tenant: Tenant,
) -> None:
    json_headers = {"content-type": "application/json"}
    response = await tenant.post(VALIDATE, content=b"null", headers=json_headers)
    assert response.status_code == 200
    assert response.json()["valid"] is False
    for content in (b"", b"{not json"):
        response = await tenant.post(VALIDATE, content=content, headers=json_headers)
        assert response.status_code == 422, content
        assert isinstance(response.json()["detail"], list)
