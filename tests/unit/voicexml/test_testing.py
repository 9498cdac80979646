"""vxdial.voicexml.testing: the scripted caller and the in-memory fetcher."""

from __future__ import annotations

import io
import wave

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


def is_12(digits: str) -> bool:
    return digits == "12"


@pytest.mark.parametrize(
    ("keys", "max_digits", "termchar", "collected"),
    [
        ("123#", 5, "#", media.Collected("12", "complete")),  # keys after it are dropped
        ("12", 2, "#", media.Collected("12", "complete")),  # wins over maxdigits
        ("#12", 5, "#", media.Collected("", "termchar", "#")),  # the termchar first
        ("13", 5, "#", media.Collected("13", "interdigit")),  # never complete
        ("1345", 3, "#", media.Collected("134", "maxdigits")),
        ("12345678", 0, "#", media.Collected("12", "complete")),
        ("1345678", 0, "#", media.Collected("1345678", "interdigit")),  # 0: no limit
    ],
)
def test_press_stops_when_complete(
    keys: str, max_digits: int, termchar: str | None, collected: media.Collected
) -> None:
    assert testing.press(keys, max_digits, termchar, is_12) == collected


async def test_scripted_channel_honours_complete() -> None:
    channel = testing.ScriptedChannel(["123#", "4"])

    async def collect_12(already: str = "") -> media.Collected:
        return await channel.collect(
            max_digits=0, timeout_s=5, interdigit_timeout_s=3, already=already, complete=is_12
        )

    assert await collect_12() == media.Collected("12", "complete")
    assert await collect_12(already="1") == media.Collected("14", "interdigit")
    # The arguments are kept, the function included, which equality ignores.
    assert [call.complete for call in channel.collects] == [is_12, is_12]
    assert channel.collects == [
        testing.CollectCall(0, 5, 3, "#", ""),
        testing.CollectCall(0, 5, 3, "#", "1"),
    ]


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


# Recording and transfers


async def record(
    channel: testing.ScriptedChannel, max_time_s: float = 30, dtmf_term: bool = True
) -> media.Recording:
    return await channel.record(
        max_time_s=max_time_s, final_silence_s=1.5, dtmf_term=dtmf_term, beep=True
    )


def wav_seconds(audio: bytes) -> float:
    with wave.open(io.BytesIO(audio)) as wav:
        return wav.getnframes() / wav.getframerate()


async def test_scripted_recordings_then_the_default() -> None:
    said = media.Recording(media.silence_wav(4.0), 4.0, termchar="#")
    silent = media.Recording(media.silence_wav(0), 0.0)
    channel = testing.ScriptedChannel(recordings=[said, silent])
    assert await record(channel) is said
    assert await record(channel, dtmf_term=False) is silent
    # Then the default: 2 s of speech ended by silence, a real WAV file that long ...
    default = await record(channel)
    assert default == testing.DEFAULT_RECORDING
    assert (default.duration_s, default.termchar, default.max_time_reached) == (2.0, None, False)
    assert wav_seconds(default.audio) == 2.0
    # ... cut by a shorter maximum time.
    cut = await record(channel, max_time_s=0.5)
    assert (cut.duration_s, cut.max_time_reached, wav_seconds(cut.audio)) == (0.5, True, 0.5)
    assert channel.records == [
        testing.RecordCall(30, 1.5, True, True),
        testing.RecordCall(30, 1.5, False, True),
        testing.RecordCall(30, 1.5, True, True),
        testing.RecordCall(0.5, 1.5, True, True),
    ]


async def test_a_recording_takes_the_typeahead_group() -> None:
    channel = testing.ScriptedChannel(["1", "2"], typeahead=True)
    assert await channel.play(media.Prompt("Speak after the tone.")) == "1"
    await record(channel)
    # The next input presses the next group: "1" went into the recording.
    assert (await collect(channel)).digits == "2"


async def transfer(
    channel: testing.ScriptedChannel, destination: str = "tel:+15551230000", bridge: bool = True
) -> media.TransferResult:
    return await channel.transfer(
        destination=destination, bridge=bridge, connect_timeout_s=20, max_time_s=60
    )


async def test_scripted_transfers_then_noanswer() -> None:
    connected = media.TransferResult("far_end_disconnect", 12.5)
    channel = testing.ScriptedChannel(
        transfers=[connected, media.TransferResult("busy"), media.TransferResult("unknown")]
    )
    assert await transfer(channel) == connected
    assert await transfer(channel, "sip:agent@example.com", bridge=False) == (
        media.TransferResult("busy")
    )
    # Bridged, even "unknown" leaves the caller with the application.
    assert await transfer(channel) == media.TransferResult("unknown")
    assert await transfer(channel) == testing.DEFAULT_TRANSFER
    assert testing.DEFAULT_TRANSFER.outcome == "noanswer"
    assert await transfer(channel, bridge=False) == media.TransferResult("noanswer")
    assert await channel.play(media.Prompt("Still here.")) == ""
    assert channel.transfers == [
        testing.TransferCall("tel:+15551230000", True, 20, 60),
        testing.TransferCall("sip:agent@example.com", False, 20, 60),
        testing.TransferCall("tel:+15551230000", True, 20, 60),
        testing.TransferCall("tel:+15551230000", True, 20, 60),
        testing.TransferCall("tel:+15551230000", False, 20, 60),
    ]
    assert not channel.hung_up


async def test_a_blind_transfer_handed_over_ends_the_call() -> None:
    channel = testing.ScriptedChannel(["1"], transfers=[media.TransferResult("unknown")])
    assert await transfer(channel, bridge=False) == media.TransferResult("unknown")
    for operation in (
        channel.play(media.Prompt("Anyone?")),
        collect(channel),
        record(channel),
        transfer(channel),
    ):
        with pytest.raises(media.Hangup):
            await operation
    assert channel.heard == []
    assert not channel.hung_up  # not by the application
