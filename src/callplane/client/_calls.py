"""What each SDK method sends and how its answer is read; shared by the sync and async clients."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from callplane.agents.schemas import AgentDetail, AgentRead, SipEndpoint
from callplane.agenttests.schemas import AgentTestRead, TestRunRead, TestSettingsRead
from callplane.analytics.schemas import ConversationAnalytics
from callplane.audit.schemas import AuditEventRead
from callplane.client._http import Call, PageCall, clean_params
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
from callplane.workflows.schemas import WorkflowRead

M = TypeVar("M", bound=BaseModel)
Id = str | uuid.UUID
VersionRef = int | Literal["latest"]
MAX_PAGE = 100  # the API's largest page


def _model(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: cls.model_validate(response.json())


def _nothing(_: httpx.Response) -> None:
    return None


def _json(response: httpx.Response) -> Any:
    return response.json()


def _workflow_id(response: httpx.Response) -> str:
    return str(response.json()["workflow_id"])


_numbers = TypeAdapter(list[PhoneNumberRead])


def _phone_numbers(response: httpx.Response) -> list[PhoneNumberRead]:
    return _numbers.validate_python(response.json())


def _if_match(etag: str | None) -> dict[str, str]:
    if etag is None:
        return {}
    quoted = etag.startswith(('"', "W/")) or etag == "*"
    return {"If-Match": etag if quoted else f'"{etag}"'}


def _page(limit: int) -> int:
    return max(1, min(limit, MAX_PAGE))


# Agents


def agent_path(agent_id: Id) -> str:
    return f"/core/agents/{agent_id}"


def agents_list(
    name: str | None,
    active: bool | None,
    is_demo: bool | None,
    metadata: dict[str, Any] | None,
    limit: int,
) -> PageCall[AgentRead]:
    params = clean_params(
        name=name,
        active=active,
        is_demo=is_demo,
        metadata=json.dumps(metadata) if metadata is not None else None,
        limit=_page(limit),
    )
    return PageCall("/core/agents", AgentRead, params)


def agents_get(agent_id: Id) -> Call[AgentDetail]:
    return Call("GET", agent_path(agent_id), _model(AgentDetail))


def agents_create(body: dict[str, Any], key: str | None) -> Call[AgentRead]:
    return Call("POST", "/core/agents", _model(AgentRead), json=body, idempotency_key=key)


def agents_update(
    agent_id: Id, fields: dict[str, Any], if_match: str | None, key: str | None
) -> Call[AgentRead]:
    return Call(
        "PUT",
        agent_path(agent_id),
        _model(AgentRead),
        json=_jsonable(fields),
        headers=_if_match(if_match),
        idempotency_key=key,
    )


def agents_delete(agent_id: Id, key: str | None) -> Call[None]:
    return Call("DELETE", agent_path(agent_id), _nothing, idempotency_key=key)


def sip_deploy(agent_id: Id, key: str | None) -> Call[SipEndpoint]:
    path = f"{agent_path(agent_id)}/deploy-as-sip"
    return Call("POST", path, _model(SipEndpoint), idempotency_key=key)


def sip_remove(agent_id: Id, key: str | None) -> Call[None]:
    return Call("DELETE", f"{agent_path(agent_id)}/deploy-as-sip", _nothing, idempotency_key=key)


def agents_rollback(agent_id: Id, to_version: int, key: str | None) -> Call[RollbackRead]:
    """Publish `to_version` again and move every slot holding one of the agent's versions to it."""
    path = f"{agent_path(agent_id)}/rollback"
    return Call(
        "POST", path, _model(RollbackRead), json={"to_version": to_version}, idempotency_key=key
    )


def scaffold(kind: str, body: dict[str, Any], key: str | None) -> Call[str]:
    return Call("POST", f"/core/agents/{kind}", _workflow_id, json=body, idempotency_key=key)


# Versions


def versions_path(agent_id: Id) -> str:
    return f"{agent_path(agent_id)}/versions"


def versions_list(agent_id: Id, published: bool | None, limit: int) -> PageCall[VersionRead]:
    params = clean_params(published=published, limit=_page(limit))
    return PageCall(versions_path(agent_id), VersionRead, params)


def versions_get(agent_id: Id, version: VersionRef) -> Call[VersionRead]:
    return Call("GET", f"{versions_path(agent_id)}/{version}", _model(VersionRead))


def versions_create(agent_id: Id, body: dict[str, Any], key: str | None) -> Call[VersionRead]:
    path = versions_path(agent_id)
    return Call("POST", path, _model(VersionRead), json=body, idempotency_key=key)


def versions_update(
    agent_id: Id, version: int, body: dict[str, Any], if_match: str | None, key: str | None
) -> Call[VersionRead]:
    return Call(
        "PUT",
        f"{versions_path(agent_id)}/{version}",
        _model(VersionRead),
        json=body,
        headers=_if_match(if_match),
        idempotency_key=key,
    )


def versions_delete(agent_id: Id, version: int, key: str | None) -> Call[None]:
    path = f"{versions_path(agent_id)}/{version}"
    return Call("DELETE", path, _nothing, idempotency_key=key)


def versions_publish(
    agent_id: Id, version: int, body: dict[str, Any], key: str | None
) -> Call[list[PhoneNumberRead]]:
    path = f"{versions_path(agent_id)}/{version}/publish"
    return Call("POST", path, _phone_numbers, json=body, idempotency_key=key)


def versions_diff(agent_id: Id, from_version: VersionRef, to_version: VersionRef) -> Call[Any]:
    params = {"from": str(from_version), "to": str(to_version)}
    return Call("GET", f"{versions_path(agent_id)}/diff", _json, params=params)


def versions_compare(agent_id: Id, from_version: VersionRef, to_version: VersionRef) -> Call[None]:
    """A read sent as POST: no Idempotency-Key (the server would store the whole summary)."""
    body = {"from_version": from_version, "to_version": to_version}
    path = f"{versions_path(agent_id)}/compare"
    return Call("POST", path, _nothing, json=body, idempotent_write=False)


def versions_generate(agent_id: Id, version: int, key: str | None) -> Call[str]:
    path = f"{versions_path(agent_id)}/{version}/generate-instructions"
    return Call("POST", path, _workflow_id, idempotency_key=key)


# Phone numbers


def number_path(number: str) -> str:
    return f"/core/phone-numbers/{quote(number, safe='+')}"


def numbers_list(
    phone_number: str | None, agent_id: Id | None, assigned: bool | None, limit: int
) -> PageCall[PhoneNumberRead]:
    params = clean_params(
        phone_number=phone_number,
        agent_id=str(agent_id) if agent_id else None,
        assigned=assigned,
        limit=_page(limit),
    )
    return PageCall("/core/phone-numbers", PhoneNumberRead, params)


def numbers_get(number: str) -> Call[PhoneNumberRead]:
    return Call("GET", number_path(number), _model(PhoneNumberRead))


def numbers_register(body: dict[str, Any], key: str | None) -> Call[PhoneNumberRead]:
    path = "/core/phone-numbers"
    return Call("POST", path, _model(PhoneNumberRead), json=body, idempotency_key=key)


def numbers_update(number: str, fields: dict[str, Any], key: str | None) -> Call[PhoneNumberRead]:
    path = number_path(number)
    return Call("PATCH", path, _model(PhoneNumberRead), json=_jsonable(fields), idempotency_key=key)


def numbers_delete(number: str, key: str | None) -> Call[None]:
    return Call("DELETE", number_path(number), _nothing, idempotency_key=key)


# Workflows


def workflows_get(workflow_id: str) -> Call[WorkflowRead]:
    return Call("GET", f"/core/workflows/{workflow_id}", _model(WorkflowRead))


def workflows_list(type_: str | None, status: str | None, limit: int) -> PageCall[WorkflowRead]:
    params = clean_params(type=type_, status=status, limit=_page(limit))
    return PageCall("/core/workflows", WorkflowRead, params)


def progress_changed(before: WorkflowRead | None, after: WorkflowRead) -> bool:
    """Whether a poll of a run shows something new (its status or its progress)."""
    return before is None or (before.status, before.progress) != (after.status, after.progress)


def workflows_cancel(workflow_id: str, key: str | None) -> Call[WorkflowRead]:
    path = f"/core/workflows/{workflow_id}/cancel"
    return Call("POST", path, _model(WorkflowRead), idempotency_key=key)


# Conversations and widgets


def conversations_list(filters: dict[str, Any]) -> PageCall[ConversationRead]:
    params = clean_params(**{**filters, "limit": _page(filters.get("limit", MAX_PAGE))})
    return PageCall("/core/conversations", ConversationRead, params)


def conversations_get(conversation_id: Id) -> Call[ConversationRead]:
    return Call("GET", f"/core/conversations/{conversation_id}", _model(ConversationRead))


def conversations_import(
    conversations: list[dict[str, Any]], key: str | None
) -> Call[ConversationImportResult]:
    body = {"conversations": [_jsonable(record) for record in conversations]}
    path = "/core/conversations/import"
    return Call("POST", path, _model(ConversationImportResult), json=body, idempotency_key=key)


# Live conversations

LiveVersion = int | Literal["live", "latest"]
SSE = {"Accept": "text/event-stream"}
JSON = {"Accept": "application/json"}


def conversation_path(conversation_id: Id) -> str:
    return f"/core/conversations/{conversation_id}"


def conversations_start(
    agent_id: Id, body: dict[str, Any], key: str | None
) -> Call[LiveConversationRead]:
    path = f"{agent_path(agent_id)}/conversations"
    return Call("POST", path, _model(LiveConversationRead), json=body, idempotency_key=key)


def conversations_send(conversation_id: Id, content: str, key: str | None) -> Call[None]:
    """The turn as Server-Sent Events (read with `stream_text` and `_sse`)."""
    path = f"{conversation_path(conversation_id)}/messages"
    return Call("POST", path, _nothing, json={"content": content}, headers=SSE, idempotency_key=key)


def conversations_turn(conversation_id: Id, content: str, key: str | None) -> Call[TurnRead]:
    """The turn as one JSON object, once it is complete."""
    path = f"{conversation_path(conversation_id)}/messages"
    body = {"content": content}
    return Call("POST", path, _model(TurnRead), json=body, headers=JSON, idempotency_key=key)


def conversations_end(conversation_id: Id, key: str | None) -> Call[ConversationRead]:
    path = f"{conversation_path(conversation_id)}/end"
    return Call("POST", path, _model(ConversationRead), idempotency_key=key)


def turn_event(event: tuple[str, Any]) -> TurnEvent:
    name, data = event
    return TurnEvent(event=name, data=data if isinstance(data, dict) else {"raw": data})


def widgets_list(filters: dict[str, Any]) -> PageCall[WidgetRead]:
    params = clean_params(**{**filters, "limit": _page(filters.get("limit", MAX_PAGE))})
    return PageCall("/core/web-widgets", WidgetRead, params)


def widgets_get(widget_id: Id) -> Call[WidgetRead]:
    return Call("GET", f"/core/web-widgets/{widget_id}", _model(WidgetRead))


def widgets_create(body: dict[str, Any], key: str | None) -> Call[WidgetRead]:
    path = "/core/web-widgets"
    return Call("POST", path, _model(WidgetRead), json=_jsonable(body), idempotency_key=key)


def widgets_update(widget_id: Id, fields: dict[str, Any], key: str | None) -> Call[WidgetRead]:
    path = f"/core/web-widgets/{widget_id}"
    return Call("PATCH", path, _model(WidgetRead), json=_jsonable(fields), idempotency_key=key)


def widgets_delete(widget_id: Id, key: str | None) -> Call[None]:
    return Call("DELETE", f"/core/web-widgets/{widget_id}", _nothing, idempotency_key=key)


# Webhooks


def webhook_path(webhook_id: Id) -> str:
    return f"/core/webhooks/{webhook_id}"


def webhooks_list(limit: int) -> PageCall[WebhookRead]:
    return PageCall("/core/webhooks", WebhookRead, clean_params(limit=_page(limit)))


def webhooks_get(webhook_id: Id) -> Call[WebhookRead]:
    return Call("GET", webhook_path(webhook_id), _model(WebhookRead))


def webhooks_create(body: dict[str, Any], key: str | None) -> Call[WebhookWithSecret]:
    path = "/core/webhooks"
    return Call("POST", path, _model(WebhookWithSecret), json=body, idempotency_key=key)


def webhooks_update(webhook_id: Id, fields: dict[str, Any], key: str | None) -> Call[WebhookRead]:
    path = webhook_path(webhook_id)
    return Call("PATCH", path, _model(WebhookRead), json=_jsonable(fields), idempotency_key=key)


def webhooks_delete(webhook_id: Id, key: str | None) -> Call[None]:
    return Call("DELETE", webhook_path(webhook_id), _nothing, idempotency_key=key)


def webhooks_rotate_secret(webhook_id: Id, key: str | None) -> Call[WebhookWithSecret]:
    path = f"{webhook_path(webhook_id)}/rotate-secret"
    return Call("POST", path, _model(WebhookWithSecret), idempotency_key=key)


def deliveries_list(webhook_id: Id, status: str | None, limit: int) -> PageCall[DeliveryRead]:
    params = clean_params(status=status, limit=_page(limit))
    return PageCall(f"{webhook_path(webhook_id)}/deliveries", DeliveryRead, params)


def deliveries_get(webhook_id: Id, delivery_id: Id) -> Call[DeliveryRead]:
    path = f"{webhook_path(webhook_id)}/deliveries/{delivery_id}"
    return Call("GET", path, _model(DeliveryRead))


def deliveries_redeliver(webhook_id: Id, delivery_id: Id, key: str | None) -> Call[DeliveryRead]:
    path = f"{webhook_path(webhook_id)}/deliveries/{delivery_id}/redeliver"
    return Call("POST", path, _model(DeliveryRead), idempotency_key=key)


# Audit


def audit_events_list(filters: dict[str, Any]) -> PageCall[AuditEventRead]:
    query = {key: _iso(value) for key, value in filters.items() if key != "limit"}
    params = clean_params(**query, limit=_page(filters.get("limit", MAX_PAGE)))
    return PageCall("/core/audit-events", AuditEventRead, params)


def _iso(value: Any) -> Any:
    """Datetimes (the created_after/created_before filters) as the API reads them."""
    return value.isoformat() if hasattr(value, "isoformat") else value


# Routing (voice runtimes)


def routing_resolve(
    phone_number: str | None,
    direction: str | None,
    sip_uri: str | None,
    cached: ResolvedRoute | None,
) -> Call[ResolvedRoute]:
    """With `cached`, revalidate it (If-None-Match): a 304 answers `cached` itself."""
    params = clean_params(phone_number=phone_number, direction=direction, sip_uri=sip_uri)
    headers = {"If-None-Match": cached.etag} if cached is not None else {}

    def parse(response: httpx.Response) -> ResolvedRoute:
        if response.status_code == 304 and cached is not None:
            return cached
        return ResolvedRoute.model_validate(response.json())

    return Call("GET", "/core/routing/resolve", parse, params=params, headers=headers)


# Knowledge


def collection_path(collection_id: Id) -> str:
    return f"/core/knowledge-collections/{collection_id}"


_search_results = TypeAdapter(list[SearchResult])


def _results(response: httpx.Response) -> list[SearchResult]:
    return _search_results.validate_python(response.json()["results"])


def collections_list(name: str | None, limit: int) -> PageCall[CollectionRead]:
    params = clean_params(name=name, limit=_page(limit))
    return PageCall("/core/knowledge-collections", CollectionRead, params)


def collections_get(collection_id: Id) -> Call[CollectionDetail]:
    return Call("GET", collection_path(collection_id), _model(CollectionDetail))


def collections_create(body: dict[str, Any], key: str | None) -> Call[CollectionRead]:
    path = "/core/knowledge-collections"
    return Call("POST", path, _model(CollectionRead), json=body, idempotency_key=key)


def collections_update(
    collection_id: Id, fields: dict[str, Any], key: str | None
) -> Call[CollectionRead]:
    path = collection_path(collection_id)
    return Call("PATCH", path, _model(CollectionRead), json=_jsonable(fields), idempotency_key=key)


def collections_delete(collection_id: Id, key: str | None) -> Call[None]:
    return Call("DELETE", collection_path(collection_id), _nothing, idempotency_key=key)


def documents_list(collection_id: Id, limit: int) -> PageCall[DocumentSummary]:
    path = f"{collection_path(collection_id)}/documents"
    return PageCall(path, DocumentSummary, clean_params(limit=_page(limit)))


def documents_get(collection_id: Id, document_id: Id) -> Call[DocumentRead]:
    path = f"{collection_path(collection_id)}/documents/{document_id}"
    return Call("GET", path, _model(DocumentRead))


def documents_add_text(
    collection_id: Id, body: dict[str, Any], key: str | None
) -> Call[DocumentCreated]:
    """201 with the new document, or 200 with the one already holding this content."""
    path = f"{collection_path(collection_id)}/documents"
    return Call("POST", path, _model(DocumentCreated), json=body, idempotency_key=key)


def documents_upload(
    collection_id: Id,
    filename: str,
    content: bytes,
    media_type: str | None,
    title: str | None,
    key: str | None,
) -> Call[DocumentCreated]:
    """A multipart upload of one file (the server tells the type from the name and media type)."""
    path = f"{collection_path(collection_id)}/documents"
    files = {"file": (filename, content, media_type or "application/octet-stream")}
    data = {"title": title} if title is not None else None
    return Call(
        "POST",
        path,
        _model(DocumentCreated),
        files=files,
        data=data,
        idempotency_key=key,
    )


def documents_delete(collection_id: Id, document_id: Id, key: str | None) -> Call[None]:
    path = f"{collection_path(collection_id)}/documents/{document_id}"
    return Call("DELETE", path, _nothing, idempotency_key=key)


def knowledge_crawl(collection_id: Id, body: dict[str, Any], key: str | None) -> Call[str]:
    path = f"{collection_path(collection_id)}/crawl"
    return Call("POST", path, _workflow_id, json=body, idempotency_key=key)


def knowledge_refresh(collection_id: Id, key: str | None) -> Call[str]:
    path = f"{collection_path(collection_id)}/refresh"
    return Call("POST", path, _workflow_id, idempotency_key=key)


def knowledge_search(
    collection_id: Id, query: str, limit: int, mode: str | None
) -> Call[list[SearchResult]]:
    """A read sent as POST: no Idempotency-Key, safe to retry."""
    path = f"{collection_path(collection_id)}/search"
    body = body_of(query=query, limit=limit, mode=mode)
    return Call("POST", path, _results, json=body, idempotent_write=False)


# The config contract and the caller


def config_schema() -> Call[Any]:
    return Call("GET", "/core/agent-config-schema", _json)


def validate_config(config: dict[str, Any]) -> Call[Any]:
    path = "/core/agent-config/validate"
    return Call("POST", path, _json, json=config, idempotent_write=False)


def my_scopes() -> Call[list[str]]:
    return Call("GET", "/admin/members/me/scopes", lambda r: [str(s) for s in r.json()])


def _jsonable(body: dict[str, Any]) -> dict[str, Any]:
    """UUIDs (e.g. ids taken from a read model) as strings."""
    return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in body.items()}


def body_of(**fields: Any) -> dict[str, Any]:
    """A request body with the unset (None) optional fields left out."""
    return _jsonable({k: v for k, v in fields.items() if v is not None})


# Agent tests, test runs, analytics


def tests_list(agent_id: Id, limit: int) -> PageCall[AgentTestRead]:
    return PageCall(f"{agent_path(agent_id)}/tests", AgentTestRead, {"limit": _page(limit)})


def tests_get(agent_id: Id, test_id: Id) -> Call[AgentTestRead]:
    return Call("GET", f"{agent_path(agent_id)}/tests/{test_id}", _model(AgentTestRead))


def tests_create(agent_id: Id, body: dict[str, Any], key: str | None) -> Call[AgentTestRead]:
    path = f"{agent_path(agent_id)}/tests"
    return Call("POST", path, _model(AgentTestRead), json=_jsonable(body), idempotency_key=key)


def tests_replace(
    agent_id: Id, test_id: Id, body: dict[str, Any], key: str | None
) -> Call[AgentTestRead]:
    path = f"{agent_path(agent_id)}/tests/{test_id}"
    return Call("PUT", path, _model(AgentTestRead), json=_jsonable(body), idempotency_key=key)


def tests_delete(agent_id: Id, test_id: Id, key: str | None) -> Call[None]:
    path = f"{agent_path(agent_id)}/tests/{test_id}"
    return Call("DELETE", path, _nothing, idempotency_key=key)


def test_settings_get(agent_id: Id) -> Call[TestSettingsRead]:
    return Call("GET", f"{agent_path(agent_id)}/test-settings", _model(TestSettingsRead))


def test_settings_put(agent_id: Id, require: bool, key: str | None) -> Call[TestSettingsRead]:
    return Call(
        "PUT",
        f"{agent_path(agent_id)}/test-settings",
        _model(TestSettingsRead),
        json={"require_passing_tests": require},
        idempotency_key=key,
    )


def test_runs_start(
    agent_id: Id, version: int, tests: list[str] | None, key: str | None
) -> Call[TestRunRead]:
    path = f"{agent_path(agent_id)}/versions/{version}/test-runs"
    return Call("POST", path, _model(TestRunRead), json={"tests": tests}, idempotency_key=key)


def test_runs_get(run_id: Id) -> Call[TestRunRead]:
    return Call("GET", f"/core/test-runs/{run_id}", _model(TestRunRead))


def test_runs_list(
    agent_id: Id, version: int | None, status: str | None, limit: int
) -> PageCall[TestRunRead]:
    params = clean_params(version=version, status=status, limit=_page(limit))
    return PageCall(f"{agent_path(agent_id)}/test-runs", TestRunRead, params)


def analytics_conversations(params: dict[str, Any]) -> Call[ConversationAnalytics]:
    return Call(
        "GET",
        "/core/analytics/conversations",
        _model(ConversationAnalytics),
        params=clean_params(**params),
    )
