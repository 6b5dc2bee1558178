"""The HTTP side of an attempt: the crawler's SSRF guard applies, and signatures verify."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from callplane.config import Settings
from callplane.webhooks import sender
from tests.support.receiver import Receiver

BODY = b'{"id":"x","type":"agent.created"}'


SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def headers() -> dict[str, str]:
    return sender.headers(uuid.uuid4(), SECRET, 1_700_000_000, BODY)


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


def test_the_signature_matches_the_specification_example() -> None:
    """The test vector the Standard Webhooks reference libraries share."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    given = sender.signature(
        secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert given == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_headers_verify_with_the_standard_webhooks_library() -> None:
    delivery_id, now = uuid.uuid4(), int(datetime.now(UTC).timestamp())
    sent = sender.headers(delivery_id, SECRET, now, BODY)
    assert sent["webhook-id"] == str(delivery_id) and sent["webhook-timestamp"] == str(now)
    assert Webhook(SECRET).verify(BODY, sent) == {"id": "x", "type": "agent.created"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"x", b"y"), sent)
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(BODY, sent)
    with pytest.raises(WebhookVerificationError):  # the id is signed too
        Webhook(SECRET).verify(BODY, {**sent, "webhook-id": str(uuid.uuid4())})


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
