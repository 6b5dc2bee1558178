"""Instruction staleness (SPEC §4): which edits make instructions dirty or hand-written, and the
publish gate that follows from those two flags and `instructions_status`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from callplane.agent_config import AgentConfig
from callplane.db.engine import Database
from callplane.models import AgentVersion
from tests.factories import Tenant, unique_phone_number

INPUTS = {"company_name": "Acme", "purpose": "Book appointments"}


def full_config(**changes: Any) -> dict[str, Any]:
    return AgentConfig.model_validate(changes).model_dump(mode="json")


async def flags(tenant: Tenant, agent_id: str, number: int = 1) -> tuple[bool, bool]:
    response = await tenant.get(f"/core/agents/{agent_id}/versions/{number}")
    assert response.status_code == 200
    body = response.json()
    return body["instructions_dirty"], body["instructions_manually_edited"]


async def put(tenant: Tenant, agent_id: str, body: dict[str, Any], number: int = 1) -> None:
    response = await tenant.put(f"/core/agents/{agent_id}/versions/{number}", json=body)
    assert response.status_code == 200, response.text


async def stale_draft(tenant: Tenant) -> dict[str, Any]:
    """An agent whose version 1 has builder inputs, no hand-written instructions: stale."""
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config={}, instruction_builder_inputs=INPUTS)
    assert await flags(tenant, agent["id"]) == (True, False)
    return agent


async def set_status(database: Database, version_id: str, status: str) -> None:
    """Generation is not built yet; put the version in that state directly."""
    async with database.session(write=True) as session, session.begin():
        version = await session.get(AgentVersion, uuid.UUID(version_id))
        assert version is not None
        version.instructions_status = status


# --- flags on create ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"config": {}}, (False, False)),
        ({"config": {"instructions": "Hi."}}, (False, True)),
        ({"config": {}, "instruction_builder_inputs": INPUTS}, (True, False)),
        ({"config": {"instructions": "Hi."}, "instruction_builder_inputs": INPUTS}, (True, True)),
        ({"config": {}, "instruction_builder_inputs": None}, (False, False)),
    ],
)
async def test_flags_on_create(
    tenant: Tenant, body: dict[str, Any], expected: tuple[bool, bool]
) -> None:
    agent = await tenant.create_agent()
    created = await tenant.create_version(agent["id"], **body)
    assert (created["instructions_dirty"], created["instructions_manually_edited"]) == expected
    assert created["instructions_status"] == "idle"


async def test_base_version_with_new_inputs_becomes_dirty(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config={})
    copy = await tenant.create_version(
        agent["id"], base_version=1, instruction_builder_inputs=INPUTS
    )
    assert copy["instruction_builder_inputs"] == INPUTS
    assert (copy["instructions_dirty"], copy["instructions_manually_edited"]) == (True, False)
    assert await flags(tenant, agent["id"], 1) == (False, False)


# --- flags on update ----------------------------------------------------------------------------


async def test_setting_inputs_makes_instructions_dirty(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config={})
    await put(tenant, agent["id"], {"instruction_builder_inputs": INPUTS})
    assert await flags(tenant, agent["id"]) == (True, False)
    stored = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()
    assert stored["instruction_builder_inputs"] == INPUTS


async def test_clearing_inputs_clears_dirty(tenant: Tenant) -> None:
    agent = await stale_draft(tenant)
    await put(tenant, agent["id"], {"instruction_builder_inputs": None})
    assert await flags(tenant, agent["id"]) == (False, False)
    stored = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()
    assert stored["instruction_builder_inputs"] is None
    # Setting them again makes the instructions stale again.
    await put(tenant, agent["id"], {"instruction_builder_inputs": INPUTS})
    assert await flags(tenant, agent["id"]) == (True, False)


async def test_omitting_inputs_leaves_them_and_the_flags(tenant: Tenant) -> None:
    agent = await stale_draft(tenant)
    await put(tenant, agent["id"], {"config": full_config(max_tool_steps=4)})
    stored = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()
    assert stored["instruction_builder_inputs"] == INPUTS
    assert (stored["instructions_dirty"], stored["instructions_manually_edited"]) == (True, False)


async def test_editing_instructions_marks_manually_edited(tenant: Tenant) -> None:
    agent = await stale_draft(tenant)
    await put(tenant, agent["id"], {"config": full_config(instructions="My own words.")})
    assert await flags(tenant, agent["id"]) == (True, True)


async def test_editing_other_config_fields_is_not_a_manual_edit(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config={}, instruction_builder_inputs=INPUTS)
    await put(
        tenant,
        agent["id"],
        {"config": full_config(starting_message="Hello!", max_tool_steps=3, llm={"model": "m"})},
    )
    assert await flags(tenant, agent["id"]) == (True, False)


async def test_new_inputs_after_manual_edit_stay_publishable(tenant: Tenant) -> None:
    """Hand-written instructions win: later input changes are dirty but do not block."""
    agent = await stale_draft(tenant)
    await put(tenant, agent["id"], {"config": full_config(instructions="Mine.")})
    await put(tenant, agent["id"], {"instruction_builder_inputs": {"company_name": "Other"}})
    assert await flags(tenant, agent["id"]) == (True, True)
    assert (await tenant.publish(agent["id"], 1)).status_code == 200


# --- the publish gate ---------------------------------------------------------------------------


async def test_publish_blocked_while_stale_and_nothing_changes(tenant: Tenant) -> None:
    agent = await stale_draft(tenant)
    number = await tenant.register_number()
    before = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()

    response = await tenant.publish(agent["id"], 1, phone_numbers=[number])
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "instructions_stale"
    assert "generate-instructions" in body["detail"]
    assert "config.instructions" in body["detail"]

    assert (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json() == before
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"] is None
    record = (await tenant.get(f"/core/phone-numbers/{number}")).json()
    assert record["inbound_agent_version_id"] is None


async def test_publish_allowed_once_manually_edited(tenant: Tenant) -> None:
    agent = await stale_draft(tenant)
    await put(tenant, agent["id"], {"config": full_config(instructions="Edited by hand.")})
    response = await tenant.publish(agent["id"], 1)
    assert response.status_code == 200, response.text
    version = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()
    assert version["published"] is True


async def test_publish_allowed_once_inputs_cleared(tenant: Tenant) -> None:
    agent = await stale_draft(tenant)
    await put(tenant, agent["id"], {"instruction_builder_inputs": None})
    assert (await tenant.publish(agent["id"], 1)).status_code == 200


async def test_copy_of_stale_version_is_stale(tenant: Tenant) -> None:
    agent = await stale_draft(tenant)
    await tenant.create_version(agent["id"], base_version=1)
    response = await tenant.publish(agent["id"], 2)
    assert response.status_code == 409
    assert response.json()["code"] == "instructions_stale"


@pytest.mark.parametrize("manually_edited", [False, True])
async def test_publish_blocked_while_generating(
    tenant: Tenant, database: Database, manually_edited: bool
) -> None:
    agent = await tenant.create_agent()
    config = {"instructions": "Hi."} if manually_edited else {}
    version = await tenant.create_version(agent["id"], config=config)
    await set_status(database, version["id"], "generating")
    number = await tenant.register_number(unique_phone_number())

    response = await tenant.publish(agent["id"], 1, phone_numbers=[number])
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "instructions_generating"
    assert "wait for the generation to finish" in body["detail"]

    stored = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()
    assert stored["published"] is False and stored["instructions_status"] == "generating"
    assert (await tenant.get(f"/core/agents/{agent['id']}")).json()["live_version"] is None
    record = (await tenant.get(f"/core/phone-numbers/{number}")).json()
    assert record["inbound_agent_version_id"] is None

    await set_status(database, version["id"], "idle")
    assert (await tenant.publish(agent["id"], 1)).status_code == 200


async def test_failed_generation_does_not_block_clean_version(
    tenant: Tenant, database: Database
) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"], config={"instructions": "Hi."})
    await set_status(database, version["id"], "failed")
    assert (await tenant.publish(agent["id"], 1)).status_code == 200
