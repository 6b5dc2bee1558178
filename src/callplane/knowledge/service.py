"""Knowledge collections and their documents: every write goes through here."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit import recorder as audit
from callplane.db.types import new_id
from callplane.knowledge.errors import CollectionInUse, CollectionNotFound, DocumentNotFound
from callplane.knowledge.extract import Extracted
from callplane.knowledge.repository import CollectionRepository
from callplane.knowledge.schemas import CollectionCreate, CollectionUpdate, CrawlRequest
from callplane.models import AgentVersion, KnowledgeCollection, KnowledgeDocument, WorkflowRun
from callplane.workflows.repository import WorkflowRunRepository
from callplane.workflows.service import WorkflowService

# The workflows' durable names (knowledge.workflow): never change them.
CRAWL = "knowledge_crawl"
REFRESH = "knowledge_refresh"

# Called (in the writing transaction) with the session, organization and collection whose
# passages changed: the wiring uses it to schedule embeddings after commit.
ChangeHook = Callable[[AsyncSession, uuid.UUID, uuid.UUID], None]
_change_hooks: list[ChangeHook] = []


def on_passages_changed(hook: ChangeHook) -> None:
    if hook not in _change_hooks:
        _change_hooks.append(hook)


def content_hash(content: str) -> str:
    """What makes two documents the same content (sha256 of the text, as stored)."""
    return hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()


class KnowledgeService:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID):
        self.session = session
        self.organization_id = organization_id
        self.collections = CollectionRepository(session, organization_id)

    async def get(self, collection_id: uuid.UUID) -> KnowledgeCollection:
        collection = await self.collections.get(collection_id)
        if collection is None:
            raise CollectionNotFound()
        return collection

    async def create(self, body: CollectionCreate) -> KnowledgeCollection:
        collection = self.collections.add(
            KnowledgeCollection(
                name=body.name,
                description=body.description,
                refresh_interval_hours=body.refresh_interval_hours,
            )
        )
        await self.session.flush()
        await self._record("knowledge_collection.created", collection.id, {"name": body.name})
        return collection

    async def update(self, collection_id: uuid.UUID, body: CollectionUpdate) -> KnowledgeCollection:
        collection = await self.get(collection_id)
        fields = body.model_dump(exclude_unset=True)
        if "name" in fields and fields["name"] is None:
            fields.pop("name")  # the name cannot be cleared
        for name, value in fields.items():
            setattr(collection, name, value)
        await self.session.flush()
        await self._record("knowledge_collection.updated", collection.id, {"fields": list(fields)})
        return collection

    async def delete(self, collection_id: uuid.UUID) -> None:
        """Refused while a published agent version uses the collection (its agent would lose
        knowledge it was published with): 409 naming the versions."""
        collection = await self.get(collection_id)
        users = await self.published_users(collection_id)
        if users:
            named = ", ".join(f"agent {agent} version {version}" for agent, version in users)
            raise CollectionInUse(
                f"Published agent versions use this collection: {named}. Publish versions "
                "without it first."
            )
        await self.collections.delete(collection)
        await self._record("knowledge_collection.deleted", collection_id, {})

    async def published_users(self, collection_id: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
        """(agent id, version) of the published versions whose config names the collection
        (as a knowledge base or in a knowledge_base tool)."""
        rows = await self.session.execute(
            select(AgentVersion.agent_id, AgentVersion.version, AgentVersion.config).where(
                AgentVersion.organization_id == self.organization_id,
                AgentVersion.published.is_(True),
            )
        )
        needle = str(collection_id)
        return [
            (agent_id, version)
            for agent_id, version, config in rows
            if needle in json.dumps(config, default=str)
        ]

    async def add_document(
        self,
        collection_id: uuid.UUID,
        extracted: Extracted,
        *,
        source: str,
        title: str | None = None,
        filename: str | None = None,
    ) -> tuple[KnowledgeDocument, bool]:
        """Store a document; if the collection already holds the same content, that document
        is returned instead (and False: nothing was added)."""
        await self.get(collection_id)
        digest = content_hash(extracted.text)
        existing = await self.collections.by_hash(collection_id, digest)
        if existing is not None:
            return existing, False
        document = KnowledgeDocument(
            id=new_id(),
            organization_id=self.organization_id,
            collection_id=collection_id,
            url=None,
            title=title or extracted.title or filename,
            content=extracted.text,
            source=source,
            content_type=extracted.content_type,
            filename=filename,
            content_hash=digest,
        )
        self.session.add(document)
        await self.session.flush()
        await self.collections.write_chunks(document)
        self.passages_changed(collection_id)
        await self._record(
            "knowledge_document.created",
            document.id,
            {"collection_id": str(collection_id), "source": source},
        )
        return document, True

    async def delete_document(self, collection_id: uuid.UUID, document_id: uuid.UUID) -> None:
        document = await self.collections.document(collection_id, document_id)
        if document is None:
            raise DocumentNotFound()
        await self.session.delete(document)
        await self._record(
            "knowledge_document.deleted", document_id, {"collection_id": str(collection_id)}
        )

    async def start_crawl(
        self, collection_id: uuid.UUID, body: CrawlRequest, workflow_id: str
    ) -> WorkflowRun:
        await self.get(collection_id)
        return await WorkflowService(self.session, self.organization_id).start(
            workflow_id=workflow_id,
            type_=CRAWL,
            input_={"collection_id": str(collection_id), **body.model_dump(mode="json")},
            total_steps=2,
        )

    async def start_refresh(self, collection_id: uuid.UUID, workflow_id: str) -> WorkflowRun:
        """One refresh of a collection at a time: while one is unfinished, it is returned."""
        unfinished = await self._lock_for_refresh(collection_id)
        if unfinished is not None:
            return unfinished
        return await self._start_refresh(collection_id, workflow_id)

    async def start_scheduled_refresh(
        self, collection_id: uuid.UUID, workflow_id: str
    ) -> WorkflowRun | None:
        """The refresh of a due slot (`workflow_id` names the collection and the slot): started
        unless the collection is gone, a refresh of it is unfinished, or this slot already had
        its run (whatever became of it). None when nothing was started."""
        try:
            unfinished = await self._lock_for_refresh(collection_id)
        except CollectionNotFound:
            return None
        if unfinished is not None:
            return None
        if await WorkflowRunRepository(self.session, self.organization_id).get_run(workflow_id):
            return None
        return await self._start_refresh(collection_id, workflow_id)

    async def _lock_for_refresh(self, collection_id: uuid.UUID) -> WorkflowRun | None:
        """Lock the collection's row (PostgreSQL; SQLite writes one transaction at a time) so
        that two starts of its refresh are one after the other, and return its unfinished
        refresh if there is one."""
        if await self.collections.get(collection_id, for_update=True) is None:
            raise CollectionNotFound()
        unfinished = await self.session.scalars(
            select(WorkflowRun).where(
                WorkflowRun.organization_id == self.organization_id,
                WorkflowRun.type == REFRESH,
                WorkflowRun.status.in_(("queued", "running")),
            )
        )
        for run in unfinished:
            if run.input.get("collection_id") == str(collection_id):
                return run
        return None

    async def _start_refresh(self, collection_id: uuid.UUID, workflow_id: str) -> WorkflowRun:
        return await WorkflowService(self.session, self.organization_id).start(
            workflow_id=workflow_id,
            type_=REFRESH,
            input_={"collection_id": str(collection_id)},
            total_steps=1,
        )

    def passages_changed(self, collection_id: uuid.UUID) -> None:
        for hook in _change_hooks:
            hook(self.session, self.organization_id, collection_id)

    async def _record(self, action: str, resource_id: uuid.UUID, data: dict[str, object]) -> None:
        resource = action.split(".")[0]
        await audit.record(
            self.session, self.organization_id, action, resource, str(resource_id), data
        )
