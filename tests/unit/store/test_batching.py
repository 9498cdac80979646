"""GroupCommit: concurrent submissions share transactions, and errors reach every submitter."""

from __future__ import annotations

import asyncio

import pytest

from vxdial.store import GroupCommit


async def test_groups_form_while_a_write_runs() -> None:
    groups: list[list[int]] = []

    async def write(items: list[int]) -> list[int]:
        groups.append(items)
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    commit: GroupCommit[int, int] = GroupCommit(write)
    first = asyncio.ensure_future(commit.submit(0))
    await asyncio.sleep(0.001)  # the lone first submission is being written already
    rest = await asyncio.gather(*(commit.submit(i) for i in range(1, 50)))
    assert [await first, *rest] == [i * 10 for i in range(50)]
    assert groups == [[0], list(range(1, 50))]


async def test_a_failed_group_fails_its_submitters_only() -> None:
    calls = 0

    async def write(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return items

    commit: GroupCommit[int, int] = GroupCommit(write)
    with pytest.raises(RuntimeError):
        await commit.submit(1)
    assert await commit.submit(2) == 2


async def test_one_bad_item_does_not_fail_its_group() -> None:
    async def write(items: list[int]) -> list[int]:
        await asyncio.sleep(0.001)
        if 13 in items:
            raise ValueError("13 cannot be stored")
        return [item * 2 for item in items]

    commit: GroupCommit[int, int] = GroupCommit(write)
    first = asyncio.ensure_future(commit.submit(0))
    await asyncio.sleep(0)
    results = await asyncio.gather(
        *(commit.submit(i) for i in range(10, 20)), return_exceptions=True
    )
    assert await first == 0
    assert [r if isinstance(r, int) else "error" for r in results] == [
        20,
        22,
        24,
        "error",
        28,
        30,
        32,
        34,
        36,
        38,
    ]
    assert isinstance(results[3], ValueError)
