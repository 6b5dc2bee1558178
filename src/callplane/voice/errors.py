from __future__ import annotations

from callplane.errors import Forbidden, NotFound


class CarrierNotConfigured(NotFound):
    code = "telephony_not_configured"
    default_detail = "No credentials are configured for this carrier."


class BadCarrierSignature(Forbidden):
    code = "invalid_signature"
    default_detail = "The carrier's request signature is missing or does not match."
