from __future__ import annotations

from callplane.errors import UnprocessableRequest


class InvalidRange(UnprocessableRequest):
    code = "invalid_range"
    default_detail = "`from` must be before `to`, and the range must hold at most 1000 buckets."
