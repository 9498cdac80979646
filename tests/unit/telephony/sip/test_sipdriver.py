"""The SIP driver's own rules, without a network: outcome mapping, the CPS limiter on
a FakeClock, and the leg over a scripted RTP session (keys, prompts, audio files)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from vxdial.domain import calls, errors, media
from vxdial.domain.clock import FakeClock
from vxdial.telephony import rtp
from vxdial.telephony.sip.ua import Call, Identity, UserAgent
from vxdial.telephony.sipdriver import CallsPerSecond, SipLeg, outcome_of


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, calls.Outcome.ANSWER),
        (486, calls.Outcome.BUSY),
        (600, calls.Outcome.BUSY),
        (408, calls.Outcome.NOANSWER),
        (480, calls.Outcome.NOANSWER),
        (603, calls.Outcome.REJECTED),
        (404, calls.Outcome.UNREACHABLE),
        (487, calls.Outcome.UNREACHABLE),
        (401, calls.Outcome.UNREACHABLE),
        (500, calls.Outcome.UNREACHABLE),
        (503, calls.Outcome.UNREACHABLE),
    ],
)
def test_outcomes_of_final_responses(status: int, outcome: calls.Outcome) -> None:
    assert outcome_of(status) is outcome


async def test_calls_per_second_are_spaced_evenly() -> None:
    clock = FakeClock()
    limiter = CallsPerSecond(4.0, clock)
    takes = [asyncio.ensure_future(limiter.take()) for _ in range(3)]
    await asyncio.sleep(0)
    assert [t.done() for t in takes] == [True, False, False]
    clock.advance(0.25)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [t.done() for t in takes] == [True, True, False]
    clock.advance(0.25)
    await asyncio.gather(*takes)


class ScriptedSession:
    """An RTP session whose far end presses ``keys`` (one per next_digit call; "" is a
    timeout) and records what it was asked to play."""

    local_host = "127.0.0.1"
    local_port = 20000

    def __init__(self, keys: list[str], waiting: str = "") -> None:
        self.keys = keys
        self.waiting = waiting
        self.played: list[bytes] = []
        self.waits: list[float] = []
        self.closed = False

    def connect(self, remote_host: str, remote_port: int, codec: rtp.Codec, pt: int | None) -> None:
        pass

    async def play(self, pcm: bytes, *, interruptible: bool) -> str:
        self.played.append(pcm)
        return ""

    async def next_digit(self, timeout_s: float) -> str | None:
        self.waits.append(timeout_s)
        key = self.keys.pop(0) if self.keys else ""
        return key or None

    def take_digits(self) -> str:
        waiting, self.waiting = self.waiting, ""
        return waiting

    async def send_dtmf(self, digits: str) -> None:
        pass

    async def record(self, **_: object) -> media.Recording:
        return media.Recording(media.silence_wav(0), 0)

    async def close(self) -> None:
        self.closed = True


class Speech:
    async def render(self, text: str, voice: str | None = None, *, ssml: bool = False) -> bytes:
        if ssml and "<broken" in text:
            raise rtp.MediaError("espeak-ng failed")
        return (b"S" if ssml else b"T") * len(text)


def leg_over(
    session: ScriptedSession,
    fetch_audio: Callable[[str], Awaitable[tuple[bytes, str | None]]] | None = None,
) -> SipLeg:
    agent = UserAgent(
        Identity(trunk=("127.0.0.1", 5060), trunk_host="127.0.0.1", from_domain="x"),
        bind_host="127.0.0.1",
        bind_port=0,
    )
    call = Call(agent, "1555", "1666", lambda: b"", lambda _: b"")
    return SipLeg(
        call,
        session,
        speech=Speech(),  # type: ignore[arg-type]
        fetch_audio=fetch_audio,
        voice="en-us",
        on_closed=lambda _: None,
    )


@pytest.mark.parametrize(
    ("keys", "waiting", "options", "expected", "waits"),
    [
        (["1", "2", "#"], "", {"max_digits": 0}, ("12", "termchar", "#"), [5, 2, 2]),
        (["1", "2", "3"], "", {"max_digits": 2}, ("12", "maxdigits", None), [5, 2]),
        (["4", ""], "", {"max_digits": 3}, ("4", "interdigit", None), [5, 2]),
        ([""], "", {"max_digits": 3}, ("", "noinput", None), [5]),
        (["9"], "8", {"max_digits": 2, "already": "7"}, ("78", "maxdigits", None), []),
        (
            ["5", "6"],
            "",
            {"max_digits": 0, "complete": lambda d: d == "56"},
            ("56", "complete", None),
            [5, 2],
        ),
    ],
)
async def test_collect_waits_key_by_key(
    keys: list[str],
    waiting: str,
    options: dict[str, object],
    expected: tuple[str, str, str | None],
    waits: list[float],
) -> None:
    session = ScriptedSession(list(keys), waiting)
    leg = leg_over(session)
    collected = await leg.collect(timeout_s=5, interdigit_timeout_s=2, **options)  # type: ignore[arg-type]
    assert (collected.digits, collected.ended_by, collected.termchar) == expected
    assert session.waits == waits


async def test_audio_files_are_played_and_text_is_the_fallback() -> None:
    wav = media.silence_wav(0.1)  # 800 samples
    fetched: list[str] = []

    async def fetch(url: str) -> tuple[bytes, str | None]:
        fetched.append(url)
        if url.endswith("missing.wav"):
            raise errors.Unavailable(f"{url}: HTTP 404")
        return wav, "audio/wav"

    session = ScriptedSession([])
    leg = leg_over(session, fetch)
    await leg.play(media.Prompt("hello", audio_urls=("http://app/a.wav", "http://app/a.wav")))
    await leg.play(media.Prompt("fallback", audio_urls=("http://app/missing.wav",)))
    assert session.played == [b"\x00\x00" * 1600, b"T" * len("fallback")]
    assert leg.heard == ["hello", "fallback"]
    assert fetched == ["http://app/a.wav", "http://app/a.wav", "http://app/missing.wav"]


async def test_operations_raise_hangup_once_the_call_has_ended() -> None:
    session = ScriptedSession([])
    leg = leg_over(session)
    leg.call._end("SIP BYE")
    with pytest.raises(media.Hangup, match="SIP BYE"):
        await leg.play(media.Prompt("hello"))
    await asyncio.sleep(0)
    assert session.closed


async def test_ssml_is_spoken_when_given_and_text_when_it_cannot_be() -> None:
    session = ScriptedSession([])
    leg = leg_over(session)
    await leg.play(media.Prompt("hi", ssml="<speak>hi</speak>"))
    await leg.play(media.Prompt("plain", ssml="<speak><broken/></speak>"))
    assert session.played == [b"S" * len("<speak>hi</speak>"), b"T" * len("plain")]


async def test_a_media_failure_ends_the_call() -> None:
    class Failing(ScriptedSession):
        async def play(self, pcm: bytes, *, interruptible: bool) -> str:
            raise rtp.MediaError("cannot send RTP to 127.0.0.1:4000")

    session = Failing([])
    leg = leg_over(session)
    with pytest.raises(media.Hangup, match="media failed: cannot send RTP"):
        await leg.play(media.Prompt("hello"))
    assert leg.end_cause == "media failed: cannot send RTP to 127.0.0.1:4000"
    await asyncio.sleep(0)
    assert session.closed
