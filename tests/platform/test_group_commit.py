"""Group commit: items of one key that arrive while the key's group is committed wait and
go together in the next group; other keys never wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from trueup.platform.group_commit import GroupCommit


class Recorder:
    """A commit that records its groups and holds each until released."""

    def __init__(self) -> None:
        self.groups: list[tuple[str, list[str]]] = []
        self.release: dict[str, asyncio.Event] = {}

    async def commit(self, key: str, items: list[str]) -> Sequence[str | Exception]:
        self.groups.append((key, list(items)))
        gate = self.release.setdefault(key, asyncio.Event())
        await gate.wait()
        return [ValueError(item) if item.startswith("bad") else item.upper() for item in items]


async def settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def holding_a_group(
    most: int = 10,
) -> tuple[Recorder, GroupCommit[str, str], asyncio.Task[str]]:
    """A group commit whose first group ("a" of t1) is being committed, held there."""
    recorder = Recorder()
    groups: GroupCommit[str, str] = GroupCommit(recorder.commit, most=most)
    first = asyncio.create_task(groups.submit("t1", "a"))
    await settled()
    return recorder, groups, first


async def test_items_that_wait_for_a_group_go_together_in_the_next_in_order() -> None:
    recorder, groups, first = await holding_a_group()
    waiting = [asyncio.create_task(groups.submit("t1", item)) for item in ("b", "c", "d")]
    await settled()
    assert recorder.groups == [("t1", ["a"])]

    recorder.release["t1"].set()

    assert await first == "A"
    assert await asyncio.gather(*waiting) == ["B", "C", "D"]
    assert recorder.groups == [("t1", ["a"]), ("t1", ["b", "c", "d"])]


async def test_another_key_does_not_wait_for_a_group_in_progress() -> None:
    recorder, groups, held = await holding_a_group()

    other = asyncio.create_task(groups.submit("t2", "x"))
    await settled()
    recorder.release["t2"].set()

    assert await asyncio.wait_for(other, 1) == "X"
    assert not held.done()
    recorder.release["t1"].set()
    assert await held == "A"


async def test_a_group_holds_at_most_its_limit() -> None:
    recorder, groups, first = await holding_a_group(most=2)
    rest = [asyncio.create_task(groups.submit("t1", item)) for item in "bcde"]
    recorder.release["t1"].set()

    assert await asyncio.gather(first, *rest) == ["A", "B", "C", "D", "E"]
    assert [items for _, items in recorder.groups] == [["a"], ["b", "c"], ["d", "e"]]


async def test_an_items_own_error_is_only_its_submitters() -> None:
    recorder = Recorder()
    recorder.release["t1"] = asyncio.Event()
    recorder.release["t1"].set()
    groups: GroupCommit[str, str] = GroupCommit(recorder.commit, most=10)

    results = await asyncio.gather(
        groups.submit("t1", "a"), groups.submit("t1", "bad"), return_exceptions=True
    )

    assert results[0] == "A"
    assert isinstance(results[1], ValueError)


async def test_an_error_of_the_commit_is_every_submitters_and_the_next_group_still_runs() -> None:
    calls: list[list[str]] = []

    async def failing_once(key: str, items: list[str]) -> Sequence[str | Exception]:
        calls.append(items)
        await asyncio.sleep(0.01)
        if len(calls) == 2:
            raise ConnectionError("database gone")
        return [item.upper() for item in items]

    groups: GroupCommit[str, str] = GroupCommit(failing_once, most=10)
    first = asyncio.create_task(groups.submit("t1", "a"))
    await settled()
    second = [asyncio.create_task(groups.submit("t1", item)) for item in "bc"]
    await asyncio.wait_for(asyncio.gather(first, *second, return_exceptions=True), 1)
    third = await asyncio.wait_for(groups.submit("t1", "d"), 1)

    assert first.result() == "A"
    assert [type(task.exception()) for task in second] == [ConnectionError] * 2
    assert third == "D"


async def test_a_commit_that_miscounts_its_outcomes_fails_its_group() -> None:
    async def one_short(key: str, items: list[str]) -> Sequence[str | Exception]:
        return items[1:]

    groups: GroupCommit[str, str] = GroupCommit(one_short, most=10)

    with pytest.raises(RuntimeError, match="one outcome per item"):
        await groups.submit("t1", "a")


async def test_a_submitter_that_stops_waiting_does_not_stop_the_others() -> None:
    recorder, groups, first = await holding_a_group()
    impatient = asyncio.create_task(groups.submit("t1", "b"))
    patient = asyncio.create_task(groups.submit("t1", "c"))
    await settled()
    impatient.cancel()
    recorder.release["t1"].set()

    assert await first == "A"
    assert await patient == "C"
    assert impatient.cancelled()
