"""The synchronous client. Each method states its request in `_calls`; `SyncHTTP` sends it."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from types import EllipsisType, TracebackType
from typing import Any

import httpx

from callplane.agents.schemas import AgentDetail, AgentRead, SipEndpoint
from callplane.agenttests.schemas import AgentTestRead, TestRunRead, TestSettingsRead
from callplane.analytics.schemas import ConversationAnalytics
from callplane.audit.schemas import AuditEventRead
from callplane.client import _calls as calls
from callplane.client import _sse
from callplane.client._calls import Id, LiveVersion, VersionRef, body_of
from callplane.client._http import SyncHTTP
from callplane.conversations.schemas import (
    ConversationImportResult,
    ConversationRead,
    LiveConversationRead,
    TurnEvent,
    TurnRead,
)
from callplane.knowledge.schemas import (
    CollectionDetail,
    CollectionRead,
    DocumentCreated,
    DocumentRead,
    DocumentSummary,
    SearchResult,
)
from callplane.phone_numbers.schemas import PhoneNumberRead
from callplane.publishing.schemas import RollbackRead
from callplane.routing.schemas import ResolvedRoute
from callplane.versions.schemas import VersionRead
from callplane.webhooks.schemas import DeliveryRead, WebhookRead, WebhookWithSecret
from callplane.widgets.schemas import WidgetRead
from callplane.workflows.schemas import FINISHED, WorkflowRead


class Versions:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(
        self, agent_id: Id, *, published: bool | None = None, limit: int = 100
    ) -> Iterator[VersionRead]:
        return self._http.paginate(calls.versions_list(agent_id, published, limit))

    def get(self, agent_id: Id, version: VersionRef) -> VersionRead:
        return self._http.run(calls.versions_get(agent_id, version))

    def create(
        self,
        agent_id: Id,
        *,
        config: dict[str, Any] | None = None,
        base_version: int | None = None,
        instruction_builder_inputs: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> VersionRead:
        body = body_of(
            config=config,
            base_version=base_version,
            instruction_builder_inputs=instruction_builder_inputs,
        )
        return self._http.run(calls.versions_create(agent_id, body, idempotency_key))

    def update(
        self,
        agent_id: Id,
        version: int,
        *,
        config: dict[str, Any] | None = None,
        instruction_builder_inputs: dict[str, Any] | EllipsisType | None = ...,
        if_match: str | None = None,
        idempotency_key: str | None = None,
    ) -> VersionRead:
        """`instruction_builder_inputs=None` clears them; leaving it out keeps them."""
        body = body_of(config=config)
        if instruction_builder_inputs is not ...:
            body["instruction_builder_inputs"] = instruction_builder_inputs
        call = calls.versions_update(agent_id, version, body, if_match, idempotency_key)
        return self._http.run(call)

    def delete(self, agent_id: Id, version: int, *, idempotency_key: str | None = None) -> None:
        self._http.run(calls.versions_delete(agent_id, version, idempotency_key))

    def publish(
        self,
        agent_id: Id,
        version: int,
        *,
        phone_numbers: builtins.list[str] | None = None,
        unassign_phone_numbers: builtins.list[str] | None = None,
        direction: str = "inbound",
        idempotency_key: str | None = None,
    ) -> builtins.list[PhoneNumberRead]:
        body = body_of(
            phone_numbers=phone_numbers,
            unassign_phone_numbers=unassign_phone_numbers,
            direction=direction,
        )
        return self._http.run(calls.versions_publish(agent_id, version, body, idempotency_key))

    def diff(self, agent_id: Id, from_version: VersionRef, to_version: VersionRef) -> Any:
        return self._http.run(calls.versions_diff(agent_id, from_version, to_version))

    def compare(
        self, agent_id: Id, from_version: VersionRef, to_version: VersionRef
    ) -> Iterator[str]:
        return self._http.stream_text(calls.versions_compare(agent_id, from_version, to_version))

    def generate_instructions(
        self, agent_id: Id, version: int, *, idempotency_key: str | None = None
    ) -> str:
        return self._http.run(calls.versions_generate(agent_id, version, idempotency_key))


class Agents:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http
        self.versions = Versions(http)

    def list(
        self,
        *,
        name: str | None = None,
        active: bool | None = None,
        is_demo: bool | None = None,
        metadata: dict[str, Any] | None = None,
        limit: int = 100,
    ) -> Iterator[AgentRead]:
        return self._http.paginate(calls.agents_list(name, active, is_demo, metadata, limit))

    def get(self, agent_id: Id) -> AgentDetail:
        return self._http.run(calls.agents_get(agent_id))

    def create(
        self,
        *,
        name: str,
        description: str | None = None,
        active: bool = True,
        is_demo: bool = False,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> AgentRead:
        body = body_of(
            name=name, description=description, active=active, is_demo=is_demo, metadata=metadata
        )
        return self._http.run(calls.agents_create(body, idempotency_key))

    def update(
        self,
        agent_id: Id,
        *,
        if_match: str | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> AgentRead:
        return self._http.run(calls.agents_update(agent_id, fields, if_match, idempotency_key))

    def delete(self, agent_id: Id, *, idempotency_key: str | None = None) -> None:
        self._http.run(calls.agents_delete(agent_id, idempotency_key))

    def deploy_sip(self, agent_id: Id, *, idempotency_key: str | None = None) -> SipEndpoint:
        return self._http.run(calls.sip_deploy(agent_id, idempotency_key))

    def remove_sip(self, agent_id: Id, *, idempotency_key: str | None = None) -> None:
        self._http.run(calls.sip_remove(agent_id, idempotency_key))

    def create_from_website(self, *, idempotency_key: str | None = None, **body: Any) -> str:
        return self._http.run(calls.scaffold("create-from-website", body, idempotency_key))

    def create_demo(self, *, idempotency_key: str | None = None, **body: Any) -> str:
        return self._http.run(calls.scaffold("create-demo", body, idempotency_key))

    def rollback(
        self, agent_id: Id, *, to_version: int, idempotency_key: str | None = None
    ) -> RollbackRead:
        """Make `to_version` live again: it is published, and every slot that holds one of this
        agent's versions moves to it, in one transaction. Answers the slots it moved."""
        return self._http.run(calls.agents_rollback(agent_id, to_version, idempotency_key))


class PhoneNumbers:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(
        self,
        *,
        phone_number: str | None = None,
        agent_id: Id | None = None,
        assigned: bool | None = None,
        limit: int = 100,
    ) -> Iterator[PhoneNumberRead]:
        page = calls.numbers_list(phone_number, agent_id, assigned, limit)
        return self._http.paginate(page)

    def get(self, number: str) -> PhoneNumberRead:
        return self._http.run(calls.numbers_get(number))

    def register(
        self,
        phone_number: str,
        *,
        label: str | None = None,
        outbound_shareable: bool = False,
        idempotency_key: str | None = None,
    ) -> PhoneNumberRead:
        body = body_of(
            phone_number=phone_number, label=label, outbound_shareable=outbound_shareable
        )
        return self._http.run(calls.numbers_register(body, idempotency_key))

    def update(
        self, number: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> PhoneNumberRead:
        return self._http.run(calls.numbers_update(number, fields, idempotency_key))

    def delete(self, number: str, *, idempotency_key: str | None = None) -> None:
        self._http.run(calls.numbers_delete(number, idempotency_key))


class Workflows:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def get(self, workflow_id: str) -> WorkflowRead:
        return self._http.run(calls.workflows_get(workflow_id))

    def list(
        self, *, type: str | None = None, status: str | None = None, limit: int = 100
    ) -> Iterator[WorkflowRead]:
        return self._http.paginate(calls.workflows_list(type, status, limit))

    def cancel(self, workflow_id: str, *, idempotency_key: str | None = None) -> WorkflowRead:
        return self._http.run(calls.workflows_cancel(workflow_id, idempotency_key))

    def wait(
        self,
        workflow_id: str,
        timeout: float = 300.0,
        poll_interval: float = 0.5,
        *,
        on_progress: Callable[[WorkflowRead], None] | None = None,
    ) -> WorkflowRead:
        """Poll until the run finished (succeeded, failed or cancelled); TimeoutError after.

        `on_progress` is called with the run each time its status or progress changed (the
        first poll included), e.g. to show which step it is on."""
        deadline = time.monotonic() + timeout
        seen: WorkflowRead | None = None
        while True:
            run = self.get(workflow_id)
            if on_progress is not None and calls.progress_changed(seen, run):
                on_progress(run)
            seen = run
            if run.status in FINISHED:
                return run
            if time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {workflow_id} still {run.status} after {timeout}s")
            time.sleep(poll_interval)


class Conversations:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(self, **filters: Any) -> Iterator[ConversationRead]:
        return self._http.paginate(calls.conversations_list(filters))

    def get(self, conversation_id: Id) -> ConversationRead:
        return self._http.run(calls.conversations_get(conversation_id))

    def import_(
        self,
        conversations: builtins.list[dict[str, Any]],
        *,
        idempotency_key: str | None = None,
    ) -> ConversationImportResult:
        """Import historical records (all or nothing, up to 500 per call)."""
        return self._http.run(calls.conversations_import(conversations, idempotency_key))

    def start(
        self,
        agent_id: Id,
        *,
        version: LiveVersion | None = None,
        channel: str | None = None,
        variables: dict[str, str] | None = None,
        direction: str | None = None,
        caller: str | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> LiveConversationRead:
        """Start a live conversation with the agent: its `live` version by default, `latest`
        (drafts included) or a number. `channel`: text (default), webrtc, telephone, sms or
        email; `variables` fill `{{name}}` placeholders. The answer carries the starting
        message."""
        body = body_of(
            version=version,
            channel=channel,
            variables=variables,
            direction=direction,
            caller=caller,
            metadata=metadata,
        )
        return self._http.run(calls.conversations_start(agent_id, body, idempotency_key))

    def send(
        self, conversation_id: Id, content: str, *, idempotency_key: str | None = None
    ) -> Iterator[TurnEvent]:
        """Send the user's message; the agent's turn as it happens: `delta`, `tool_call`,
        `tool_result`, `knowledge`, `action`, `error`, then `done` (always last). The request is
        sent when iteration starts; API errors (404, 409 `conversation_ended`, 422) are raised
        there. A retry (before the first event) carries the same Idempotency-Key, so a turn is
        never run twice."""
        call = calls.conversations_send(conversation_id, content, idempotency_key)
        for event in _sse.events(self._http.stream_text(call)):
            yield calls.turn_event(event)

    def turn(
        self, conversation_id: Id, content: str, *, idempotency_key: str | None = None
    ) -> TurnRead:
        """`send`, answered as one object once the turn is complete: `message`, `events`,
        `ended`, `ended_reason`, `usage`, `model`."""
        return self._http.run(calls.conversations_turn(conversation_id, content, idempotency_key))

    def end(self, conversation_id: Id, *, idempotency_key: str | None = None) -> ConversationRead:
        """End the conversation (`ended_reason: ended_by_user`); 409 if it already ended."""
        return self._http.run(calls.conversations_end(conversation_id, idempotency_key))


class Widgets:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(self, **filters: Any) -> Iterator[WidgetRead]:
        return self._http.paginate(calls.widgets_list(filters))

    def get(self, widget_id: Id) -> WidgetRead:
        return self._http.run(calls.widgets_get(widget_id))

    def create(self, *, idempotency_key: str | None = None, **body: Any) -> WidgetRead:
        return self._http.run(calls.widgets_create(body, idempotency_key))

    def update(
        self, widget_id: Id, *, idempotency_key: str | None = None, **fields: Any
    ) -> WidgetRead:
        return self._http.run(calls.widgets_update(widget_id, fields, idempotency_key))

    def delete(self, widget_id: Id, *, idempotency_key: str | None = None) -> None:
        self._http.run(calls.widgets_delete(widget_id, idempotency_key))


class WebhookDeliveries:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(
        self, webhook_id: Id, *, status: str | None = None, limit: int = 100
    ) -> Iterator[DeliveryRead]:
        return self._http.paginate(calls.deliveries_list(webhook_id, status, limit))

    def get(self, webhook_id: Id, delivery_id: Id) -> DeliveryRead:
        return self._http.run(calls.deliveries_get(webhook_id, delivery_id))

    def redeliver(
        self, webhook_id: Id, delivery_id: Id, *, idempotency_key: str | None = None
    ) -> DeliveryRead:
        """Send the delivery's event again, as a new delivery."""
        call = calls.deliveries_redeliver(webhook_id, delivery_id, idempotency_key)
        return self._http.run(call)


class Webhooks:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http
        self.deliveries = WebhookDeliveries(http)

    def list(self, *, limit: int = 100) -> Iterator[WebhookRead]:
        return self._http.paginate(calls.webhooks_list(limit))

    def get(self, webhook_id: Id) -> WebhookRead:
        return self._http.run(calls.webhooks_get(webhook_id))

    def create(
        self,
        *,
        url: str,
        events: builtins.list[str],
        description: str | None = None,
        active: bool = True,
        idempotency_key: str | None = None,
    ) -> WebhookWithSecret:
        """Subscribe `url` to events; the answer's `secret` is shown only this once."""
        body = body_of(url=url, events=events, description=description, active=active)
        return self._http.run(calls.webhooks_create(body, idempotency_key))

    def update(
        self, webhook_id: Id, *, idempotency_key: str | None = None, **fields: Any
    ) -> WebhookRead:
        """Change the fields given (`description=None` clears it)."""
        return self._http.run(calls.webhooks_update(webhook_id, fields, idempotency_key))

    def delete(self, webhook_id: Id, *, idempotency_key: str | None = None) -> None:
        self._http.run(calls.webhooks_delete(webhook_id, idempotency_key))

    def rotate_secret(
        self, webhook_id: Id, *, idempotency_key: str | None = None
    ) -> WebhookWithSecret:
        """A new signing secret, shown only now; the old one stops working at once."""
        return self._http.run(calls.webhooks_rotate_secret(webhook_id, idempotency_key))


class AuditEvents:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(
        self,
        *,
        action: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        actor_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int = 100,
    ) -> Iterator[AuditEventRead]:
        """The organization's audit log, newest first (times: datetimes or ISO 8601 text)."""
        filters = {
            "action": action,
            "resource_type": resource_type,
            "resource_id": resource_id,
            "actor_id": actor_id,
            "created_after": created_after,
            "created_before": created_before,
            "limit": limit,
        }
        return self._http.paginate(calls.audit_events_list(filters))


class Routing:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def resolve(
        self,
        *,
        phone_number: str | None = None,
        direction: str | None = None,
        sip_uri: str | None = None,
        cached: ResolvedRoute | None = None,
    ) -> ResolvedRoute:
        """The agent version answering a phone number's slot (`direction`: inbound, the
        default, or outbound) or a SIP URI, with its config as the telephone channel sees it.
        NotFound when nothing answers. Give a `cached` answer to revalidate it (If-None-Match):
        while it is current the server answers 304 and `cached` itself is returned, so
        `route is cached` says nothing changed."""
        call = calls.routing_resolve(phone_number, direction, sip_uri, cached)
        return self._http.run(call)


class KnowledgeDocuments:
    """The documents of a knowledge collection."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(self, collection_id: Id, *, limit: int = 100) -> Iterator[DocumentSummary]:
        """The collection's documents, oldest first (without their text)."""
        return self._http.paginate(calls.documents_list(collection_id, limit))

    def get(self, collection_id: Id, document_id: Id) -> DocumentRead:
        return self._http.run(calls.documents_get(collection_id, document_id))

    def add(
        self,
        collection_id: Id,
        content: str,
        *,
        content_type: str = "text/plain",
        title: str | None = None,
        idempotency_key: str | None = None,
    ) -> DocumentCreated:
        """Add a text document (`text/plain`, `text/markdown` or `text/html`). Content the
        collection already holds is not stored again: that document, with `duplicate` true."""
        body = body_of(content=content, content_type=content_type, title=title)
        return self._http.run(calls.documents_add_text(collection_id, body, idempotency_key))

    def upload(
        self,
        collection_id: Id,
        filename: str,
        content: bytes,
        *,
        media_type: str | None = None,
        title: str | None = None,
        idempotency_key: str | None = None,
    ) -> DocumentCreated:
        """Upload a file (.txt, .md, .html, .pdf, .docx: the type is told by its name, or
        `media_type`); duplicates as for `add`."""
        call = calls.documents_upload(
            collection_id, filename, content, media_type, title, idempotency_key
        )
        return self._http.run(call)

    def delete(
        self, collection_id: Id, document_id: Id, *, idempotency_key: str | None = None
    ) -> None:
        self._http.run(calls.documents_delete(collection_id, document_id, idempotency_key))


class Knowledge:
    """Knowledge collections: what agents can search."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http
        self.documents = KnowledgeDocuments(http)

    def list(self, *, name: str | None = None, limit: int = 100) -> Iterator[CollectionRead]:
        """The organization's collections, oldest first (`name`: a case-insensitive part)."""
        return self._http.paginate(calls.collections_list(name, limit))

    def get(self, collection_id: Id) -> CollectionDetail:
        """A collection with its documents."""
        return self._http.run(calls.collections_get(collection_id))

    def create(self, *, idempotency_key: str | None = None, **body: Any) -> CollectionRead:
        """An empty collection: `name`, and optionally `description` and
        `refresh_interval_hours` (its URL documents are then refreshed that often)."""
        return self._http.run(calls.collections_create(body, idempotency_key))

    def update(
        self, collection_id: Id, *, idempotency_key: str | None = None, **fields: Any
    ) -> CollectionRead:
        """Change the fields given (`description` and `refresh_interval_hours` may be None)."""
        return self._http.run(calls.collections_update(collection_id, fields, idempotency_key))

    def delete(self, collection_id: Id, *, idempotency_key: str | None = None) -> None:
        """Delete it and its documents (409 while a published agent version uses it)."""
        self._http.run(calls.collections_delete(collection_id, idempotency_key))

    def crawl(
        self,
        collection_id: Id,
        url: str,
        *,
        max_pages: int | None = None,
        max_depth: int | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        """Fetch a page (`max_pages=1`) or crawl a site into the collection; the workflow id
        (follow it with `client.workflows.wait`)."""
        body = body_of(url=url, max_pages=max_pages, max_depth=max_depth)
        return self._http.run(calls.knowledge_crawl(collection_id, body, idempotency_key))

    def refresh(self, collection_id: Id, *, idempotency_key: str | None = None) -> str:
        """Fetch every URL document again and replace those that changed; the workflow id
        (while a refresh of the collection is unfinished, that one's)."""
        return self._http.run(calls.knowledge_refresh(collection_id, idempotency_key))

    def search(
        self, collection_id: Id, query: str, *, limit: int = 5, mode: str | None = None
    ) -> builtins.list[SearchResult]:
        """The passages of the collection that best match `query`, best first (`mode`:
        `keyword`, `semantic` or `hybrid`; the server's default when None)."""
        return self._http.run(calls.knowledge_search(collection_id, query, limit, mode))


class Tests:
    """An agent's tests (`/core/agents/{id}/tests`) and its `require_passing_tests` setting."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(self, agent_id: Id, *, limit: int = 100) -> Iterator[AgentTestRead]:
        return self._http.paginate(calls.tests_list(agent_id, limit))

    def get(self, agent_id: Id, test_id: Id) -> AgentTestRead:
        return self._http.run(calls.tests_get(agent_id, test_id))

    def create(
        self, agent_id: Id, *, idempotency_key: str | None = None, **body: Any
    ) -> AgentTestRead:
        """`name`, `turns` or `caller`, `expectations`, optional `tool_mocks`, `variables`."""
        return self._http.run(calls.tests_create(agent_id, body, idempotency_key))

    def replace(
        self, agent_id: Id, test_id: Id, *, idempotency_key: str | None = None, **body: Any
    ) -> AgentTestRead:
        return self._http.run(calls.tests_replace(agent_id, test_id, body, idempotency_key))

    def delete(self, agent_id: Id, test_id: Id, *, idempotency_key: str | None = None) -> None:
        self._http.run(calls.tests_delete(agent_id, test_id, idempotency_key))

    def settings(self, agent_id: Id) -> TestSettingsRead:
        return self._http.run(calls.test_settings_get(agent_id))

    def require_passing_tests(
        self, agent_id: Id, required: bool = True, *, idempotency_key: str | None = None
    ) -> TestSettingsRead:
        return self._http.run(calls.test_settings_put(agent_id, required, idempotency_key))


class TestRuns:
    """Runs of an agent's tests against a version (`/core/test-runs`)."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def start(
        self,
        agent_id: Id,
        version: int,
        *,
        tests: builtins.list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> TestRunRead:
        return self._http.run(calls.test_runs_start(agent_id, version, tests, idempotency_key))

    def get(self, run_id: Id) -> TestRunRead:
        return self._http.run(calls.test_runs_get(run_id))

    def list(
        self,
        agent_id: Id,
        *,
        version: int | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> Iterator[TestRunRead]:
        return self._http.paginate(calls.test_runs_list(agent_id, version, status, limit))

    def wait(self, run_id: Id, timeout: float = 600.0, poll_interval: float = 0.5) -> TestRunRead:
        """Poll until the run finished (passed, failed or error); TimeoutError after."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.get(run_id)
            if run.status not in ("queued", "running"):
                return run
            if time.monotonic() >= deadline:
                raise TimeoutError(f"test run {run_id} still {run.status} after {timeout}s")
            time.sleep(poll_interval)


class Analytics:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def conversations(
        self,
        *,
        agent_id: Id | None = None,
        version_id: Id | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        interval: str = "day",
    ) -> ConversationAnalytics:
        """Conversations per time bucket (`GET /core/analytics/conversations`)."""
        params = {
            "agent_id": agent_id,
            "version_id": version_id,
            "from": from_.isoformat() if isinstance(from_, datetime) else from_,
            "to": to.isoformat() if isinstance(to, datetime) else to,
            "interval": interval,
        }
        return self._http.run(calls.analytics_conversations(params))


class Client:
    """A callplane API client. Arguments fall back to CALLPLANE_URL, CALLPLANE_API_KEY and
    CALLPLANE_ORG; `backoff` is the first retry's delay in seconds (doubling, capped at 5 s)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        org: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        backoff: float = 0.2,
    ) -> None:
        self._http = SyncHTTP(
            base_url,
            api_key,
            org,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            transport=transport,
        )
        self.base_url = self._http.base_url
        self.agents = Agents(self._http)
        self.phone_numbers = PhoneNumbers(self._http)
        self.workflows = Workflows(self._http)
        self.conversations = Conversations(self._http)
        self.widgets = Widgets(self._http)
        self.webhooks = Webhooks(self._http)
        self.routing = Routing(self._http)
        self.audit_events = AuditEvents(self._http)
        self.knowledge = Knowledge(self._http)
        self.tests = Tests(self._http)
        self.test_runs = TestRuns(self._http)
        self.analytics = Analytics(self._http)

    def config_schema(self) -> dict[str, Any]:
        return dict(self._http.run(calls.config_schema()))

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        return dict(self._http.run(calls.validate_config(config)))

    def my_scopes(self) -> list[str]:
        return self._http.run(calls.my_scopes())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
