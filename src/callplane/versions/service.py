"""Version rules: numbering, drafts, immutability once published, and instruction staleness."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agent_config import AgentConfig, default_config
from callplane.agents.errors import AgentNotFound
from callplane.agents.repository import AgentRepository
from callplane.audit import recorder as audit
from callplane.db.types import utcnow
from callplane.kit.etags import check_if_match
from callplane.kit.filters import TimeFilters
from callplane.models import Agent, AgentVersion
from callplane.versions.errors import (
    InstructionsGenerating,
    InstructionsStale,
    NoBuilderInputs,
    PublishedVersionUndeletable,
    VersionNotFound,
    VersionPublished,
)
from callplane.versions.repository import VersionRepository
from callplane.versions.schemas import GeneratedText, VersionCreate, VersionUpdate

GENERATED = "agent.version.instructions_generated"  # the event of an applied generated text


def dump_config(config: AgentConfig) -> dict[str, Any]:
    return config.model_dump(mode="json")


def check_publishable(version: AgentVersion) -> None:
    """The seed's gate: not while generating, not while instructions are stale."""
    if version.instructions_status == "generating":
        raise InstructionsGenerating()
    if version.instructions_dirty and not version.instructions_manually_edited:
        raise InstructionsStale()


class VersionService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.agents = AgentRepository(session, organization_id)
        self.versions = VersionRepository(session, organization_id)

    async def agent(self, agent_id: uuid.UUID, *, lock: bool = False) -> Agent:
        agent = await self.agents.get(agent_id, for_update=lock)
        if agent is None:
            raise AgentNotFound()
        return agent

    async def get(self, agent_id: uuid.UUID, number: int, *, lock: bool = False) -> AgentVersion:
        version = await self.versions.get_number(agent_id, number, for_update=lock)
        if version is None:
            await self.agent(agent_id)  # an unknown agent says so, not "version not found"
            raise VersionNotFound()
        return version

    async def lock_with_agent(self, agent_id: uuid.UUID, number: int) -> tuple[Agent, AgentVersion]:
        """`agent(lock=True)` then `get(lock=True)` in one statement; the same errors."""
        found = await self.versions.lock_with_agent(agent_id, number)
        if found is None:
            await self.agent(agent_id)  # an unknown agent says so, not "version not found"
            raise VersionNotFound()
        return found

    async def list(
        self,
        agent_id: uuid.UUID,
        *,
        version: int | None,
        published: bool | None,
        times: TimeFilters,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[AgentVersion], str | None]:
        await self.agent(agent_id)
        return await self.versions.list(
            agent_id, version=version, published=published, times=times, limit=limit, cursor=cursor
        )

    async def latest(self, agent_id: uuid.UUID) -> AgentVersion:
        """The newest version if it is a draft, else a new draft copied from it (or defaults).

        The agent's row lock makes concurrent calls queue, so they agree on a single draft.
        """
        await self.agent(agent_id, lock=True)
        newest = await self.versions.newest(agent_id)
        if newest is not None and not newest.published:
            return newest
        if newest is None:
            return await self._insert(agent_id, default_config(), None, dirty=False, manual=False)
        return await self._copy(agent_id, newest)

    async def create(self, agent_id: uuid.UUID, body: VersionCreate) -> AgentVersion:
        await self.agent(agent_id, lock=True)
        inputs = _inputs(body.instruction_builder_inputs)
        if body.base_version is not None:
            base = await self.versions.get_number(agent_id, body.base_version)
            if base is None:
                raise VersionNotFound(f"Base version {body.base_version} not found.")
            version = await self._copy(agent_id, base)
            if "instruction_builder_inputs" in body.model_fields_set:
                _set_inputs(version, inputs)
            return version
        assert body.config is not None
        config = dump_config(body.config)
        # Instructions given directly are hand-written; inputs that were never generated are dirty.
        return await self._insert(
            agent_id,
            config,
            inputs,
            dirty=inputs is not None,
            manual=bool(config.get("instructions")),
        )

    async def update(
        self, agent_id: uuid.UUID, number: int, body: VersionUpdate, if_match: str | None
    ) -> AgentVersion:
        version = await self.get(agent_id, number, lock=True)
        check_if_match(if_match, version.revision)
        if version.published:
            raise VersionPublished()
        changes: dict[str, Any] = {"version": number}
        if "instruction_builder_inputs" in body.model_fields_set:
            changes["instruction_builder_inputs_changed"] = (
                _inputs(body.instruction_builder_inputs) != version.instruction_builder_inputs
            )
            _set_inputs(version, _inputs(body.instruction_builder_inputs))
        if body.config is not None:
            config = dump_config(body.config)
            changes["config_fields_changed"] = sorted(
                key
                for key in config.keys() | version.config.keys()
                if config.get(key) != version.config.get(key)
            )
            if config.get("instructions") != version.config.get("instructions"):
                version.instructions_manually_edited = True
            version.config = config
        version.revision += 1
        await self.session.flush()
        await self._record("agent.version.updated", agent_id, changes)
        return version

    async def start_generation(self, agent_id: uuid.UUID, number: int) -> AgentVersion:
        """Mark a draft `generating` (which blocks publishing) before its workflow starts."""
        version = await self.get(agent_id, number, lock=True)
        if version.published:
            raise VersionPublished()
        if version.instruction_builder_inputs is None:
            raise NoBuilderInputs()
        if version.instructions_status == "generating":
            raise InstructionsGenerating()
        version.instructions_status = "generating"
        version.revision += 1
        await self.session.flush()
        await self._record("agent.version.generation_started", agent_id, {"version": number})
        return version

    async def create_generated(
        self, agent_id: uuid.UUID, config: dict[str, Any], *, version_id: uuid.UUID
    ) -> AgentVersion:
        """A new draft holding generated instructions, under the caller's `version_id`: a
        workflow step run again after a crash finds the draft its first run made."""
        made = await self.versions.get(version_id)
        if made is not None:
            return made
        await self.agent(agent_id, lock=True)
        version = await self._insert(
            agent_id, config, None, dirty=False, manual=False, version_id=version_id
        )
        version.instructions_generated_at = utcnow()
        return version

    async def apply_generated(
        self,
        version_id: uuid.UUID,
        inputs: dict[str, Any],
        generated: GeneratedText,
        instructions_before: str | None,
    ) -> dict[str, Any]:
        """Write generated text into the draft unless, meanwhile, it was published, its inputs
        changed, or someone edited its instructions by hand (`instructions_before` is what they
        were). Returns the outcome (`applied`, and `reason` when not); leaves `generating`."""
        version = await self.versions.get(version_id, for_update=True)
        if version is None:
            return {"applied": False, "reason": "The version was deleted during generation."}
        outcome: dict[str, Any] = {"agent_id": str(version.agent_id), "version": version.version}
        if version.instructions_status == "generating":
            version.instructions_status = "idle"
        if await audit.recorded_by_this_step(self.session, GENERATED, "agent", version.agent_id):
            return {**outcome, "applied": True}  # by this step's first run, before a crash
        if version.published:
            reason = "The version was published during generation; nothing was overwritten."
            return {**outcome, "applied": False, "reason": reason}
        if instructions_before is not None and version.config.get("instructions") != (
            instructions_before
        ):
            reason = (
                "The instructions were edited by hand during generation; they were kept. "
                "Generate again to replace them."
            )
            return {**outcome, "applied": False, "reason": reason}
        if version.instruction_builder_inputs != inputs:
            reason = (
                "The builder inputs changed during generation; nothing was overwritten. "
                "Generate again to use the new inputs."
            )
            return {**outcome, "applied": False, "reason": reason}
        config = dict(version.config)
        config["instructions"] = generated.instructions
        if generated.starting_message:
            config["starting_message"] = generated.starting_message
        version.config = config
        version.instructions_dirty = False
        version.instructions_manually_edited = False
        version.instructions_generated_at = utcnow()
        version.revision += 1
        await self._record(GENERATED, version.agent_id, {"version": version.version})
        return {**outcome, "applied": True}

    async def leave_generating(self, version_id: uuid.UUID, status: str) -> None:
        """Leave `generating` (idle on cancel, failed on failure), never touching other states."""
        version = await self.versions.get(version_id, for_update=True)
        if version is not None and version.instructions_status == "generating":
            version.instructions_status = status
            await self.session.flush()

    async def delete(self, agent_id: uuid.UUID, number: int) -> None:
        version = await self.get(agent_id, number, lock=True)
        if version.published:
            raise PublishedVersionUndeletable()
        await self.versions.delete(version)
        await self._record("agent.version.deleted", agent_id, {"version": number})

    async def discard_draft(self, version_id: uuid.UUID) -> None:
        """Delete a draft made by a workflow that failed (a published one stays), silently: its
        `agent.version.created` was the workflow's, and the failed run is the record."""
        version = await self.versions.get(version_id, for_update=True)
        if version is not None and not version.published:
            await self.versions.delete(version)
            await self.session.flush()

    async def _copy(self, agent_id: uuid.UUID, base: AgentVersion) -> AgentVersion:
        return await self._insert(
            agent_id,
            dict(base.config),
            base.instruction_builder_inputs,
            dirty=base.instructions_dirty,
            manual=base.instructions_manually_edited,
        )

    async def _insert(
        self,
        agent_id: uuid.UUID,
        config: dict[str, Any],
        inputs: dict[str, Any] | None,
        *,
        dirty: bool,
        manual: bool,
        version_id: uuid.UUID | None = None,
    ) -> AgentVersion:
        """A new version numbered after the newest, under `version_id` if given."""
        version = self.versions.add(
            AgentVersion(
                **({"id": version_id} if version_id is not None else {}),
                agent_id=agent_id,
                version=await self.versions.next_number(agent_id),
                config=config,
                instruction_builder_inputs=inputs,
                instructions_dirty=dirty,
                instructions_manually_edited=manual,
                instructions_status="idle",
                published=False,
                revision=1,
            )
        )
        await self.session.flush()
        await self._record("agent.version.created", agent_id, {"version": version.version})
        return version

    async def _record(self, action: str, agent_id: uuid.UUID, changes: dict[str, Any]) -> None:
        """Version events name the agent as their resource, so one filter shows its history."""
        await audit.record(self.session, self.organization_id, action, "agent", agent_id, changes)


def _inputs(model: Any) -> dict[str, Any] | None:
    return None if model is None else dict(model.model_dump(mode="json", exclude_none=True))


def _set_inputs(version: AgentVersion, inputs: dict[str, Any] | None) -> None:
    """New inputs make the instructions dirty (they no longer match); clearing them does not."""
    if inputs != version.instruction_builder_inputs:
        version.instructions_dirty = inputs is not None
    version.instruction_builder_inputs = inputs
