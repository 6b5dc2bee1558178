"""Building an agent from a company website, durably (SPEC §8).

One workflow under two names (`create_from_website`, `create_demo`: the run's `type`), whose
input is the request as it was sent (`CreateFromWebsite` or `CreateDemo`). Steps: crawl →
knowledge → write → create → deploy, each through the domains' services. Every id this workflow
creates is derived from the workflow id, so a step that is re-run after a crash finds what it
made the first time instead of making it twice. If the workflow fails or is cancelled, what it
made is removed.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from callplane.agent_config import AgentConfig
from callplane.agents.errors import AgentNotFound
from callplane.agents.schemas import AgentCreate
from callplane.agents.service import AgentService
from callplane.audit import recorder as audit
from callplane.crawler.profile import SitePage, SiteProfile
from callplane.knowledge import embedding as knowledge_embedding
from callplane.knowledge.repository import CollectionRepository
from callplane.models import KnowledgeCollection, WorkflowRun
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.publishing.schemas import PublishRequest
from callplane.publishing.service import PublishingService
from callplane.scaffolding.schemas import (
    Build,
    BuildRequest,
    ConfigStep,
    Created,
    CreateDemo,
    CreateFromWebsite,
    CreateStep,
    DeployStep,
    KnowledgeStep,
)
from callplane.sip.service import SipService
from callplane.versions.service import VersionService
from callplane.widgets.schemas import WidgetCreate
from callplane.widgets.service import WidgetService
from callplane.workflows import engine, steps, tracking
from callplane.workflows.runtime import runtime

FROM_WEBSITE = "create_from_website"  # the workflow's durable names, and the runs' `type`
DEMO = "create_demo"


def derived_id(run_id: str, what: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"callplane:{run_id}:{what}")


def request_of(run: WorkflowRun) -> BuildRequest:
    """The run's input, typed. Runs accepted before the input was the request itself stored a
    spec with `website` (and `is_demo` on demos): read as the request they came from."""
    data = dict(run.input)
    if "website" in data:
        data["company_website"] = data.pop("website")
        if run.type == DEMO:
            data.pop("is_demo", None)  # implied by the type (CreateDemo has no such field)
    model = CreateDemo if run.type == DEMO else CreateFromWebsite
    return model.model_validate(data)


def _profile_from(data: dict[str, Any]) -> SiteProfile:
    fields = dict(data)
    fields["pages"] = [SitePage(**page) for page in fields.get("pages", [])]
    fields["faqs"] = [tuple(faq) for faq in fields.get("faqs", [])]
    return SiteProfile(**fields)


async def crawl_site(url: str) -> dict[str, Any]:
    from callplane.crawler.site_crawl import CrawlLimits, crawl  # heavy: loaded on first crawl

    settings = runtime().settings
    profile = await crawl(
        url,
        limits=CrawlLimits(),
        allow_private_networks=settings.crawler_allow_private_networks,
    )
    return dataclasses.asdict(profile)


async def store_knowledge(step: KnowledgeStep) -> str:
    """Put the pages into the given collection, or into one this run creates (once)."""
    build = step.build
    async with steps.transaction("knowledge") as session:
        repo = CollectionRepository(session, build.organization_id)
        collection_id = build.existing_collection_id or derived_id(build.run_id, "collection")
        if await repo.get(collection_id) is None:
            repo.add(
                KnowledgeCollection(
                    id=collection_id, name=step.name, source_url=step.profile["url"]
                )
            )
            await session.flush()
        for page in step.profile["pages"]:
            await repo.put_document(collection_id, page["url"], page["title"], page["text"])
    return str(collection_id)


async def write_config(step: ConfigStep) -> dict[str, Any]:
    build = step.build
    generated = await runtime().writer.agent_from_site(
        _profile_from(step.profile),
        company_name=step.company_name,
        company_overview=build.company_overview,
        extra_instructions=build.instructions,
        demo=build.is_demo,
    )
    config: dict[str, Any] = {
        "instructions": generated.instructions,
        "starting_message": generated.starting_message,
        "knowledge_bases": [{"collection_id": step.collection_id}],
    }
    if build.voice_id:
        config["voice"] = {"voice_id": build.voice_id}
    return AgentConfig.model_validate(config).model_dump(mode="json")


async def create_agent(step: CreateStep) -> dict[str, Any]:
    """A new agent (or a new draft on an existing one) holding the generated config."""
    build = step.build
    async with steps.transaction("create") as session:
        agents = AgentService(session, build.organization_id)
        agent_id = build.existing_agent_id or derived_id(build.run_id, "agent")
        if build.existing_agent_id is None and await agents.agents.get(agent_id) is None:
            metadata: dict[str, Any] = {
                "source": "website",
                "website": step.website,
                "workflow_id": build.run_id,
            }
            if build.demo_type:
                metadata["demo_type"] = build.demo_type
            body = AgentCreate(
                name=step.company_name,
                description=f"Built from {step.website}",
                is_demo=build.is_demo,
                metadata=metadata,
            )
            await agents.create(body, agent_id=agent_id)
        try:
            version = await VersionService(session, build.organization_id).create_generated(
                agent_id, step.config, version_id=derived_id(build.run_id, "version")
            )
        except AgentNotFound:
            raise tracking.StepFailed(
                "agent_not_found", "The existing agent was deleted."
            ) from None
        return {"agent_id": str(version.agent_id), "version": version.version}


async def deploy(step: DeployStep) -> dict[str, Any]:
    """Publish, expose over SIP, and create a published widget for the site's domain."""
    build, created = step.build, step.created
    org, agent_id = build.organization_id, created.agent_id
    warnings: list[str] = []
    async with steps.transaction("deploy") as session:
        version = await VersionService(session, org).get(agent_id, created.version)
        numbers: list[str] = []
        if build.include_phone_number:
            free = await PhoneNumberRepository(session, org).first_free(or_held_by=version.id)
            if free is None:
                warnings.append(
                    "No free phone number in the organization; register one and publish to it."
                )
            else:
                numbers.append(free.phone_number)
        await PublishingService(session, org).publish(
            agent_id, created.version, PublishRequest(phone_numbers=numbers)
        )
        await SipService(session, org).deploy(agent_id)
        widget_id = derived_id(build.run_id, "widget")
        widgets = WidgetService(session, org)
        if await widgets.widgets.get(widget_id) is None:
            config: dict[str, Any] = {"title": step.company_name}
            if build.avatar_url:
                config["avatar_url"] = build.avatar_url
            await widgets.create(
                WidgetCreate(
                    agent_id=agent_id,
                    agent_version_id=version.id,
                    domains=[step.domain],
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
    """Nothing half-made is left behind: the agent (or draft) and collection this run created go."""
    build = Build.of(run.id, run.organization_id, request_of(run))
    org = run.organization_id
    async with runtime().database.session(write=True) as session, session.begin():
        audit.act_as(session, audit.Actor("workflow", run.id))
        if build.existing_agent_id is None:
            agents = AgentService(session, org)
            if await agents.agents.get(derived_id(run.id, "agent")) is not None:
                await agents.delete(derived_id(run.id, "agent"))
        else:
            await VersionService(session, org).discard_draft(derived_id(run.id, "version"))
        if build.existing_collection_id is None:
            collections = CollectionRepository(session, org)
            collection = await collections.get(derived_id(run.id, "collection"))
            if collection is not None:
                await collections.delete(collection)


async def _build(run: WorkflowRun) -> dict[str, Any]:
    build = Build.of(run.id, run.organization_id, request_of(run))
    total = build.steps

    await tracking.progress(run.id, "crawl", f"Crawling {build.website}", 0, total)
    profile = await engine.run_step(
        crawl_site, build.website, max_attempts=3, retry_if=tracking.is_transient
    )
    company_name = build.company_name or profile.get("name") or profile["domain"]

    await tracking.progress(run.id, "knowledge", "Storing the pages", 1, total)
    knowledge = KnowledgeStep(build=build, name=f"{company_name} website", profile=profile)
    collection_id = await engine.run_step(store_knowledge, knowledge)
    await knowledge_embedding.start_in_workflow(run.id, run.organization_id, collection_id)

    await tracking.progress(run.id, "write", "Writing the agent's instructions", 2, total)
    writing = ConfigStep(
        build=build, company_name=company_name, profile=profile, collection_id=collection_id
    )
    config = await engine.run_step(
        write_config, writing, max_attempts=4, retry_if=tracking.is_transient
    )

    await tracking.progress(run.id, "create", "Creating the agent", 3, total)
    creating = CreateStep(
        build=build, company_name=company_name, website=profile["url"], config=config
    )
    created = await engine.run_step(create_agent, creating)
    result: dict[str, Any] = {**created, "collection_id": collection_id, "warnings": []}
    if not build.skip_deployment:
        await tracking.progress(run.id, "deploy", "Publishing and deploying", 4, total)
        deploying = DeployStep(
            build=build,
            created=Created.model_validate(created),
            domain=profile["domain"],
            company_name=company_name,
        )
        result.update(await engine.run_step(deploy, deploying))
    result["warnings"] = [*profile.get("warnings", [])[:20], *result.get("warnings", [])]
    await tracking.progress(run.id, "done", "Done", total, total)
    return result


async def build(run_id: str) -> None:
    """The workflow `create_from_website`, and `create_demo` (callplane.wiring registers both)."""
    await tracking.execute(run_id, _build, remove_what_the_run_made)
