"""E.164 normalization: parsing phone numbers is not a regex job."""

from __future__ import annotations

import phonenumbers


class InvalidPhoneNumber(ValueError):
    pass


def to_e164(raw: str, default_region: str | None = None) -> str:
    """Return `raw` in E.164 (`+14155551234`) or raise InvalidPhoneNumber.

    Numbers must be international (leading `+`) unless a default region is given; only numbers
    `phonenumbers` considers possible are accepted.
    """
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 64:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number")
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number: {exc}") from None
    if parsed.extension:
        # E.164 has no extensions: accepting one would silently land calls on the main line.
        raise InvalidPhoneNumber(f"{raw!r} has an extension; register the number without it")
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    formatted: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted
