"""Smoke test of a real call: the SIP driver calls Debian's baresip (auto-answer, no
sound card), plays a spoken prompt, exchanges RFC 4733 keys both ways and hangs up.

What baresip received is what its sndfile filter decoded into a WAV file: the prompt
must be in it, as long as the prompt itself (its speech from the first to the last
loud 20 ms frame, within two frames).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.baresip import Baresip, read_wav
from vxdial.config import SipSettings
from vxdial.domain import calls, media
from vxdial.domain.clock import SystemClock
from vxdial.telephony.base import DialRequest
from vxdial.telephony.rtp import SpeechRenderer
from vxdial.telephony.sipdriver import SipDriver

PROMPT = "Hello from vxdial. This is a test call. Goodbye."
FRAME = 160  # samples in 20 ms
LOUD_RMS = 300


def speech_span_s(pcm: bytes) -> tuple[float, float]:
    """When the first and the last loud 20 ms frame of ``pcm`` start and end."""
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) & ~1])
    loud = [
        index
        for index in range(len(samples) // FRAME)
        if math.sqrt(sum(s * s for s in samples[index * FRAME : (index + 1) * FRAME]) / FRAME)
        > LOUD_RMS
    ]
    assert loud, "no sound at all"
    return loud[0] * 0.02, (loud[-1] + 1) * 0.02


@pytest.fixture
async def baresip(tmp_path: Path) -> AsyncIterator[Baresip]:
    base = 40000 + (os.getpid() % 200) * 50
    callee = await Baresip.start(tmp_path / "baresip", rtp_ports=(base, base + 19))
    yield callee
    await callee.stop()


@pytest.fixture
async def driver(baresip: Baresip) -> AsyncIterator[SipDriver]:
    base = 40000 + (os.getpid() % 200) * 50 + 20
    settings = SipSettings(
        trunk=baresip.trunk,
        bind="127.0.0.1:0",
        rtp_ports=f"{base}-{base + 19}",
        options_interval_s=0,
        caller_id="15550001111",
    )
    sip = SipDriver(settings, SystemClock())
    yield sip
    await sip.aclose()


def dial_request() -> DialRequest:
    return DialRequest(
        call_id=1, attempt=1, number="callee", caller_id=None, postd=None, ring_timeout_s=10
    )


async def test_a_call_to_baresip_carries_the_prompt_and_keys(
    baresip: Baresip, driver: SipDriver
) -> None:
    result = await driver.dial(dial_request())
    assert result.outcome is calls.Outcome.ANSWER, result.cause
    leg = result.leg
    assert leg is not None
    await baresip.event("CALL_ESTABLISHED")

    assert await leg.play(media.Prompt(PROMPT, bargein=False)) == ""
    # A key from baresip (RFC 4733) reaches the leg once.
    await baresip.command("sndcode", "5")
    collected = await leg.collect(max_digits=1, timeout_s=10, interdigit_timeout_s=5)
    assert collected.digits == "5"
    await leg.send_dtmf("1#")
    await leg.hangup()
    closed = await baresip.event("CALL_CLOSED")
    # baresip's words for "the far end sent BYE" (its session closed with ECONNRESET).
    assert closed.get("param") == "Connection reset by peer", closed

    prompt = await SpeechRenderer().render(PROMPT)
    received = read_wav(baresip.dumps("dec")[-1])
    start_s, end_s = speech_span_s(received)
    prompt_start_s, prompt_end_s = speech_span_s(prompt)
    assert abs((end_s - start_s) - (prompt_end_s - prompt_start_s)) <= 0.04
    # baresip's log shows the keys we sent, each as RFC 4733 start and end.
    log = baresip.log()
    for key in "1#":
        assert f"received event: '{key}' (end=0)" in log
        assert f"received event: '{key}' (end=1)" in log
    assert "Call established" in log and "terminated" in log
