"""The floor: the thinnest honest Python serving `GET /core/agents/{id}` (issue 15).

Starlette + asyncpg, no middleware, running the project's own detail SQL (`AGENT_DETAIL_SQL`)
with the same credential check the project makes: parse `ak_<id>.<secret>`, read the key's row
(cached in-process for the project's default credential TTL, as the Authenticator does), compare
the SHA-256 of the secret in constant time, refuse revoked/expired keys, and scope the query to
the key's organization. Served by uvicorn with the same settings as `callplane serve` (one
process, default loop and HTTP parser, no access log).

Usage: `python -m benchmarks.floor --database-url postgresql://... --port N`.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callplane.agents.detail_sql import AGENT_DETAIL_SQL

CREDENTIAL_TTL = 2.0  # the project's default auth_cache_ttl_seconds
SIP_DOMAIN = "sip.callplane.local"


def build(dsn: str, pool_size: int) -> Starlette:
    pool: asyncpg.Pool | None = None
    credentials: dict[uuid.UUID, tuple[float, Any]] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=pool_size)
        try:
            yield
        finally:
            await pool.close()

    def unauthorized() -> Response:
        return JSONResponse({"detail": "Invalid credential.", "code": "unauthorized"}, 401)

    async def credential(key_id: uuid.UUID) -> Any:
        now = time.monotonic()
        cached = credentials.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        assert pool is not None
        row = await pool.fetchrow(
            "SELECT secret_hash, organization_id, scopes, expires_at, revoked_at "
            "FROM api_keys WHERE id = $1",
            key_id,
        )
        record: tuple[bytes, Any, frozenset[str], Any, bool] | None = None
        if row is not None:
            scopes = frozenset(orjson.loads(row["scopes"]))
            revoked = row["revoked_at"] is not None
            record = (
                bytes(row["secret_hash"]),
                row["organization_id"],
                scopes,
                row["expires_at"],
                revoked,
            )
        credentials[key_id] = (now + CREDENTIAL_TTL, record)
        return record

    async def detail(request: Request) -> Response:
        scheme, _, raw = (request.headers.get("authorization") or "").partition(" ")
        prefix, _, rest = raw.strip().partition("_")
        id_part, _, secret = rest.partition(".")
        if scheme.lower() != "bearer" or prefix != "ak" or len(id_part) != 32 or not secret:
            return unauthorized()
        try:
            key_id = uuid.UUID(hex=id_part)
        except ValueError:
            return unauthorized()
        record = await credential(key_id)
        if record is None or not hmac.compare_digest(
            hashlib.sha256(secret.encode()).digest(), record[0]
        ):
            return unauthorized()
        _, organization_id, scopes, expires_at, revoked = record
        if revoked or (expires_at is not None and expires_at <= datetime.now(UTC)):
            return unauthorized()
        if "agents:read" not in scopes and "agents:manage" not in scopes:
            return JSONResponse({"detail": "Missing scope.", "code": "forbidden"}, 403)
        try:
            agent_id = uuid.UUID(request.path_params["agent_id"])
        except ValueError:
            return JSONResponse({"detail": "bad id", "code": "validation_error"}, 422)
        assert pool is not None
        found = await pool.fetchrow(AGENT_DETAIL_SQL, agent_id, organization_id, SIP_DOMAIN)
        if found is None:
            return JSONResponse({"detail": "Agent not found.", "code": "agent_not_found"}, 404)
        return Response(found[0], media_type="application/json", headers={"ETag": f'"{found[1]}"'})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/core/agents/{agent_id}", detail), Route("/health", health)],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=20)
    args = parser.parse_args()
    dsn = args.database_url.replace("postgresql+asyncpg://", "postgresql://")
    uvicorn.run(
        build(dsn, args.pool_size),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
