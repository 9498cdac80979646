"""The pure parts of the RTP session: what a recording counts as speech, and the
packets send_dtmf plans (the sockets are in tests/integration/test_rtp.py)."""

from __future__ import annotations

import math
import random
import struct

import pytest

from vxdial.domain import g711
from vxdial.telephony.rtp import _audio
from vxdial.telephony.rtp import _session as rtp_session


def frame(samples: list[int], codec: str) -> bytes:
    return g711.encode(struct.pack(f"<{len(samples)}h", *samples), codec)


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_silence_and_line_noise_are_not_speech(codec: str) -> None:
    assert not rtp_session.is_speech(frame([0] * 160, codec), codec)
    rng = random.Random(4)
    noise = [rng.randint(-150, 150) for _ in range(160)]  # about -50 dBFS
    assert not rtp_session.is_speech(frame(noise, codec), codec)
    assert not rtp_session.is_speech(b"", codec)


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_a_voice_level_is_speech(codec: str) -> None:
    voice = g711.encode(_audio.tone((300.0,), 0.02, amplitude=3000), codec)  # -20 dBFS
    assert rtp_session.is_speech(voice, codec)


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_the_threshold_is_an_rms_of_300(codec: str) -> None:
    # A square wave's RMS is its amplitude: just under and just over the threshold.
    def square(amplitude: int) -> bytes:
        return frame([amplitude if n % 2 else -amplitude for n in range(160)], codec)

    assert not rtp_session.is_speech(square(260), codec)
    assert rtp_session.is_speech(square(360), codec)
    assert rtp_session.SPEECH_RMS == 300
    assert 20 * math.log10(300 / 32768) == pytest.approx(-40.8, abs=0.1)


def test_dtmf_plan_per_key_and_pause() -> None:
    steps = rtp_session._dtmf_steps("1,#")
    # "1": four packets growing by 160, the end three times at 800, three of silence;
    # ",": a second of silence; "#" the same as "1".
    one = [(1, False, 160, True), (1, False, 320, False), (1, False, 480, False)]
    one += [(1, False, 640, False)] + [(1, True, 800, False)] * 3 + [None] * 3
    hash_key = [(11, *step[1:]) if step else None for step in one]
    assert steps == one + [None] * 50 + hash_key
    with pytest.raises(ValueError, match="not a DTMF key"):
        rtp_session._dtmf_steps("1x")
