"""decode_audio on the files applications point <audio> at, made with wave and SoX."""

from __future__ import annotations

import io
import math
import struct
import subprocess
import wave
from pathlib import Path

import pytest

from vxdial.domain import g711, media
from vxdial.telephony.rtp import AudioError, _audio, decode_audio

URL = "http://app.example/prompt"


def sine(frequency: float, seconds: float, rate: int, amplitude: int = 10000) -> list[int]:
    return [
        round(amplitude * math.sin(2 * math.pi * frequency * n / rate))
        for n in range(round(seconds * rate))
    ]


def wav(values: list[int], *, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        if width == 1:
            out.writeframes(bytes((v // 256 + 128) & 0xFF for v in values))
        else:
            out.writeframes(struct.pack(f"<{len(values)}h", *values))
    return buffer.getvalue()


def samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def sox_convert(tmp_path: Path, source: bytes, suffix: str, *options: str) -> bytes:
    """``source`` (a 16-bit WAV) converted by SoX into a file ending in ``suffix``."""
    (tmp_path / "in.wav").write_bytes(source)
    target = tmp_path / f"out{suffix}"
    subprocess.run(["sox", "-D", str(tmp_path / "in.wav"), *options, str(target)], check=True)
    return target.read_bytes()


def test_8k_mono_16bit_wav_is_taken_as_it_is() -> None:
    values = sine(440, 0.5, 8000)
    assert samples(decode_audio(wav(values), content_type="audio/wav", url=URL)) == values


def test_8bit_wav() -> None:
    values = sine(440, 0.2, 8000)
    decoded = samples(decode_audio(wav(values, width=1), content_type=None, url=URL))
    assert len(decoded) == len(values)
    assert max(abs(a - b) for a, b in zip(decoded, values, strict=True)) <= 256


def test_stereo_is_averaged() -> None:
    left, right = [1000] * 800, [3000] * 800
    interleaved = [v for pair in zip(left, right, strict=True) for v in pair]
    decoded = samples(decode_audio(wav(interleaved, channels=2), content_type=None, url=URL))
    assert decoded == [2000] * 800


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000, 11025, 6000])
def test_other_rates_are_resampled_to_8k(rate: int) -> None:
    values = sine(400, 1.0, rate)
    decoded = samples(decode_audio(wav(values, rate=rate), content_type=None, url=URL))
    assert len(decoded) == 8000
    # Still a 400 Hz sine of about the same level: compare with the ideal one.
    ideal = sine(400, 1.0, 8000)
    error = math.sqrt(sum((a - b) ** 2 for a, b in zip(decoded, ideal, strict=True)) / 8000)
    assert error < 1000  # the box filter attenuates 400 Hz by well under 10 %


@pytest.mark.parametrize(("encoding", "codec"), [("u-law", "PCMU"), ("a-law", "PCMA")])
def test_g711_wav_made_by_sox(tmp_path: Path, encoding: str, codec: str) -> None:
    values = sine(300, 0.5, 8000)
    data = sox_convert(tmp_path, wav(values), ".wav", "-e", encoding)
    assert struct.unpack_from("<H", data, 20)[0] == (7 if codec == "PCMU" else 6)  # fmt tag
    expected = g711.decode(g711.encode(struct.pack(f"<{len(values)}h", *values), codec), codec)
    decoded = decode_audio(data, content_type="audio/x-wav", url=URL)
    assert len(decoded) == len(expected)
    assert max(abs(a - b) for a, b in zip(samples(decoded), samples(expected), strict=True)) <= 1024


def test_24bit_stereo_44k_wav_made_by_sox(tmp_path: Path) -> None:
    data = sox_convert(
        tmp_path, wav(sine(500, 1.0, 8000)), ".wav", "-b", "24", "-c", "2", "-r", "44100"
    )
    decoded = samples(decode_audio(data, content_type=None, url=URL))
    assert abs(len(decoded) - 8000) <= 1
    assert (
        0.6 < _audio.rms(struct.pack(f"<{len(decoded)}h", *decoded)) / (10000 / math.sqrt(2)) < 1.1
    )


def test_float_wav_made_by_sox(tmp_path: Path) -> None:
    values = sine(300, 0.25, 8000)
    data = sox_convert(tmp_path, wav(values), ".wav", "-e", "floating-point", "-b", "32")
    decoded = samples(decode_audio(data, content_type=None, url=URL))
    assert max(abs(a - b) for a, b in zip(decoded, values, strict=True)) <= 2


@pytest.mark.parametrize(
    ("content_type", "url"),
    [
        ("audio/basic", URL),
        (None, "http://app.example/hello.ul"),
        ("application/octet-stream", "http://app.example/hello.mulaw?v=2"),
        (None, "http://app.example/hello.u"),
    ],
)
def test_raw_ulaw(content_type: str | None, url: str) -> None:
    codes = bytes(range(256))
    assert decode_audio(codes, content_type=content_type, url=url) == g711.decode(codes, "PCMU")


def test_raw_alaw() -> None:
    codes = bytes(range(256))
    decoded = decode_audio(codes, content_type=None, url="http://app.example/x.al")
    assert decoded == g711.decode(codes, "PCMA")


def test_au_file_made_by_sox(tmp_path: Path) -> None:
    values = sine(300, 0.5, 8000)
    data = sox_convert(tmp_path, wav(values), ".au", "-e", "u-law")
    assert data[:4] == b".snd"
    decoded = decode_audio(data, content_type="audio/basic", url=URL)
    assert len(decoded) == 2 * len(values)


def test_what_cannot_be_played_is_named() -> None:
    with pytest.raises(
        AudioError, match=r"http://app\.example/a\.mp3: not a playable .*audio/mpeg"
    ):
        decode_audio(b"ID3\x03...", content_type="audio/mpeg", url="http://app.example/a.mp3")
    with pytest.raises(AudioError, match="without a data chunk"):
        decode_audio(wav([1, 2])[:36], content_type=None, url=URL)
    adpcm = bytearray(wav([0] * 100))
    adpcm[20:22] = struct.pack("<H", 2)  # Microsoft ADPCM
    with pytest.raises(AudioError, match="WAV encoding 0x0002 is not supported"):
        decode_audio(bytes(adpcm), content_type=None, url=URL)
    with pytest.raises(AudioError, match="RIFF file that is not WAVE"):
        decode_audio(b"RIFF\0\0\0\0AVI ", content_type=None, url=URL)


def test_wav_writer_and_tone() -> None:
    pcm = _audio.tone((1000.0,), 0.5)
    assert len(pcm) == 8000
    assert 7000 / math.sqrt(2) < _audio.rms(pcm) < 9000 / math.sqrt(2)
    with wave.open(io.BytesIO(media.pcm16_wav(pcm))) as read:
        assert (read.getframerate(), read.getnchannels(), read.getnframes()) == (8000, 1, 4000)


def test_integer_ratios_average_each_group_of_samples() -> None:
    values = [100, 300, -50, -150, 7, 8]  # 16 kHz: pairs
    decoded = samples(decode_audio(wav(values, rate=16000), content_type=None, url=URL))
    assert decoded == [200, -100, 7]
    stereo_48k = [v for n in range(12) for v in (n * 10, n * 10 + 2)]  # 6 frames a sample
    decoded = samples(
        decode_audio(wav(stereo_48k, rate=48000, channels=2), content_type=None, url=URL)
    )
    assert decoded == [26, 86]  # the mean of both channels over six frames


def test_a_file_decoded_again_comes_from_the_cache() -> None:
    data = wav(sine(440, 0.5, 16000), rate=16000)
    first = decode_audio(data, content_type="audio/wav", url="http://app.example/cached.wav")
    again = decode_audio(bytes(data), content_type="audio/wav", url="http://app.example/cached.wav")
    assert again is first
    elsewhere = decode_audio(data, content_type="audio/wav", url="http://app.example/other.wav")
    assert elsewhere == first and elsewhere is not first
