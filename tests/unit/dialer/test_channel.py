"""vxdial.dialer.channel: the VoiceXML channel over a call leg, and its transcript,
on a simulated leg driven by a FakeClock; and a VoiceXML application with <record>
and <transfer> run over it, answered by the sim driver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from vxdial import config, voicexml
from vxdial.dialer.channel import RecordingChannel
from vxdial.domain import media
from vxdial.domain.clock import FakeClock
from vxdial.telephony import base, sim
from vxdial.voicexml.testing import MemoryFetcher

T = TypeVar("T")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEP_S = 0.25


async def run(clock: FakeClock, awaitable: Awaitable[T]) -> T:
    """Await ``awaitable``, advancing the clock by ``STEP_S`` whenever it waits."""
    task = asyncio.ensure_future(awaitable)
    while True:
        for _ in range(5):
            await asyncio.sleep(0)
        if task.done():
            return task.result()
        clock.advance(STEP_S)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def transcript(channel: RecordingChannel) -> list[tuple[datetime, str, str | None]]:
    assert {(e.call_id, e.attempt) for e in channel.events} == {(7, 2)}
    return [(e.at, e.kind, e.detail) for e in channel.events]


async def test_keys_recordings_and_transfers_make_the_transcript() -> None:
    clock = FakeClock(T0)
    leg = sim.SimLeg(clock, dtmf="123#", record_seconds=3, record_key="#", transfer_seconds=20)
    channel = RecordingChannel(leg, clock, call_id=7, attempt=2)
    collected = await run(
        clock,
        channel.collect(
            max_digits=0,
            timeout_s=5,
            interdigit_timeout_s=3,
            complete=lambda digits: digits == "12",
        ),
    )
    assert collected == media.Collected("12", "complete")
    recording = await run(
        clock, channel.record(max_time_s=60, final_silence_s=2, dtmf_term=True, beep=False)
    )
    assert (recording.duration_s, recording.termchar) == (3, "#")
    cut = await run(
        clock, channel.record(max_time_s=2, final_silence_s=2, dtmf_term=True, beep=False)
    )
    assert cut.max_time_reached
    result = await run(
        clock,
        channel.transfer(
            destination="tel:+15559870000", bridge=True, connect_timeout_s=30, max_time_s=0
        ),
    )
    assert result == media.TransferResult("far_end_disconnect", 20)
    assert transcript(channel) == [
        (at(sim.THINK_S), "dtmf", "12"),
        (at(3.5), "record", "3 s, ended by #"),
        (at(5.5), "record", "2 s, ended by the maximum time"),
        # Noted when the transfer started.
        (at(5.5), "transfer", "bridge tel:+15559870000: far_end_disconnect after 20 s"),
    ]
    assert clock.now() == at(5.5 + sim.TRANSFER_RING_S + 20)


async def test_a_transfer_the_call_ends_during_is_still_in_the_transcript() -> None:
    clock = FakeClock(T0)
    leg = sim.SimLeg(clock, talk_seconds=5, transfer_seconds=60)
    channel = RecordingChannel(leg, clock, call_id=7, attempt=2)
    await run(clock, channel.play(media.Prompt("x" * 15)))  # 1 s
    with pytest.raises(media.Hangup):
        await run(
            clock,
            channel.transfer(
                destination="tel:+15559870000", bridge=True, connect_timeout_s=30, max_time_s=0
            ),
        )
    assert clock.now() == at(5)
    assert transcript(channel) == [
        (at(0), "prompt", "x" * 15),
        (at(1), "transfer", "bridge tel:+15559870000"),
    ]


APP = "http://app.example/ivr/"


def vxml(body: str) -> str:
    return f'<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">{body}</vxml>'


async def test_an_application_records_and_transfers_over_a_sim_driver_leg() -> None:
    clock = FakeClock(T0)
    driver = sim.SimDriver(
        [
            config.SimRule(
                ring_seconds=0,
                record_seconds=3,
                record_key="#",
                transfer="far_end_disconnect",
                transfer_seconds=20,
            )
        ],
        clock,
    )
    dialed = await run(
        clock,
        driver.dial(
            base.DialRequest(
                call_id=7,
                attempt=2,
                number="15551230000",
                caller_id=None,
                postd=None,
                ring_timeout_s=30,
            )
        ),
    )
    assert isinstance(dialed.leg, sim.SimLeg)
    leg = dialed.leg
    fetcher = MemoryFetcher(
        {
            APP + "start.vxml": vxml("""<form>
              <record name="msg" maxtime="30s" finalsilence="1s">
                <prompt>Leave a message.</prompt>
                <filled><submit next="save" method="post" namelist="msg"/></filled>
              </record></form>"""),
            APP + "save": vxml("""<form>
              <transfer name="agent" dest="tel:+15559870000" bridge="true" connecttimeout="20s">
                <filled>talked <value expr="agent$.duration"/> s</filled>
              </transfer>
              <transfer name="desk" dest="tel:+15559870001"/>
              <block>not reached</block></form>"""),
        }
    )
    channel = RecordingChannel(leg, clock, call_id=7, attempt=2)
    end = await run(
        clock,
        voicexml.run_session(
            voicexml.FetchRequest(APP + "start.vxml"),
            channel=channel,
            fetcher=fetcher,
            session={"call_id": 7},
        ),
    )
    # The blind transfer handed the call over: the session ends as a disconnect.
    assert end == voicexml.SessionEnd("disconnect")
    assert leg.heard == ["Leave a message.", "talked 20 s"]
    assert leg.transfers == ["tel:+15559870000", "tel:+15559870001"]
    assert leg.end_cause == sim.TRANSFERRED
    upload = (fetcher.requests[1].files or {})["msg"]
    assert upload.content_type == "audio/wav" and upload.body[:4] == b"RIFF"
    assert fetcher.requests[1].enctype == "multipart/form-data"
    assert [(kind, detail) for _, kind, detail in transcript(channel)] == [
        ("prompt", "Leave a message."),
        ("record", "3 s, ended by #"),
        ("transfer", "bridge tel:+15559870000: far_end_disconnect after 20 s"),
        ("prompt", "talked 20 s"),
        ("transfer", "blind tel:+15559870001: unknown"),
    ]


def test_a_transcript_keeps_at_most_its_cap_of_events() -> None:
    """A looping application must not grow a call's history forever."""
    from vxdial.dialer.channel import MAX_TRANSCRIPT_EVENTS

    clock = FakeClock(T0)
    channel = RecordingChannel(sim.SimLeg(clock), clock, call_id=7, attempt=2)
    for i in range(MAX_TRANSCRIPT_EVENTS + 100):
        channel.note("prompt", str(i))
    assert len(channel.events) == MAX_TRANSCRIPT_EVENTS == 500
    assert channel.events[-1].detail == str(MAX_TRANSCRIPT_EVENTS - 1)
