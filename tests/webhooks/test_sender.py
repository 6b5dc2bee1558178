"""The HTTP side of an attempt: the crawler's SSRF guard applies, and signatures verify."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable

from callplane.config import Settings
from callplane.webhooks import sender
from tests.webhooks.receiver import Receiver

BODY = b'{"id":"x","type":"agent.created"}'


def headers() -> dict[str, str]:
    return sender.headers(uuid.uuid4(), "whsec_test", 1_700_000_000, BODY)


async def test_the_guard_refuses_private_addresses(receivers: Callable[..., Receiver]) -> None:
    receiver = receivers()
    guarded = Settings(crawler_allow_private_networks=False)
    outcome = await sender.post(
        receiver.url,
        BODY,
        headers(),
        timeout=2,
        allow_private_networks=guarded.crawler_allow_private_networks,
    )
    assert not outcome.delivered and outcome.permanent
    assert outcome.status_code is None
    assert outcome.error == (  # the guard's own words, as for the crawler
        "Refusing to connect to 127.0.0.1: it is a loopback address "
        "(private networks are not allowed)."
    )
    assert receiver.requests == []  # refused before connecting

    allowed = await sender.post(
        receiver.url, BODY, headers(), timeout=2, allow_private_networks=True
    )
    assert allowed.delivered and allowed.status_code == 200
    assert [r.body for r in receiver.requests] == [BODY]


def test_the_signature_is_an_hmac_of_timestamp_and_body() -> None:
    given = sender.signature("whsec_test", 1_700_000_000, BODY)
    expected = hmac.new(b"whsec_test", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert given == f"v1={expected}"
    assert sender.signature("whsec_test", 1_700_000_001, BODY) != given
    assert sender.signature("whsec_other", 1_700_000_000, BODY) != given


async def test_a_refused_name_does_not_say_what_it_resolves_to() -> None:
    """A tenant must not map internal DNS through its deliveries: the refusal names the host
    the tenant wrote, never the address it resolves to."""
    outcome = await sender.post(
        "http://localhost:9/hook", BODY, headers(), timeout=2, allow_private_networks=False
    )
    assert outcome.permanent and not outcome.delivered
    assert outcome.error == (
        "Refusing to connect to localhost: it resolves to an address that is not public "
        "(private networks are not allowed)."
    )
