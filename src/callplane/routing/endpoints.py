"""`GET /core/routing/resolve`: what a voice runtime asks on every call it answers or places."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from callplane.agents.auth import AgentsReader
from callplane.errors import merge_responses
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


@router.get(
    "/resolve",
    response_model=ResolvedRoute,
    responses={**NOT_MODIFIED, **merge_responses(NothingAnswers)},
)
async def resolve_route(
    subject: AgentsReader,
    request: Request,
    phone_number: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The number called (inbound) or calling "
            "out (outbound), E.164: `+14155551234` (encode `+` as `%2B`).",
        ),
    ] = None,
    direction: Annotated[
        Direction | None,
        Query(description="Which slot of the number: `inbound` (the default) or `outbound`."),
    ] = None,
    sip_uri: Annotated[
        str | None,
        Query(max_length=512, description="`sip:<agent-id>@<domain>`: the agent's live version."),
    ] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """The agent version answering a phone number's slot or a SIP URI, with its config as the
    `telephone` channel sees it (its override applied). 404 when nothing answers: an unknown or
    another organization's number, an empty slot, no SIP endpoint or no live version. Cache the
    answer and revalidate with If-None-Match: 304 while it is current."""
    address = _address(phone_number, direction, sip_uri)
    state = request.app.state
    resolved = await resolve(
        state.database, subject.organization_id, address, state.settings.sip_domain
    )
    headers = {"ETag": resolved.etag}
    if not_modified(if_none_match, resolved.etag):
        return Response(status_code=304, headers=headers)
    return Response(resolved.document(), media_type="application/json", headers=headers)
