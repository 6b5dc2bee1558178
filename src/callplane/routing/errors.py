from __future__ import annotations

from callplane.errors import NotFound


class NothingAnswers(NotFound):
    """Nothing answers the address: an unknown (or another organization's) number, an empty
    slot, an agent without a SIP endpoint or without a live version."""

    code = "route_not_found"
    default_detail = "No agent version answers this address."
