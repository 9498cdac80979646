"""The SIP leg plays a prompt's speech and audio files in order, and an audio file it
cannot play is its ``<audio>`` content, or nothing (VoiceXML 2.0 section 4.1.3), without
raising: the prompts after it play."""

from __future__ import annotations

from tests.unit.telephony.sip.test_sipdriver import ScriptedSession, leg_over
from vxdial.domain import errors, media

HEAD = '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis">'
OUT = '<speak xmlns="http://www.w3.org/2001/10/synthesis" version="1.0">'
BEEP = media.silence_wav(0.01)  # 80 samples
BEEP_PCM = b"\x00\x00" * 80


async def fetch(url: str) -> tuple[bytes, str | None]:
    if url.endswith("missing.wav"):
        raise errors.Unavailable(f"{url}: HTTP 404")
    if url.endswith("garbled.wav"):
        return b"RIFF....WAVEjunk", "audio/wav"
    return BEEP, "audio/wav"


def spoken(ssml: str) -> bytes:
    return b"S" * len(ssml)  # what the test_sipdriver Speech fake renders for SSML


async def test_speech_and_audio_files_play_in_the_order_of_the_prompt() -> None:
    """VoiceXML 2.0 sections 4.1 and 4.1.3 (IR assertion 2: "freely sequence TTS and
    audio output"): the text around a file is said around it, not dropped."""
    session = ScriptedSession([])
    leg = leg_over(session, fetch)
    ssml = HEAD + 'Your balance is <audio src="http://app/beep.wav">beep</audio> 42.</speak>'
    prompt = media.Prompt("Your balance is beep 42.", ssml, ("http://app/beep.wav",))
    await leg.play(prompt)
    assert session.played == [
        spoken(OUT + "Your balance is </speak>") + BEEP_PCM + spoken(OUT + " 42.</speak>")
    ]


async def test_a_file_the_leg_cannot_play_is_its_content_or_nothing_and_later_prompts_play() -> (
    None
):
    """VoiceXML 2.0 section 4.1.3: a file that cannot be fetched (or decoded) plays the
    <audio> content; without content nothing plays, nothing is raised, and the next
    prompt plays."""
    session = ScriptedSession([])
    leg = leg_over(session, fetch)
    alone = HEAD + '<audio src="http://app/missing.wav"></audio></speak>'
    assert await leg.play(media.Prompt("", alone, ("http://app/missing.wav",))) == ""
    said = HEAD + 'a <audio src="http://app/garbled.wav">instead</audio></speak>'
    await leg.play(media.Prompt("a instead", said, ("http://app/garbled.wav",)))
    await leg.play(media.Prompt("next"))
    assert session.played == [
        spoken(OUT + "a </speak>") + spoken(OUT + "instead</speak>"),
        b"T" * len("next"),
    ]
