"""Operational endpoints: liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from callplane.db.engine import Database
from callplane.db.migrate import current_revision, head_revision
from callplane.ops.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health)
async def get_health() -> Health:
    """Liveness: the process answers. Touches no database."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def get_readiness(request: Request) -> JSONResponse:
    """Readiness: the database answers and its schema is at the newest migration."""
    database: Database = request.app.state.database
    expected = head_revision()
    try:
        async with database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await current_revision(database.engine)
    except Exception as exc:  # any failure to reach the database means not ready
        body = Readiness(
            status="unavailable",
            database=type(exc).__name__,
            migration=None,
            expected_migration=expected,
        )
        return JSONResponse(body.model_dump(), status_code=503)
    ok = current == expected
    body = Readiness(
        status="ok" if ok else "migrations_pending",
        database="ok",
        migration=current,
        expected_migration=expected,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
