"""SpeechRenderer with the real espeak-ng and SoX."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from vxdial.telephony.rtp import MediaError, SpeechRenderer, _audio


async def test_renders_speech_as_8k_pcm16() -> None:
    renderer = SpeechRenderer()
    pcm = await renderer.render("Hello. Please press one.")
    assert len(pcm) % 2 == 0
    assert 0.8 < len(pcm) / 2 / 8000 < 5  # about a second and a half of speech
    assert _audio.rms(pcm) > 500  # not silence
    assert renderer.processes_started == 1


async def test_second_render_comes_from_memory() -> None:
    renderer = SpeechRenderer()
    first = await renderer.render("Goodbye.")
    assert await renderer.render("Goodbye.") is first
    assert renderer.processes_started == 1
    await renderer.render("Goodbye.", voice="en-gb")  # another voice is another rendering
    assert renderer.processes_started == 2


async def test_concurrent_renders_of_one_text_share_a_process() -> None:
    renderer = SpeechRenderer()
    results = await asyncio.gather(*(renderer.render("Same text.") for _ in range(5)))
    assert len(set(results)) == 1
    assert renderer.processes_started == 1


async def test_disk_cache_survives_the_renderer(tmp_path: Path) -> None:
    first = SpeechRenderer(cache_dir=tmp_path)
    pcm = await first.render("Your call is important.")
    second = SpeechRenderer(cache_dir=tmp_path)
    assert await second.render("Your call is important.") == pcm
    assert second.processes_started == 0
    assert len(list(tmp_path.rglob("*.pcm16-8k"))) == 1


async def test_text_is_never_an_option() -> None:
    pcm = await SpeechRenderer().render("--help -v xx")
    assert len(pcm) > 8000  # spoken, not espeak-ng's usage text


async def test_bad_voices_are_refused() -> None:
    renderer = SpeechRenderer()
    with pytest.raises(MediaError, match="malformed voice"):
        await renderer.render("hi", voice="en us; rm")
    assert renderer.processes_started == 0


async def test_memory_cache_is_bounded() -> None:
    renderer = SpeechRenderer(memory_entries=2)
    for text in ("one", "two", "three", "one"):
        await renderer.render(text)
    assert renderer.processes_started == 4  # "one" had been pushed out by "three"


async def test_ssml_is_read_as_markup() -> None:
    renderer = SpeechRenderer()
    speak = '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis">'
    plain = await renderer.render("Hello world")
    with_break = await renderer.render(
        f'{speak}Hello <break time="1500ms"/> world</speak>', ssml=True
    )
    # The break is a pause, not words: about 1.5 s longer, and the tags are not spoken.
    assert 1.2 < (len(with_break) - len(plain)) / 16000 < 1.8
    as_text = await renderer.render(f'{speak}Hello <break time="1500ms"/> world</speak>')
    assert len(as_text) > len(with_break)  # without ssml=True the markup is read aloud
    assert renderer.processes_started == 3


async def test_a_cancelled_caller_does_not_waste_the_render() -> None:
    renderer = SpeechRenderer()
    waiting = asyncio.create_task(renderer.render("Cancelled while rendering."))
    await asyncio.sleep(0)  # the render has started
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    pcm = await renderer.render("Cancelled while rendering.")  # the same process's result
    assert len(pcm) > 0
    assert renderer.processes_started == 1


async def test_missing_programs_are_a_media_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MediaError, match="cannot start espeak-ng/sox"):
        await SpeechRenderer().render("Nobody to say this.")


async def test_without_sox_espeak_ng_is_not_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PATH holding espeak-ng but no sox.
    (tmp_path / "espeak-ng").symlink_to(shutil.which("espeak-ng") or "/usr/bin/espeak-ng")
    monkeypatch.setenv("PATH", str(tmp_path))
    children_before = set(child_pids())
    with pytest.raises(MediaError, match="cannot start espeak-ng/sox"):
        await SpeechRenderer().render("Half a pipeline.")
    assert set(child_pids()) <= children_before


def child_pids() -> list[int]:
    """Our live child processes (from /proc, without psutil)."""
    me = str(os.getpid())
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children
