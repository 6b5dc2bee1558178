"""The small, realistic state built through the public API: a fully deployed agent, and an agent
that publishes to 100 phone numbers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

INSTRUCTIONS = (
    "You are the front desk of a busy dental practice. Greet callers warmly, find out whether "
    "they are new or existing patients, and help them book, move or cancel appointments. "
    "Confirm the date, time and the patient's full name before you finish. "
) * 12  # ~3 KB: a realistic system prompt
STATUSES = ["completed"] * 7 + ["failed", "missed", "abandoned"]
CHANNELS = ["telephone"] * 3 + ["webrtc", "sms"]


def phone_number(n: int) -> str:
    """The n-th bench number: valid US numbers, unique within the bench database."""
    return f"+1415{200 + n // 10_000:03d}{n % 10_000:04d}"


def call(client: httpx.Client, method: str, url: str, expected: int, body: Any = None) -> Any:
    response = client.request(method, url, json=body)
    if response.status_code != expected:
        raise RuntimeError(
            f"{method} {url} answered {response.status_code}, expected {expected}: "
            f"{response.text[:2000]}"
        )
    return response.json() if response.content else None


def _version(client: httpx.Client, agent_id: str, label: str) -> dict[str, Any]:
    config = {
        "instructions": f"{INSTRUCTIONS}({label})",
        "starting_message": "Hello! How can I help?",
    }
    created: dict[str, Any] = call(
        client, "POST", f"/core/agents/{agent_id}/versions", 201, {"config": config}
    )
    return created


def _publish(
    client: httpx.Client, agent_id: str, version: int, numbers: list[str]
) -> list[dict[str, Any]]:
    touched: list[dict[str, Any]] = call(
        client,
        "POST",
        f"/core/agents/{agent_id}/versions/{version}/publish",
        200,
        {"phone_numbers": numbers},
    )
    return touched


def _conversations(agent_id: str, version_ids: list[str], count: int) -> list[dict[str, Any]]:
    rng = random.Random(20261128)
    now = datetime.now(UTC)
    records = []
    for i in range(count):
        started = now - timedelta(days=rng.uniform(0, 60))
        status = rng.choice(STATUSES)
        duration = round(rng.uniform(20, 900), 1) if status != "missed" else None
        records.append(
            {
                "agent_id": agent_id,
                "agent_version_id": rng.choice(version_ids),
                "channel": rng.choice(CHANNELS),
                "direction": rng.choice(["inbound", "outbound"]),
                "status": status,
                "duration_seconds": duration,
                "turns": rng.randint(2, 40) if duration else 0,
                "started_at": started.isoformat(),
                "ended_at": (started + timedelta(seconds=duration or 0)).isoformat(),
                "transcript": [
                    {"role": "agent", "content": "Hello! How can I help?"},
                    {"role": "user", "content": f"I would like to book appointment #{i}."},
                ],
                "summary": "Caller booked an appointment.",
                "metadata": {"campaign": rng.choice(["spring", "recall", "none"])},
            }
        )
    return records


@dataclass(frozen=True)
class Fixtures:
    detail_agent_id: str
    publisher_agent_id: str
    publish_numbers: list[str]
    live_publisher_version: int


def build(client: httpx.Client, *, conversations: int = 200, numbers: int = 100) -> Fixtures:
    """Both agents, in an organization that holds nothing else yet."""
    for n in range(3 + numbers):
        call(client, "POST", "/core/phone-numbers", 201, {"phone_number": phone_number(n)})
    detail_numbers = [phone_number(n) for n in range(3)]
    publish_numbers = [phone_number(n) for n in range(3, 3 + numbers)]

    # The deployed agent: 5 versions (1, 3, 4 published; 4 live), 3 numbers, 2 widgets, SIP,
    # and its conversation history.
    agent = call(
        client,
        "POST",
        "/core/agents",
        201,
        {
            "name": "Front desk",
            "description": "Books, moves and cancels appointments.",
            "metadata": {"team": "support", "region": "us-west", "tier": "gold"},
        },
    )
    agent_id = agent["id"]
    versions = [_version(client, agent_id, f"v{n}") for n in range(1, 6)]
    _publish(client, agent_id, 1, detail_numbers)
    _publish(client, agent_id, 3, [])
    _publish(client, agent_id, 4, detail_numbers)
    for version in (versions[0], versions[3]):
        call(
            client,
            "POST",
            "/core/web-widgets",
            201,
            {
                "agent_id": agent_id,
                "agent_version_id": version["id"],
                "domains": ["example.com", "*.example.org"],
                "published": True,
                "config": {"theme": "light", "greeting": "Need help booking?"},
            },
        )
    call(client, "POST", f"/core/agents/{agent_id}/deploy-as-sip", 200)
    published_ids = [versions[i]["id"] for i in (0, 2, 3)]
    for start in range(0, conversations, 500):
        batch = _conversations(agent_id, published_ids, min(500, conversations - start))
        call(client, "POST", "/core/conversations/import", 201, {"conversations": batch})

    # The publisher: versions 1 and 2 both published to the same numbers; 2 is live.
    publisher = call(client, "POST", "/core/agents", 201, {"name": "Outbound dialer"})
    for n in (1, 2):
        _version(client, publisher["id"], f"p{n}")
        _publish(client, publisher["id"], n, publish_numbers)
    return Fixtures(agent_id, publisher["id"], publish_numbers, live_publisher_version=2)
