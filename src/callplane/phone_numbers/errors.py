from __future__ import annotations

from callplane.errors import Conflict, NotFound


class PhoneNumberNotFound(NotFound):
    code = "phone_number_not_found"
    default_detail = "Phone number not found."


class PhoneNumberTaken(Conflict):
    code = "phone_number_registered"
    default_detail = "This phone number is already registered."


class PhoneNumberInUse(Conflict):
    code = "phone_number_assigned"
    default_detail = "This phone number is assigned to an agent; unassign it first."
