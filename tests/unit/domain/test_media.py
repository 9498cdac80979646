"""vxdial.domain.media: the formats a recording is written in (VoiceXML 2.0 section 2.3.6,
``<record type>``, and the formats of its appendix E), checked against SoX."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import wave
from pathlib import Path

import pytest

from vxdial.domain import g711, media


def speech_pcm(seconds: float = 0.25) -> bytes:
    """A 440 Hz tone as 16-bit PCM at 8 kHz (something other than silence)."""
    count = round(seconds * 8000)
    values = [round(8000 * math.sin(2 * math.pi * 440 * n / 8000)) for n in range(count)]
    return struct.pack(f"<{count}h", *values)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("audio/wav", media.RecordingFormat("audio/wav", ".wav", "pcm16", wav=True)),
        ("audio/x-wav", media.RecordingFormat("audio/x-wav", ".wav", "pcm16", wav=True)),
        (" Audio/X-WAV ", media.RecordingFormat("audio/x-wav", ".wav", "pcm16", wav=True)),
        ("audio/wave", media.RecordingFormat("audio/wave", ".wav", "pcm16", wav=True)),
        ("audio/vnd.wave;codec=1", media.RecordingFormat("audio/vnd.wave", ".wav", "pcm16", True)),
        ("audio/wav; codec=7", media.RecordingFormat("audio/wav", ".wav", "PCMU", wav=True)),
        ('audio/x-wav;CODEC="6"', media.RecordingFormat("audio/x-wav", ".wav", "PCMA", wav=True)),
        ("audio/wav;codec=0x0007", media.RecordingFormat("audio/wav", ".wav", "PCMU", wav=True)),
        ("audio/wav;rate=8000", media.RecordingFormat("audio/wav", ".wav", "pcm16", wav=True)),
        ("audio/basic", media.RecordingFormat("audio/basic", ".ul", "PCMU", wav=False)),
        ("AUDIO/BASIC;codec=6", media.RecordingFormat("audio/basic", ".ul", "PCMU", wav=False)),
        ("audio/x-alaw-basic", media.RecordingFormat("audio/x-alaw-basic", ".al", "PCMA", False)),
    ],
)
def test_recording_formats(asked: str, expected: media.RecordingFormat) -> None:
    """VoiceXML 2.0 section 2.3.6 and appendix E (audio/basic and audio/x-alaw-basic are
    headerless 8 kHz G.711); RFC 2361 (the WAVE codec parameter); RFC 2045 section 5.1
    (parameters not known are ignored)."""
    assert media.recording_format(asked) == expected


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("audio/mpeg", "'audio/mpeg' cannot be recorded (only audio/wav, audio/x-wav, "),
        ("audio/ogg;codecs=opus", "'audio/ogg;codecs=opus' cannot be recorded"),
        ("", "'' cannot be recorded"),
        ("audio/wav;codec=55", "'audio/wav;codec=55': codec='55' cannot be written"),
        ("audio/wav;codec=gsm", "codec='gsm' cannot be written (1: 16-bit PCM, 6: A-law"),
    ],
)
def test_formats_that_cannot_be_recorded(asked: str, message: str) -> None:
    """VoiceXML 2.0 section 2.3.6: an unsupported media format is error.unsupported.format,
    whose message names the format."""
    with pytest.raises(media.UnsupportedFormat) as raised:
        media.recording_format(asked)
    assert message in str(raised.value)


def test_a_wav_recording_is_the_channels_file_as_it_is() -> None:
    recorded = media.pcm16_wav(speech_pcm())
    assert media.encode_recording(recorded, media.recording_format("audio/x-wav")) == recorded


@pytest.mark.parametrize(
    ("asked", "codec"), [("audio/basic", "PCMU"), ("audio/x-alaw-basic", "PCMA")]
)
def test_headerless_g711_is_the_samples_alone(asked: str, codec: str) -> None:
    """VoiceXML 2.0 appendix E: raw (headerless) 8 kHz 8-bit mono G.711."""
    pcm = speech_pcm()
    written = media.encode_recording(media.pcm16_wav(pcm), media.recording_format(asked))
    assert written == g711.encode(pcm, codec)
    assert len(written) == len(pcm) // 2  # a byte a sample, nothing else


@pytest.mark.parametrize(("codec", "tag"), [("7", 7), ("6", 6)])
def test_g711_wav_files_read_by_sox(tmp_path: Path, codec: str, tag: int) -> None:
    """RFC 2361's codec parameter: a WAV of G.711 samples that other programs read (SoX
    sees its encoding, rate and length), holding the samples G.711 gives."""
    pcm = speech_pcm(0.5)
    written = media.encode_recording(
        media.pcm16_wav(pcm), media.recording_format(f"audio/wav;codec={codec}")
    )
    assert written[:4] == b"RIFF" and written[8:12] == b"WAVE"
    assert struct.unpack_from("<H", written, 20)[0] == tag
    path = tmp_path / "recording.wav"
    path.write_bytes(written)
    info = subprocess.run(
        ["sox", "--i", str(path)], check=True, capture_output=True, text=True
    ).stdout
    assert "Sample Rate    : 8000" in info and "Channels       : 1" in info
    assert "4000 samples" in info
    assert f"8-bit {'u-law' if tag == 7 else 'A-law'}" in info
    back = subprocess.run(
        ["sox", str(path), "-t", "raw", "-e", "signed-integer", "-b", "16", "-L", "-"],
        check=True,
        capture_output=True,
    ).stdout
    name = "PCMU" if tag == 7 else "PCMA"
    assert back == g711.decode(g711.encode(pcm, name), name)


def test_a_recording_that_is_not_16_bit_mono_at_8_khz_cannot_be_converted() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0\0\0" * 10)
    with pytest.raises(media.UnsupportedFormat, match=r"2 channel.*16000 Hz, not 16-bit mono"):
        media.encode_recording(buffer.getvalue(), media.recording_format("audio/basic"))
    with pytest.raises(media.UnsupportedFormat, match="not a PCM WAV file"):
        media.encode_recording(b"not a wav", media.recording_format("audio/basic"))


# -- a prompt cut at its audio files ----------------------------------------------------

SPEAK = '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">'
HEAD = '<speak xmlns="http://www.w3.org/2001/10/synthesis" version="1.0" xml:lang="en-US">'


def test_a_prompt_is_cut_at_its_audio_files_in_order() -> None:
    """VoiceXML 2.0 section 4.1 (prompts sequence speech and audio, IR assertion 2) and
    SSML 1.0 section 3.3.1 (the content of <audio> is said when its file cannot be)."""
    ssml = (
        SPEAK + "Your balance is <audio src='http://app/beep.wav'>beep</audio>"
        "<say-as interpret-as='digits'>42</say-as> dollars."
        "<audio src='http://app/thanks.wav'/></speak>"
    )
    assert media.prompt_pieces(ssml) == (
        media.Spoken(HEAD + "Your balance is </speak>"),
        media.AudioFile("http://app/beep.wav", HEAD + "beep</speak>"),
        media.Spoken(HEAD + '<say-as interpret-as="digits">42</say-as> dollars.</speak>'),
        media.AudioFile("http://app/thanks.wav", None),
    )


def test_the_elements_around_an_audio_file_go_on_after_it() -> None:
    ssml = (
        SPEAK + "<p><prosody rate='slow'>one <audio src='a.wav'>"
        "<emphasis>alt</emphasis></audio> two</prosody></p><break time='1s'/></speak>"
    )
    assert media.prompt_pieces(ssml) == (
        media.Spoken(HEAD + '<p><prosody rate="slow">one </prosody></p></speak>'),
        media.AudioFile(
            "a.wav",
            HEAD + '<p><prosody rate="slow"><emphasis>alt</emphasis></prosody></p></speak>',
        ),
        media.Spoken(
            HEAD + '<p><prosody rate="slow"> two</prosody></p><break time="1s"></break></speak>'
        ),
    )


def test_whitespace_between_files_is_not_a_piece_and_nested_audio_is_content() -> None:
    ssml = (
        SPEAK + " <audio src='a.wav'><audio src='b.wav'/></audio>\n <audio src='c.wav'/> </speak>"
    )
    assert media.prompt_pieces(ssml) == (
        media.AudioFile("a.wav", HEAD + '<audio src="b.wav"></audio></speak>'),
        media.AudioFile("c.wav", None),
    )
    with pytest.raises(ValueError, match="not well-formed"):
        media.prompt_pieces("<speak>")
