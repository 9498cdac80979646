"""Media for real calls: RTP (RFC 3550) with G.711, RFC 4733 DTMF, text-to-speech,
audio files and recordings.

Used by the SIP driver only: a ``MediaEngine`` per driver paces every call's
``RtpSession``; a ``SpeechRenderer`` turns prompt text into audio, ``decode_audio`` turns
``<audio>`` files into it. Audio between them is "pcm16": 16-bit signed little-endian
mono samples at 8 kHz. See docs/MEDIA.md for the decisions.
"""

from vxdial.telephony.rtp._audio import decode_audio
from vxdial.telephony.rtp._errors import AudioError, MediaError
from vxdial.telephony.rtp._session import PCMA, PCMU, Codec, MediaEngine, RtpSession
from vxdial.telephony.rtp._speech import SpeechRenderer

__all__ = [
    "PCMA",
    "PCMU",
    "AudioError",
    "Codec",
    "MediaEngine",
    "MediaError",
    "RtpSession",
    "SpeechRenderer",
    "decode_audio",
]
