"""Building an agent from a company website, durably (SPEC §8).

Steps: crawl → knowledge → write → create → deploy. Every id this workflow creates is derived
from the workflow id, so a step that is re-run after a crash finds what it made the first time
instead of making it twice. If the workflow fails or is cancelled, what it made is removed.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from dbos import DBOS
from sqlalchemy import delete

from callplane.agent_config import AgentConfig
from callplane.agents.service import AgentService
from callplane.audit import recorder as audit
from callplane.crawler.profile import SitePage, SiteProfile
from callplane.db.types import utcnow
from callplane.knowledge.repository import CollectionRepository
from callplane.models import Agent, AgentVersion, KnowledgeCollection, WorkflowRun
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.publishing.schemas import PublishRequest
from callplane.publishing.service import PublishingService
from callplane.sip.service import SipService
from callplane.versions.repository import VersionRepository
from callplane.widgets.schemas import WidgetCreate
from callplane.widgets.service import WidgetService
from callplane.workflows import steps, tracking
from callplane.workflows.runtime import runtime

FROM_WEBSITE = "create_from_website"
DEMO = "create_demo"


def derived_id(run_id: str, what: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"callplane:{run_id}:{what}")


def _profile_from(data: dict[str, Any]) -> SiteProfile:
    fields = dict(data)
    fields["pages"] = [SitePage(**page) for page in fields.get("pages", [])]
    fields["faqs"] = [tuple(faq) for faq in fields.get("faqs", [])]
    return SiteProfile(**fields)


@DBOS.step(
    retries_allowed=True, max_attempts=3, interval_seconds=1.0, should_retry=tracking.is_transient
)
async def crawl_site(url: str) -> dict[str, Any]:
    from callplane.crawler.site_crawl import CrawlLimits, crawl  # heavy: loaded on first crawl

    settings = runtime().settings
    profile = await crawl(
        url,
        limits=CrawlLimits(),
        allow_private_networks=settings.crawler_allow_private_networks,
    )
    return dataclasses.asdict(profile)


@DBOS.step()
async def store_knowledge(
    run_id: str, organization_id: str, existing: str | None, name: str, profile: dict[str, Any]
) -> str:
    """Put the pages into the given collection, or into one this run creates (once)."""
    org = uuid.UUID(organization_id)
    async with steps.transaction("knowledge") as session:
        repo = CollectionRepository(session, org)
        collection_id = uuid.UUID(existing) if existing else derived_id(run_id, "collection")
        if await repo.get(collection_id) is None:
            repo.add(KnowledgeCollection(id=collection_id, name=name, source_url=profile["url"]))
            await session.flush()
        for page in profile["pages"]:
            await repo.put_document(collection_id, page["url"], page["title"], page["text"])
    return str(collection_id)


@DBOS.step(
    retries_allowed=True, max_attempts=4, interval_seconds=1.0, should_retry=tracking.is_transient
)
async def write_config(
    profile: dict[str, Any],
    company_name: str,
    overview: str | None,
    extra_instructions: str | None,
    demo: bool,
    voice_id: str | None,
    collection_id: str,
) -> dict[str, Any]:
    generated = await runtime().writer.agent_from_site(
        _profile_from(profile),
        company_name=company_name,
        company_overview=overview,
        extra_instructions=extra_instructions,
        demo=demo,
    )
    config: dict[str, Any] = {
        "instructions": generated.instructions,
        "starting_message": generated.starting_message,
        "knowledge_bases": [{"collection_id": collection_id}],
    }
    if voice_id:
        config["voice"] = {"voice_id": voice_id}
    return AgentConfig.model_validate(config).model_dump(mode="json")


@DBOS.step()
async def create_agent(
    run_id: str,
    organization_id: str,
    existing_agent_id: str | None,
    name: str,
    website: str,
    demo: bool,
    config: dict[str, Any],
    demo_type: str | None = None,
) -> dict[str, Any]:
    """A new agent (or a new draft on an existing one) holding the generated config."""
    org = uuid.UUID(organization_id)
    agent_id = uuid.UUID(existing_agent_id) if existing_agent_id else derived_id(run_id, "agent")
    version_id = derived_id(run_id, "version")
    async with steps.transaction("create") as session:
        versions = VersionRepository(session, org)
        made = await versions.get(version_id)
        if made is not None:
            return {"agent_id": str(made.agent_id), "version": made.version}
        agent = await session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            if existing_agent_id:
                raise tracking.StepFailed("agent_not_found", "The existing agent was deleted.")
            agent = Agent(
                id=agent_id,
                organization_id=org,
                name=name,
                description=f"Built from {website}",
                is_demo=demo,
                metadata_={
                    "source": "website",
                    "website": website,
                    "workflow_id": run_id,
                    **({"demo_type": demo_type} if demo_type else {}),
                },
                revision=1,
            )
            session.add(agent)
            await session.flush()
            await audit.record(
                session, org, "agent.created", "agent", agent.id, {"name": name, "is_demo": demo}
            )
        version = versions.add(
            AgentVersion(
                id=version_id,
                agent_id=agent.id,
                version=await versions.next_number(agent.id),
                config=config,
                instructions_status="idle",
                instructions_generated_at=utcnow(),
                published=False,
                revision=1,
            )
        )
        await session.flush()
        await audit.record(
            session, org, "agent.version.created", "agent", agent.id, {"version": version.version}
        )
        return {"agent_id": str(agent.id), "version": version.version}


@DBOS.step()
async def deploy(
    run_id: str,
    organization_id: str,
    created: dict[str, Any],
    domain: str,
    avatar_url: str | None,
    company_name: str,
    want_number: bool,
) -> dict[str, Any]:
    """Publish, expose over SIP, and create a published widget for the site's domain."""
    org = uuid.UUID(organization_id)
    agent_id = uuid.UUID(created["agent_id"])
    warnings: list[str] = []
    async with steps.transaction("deploy") as session:
        version = await VersionRepository(session, org).get_number(agent_id, created["version"])
        assert version is not None
        numbers: list[str] = []
        if want_number:
            free = await PhoneNumberRepository(session, org).first_free(or_held_by=version.id)
            if free is None:
                warnings.append(
                    "No free phone number in the organization; register one and publish to it."
                )
            else:
                numbers.append(free.phone_number)
        await PublishingService(session, org).publish(
            agent_id, created["version"], PublishRequest(phone_numbers=numbers)
        )
        await SipService(session, org).deploy(agent_id)
        widget_id = derived_id(run_id, "widget")
        widgets = WidgetService(session, org)
        if await widgets.widgets.get(widget_id) is None:
            config: dict[str, Any] = {"title": company_name}
            if avatar_url:
                config["avatar_url"] = avatar_url
            await widgets.create(
                WidgetCreate(
                    agent_id=agent_id,
                    agent_version_id=version.id,
                    domains=[domain],
                    published=True,
                    config=config,
                ),
                widget_id=widget_id,
            )
        sip_uri = f"sip:{agent_id}@{runtime().settings.sip_domain}"
    result: dict[str, Any] = {"sip_uri": sip_uri, "widget_id": str(widget_id)}
    if numbers:
        result["phone_number"] = numbers[0]
    result["warnings"] = warnings
    return result


async def remove_what_the_run_made(run: WorkflowRun) -> None:
    """Nothing half-made is left behind: the agent and collection this run created go."""
    org = run.organization_id
    async with runtime().database.session(write=True) as session, session.begin():
        audit.act_as(session, audit.Actor("workflow", run.id))
        if not run.input.get("existing_agent_id"):
            agents = AgentService(session, org)
            if await agents.agents.get(derived_id(run.id, "agent")) is not None:
                await agents.delete(derived_id(run.id, "agent"))
        else:
            await session.execute(
                delete(AgentVersion).where(
                    AgentVersion.id == derived_id(run.id, "version"),
                    AgentVersion.organization_id == org,
                    AgentVersion.published.is_(False),
                )
            )
        if not run.input.get("existing_collection_id"):
            await session.execute(
                delete(KnowledgeCollection).where(
                    KnowledgeCollection.id == derived_id(run.id, "collection"),
                    KnowledgeCollection.organization_id == org,
                )
            )


async def _build(run: WorkflowRun) -> dict[str, Any]:
    """The shared body of both workflow types; `run.input` is the normalized request."""
    spec = run.input
    org = str(run.organization_id)
    deploying = not spec.get("skip_deployment", False)
    total = 5 if deploying else 4

    await tracking.progress(run.id, "crawl", f"Crawling {spec['website']}", 0, total)
    profile = await crawl_site(spec["website"])
    company_name = spec.get("company_name") or profile.get("name") or profile["domain"]

    await tracking.progress(run.id, "knowledge", "Storing the pages", 1, total)
    collection_id = await store_knowledge(
        run.id, org, spec.get("existing_collection_id"), f"{company_name} website", profile
    )

    await tracking.progress(run.id, "write", "Writing the agent's instructions", 2, total)
    config = await write_config(
        profile,
        company_name,
        spec.get("company_overview"),
        spec.get("instructions"),
        bool(spec.get("is_demo")),
        spec.get("voice_id"),
        collection_id,
    )

    await tracking.progress(run.id, "create", "Creating the agent", 3, total)
    created = await create_agent(
        run.id,
        org,
        spec.get("existing_agent_id"),
        company_name,
        profile["url"],
        bool(spec.get("is_demo")),
        config,
        spec.get("demo_type"),
    )
    result: dict[str, Any] = {**created, "collection_id": collection_id, "warnings": []}
    if deploying:
        await tracking.progress(run.id, "deploy", "Publishing and deploying", 4, total)
        deployed = await deploy(
            run.id,
            org,
            created,
            profile["domain"],
            spec.get("avatar_url"),
            company_name,
            bool(spec.get("include_phone_number")),
        )
        result.update(deployed)
    result["warnings"] = [*profile.get("warnings", [])[:20], *result.get("warnings", [])]
    await tracking.progress(run.id, "done", "Done", total, total)
    return result


@DBOS.workflow()
async def create_from_website(run_id: str) -> None:
    await tracking.execute(run_id, _build, remove_what_the_run_made)


@DBOS.workflow()
async def create_demo(run_id: str) -> None:
    await tracking.execute(run_id, _build, remove_what_the_run_made)
