from __future__ import annotations

from callplane.errors import BadRequest, NotFound, UnprocessableRequest


class PhoneNumbersNotRegistered(NotFound):
    code = "phone_numbers_not_registered"
    default_detail = "Some phone numbers are not registered in this organization."


class InvalidPhoneNumbers(UnprocessableRequest):
    code = "invalid_phone_numbers"


class VersionNotPublished(BadRequest):
    code = "version_not_published"
    default_detail = (
        "Rollback goes back to a version that has been published before, and this one never "
        "was. To put a draft live, publish it (POST /core/agents/{id}/versions/{version}/publish)."
    )
