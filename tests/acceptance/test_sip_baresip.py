"""Smoke tests of real calls to Debian's baresip (auto-answer, no sound card):

- the SIP driver plays a spoken prompt, keys go both ways as RFC 4733, we hang up;
- the SIP driver records what baresip says, after a beep;
- the whole product: ``vxdial``'s dialer with ``[telephony] driver = "sip"`` runs a
  VoiceXML application (a prompt, then a ``<record>``) against baresip.

What baresip received is what its sndfile filter decoded into a WAV file: the prompt
must be in it, as long as the prompt itself (its speech from the first to the last
loud 20 ms frame, within two frames).
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import struct
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings
from tests.support.baresip import Baresip, read_wav
from tests.support.servers import serve_in_thread
from tests.support.sipp import free_udp_port
from tests.support.webapp import WebApp
from vxdial.app import accounts_for, open_store
from vxdial.config import DialerSettings, SipSettings, TelephonySettings
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
    # baresip reads events through its jitter buffer: the keys reached it when it says so
    # (a BYE sent at once could end the call before it has read the last one).
    for key in "1#":
        await baresip.wait_for_log(f"received event: '{key}' (end=1)")
    await leg.hangup()
    closed = await baresip.call_closed()
    # baresip's words for "the far end sent BYE" (its session closed with ECONNRESET).
    assert closed.get("param") == "Connection reset by peer", closed

    prompt = await SpeechRenderer().render(PROMPT)
    received = read_wav(baresip.dumps("dec")[-1])
    start_s, end_s = speech_span_s(received)
    prompt_start_s, prompt_end_s = speech_span_s(prompt)
    assert abs((end_s - start_s) - (prompt_end_s - prompt_start_s)) <= 0.04
    # Each key we sent was an RFC 4733 event with a start and an end.
    log = baresip.log()
    for key in "1#":
        assert log.count(f"received event: '{key}' (end=0)") == 1
        assert log.count(f"received event: '{key}' (end=1)") == 1
    assert "Call established" in log and "terminated" in log


def tone_then_silence_wav(path: Path) -> Path:
    """2 s of silence, 1 s of a 440 Hz tone (the "speech"), then 60 s of silence."""
    tone = [round(8000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(8000)]
    samples = [0] * 16000 + tone + [0] * 8000 * 60
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


async def test_a_recording_of_what_baresip_says(tmp_path: Path) -> None:
    base = 40000 + (os.getpid() % 200) * 50
    source = tone_then_silence_wav(tmp_path / "speech.wav")
    callee = await Baresip.start(tmp_path / "baresip", source=source, rtp_ports=(base, base + 19))
    settings = SipSettings(
        trunk=callee.trunk,
        bind="127.0.0.1:0",
        rtp_ports=f"{base + 20}-{base + 39}",
        options_interval_s=0,
    )
    sip = SipDriver(settings, SystemClock())
    try:
        result = await sip.dial(dial_request())
        assert result.outcome is calls.Outcome.ANSWER and result.leg is not None, result.cause
        # The final silence also ends a recording nobody speaks in: longer than the
        # 2 s before the tone.
        recording = await result.leg.record(
            max_time_s=20, final_silence_s=3.0, dtmf_term=True, beep=True
        )
        await result.leg.hangup()
        await callee.call_closed()
    finally:
        await sip.aclose()
        await callee.stop()
    # Ended by the final silence after the tone; the tone is the end of the recording.
    assert not recording.max_time_reached and recording.termchar is None
    with wave.open(io.BytesIO(recording.audio)) as read:
        assert (read.getframerate(), read.getnchannels(), read.getsampwidth()) == (8000, 1, 2)
        pcm = read.readframes(read.getnframes())
    assert recording.duration_s == len(pcm) / 16000
    start_s, end_s = speech_span_s(pcm)
    assert abs((end_s - start_s) - 1.0) <= 0.04
    assert end_s == pytest.approx(recording.duration_s)
    # Our beep reached baresip: 250 ms of tone before anything else.
    beep_start_s, beep_end_s = speech_span_s(read_wav(callee.dumps("dec")[-1]))
    assert abs((beep_end_s - beep_start_s) - 0.25) <= 0.04


APPLICATION = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form>
<block><prompt bargein="false">Hello from vxdial. Please leave a message.</prompt></block>
<record name="message" beep="true" maxtime="15s" finalsilence="4s" dtmfterm="true">
<filled><submit next="/message" namelist="message" method="post"
  enctype="multipart/form-data"/></filled></record></form></vxml>"""
GOODBYE = b"""<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml"><form><block>Goodbye.</block></form></vxml>"""


def silence_tone_silence_wav(path: Path, lead_s: float) -> Path:
    """``lead_s`` of silence, 1 s of a 440 Hz tone (the message), then 60 s of silence."""
    tone = [round(8000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(8000)]
    samples = [0] * round(8000 * lead_s) + tone + [0] * 8000 * 60
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


def wav_in(body: bytes) -> bytes:
    """The WAV file inside a multipart body (the RIFF size says where it ends)."""
    start = body.index(b"RIFF")
    size = int.from_bytes(body[start + 4 : start + 8], "little") + 8
    return body[start : start + size]


async def test_vxdial_serve_calls_baresip_through_the_sip_driver(
    tmp_path: Path, sqlite_url: str, webapp: WebApp
) -> None:
    """The whole product: a call queued over the API is dialed by ``vxdial``'s dialer
    through ``[telephony] driver = "sip"``; baresip hears the application's prompt and
    our beep, answers a message (a tone, after five seconds of silence) that reaches the
    application as a recording, and the result is delivered after our BYE."""
    base = 40000 + (os.getpid() % 200) * 50
    source = silence_tone_silence_wav(tmp_path / "message.wav", lead_s=5.0)
    callee = await Baresip.start(
        tmp_path / "baresip", source=source, rtp_ports=(base, base + 19), user="15551230000"
    )
    settings = make_settings(
        sqlite_url,
        telephony=TelephonySettings(driver="sip"),
        dialer=DialerSettings(cps=100, poll_s=0.2, lease_s=120, ring_timeout_s=10),
        sip=SipSettings(
            trunk=callee.trunk,
            bind=f"127.0.0.1:{free_udp_port()}",
            rtp_ports=f"{base + 20}-{base + 39}",
            options_interval_s=0,
        ),
    )
    store = open_store(settings)
    accounts_for(store, settings).add_sender("alice", "1111")
    store.close()
    webapp.bodies["/start.vxml"] = APPLICATION
    webapp.bodies["/message"] = GOODBYE
    try:
        with serve_in_thread(settings, dialing=True) as url:
            async with httpx.AsyncClient(base_url=url, auth=("alice", "1111")) as client:
                response = await client.post(
                    "/api/v1/calls",
                    json={
                        "phone_number": "15551230000",
                        "start_url": webapp.url("/start.vxml"),
                        "result_url": webapp.url("/result"),
                    },
                )
                assert response.status_code == 201, response.text
                async with asyncio.timeout(60):
                    while not webapp.seen("/result", "POST"):
                        await asyncio.sleep(0.1)
        await callee.call_closed()
    finally:
        await callee.stop()
    [result] = webapp.seen("/result", "POST")
    assert b"result=completed" in result.body
    # The message: the recording ends with the 1 s tone (the final silence trimmed).
    [message] = webapp.seen("/message", "POST")
    with wave.open(io.BytesIO(wav_in(message.body))) as read:
        recorded = read.readframes(read.getnframes())
    start_s, end_s = speech_span_s(recorded)
    # All of the tone, or its end if the application was slow to start recording (the
    # prompt and the beep take about 3.5 s of the 5 s before it, more on a loaded
    # machine; the final silence of 4 s waits for it).
    assert 0.5 <= end_s - start_s <= 1.04
    assert end_s == pytest.approx(len(recorded) / 16000)
    # baresip heard the prompt, as long as espeak-ng says it, then our 250 ms beep.
    heard = read_wav(callee.dumps("dec")[-1])
    prompt = await SpeechRenderer().render("Hello from vxdial. Please leave a message.")
    _, prompt_end_s = speech_span_s(prompt)
    prompt_start_s, _ = speech_span_s(prompt)
    heard_start_s, heard_end_s = speech_span_s(heard)
    assert heard_end_s - heard_start_s >= prompt_end_s - prompt_start_s - 0.04
    log = callee.log()
    assert "Call established" in log and "Connection reset by peer" in log  # our BYE
