"""The `{version}` path parameter of the version routes (versions, publishing): apart from the
schemas, which the SDK imports without FastAPI."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from callplane.versions.schemas import MAX_VERSION

VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION, description="Version number.")]
