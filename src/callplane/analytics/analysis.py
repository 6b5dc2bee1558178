"""Post-conversation analysis: a durable workflow that writes into each ended conversation what
can be known about it.

Offline (no `CALLPLANE_LLM_BASE_URL`) it writes what is computed honestly from the record —
turns, duration, tool calls and tools used, ended reason — and marks the parts that need a model
(summary, success verdict, extracted fields) `not_analyzed` with the reason. With a model it
fills them, following the `analysis` section of the conversation's agent version config.

A conversation is scheduled when it ends (`schedule`, after the transaction that ended or
imported it commits), as `pending`. The workflow analyzes a batch (an import's conversations, or
one live conversation), one checkpointed step per conversation; each step's write is
idempotent (the same values again) and its `conversation.analyzed` event exactly-once
(audit.recorder). Conversations left `pending` by a process that died before handing them over
are found by `sweep_pending`.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.agent_config import AgentConfig, AnalysisConfig
from callplane.analytics import metrics
from callplane.audit import recorder as audit
from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.session import after_commit
from callplane.db.types import utcnow
from callplane.llm import LLMError, OpenAICompatibleProvider
from callplane.llm.provider import Message
from callplane.models import AgentVersion, Conversation
from callplane.workflows import engine, steps
from callplane.workflows.runtime import runtime

logger = logging.getLogger("callplane.analytics")

TYPE = "analyze_conversations"  # the workflow's durable name
PENDING, ANALYZED, PARTIAL, FAILED = "pending", "analyzed", "partial", "failed"
NO_MODEL = "no language model is configured (CALLPLANE_LLM_BASE_URL)"
MAX_TRANSCRIPT_CHARS = 40_000
ANALYSIS_MAX_TOKENS = 800
_NAMESPACE = uuid.UUID("5b0d8f2e-7a41-4c55-9f0e-2d6f1b9e3c21")


def workflow_id(conversation_ids: Sequence[uuid.UUID]) -> str:
    """Deterministic per batch: scheduling the same conversations twice starts one workflow."""
    return "analysis-" + str(uuid.uuid5(_NAMESPACE, ",".join(sorted(map(str, conversation_ids)))))


def schedule(
    session: AsyncSession, organization_id: uuid.UUID, rows: Sequence[Conversation]
) -> None:
    """Mark the ended ones among `rows` `pending` and hand them to the engine once the session's
    transaction commits (a request's session runs `after_commit` hooks)."""
    ended = [row for row in rows if row.status != "in_progress"]
    if not ended:
        return
    for row in ended:
        row.analysis_status = PENDING
    ids = [row.id for row in ended]

    async def enqueue() -> None:
        if not engine.is_running():
            return  # left pending: the worker's sweep hands them over
        await engine.enqueue(TYPE, workflow_id(ids), str(organization_id), [str(i) for i in ids])

    after_commit(session, enqueue)


async def sweep_pending(database: Database, age: timedelta, limit: int = 500) -> int:
    """Hand over conversations left `pending` for longer than `age` (their process died between
    commit and hand-over). Enqueuing is idempotent by workflow id."""
    async with database.session(write=False) as session:
        rows = (
            await session.execute(
                select(Conversation.organization_id, Conversation.id)
                .where(
                    Conversation.analysis_status == PENDING,
                    Conversation.updated_at < utcnow() - age,
                )
                .limit(limit)
            )
        ).all()
    for organization_id, conversation_id in rows:
        await engine.enqueue(
            TYPE, workflow_id([conversation_id]), str(organization_id), [str(conversation_id)]
        )
    return len(rows)


# --- the workflow --------------------------------------------------------------------------------


async def analyze_conversations(organization_id: str, conversation_ids: list[str]) -> None:
    """The workflow `TYPE`: one step per conversation."""
    for conversation_id in conversation_ids:
        await engine.run_step(
            analyze_one, {"organization_id": organization_id, "id": conversation_id}
        )


async def analyze_one(target: dict[str, str]) -> dict[str, Any]:
    """The step: read, ask the model (if any, holding no transaction), write. A conversation
    analyzed before (a re-run) is analyzed again to the same effect."""
    organization_id = uuid.UUID(target["organization_id"])
    conversation_id = uuid.UUID(target["id"])
    database = runtime().database
    async with database.session(write=False) as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id,
                Conversation.organization_id == organization_id,
            )
        )
        if conversation is None:
            return {"status": "missing"}
        config = await _analysis_config(session, conversation)
        record = _snapshot(conversation)
    result = await analyze(record, config, runtime().settings)
    async with steps.transaction("analyze") as session:
        stored = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id,
                Conversation.organization_id == organization_id,
            )
        )
        if stored is None:
            return {"status": "missing"}
        stored.analysis = result
        stored.analysis_status = result["status"]
        stored.analyzed_at = utcnow()
        stored.tool_call_count = result["metrics"]["tool_calls"]
        if result["successful"] is not None:
            stored.successful = result["successful"]
        if result["summary"] is not None and stored.summary is None:
            stored.summary = result["summary"]
        await audit.record(
            session,
            organization_id,
            "conversation.analyzed",
            "conversation",
            conversation_id,
            {
                "agent_id": str(stored.agent_id) if stored.agent_id else None,
                "status": result["status"],
                "successful": stored.successful,
                "not_analyzed": sorted(result["not_analyzed"]),
            },
        )
    return {"status": result["status"]}


async def _analysis_config(session: AsyncSession, conversation: Conversation) -> AnalysisConfig:
    """The `analysis` section of the conversation's version (the defaults when it has none)."""
    if conversation.agent_version_id is None:
        return AnalysisConfig()
    raw = await session.scalar(
        select(AgentVersion.config).where(
            AgentVersion.id == conversation.agent_version_id,
            AgentVersion.organization_id == conversation.organization_id,
        )
    )
    if raw is None:
        return AnalysisConfig()
    try:
        return AgentConfig.model_validate(raw).analysis
    except ValidationError:
        return AnalysisConfig()


def _snapshot(conversation: Conversation) -> dict[str, Any]:
    return {
        "transcript": conversation.transcript,
        "turns": conversation.turns,
        "duration_seconds": conversation.duration_seconds,
        "ended_reason": conversation.ended_reason,
        "status": conversation.status,
        "successful": conversation.successful,
    }


# --- what is known -------------------------------------------------------------------------------


async def analyze(
    record: dict[str, Any], config: AnalysisConfig, settings: Settings
) -> dict[str, Any]:
    """The analysis of one conversation record (`_snapshot`), as stored in `analysis`."""
    transcript = record["transcript"]
    turns = record["turns"] if record["turns"] is not None else metrics.turns(transcript)
    computed = {
        "turns": turns,
        "duration_seconds": record["duration_seconds"],
        "tool_calls": metrics.tool_calls(transcript),
        "tools_used": metrics.tools_used(transcript),
        "ended_reason": record["ended_reason"],
        "status": record["status"],
    }
    result: dict[str, Any] = {
        "metrics": computed,
        "model": "offline",
        "summary": None,
        "successful": None,
        "success_reason": None,
        "fields": {},
        "not_analyzed": {},
    }
    wanted = []
    if config.summary:
        wanted.append("summary")
    if record["successful"] is not None:
        result["successful"] = record["successful"]
        result["success_reason"] = "given with the imported record"
    elif config.success_criterion:
        wanted.append("successful")
    wanted += [f"fields.{field.name}" for field in config.fields]
    if not wanted:
        result["status"] = ANALYZED
        return result
    if not settings.llm_base_url:
        result["not_analyzed"] = dict.fromkeys(wanted, NO_MODEL)
        result["status"] = PARTIAL
        return result
    if not transcript:
        result["not_analyzed"] = dict.fromkeys(wanted, "the conversation has no transcript")
        result["status"] = PARTIAL
        return result
    provider = OpenAICompatibleProvider(
        settings.llm_base_url,
        settings.llm_api_key or "none",
        settings.llm_model,
        timeout_seconds=settings.llm_timeout_seconds,
    )
    try:
        answer = await provider.complete(
            _messages(transcript, config, "successful" in wanted),
            max_tokens=ANALYSIS_MAX_TOKENS,
            temperature=0.0,
        )
    except LLMError as error:
        logger.warning("conversation analysis by the model failed", extra={"error": error.message})
        result["not_analyzed"] = dict.fromkeys(wanted, f"the language model failed: {error.code}")
        result["status"] = FAILED
        return result
    finally:
        await provider.aclose()
    result["model"] = settings.llm_model
    _read_answer(answer, config, wanted, result)
    result["status"] = PARTIAL if result["not_analyzed"] else ANALYZED
    return result


def _messages(transcript: list[Any], config: AnalysisConfig, judge: bool) -> list[Message]:
    lines = []
    for entry in transcript:
        if isinstance(entry, dict) and entry.get("role") in ("user", "agent", "tool"):
            lines.append(f"{entry['role']}: {entry.get('content') or ''}")
    text = "\n".join(lines)[-MAX_TRANSCRIPT_CHARS:]
    keys = []
    if config.summary:
        keys.append('"summary": two or three sentences on what happened')
    if judge:
        keys.append(
            '"successful": true or false, whether this criterion was met: '
            + json.dumps(config.success_criterion)
        )
        keys.append('"success_reason": one sentence saying why')
    if config.fields:
        described = ", ".join(
            f"{json.dumps(f.name)} ({f.type}): {f.description}" for f in config.fields
        )
        keys.append(f'"fields": an object with these keys (null when unknown): {described}')
    system = (
        "You analyze a finished conversation between an AI agent and a user. Answer with one "
        "JSON object and nothing else, with these keys: " + "; ".join(keys) + "."
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"The conversation:\n{text}"},
    ]


_OBJECT = re.compile(r"\{.*\}", re.S)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
}


def _read_answer(
    answer: str, config: AnalysisConfig, wanted: list[str], result: dict[str, Any]
) -> None:
    """Take what the model's JSON answer holds; whatever is missing or mistyped is
    `not_analyzed`, with the reason."""
    match = _OBJECT.search(answer)
    data: Any = None
    if match:
        try:
            data = json.loads(match.group(0))
        except ValueError:
            data = None
    if not isinstance(data, dict):
        result["not_analyzed"] = dict.fromkeys(wanted, "the model's answer was not a JSON object")
        return
    missing: dict[str, str] = {}
    if "summary" in wanted:
        summary = data.get("summary")
        if isinstance(summary, str) and summary.strip():
            result["summary"] = summary.strip()[:20_000]
        else:
            missing["summary"] = "the model gave no summary"
    if "successful" in wanted:
        verdict = data.get("successful")
        if isinstance(verdict, bool):
            result["successful"] = verdict
            reason = data.get("success_reason")
            result["success_reason"] = str(reason)[:2000] if reason is not None else None
        else:
            missing["successful"] = "the model gave no true/false verdict"
    given = data.get("fields")
    fields: dict[str, Any] = given if isinstance(given, dict) else {}
    for field in config.fields:
        value = fields.get(field.name)
        types = _TYPES[field.type]
        if value is None:
            result["fields"][field.name] = None
        elif isinstance(value, types) and not (field.type != "boolean" and isinstance(value, bool)):
            result["fields"][field.name] = value
        else:
            result["fields"][field.name] = None
            missing[f"fields.{field.name}"] = f"the model's value is not a {field.type}"
    result["not_analyzed"] = missing
