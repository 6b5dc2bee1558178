"""`/console`: the web console's pages (HTML; not in the OpenAPI document).

Every page reads through the domain repositories and writes through the domain services, in one
transaction per request, with the same scopes as the API (`web.acting` checks the CSRF token and
the scope of every state-changing request; the templates hide what the subject may not do).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from pydantic import ValidationError

from callplane.agent_config.schemas import validate_config
from callplane.agents.repository import AgentRepository
from callplane.agents.schemas import AgentCreate
from callplane.agents.service import AgentService, sip_endpoint
from callplane.audit import recorder as audit
from callplane.audit.repository import AuditEventRepository
from callplane.auth.scopes import ALL_SCOPES, Scope
from callplane.console import sessions
from callplane.console.sessions import COOKIE, SignInRefused
from callplane.console.web import (
    LOGIN_CSRF_COOKIE,
    ConsoleRoute,
    acting,
    check_login_csrf,
    field_errors,
    field_errors_text,
    form,
    login_csrf,
    page_uuid,
    render,
    require,
    secure_cookies,
    set_session_cookie,
    signed_in,
    sse,
    transaction,
)
from callplane.conversations.live import LiveConversationService, prepare_turn
from callplane.conversations.repository import ConversationRepository
from callplane.conversations.service import to_read as conversation_read
from callplane.errors import AppError, NotFound, PreconditionFailed
from callplane.kit.etags import etag_for
from callplane.kit.filters import TimeFilters
from callplane.models import AgentVersion, PhoneNumber
from callplane.organizations.repository import ApiKeyRepository
from callplane.organizations.schemas import ApiKeyCreate
from callplane.organizations.service import OrganizationService
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164
from callplane.phone_numbers.repository import PhoneNumberRepository
from callplane.phone_numbers.schemas import PhoneNumberCreate, Slot
from callplane.phone_numbers.service import PhoneNumberService
from callplane.phone_numbers.slots import holder
from callplane.publishing.schemas import Direction, PublishRequest
from callplane.publishing.service import PublishingService
from callplane.scaffolding.schemas import CreateFromWebsite
from callplane.scaffolding.service import ScaffoldingService
from callplane.versions import generation
from callplane.versions.diff import diff_configs
from callplane.versions.errors import VersionNotFound
from callplane.versions.repository import VersionRepository
from callplane.versions.schemas import GenerationRun, VersionCreate, VersionUpdate
from callplane.versions.service import VersionService
from callplane.voice.browser import browser_call
from callplane.webhooks.repository import DeliveryRepository, WebhookRepository
from callplane.webhooks.schemas import WebhookCreate
from callplane.webhooks.service import WebhookService
from callplane.workflows.repository import WorkflowRunRepository
from callplane.workflows.schemas import FINISHED
from callplane.workflows.service import WorkflowService, derive_workflow_id
from callplane.workflows.service import to_read as workflow_read

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

PAGE = 25
AGENTS_MANAGE = Scope.AGENTS_MANAGE.value
# The AgentConfig fields the editor shows as a form; the rest is edited as JSON.
FORM_FIELDS = ("instructions", "starting_message", "llm.model", "llm.temperature", "max_tool_steps")


def _bool(raw: str | None) -> bool | None:
    return {"true": True, "false": False}.get(raw or "")


# --- Sign-in ------------------------------------------------------------------------------------


@router.get("")
async def console_home() -> Response:
    return RedirectResponse("/console/agents", status_code=303)


def _login_page(
    request: Request, context: dict[str, Any] | None = None, *, status: int = 200
) -> Response:
    token = login_csrf(request)
    reason = request.query_params.get("reason")
    notice = "Your session expired: sign in again." if reason == "expired" else None
    page = render(
        request,
        "login.html",
        {"login_csrf": token, "next": request.query_params.get("next", ""), "notice": notice}
        | (context or {}),
        status=status,
    )
    page.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return page


@router.get("/login")
async def login(request: Request) -> Response:
    return _login_page(request)


def _signed_in_redirect(request: Request, cookie: str, next_url: str | None) -> Response:
    target = next_url if next_url and next_url.startswith("/console/") else "/console/agents"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, cookie)
    return response


def _minutes(request: Request) -> int:
    return int(request.app.state.settings.console_session_minutes)


@router.get("/login/link")
async def login_link(request: Request) -> Response:
    """The page a login link opens: says who it signs in; the button POSTs (a link fetched by a
    mail scanner or a preview signs nobody in)."""
    token = request.query_params.get("token", "")
    async with transaction(request, write=False) as session:
        found = await sessions.peek_login_link(session, token)
    if found is None:
        return _login_page(
            request,
            {"error": "This login link is invalid, used or expired. Ask for a new one."},
            status=401,
        )
    user, organization = found
    page = _login_page(request, {"link_token": token, "link_user": user, "link_org": organization})
    return page


@router.post("/login/link")
async def login_with_link(request: Request) -> Response:
    fields = await form(request)
    check_login_csrf(request, fields)
    try:
        async with transaction(request, write=True) as session:
            cookie = await sessions.sign_in_with_link(
                session, fields.get("token", ""), _minutes(request)
            )
    except SignInRefused as refused:
        return _login_page(request, {"error": refused.detail}, status=401)
    return _signed_in_redirect(request, cookie, fields.get("next"))


@router.post("/login/token")
async def login_with_token(request: Request) -> Response:
    fields = await form(request)
    check_login_csrf(request, fields)
    raw = fields.get("token", "")
    chosen = fields.get("organization_id", "")
    try:
        async with transaction(request, write=True) as session:
            if not chosen:
                _, organizations = await sessions.organizations_of_token(session, raw)
                if len(organizations) != 1:
                    if not organizations:
                        raise SignInRefused("This user belongs to no organization.")
                    return _login_page(
                        request, {"token_value": raw, "organizations": organizations}
                    )
                chosen = str(organizations[0].id)
            cookie = await sessions.sign_in_with_token(
                session, raw, page_uuid(chosen), _minutes(request)
            )
    except (SignInRefused, NotFound) as refused:
        return _login_page(request, {"token_error": refused.detail}, status=401)
    return _signed_in_redirect(request, cookie, fields.get("next"))


@router.post("/login/api-key")
async def login_with_api_key(request: Request) -> Response:
    fields = await form(request)
    check_login_csrf(request, fields)
    try:
        async with transaction(request, write=True) as session:
            cookie = await sessions.sign_in_with_api_key(
                session, fields.get("api_key", ""), _minutes(request)
            )
    except SignInRefused as refused:
        return _login_page(request, {"api_key_error": refused.detail}, status=401)
    return _signed_in_redirect(request, cookie, fields.get("next"))


@router.post("/logout")
async def logout(request: Request) -> Response:
    subject, _ = await acting(request)
    async with transaction(request, write=True) as session:
        await sessions.revoke(session, subject.session_id)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# --- Agents -------------------------------------------------------------------------------------


@router.get("/agents")
async def agents_page(request: Request) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    query = request.query_params
    name = (query.get("name") or "").strip()[:200] or None
    active = _bool(query.get("active"))
    is_demo = _bool(query.get("is_demo"))
    cursor = query.get("cursor") or None
    async with transaction(request, write=False) as session:
        rows, next_cursor = await AgentRepository(session, subject.organization_id).list(
            name=name,
            active=active,
            is_demo=is_demo,
            metadata=None,
            times=TimeFilters(),
            limit=PAGE,
            cursor=cursor,
        )
    filters = {
        "name": name or "",
        "active": query.get("active", ""),
        "is_demo": query.get("is_demo", ""),
    }
    return render(
        request,
        "agents.html",
        {"agents": rows, "next_cursor": next_cursor, "filters": filters, "paged": bool(cursor)},
    )


@router.get("/agents/new")
async def new_agent_page(request: Request) -> Response:
    subject = await signed_in(request)
    require(subject, AGENTS_MANAGE)
    return render(request, "agent_new.html", {"values": {}, "errors": {}})


@router.post("/agents")
async def create_agent(request: Request) -> Response:
    subject, fields = await acting(request, AGENTS_MANAGE)
    values = {
        "name": fields.get("name", ""),
        "description": fields.get("description") or None,
        "active": fields.get("active") == "on",
        "is_demo": fields.get("is_demo") == "on",
    }
    try:
        body = AgentCreate.model_validate(values)
    except ValidationError as invalid:
        return render(
            request,
            "agent_new.html",
            {"values": values, "errors": field_errors(invalid)},
            status=422,
        )
    async with transaction(request, write=True) as session:
        agent = await AgentService(session, subject.organization_id).create(body)
        if fields.get("first_draft", "on") == "on":
            await VersionService(session, subject.organization_id).latest(agent.id)
    return RedirectResponse(f"/console/agents/{agent.id}", status_code=303)


@router.get("/agents/{agent_id}")
async def agent_page(request: Request, agent_id: str) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    org = subject.organization_id
    async with transaction(request, write=False) as session:
        service = AgentService(session, org)
        agent = await service.get(page_uuid(agent_id))
        detail = await service.assemble_detail(agent.id, request.app.state.settings.sip_domain)
    return render(
        request,
        "agent.html",
        {
            "agent": agent,
            "detail": detail,
            "sip": sip_endpoint(agent, request.app.state.settings.sip_domain),
        },
    )


@router.post("/agents/{agent_id}/versions")
async def create_version(request: Request, agent_id: str) -> Response:
    """A new draft: a copy of `base_version` (default: the newest draft, made if none)."""
    subject, fields = await acting(request, AGENTS_MANAGE)
    base = fields.get("base_version", "")
    async with transaction(request, write=True) as session:
        service = VersionService(session, subject.organization_id)
        if base.isdigit():
            draft = await service.create(page_uuid(agent_id), VersionCreate(base_version=int(base)))
        else:
            draft = await service.latest(page_uuid(agent_id))
    return RedirectResponse(f"/console/agents/{agent_id}/versions/{draft.version}", status_code=303)


async def _version(request: Request, agent_id: str, number: str) -> tuple[Any, AgentVersion]:
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    if not number.isdigit() or len(number) > 9:
        raise VersionNotFound()
    async with transaction(request, write=False) as session:
        service = VersionService(session, subject.organization_id)
        agent = await service.agent(page_uuid(agent_id))
        version = await service.get(agent.id, int(number))
    return agent, version


def _form_values(config: dict[str, Any]) -> dict[str, Any]:
    llm = config.get("llm") if isinstance(config.get("llm"), dict) else {}
    return {
        "instructions": config.get("instructions", ""),
        "starting_message": config.get("starting_message") or "",
        "llm.model": (llm or {}).get("model", ""),
        "llm.temperature": (llm or {}).get("temperature", ""),
        "max_tool_steps": config.get("max_tool_steps", ""),
    }


def _editor(
    request: Request,
    agent: Any,
    version: AgentVersion,
    *,
    config_text: str | None = None,
    inputs_text: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    conflict: str | None = None,
    etag: str | None = None,
    status: int = 200,
) -> Response:
    config_text = config_text or orjson.dumps(version.config, option=orjson.OPT_INDENT_2).decode()
    try:
        shown = orjson.loads(config_text)
    except orjson.JSONDecodeError:
        shown = {}
    field_errors: dict[str, str] = {}
    other_errors: list[dict[str, str]] = []
    for issue in errors or []:
        path = ".".join(str(p) for p in issue.get("loc", []))
        if path in FORM_FIELDS and path not in field_errors:
            field_errors[path] = issue["msg"]
        else:
            other_errors.append({"path": path or "(config)", "msg": issue["msg"]})
    inputs = version.instruction_builder_inputs
    return render(
        request,
        "version.html",
        {
            "agent": agent,
            "version": version,
            "config_text": config_text,
            "values": _form_values(shown if isinstance(shown, dict) else {}),
            "field_errors": field_errors,
            "other_errors": other_errors,
            "conflict": conflict,
            "etag": etag or etag_for(version.revision),
            "inputs_text": inputs_text
            if inputs_text is not None
            else (orjson.dumps(inputs, option=orjson.OPT_INDENT_2).decode() if inputs else ""),
        },
        status=status,
    )


@router.get("/agents/{agent_id}/versions/{number}")
async def version_page(request: Request, agent_id: str, number: str) -> Response:
    agent, version = await _version(request, agent_id, number)
    return _editor(request, agent, version)


def _apply_form(config: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """The form fields win over the JSON they mirror (the page keeps both in step)."""
    if "instructions" in fields:
        config["instructions"] = fields["instructions"]
    if "starting_message" in fields:
        config["starting_message"] = fields["starting_message"] or None
    llm = config.get("llm")
    if not isinstance(llm, dict):
        llm = config["llm"] = {} if llm is None else llm
    if isinstance(llm, dict):
        if fields.get("llm.model"):
            llm["model"] = fields["llm.model"]
        if fields.get("llm.temperature", "") != "":
            llm["temperature"] = _number(fields["llm.temperature"])
    if fields.get("max_tool_steps", "") != "":
        config["max_tool_steps"] = _number(fields["max_tool_steps"])
    return config


def _number(raw: str) -> Any:
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw  # left for validation to name


@router.post("/agents/{agent_id}/versions/{number}")
async def save_version(request: Request, agent_id: str, number: str) -> Response:
    subject, fields = await acting(request, AGENTS_MANAGE)
    agent, version = await _version(request, agent_id, number)
    config_text = fields.get("config", "")
    inputs_text = fields.get("instruction_builder_inputs", "")
    try:
        config = orjson.loads(config_text)
    except orjson.JSONDecodeError as bad:
        errors = [{"loc": [], "msg": f"Not valid JSON: {bad}"}]
        return _editor(request, agent, version, config_text=config_text, errors=errors, status=422)
    if isinstance(config, dict):
        config = _apply_form(config, fields)
    config_text = orjson.dumps(config, option=orjson.OPT_INDENT_2).decode()
    model, errors = validate_config(config)
    inputs: Any = None
    if inputs_text.strip():
        try:
            inputs = orjson.loads(inputs_text)
        except orjson.JSONDecodeError as bad:
            errors.append({"loc": ["instruction_builder_inputs"], "msg": f"Not valid JSON: {bad}"})
    if model is None or errors:
        return _editor(
            request,
            agent,
            version,
            config_text=config_text,
            inputs_text=inputs_text,
            errors=errors,
            etag=fields.get("etag"),
            status=422,
        )
    try:
        body = VersionUpdate.model_validate(
            {"config": model, "instruction_builder_inputs": inputs}
            if inputs_text.strip() or version.instruction_builder_inputs
            else {"config": model}
        )
    except ValidationError as invalid:
        issues = [
            {"loc": list(e["loc"]), "msg": e["msg"]}
            for e in invalid.errors(include_url=False, include_input=False, include_context=False)
        ]
        return _editor(
            request, agent, version, config_text=config_text, inputs_text=inputs_text,
            errors=issues, etag=fields.get("etag"), status=422,
        )  # fmt: skip
    try:
        async with transaction(request, write=True) as session:
            saved = await VersionService(session, subject.organization_id).update(
                agent.id, version.version, body, fields.get("etag") or None
            )
    except PreconditionFailed:
        _, current = await _version(request, agent_id, number)
        return _editor(
            request,
            agent,
            current,
            config_text=config_text,
            inputs_text=inputs_text,
            conflict="Someone else saved this draft after you opened it. Your edits are below "
            "but were not saved: reload to see theirs, then apply yours again.",
            etag=fields.get("etag"),
            status=412,
        )
    if fields.get("then") == "generate":
        return await _start_generation(request, subject, agent.id, saved)
    return RedirectResponse(
        f"/console/agents/{agent.id}/versions/{saved.version}?saved=1", status_code=303
    )


async def _start_generation(
    request: Request, subject: Any, agent_id: uuid.UUID, version: AgentVersion
) -> Response:
    async with transaction(request, write=True) as session:
        draft = await VersionService(session, subject.organization_id).start_generation(
            agent_id, version.version
        )
        run = await WorkflowService(session, subject.organization_id).start(
            workflow_id=derive_workflow_id(request),
            type_=generation.TYPE,
            input_=GenerationRun(
                agent_id=agent_id,
                version_id=draft.id,
                version=draft.version,
                inputs=draft.instruction_builder_inputs or {},
                instructions_before=draft.config.get("instructions", ""),
            ).model_dump(mode="json"),
            total_steps=generation.TOTAL_STEPS,
        )
    return RedirectResponse(f"/console/workflows/{run.id}", status_code=303)


@router.post("/agents/{agent_id}/versions/{number}/generate")
async def generate_instructions(request: Request, agent_id: str, number: str) -> Response:
    subject, _ = await acting(request, AGENTS_MANAGE)
    agent, version = await _version(request, agent_id, number)
    return await _start_generation(request, subject, agent.id, version)


@router.post("/validate")
async def validate(request: Request) -> Response:
    """The editor's live validation: what POST /core/agent-config/validate answers."""
    await acting(request, Scope.AGENTS_READ)
    try:
        config = orjson.loads(await request.body())
    except orjson.JSONDecodeError as bad:
        return JSONResponse({"valid": False, "errors": [{"loc": [], "msg": f"Not JSON: {bad}"}]})
    model, errors = validate_config(config)
    return JSONResponse({"valid": model is not None, "errors": errors})


# --- Publishing ---------------------------------------------------------------------------------


def _numbers(raw: str) -> list[str]:
    return [part.strip() for part in raw.replace(",", "\n").splitlines() if part.strip()]


async def _moves(
    request: Request, subject: Any, agent_id: uuid.UUID, version: int, raw: str, direction: str
) -> tuple[list[str], list[str]]:
    """Warnings for each slot that would move from another agent or version, and problems."""
    warnings: list[str] = []
    problems: list[str] = []
    slots: tuple[Slot, ...] = (
        ("inbound", "outbound") if direction == "both" else (cast(Slot, direction),)
    )
    async with transaction(request, write=False) as session:
        numbers = PhoneNumberRepository(session, subject.organization_id)
        agents = AgentRepository(session, subject.organization_id)
        for entered in _numbers(raw):
            try:
                number = to_e164(entered)
            except InvalidPhoneNumber:
                problems.append(f"{entered!r} is not a valid phone number.")
                continue
            record: PhoneNumber | None = await numbers.get_by_number(number)
            if record is None:
                problems.append(f"{number} is not registered in this organization.")
                continue
            for slot in slots:
                held = holder(record, slot)
                if held is None:
                    continue
                if held.agent_id != agent_id:
                    other = await agents.get(held.agent_id)
                    name = other.name if other is not None else str(held.agent_id)
                    warnings.append(
                        f"{number} ({slot}) moves from agent “{name}” (version {held.version})."
                    )
                elif held.version != version:
                    warnings.append(
                        f"{number} ({slot}) moves from version {held.version} of this agent."
                    )
    return warnings, problems


@router.get("/agents/{agent_id}/versions/{number}/publish")
async def publish_page(request: Request, agent_id: str, number: str) -> Response:
    agent, version = await _version(request, agent_id, number)
    return render(
        request,
        "publish.html",
        {"agent": agent, "version": version, "numbers": "", "direction": "inbound"},
    )


@router.post("/agents/{agent_id}/versions/{number}/publish/preview")
async def publish_preview(request: Request, agent_id: str, number: str) -> Response:
    subject, fields = await acting(request, AGENTS_MANAGE)
    agent, version = await _version(request, agent_id, number)
    warnings, problems = await _moves(
        request,
        subject,
        agent.id,
        version.version,
        fields.get("phone_numbers", ""),
        _direction(fields),
    )
    return render(request, "publish_warnings.html", {"warnings": warnings, "problems": problems})


def _direction(fields: dict[str, str]) -> str:
    direction = fields.get("direction", "inbound")
    return direction if direction in ("inbound", "outbound", "both") else "inbound"


@router.post("/agents/{agent_id}/versions/{number}/publish")
async def publish(request: Request, agent_id: str, number: str) -> Response:
    subject, fields = await acting(request, AGENTS_MANAGE)
    agent, version = await _version(request, agent_id, number)
    raw = fields.get("phone_numbers", "")
    direction = _direction(fields)
    warnings, problems = await _moves(request, subject, agent.id, version.version, raw, direction)
    context = {
        "agent": agent,
        "version": version,
        "numbers": raw,
        "direction": direction,
        "warnings": warnings,
        "problems": problems,
    }
    if problems or (warnings and fields.get("confirm") != "yes"):
        context["confirming"] = not problems
        return render(request, "publish.html", context, status=409 if warnings else 422)
    try:
        async with transaction(request, write=True) as session:
            await PublishingService(session, subject.organization_id).publish(
                agent.id,
                version.version,
                PublishRequest(
                    phone_numbers=_numbers(raw) or None, direction=cast(Direction, direction)
                ),
            )
    except AppError as refused:
        context["problems"] = [refused.detail]
        return render(request, "publish.html", context, status=refused.status)
    return RedirectResponse(f"/console/agents/{agent.id}?published={version.version}", 303)


# --- Compare ------------------------------------------------------------------------------------


@router.get("/agents/{agent_id}/compare")
async def compare_page(request: Request, agent_id: str) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    query = request.query_params
    async with transaction(request, write=False) as session:
        service = VersionService(session, subject.organization_id)
        agent = await service.agent(page_uuid(agent_id))
        versions = list(
            await VersionRepository(session, subject.organization_id).summaries(agent.id)
        )
        before = after = None
        changes: list[Any] = []
        numbers = [v.version for v in versions]
        wanted_from = query.get("from") or (str(numbers[1]) if len(numbers) > 1 else "")
        wanted_to = query.get("to") or (str(numbers[0]) if numbers else "")
        if wanted_from.isdigit() and wanted_to.isdigit():
            before = await service.get(agent.id, int(wanted_from))
            after = await service.get(agent.id, int(wanted_to))
            changes = diff_configs(before.config, after.config)
    return render(
        request,
        "compare.html",
        {
            "agent": agent,
            "versions": versions,
            "before": before,
            "after": after,
            "changes": [
                {
                    "path": c.path,
                    "op": c.op,
                    "before": _show(c.before),
                    "after": _show(c.after),
                }
                for c in changes
            ],
        },
    )


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


@router.post("/agents/{agent_id}/compare/summary")
async def compare_summary(request: Request, agent_id: str) -> Response:
    """The plain-language summary of a comparison, streamed as the writer writes it."""
    subject, fields = await acting(request, Scope.AGENTS_READ)
    start, end = fields.get("from", ""), fields.get("to", "")
    if not (start.isdigit() and end.isdigit()):
        raise VersionNotFound()
    async with transaction(request, write=False) as session:
        service = VersionService(session, subject.organization_id)
        agent = await service.agent(page_uuid(agent_id))
        before = await service.get(agent.id, int(start))
        after = await service.get(agent.id, int(end))
    changes = diff_configs(before.config, after.config)
    chunks = request.app.state.writer.summarize_changes(
        changes, from_version=before.version, to_version=after.version
    )

    async def encoded() -> AsyncIterator[bytes]:
        async for chunk in chunks:
            yield chunk.encode()

    return StreamingResponse(encoded(), media_type="text/plain; charset=utf-8")


# --- Phone numbers ------------------------------------------------------------------------------


@router.get("/numbers")
async def numbers_page(request: Request) -> Response:
    return await _numbers_page(request)


async def _numbers_page(
    request: Request, *, values: dict[str, str] | None = None, error: str | None = None
) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.PHONE_NUMBERS_READ)
    cursor = request.query_params.get("cursor") or None
    async with transaction(request, write=False) as session:
        rows, next_cursor = await PhoneNumberRepository(session, subject.organization_id).list(
            phone_number=None, agent_id=None, assigned=None, limit=PAGE, cursor=cursor
        )
        agent_ids = {a for r in rows for a in (r.inbound_agent_id, r.outbound_agent_id) if a}
        agents = AgentRepository(session, subject.organization_id)
        names = {a: (await agents.get(a)) for a in agent_ids}
    return render(
        request,
        "numbers.html",
        {
            "numbers": rows,
            "next_cursor": next_cursor,
            "names": {k: v.name for k, v in names.items() if v is not None},
            "values": values or {},
            "error": error,
        },
        status=422 if error else 200,
    )


@router.post("/numbers")
async def register_number(request: Request) -> Response:
    subject, fields = await acting(request, Scope.PHONE_NUMBERS_MANAGE)
    try:
        body = PhoneNumberCreate(
            phone_number=fields.get("phone_number", ""), label=fields.get("label") or None
        )
    except ValidationError as invalid:
        return await _numbers_page(
            request, values=fields, error="; ".join(field_errors(invalid).values())
        )
    try:
        async with transaction(request, write=True) as session:
            await PhoneNumberService(session, subject.organization_id).register(body)
    except AppError as refused:
        return await _numbers_page(request, values=fields, error=refused.detail)
    return RedirectResponse("/console/numbers", status_code=303)


# --- Workflows and the website wizard ----------------------------------------------------------


@router.get("/workflows")
async def workflows_page(request: Request) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    cursor = request.query_params.get("cursor") or None
    async with transaction(request, write=False) as session:
        rows, next_cursor = await WorkflowRunRepository(session, subject.organization_id).list(
            type_=None, status=None, limit=PAGE, cursor=cursor
        )
    return render(
        request,
        "workflows.html",
        {"runs": [workflow_read(r) for r in rows], "next_cursor": next_cursor},
    )


async def _run(request: Request, workflow_id: str) -> Any:
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    async with transaction(request, write=False) as session:
        run = await WorkflowRunRepository(session, subject.organization_id).get_run(workflow_id)
    if run is None:
        raise NotFound("No such workflow in this organization.")
    return workflow_read(run)


@router.get("/workflows/{workflow_id}")
async def workflow_page(request: Request, workflow_id: str) -> Response:
    run = await _run(request, workflow_id)
    return render(request, "workflow.html", {"run": run, "finished": run.status in FINISHED})


@router.get("/workflows/{workflow_id}/events")
async def workflow_events(request: Request, workflow_id: str) -> Response:
    """Server-Sent Events: the run's state each time it changes, until it finishes."""
    first = await _run(request, workflow_id)

    async def events() -> AsyncIterator[bytes]:
        run, last = first, b""
        for _ in range(1200):  # 10 minutes at most; the page reconnects if it wants more
            data = run.model_dump_json().encode()
            if data != last:
                yield b"event: progress\ndata: " + data + b"\n\n"
                last = data
            if run.status in FINISHED:
                yield b"event: finished\ndata: " + data + b"\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.5)
            run = await _run(request, workflow_id)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/build")
async def build_page(request: Request) -> Response:
    subject = await signed_in(request)
    require(subject, AGENTS_MANAGE)
    return render(request, "build.html", {"values": {}, "errors": {}})


@router.post("/build")
async def build(request: Request) -> Response:
    subject, fields = await acting(request, AGENTS_MANAGE)
    values = {
        "company_name": fields.get("company_name", ""),
        "company_website": fields.get("company_website", ""),
        "company_overview": fields.get("company_overview") or None,
        "skip_deployment": fields.get("skip_deployment") == "on",
    }
    try:
        body = CreateFromWebsite.model_validate(values)
    except ValidationError as invalid:
        errors = field_errors(invalid)
        return render(request, "build.html", {"values": values, "errors": errors}, status=422)
    try:
        async with transaction(request, write=True) as session:
            run = await ScaffoldingService(session, subject.organization_id).start_from_website(
                body, request
            )
    except AppError as refused:
        errors = {"company_website": refused.detail}
        return render(request, "build.html", {"values": values, "errors": errors}, status=422)
    return RedirectResponse(f"/console/workflows/{run.id}", status_code=303)


# --- Conversations, audit, webhooks, API keys ---------------------------------------------------


@router.get("/conversations")
async def conversations_page(request: Request) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.CONVERSATIONS_READ)
    query = request.query_params
    agent = query.get("agent_id") or None
    async with transaction(request, write=False) as session:
        rows, next_cursor = await ConversationRepository(session, subject.organization_id).list(
            agent_id=page_uuid(agent) if agent else None,
            channel=query.get("channel") or None,
            status=None,
            direction=None,
            times=TimeFilters(),
            limit=PAGE,
            cursor=query.get("cursor") or None,
        )
    return render(
        request,
        "conversations.html",
        {"conversations": rows, "next_cursor": next_cursor, "agent_id": agent or ""},
    )


@router.get("/conversations/{conversation_id}")
async def conversation_page(request: Request, conversation_id: str) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.CONVERSATIONS_READ)
    async with transaction(request, write=False) as session:
        row = await ConversationRepository(session, subject.organization_id).get(
            page_uuid(conversation_id)
        )
    if row is None:
        raise NotFound("No such conversation in this organization.")
    return render(
        request, "conversation.html", {"conversation": conversation_read(row, subject.auth)}
    )


@router.get("/audit")
async def audit_page(request: Request) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.AUDIT_READ)
    query = request.query_params
    async with transaction(request, write=False) as session:
        rows, next_cursor = await AuditEventRepository(session, subject.organization_id).list(
            action=query.get("action") or None,
            resource_type=query.get("resource_type") or None,
            resource_id=query.get("resource_id") or None,
            actor_id=None,
            created_after=None,
            created_before=None,
            limit=PAGE,
            cursor=query.get("cursor") or None,
        )
    return render(
        request,
        "audit.html",
        {
            "events": rows,
            "next_cursor": next_cursor,
            "filters": {k: query.get(k, "") for k in ("action", "resource_type", "resource_id")},
        },
    )


@router.get("/webhooks")
async def webhooks_page(request: Request) -> Response:
    return await _webhooks_page(request)


async def _webhooks_page(
    request: Request, *, values: dict[str, str] | None = None, error: str | None = None
) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.WEBHOOKS_MANAGE)
    async with transaction(request, write=False) as session:
        rows, next_cursor = await WebhookRepository(session, subject.organization_id).list(
            limit=PAGE, cursor=request.query_params.get("cursor") or None
        )
    return render(
        request,
        "webhooks.html",
        {"webhooks": rows, "next_cursor": next_cursor, "values": values or {}, "error": error},
        status=422 if error else 200,
    )


@router.post("/webhooks")
async def create_webhook(request: Request) -> Response:
    subject, fields = await acting(request, Scope.WEBHOOKS_MANAGE)
    try:
        body = WebhookCreate(
            url=fields.get("url", ""),
            events=[e.strip() for e in fields.get("events", "").split(",") if e.strip()],
            description=fields.get("description") or None,
        )
    except ValidationError as invalid:
        error = field_errors_text(invalid)
        return await _webhooks_page(request, values=fields, error=error)
    allow = bool(request.app.state.settings.crawler_allow_private_networks)
    try:
        async with transaction(request, write=True) as session:
            await WebhookService(session, subject.organization_id).create(
                body, allow_private_networks=allow
            )
    except AppError as refused:
        return await _webhooks_page(request, values=fields, error=refused.detail)
    return RedirectResponse("/console/webhooks", status_code=303)


@router.get("/webhooks/{webhook_id}")
async def webhook_page(request: Request, webhook_id: str) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.WEBHOOKS_MANAGE)
    async with transaction(request, write=False) as session:
        webhook = await WebhookService(session, subject.organization_id).get(page_uuid(webhook_id))
        deliveries, next_cursor = await DeliveryRepository(session, subject.organization_id).list(
            webhook.id, status=None, limit=PAGE, cursor=request.query_params.get("cursor") or None
        )
    return render(
        request,
        "webhook.html",
        {"webhook": webhook, "deliveries": deliveries, "next_cursor": next_cursor},
    )


@router.get("/api-keys")
async def api_keys_page(request: Request) -> Response:
    return await _api_keys_page(request)


async def _api_keys_page(
    request: Request, *, issued: str | None = None, error: str | None = None
) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.API_KEYS_MANAGE)
    async with transaction(request, write=False) as session:
        rows, next_cursor = await ApiKeyRepository(session, subject.organization_id).list(
            limit=PAGE, cursor=request.query_params.get("cursor") or None
        )
    return render(
        request,
        "api_keys.html",
        {
            "keys": rows,
            "next_cursor": next_cursor,
            "issued": issued,
            "error": error,
            "all_scopes": sorted(ALL_SCOPES),
        },
        status=422 if error else 200,
    )


@router.post("/api-keys")
async def create_api_key(request: Request) -> Response:
    subject, fields = await acting(request, Scope.API_KEYS_MANAGE)
    scopes = [s for s in sorted(ALL_SCOPES) if fields.get(f"scope:{s}") == "on"]
    name = fields.get("name", "").strip()
    if not name:
        return await _api_keys_page(request, error="Give the key a name.")
    try:
        async with transaction(request, write=True) as session:
            _, issued = await OrganizationService(session, subject.organization_id).create_key_for(
                subject.auth, ApiKeyCreate(name=name[:200], scopes=scopes or None)
            )
    except AppError as refused:
        return await _api_keys_page(request, error=refused.detail)
    return await _api_keys_page(request, issued=issued.credential)


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(request: Request, key_id: str) -> Response:
    subject, _ = await acting(request, Scope.API_KEYS_MANAGE)
    async with transaction(request, write=True) as session:
        await OrganizationService(session, subject.organization_id).revoke_api_key(
            page_uuid(key_id)
        )
    request.app.state.authenticator.evict(page_uuid(key_id))
    return RedirectResponse("/console/api-keys", status_code=303)


# --- Playground ---------------------------------------------------------------------------------


@router.get("/agents/{agent_id}/playground")
async def playground_page(request: Request, agent_id: str) -> Response:
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    async with transaction(request, write=False) as session:
        agent = await AgentService(session, subject.organization_id).get(page_uuid(agent_id))
        versions = list(
            await VersionRepository(session, subject.organization_id).summaries(agent.id)
        )
    wanted = request.query_params.get("version") or ("live" if agent.live_version else "")
    if not wanted and versions:
        wanted = str(versions[0].version)
    return render(
        request,
        "playground.html",
        {"agent": agent, "versions": versions, "wanted": wanted},
    )


@router.post("/agents/{agent_id}/playground/conversations")
async def playground_start(request: Request, agent_id: str) -> Response:
    """Start a conversation with the live version or a draft (JSON for the page's script)."""
    subject, fields = await acting(request, Scope.CONVERSATIONS_MANAGE)
    raw = fields.get("version", "live")
    version: Any = int(raw) if raw.isdigit() and len(raw) < 10 else "live"
    try:
        async with transaction(request, write=True) as session:
            started = await LiveConversationService(
                session, subject.organization_id, request.app.state.live_runtime
            ).start(
                page_uuid(agent_id),
                version=version,
                channel="text",
                metadata={"source": "console_playground"},
            )
    except AppError as refused:
        return JSONResponse(
            {"detail": refused.detail, "code": refused.code}, status_code=refused.status
        )
    return JSONResponse(
        {
            "conversation_id": str(started.conversation.id),
            "version": started.version,
            "model": started.model,
            "starting_message": started.starting_message,
        },
        status_code=201,
    )


@router.post("/conversations/{conversation_id}/messages")
async def playground_say(request: Request, conversation_id: str) -> Response:
    """One turn, streamed as Server-Sent Events (the events of POST /core/conversations/{id}/
    messages); no transaction is held while the agent answers."""
    subject, fields = await acting(request, Scope.CONVERSATIONS_MANAGE)
    try:
        prepared = await prepare_turn(
            request.app.state.database,
            request.app.state.live_runtime,
            subject.organization_id,
            page_uuid(conversation_id),
            fields.get("content", ""),
        )
    except AppError as refused:
        return JSONResponse(
            {"detail": refused.detail, "code": refused.code}, status_code=refused.status
        )

    async def stream() -> AsyncIterator[bytes]:
        async for event in prepared.events():
            yield sse(event)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/conversations/{conversation_id}/end")
async def playground_end(request: Request, conversation_id: str) -> Response:
    subject, _ = await acting(request, Scope.CONVERSATIONS_MANAGE)
    async with transaction(request, write=True) as session:
        await LiveConversationService(
            session, subject.organization_id, request.app.state.live_runtime
        ).end(page_uuid(conversation_id))
    return JSONResponse({"ended": True})


# --- Call an agent from the browser -------------------------------------------------------------


@router.get("/agents/{agent_id}/call")
async def call_page(request: Request, agent_id: str) -> Response:
    """The microphone over the voice gateway (docs/voice.md, "Call an agent from the browser")."""
    subject = await signed_in(request)
    require(subject, Scope.AGENTS_READ)
    async with transaction(request, write=False) as session:
        agent = await AgentService(session, subject.organization_id).get(page_uuid(agent_id))
        versions = list(
            await VersionRepository(session, subject.organization_id).summaries(agent.id)
        )
    wanted = request.query_params.get("version") or ("live" if agent.live_version else "")
    if not wanted and versions:
        wanted = str(versions[0].version)
    return render(request, "call.html", {"agent": agent, "versions": versions, "wanted": wanted})


@router.post("/agents/{agent_id}/call")
async def call_token(request: Request, agent_id: str) -> Response:
    """A short-lived call token for the page's media stream (JSON): the same scope as starting a
    conversation, since a call is one; the token opens one stream, which starts it."""
    subject, fields = await acting(request, Scope.CONVERSATIONS_MANAGE)
    try:
        async with transaction(request, write=False) as session:
            call = await browser_call(
                session,
                request.app.state.voice,
                subject.organization_id,
                page_uuid(agent_id),
                fields.get("version", "live"),
                audit.Actor.of(subject.auth),
            )
    except AppError as refused:
        return JSONResponse(
            {"detail": refused.detail, "code": refused.code}, status_code=refused.status
        )
    return JSONResponse(
        {
            "token": call.token,
            "call_id": call.call_id,
            "version": call.version,
            "stream_path": call.stream_path,
        },
        status_code=201,
    )
