"""The writing tasks the rest of the app asks for, with or without a language model.

`TemplateWriter` needs no model and is deterministic; `LLMWriter` asks the configured model and
keeps what must be exact (the opening line, the user's own extra text) out of the model's hands.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

from callplane.agent_config import InstructionBuilderInputs
from callplane.agent_config.changes import Change
from callplane.config import Settings
from callplane.crawler.profile import SiteProfile
from callplane.llm import prompts, templates
from callplane.llm.provider import LLMError, LLMProvider, OpenAICompatibleProvider

logger = logging.getLogger("callplane.llm")

INSTRUCTIONS_MAX_TOKENS = 2000
SUMMARY_MAX_TOKENS = 1000
INSTRUCTIONS_TEMPERATURE = 0.3
SUMMARY_TEMPERATURE = 0.2

SUMMARY_CUT_SHORT = "\n\n(The summary was cut short: the language model stopped answering.)\n"


@dataclass(frozen=True)
class GeneratedInstructions:
    instructions: str
    starting_message: str | None


class Writer(Protocol):
    async def instructions(self, inputs: InstructionBuilderInputs) -> GeneratedInstructions:
        """A system prompt from the agent-builder answers; the opening line starts the talk."""
        ...

    async def agent_from_site(
        self,
        profile: SiteProfile,
        *,
        company_name: str,
        company_overview: str | None,
        extra_instructions: str | None,
        demo: bool,
    ) -> GeneratedInstructions:
        """A system prompt and greeting grounded in what a crawl found on the company's site."""
        ...

    def summarize_changes(
        self, changes: list[Change], *, from_version: int, to_version: int
    ) -> AsyncIterator[str]:
        """A plain-text summary of a diff, in chunks, so a response can start before it ends."""
        ...


class Summarizer(Protocol):
    """A change summary written without a model (the versions domain's `summary_chunks`), given
    to the writers by the wiring: the template writer's summary, and the model writer's answer
    for an empty diff or a model that fails before its first chunk."""

    def __call__(
        self, changes: list[Change], *, from_version: int, to_version: int
    ) -> Iterator[str]: ...


class TemplateWriter:
    """Deterministic text from templates: what runs when no model is configured."""

    def __init__(self, summarize: Summarizer) -> None:
        self.summarize = summarize

    async def instructions(self, inputs: InstructionBuilderInputs) -> GeneratedInstructions:
        return GeneratedInstructions(
            instructions=templates.prompt_from_inputs(inputs),
            starting_message=templates.starting_message_from_inputs(inputs),
        )

    async def agent_from_site(
        self,
        profile: SiteProfile,
        *,
        company_name: str,
        company_overview: str | None,
        extra_instructions: str | None,
        demo: bool,
    ) -> GeneratedInstructions:
        return GeneratedInstructions(
            instructions=templates.prompt_from_site(
                profile,
                company_name=company_name,
                company_overview=company_overview,
                extra_instructions=extra_instructions,
                demo=demo,
            ),
            starting_message=templates.starting_message_from_site(
                profile, company_name=company_name, demo=demo
            ),
        )

    async def summarize_changes(
        self, changes: list[Change], *, from_version: int, to_version: int
    ) -> AsyncIterator[str]:
        for chunk in self.summarize(changes, from_version=from_version, to_version=to_version):
            yield chunk


class LLMWriter:
    """Text written by a language model.

    Errors of instruction writing propagate (`LLMError.transient` tells a workflow whether to
    retry). A change summary is for a person waiting on a response, so it falls back to the
    template summary when the model fails before its first chunk.
    """

    def __init__(self, provider: LLMProvider, summarize: Summarizer) -> None:
        self.provider = provider
        self.summarize = summarize

    async def instructions(self, inputs: InstructionBuilderInputs) -> GeneratedInstructions:
        text = await self.provider.complete(
            prompts.instructions_messages(inputs),
            max_tokens=INSTRUCTIONS_MAX_TOKENS,
            temperature=INSTRUCTIONS_TEMPERATURE,
        )
        return GeneratedInstructions(
            instructions=templates.with_additional(_unfenced(text), inputs.advanced_instructions),
            starting_message=templates.starting_message_from_inputs(inputs),
        )

    async def agent_from_site(
        self,
        profile: SiteProfile,
        *,
        company_name: str,
        company_overview: str | None,
        extra_instructions: str | None,
        demo: bool,
    ) -> GeneratedInstructions:
        messages = prompts.site_messages(
            profile,
            company=templates.company_from_site(profile, company_name),
            company_overview=company_overview,
            extra_instructions=extra_instructions,
            demo=demo,
        )
        text = await self.provider.complete(
            messages, max_tokens=INSTRUCTIONS_MAX_TOKENS, temperature=INSTRUCTIONS_TEMPERATURE
        )
        return GeneratedInstructions(
            instructions=templates.with_additional(_unfenced(text), extra_instructions),
            starting_message=templates.starting_message_from_site(
                profile, company_name=company_name, demo=demo
            ),
        )

    async def summarize_changes(
        self, changes: list[Change], *, from_version: int, to_version: int
    ) -> AsyncIterator[str]:
        if not changes:
            for chunk in self.summarize(changes, from_version=from_version, to_version=to_version):
                yield chunk
            return
        stream = self.provider.stream(
            prompts.summary_messages(changes, from_version=from_version, to_version=to_version),
            max_tokens=SUMMARY_MAX_TOKENS,
            temperature=SUMMARY_TEMPERATURE,
        )
        produced = False
        try:
            async for chunk in stream:
                produced = True
                yield chunk
        except LLMError as exc:
            logger.warning(
                "change summary by the language model failed",
                extra={"error_code": exc.code, "error": exc.message, "partial": produced},
            )
            if produced:
                yield SUMMARY_CUT_SHORT
                return
            for chunk in self.summarize(changes, from_version=from_version, to_version=to_version):
                yield chunk
        finally:
            # Stop the model's stream too when our reader goes away (e.g. the client hung up).
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()


_FENCE = re.compile(r"^```[a-zA-Z]*\n(?P<body>.*)\n```$", re.S)


def _unfenced(text: str) -> str:
    """The model's text without a code fence around it, which some models add anyway."""
    text = text.strip()
    match = _FENCE.match(text)
    return match.group("body").strip() if match else text


def writer_for(settings: Settings, summarize: Summarizer) -> Writer:
    """The configured model when there is one; otherwise the deterministic template writer."""
    if not settings.llm_base_url:
        return TemplateWriter(summarize)
    provider = OpenAICompatibleProvider(
        settings.llm_base_url,
        settings.llm_api_key or "none",
        settings.llm_model,
        timeout_seconds=settings.llm_timeout_seconds,
    )
    return LLMWriter(provider, summarize)
