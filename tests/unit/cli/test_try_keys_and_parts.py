"""``vxdial try``: keys quoted as typed in its complaints, and the file parts of a submit
shown by ``--verbose``."""

from __future__ import annotations

import pytest
import typer

from vxdial.cli import try_command
from vxdial.voicexml import FetchRequest, Upload


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1,2x", '"x" in "1,2x": DTMF keys are 0-9, *, # and A-D'),
        ("1,ß", '"ß" in "1,ß": DTMF keys'),  # not "SS", what upper() makes of it
        ("ﬁ", '"ﬁ" in "ﬁ"'),  # the ligature, not "FI"
        ("e,E", '"e" in "e,E"'),
        ("9é8è", '"éè" in "9é8è"'),  # in the order typed
        ("1\t2", '"\\t" in "1\\t2"'),  # a control character is shown escaped
    ],
)
def test_dtmf_complaints_quote_the_keys_as_typed(spec: str, message: str) -> None:
    with pytest.raises(typer.BadParameter) as raised:
        try_command.dtmf_groups(spec)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("key", "message"),
    [("x", '"x" is not one DTMF key'), ("ß", '"ß" is not one DTMF key'), ("12", '"12" is')],
)
def test_record_key_complaints_quote_the_key_as_typed(key: str, message: str) -> None:
    with pytest.raises(typer.BadParameter, match=message):
        try_command.one_key(key, "--record-key")


class Notes:
    def __init__(self) -> None:
        self.told: list[str] = []

    def tell(self, line: str) -> None:
        self.told.append(line)


def test_keys_typed_at_the_keyboard_are_complained_of_as_typed() -> None:
    notes = Notes()
    keyboard = try_command.KeyboardKeys(notes, clock=None)  # type: ignore[arg-type]
    assert keyboard._keys("1 x ß a#") == "1A#"
    assert notes.told == ['[ignored "xß" in "1 x ß a#": DTMF keys are 0-9, *, #, A-D]']


def test_verbose_shows_the_file_parts_of_a_submit() -> None:
    """A submit with a recording (VoiceXML 2.0 section 5.3.8, multipart/form-data):
    each file part's name, file name, type and size in bytes, after the fields."""
    request = FetchRequest(
        "http://app.example/save",
        "POST",
        {"call": "7", "note": "a b"},
        files={
            "msg": Upload("msg.ul", "audio/basic", b"\xff" * 8000),
            "one": Upload("one.wav", "audio/wav", b"\x00"),
        },
        enctype="multipart/form-data",
    )
    assert try_command.sent(request) == (
        " call=7&note=a+b msg=msg.ul (audio/basic, 8000 bytes) one=one.wav (audio/wav, 1 byte)"
    )
    assert try_command.sent(FetchRequest("http://app.example/start.vxml")) == ""
