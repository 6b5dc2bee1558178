"""Transport for the SDK: configuration, typed errors, retries with idempotency keys, paging.

`Call` describes one request and how to read its answer; `SyncHTTP` and `AsyncHTTP` run calls with
the same retry policy, so the resource classes only say *what* to send.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_URL = "http://127.0.0.1:8000"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BACKOFF_CAP_SECONDS = 5.0
RETRY_AFTER_CAP_SECONDS = 60.0
USER_AGENT = "callplane-sdk/0.1"


class CallplaneError(Exception):
    """An error answer from the API (or, for `ConnectionFailed`, no answer at all)."""

    status: int | None = None

    def __init__(
        self, status: int | None, code: str, detail: Any, request_id: str | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail  # a string, or FastAPI's list of {loc, msg, type} for 422
        self.request_id = request_id
        super().__init__(f"{status} {code}: {detail}" if status else f"{code}: {detail}")


class BadRequest(CallplaneError):
    pass


class Unauthorized(CallplaneError):
    pass


class Forbidden(CallplaneError):
    pass


class NotFound(CallplaneError):
    pass


class Conflict(CallplaneError):
    pass


class StaleInstructions(Conflict):
    """409 `instructions_stale`: regenerate (or edit) the instructions before publishing."""


class PreconditionFailed(CallplaneError):
    pass


class ValidationFailed(CallplaneError):
    pass


class RateLimited(CallplaneError):
    pass


class ServerError(CallplaneError):
    pass


class ConnectionFailed(CallplaneError):
    """The server could not be reached (after every retry); `status` is None."""


class MissingApiKey(CallplaneError):
    """No credential was given: raised when the client is built, before any request is sent
    (as the openai client does), rather than as a 401 from the first call."""

    def __init__(self) -> None:
        super().__init__(
            None,
            "missing_api_key",
            "no API key: pass api_key= to the client or set CALLPLANE_API_KEY "
            "(an ak_… key, or a pat_… token with org=/CALLPLANE_ORG)",
        )


_BY_STATUS: dict[int, type[CallplaneError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: ValidationFailed,
    429: RateLimited,
}


def error_from_response(response: httpx.Response) -> CallplaneError:
    status = response.status_code
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        code = body.get("code") or ("validation_error" if status == 422 else f"http_{status}")
    else:
        detail = response.text or response.reason_phrase
        code = f"http_{status}"
    if status == 409 and code == "instructions_stale":
        cls: type[CallplaneError] = StaleInstructions
    else:
        cls = _BY_STATUS.get(status, ServerError if status >= 500 else CallplaneError)
    return cls(status, str(code), detail, request_id)


_NO_BODY: Any = object()


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to turn its response into the caller's value."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = _NO_BODY
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    idempotent_write: bool = True  # False for reads sent as POST (compare, validate)
    # A multipart upload: httpx's `files` (name -> (filename, bytes, media type)) and form fields.
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None


@dataclass(frozen=True)
class PageCall(Generic[M]):
    """A list endpoint: every item of every page, following `next_cursor`."""

    path: str
    model: type[M]
    params: dict[str, Any]


def clean_params(**params: Any) -> dict[str, Any]:
    """Query parameters without the unset ones; booleans as the API spells them."""
    return {
        key: (str(value).lower() if isinstance(value, bool) else value)
        for key, value in params.items()
        if value is not None
    }


def _should_retry(response: httpx.Response) -> bool:
    if response.status_code == 429 or response.status_code >= 500:
        return True
    # The first attempt of this very request is still running on the server: wait for it.
    return response.status_code == 409 and "idempotency_key_in_flight" in response.text


class _Base:
    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        org: str | None,
        timeout: float,
        max_retries: int,
        backoff: float,
    ) -> None:
        self.base_url = (base_url or os.environ.get("CALLPLANE_URL") or DEFAULT_URL).rstrip("/")
        api_key = api_key or os.environ.get("CALLPLANE_API_KEY")
        org = org or os.environ.get("CALLPLANE_ORG")
        if not api_key:
            raise MissingApiKey()
        self.headers = {"User-Agent": USER_AGENT, "Authorization": f"Bearer {api_key}"}
        if org:
            self.headers["X-Anyreach-Org"] = org
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff

    def _request_args(self, call: Call[Any]) -> dict[str, Any]:
        headers = dict(call.headers)
        if call.method in WRITE_METHODS and call.idempotent_write:
            # Generated once per logical call, so every retry carries the same key.
            headers["Idempotency-Key"] = call.idempotency_key or str(uuid.uuid4())
        args: dict[str, Any] = {"params": call.params, "headers": headers}
        if call.json is not _NO_BODY:
            args["json"] = call.json
        if call.files is not None:
            args["files"] = call.files
            if call.data:
                args["data"] = call.data
        return args

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None and response.status_code in (429, 503):
            retry_after = response.headers.get("retry-after")
            try:
                return min(max(float(retry_after or ""), 0.0), RETRY_AFTER_CAP_SECONDS)
            except ValueError:
                pass  # an HTTP date or garbage: fall back to the backoff
        delay: float = min(BACKOFF_CAP_SECONDS, self.backoff * 2.0**attempt)
        return delay * (0.5 + random.random() / 2)  # jitter: retries of many clients spread out

    def _retryable(self, attempt: int, response: httpx.Response) -> bool:
        return attempt < self.max_retries and _should_retry(response)

    def _unreachable(self, exc: httpx.TransportError) -> ConnectionFailed:
        return ConnectionFailed(None, "connection_failed", f"{self.base_url}: {exc!r}")


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise error_from_response(response)
    return response


class SyncHTTP(_Base):
    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        org: str | None,
        *,
        timeout: float,
        max_retries: int,
        backoff: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        super().__init__(base_url, api_key, org, timeout, max_retries, backoff)
        self.client = httpx.Client(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.client.close()

    def send(self, call: Call[Any]) -> httpx.Response:
        args = self._request_args(call)
        for attempt in range(self.max_retries + 1):
            try:
                response = self.client.request(call.method, call.path, **args)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise self._unreachable(exc) from exc
                time.sleep(self._delay(attempt, None))
                continue
            if not self._retryable(attempt, response):
                return _checked(response)
            time.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover

    def run(self, call: Call[T]) -> T:
        return call.parse(self.send(call))

    def paginate(self, page: PageCall[M]) -> Iterator[M]:
        params = dict(page.params)
        while True:
            body = self.send(Call("GET", page.path, _json, params=params)).json()
            for item in body["data"]:
                yield page.model.model_validate(item)
            cursor = body["pagination"]["next_cursor"]
            if not cursor:
                return
            params = {**params, "cursor": cursor}

    def stream_text(self, call: Call[Any]) -> Iterator[str]:
        """Text chunks as the server sends them; retried only until the first chunk arrives."""
        args = self._request_args(call)
        for attempt in range(self.max_retries + 1):
            started = False
            try:
                with self.client.stream(call.method, call.path, **args) as response:
                    if response.status_code >= 400:
                        response.read()  # an error body is small; retry decisions read it
                    if self._retryable(attempt, response):
                        delay = self._delay(attempt, response)
                    else:
                        if response.status_code >= 400:
                            raise error_from_response(response)
                        for chunk in response.iter_text():
                            started = True
                            yield chunk
                        return
            except httpx.TransportError as exc:
                if started or attempt == self.max_retries:
                    raise self._unreachable(exc) from exc
                delay = self._delay(attempt, None)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


class AsyncHTTP(_Base):
    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        org: str | None,
        *,
        timeout: float,
        max_retries: int,
        backoff: float,
        transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        super().__init__(base_url, api_key, org, timeout, max_retries, backoff)
        self.client = httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def send(self, call: Call[Any]) -> httpx.Response:
        args = self._request_args(call)
        for attempt in range(self.max_retries + 1):
            try:
                response = await self.client.request(call.method, call.path, **args)
            except httpx.TransportError as exc:
                if attempt == self.max_retries:
                    raise self._unreachable(exc) from exc
                await asyncio.sleep(self._delay(attempt, None))
                continue
            if not self._retryable(attempt, response):
                return _checked(response)
            await asyncio.sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover

    async def run(self, call: Call[T]) -> T:
        return call.parse(await self.send(call))

    async def paginate(self, page: PageCall[M]) -> AsyncIterator[M]:
        params = dict(page.params)
        while True:
            body = (await self.send(Call("GET", page.path, _json, params=params))).json()
            for item in body["data"]:
                yield page.model.model_validate(item)
            cursor = body["pagination"]["next_cursor"]
            if not cursor:
                return
            params = {**params, "cursor": cursor}

    async def stream_text(self, call: Call[Any]) -> AsyncIterator[str]:
        """Text chunks as the server sends them; retried only until the first chunk arrives."""
        args = self._request_args(call)
        for attempt in range(self.max_retries + 1):
            started = False
            try:
                async with self.client.stream(call.method, call.path, **args) as response:
                    if response.status_code >= 400:
                        await response.aread()  # an error body is small; retry decisions read it
                    if self._retryable(attempt, response):
                        delay = self._delay(attempt, response)
                    else:
                        if response.status_code >= 400:
                            raise error_from_response(response)
                        async for chunk in response.aiter_text():
                            started = True
                            yield chunk
                        return
            except httpx.TransportError as exc:
                if started or attempt == self.max_retries:
                    raise self._unreachable(exc) from exc
                delay = self._delay(attempt, None)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


def _json(response: httpx.Response) -> Any:
    return response.json()
