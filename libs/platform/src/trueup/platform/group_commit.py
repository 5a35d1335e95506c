"""Group commit: work for one key that arrives while the key's previous group is being
committed waits, and is then committed with everything else that waited, as one group.

A writer that must hold a lock per key (reconciliation's per-tenant lock) pays for the
lock and its transaction once per group instead of once per item, and the items of one
key still go through in the order they arrived. Nothing waits that need not: an item for
a key with no group in progress starts its own at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Commits items in groups per key, at most `most` in a group, one group of a key at
    a time.

    `commit` gets a group's items in arrival order and returns one outcome per item, in
    the same order: a result, or an exception that only that item's submitter gets. An
    exception `commit` raises is every submitter of the group's.
    """

    def __init__(
        self,
        commit: Callable[[str, list[T]], Awaitable[Sequence[R | Exception]]],
        *,
        most: int,
    ) -> None:
        if most < 1:
            raise ValueError("a group holds at least one item")
        self._commit = commit
        self._most = most
        self._waiting: dict[str, list[tuple[T, asyncio.Future[R]]]] = {}
        self._committing: set[asyncio.Task[None]] = set()

    async def submit(self, key: str, item: T) -> R:
        """The item's outcome, once the group it joined is committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.append((item, future))
        else:
            self._waiting[key] = [(item, future)]
            task = asyncio.create_task(self._commit_groups(key), name=f"group-commit-{key}")
            # Held here: the loop keeps only a weak reference to a task.
            self._committing.add(task)
            task.add_done_callback(self._committing.discard)
        return await future

    async def _commit_groups(self, key: str) -> None:
        # Single-threaded: between the check and the removal below nothing can arrive.
        while waiting := self._waiting[key]:
            group, self._waiting[key] = waiting[: self._most], waiting[self._most :]
            try:
                outcomes = await self._commit(key, [item for item, _ in group])
            except Exception as exc:
                _settle(group, [exc] * len(group))
            except BaseException:
                # Cancelled (the process is stopping): nothing is left to commit the rest.
                for _, future in group + self._waiting.pop(key, []):
                    future.cancel()
                raise
            else:
                if len(outcomes) != len(group):
                    miscount = RuntimeError("the commit did not give one outcome per item")
                    outcomes = [miscount] * len(group)
                _settle(group, outcomes)
        del self._waiting[key]


def _settle(group: list[tuple[T, asyncio.Future[R]]], outcomes: Sequence[R | Exception]) -> None:
    for (_, future), outcome in zip(group, outcomes, strict=True):
        if future.done():  # its submitter stopped waiting
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
