"""One request, one transaction: the session dependency commits on success, rolls back on error.

Application code never commits. Work that must happen only once the transaction is durable (cache
eviction, starting workflows) registers itself with `after_commit`.

What else a request's write session does is the app's to say (`WriteHooks` on `app.state`): this
module knows no domain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from callplane.db.engine import Database

AFTER_COMMIT = "after_commit"


@dataclass(frozen=True)
class WriteHooks:
    """Called with a request's write session and the request's state: `opened` once the session
    exists, `committing` inside its transaction after the request's work, before the commit."""

    opened: Sequence[Callable[[AsyncSession, Any], None]] = ()
    committing: Sequence[Callable[[AsyncSession, Any], Awaitable[None]]] = ()


NO_HOOKS = WriteHooks()


def after_commit(session: AsyncSession, hook: Callable[[], Awaitable[None] | None]) -> None:
    session.info.setdefault(AFTER_COMMIT, []).append(hook)


async def run_in_transaction_hooks(session: AsyncSession) -> None:
    for hook in session.info.pop(AFTER_COMMIT, []):
        result = hook()
        if result is not None:
            await result


async def open_session(request: Request, *, write: bool) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    hooks: WriteHooks = request.app.state.write_hooks if write else NO_HOOKS
    async with database.session(write=write) as session:
        for opened in hooks.opened:
            opened(session, request.state)
        async with session.begin():
            yield session
            for committing in hooks.committing:
                await committing(session, request.state)
        await run_in_transaction_hooks(session)


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in open_session(request, write=False):
        yield session


async def write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in open_session(request, write=True):
        yield session


ReadSession = Annotated[AsyncSession, Depends(read_session, scope="function")]
WriteSession = Annotated[AsyncSession, Depends(write_session, scope="function")]
