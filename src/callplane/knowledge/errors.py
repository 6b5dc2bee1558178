from __future__ import annotations

from callplane.errors import NotFound


class CollectionNotFound(NotFound):
    code = "knowledge_collection_not_found"
    default_detail = "Knowledge collection not found."
