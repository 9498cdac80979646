"""``<record type>`` (VoiceXML 2.0 section 2.3.6): the recording is written in the type
asked for when vxdial can write it, else error.unsupported.format; the recording
variable and the submitted file part say what the bytes are."""

from __future__ import annotations

import math
import struct

import pytest

from tests.unit.voicexml.helpers import SESSION, START, vxml
from vxdial import voicexml
from vxdial.domain import g711, media
from vxdial.voicexml.testing import MemoryFetcher, ScriptedChannel

SAVE = "http://app.example/ivr/save"


def tone_pcm(seconds: float) -> bytes:
    count = round(seconds * 8000)
    values = [round(6000 * math.sin(2 * math.pi * 350 * n / 8000)) for n in range(count)]
    return struct.pack(f"<{count}h", *values)


PCM = tone_pcm(1.5)
RECORDING = media.Recording(media.pcm16_wav(PCM), 1.5)


async def record_as(record_type: str) -> tuple[voicexml.SessionEnd, ScriptedChannel, MemoryFetcher]:
    """Record once with ``type=record_type``, say the variable's type and size, and
    submit the recording."""
    fetcher = MemoryFetcher(
        {
            START: vxml(f"""<form>
              <record name="msg" type="{record_type}">
                <catch event="error.unsupported.format">unsupported <value expr="_message"/>
                  <exit/></catch>
                <filled><value expr="msg.type"/> <value expr="msg.size"/> <value expr="msg$.size"/>
                  <submit next="save" method="post" namelist="msg"/></filled>
              </record></form>"""),
            SAVE: vxml("<form><block>saved<exit/></block></form>"),
        }
    )
    channel = ScriptedChannel(recordings=[RECORDING])
    end = await voicexml.run_session(
        voicexml.FetchRequest(START), channel=channel, fetcher=fetcher, session=SESSION
    )
    return end, channel, fetcher


@pytest.mark.parametrize(
    ("record_type", "media_type", "filename", "body"),
    [
        ("audio/basic", "audio/basic", "msg.ul", g711.encode(PCM, "PCMU")),
        ("audio/x-alaw-basic", "audio/x-alaw-basic", "msg.al", g711.encode(PCM, "PCMA")),
        (
            "audio/wav;codec=7",
            "audio/wav",
            "msg.wav",
            media.encode_recording(RECORDING.audio, media.recording_format("audio/wav;codec=7")),
        ),
        ("Audio/X-WAV", "audio/x-wav", "msg.wav", RECORDING.audio),
    ],
)
async def test_the_recording_is_written_and_submitted_in_the_type_asked_for(
    record_type: str, media_type: str, filename: str, body: bytes
) -> None:
    """VoiceXML 2.0 section 2.3.6 (type: "the media format of the resulting recording")
    and appendix E (audio/basic, audio/x-alaw-basic: headerless 8 kHz G.711; WAV): the
    variable's type and size, the shadow size, and the part's Content-Type, file name
    extension and bytes all describe what was written."""
    end, channel, fetcher = await record_as(record_type)
    assert end.reason == "exit", end
    assert channel.heard == [f"{media_type} {len(body)} {len(body)}", "saved"]
    request = fetcher.requests[-1]
    assert request.url == SAVE and request.files is not None
    upload = request.files["msg"]
    assert (upload.filename, upload.content_type, upload.body) == (filename, media_type, body)


async def test_a_g711_wav_recording_holds_the_g711_samples() -> None:
    """VoiceXML 2.0 section 2.3.6 with RFC 2361's codec parameter: audio/wav;codec=7 is
    a WAV file of µ-law samples (WAVE format tag 7), one byte a sample."""
    _, _, fetcher = await record_as("audio/wav; codec=7")
    files = fetcher.requests[-1].files
    assert files is not None
    body = files["msg"].body
    assert body[:4] == b"RIFF" and struct.unpack_from("<H", body, 20)[0] == 7
    assert body.endswith(g711.encode(PCM, "PCMU"))


@pytest.mark.parametrize("record_type", ["audio/mpeg", "video/3gpp", "audio/wav;codec=31"])
async def test_a_type_that_cannot_be_written_is_unsupported_format_before_recording(
    record_type: str,
) -> None:
    """VoiceXML 2.0 section 2.3.6: "If an unsupported media format is encountered during
    recording, the platform throws error.unsupported.format which specifies the
    unsupported media format in its message variable"; nobody is recorded for nothing."""
    end, channel, fetcher = await record_as(record_type)
    assert end.reason == "exit"
    (said,) = channel.heard
    assert said.startswith(f"unsupported line 4: <record type>: '{record_type}'")
    assert channel.records == []
    assert [request.url for request in fetcher.requests] == [START]
