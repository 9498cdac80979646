"""vxdial.voicexml.testing: the scripted caller and the in-memory fetcher."""

from __future__ import annotations

import pytest

from vxdial import voicexml
from vxdial.domain import media
from vxdial.voicexml import testing


@pytest.mark.parametrize(
    ("keys", "max_digits", "termchar", "collected"),
    [
        ("", 5, "#", media.Collected("", "noinput")),
        ("12#3", 5, "#", media.Collected("12", "termchar", "#")),
        ("#", 5, "#", media.Collected("", "termchar", "#")),
        ("12345", 3, "#", media.Collected("123", "maxdigits")),
        ("12", 5, "#", media.Collected("12", "interdigit")),
        ("1#", 5, None, media.Collected("1#", "interdigit")),
    ],
)
def test_press(
    keys: str, max_digits: int, termchar: str | None, collected: media.Collected
) -> None:
    assert testing.press(keys, max_digits, termchar) == collected


async def collect(channel: testing.ScriptedChannel, already: str = "") -> media.Collected:
    return await channel.collect(
        max_digits=4, timeout_s=5, interdigit_timeout_s=3, termchar="#", already=already
    )


async def test_scripted_channel_groups_then_silence() -> None:
    channel = testing.ScriptedChannel(["1", None, "", "42#"])
    assert [(await collect(channel)).digits for _ in range(6)] == ["1", "", "", "42", "", ""]
    assert await channel.play(media.Prompt("hi")) == ""
    assert channel.heard == ["hi"]
    await channel.hangup()
    assert channel.hung_up
    with pytest.raises(media.Hangup):
        await channel.play(media.Prompt("after"))


async def test_scripted_channel_typeahead_and_hangups() -> None:
    channel = testing.ScriptedChannel(["12", "3"], typeahead=True)
    assert await channel.play(media.Prompt("a")) == "12"
    assert await channel.play(media.Prompt("b")) == ""
    assert (await collect(channel, already="12")).digits == "12"
    assert (await collect(channel)).digits == "3"
    hangs = testing.ScriptedChannel(hangup_on_collect=2)
    await collect(hangs)
    with pytest.raises(media.Hangup):
        await collect(hangs)
    with pytest.raises(media.Hangup):
        await hangs.play(media.Prompt("gone"))
    assert not hangs.hung_up


async def test_memory_fetcher() -> None:
    error = voicexml.FetchError("timed out after 10 s")
    fetcher = testing.MemoryFetcher(
        {
            "http://a/1": "text",
            "http://a/2": b"bytes",
            "http://a/3": error,
            "http://a/4": lambda request: request.method,
        }
    )
    assert (await fetcher.fetch(voicexml.FetchRequest("http://a/1"))).body == b"text"
    assert (await fetcher.fetch(voicexml.FetchRequest("http://a/2"))).body == b"bytes"
    assert (await fetcher.fetch(voicexml.FetchRequest("http://a/4", "POST"))).body == b"POST"
    with pytest.raises(voicexml.FetchError) as caught:
        await fetcher.fetch(voicexml.FetchRequest("http://a/3"))
    assert caught.value is error
    with pytest.raises(voicexml.FetchError) as missing:
        await fetcher.fetch(voicexml.FetchRequest("http://a/5", "POST", {"k": "v"}))
    assert (missing.value.reason, missing.value.status) == ("HTTP 404", 404)
    assert fetcher.requests[-1] == voicexml.FetchRequest("http://a/5", "POST", {"k": "v"})
    assert len(fetcher.requests) == 5
