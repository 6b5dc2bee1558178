"""The request edge's pieces, composed by the one pure-ASGI request middleware
(`observability.middleware.RequestMiddleware`): refusals at the door, body buffering, request ids
and the headers a request leaves for its response."""

from __future__ import annotations

import json
import random
import re
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.types import Message, Receive, Scope, Send

from callplane.errors import validation_error_body

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# uvicorn's default parser (httptools) passes headers of any size and number; bound them here.
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADERS = 100


def error_response_parts(status: int, detail: str, code: str) -> tuple[Message, Message]:
    return _json_response_parts(status, {"detail": detail, "code": code})


def _json_response_parts(status: int, payload: Any) -> tuple[Message, Message]:
    body = orjson.dumps(payload)
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


# Request state key: headers the request decided its response carries (e.g. rate-limit headers
# set by the auth dependency), added by the request middleware to whatever response goes out,
# errors included.
RESPONSE_HEADERS = "response_headers"
_random_bits = random.Random().getrandbits  # seeded from os.urandom once, at import


def request_id(scope: Scope) -> str:
    """The client's X-Request-ID when it is sane, else a fresh 128-bit id.

    Not uuid4(): its os.urandom() is a system call that releases the GIL on every request, and
    under load with background threads (the workflow engine's) the event loop then waits to get
    it back (issue 15: 11% of the server's samples on the detail route). A request id needs to be
    unique, not unpredictable."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(candidate):
                return candidate
            break
    return f"{_random_bits(128):032x}"


def response_headers(request_state: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The headers the request left in its state for its response (`RESPONSE_HEADERS`)."""
    extra: dict[str, str] | None = request_state.get(RESPONSE_HEADERS)
    if not extra:
        return []
    return [(name.lower().encode(), value.encode()) for name, value in extra.items()]


def _url_problem(scope: Scope) -> str | None:
    """Why the URL's path or query, percent-decoded, is not text we can use, or None.

    PostgreSQL cannot store or compare text holding NUL; invalid UTF-8 would otherwise be
    replaced by U+FFFD silently, so a filter would search for something the client never sent.
    """
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    for part in (raw_path, scope.get("query_string", b"")):
        decoded = unquote_to_bytes(part)
        if b"\x00" in decoded:
            return "The URL must not contain NUL (%00) characters."
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return "The URL must be valid UTF-8 once percent-decoded."
    return None


def _refused_at_the_door(scope: Scope) -> tuple[Message, Message] | None:
    """The error for a request no handler should see, or None."""
    problem = _url_problem(scope)
    if problem is not None:
        return error_response_parts(400, problem, "invalid_characters")
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS or (
        sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES
    ):
        return error_response_parts(
            431,
            f"Request headers must be at most {MAX_HEADERS} fields and {MAX_HEADER_BYTES} bytes.",
            "request_header_fields_too_large",
        )
    return None


async def buffer_body(
    scope: Scope, receive: Receive, max_bytes: int
) -> tuple[Receive | None, tuple[Message, Message] | None]:
    """Refuse malformed URLs and oversized headers at the door; read a request body up front (at
    most `max_bytes`, else 413) and replay it. Returns the receive the app gets, or the refusal
    to send instead (both None: the client left).

    Buffering lets the idempotency layer hash the body and guarantees an oversized body is
    refused before any handler runs."""
    refusal = _refused_at_the_door(scope)
    if refusal is not None:
        return None, refusal
    if scope["method"] not in BODY_METHODS:
        return receive, None
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = 0
            if declared > max_bytes:
                return None, _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None, _too_large(max_bytes)
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    duplicate = _duplicate_key(body)
    if duplicate is not None:
        return None, _duplicate_key_error(duplicate)
    state(scope)["body"] = body
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay, None


def _too_large(max_bytes: int) -> tuple[Message, Message]:
    return error_response_parts(
        413, f"Request body is larger than {max_bytes} bytes.", "payload_too_large"
    )


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _duplicate_key(body: bytes) -> str | None:
    """A key that appears twice in one object of a JSON body, or None (also for a body that is
    not JSON: the route reports that). Parsers disagree on which duplicate wins, so a proxy
    that checked the first value must not see the app act on the last one."""
    try:
        json.loads(body, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        return exc.key
    except (ValueError, RecursionError):
        return None
    return None


def _duplicate_key_error(key: str) -> tuple[Message, Message]:
    """A 422 in the shape of every other validation error (`!a`: the key may be a lone
    surrogate, which no encoder accepts)."""
    error = {
        "loc": ["body"],
        "msg": f"JSON object has a duplicate key: {key[:100]!a}",
        "type": "json_duplicate_key",
    }
    return _json_response_parts(422, validation_error_body([error]))


async def send_parts(send: Send, parts: tuple[Message, Message]) -> None:
    for message in parts:
        await send(message)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None


def state(scope: Scope) -> dict[str, Any]:
    result: dict[str, Any] = scope.setdefault("state", {})
    return result
