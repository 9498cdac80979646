"""Group commit: many small writes from concurrent requests in one transaction.

Each queuecall is one INSERT, but the transaction around it (connection checkout,
BEGIN, COMMIT and, on PostgreSQL, the WAL flush) costs more than the INSERT. While
one group is being written, new submissions wait in the next group; an idle system
writes a lone request at once, so no latency is added, and under load a transaction
carries as many requests as arrived meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_GROUP = 500


class GroupCommit(Generic[Item, Result]):
    """``await submit(item)`` -> the result ``write(items)`` gave for it.

    ``write`` stores a whole group in one transaction and returns one result per item,
    in order. If a group fails, its items are written again one at a time, so each
    submitter gets its own item's result or exception.
    """

    def __init__(self, write: Callable[[list[Item]], Awaitable[Sequence[Result]]]) -> None:
        self._write = write
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            try:
                results = await self._write([item for item, _ in group])
            except Exception as exc:
                if len(group) == 1:
                    if not group[0][1].done():
                        group[0][1].set_exception(exc)
                    continue
                # One bad item must not fail the others: write each on its own.
                for entry in group:
                    await self._write_alone(entry)
                continue
            except BaseException as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                raise
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _write_alone(self, entry: tuple[Item, asyncio.Future[Result]]) -> None:
        item, future = entry
        try:
            [result] = await self._write([item])
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)
