"""vxdial.telephony.sim: the simulated carrier, driven by a FakeClock.

``World.run`` advances the clock in small steps while a dial or leg operation runs,
so each test reads how much simulated time it took; only the last test, with a
ScaledClock, waits for real (about 6 ms).
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import wave
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from vxdial import config
from vxdial.domain import calls, errors, media
from vxdial.domain.clock import FakeClock, ScaledClock
from vxdial.telephony import base, sim

T = TypeVar("T")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP_S = 0.01  # how far World.run moves the clock at a time: the precision of timings

ANSWER = calls.Outcome.ANSWER
BUSY = calls.Outcome.BUSY
NOANSWER = calls.Outcome.NOANSWER
REJECTED = calls.Outcome.REJECTED
UNREACHABLE = calls.Outcome.UNREACHABLE


async def settle() -> None:
    """Let every ready task run (no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


class World:
    """A FakeClock, stepped forward while the awaited simulation runs."""

    def __init__(self) -> None:
        self.clock = FakeClock(T0)

    def elapsed(self) -> float:
        """Simulated seconds since the test began."""
        return (self.clock.now() - T0).total_seconds()

    async def run(self, awaitable: Awaitable[T], *, limit_s: float = 600) -> T:
        """Await ``awaitable``, advancing the clock by ``STEP_S`` whenever it waits."""
        task = asyncio.ensure_future(awaitable)
        start = self.clock.now()
        try:
            while True:
                await settle()
                if task.done():
                    return task.result()
                if (self.clock.now() - start).total_seconds() > limit_s:
                    raise AssertionError(f"still running after {limit_s} simulated seconds")
                self.clock.advance(STEP_S)
        finally:
            if not task.done():
                task.cancel()

    async def timed(self, awaitable: Awaitable[T]) -> tuple[T, float]:
        """The result and the simulated seconds it took."""
        start = self.elapsed()
        result = await self.run(awaitable)
        return result, self.elapsed() - start

    async def advance(self, seconds: float, *, step_s: float = STEP_S) -> None:
        """Let ``seconds`` pass, ``step_s`` at a time, with nothing awaited by the test."""
        end = self.clock.now() + timedelta(seconds=seconds)
        while self.clock.now() < end:
            await settle()
            self.clock.advance(min(step_s, (end - self.clock.now()).total_seconds()))
        await settle()


@pytest.fixture
def world() -> World:
    return World()


def driver(world: World, *rules: config.SimRule) -> sim.SimDriver:
    return sim.SimDriver(rules, world.clock)


def request(
    number: str = "15551230000", attempt: int = 1, ring_timeout_s: float = 30.0
) -> base.DialRequest:
    return base.DialRequest(
        call_id=1,
        attempt=attempt,
        number=number,
        caller_id=None,
        postd=None,
        ring_timeout_s=ring_timeout_s,
    )


def about(seconds: float) -> object:
    return pytest.approx(seconds, abs=STEP_S)


async def answered(
    world: World, *, dtmf: str = "", talk_seconds: float = 0.0, rule: config.SimRule | None = None
) -> sim.SimLeg:
    """The leg of a call answered at once, its callee as ``rule`` says (by default, one
    pressing ``dtmf`` and hanging up after ``talk_seconds``)."""
    rule = dataclasses.replace(
        rule or config.SimRule(dtmf=dtmf, talk_seconds=talk_seconds), ring_seconds=0
    )
    result = await world.run(driver(world, rule).dial(request()))
    assert isinstance(result.leg, sim.SimLeg)
    return result.leg


def test_sim_driver_and_leg_satisfy_the_interfaces(world: World) -> None:
    # Checked by mypy: the assignments type-check only if the protocols are met.
    carrier: base.Driver = driver(world)
    leg: base.CallLeg = sim.SimLeg(world.clock)
    assert carrier is not None
    assert leg.heard == []


# Outcomes and their timing


async def test_no_matching_rule_answers_after_a_one_second_ring(world: World) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(match="44*", outcome="busy"))
    result, took = await world.timed(
        carrier.dial(request("15551230000"), on_ringing=lambda: rang.append(world.elapsed()))
    )
    assert result.outcome is ANSWER
    assert result.cause == "sim: answer"
    assert result.callee_type is calls.CalleeType.VOICE
    assert took == about(1.0)
    assert rang == [0.0]
    leg = result.leg
    assert isinstance(leg, sim.SimLeg)
    assert leg.callee_type is calls.CalleeType.VOICE
    assert leg.answered_at == world.clock.now()
    assert leg.callee_leaves_at is None
    assert carrier.calls_up == 1
    # A silent voice that never hangs up.
    collected = await world.run(
        leg.collect(max_digits=5, timeout_s=5, interdigit_timeout_s=3), limit_s=10
    )
    assert collected == media.Collected("", "noinput")
    await world.advance(86400, step_s=60)
    assert leg.end_cause is None
    assert carrier.calls_up == 1


async def test_no_rules_at_all_is_the_same_default(world: World) -> None:
    result, took = await world.timed(driver(world).dial(request()))
    assert (result.outcome, took) == (ANSWER, about(1.0))


@pytest.mark.parametrize(
    ("outcome", "cause"), [("busy", "sim: busy"), ("unreachable", "sim: unreachable")]
)
async def test_busy_and_unreachable_answer_at_once_without_ringing(
    world: World, outcome: str, cause: str
) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(outcome=outcome, ring_seconds=20))
    result, took = await world.timed(
        carrier.dial(request(), on_ringing=lambda: rang.append(world.elapsed()))
    )
    assert result == base.DialResult(calls.Outcome(outcome), cause)
    assert took == about(sim.SETUP_S)
    assert rang == []
    assert carrier.calls_up == 0


async def test_rejected_rings_first(world: World) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(outcome="rejected", ring_seconds=4))
    result, took = await world.timed(
        carrier.dial(request(), on_ringing=lambda: rang.append(world.elapsed()))
    )
    assert result == base.DialResult(REJECTED, "sim: rejected")
    assert took == about(4.0)
    assert rang == [0.0]


async def test_answer_rings_ring_seconds(world: World) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(ring_seconds=7.5, callee_type="answeringmachine"))
    result, took = await world.timed(
        carrier.dial(request(), on_ringing=lambda: rang.append(world.elapsed()))
    )
    assert result.outcome is ANSWER
    assert result.callee_type is calls.CalleeType.ANSWERINGMACHINE
    assert isinstance(result.leg, sim.SimLeg)
    assert result.leg.callee_type is calls.CalleeType.ANSWERINGMACHINE
    assert took == about(7.5)
    assert rang == [0.0]


async def test_noanswer_rings_until_the_ring_timeout(world: World) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(outcome="noanswer", ring_seconds=2))
    result, took = await world.timed(
        carrier.dial(request(ring_timeout_s=25), on_ringing=lambda: rang.append(world.elapsed()))
    )
    assert result == base.DialResult(NOANSWER, "ring timeout")
    assert took == about(25.0)
    assert rang == [0.0]


@pytest.mark.parametrize("outcome", ["answer", "rejected"])
async def test_a_ring_longer_than_the_ring_timeout_is_noanswer(world: World, outcome: str) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(outcome=outcome, ring_seconds=40))
    result, took = await world.timed(
        carrier.dial(request(ring_timeout_s=12), on_ringing=lambda: rang.append(world.elapsed()))
    )
    assert result == base.DialResult(NOANSWER, "ring timeout")
    assert took == about(12.0)
    assert rang == [0.0]
    assert carrier.calls_up == 0


async def test_a_ring_as_long_as_the_ring_timeout_is_answered(world: World) -> None:
    carrier = driver(world, config.SimRule(ring_seconds=12))
    result, took = await world.timed(carrier.dial(request(ring_timeout_s=12)))
    assert (result.outcome, took) == (ANSWER, about(12.0))


async def test_an_instant_answer_does_not_ring(world: World) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(ring_seconds=0, callee_type="fax"))
    result, took = await world.timed(carrier.dial(request(), on_ringing=lambda: rang.append(0)))
    assert (result.outcome, result.callee_type, took) == (ANSWER, calls.CalleeType.FAX, 0.0)
    assert rang == []


# Attempts and rules


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, BUSY), (2, BUSY), (3, ANSWER), (4, ANSWER), (10, ANSWER), (0, BUSY)],
)
async def test_attempts_give_each_attempt_its_outcome_the_last_repeating(
    world: World, attempt: int, expected: calls.Outcome
) -> None:
    # A fresh driver per attempt: the outcome comes from the request alone, so any
    # worker dialing attempt 3 gets the same answer.
    rule = config.SimRule(outcome="unreachable", attempts=("busy", "busy", "answer"))
    result = await world.run(driver(world, rule).dial(request(attempt=attempt)))
    assert result.outcome is expected


async def test_attempts_across_one_driver(world: World) -> None:
    carrier = driver(world, config.SimRule(attempts=("noanswer", "rejected", "busy")))
    outcomes = [
        (await world.run(carrier.dial(request(attempt=n, ring_timeout_s=5)))).outcome
        for n in (1, 2, 3, 4)
    ]
    assert outcomes == [NOANSWER, REJECTED, BUSY, BUSY]


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("15550001234", BUSY),  # first rule, though the second matches too
        ("15551234567", REJECTED),
        ("4420790000", UNREACHABLE),  # [0-4] range
        ("4490790000", ANSWER),  # no match: the default
        ("331234567", NOANSWER),  # "?" is one digit
        ("3312345678", ANSWER),
        ("915550001234", ANSWER),  # a glob matches the whole number
    ],
)
async def test_the_first_matching_glob_decides(
    world: World, number: str, expected: calls.Outcome
) -> None:
    carrier = driver(
        world,
        config.SimRule(match="1555000*", outcome="busy"),
        config.SimRule(match="1555*", outcome="rejected"),
        config.SimRule(match="44[0-4]*", outcome="unreachable"),
        config.SimRule(match="33???????", outcome="noanswer"),
    )
    result = await world.run(carrier.dial(request(number, ring_timeout_s=5)))
    assert result.outcome is expected


async def test_a_plus_written_in_a_rule_is_ignored(world: World) -> None:
    carrier = driver(world, config.SimRule(match="+1555*", outcome="busy"))
    result = await world.run(carrier.dial(request("15551234567")))
    assert result.outcome is BUSY


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (config.SimRule(outcome="engaged"), "sim.rule[1].outcome"),
        (config.SimRule(attempts=("busy", "later")), "sim.rule[1].attempts"),
        (config.SimRule(callee_type="robot"), "sim.rule[1].callee_type"),
        (config.SimRule(ring_seconds=-1), "sim.rule[1].ring_seconds"),
        (config.SimRule(talk_seconds=-1), "sim.rule[1].talk_seconds"),
        (config.SimRule(record_seconds=-1), "sim.rule[1].record_seconds"),
        (config.SimRule(record_key="##"), "sim.rule[1].record_key"),
        (config.SimRule(record_key="x"), "sim.rule[1].record_key"),
        (config.SimRule(transfer="answer"), "sim.rule[1].transfer"),
        (config.SimRule(transfer="unknown"), "sim.rule[1].transfer"),
        (config.SimRule(transfer_seconds=-1), "sim.rule[1].transfer_seconds"),
    ],
)
def test_a_bad_rule_is_refused_by_name(world: World, rule: config.SimRule, field: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        driver(world, config.SimRule(), rule)
    assert caught.value.field == field


# Cancellation and line counts


@pytest.mark.parametrize(
    ("outcome", "after_s"), [("answer", 3.0), ("noanswer", 3.0), ("busy", 0.05)]
)
async def test_cancelling_a_dial_stops_it_at_once(
    world: World, outcome: str, after_s: float
) -> None:
    rang: list[float] = []
    carrier = driver(world, config.SimRule(outcome=outcome, ring_seconds=10))
    task = asyncio.create_task(carrier.dial(request(), on_ringing=lambda: rang.append(0)))
    await world.advance(after_s)
    assert not task.done()
    assert carrier.dials_in_progress == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert carrier.dials_in_progress == 0
    assert carrier.calls_up == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert rang == ([] if outcome == "busy" else [0])
    # Nothing wakes up later either.
    await world.advance(60)
    assert carrier.calls_up == 0


async def test_line_counts(world: World) -> None:
    carrier = driver(
        world,
        config.SimRule(match="1*", ring_seconds=2),
        config.SimRule(match="2*", ring_seconds=4, talk_seconds=5),
        config.SimRule(match="3*", outcome="busy"),
    )
    dials = [
        asyncio.create_task(carrier.dial(request(number)))
        for number in ("1555", "2555", "3555", "1666")
    ]
    await settle()
    assert (carrier.dials_in_progress, carrier.calls_up, carrier.lines_in_use) == (4, 0, 4)
    await world.advance(0.1)  # busy
    assert (carrier.dials_in_progress, carrier.calls_up) == (3, 0)
    await world.advance(1.9)  # two answered
    assert (carrier.dials_in_progress, carrier.calls_up) == (1, 2)
    await world.advance(2.0)  # the third
    assert (carrier.dials_in_progress, carrier.calls_up) == (0, 3)
    legs = [(await task).leg for task in dials]
    assert legs[2] is None
    first = legs[0]
    assert first is not None
    await first.hangup()
    assert carrier.calls_up == 2
    await world.advance(4.99)
    assert carrier.calls_up == 2
    await world.advance(0.01)  # the callee of "2555" hangs up, unnoticed by its leg
    assert carrier.calls_up == 1
    assert carrier.max_lines_in_use == 4
    await carrier.aclose()
    assert carrier.calls_up == 0
    assert [leg.end_cause if isinstance(leg, sim.SimLeg) else None for leg in legs] == [
        sim.WE_HUNG_UP,
        sim.CALLEE_HUNG_UP,
        None,
        sim.WE_HUNG_UP,
    ]
    with pytest.raises(RuntimeError, match="closed"):
        await carrier.dial(request())


async def test_max_lines_in_use_is_a_high_water_mark(world: World) -> None:
    carrier = driver(world, config.SimRule(ring_seconds=0))
    legs = [(await world.run(carrier.dial(request()))).leg for _ in range(3)]
    for leg in legs:
        assert leg is not None
        await leg.hangup()
    assert carrier.max_lines_in_use == 3
    await world.run(carrier.dial(request()))
    assert (carrier.calls_up, carrier.max_lines_in_use) == (1, 3)


# Playing prompts


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("x" * 30, 2.0),  # 15 characters a second
        ("Press 1 to confirm.", 19 / 15),
        ("a", sim.MIN_PROMPT_S),
        ("", 0.0),
        ("   ", 0.0),
    ],
)
async def test_play_takes_speaking_time(world: World, text: str, seconds: float) -> None:
    assert sim.speaking_s(text) == pytest.approx(seconds)
    leg = await answered(world)
    keys, took = await world.timed(leg.play(media.Prompt(text)))
    assert keys == ""
    assert took == about(seconds)


async def test_heard_is_the_transcript(world: World) -> None:
    leg = await answered(world, dtmf="1")
    await world.run(leg.play(media.Prompt("Hello.")))
    await world.run(leg.play(media.Prompt("", audio_urls=("http://app/beep.wav",))))
    await world.run(leg.play(media.Prompt("Press 1 to confirm.", bargein=True)))
    assert leg.heard == ["Hello.", "Press 1 to confirm."]
    assert leg.pressed == []  # keys only when the application waits for them


# Collecting keys


async def collect(
    world: World,
    leg: sim.SimLeg,
    *,
    max_digits: int = 10,
    timeout_s: float = 5.0,
    interdigit_timeout_s: float = 3.0,
    termchar: str | None = "#",
    already: str = "",
) -> tuple[media.Collected, float]:
    return await world.timed(
        leg.collect(
            max_digits=max_digits,
            timeout_s=timeout_s,
            interdigit_timeout_s=interdigit_timeout_s,
            termchar=termchar,
            already=already,
        )
    )


async def test_collect_stops_at_the_termchar(world: World) -> None:
    leg = await answered(world, dtmf="12#9")
    collected, took = await collect(world, leg)
    assert collected == media.Collected("12", "termchar", "#")
    assert took == about(sim.THINK_S)
    assert leg.pressed == ["12#9"]


async def test_collect_stops_at_max_digits(world: World) -> None:
    leg = await answered(world, dtmf="1234#")
    collected, took = await collect(world, leg, max_digits=2)
    assert collected == media.Collected("12", "maxdigits")
    assert took == about(sim.THINK_S)


async def test_collect_ends_interdigit_after_the_last_key(world: World) -> None:
    leg = await answered(world, dtmf="42")
    collected, took = await collect(world, leg, interdigit_timeout_s=2.5)
    assert collected == media.Collected("42", "interdigit")
    assert took == about(sim.THINK_S + 2.5)


async def test_collect_without_termchar_takes_hash_as_a_key(world: World) -> None:
    leg = await answered(world, dtmf="1#")
    collected, took = await collect(world, leg, termchar=None)
    assert collected == media.Collected("1#", "interdigit")
    assert took == about(sim.THINK_S + 3.0)


async def test_collect_with_no_max_digits(world: World) -> None:
    leg = await answered(world, dtmf="1234567890123#")
    collected, _ = await collect(world, leg, max_digits=0)
    assert collected == media.Collected("1234567890123", "termchar", "#")


async def test_collect_noinput_without_dtmf(world: World) -> None:
    leg = await answered(world)
    collected, took = await collect(world, leg, timeout_s=7)
    assert collected == media.Collected("", "noinput")
    assert took == about(7.0)
    assert leg.pressed == []


async def test_a_callee_slower_than_the_timeout_presses_nothing(world: World) -> None:
    leg = await answered(world, dtmf="1")
    collected, took = await collect(world, leg, timeout_s=0.3)
    assert collected == media.Collected("", "noinput")
    assert took == about(0.3)
    assert leg.pressed == []


async def test_collect_presses_the_keys_each_time(world: World) -> None:
    leg = await answered(world, dtmf="7#")
    for _ in range(3):
        collected, _ = await collect(world, leg)
        assert collected.digits == "7"
    assert leg.pressed == ["7#", "7#", "7#"]


@pytest.mark.parametrize(
    ("already", "dtmf", "expected", "seconds", "pressed"),
    [
        ("9", "#5", media.Collected("9", "termchar", "#"), sim.THINK_S, ["#5"]),
        ("9", "12", media.Collected("91", "maxdigits"), sim.THINK_S, ["12"]),  # max_digits=2
        ("12", "5", media.Collected("12", "maxdigits"), 0.0, []),  # max_digits=2
        ("3#", "5", media.Collected("3", "termchar", "#"), 0.0, []),
        ("4", "", media.Collected("4", "interdigit"), 3.0, []),
        ("1", "234", media.Collected("12", "maxdigits"), sim.THINK_S, ["234"]),
    ],
)
async def test_keys_already_typed_count_first(
    world: World,
    already: str,
    dtmf: str,
    expected: media.Collected,
    seconds: float,
    pressed: list[str],
) -> None:
    leg = await answered(world, dtmf=dtmf)
    collected, took = await collect(world, leg, max_digits=2, already=already)
    assert collected == expected
    assert took == about(seconds)
    assert leg.pressed == pressed


@pytest.mark.parametrize(
    ("already", "dtmf", "max_digits", "expected", "seconds", "pressed"),
    [
        # Stops at the first key that completes the input, before the termchar.
        ("", "123#", 10, media.Collected("12", "complete"), sim.THINK_S, ["123#"]),
        # Keys typed during the prompt can complete it alone: nothing is waited.
        ("12", "9", 10, media.Collected("12", "complete"), 0.0, []),
        ("1", "2#", 10, media.Collected("12", "complete"), sim.THINK_S, ["2#"]),
        # The same key reaching max_digits: "complete" says more, it wins.
        ("", "12", 2, media.Collected("12", "complete"), sim.THINK_S, ["12"]),
        # Never complete: the other ends as before.
        ("", "45#", 10, media.Collected("45", "termchar", "#"), sim.THINK_S, ["45#"]),
        ("", "456", 2, media.Collected("45", "maxdigits"), sim.THINK_S, ["456"]),
        ("", "4", 10, media.Collected("4", "interdigit"), sim.THINK_S + 3.0, ["4"]),
    ],
)
async def test_collect_ends_as_soon_as_the_input_is_complete(
    world: World,
    already: str,
    dtmf: str,
    max_digits: int,
    expected: media.Collected,
    seconds: float,
    pressed: list[str],
) -> None:
    leg = await answered(world, dtmf=dtmf)
    asked: list[str] = []

    def complete(digits: str) -> bool:
        asked.append(digits)
        return digits == "12"

    collected, took = await world.timed(
        leg.collect(
            max_digits=max_digits,
            timeout_s=5,
            interdigit_timeout_s=3,
            already=already,
            complete=complete,
        )
    )
    assert collected == expected
    assert took == about(seconds)
    assert leg.pressed == pressed
    # Asked after each key, not for keys after the end (nor for the termchar).
    assert asked == [collected.digits[:n] for n in range(1, len(collected.digits) + 1)]


# Recording


def wav_seconds(audio: bytes) -> float:
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getnframes() / wav.getframerate()


@pytest.mark.parametrize(
    ("speaks", "key", "max_time_s", "dtmf_term", "took_s", "recording"),
    [
        # Speech, then the final silence (1.5 s) ends it; the silence is not kept.
        (3.0, "", 10.0, True, 4.5, (3.0, None, False)),
        # The key ends it at once, when the application lets keys end it ...
        (3.0, "#", 10.0, True, 3.0, (3.0, "#", False)),
        # ... else it is a tone in the audio, and the silence ends it.
        (3.0, "#", 10.0, False, 4.5, (3.0, None, False)),
        # The maximum time cuts the speech ...
        (12.0, "#", 10.0, True, 10.0, (10.0, None, True)),
        # ... or the silence after it (the speech is kept whole) ...
        (9.0, "", 10.0, True, 10.0, (9.0, None, True)),
        # ... but a silence ending exactly then ends it as a silence.
        (8.5, "", 10.0, True, 10.0, (8.5, None, False)),
        # max_time_s 0: no limit.
        (100.0, "", 0.0, True, 101.5, (100.0, None, False)),
        # A callee who says nothing: nothing heard, after the final silence or a key.
        (0.0, "", 10.0, True, 1.5, (0.0, None, False)),
        (0.0, "1", 10.0, True, 0.0, (0.0, "1", False)),
        (0.0, "a", 10.0, True, 0.0, (0.0, "A", False)),  # keys in any case
    ],
)
async def test_record_takes_the_callee_speaking_time(
    world: World,
    speaks: float,
    key: str,
    max_time_s: float,
    dtmf_term: bool,
    took_s: float,
    recording: tuple[float, str | None, bool],
) -> None:
    leg = await answered(world, rule=config.SimRule(record_seconds=speaks, record_key=key))
    result, took = await world.timed(
        leg.record(max_time_s=max_time_s, final_silence_s=1.5, dtmf_term=dtmf_term, beep=False)
    )
    assert took == about(took_s)
    assert (result.duration_s, result.termchar, result.max_time_reached) == recording
    assert wav_seconds(result.audio) == result.duration_s
    assert leg.end_cause is None


async def test_the_beep_comes_first(world: World) -> None:
    leg = await answered(world, rule=config.SimRule(record_seconds=1, record_key="#"))
    result, took = await world.timed(
        leg.record(max_time_s=5, final_silence_s=1, dtmf_term=True, beep=True)
    )
    assert took == about(sim.BEEP_S + 1)
    assert (result.duration_s, result.termchar) == (1, "#")


async def test_the_default_callee_speaks_then_falls_silent(world: World) -> None:
    default = config.SimRule()
    leg = (await world.run(driver(world).dial(request()))).leg
    assert isinstance(leg, sim.SimLeg)
    result, took = await world.timed(
        leg.record(max_time_s=60, final_silence_s=2, dtmf_term=True, beep=False)
    )
    assert (result.duration_s, result.termchar) == (default.record_seconds, None)
    assert took == about(default.record_seconds + 2)


async def test_the_callee_hangs_up_during_a_recording(world: World) -> None:
    leg = await answered(world, rule=config.SimRule(talk_seconds=4, record_seconds=10))
    with pytest.raises(media.Hangup) as caught:
        await world.run(leg.record(max_time_s=30, final_silence_s=2, dtmf_term=True, beep=True))
    assert caught.value.cause == sim.CALLEE_HUNG_UP
    assert world.elapsed() == about(4.0)
    await assert_closed(world, leg, sim.CALLEE_HUNG_UP)


# Transfers

DESTINATION = "tel:+15559870000"


async def transfer(
    world: World,
    leg: sim.SimLeg,
    *,
    bridge: bool = True,
    connect_timeout_s: float = 30.0,
    max_time_s: float = 0.0,
) -> tuple[media.TransferResult, float]:
    return await world.timed(
        leg.transfer(
            destination=DESTINATION,
            bridge=bridge,
            connect_timeout_s=connect_timeout_s,
            max_time_s=max_time_s,
        )
    )


@pytest.mark.parametrize(
    ("behaviour", "connect_timeout_s", "max_time_s", "took_s", "result"),
    [
        # Answered after a ring, then the far end (or the callee, with a key) ends it.
        ("far_end_disconnect", 30, 0, sim.TRANSFER_RING_S + 8, ("far_end_disconnect", 8)),
        ("near_end_disconnect", 30, 0, sim.TRANSFER_RING_S + 8, ("near_end_disconnect", 8)),
        # The application's maxtime ends it first; as long as the talk, the far end does.
        ("far_end_disconnect", 30, 5, sim.TRANSFER_RING_S + 5, ("maxtime_disconnect", 5)),
        ("far_end_disconnect", 30, 8, sim.TRANSFER_RING_S + 8, ("far_end_disconnect", 8)),
        # Refused at once, or nobody answers within the connect timeout.
        ("busy", 30, 0, sim.SETUP_S, ("busy", 0)),
        ("network_busy", 30, 0, sim.SETUP_S, ("network_busy", 0)),
        ("noanswer", 20, 0, 20, ("noanswer", 0)),
        # A connect timeout shorter than the ring.
        ("far_end_disconnect", 0.5, 0, 0.5, ("noanswer", 0)),
    ],
)
async def test_a_bridged_transfer_lasts_until_it_ends(
    world: World,
    behaviour: str,
    connect_timeout_s: float,
    max_time_s: float,
    took_s: float,
    result: tuple[str, float],
) -> None:
    leg = await answered(world, rule=config.SimRule(transfer=behaviour, transfer_seconds=8))
    transferred, took = await transfer(
        world, leg, connect_timeout_s=connect_timeout_s, max_time_s=max_time_s
    )
    assert (transferred.outcome, transferred.duration_s) == result
    assert took == about(took_s)
    assert leg.transfers == [DESTINATION]
    # The callee is back with the application.
    assert leg.end_cause is None
    assert await world.run(leg.play(media.Prompt("Welcome back."))) == ""


@pytest.mark.parametrize(
    ("behaviour", "took_s"),
    [("busy", sim.SETUP_S), ("network_busy", sim.SETUP_S), ("noanswer", 30)],
)
async def test_a_blind_transfer_that_fails_keeps_the_callee(
    world: World, behaviour: str, took_s: float
) -> None:
    leg = await answered(world, rule=config.SimRule(transfer=behaviour))
    transferred, took = await transfer(world, leg, bridge=False)
    assert (transferred.outcome, transferred.duration_s) == (behaviour, 0)
    assert took == about(took_s)
    assert leg.end_cause is None


@pytest.mark.parametrize("behaviour", ["far_end_disconnect", "near_end_disconnect"])
async def test_a_blind_transfer_hands_the_call_over(world: World, behaviour: str) -> None:
    carrier = driver(world, config.SimRule(ring_seconds=0, transfer=behaviour))
    leg = (await world.run(carrier.dial(request()))).leg
    assert isinstance(leg, sim.SimLeg)
    transferred, took = await transfer(world, leg, bridge=False, max_time_s=5)
    assert transferred == media.TransferResult("unknown")
    assert took == about(sim.TRANSFER_RING_S)
    assert leg.end_cause == sim.TRANSFERRED
    assert carrier.calls_up == 0
    await assert_closed(world, leg, sim.TRANSFERRED)


async def test_the_default_transfer_is_answered(world: World) -> None:
    default = config.SimRule()
    leg = (await world.run(driver(world).dial(request()))).leg
    assert isinstance(leg, sim.SimLeg)
    transferred, took = await transfer(world, leg)
    assert (transferred.outcome, transferred.duration_s) == (
        default.transfer,
        default.transfer_seconds,
    )
    assert took == about(sim.TRANSFER_RING_S + default.transfer_seconds)


async def test_the_callee_hangs_up_during_a_bridged_transfer(world: World) -> None:
    leg = await answered(world, rule=config.SimRule(talk_seconds=6, transfer_seconds=60))
    with pytest.raises(media.Hangup) as caught:
        await transfer(world, leg)
    assert caught.value.cause == sim.CALLEE_HUNG_UP
    assert world.elapsed() == about(6.0)
    await assert_closed(world, leg, sim.CALLEE_HUNG_UP)


async def test_our_hangup_interrupts_a_transfer(world: World) -> None:
    leg = await answered(world)
    transferring = asyncio.create_task(
        leg.transfer(destination=DESTINATION, bridge=True, connect_timeout_s=30, max_time_s=0)
    )
    await world.advance(4)
    await leg.hangup()
    with pytest.raises(media.Hangup) as caught:
        await transferring
    assert caught.value.cause == sim.WE_HUNG_UP
    assert world.elapsed() == 4.0


# Hanging up


async def test_the_callee_hangs_up_during_a_prompt(world: World) -> None:
    carrier = driver(world, config.SimRule(ring_seconds=1, talk_seconds=2))
    leg = (await world.run(carrier.dial(request()))).leg
    assert isinstance(leg, sim.SimLeg)
    await world.run(leg.play(media.Prompt("x" * 15)))  # 1 s of the 2
    start = world.elapsed()
    with pytest.raises(media.Hangup) as caught:
        await world.run(leg.play(media.Prompt("x" * 60)))  # 4 s
    assert caught.value.cause == sim.CALLEE_HUNG_UP
    assert world.elapsed() - start == about(1.0)
    assert leg.heard == ["x" * 15, "x" * 60]
    assert leg.end_cause == sim.CALLEE_HUNG_UP
    assert carrier.calls_up == 0
    await assert_closed(world, leg, sim.CALLEE_HUNG_UP)


async def test_the_callee_hangs_up_during_collect(world: World) -> None:
    leg = await answered(world, talk_seconds=3, dtmf="12")
    with pytest.raises(media.Hangup) as caught:
        await collect(world, leg, timeout_s=10, interdigit_timeout_s=10)
    assert caught.value.cause == sim.CALLEE_HUNG_UP
    assert world.elapsed() == about(3.0)
    assert leg.pressed == ["12"]
    await assert_closed(world, leg, sim.CALLEE_HUNG_UP)


async def test_the_callee_hangs_up_while_nothing_happens(world: World) -> None:
    leg = await answered(world, talk_seconds=2)
    await world.advance(1.99)
    assert leg.end_cause is None
    await world.advance(0.01)
    assert leg.end_cause == sim.CALLEE_HUNG_UP
    await assert_closed(world, leg, sim.CALLEE_HUNG_UP)


async def test_an_operation_ending_as_the_callee_leaves_is_cut(world: World) -> None:
    leg = await answered(world, talk_seconds=2)
    with pytest.raises(media.Hangup):
        await world.run(leg.play(media.Prompt("x" * 30)))  # exactly 2 s
    assert world.elapsed() == 2.0


async def test_our_hangup_closes_the_leg(world: World) -> None:
    carrier = driver(world, config.SimRule(ring_seconds=0, talk_seconds=60, dtmf="1"))
    leg = (await world.run(carrier.dial(request()))).leg
    assert isinstance(leg, sim.SimLeg)
    await leg.hangup()
    assert leg.end_cause == sim.WE_HUNG_UP
    assert carrier.calls_up == 0
    await assert_closed(world, leg, sim.WE_HUNG_UP)
    await world.advance(120)  # the callee's own hangup time changes nothing
    assert leg.end_cause == sim.WE_HUNG_UP


async def assert_closed(world: World, leg: sim.SimLeg, cause: str) -> None:
    """Every operation fails at once with ``cause``; hangup() does nothing."""
    start = world.elapsed()
    heard, pressed, sent = list(leg.heard), list(leg.pressed), list(leg.sent_dtmf)
    transfers = list(leg.transfers)
    operations = [
        leg.play(media.Prompt("Are you there?")),
        leg.collect(max_digits=1, timeout_s=5, interdigit_timeout_s=3),
        leg.send_dtmf("1"),
        leg.record(max_time_s=10, final_silence_s=1, dtmf_term=True, beep=True),
        leg.transfer(destination=DESTINATION, bridge=True, connect_timeout_s=5, max_time_s=0),
    ]
    for operation in operations:
        with pytest.raises(media.Hangup) as caught:
            await operation
        assert caught.value.cause == cause
    await leg.hangup()
    assert leg.end_cause == cause
    assert world.elapsed() == start
    assert (leg.heard, leg.pressed, leg.sent_dtmf) == (heard, pressed, sent)
    assert leg.transfers == transfers


async def test_our_hangup_interrupts_an_operation_in_another_task(world: World) -> None:
    leg = await answered(world)
    playing = asyncio.create_task(leg.play(media.Prompt("x" * 150)))
    await world.advance(3)
    await leg.hangup()
    with pytest.raises(media.Hangup) as caught:
        await playing
    assert caught.value.cause == sim.WE_HUNG_UP
    assert world.elapsed() == 3.0
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_cancelling_an_operation_is_not_a_hangup(world: World) -> None:
    leg = await answered(world)
    collecting = asyncio.create_task(leg.collect(max_digits=1, timeout_s=9, interdigit_timeout_s=3))
    await world.advance(1)
    collecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await collecting
    assert leg.end_cause is None
    assert await world.run(leg.play(media.Prompt("Still here."))) == ""


async def test_cancel_and_hangup_together_stay_a_cancel(world: World) -> None:
    leg = await answered(world)
    playing = asyncio.create_task(leg.play(media.Prompt("x" * 150)))
    await world.advance(1)
    playing.cancel()
    await leg.hangup()
    with pytest.raises(asyncio.CancelledError):
        await playing
    assert leg.end_cause == sim.WE_HUNG_UP


# Sending DTMF


@pytest.mark.parametrize(
    ("digits", "seconds"), [("123", 0.3), ("1p2w3", 2.3), ("pp", 2.0), ("", 0.0)]
)
async def test_send_dtmf_takes_time_per_key(world: World, digits: str, seconds: float) -> None:
    leg = await answered(world)
    _, took = await world.timed(leg.send_dtmf(digits))
    assert took == about(seconds)
    assert leg.sent_dtmf == [digits]


async def test_send_dtmf_is_cut_by_the_callee_hanging_up(world: World) -> None:
    leg = await answered(world, talk_seconds=1.5)
    await world.run(leg.send_dtmf("12"))
    with pytest.raises(media.Hangup):
        await world.run(leg.send_dtmf("ppp"))
    assert world.elapsed() == about(1.5)
    assert leg.sent_dtmf == ["12", "ppp"]


# A real, sped-up clock


async def test_a_scaled_clock_speeds_up_the_whole_world() -> None:
    # Ten minutes of ringing at 100,000x: answered once the scaled clock says ten minutes
    # have passed. A world that was not sped up would ring ten real minutes and trip the
    # 60 s guard, which is there against a hang, not to measure speed.
    clock = ScaledClock(100_000)
    carrier = sim.SimDriver([config.SimRule(ring_seconds=600)], clock)
    started = clock.now()
    result = await asyncio.wait_for(carrier.dial(request(ring_timeout_s=900)), 60)
    assert result.outcome is ANSWER
    assert (clock.now() - started).total_seconds() >= 600
