"""The simulated carrier (``[telephony] driver = "sim"``, PRODUCT.md section 4).

``[[sim.rule]]`` tables decide each number's fate: the first rule whose ``match`` (a
case-sensitive glob over the E.164 digits) matches the number wins; no match is a voice
that answers after a 1 s ring, presses nothing and never hangs up (and speaks or is
transferred as ``config.SimRule``'s defaults say). The outcome of an
attempt is ``attempts[attempt - 1]`` (the last entry repeating), else ``outcome``. It is
computed from the request alone, so the driver keeps no state per number and any number
of workers sharing a database agree on it.

Every wait goes through the one ``Clock``: a ``ScaledClock`` (``--sim-speed``) speeds up
the whole simulated world, a ``FakeClock`` lets tests step through it. Timing:

- busy, unreachable: after ``SETUP_S``, no ringing;
- answer, rejected: ring ``ring_seconds`` (``on_ringing`` is called when it starts,
  unless ``ring_seconds`` is 0: an instant answer never alerts);
- noanswer, or ``ring_seconds`` beyond the request's ``ring_timeout_s``: ring until the
  ring timeout and end ``noanswer`` with cause "ring timeout" -- as on a real trunk, the
  ring timeout is ours.

An answered call's ``SimLeg`` takes speaking time to play a prompt
(``len(text) / CHARS_PER_S``, at least ``MIN_PROMPT_S``), and its callee presses the
rule's ``dtmf`` ``THINK_S`` after the application starts waiting for input; keys are
never pressed during a prompt. With ``talk_seconds`` the callee hangs up that long after
the answer, ending whatever the leg is doing at that moment with ``media.Hangup``.

Recording (``take_recording``): after the tone (``BEEP_S``) the callee speaks
``record_seconds``, then presses ``record_key`` if the rule has one; the recording ends
at that key if the application lets DTMF end it, else after the application's final
silence, and at the latest at its maximum time. Transfers (``transfer_result``): the
rule's ``transfer`` says what the far end does. "busy" and "network_busy" answer after
``SETUP_S``, "noanswer" rings until the application's connect timeout; the others
answer after ``TRANSFER_RING_S`` and then a blind transfer is handed over (outcome
"unknown", and the leg is closed with cause ``TRANSFERRED``) while a bridged one talks
``transfer_seconds`` (or until the application's maximum time) and ends with the rule's
outcome. The callee hanging up meanwhile raises ``media.Hangup`` as anywhere else.

``postd`` is not sent by ``dial``: the dialer sends it with ``leg.send_dtmf``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from vxdial import config
from vxdial.domain import calls, errors, media
from vxdial.domain.clock import Clock
from vxdial.telephony.base import DialRequest, DialResult

__all__ = [
    "BEEP_S",
    "CALLEE_HUNG_UP",
    "CHARS_PER_S",
    "DTMF_KEY_S",
    "DTMF_PAUSE_S",
    "MIN_PROMPT_S",
    "SETUP_S",
    "THINK_S",
    "TRANSFERRED",
    "TRANSFER_RING_S",
    "WE_HUNG_UP",
    "SimDriver",
    "SimLeg",
    "speaking_s",
    "take_recording",
    "transfer_behaviour",
    "transfer_result",
]

SETUP_S = 0.1  # from dial to a busy or unreachable answer
CHARS_PER_S = 15.0  # how fast the simulated text-to-speech speaks
MIN_PROMPT_S = 0.1  # the shortest prompt that has any text
THINK_S = 0.5  # from the start of a wait for input to the callee's keys
DTMF_KEY_S = 0.1  # one key sent by send_dtmf
DTMF_PAUSE_S = 1.0  # "p" (and "w", which has no one to wait for here) in send_dtmf
BEEP_S = 0.5  # the tone before a recording
TRANSFER_RING_S = 1.0  # from a transfer to its far end answering (as an unmatched number)

CALLEE_HUNG_UP = "callee hung up"
WE_HUNG_UP = "we hung up"
TRANSFERRED = "transferred"  # a blind transfer handed the callee over to someone else


def speaking_s(text: str) -> float:
    """How long the simulated text-to-speech takes to say ``text`` (0 for no text)."""
    if not text.strip():
        return 0.0
    return max(MIN_PROMPT_S, len(text) / CHARS_PER_S)


def take_recording(
    speak_s: float,
    key: str | None,
    *,
    max_time_s: float,
    final_silence_s: float,
    dtmf_term: bool,
) -> tuple[float, media.Recording]:
    """What a recorder makes of a callee who speaks ``speak_s`` seconds (0: says nothing)
    and then presses ``key`` (None: no key): the seconds it records (the beep before it
    not included) and the recording.

    It ends at ``key`` when ``dtmf_term`` (otherwise the key is only a tone in the
    audio), else ``final_silence_s`` after the speech (after the start for a callee who
    says nothing), and at the latest at ``max_time_s`` (0: no limit), with
    ``max_time_reached``. The recording holds the speech heard (``duration_s``, its
    audio a WAV that long): the final silence that ended it is not kept, as recorders
    trim it.
    """
    limit_s = max_time_s if max_time_s > 0 else math.inf
    heard_s = min(speak_s, limit_s)
    if speak_s >= limit_s:  # cut while speaking
        return limit_s, media.Recording(media.silence_wav(heard_s), heard_s, max_time_reached=True)
    if key is not None and dtmf_term:
        return speak_s, media.Recording(media.silence_wav(heard_s), heard_s, termchar=key)
    # As with a ring as long as the ring timeout, a silence that ends exactly at the
    # maximum time ends the recording as a silence.
    ends_s = speak_s + final_silence_s
    cut = ends_s > limit_s
    return min(ends_s, limit_s), media.Recording(
        media.silence_wav(heard_s), heard_s, max_time_reached=cut
    )


def transfer_behaviour(value: str, field: str) -> media.TransferOutcome:
    """``value`` checked against ``config.SIM_TRANSFERS``; raises
    ``errors.InvalidInput(field, ...)``."""
    for behaviour in config.SIM_TRANSFERS:
        if behaviour == value:  # the loop, not ``in``, gives mypy the Literal type
            return behaviour
    raise errors.InvalidInput(field, f"must be one of {', '.join(config.SIM_TRANSFERS)}")


def transfer_result(
    behaviour: media.TransferOutcome,
    talk_s: float,
    *,
    bridge: bool,
    connect_timeout_s: float,
    max_time_s: float,
) -> tuple[float, media.TransferResult]:
    """How a transfer goes when its far end does ``behaviour`` (one of
    ``config.SIM_TRANSFERS``; a bridged call it answers lasts ``talk_s``): the seconds
    it takes and its result. See the module's docstring for the timing."""
    if behaviour == "busy" or behaviour == "network_busy":
        return SETUP_S, media.TransferResult(behaviour)
    timeout_s = max(0.0, connect_timeout_s)
    if behaviour == "noanswer" or timeout_s < TRANSFER_RING_S:
        return timeout_s, media.TransferResult("noanswer")
    if not bridge:
        return TRANSFER_RING_S, media.TransferResult("unknown")
    if 0 < max_time_s < talk_s:
        return TRANSFER_RING_S + max_time_s, media.TransferResult("maxtime_disconnect", max_time_s)
    return TRANSFER_RING_S + talk_s, media.TransferResult(behaviour, talk_s)


@dataclass(frozen=True, slots=True)
class _Rule:
    """A ``config.SimRule`` checked and turned into domain values."""

    pattern: str
    outcomes: tuple[calls.Outcome, ...]  # one per attempt, the last repeating
    ring_seconds: float
    callee_type: calls.CalleeType
    dtmf: str
    talk_seconds: float
    record_seconds: float
    record_key: str | None
    transfer: media.TransferOutcome
    transfer_seconds: float

    @classmethod
    def of(cls, rule: config.SimRule, name: str) -> _Rule:
        try:
            outcomes = tuple(calls.Outcome(o) for o in rule.attempts or (rule.outcome,))
        except ValueError:
            field = "attempts" if rule.attempts else "outcome"
            choices = ", ".join(calls.Outcome)
            raise errors.InvalidInput(f"{name}.{field}", f"must be one of {choices}") from None
        try:
            callee_type = calls.CalleeType(rule.callee_type)
        except ValueError:
            choices = ", ".join(calls.CalleeType)
            raise errors.InvalidInput(f"{name}.callee_type", f"must be one of {choices}") from None
        for field in ("ring_seconds", "talk_seconds", "record_seconds", "transfer_seconds"):
            if getattr(rule, field) < 0:
                raise errors.InvalidInput(f"{name}.{field}", "must not be negative")
        record_key = rule.record_key.upper()
        if record_key and (len(record_key) != 1 or record_key not in config.DTMF_KEYS):
            raise errors.InvalidInput(
                f"{name}.record_key", 'must be one DTMF key (0-9, *, #, A-D) or "" for none'
            )
        return cls(
            # Numbers are E.164 digits without "+"; a "+" written in the rule would
            # otherwise make it match nothing, without a word.
            pattern=rule.match.removeprefix("+"),
            outcomes=outcomes,
            ring_seconds=rule.ring_seconds,
            callee_type=callee_type,
            dtmf=rule.dtmf,
            talk_seconds=rule.talk_seconds,
            record_seconds=rule.record_seconds,
            record_key=record_key or None,
            transfer=transfer_behaviour(rule.transfer, f"{name}.transfer"),
            transfer_seconds=rule.transfer_seconds,
        )

    def matches(self, number: str) -> bool:
        return fnmatch.fnmatchcase(number, self.pattern)

    def outcome_for(self, attempt: int) -> calls.Outcome:
        return self.outcomes[min(max(attempt, 1), len(self.outcomes)) - 1]


class SimDriver:
    """A ``Driver`` whose calls are decided by ``[[sim.rule]]`` tables.

    Besides the ``Driver`` methods it counts lines for tests of the dialer:
    ``dials_in_progress`` (``dial`` running), ``calls_up`` (answered, not yet ended by
    either side), ``lines_in_use`` (both) and ``max_lines_in_use`` (the highest
    ``lines_in_use`` seen since the driver was made).
    """

    def __init__(self, rules: Sequence[config.SimRule], clock: Clock) -> None:
        """Raises ``errors.InvalidInput`` naming ``sim.rule[i].<key>`` for a bad rule."""
        self._rules = tuple(_Rule.of(r, f"sim.rule[{i}]") for i, r in enumerate(rules))
        # No match: the defaults, a voice answering after 1 s that presses nothing.
        self._default = _Rule.of(config.SimRule(), "sim.rule")
        self._clock = clock
        self._dialing = 0
        self._legs: dict[int, SimLeg] = {}  # answered and not known to have ended
        self._hangups: list[tuple[datetime, int]] = []  # heap: when each callee leaves
        self._ids = itertools.count()
        self._closed = False
        self.max_lines_in_use = 0

    @property
    def dials_in_progress(self) -> int:
        """``dial`` calls not yet returned (dialing or ringing)."""
        return self._dialing

    @property
    def calls_up(self) -> int:
        """Answered calls that neither side has hung up yet."""
        self._forget_ended()
        return len(self._legs)

    @property
    def lines_in_use(self) -> int:
        return self._dialing + self.calls_up

    async def dial(
        self, request: DialRequest, *, on_ringing: Callable[[], None] | None = None
    ) -> DialResult:
        """Place the simulated call; see the module's docstring for timing and causes.

        Cancelling the awaiting task abandons the attempt at once (nothing is left
        running) and re-raises ``CancelledError``.
        """
        if self._closed:
            raise RuntimeError("the sim driver is closed")
        rule = self._rule_for(request.number)
        self._dialing += 1
        self.max_lines_in_use = max(self.max_lines_in_use, self.lines_in_use)
        try:
            return await self._place(request, rule, on_ringing)
        finally:
            self._dialing -= 1

    async def aclose(self) -> None:
        """Hang up every call still up; ``dial`` raises ``RuntimeError`` afterwards."""
        self._closed = True
        for leg in list(self._legs.values()):
            await leg.hangup()

    def _rule_for(self, number: str) -> _Rule:
        digits = number.removeprefix("+")
        for rule in self._rules:
            if rule.matches(digits):
                return rule
        return self._default

    async def _place(
        self, request: DialRequest, rule: _Rule, on_ringing: Callable[[], None] | None
    ) -> DialResult:
        outcome = rule.outcome_for(request.attempt)
        if outcome in (calls.Outcome.BUSY, calls.Outcome.UNREACHABLE):
            await self._clock.sleep(SETUP_S)
            return DialResult(outcome, f"sim: {outcome}")
        timeout_s = max(0.0, request.ring_timeout_s)
        gives_up = outcome is calls.Outcome.NOANSWER or rule.ring_seconds > timeout_s
        ring_s = timeout_s if gives_up else rule.ring_seconds
        if ring_s > 0:
            if on_ringing is not None:
                on_ringing()
            await self._clock.sleep(ring_s)
        if gives_up:
            return DialResult(calls.Outcome.NOANSWER, "ring timeout")
        if outcome is calls.Outcome.REJECTED:
            return DialResult(outcome, "sim: rejected")
        return DialResult(
            calls.Outcome.ANSWER,
            "sim: answer",
            callee_type=rule.callee_type,
            leg=self._answer(rule),
        )

    def _answer(self, rule: _Rule) -> SimLeg:
        key = next(self._ids)
        leg = SimLeg(
            self._clock,
            callee_type=rule.callee_type,
            dtmf=rule.dtmf,
            talk_seconds=rule.talk_seconds,
            record_seconds=rule.record_seconds,
            record_key=rule.record_key,
            transfer=rule.transfer,
            transfer_seconds=rule.transfer_seconds,
            on_end=lambda: self._legs.pop(key, None),
        )
        self._legs[key] = leg
        if leg.callee_leaves_at is not None:
            heapq.heappush(self._hangups, (leg.callee_leaves_at, key))
        return leg

    def _forget_ended(self) -> None:
        """Drop the legs whose callee has hung up by now, noticed by the leg or not."""
        if not self._legs:
            self._hangups.clear()
            return
        now = self._clock.now()
        while self._hangups and self._hangups[0][0] <= now:
            _, key = heapq.heappop(self._hangups)
            self._legs.pop(key, None)


class SimLeg:
    """The voice channel of a simulated answered call (a ``CallLeg``).

    What the callee experienced is kept for tests and transcripts: ``heard`` (the text
    of every prompt played), ``pressed`` (each group of keys the callee pressed while
    the application waited for input), ``sent_dtmf`` (each ``send_dtmf`` string),
    ``transfers`` (the destination of each transfer). Every operation but ``hangup``
    raises ``media.Hangup`` if the callee hangs up before it finishes (cause
    ``CALLEE_HUNG_UP``) or, at once, when the call has already ended (after a blind
    transfer handed it over: ``TRANSFERRED``); ``hangup()`` from another task
    interrupts them the same way (cause ``WE_HUNG_UP``).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        callee_type: calls.CalleeType = calls.CalleeType.VOICE,
        dtmf: str = "",
        talk_seconds: float = 0.0,
        record_seconds: float = 2.0,
        record_key: str | None = None,
        transfer: media.TransferOutcome = "far_end_disconnect",
        transfer_seconds: float = 10.0,
        on_end: Callable[[], object] | None = None,
    ) -> None:
        """Answered now; ``talk_seconds`` > 0: the callee hangs up that long after.
        The callee's behaviour is that of a ``config.SimRule`` (the defaults are its
        defaults). ``on_end`` is called once, when the leg learns that the call has
        ended."""
        self.callee_type = callee_type
        self.heard: list[str] = []
        self.pressed: list[str] = []
        self.sent_dtmf: list[str] = []
        self.transfers: list[str] = []
        self.answered_at = clock.now()
        self.callee_leaves_at: datetime | None = (
            self.answered_at + timedelta(seconds=talk_seconds) if talk_seconds > 0 else None
        )
        self._clock = clock
        self._dtmf = dtmf
        self._record_seconds = record_seconds
        self._record_key = record_key
        self._transfer = transfer
        self._transfer_seconds = transfer_seconds
        self._on_end = on_end
        self._end_cause: str | None = None
        self._busy: asyncio.Task[object] | None = None  # the task inside _pass
        self._interrupted = False  # hangup() cancelled _busy

    @property
    def end_cause(self) -> str | None:
        """None while the call is up, else ``CALLEE_HUNG_UP``, ``WE_HUNG_UP`` or
        ``TRANSFERRED``."""
        if (
            self._end_cause is None
            and self.callee_leaves_at is not None
            and self._clock.now() >= self.callee_leaves_at
        ):
            self._end(CALLEE_HUNG_UP)
        return self._end_cause

    async def play(self, prompt: media.Prompt) -> str:
        """Say the prompt's text (``heard``); the callee never presses keys meanwhile,
        so this returns ""."""
        self._raise_if_ended()
        if prompt.text.strip():
            self.heard.append(prompt.text)
        await self._pass(speaking_s(prompt.text))
        return ""

    async def collect(
        self,
        *,
        max_digits: int,
        timeout_s: float,
        interdigit_timeout_s: float,
        termchar: str | None = "#",
        already: str = "",
        complete: Callable[[str], bool] | None = None,
    ) -> media.Collected:
        """The keys of ``already``, then the callee's ``dtmf`` after ``THINK_S``.

        Ends at ``termchar`` (not among the digits), as soon as ``complete(digits)`` is
        true ("complete", checked before ``max_digits``), or ``max_digits`` keys (0: no
        limit), else ``interdigit_timeout_s`` after the last key; with no key at all,
        "noinput" after ``timeout_s``. Keys after the end are dropped. A callee slower
        than the application's patience (``THINK_S`` beyond the timeout) presses nothing.
        """
        self._raise_if_ended()
        digits, ended_by = media.press_keys("", already, max_digits, termchar, complete)
        if ended_by is None and self._dtmf:
            patience_s = interdigit_timeout_s if digits else timeout_s
            if patience_s >= THINK_S:
                await self._pass(THINK_S)
                self.pressed.append(self._dtmf)
                digits, ended_by = media.press_keys(
                    digits, self._dtmf, max_digits, termchar, complete
                )
        if ended_by is None:
            if digits:
                await self._pass(interdigit_timeout_s)
                ended_by = "interdigit"
            else:
                await self._pass(timeout_s)
                ended_by = "noinput"
        return media.Collected(digits, ended_by, termchar if ended_by == "termchar" else None)

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording:
        """The tone (``BEEP_S``, if ``beep``), then the callee speaks ``record_seconds``
        and presses ``record_key``; ``take_recording`` says when it ends and what the
        recording holds."""
        self._raise_if_ended()
        if beep:
            await self._pass(BEEP_S)
        seconds, recording = take_recording(
            self._record_seconds,
            self._record_key,
            max_time_s=max_time_s,
            final_silence_s=final_silence_s,
            dtmf_term=dtmf_term,
        )
        await self._pass(seconds)
        return recording

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> media.TransferResult:
        """Transfer the callee to ``destination`` (kept in ``transfers``); the far end
        does the rule's ``transfer`` (see ``transfer_result``). A blind transfer that is
        handed over closes the leg (``TRANSFERRED``): the call is no longer ours."""
        self._raise_if_ended()
        self.transfers.append(destination)
        seconds, result = transfer_result(
            self._transfer,
            self._transfer_seconds,
            bridge=bridge,
            connect_timeout_s=connect_timeout_s,
            max_time_s=max_time_s,
        )
        await self._pass(seconds)
        if result.outcome == "unknown":
            self._end(TRANSFERRED)
        return result

    async def send_dtmf(self, digits: str) -> None:
        """``DTMF_KEY_S`` a key; "p" and "w" pause ``DTMF_PAUSE_S``."""
        self._raise_if_ended()
        self.sent_dtmf.append(digits)
        await self._pass(sum(DTMF_PAUSE_S if k in "pPwW" else DTMF_KEY_S for k in digits))

    async def hangup(self) -> None:
        """End the call (a no-op once it has ended); an operation in progress in
        another task raises ``media.Hangup``."""
        if self.end_cause is not None:
            return
        self._end(WE_HUNG_UP)
        if self._busy is not None:
            self._interrupted = True
            self._busy.cancel()

    def _end(self, cause: str) -> None:
        self._end_cause = cause
        if self._on_end is not None:
            self._on_end()

    def _raise_if_ended(self) -> None:
        cause = self.end_cause
        if cause is not None:
            raise media.Hangup(cause)

    async def _pass(self, seconds: float) -> None:
        """Let ``seconds`` of the call pass, unless it ends first (``media.Hangup``)."""
        self._raise_if_ended()
        callee_leaves = False
        if self.callee_leaves_at is not None:
            left_s = (self.callee_leaves_at - self._clock.now()).total_seconds()
            if left_s <= seconds:
                seconds, callee_leaves = left_s, True
        if seconds > 0:
            task = asyncio.current_task()
            self._busy = task
            try:
                await self._clock.sleep(seconds)
            except asyncio.CancelledError:
                # As asyncio.timeout() does: our own cancel becomes Hangup, unless
                # someone else cancelled the task as well.
                if self._interrupted and task is not None and task.uncancel() == 0:
                    raise media.Hangup(WE_HUNG_UP) from None
                raise
            finally:
                self._busy = None
        if callee_leaves:
            # Not end_cause: a ScaledClock may wake a hair before the moment.
            if self._end_cause is None:
                self._end(CALLEE_HUNG_UP)
            raise media.Hangup(self._end_cause or CALLEE_HUNG_UP)
