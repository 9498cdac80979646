"""Audio files to pcm16 at 8 kHz, and the little signal processing the media layer needs.

``decode_audio`` reads what VoiceXML applications point ``<audio src>`` at: WAV (PCM of
8, 16, 24 or 32 bits, IEEE float, µ-law or A-law; any rate, any number of channels,
WAVE_FORMAT_EXTENSIBLE included), Sun/NeXT ``.au`` files, and headerless 8 kHz µ-law
(``audio/basic``, ``.ul``/``.mulaw``/``.u``) or A-law (``.al``/``.alaw``). Python's
``wave`` module reads only integer PCM, hence the small RIFF reader here.

Channels are averaged into one; other rates are converted to 8 kHz with a box filter
(the mean of the source samples each output sample covers) when going down and linear
interpolation when going up -- enough for prompts; a file already at 8 kHz is not
touched.
"""

from __future__ import annotations

import math
import operator
import struct
import sys
from array import array
from collections import OrderedDict
from itertools import accumulate, repeat
from urllib.parse import urlsplit

from vxdial.domain import g711
from vxdial.telephony.rtp._errors import AudioError

__all__ = [
    "RATE_HZ",
    "decode_audio",
    "rms",
    "tone",
]

RATE_HZ = 8000

_RAW_ULAW_TYPES = {"audio/basic", "audio/x-mulaw", "audio/mulaw", "audio/pcmu", "audio/x-ulaw"}
_RAW_ALAW_TYPES = {"audio/x-alaw-basic", "audio/x-alaw", "audio/alaw", "audio/pcma"}
_RAW_ULAW_SUFFIXES = (".ul", ".ulaw", ".mulaw", ".u", ".mu")
_RAW_ALAW_SUFFIXES = (".al", ".alaw")

_FORMAT_PCM = 0x0001
_FORMAT_FLOAT = 0x0003
_FORMAT_ALAW = 0x0006
_FORMAT_ULAW = 0x0007
_FORMAT_EXTENSIBLE = 0xFFFE


_CACHE_BYTES = 64 << 20  # decoded files kept (inputs and outputs together)
_cache: OrderedDict[tuple[bytes, str | None, str], bytes] = OrderedDict()
_cache_size = 0


def decode_audio(data: bytes, *, content_type: str | None, url: str) -> bytes:
    """The audio file ``data`` (fetched from ``url`` with ``content_type``) as pcm16 mono
    at 8 kHz. Raises ``AudioError`` naming the URL and the problem.

    The last files decoded are remembered (up to 64 MB, by their bytes): a campaign
    plays the same file on every call, and a file at another rate than 8 kHz costs
    some milliseconds of CPU on the event loop to convert."""
    global _cache_size
    key = (data, content_type, url)
    pcm = _cache.get(key)
    if pcm is not None:
        _cache.move_to_end(key)
        return pcm
    pcm = _decode(data, content_type, url)
    size = len(data) + len(pcm)
    if size <= _CACHE_BYTES // 4:
        _cache[key] = pcm
        _cache_size += size
        while _cache_size > _CACHE_BYTES:
            (old_data, _, _), old_pcm = _cache.popitem(last=False)
            _cache_size -= len(old_data) + len(old_pcm)
    return pcm


def _decode(data: bytes, content_type: str | None, url: str) -> bytes:
    try:
        if data[:4] == b"RIFF":
            return _decode_wav(data)
        if data[:4] == b".snd":
            return _decode_au(data)
        kind = _raw_kind(content_type, url)
        if kind is not None:
            return g711.decode(data, kind)
    except AudioError as exc:
        raise AudioError(f"{url}: {exc}") from None
    shown = content_type or "no content type"
    raise AudioError(
        f"{url}: not a playable audio file ({shown}): expected a WAV or .au file, "
        "or raw µ-law/A-law (audio/basic, .ul, .al)"
    )


def _raw_kind(content_type: str | None, url: str) -> str | None:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in _RAW_ULAW_TYPES:
        return "PCMU"
    if media_type in _RAW_ALAW_TYPES:
        return "PCMA"
    path = urlsplit(url).path.lower()
    if path.endswith(_RAW_ULAW_SUFFIXES):
        return "PCMU"
    if path.endswith(_RAW_ALAW_SUFFIXES):
        return "PCMA"
    return None


def _decode_wav(data: bytes) -> bytes:
    if len(data) < 12 or data[8:12] != b"WAVE":
        raise AudioError("a RIFF file that is not WAVE")
    fmt: bytes | None = None
    samples: bytes | None = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = data[offset + 8 : offset + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            # Streamed WAV (espeak-ng --stdout) says 0xFFFFFFFF or 0: take what is there.
            samples = body
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    if fmt is None or len(fmt) < 16:
        raise AudioError("WAV file without a valid fmt chunk")
    if samples is None:
        raise AudioError("WAV file without a data chunk")
    audio_format, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if audio_format == _FORMAT_EXTENSIBLE and len(fmt) >= 26:
        (audio_format,) = struct.unpack_from("<H", fmt, 24)  # first two bytes of the GUID
    if channels < 1 or rate < 1:
        raise AudioError(f"WAV file with {channels} channels at {rate} Hz")
    if audio_format in (_FORMAT_ULAW, _FORMAT_ALAW):
        if bits != 8:
            raise AudioError(f"G.711 WAV with {bits} bits per sample")
        pcm = g711.decode(samples, "PCMU" if audio_format == _FORMAT_ULAW else "PCMA")
    elif audio_format == _FORMAT_PCM:
        pcm = _integer_pcm16(samples, bits)
    elif audio_format == _FORMAT_FLOAT:
        pcm = _float_pcm16(samples, bits)
    else:
        raise AudioError(
            f"WAV encoding {audio_format:#06x} is not supported "
            "(PCM, IEEE float, µ-law and A-law are)"
        )
    return _to_8k_mono(pcm, channels, rate)


def _decode_au(data: bytes) -> bytes:
    # Sun/NeXT audio (big-endian header): magic, data offset, size, encoding, rate, channels.
    if len(data) < 24:
        raise AudioError("truncated .au header")
    offset, size, encoding, rate, channels = struct.unpack_from(">IIIII", data, 4)
    body = data[offset:] if size == 0xFFFFFFFF else data[offset : offset + size]
    if channels < 1 or rate < 1:
        raise AudioError(f".au file with {channels} channels at {rate} Hz")
    if encoding == 1:
        pcm = g711.decode(body, "PCMU")
    elif encoding == 27:
        pcm = g711.decode(body, "PCMA")
    elif encoding == 2:  # signed 8-bit
        pcm = _integer_pcm16(bytes((b + 128) & 0xFF for b in body), 8)
    elif encoding == 3:
        swapped = array("h", body[: len(body) & ~1])
        if sys.byteorder == "little":
            swapped.byteswap()
        pcm = _native_to_le(swapped)
    else:
        raise AudioError(f".au encoding {encoding} is not supported (µ-law, A-law, PCM 8/16)")
    return _to_8k_mono(pcm, channels, rate)


def _native_to_le(samples: array[int]) -> bytes:
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def _integer_pcm16(samples: bytes, bits: int) -> bytes:
    """WAV integer PCM (8-bit unsigned, 16/24/32-bit signed little-endian) -> pcm16."""
    if bits == 16:
        return samples[: len(samples) & ~1]
    if bits == 8:
        high = bytes((b - 128) & 0xFF for b in range(256))
        out = bytearray(2 * len(samples))
        out[1::2] = samples.translate(high)  # the low byte stays 0
        return bytes(out)
    if bits in (24, 32):
        width = bits // 8
        usable = len(samples) - len(samples) % width
        out = bytearray(2 * (usable // width))
        # The two most significant bytes of each little-endian sample.
        out[0::2] = samples[width - 2 : usable : width]
        out[1::2] = samples[width - 1 : usable : width]
        return bytes(out)
    raise AudioError(f"WAV PCM with {bits} bits per sample is not supported (8, 16, 24, 32)")


def _float_pcm16(samples: bytes, bits: int) -> bytes:
    if bits not in (32, 64):
        raise AudioError(f"WAV float with {bits} bits per sample")
    values = array("f" if bits == 32 else "d", samples[: len(samples) - len(samples) % (bits // 8)])
    if sys.byteorder != "little":
        values.byteswap()
    return _native_to_le(array("h", (max(-32768, min(32767, int(v * 32767))) for v in values)))


def _samples(pcm: bytes) -> array[int]:
    values = array("h", pcm[: len(pcm) & ~1])
    if sys.byteorder != "little":
        values.byteswap()
    return values


def _to_8k_mono(pcm: bytes, channels: int, rate: int) -> bytes:
    # Whole-array passes of map() over C functions, never a Python loop per sample: a
    # prompt file is decoded on the event loop that paces every call's RTP.
    if channels == 1 and rate == RATE_HZ:
        return pcm
    values = _samples(pcm)
    frames = len(values) // channels
    summed: list[int] | array[int] = values
    if channels > 1:
        summed = values[0 : frames * channels : channels]
        for channel in range(1, channels):
            part = values[channel : frames * channels : channels]
            summed = list(map(operator.add, summed, part))
    if rate % RATE_HZ == 0:  # 16, 24, 32, 48 kHz...: the mean of each group of samples
        ratio = rate // RATE_HZ
        count = len(summed) // ratio
        grouped = summed[0 : count * ratio : ratio]
        for offset in range(1, ratio):
            grouped = list(map(operator.add, grouped, summed[offset : count * ratio : ratio]))
        out = list(map(operator.floordiv, grouped, repeat(ratio * channels)))
    elif rate > RATE_HZ:
        out = _box_down(summed, rate, channels)
    else:
        mono = summed if channels == 1 else list(map(operator.floordiv, summed, repeat(channels)))
        out = list(mono) if rate == RATE_HZ else _interpolate_up(mono, rate)
    return _native_to_le(array("h", out))


def _box_down(summed: list[int] | array[int], rate: int, channels: int) -> list[int]:
    """Down to 8 kHz: output sample i is the mean of source samples
    [i * rate // 8000, (i + 1) * rate // 8000), from prefix sums."""
    out_count = len(summed) * RATE_HZ // rate
    bounds = list(map(operator.floordiv, range(0, (out_count + 1) * rate, rate), repeat(RATE_HZ)))
    prefix = list(accumulate(summed, initial=0))
    starts, ends = bounds[:-1], bounds[1:]
    totals = map(operator.sub, map(prefix.__getitem__, ends), map(prefix.__getitem__, starts))
    widths = map(operator.mul, map(operator.sub, ends, starts), repeat(channels))
    return list(map(operator.floordiv, totals, widths))


def _interpolate_up(values: list[int] | array[int], rate: int) -> list[int]:
    """Up to 8 kHz (rare: files below telephone quality) by linear interpolation."""
    count = len(values)
    step = rate / RATE_HZ
    out = []
    for index in range(count * RATE_HZ // rate):
        position = index * step
        left = int(position)
        right = min(left + 1, count - 1)
        fraction = position - left
        out.append(round(values[left] * (1 - fraction) + values[right] * fraction))
    return out


def tone(frequencies: tuple[float, ...], duration_s: float, *, amplitude: int = 8000) -> bytes:
    """pcm16 at 8 kHz: the sum of sines at ``frequencies``, each of ``amplitude``."""
    count = round(duration_s * RATE_HZ)
    steps = [2 * math.pi * f / RATE_HZ for f in frequencies]
    samples = array(
        "h",
        (round(sum(amplitude * math.sin(step * n) for step in steps)) for n in range(count)),
    )
    return _native_to_le(samples)


def rms(pcm: bytes) -> float:
    """Root mean square of pcm16 samples (0 for none)."""
    values = _samples(pcm)
    if not values:
        return 0.0
    return math.sqrt(sum(v * v for v in values) / len(values))
