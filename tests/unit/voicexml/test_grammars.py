"""vxdial.voicexml.grammars: the builtin DTMF grammars digits and boolean."""

from __future__ import annotations

import pytest

from vxdial.voicexml import grammars


def test_digits_defaults() -> None:
    digits = grammars.parse("digits")
    assert digits == grammars.Builtin("digits", min_length=1, max_length=None)
    assert digits.max_digits == grammars.UNBOUNDED_DIGITS
    assert digits.match("0123") == grammars.Match("0123", "0123")
    for keys in ("", "12*", "1#", "١٢"):  # "١٢": Arabic-Indic digits are not DTMF
        assert digits.match(keys) is None


@pytest.mark.parametrize(
    ("spec", "accepted", "rejected", "max_digits"),
    [
        ("digits?length=3", ["123"], ["12", "1234"], 3),
        ("digits?minlength=2", ["12", "12345678"], ["1"], grammars.UNBOUNDED_DIGITS),
        ("digits?maxlength=2", ["1", "12"], ["123"], 2),
        (" digits ? minlength=2 ; maxlength=4 ", ["12", "1234"], ["1", "12345"], 4),
        ("digits?MinLength=2;", ["12"], ["1"], grammars.UNBOUNDED_DIGITS),
    ],
)
def test_digits_parameters(
    spec: str, accepted: list[str], rejected: list[str], max_digits: int
) -> None:
    grammar = grammars.parse(spec)
    assert grammar.max_digits == max_digits
    assert all(grammar.match(keys) is not None for keys in accepted)
    assert all(grammar.match(keys) is None for keys in rejected)


def test_boolean() -> None:
    boolean = grammars.parse("boolean")
    assert boolean.max_digits == 1
    assert boolean.match("1") == grammars.Match(True, "1")
    assert boolean.match("2") == grammars.Match(False, "2")
    assert boolean.match("3") is None and boolean.match("") is None
    custom = grammars.parse("boolean?y=7;n=9")
    assert custom.match("7") == grammars.Match(True, "7")
    assert custom.match("9") == grammars.Match(False, "9")
    assert custom.match("1") is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("digits?length=0", "length='0' is not a positive whole number"),
        ("digits?length=x", "is not a positive whole number"),
        ("digits?length=3;maxlength=4", "cannot be combined"),
        ("digits?minlength=5;maxlength=4", "minlength=5 is larger than maxlength=4"),
        ("digits?size=4", "unknown parameter 'size'"),
        ("digits?length", "has no value"),
        ("boolean?y=12", "is not one DTMF key"),
        ("boolean?y=1;n=1", "the same key"),
        ("boolean?yes=1", "unknown parameter 'yes'"),
    ],
)
def test_bad_parameters(spec: str, message: str) -> None:
    with pytest.raises(grammars.GrammarError, match=message):
        grammars.parse(spec)


@pytest.mark.parametrize("spec", ["date", "currency", "number", "phone", "time", "colour"])
def test_other_types_are_unsupported(spec: str) -> None:
    with pytest.raises(grammars.UnsupportedBuiltin):
        grammars.parse(spec)
