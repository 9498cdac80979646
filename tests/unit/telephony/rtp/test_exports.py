"""The names the SIP driver codes against (docs/MEDIA.md) stay exported."""

from __future__ import annotations

import inspect

from vxdial.telephony import rtp


def test_the_contract_is_exported() -> None:
    assert set(rtp.__all__) == {
        "PCMA",
        "PCMU",
        "AudioError",
        "Codec",
        "MediaEngine",
        "MediaError",
        "RtpSession",
        "SpeechRenderer",
        "decode_audio",
    }
    for name in rtp.__all__:
        assert getattr(rtp, name) is not None
    assert (rtp.PCMU.name, rtp.PCMU.payload_type, rtp.PCMU.clock_rate) == ("PCMU", 0, 8000)
    assert (rtp.PCMA.name, rtp.PCMA.payload_type) == ("PCMA", 8)
    assert issubclass(rtp.AudioError, rtp.MediaError)


def test_the_session_operations_keep_their_signatures() -> None:
    def parameters(function: object) -> list[str]:
        return list(inspect.signature(function).parameters)  # type: ignore[arg-type]

    session = rtp.RtpSession
    assert parameters(session.connect) == [
        "self", "remote_host", "remote_port", "codec", "telephone_event_pt",
    ]  # fmt: skip
    assert parameters(session.play) == ["self", "pcm", "interruptible"]
    assert parameters(session.next_digit) == ["self", "timeout_s"]
    assert parameters(session.send_dtmf) == ["self", "digits"]
    assert parameters(session.record) == [
        "self", "max_time_s", "final_silence_s", "dtmf_term", "beep",
    ]  # fmt: skip
    for coroutine in ("play", "next_digit", "send_dtmf", "record", "close"):
        assert inspect.iscoroutinefunction(getattr(session, coroutine))
    assert inspect.iscoroutinefunction(rtp.MediaEngine.open_session)
    assert inspect.iscoroutinefunction(rtp.SpeechRenderer.render)
