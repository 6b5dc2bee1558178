from __future__ import annotations

from callplane.errors import NotFound


class ApiKeyNotFound(NotFound):
    default_detail = "API key not found."
