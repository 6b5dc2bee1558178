"""ETags and If-Match: optimistic concurrency on agents and versions."""

from __future__ import annotations

from callplane.errors import PreconditionFailed


def etag_for(revision: int) -> str:
    return f'"{revision}"'


def check_if_match(if_match: str | None, revision: int) -> None:
    """412 when If-Match names no current ETag; without If-Match the last write wins."""
    if if_match is None:
        return
    current = etag_for(revision)
    candidates = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" in candidates or current in candidates:
        return
    raise PreconditionFailed(f"If-Match {if_match!r} does not match the current ETag {current}.")
