"""`GET /core/routing/resolve`: what a voice runtime asks on every call it answers or places."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import QueryParams

from callplane.agents.auth import AGENTS_READ_SCOPES, AgentsReader
from callplane.auth.dependencies import authorize
from callplane.errors import merge_responses
from callplane.kit.lean import lean
from callplane.routing.errors import NothingAnswers
from callplane.routing.schemas import Direction, ResolvedRoute
from callplane.routing.service import (
    Address,
    InvalidAddress,
    not_modified,
    phone_address,
    resolve,
    sip_address,
)

router = APIRouter(prefix="/core/routing", tags=["routing"])

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "If-None-Match names the current ETag: the cached answer is current."}
}


def _invalid(name: str, message: str, kind: str = "value_error") -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": kind}])


def _address(phone_number: str | None, direction: Direction | None, sip_uri: str | None) -> Address:
    if (phone_number is None) == (sip_uri is None):
        raise _invalid("phone_number", "give exactly one of `phone_number` or `sip_uri`", "missing")
    try:
        if phone_number is not None:
            return phone_address(phone_number, direction or "inbound")
        if direction is not None:
            raise _invalid("direction", "`direction` applies to `phone_number` only")
        assert sip_uri is not None
        return sip_address(sip_uri)
    except InvalidAddress as exc:
        raise _invalid(
            "phone_number" if phone_number is not None else "sip_uri", str(exc)
        ) from None


PHONE_NUMBER_HELP = (
    "The number called (inbound) or calling out (outbound), E.164: `+14155551234` (encode `+` "
    "as `%2B`; an unencoded `+` is read as meant)."
)
DIRECTION_HELP = "Which slot of the number: `inbound` (the default) or `outbound`."
SIP_URI_HELP = "`sip:<agent-id>@<domain>`: the agent's live version."


async def resolve_route(
    subject: AgentsReader,
    request: Request,
    phone_number: Annotated[str | None, Query(max_length=64, description=PHONE_NUMBER_HELP)] = None,
    direction: Annotated[Direction | None, Query(description=DIRECTION_HELP)] = None,
    sip_uri: Annotated[str | None, Query(max_length=512, description=SIP_URI_HELP)] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """The agent version answering a phone number's slot or a SIP URI, with its config as the
    `telephone` channel sees it (its override applied). 404 when nothing answers: an unknown or
    another organization's number, an empty slot, no SIP endpoint or no live version. Cache the
    answer and revalidate with If-None-Match: 304 while it is current."""
    address = _address(phone_number, direction, sip_uri)
    return await _answer(subject, request, address, if_none_match)


async def _answer(
    subject: AgentsReader, request: Request, address: Address, if_none_match: str | None
) -> Response:
    state = request.app.state
    resolved = await resolve(
        state.database,
        subject.organization_id,
        address,
        state.settings.sip_domain,
        state.routing_configs,
    )
    headers = {"ETag": resolved.etag}
    if not_modified(if_none_match, resolved.etag):
        return Response(status_code=304, headers=headers)
    return Response(resolved.document, media_type="application/json", headers=headers)


class _Query(BaseModel):
    """The query parameters as `resolve_route` declares them (the same limits, the same 422)."""

    model_config = ConfigDict(extra="ignore")

    phone_number: str | None = Field(default=None, max_length=64)
    direction: Direction | None = None
    sip_uri: str | None = Field(default=None, max_length=512)


@functools.lru_cache(maxsize=1024)
def _parsed(query_string: bytes) -> Address:
    """The address a query string names, or the 422 `resolve_route` would answer (not kept).
    Remembered: a pure function of the query string, and a runtime asks the same few."""
    try:
        query = _Query.model_validate(dict(QueryParams(query_string)))
    except ValidationError as error:
        issues: list[Any] = [
            {**issue, "loc": ("query", *issue["loc"])} for issue in error.errors(include_url=False)
        ]
        raise RequestValidationError(issues) from None
    return _address(query.phone_number, query.direction, query.sip_uri)


async def _serve_resolve(request: Request) -> Response:
    """`resolve_route` without dependency solving: a voice runtime asks on every call
    (kit.lean); 401/403/429 before 422, as the declared route would answer."""
    subject = await authorize(request, AGENTS_READ_SCOPES)
    address = _parsed(request.scope["query_string"])
    return await _answer(subject, request, address, request.headers.get("if-none-match"))


router.add_api_route(
    "/resolve",
    resolve_route,
    methods=["GET"],
    response_model=ResolvedRoute,
    responses={**NOT_MODIFIED, **merge_responses(NothingAnswers)},
    route_class_override=lean(_serve_resolve),
)
