"""vxdial.cli.try_command's terminal channel: what the caller of ``vxdial try`` does
when the application collects, records and transfers, and what it prints. The command
itself runs in tests/acceptance/test_try.py."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
import typer

from vxdial import config
from vxdial.cli import try_command
from vxdial.domain import media
from vxdial.domain.clock import SystemClock

DESTINATION = "tel:+15559870000"


class Keyboard:
    """Keys typed at a terminal (interactive), one string per input."""

    interactive = True

    def __init__(self, *lines: str) -> None:
        self._lines = list(lines)

    async def next(self, timeout_s: float) -> str | None:
        return self._lines.pop(0) if self._lines else None


def channel(
    caller: try_command.Caller | None = None,
    *,
    verbose: bool = True,
    keys: try_command.Keys | None = None,
) -> try_command.TerminalChannel:
    return try_command.TerminalChannel(
        try_command.Terminal(verbose), keys or try_command.ScriptedKeys(["123#"]), caller
    )


def printed(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    out, err = capsys.readouterr()
    return out.splitlines(), err.splitlines()


def wav_seconds(audio: bytes) -> float:
    with wave.open(io.BytesIO(audio)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_the_caller_has_the_defaults_of_a_sim_rule() -> None:
    rule, caller = config.SimRule(), try_command.Caller()
    assert caller.record_seconds == rule.record_seconds
    assert caller.record_key == (rule.record_key or None)
    assert caller.transfer == rule.transfer
    assert caller.transfer_seconds == rule.transfer_seconds


async def test_collect_stops_when_the_input_is_complete(
    capsys: pytest.CaptureFixture[str],
) -> None:
    collected = await channel().collect(
        max_digits=0, timeout_s=5, interdigit_timeout_s=3, complete=lambda d: d == "12"
    )
    assert collected == media.Collected("12", "complete")
    assert printed(capsys) == ([], ["[waiting for keys]", "[pressed 123#]"])


@pytest.mark.parametrize(
    ("caller", "max_time_s", "dtmf_term", "beep", "recording", "line"),
    [
        (
            try_command.Caller(),
            60,
            True,
            True,
            (2.0, None, False),
            "[record after a beep: the caller speaks 2 s, then silence]",
        ),
        (
            try_command.Caller(record_seconds=4.5, record_key="#"),
            60,
            True,
            False,
            (4.5, "#", False),
            "[record: the caller speaks 4.5 s, then presses #]",
        ),
        (
            # A key the application does not let end the recording: silence does.
            try_command.Caller(record_seconds=4.5, record_key="#"),
            60,
            False,
            False,
            (4.5, None, False),
            "[record: the caller speaks 4.5 s, then silence]",
        ),
        (
            try_command.Caller(record_seconds=30),
            10,
            True,
            True,
            (10.0, None, True),
            "[record after a beep: the caller speaks 10 s, cut at the maximum time (10 s)]",
        ),
        (
            try_command.Caller(record_seconds=0),
            10,
            True,
            False,
            (0.0, None, False),
            "[record: the caller says nothing]",
        ),
    ],
)
async def test_record(
    capsys: pytest.CaptureFixture[str],
    caller: try_command.Caller,
    max_time_s: float,
    dtmf_term: bool,
    beep: bool,
    recording: tuple[float, str | None, bool],
    line: str,
) -> None:
    result = await channel(caller).record(
        max_time_s=max_time_s, final_silence_s=2, dtmf_term=dtmf_term, beep=beep
    )
    assert (result.duration_s, result.termchar, result.max_time_reached) == recording
    assert wav_seconds(result.audio) == result.duration_s
    assert printed(capsys) == ([], [line])


@pytest.mark.parametrize(
    ("caller", "bridge", "max_time_s", "result", "line"),
    [
        (
            try_command.Caller(),
            True,
            0,
            media.TransferResult("far_end_disconnect", 10),
            f"[bridged transfer to {DESTINATION}: far_end_disconnect after 10 s]",
        ),
        (
            try_command.Caller(transfer="near_end_disconnect", transfer_seconds=30),
            True,
            12,
            media.TransferResult("maxtime_disconnect", 12),
            f"[bridged transfer to {DESTINATION}: maxtime_disconnect after 12 s]",
        ),
        (
            try_command.Caller(transfer="busy"),
            False,
            0,
            media.TransferResult("busy"),
            f"[blind transfer to {DESTINATION}: busy]",
        ),
        (
            try_command.Caller(transfer="noanswer"),
            True,
            0,
            media.TransferResult("noanswer"),
            f"[bridged transfer to {DESTINATION}: noanswer]",
        ),
    ],
)
async def test_a_transfer_that_leaves_the_caller_on_the_line(
    capsys: pytest.CaptureFixture[str],
    caller: try_command.Caller,
    bridge: bool,
    max_time_s: float,
    result: media.TransferResult,
    line: str,
) -> None:
    terminal = channel(caller)
    transferred = await terminal.transfer(
        destination=DESTINATION, bridge=bridge, connect_timeout_s=30, max_time_s=max_time_s
    )
    assert transferred == result
    assert printed(capsys) == ([], [line])
    await terminal.play(media.Prompt("Welcome back."))
    assert printed(capsys) == (["Welcome back."], [])


async def test_a_blind_transfer_handed_over_ends_the_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    terminal = channel()
    transferred = await terminal.transfer(
        destination=DESTINATION, bridge=False, connect_timeout_s=30, max_time_s=0
    )
    assert transferred == media.TransferResult("unknown")
    assert terminal.hung_up
    assert printed(capsys) == (
        [],
        [f"[blind transfer to {DESTINATION}: handed over, the call is no longer ours]"],
    )
    with pytest.raises(media.Hangup):
        await terminal.play(media.Prompt("Anyone?"))
    with pytest.raises(media.Hangup):
        await terminal.record(max_time_s=5, final_silence_s=1, dtmf_term=True, beep=False)
    assert printed(capsys) == ([], [])


async def test_recordings_and_transfers_are_notes_unless_at_the_keyboard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quiet = channel(verbose=False)
    await quiet.record(max_time_s=5, final_silence_s=1, dtmf_term=True, beep=False)
    await quiet.transfer(destination=DESTINATION, bridge=True, connect_timeout_s=5, max_time_s=0)
    assert printed(capsys) == ([], [])
    keyboard = channel(verbose=False, keys=Keyboard())
    await keyboard.record(max_time_s=5, final_silence_s=1, dtmf_term=True, beep=False)
    await keyboard.transfer(destination=DESTINATION, bridge=True, connect_timeout_s=5, max_time_s=0)
    assert printed(capsys) == (
        [],
        [
            "[record: the caller speaks 2 s, then silence]",
            f"[bridged transfer to {DESTINATION}: far_end_disconnect after 10 s]",
        ],
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: try_command.one_key("##", "--record-key"), "is not one DTMF key"),
        (lambda: try_command.one_key("x", "--record-key"), "is not one DTMF key"),
        (lambda: try_command.seconds(-1, "--record-seconds"), "must be 0 seconds or more"),
        (lambda: try_command.seconds(float("inf"), "--transfer-seconds"), "0 seconds or more"),
        (lambda: try_command.transfer_behaviour("answer"), "must be one of far_end_disconnect"),
    ],
)
def test_bad_options(call: Callable[[], object], message: str) -> None:
    with pytest.raises(typer.BadParameter, match=message):
        call()


def test_good_options() -> None:
    assert try_command.one_key(" a ", "--record-key") == "A"
    assert try_command.one_key(None, "--record-key") is None
    assert try_command.seconds(0, "--record-seconds") == 0
    assert try_command.transfer_behaviour("Network_Busy") == "network_busy"


async def test_an_unexpected_error_ends_the_call_as_a_named_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 12, item 4: any exception from the interpreter is the event internal_error
    (its class and message), exit status 1, never a traceback."""
    from vxdial import voicexml

    async def broken(*args: object, **kwargs: object) -> voicexml.SessionEnd:
        raise RuntimeError("boom")

    monkeypatch.setattr(voicexml, "run_session", broken)
    end = await try_command.run_call(
        voicexml.FetchRequest((tmp_path / "any.vxml").as_uri()),
        keys=try_command.ScriptedKeys([]),
        terminal=try_command.Terminal(False),
        session={},
        time_limit_s=None,
        clock=SystemClock(),
    )
    assert end == voicexml.SessionEnd("error", "internal_error", "RuntimeError: boom")
    assert try_command._report(end, try_command.Terminal(False)) == try_command.EXIT_ERROR
    assert printed(capsys) == ([], ["internal_error: RuntimeError: boom"])
