"""vxdial.domain.clock: SystemClock, ScaledClock, FakeClock and epoch seconds.

Nothing here really sleeps: FakeClock is advanced, and ScaledClock is given a fake
``time`` and ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from vxdial.domain import clock

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def settle() -> None:
    """Let every ready task run (no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


# FakeClock


def test_fake_clock_default_start() -> None:
    assert clock.FakeClock().now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_fake_clock_stands_still_until_advanced() -> None:
    fake = clock.FakeClock(T0)
    assert fake.now() == T0
    assert fake.now() == T0
    fake.advance(1.5)
    assert fake.now() == T0 + timedelta(seconds=1.5)
    fake.advance(3600)
    assert fake.now() == T0 + timedelta(seconds=3601.5)


def test_fake_clock_set_converts_to_utc() -> None:
    fake = clock.FakeClock(T0)
    paris = datetime(2026, 7, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    fake.set(paris)
    assert fake.now() == datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert fake.now().utcoffset() == timedelta(0)


def test_fake_clock_set_refuses_a_naive_datetime() -> None:
    fake = clock.FakeClock(T0)
    with pytest.raises(ValueError, match="aware"):
        fake.set(datetime(2026, 7, 1, 12, 0))
    assert fake.now() == T0


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 1, 13, 0, tzinfo=ZoneInfo("Europe/Paris")),
        datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 3, 1, 7, 0, tzinfo=ZoneInfo("America/New_York")),
        T0,
    ],
)
def test_fake_clock_start_is_converted_to_utc(start: datetime) -> None:
    fake = clock.FakeClock(start)
    assert fake.now() == T0
    assert fake.now().tzinfo is UTC
    fake.advance(1)
    assert fake.now() == T0 + timedelta(seconds=1)
    assert fake.now().tzinfo is UTC


def test_fake_clock_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="aware"):
        clock.FakeClock(datetime(2026, 3, 1, 12, 0))


async def test_fake_clock_sleep_wakes_at_the_deadline() -> None:
    fake = clock.FakeClock(T0)
    sleeper = asyncio.create_task(fake.sleep(10))
    await settle()
    assert not sleeper.done()
    fake.advance(4)
    await settle()
    assert not sleeper.done()
    fake.advance(5.999)
    await settle()
    assert not sleeper.done()
    fake.advance(0.001)
    await settle()
    assert sleeper.done()
    assert fake.now() == T0 + timedelta(seconds=10)


async def test_fake_clock_sleep_wakes_once_past_the_deadline() -> None:
    fake = clock.FakeClock(T0)
    sleeper = asyncio.create_task(fake.sleep(10))
    await settle()
    fake.advance(3600)
    await settle()
    assert sleeper.done()


async def test_fake_clock_set_wakes_sleepers() -> None:
    fake = clock.FakeClock(T0)
    sleeper = asyncio.create_task(fake.sleep(60))
    await settle()
    fake.set(T0 + timedelta(seconds=59))
    await settle()
    assert not sleeper.done()
    fake.set(T0 + timedelta(minutes=1))
    await settle()
    assert sleeper.done()


async def test_fake_clock_wakes_each_sleeper_at_its_own_deadline() -> None:
    fake = clock.FakeClock(T0)
    woke: list[int] = []

    async def nap(seconds: int) -> None:
        await fake.sleep(seconds)
        woke.append(seconds)

    tasks = [asyncio.create_task(nap(s)) for s in (30, 10, 20)]
    await settle()
    for _ in range(3):
        fake.advance(10)
        await settle()
        assert woke == [10, 20, 30][: len(woke)]
    assert woke == [10, 20, 30]
    await asyncio.gather(*tasks)


@pytest.mark.parametrize("seconds", [0, -5])
async def test_fake_clock_sleep_without_a_wait_returns_at_once(seconds: float) -> None:
    fake = clock.FakeClock(T0)
    await asyncio.wait_for(fake.sleep(seconds), timeout=1)
    assert fake.now() == T0


@pytest.fixture
def clock_made_outside_a_loop() -> clock.FakeClock:
    # A sync fixture: built while no event loop runs.
    return clock.FakeClock(T0)


async def test_fake_clock_made_outside_a_loop_still_wakes(
    clock_made_outside_a_loop: clock.FakeClock,
) -> None:
    fake = clock_made_outside_a_loop
    sleeper = asyncio.create_task(fake.sleep(5))
    await settle()
    assert not sleeper.done()
    fake.advance(5)
    await settle()
    assert sleeper.done()


# ScaledClock, with fake time functions


class FakeTime:
    def __init__(self, wall: float, mono: float) -> None:
        self.wall = wall
        self.mono = mono

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime(wall=1_772_366_400.0, mono=1000.0)  # 2026-03-01T12:00:00Z
    monkeypatch.setattr(clock, "time", fake)
    return fake


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine that never suspends, without an event loop."""
    with pytest.raises(StopIteration):
        coroutine.send(None)


def test_scaled_clock_starts_at_real_time(fake_time: FakeTime) -> None:
    scaled = clock.ScaledClock(60)
    assert scaled.now() == T0
    assert scaled.now().tzinfo is UTC


@pytest.mark.parametrize("speed", [1, 2.5, 60, 1000])
def test_scaled_clock_runs_speed_times_faster(fake_time: FakeTime, speed: float) -> None:
    scaled = clock.ScaledClock(speed)
    fake_time.mono += 10
    fake_time.wall += 10  # the wall clock does not matter once started
    assert scaled.now() == T0 + timedelta(seconds=10 * speed)


def test_scaled_clock_ignores_wall_clock_jumps(fake_time: FakeTime) -> None:
    scaled = clock.ScaledClock(10)
    fake_time.wall -= 3600
    fake_time.mono += 1
    assert scaled.now() == T0 + timedelta(seconds=10)


def test_scaled_clock_sleeps_speed_times_shorter(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(clock, "asyncio", types.SimpleNamespace(sleep=fake_sleep))
    scaled = clock.ScaledClock(100)
    run(scaled.sleep(60))
    run(scaled.sleep(0))
    run(scaled.sleep(-3))
    assert slept == [0.6, 0.0, 0.0]


@pytest.mark.parametrize("speed", [0, -1, -0.5])
def test_scaled_clock_needs_a_positive_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        clock.ScaledClock(speed)


# SystemClock


def test_system_clock_is_aware_utc_now() -> None:
    before = datetime.now(UTC)
    now = clock.SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is UTC
    assert before <= now <= after


def test_system_clock_sleep_clamps_negative_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(clock, "asyncio", types.SimpleNamespace(sleep=fake_sleep))
    run(clock.SystemClock().sleep(-1))
    run(clock.SystemClock().sleep(2.5))
    assert slept == [0.0, 2.5]


def test_clocks_satisfy_the_protocol() -> None:
    clocks: list[clock.Clock] = [clock.SystemClock(), clock.ScaledClock(2), clock.FakeClock()]
    assert all(isinstance(c.now(), datetime) for c in clocks)


# Epoch seconds


@pytest.mark.parametrize(
    ("when", "seconds"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
        (T0, 1_772_366_400),
        (T0 + timedelta(microseconds=999_999), 1_772_366_400),  # whole seconds, truncated
        (datetime(2026, 3, 1, 13, 0, tzinfo=ZoneInfo("Europe/Paris")), 1_772_366_400),
        (datetime(2026, 11, 27, 17, 20, tzinfo=UTC), 1_795_800_000),  # PRODUCT.md's example
    ],
)
def test_to_epoch_s(when: datetime, seconds: int) -> None:
    assert clock.to_epoch_s(when) == seconds
    assert isinstance(clock.to_epoch_s(when), int)


@pytest.mark.parametrize(
    ("seconds", "when"),
    [
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1_772_366_400, T0),
        (1_772_366_400.5, T0 + timedelta(seconds=0.5)),
        (253402300799, datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_from_epoch_s(seconds: float, when: datetime) -> None:
    assert clock.from_epoch_s(seconds) == when
    assert clock.from_epoch_s(seconds).tzinfo is UTC


def test_epoch_round_trip() -> None:
    for seconds in (0, 1, 1_000_000_000, 1_795_800_000, 4_102_444_800):
        assert clock.to_epoch_s(clock.from_epoch_s(seconds)) == seconds
