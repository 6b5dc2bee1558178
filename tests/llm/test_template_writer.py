"""TemplateWriter: instructions a real agent can use, without any model."""

from __future__ import annotations

import re

from callplane.agent_config import AgentConfig, InstructionBuilderInputs
from callplane.crawler.profile import SitePage, SiteProfile
from callplane.llm import TemplateWriter
from callplane.versions.summary import summary_chunks

writer = TemplateWriter(summary_chunks)

FULL_INPUTS = InstructionBuilderInputs(
    company_name="Acme Dental",
    company_overview="A family dental clinic in Springfield, open since 1990.",
    industry="dental care",
    purpose="Book, move and cancel appointments, and answer questions about treatments.",
    personality="Friendly, calm and reassuring.",
    language="Spanish",
    opening_line="Hola, Acme Dental, ¿en qué puedo ayudarle?",
    conversation_flow="1. Ask for the caller's name.\n2) Ask what they need.\n- Offer a time slot.",
    closing="Confirm the appointment time and wish them a good day.",
    rules=["Never discuss prices.", "- Always confirm the date of birth."],
    advanced_instructions="If the caller mentions pain,\n  offer the earliest slot.",
)


def section(prompt: str, heading: str) -> str:
    """The body of a `## heading` section."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=\n\n## |\Z)", prompt, re.S | re.M)
    assert match, f"no section {heading!r} in:\n{prompt}"
    return match.group(1)


async def test_instructions_use_every_builder_input() -> None:
    generated = await writer.instructions(FULL_INPUTS)
    prompt = generated.instructions

    assert prompt.startswith(
        "You are the virtual receptionist of Acme Dental, a business in the dental care sector."
    )
    assert section(prompt, "About Acme Dental") == (
        "A family dental clinic in Springfield, open since 1990."
    )
    assert section(prompt, "Your purpose") == FULL_INPUTS.purpose
    assert section(prompt, "Personality and tone").startswith("Friendly, calm and reassuring.\n")
    assert "keep them short" in section(prompt, "Personality and tone")
    assert section(prompt, "Language").startswith("Speak Spanish.")
    assert section(prompt, "Conversation flow") == (
        "1. Ask for the caller's name.\n2. Ask what they need.\n3. Offer a time slot."
    )
    assert section(prompt, "Closing") == FULL_INPUTS.closing
    rules = section(prompt, "Rules").splitlines()
    assert rules[:2] == ["- Never discuss prices.", "- Always confirm the date of birth."]
    assert all(rule.startswith("- ") for rule in rules) and len(rules) > 4
    assert any("never invent" in rule for rule in rules)
    # Advanced instructions come last and verbatim, line breaks included.
    assert prompt.endswith(
        "## Additional instructions\nIf the caller mentions pain,\n  offer the earliest slot."
    )
    # The opening line is the starting message, not part of the prompt.
    assert generated.starting_message == "Hola, Acme Dental, ¿en qué puedo ayudarle?"
    assert "Hola" not in prompt


async def test_instructions_have_sensible_defaults_for_missing_inputs() -> None:
    generated = await writer.instructions(InstructionBuilderInputs())
    prompt = generated.instructions

    assert generated.starting_message is None
    assert prompt.startswith("You are a virtual receptionist.")
    headings = re.findall(r"^## (.+)$", prompt, re.M)
    assert headings == [
        "Your purpose",
        "Personality and tone",
        "Language",
        "Conversation flow",
        "Closing",
        "Rules",
    ]
    assert section(prompt, "Language") == "Reply in the language the caller uses."
    flow = section(prompt, "Conversation flow").splitlines()
    assert [line.split(".")[0] for line in flow] == ["1", "2", "3", "4", "5"]
    assert "None" not in prompt and "{" not in prompt
    AgentConfig(instructions=prompt)  # fits the contract


async def test_a_single_paragraph_flow_becomes_one_step_per_sentence() -> None:
    inputs = InstructionBuilderInputs(
        company_name="Bolt Bikes",
        conversation_flow="Ask for the order number. Look the order up, e.g. by email. Tell the "
        "caller its status.",
        opening_line="   ",
    )
    generated = await writer.instructions(inputs)

    assert section(generated.instructions, "Conversation flow") == (
        "1. Ask for the order number.\n"
        "2. Look the order up, e.g. by email.\n"
        "3. Tell the caller its status."
    )
    assert generated.starting_message is None  # a blank opening line is no greeting


async def test_the_longest_inputs_are_cut_to_a_valid_config() -> None:
    inputs = InstructionBuilderInputs(
        company_name="C" * 200,
        company_overview="o" * 10_000,
        industry="i" * 200,
        purpose="p" * 2000,
        personality="t" * 2000,
        language="l" * 64,
        opening_line="h" * 1000,
        conversation_flow="f" * 20_000,
        closing="c" * 2000,
        rules=["r" * 1000] * 50,
        advanced_instructions="a" * 20_000,
    )
    generated = await writer.instructions(inputs)

    # Together the inputs exceed what a config holds: the generated part gives way, the
    # verbatim advanced instructions survive whole.
    assert len(generated.instructions) == 100_000
    assert generated.instructions.endswith("## Additional instructions\n" + "a" * 20_000)
    assert "…\n\n## Additional instructions" in generated.instructions
    AgentConfig(instructions=generated.instructions, starting_message=generated.starting_message)


# --- from a website -----------------------------------------------------------------------------


def dental_profile(**overrides: object) -> SiteProfile:
    fields: dict[str, object] = {
        "url": "https://acme-dental.test/",
        "domain": "acme-dental.test",
        "name": "Acme Dental Clinic",
        "description": "Gentle family dentistry in Springfield since 1990.",
        "telephone": "+1 555 010 0100",
        "email": "hello@acme-dental.test",
        "address": "1 Main Street, Springfield",
        "opening_hours": ["Monday to Friday 09:00-17:00", "Saturday 10:00-13:00"],
        "services": ["Check-ups and cleanings", "Teeth whitening", "Dental implants"],
        "faqs": [
            ("Do you take new patients?", "Yes, we welcome new patients of all ages."),
            ("Do you offer emergency appointments?", "Yes, call us before 10:00 for same-day."),
        ],
        "pages": [SitePage("https://acme-dental.test/", "Home", None, "Welcome to Acme.")],
    }
    fields.update(overrides)
    return SiteProfile(**fields)  # type: ignore[arg-type]


async def test_agent_from_site_is_grounded_in_the_profile() -> None:
    generated = await writer.agent_from_site(
        dental_profile(),
        company_name="Acme Dental",
        company_overview="We are the friendliest dentist in town.",
        extra_instructions="Mention the spring whitening offer.\nIt ends in May.",
        demo=False,
    )
    prompt = generated.instructions

    assert prompt.startswith("You are the virtual receptionist of Acme Dental.")
    about = section(prompt, "About Acme Dental")
    assert about.splitlines() == [
        "We are the friendliest dentist in town.",
        "Gentle family dentistry in Springfield since 1990.",
        "Website: https://acme-dental.test/",
    ]
    assert section(prompt, "Services").splitlines() == [
        "- Check-ups and cleanings",
        "- Teeth whitening",
        "- Dental implants",
    ]
    assert section(prompt, "Opening hours").splitlines() == [
        "- Monday to Friday 09:00-17:00",
        "- Saturday 10:00-13:00",
    ]
    contact = section(prompt, "Contact details")
    for line in (
        "- Phone: +1 555 010 0100",
        "- Email: hello@acme-dental.test",
        "- Address: 1 Main Street, Springfield",
        "- Website: https://acme-dental.test/",
    ):
        assert line in contact.splitlines()
    faqs = section(prompt, "Frequently asked questions")
    assert "Q: Do you take new patients?\nA: Yes, we welcome new patients of all ages." in faqs
    assert "Q: Do you offer emergency appointments?" in faqs
    unknown = section(prompt, "When you do not know the answer")
    assert "Never guess or invent facts" in unknown
    assert "take a message" in unknown and "transfer" in unknown
    assert "demo" not in prompt.lower()
    assert prompt.endswith(
        "## Additional instructions\nMention the spring whitening offer.\nIt ends in May."
    )
    assert generated.starting_message == (
        "Hello, thank you for contacting Acme Dental! How can I help you today?"
    )
    AgentConfig(instructions=prompt, starting_message=generated.starting_message)


async def test_agent_from_site_demo_says_so() -> None:
    generated = await writer.agent_from_site(
        dental_profile(),
        company_name="Acme Dental",
        company_overview=None,
        extra_instructions=None,
        demo=True,
    )

    demo = section(generated.instructions, "This is a demo")
    assert "demonstration" in demo and "https://acme-dental.test/" in demo
    assert "Do not book, cancel or promise anything" in demo
    assert "## Additional instructions" not in generated.instructions
    assert generated.starting_message is not None
    assert "demo" in generated.starting_message and "Acme Dental" in generated.starting_message


async def test_agent_from_a_sparse_site_leaves_out_empty_sections() -> None:
    profile = SiteProfile(url="https://tiny.test/", domain="tiny.test")
    generated = await writer.agent_from_site(
        profile, company_name="  ", company_overview=None, extra_instructions="  ", demo=False
    )
    prompt = generated.instructions

    # No name anywhere: the domain stands in for it.
    assert prompt.startswith("You are the virtual receptionist of tiny.test.")
    headings = re.findall(r"^## (.+)$", prompt, re.M)
    assert "Services" not in headings and "Opening hours" not in headings
    assert "Frequently asked questions" not in headings
    assert section(prompt, "Contact details").splitlines()[-1] == "- Website: https://tiny.test/"
    assert "Phone:" not in prompt and "None" not in prompt
    assert "When you do not know the answer" in headings
    assert generated.starting_message == (
        "Hello, thank you for contacting tiny.test! How can I help you today?"
    )


async def test_agent_from_site_bounds_what_it_copies_from_the_web() -> None:
    profile = dental_profile(
        services=[f"Service {n}" for n in range(50)],
        faqs=[(f"Question {n}?", "Answer " + "x" * 5000) for n in range(30)],
        description="Long " * 2000,
    )
    generated = await writer.agent_from_site(
        profile, company_name="Acme", company_overview=None, extra_instructions=None, demo=False
    )
    prompt = generated.instructions

    assert "- Service 19" in prompt and "- Service 20" not in prompt
    assert "Question 7?" in prompt and "Question 8?" not in prompt
    assert len(prompt) < 20_000
    AgentConfig(instructions=prompt)
