"""One request, one transaction: the session dependency commits on success, rolls back on error.

Application code never commits. Work that must happen only once the transaction is durable (cache
eviction, starting workflows) registers itself with `after_commit`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.audit.recorder import bind_request
from callplane.db.engine import Database
from callplane.kit.idempotency import mark_committed

AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, hook: Callable[[], Awaitable[None] | None]) -> None:
    session.info.setdefault(AFTER_COMMIT, []).append(hook)


async def run_in_transaction_hooks(session: AsyncSession) -> None:
    for hook in session.info.pop(AFTER_COMMIT, []):
        result = hook()
        if result is not None:
            await result


async def open_session(request: Request, *, write: bool) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.session(write=write) as session:
        if write:
            bind_request(session, request.state)
        async with session.begin():
            yield session
            if write:
                await mark_committed(session, request.state)
        await run_in_transaction_hooks(session)


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in open_session(request, write=False):
        yield session


async def write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in open_session(request, write=True):
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(write_session, scope="function")]
