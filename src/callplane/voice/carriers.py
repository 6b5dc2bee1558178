"""What differs between carriers: webhook signatures, the answer to a call (TwiML/TeXML), the
media-stream messages, and the REST calls that act on a live call.

Twilio and Telnyx speak nearly the same Media Streams protocol (8 kHz µ-law in base64 JSON
messages); each adapter turns its messages into the same few events and back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

import httpx

# --- signatures -----------------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of the full
    URL followed by each POST parameter's name and value, sorted by name."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_signature_valid(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    if not signature:
        return False
    expected = twilio_signature(auth_token, url, params)
    return hmac.compare_digest(expected.encode(), signature.encode())


def telnyx_signature_valid(
    public_key: str, timestamp: str | None, body: bytes, signature: str | None, now: float
) -> bool:
    """Telnyx signs `<timestamp>|<body>` with Ed25519; stale timestamps (> 5 min) are refused."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not timestamp or not signature:
        return False
    try:
        if abs(now - int(timestamp)) > 300:
            return False
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(signature), timestamp.encode() + b"|" + body)
    except (ValueError, InvalidSignature):
        return False
    return True


# --- answering a call -----------------------------------------------------------------------


def connect_stream(stream_url: str, token: str) -> str:
    """TwiML (and Telnyx TeXML) connecting the call to our media stream."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        f"<Stream url={quoteattr(stream_url)}>"
        f'<Parameter name="token" value={quoteattr(token)}/>'
        "</Stream></Connect></Response>"
    )


def say_and_hang_up(message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Say>{escape(message)}</Say><Hangup/></Response>"
    )


# --- media streams --------------------------------------------------------------------------


@dataclass
class Start:
    call_id: str
    stream_id: str
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class Media:
    payload: bytes  # µ-law, 8 kHz


@dataclass
class Dtmf:
    digit: str


@dataclass
class Mark:
    name: str


@dataclass
class Stop:
    pass


StreamEvent = Start | Media | Dtmf | Mark | Stop


class StreamProtocol(Protocol):
    name: str

    def parse(self, message: dict[str, Any]) -> StreamEvent | None: ...
    def media(self, stream_id: str, ulaw: bytes) -> dict[str, Any]: ...
    def mark(self, stream_id: str, name: str) -> dict[str, Any]: ...
    def clear(self, stream_id: str) -> dict[str, Any]: ...


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class TwilioStream:
    name = "twilio"

    def parse(self, message: dict[str, Any]) -> StreamEvent | None:
        event = message.get("event")
        if event == "media":
            media = _dict(message.get("media"))
            if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                return None
            return Media(base64.b64decode(str(media.get("payload", ""))))
        if event == "start":
            start = _dict(message.get("start"))
            parameters = _dict(start.get("customParameters"))
            return Start(
                call_id=str(start.get("callSid", "")),
                stream_id=str(message.get("streamSid") or start.get("streamSid", "")),
                parameters={str(k): str(v) for k, v in parameters.items()},
            )
        if event == "dtmf":
            return Dtmf(str(_dict(message.get("dtmf")).get("digit", "")))
        if event == "mark":
            return Mark(str(_dict(message.get("mark")).get("name", "")))
        if event == "stop":
            return Stop()
        return None  # connected, and whatever a newer protocol version adds

    def media(self, stream_id: str, ulaw: bytes) -> dict[str, Any]:
        payload = base64.b64encode(ulaw).decode()
        return {"event": "media", "streamSid": stream_id, "media": {"payload": payload}}

    def mark(self, stream_id: str, name: str) -> dict[str, Any]:
        return {"event": "mark", "streamSid": stream_id, "mark": {"name": name}}

    def clear(self, stream_id: str) -> dict[str, Any]:
        return {"event": "clear", "streamSid": stream_id}


class TelnyxStream:
    """Telnyx's variant: snake_case names, `stream_id`, the call's `call_control_id`."""

    name = "telnyx"

    def parse(self, message: dict[str, Any]) -> StreamEvent | None:
        event = message.get("event")
        if event == "media":
            media = _dict(message.get("media"))
            if media.get("track", "inbound") != "inbound":
                return None
            return Media(base64.b64decode(str(media.get("payload", ""))))
        if event == "start":
            start = _dict(message.get("start"))
            parameters = _dict(start.get("custom_parameters"))
            return Start(
                call_id=str(start.get("call_control_id", "")),
                stream_id=str(message.get("stream_id", "")),
                parameters={str(k): str(v) for k, v in parameters.items()},
            )
        if event == "dtmf":
            return Dtmf(str(_dict(message.get("dtmf")).get("digit", "")))
        if event == "mark":
            return Mark(str(_dict(message.get("mark")).get("name", "")))
        if event == "stop":
            return Stop()
        return None

    def media(self, stream_id: str, ulaw: bytes) -> dict[str, Any]:
        return {"event": "media", "media": {"payload": base64.b64encode(ulaw).decode()}}

    def mark(self, stream_id: str, name: str) -> dict[str, Any]:
        return {"event": "mark", "mark": {"name": name}}

    def clear(self, stream_id: str) -> dict[str, Any]:
        return {"event": "clear"}


# --- acting on a live call (REST) -----------------------------------------------------------


class CallControl(Protocol):
    """What the agent's actions need from the carrier while the call is up."""

    async def hang_up(self, call_id: str) -> None: ...
    async def transfer(self, call_id: str, target: str) -> None: ...
    async def send_dtmf(self, call_id: str, digits: str, resume_twiml: str) -> bool:
        """Send digits; True when that ends this media stream (the call resumes in a new stream
        from `resume_twiml`)."""


class TwilioControl:
    """Twilio's Calls resource: `Status=completed` hangs up; new TwiML redirects the live call
    (`<Dial>` transfers; `<Play digits>` then `<Connect>` again sends DTMF and resumes the
    stream on the same conversation)."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, account_sid: str, token: str):
        self._client = client
        self._base = base_url.rstrip("/")
        self._account = account_sid
        self._auth = (account_sid, token)

    async def _update(self, call_id: str, data: dict[str, str]) -> None:
        url = f"{self._base}/2010-04-01/Accounts/{self._account}/Calls/{call_id}.json"
        response = await self._client.post(url, data=data, auth=self._auth)
        response.raise_for_status()

    async def hang_up(self, call_id: str) -> None:
        await self._update(call_id, {"Status": "completed"})

    async def transfer(self, call_id: str, target: str) -> None:
        inner = f"<Sip>{escape(target)}</Sip>" if target.startswith("sip:") else escape(target)
        await self._update(call_id, {"Twiml": f"<Response><Dial>{inner}</Dial></Response>"})

    async def send_dtmf(self, call_id: str, digits: str, resume_twiml: str) -> bool:
        body = resume_twiml.split("<Response>", 1)[1] if "<Response>" in resume_twiml else ""
        twiml = f"<Response><Play digits={quoteattr(digits)}/>{body or '</Response>'}"
        await self._update(call_id, {"Twiml": twiml})
        return True


class TelnyxControl:
    """Telnyx Call Control actions (`/v2/calls/{call_control_id}/actions/...`)."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, api_key: str):
        self._client = client
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}

    async def _action(self, call_id: str, action: str, body: dict[str, str]) -> None:
        url = f"{self._base}/v2/calls/{call_id}/actions/{action}"
        response = await self._client.post(url, json=body, headers=self._headers)
        response.raise_for_status()

    async def hang_up(self, call_id: str) -> None:
        await self._action(call_id, "hangup", {})

    async def transfer(self, call_id: str, target: str) -> None:
        await self._action(call_id, "transfer", {"to": target})

    async def send_dtmf(self, call_id: str, digits: str, resume_twiml: str) -> bool:
        await self._action(call_id, "send_dtmf", {"digits": digits})
        return False
