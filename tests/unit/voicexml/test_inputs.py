"""vxdial.voicexml.inputs: builtin DTMF grammars, literal key sequences and SRGS grammars."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]

from vxdial.voicexml import inputs

KEYS = "0123456789*#"

# The W3C conformance corpus vendored under tests/conformance/corpus (see its SOURCES.md).
CORPUS = Path(
    os.environ.get(
        "CONFORMANCE_CORPUS", Path(__file__).resolve().parents[2] / "conformance" / "corpus"
    )
)


def grammar(
    rules: str, *, root: str | None = "main", attributes: str = 'tag-format="semantics/1.0"'
) -> bytes:
    """An SRGS DTMF grammar document around ``rules``."""
    root_attribute = f' root="{root}"' if root is not None else ""
    return (
        '<grammar xmlns="http://www.w3.org/2001/06/grammar" version="1.0" mode="dtmf"'
        f"{root_attribute} {attributes}>{rules}</grammar>"
    ).encode()


def main(body: str, *, attributes: str = 'tag-format="semantics/1.0"') -> inputs.Matcher:
    """A grammar whose root rule "main" is ``body``."""
    return inputs.srgs(grammar(f'<rule id="main">{body}</rule>', attributes=attributes))


def value(matcher: inputs.Matcher, keys: str) -> object:
    found = matcher.match(keys)
    assert found is not None, f"{keys!r} should match"
    assert found.keys == keys
    return found.value


def assert_consistent(matcher: inputs.Matcher, keys: str) -> None:
    """viable and extendable agree with match and with each other on ``keys``."""
    matched = matcher.match(keys) is not None
    viable = matcher.viable(keys)
    extendable = matcher.extendable(keys)
    assert viable == (matched or extendable), (keys, matched, viable, extendable)
    if matched and matcher.max_length is not None:
        assert len(keys) <= matcher.max_length
    growing = [key for key in KEYS if matcher.viable(keys + key)]
    assert extendable == bool(growing), (keys, extendable, growing)
    if not viable:
        assert not any(matcher.viable(keys + key) for key in KEYS)


# -- errors ----------------------------------------------------------------------------------


def test_error_classes() -> None:
    assert issubclass(inputs.GrammarError, ValueError)
    error = inputs.Unsupported("no", event="error.unsupported.builtin")
    assert isinstance(error, inputs.GrammarError)
    assert (str(error), error.event) == ("no", "error.unsupported.builtin")


# -- literal key sequences ---------------------------------------------------------------------


def test_keys() -> None:
    choice = inputs.keys("1 2 #", {"next": "#menu"})
    assert choice.max_length == 3
    assert choice.match("12#") == inputs.Match({"next": "#menu"}, "12#")
    assert choice.match("12") is None and choice.match("12#3") is None
    assert choice.viable("") and choice.viable("12") and choice.viable("12#")
    assert not choice.viable("13")
    assert choice.extendable("12") and not choice.extendable("12#")
    assert inputs.keys("D", 4).match("D") == inputs.Match(4, "D")


@pytest.mark.parametrize(
    ("sequence", "message"),
    [("", "dtmf sequence is empty"), (" ", "empty"), ("1x", "'x' is not a DTMF key")],
)
def test_keys_errors(sequence: str, message: str) -> None:
    with pytest.raises(inputs.GrammarError, match=message):
        inputs.keys(sequence, None)


@given(st.text("123*#", min_size=1, max_size=4), st.text("123*#", max_size=6))
def test_keys_consistent(sequence: str, typed: str) -> None:
    choice = inputs.keys(sequence, "v")
    assert_consistent(choice, typed)
    assert (choice.match(typed) is not None) == (typed == sequence)


# -- builtins: digits and boolean ----------------------------------------------------------------


def test_digits_defaults() -> None:
    digits = inputs.builtin("digits")
    assert digits.max_length is None
    assert digits.match("0123") == inputs.Match("0123", "0123")
    for typed in ("", "12*", "1#", "١٢"):  # "١٢": Arabic-Indic digits are not DTMF
        assert digits.match(typed) is None
    assert digits.viable("") and digits.extendable("") and digits.extendable("123")
    assert not digits.viable("1*")


@pytest.mark.parametrize(
    ("spec", "accepted", "rejected", "max_length"),
    [
        ("digits?length=3", ["123"], ["12", "1234"], 3),
        ("digits?minlength=2", ["12", "12345678"], ["1"], None),
        ("digits?maxlength=2", ["1", "12"], ["123", ""], 2),
        (" digits ? minlength=2 ; maxlength=4 ", ["12", "1234"], ["1", "12345"], 4),
        ("digits?MinLength=2;", ["12"], ["1"], None),
        ("digits?length=3;minlength=2;maxlength=3", ["123"], ["12"], 3),  # they agree
    ],
)
def test_digits_parameters(
    spec: str, accepted: list[str], rejected: list[str], max_length: int | None
) -> None:
    digits = inputs.builtin(spec)
    assert digits.max_length == max_length
    assert all(digits.match(typed) == inputs.Match(typed, typed) for typed in accepted)
    assert all(digits.match(typed) is None for typed in rejected)


@given(
    st.integers(1, 6),
    st.integers(0, 6),
    st.text("0123456789", max_size=14),
)
def test_digits_length_bounds(low: int, extra: int, typed: str) -> None:
    high = low + extra
    digits = inputs.builtin(f"digits?minlength={low};maxlength={high}")
    assert digits.max_length == high
    assert (digits.match(typed) is not None) == (low <= len(typed) <= high)
    assert digits.viable(typed) == (len(typed) <= high)
    assert digits.extendable(typed) == (len(typed) < high)


def test_boolean() -> None:
    boolean = inputs.builtin("boolean")
    assert boolean.max_length == 1
    assert boolean.match("1") == inputs.Match(True, "1")
    assert boolean.match("2") == inputs.Match(False, "2")
    assert boolean.match("3") is None and boolean.match("") is None
    assert boolean.viable("") and boolean.viable("2") and not boolean.viable("3")
    assert boolean.extendable("") and not boolean.extendable("1")
    custom = inputs.builtin("boolean?y=7;n=#")
    assert custom.match("7") == inputs.Match(True, "7")
    assert custom.match("#") == inputs.Match(False, "#")
    assert custom.match("1") is None


# -- builtins: number, currency, phone, date, time -------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("123*45", 123.45), ("123", 123), ("007", 7), ("*5", 0.5), ("0*25", 0.25), ("0", 0)],
)
def test_number(typed: str, expected: float) -> None:
    found = value(inputs.builtin("number"), typed)
    assert found == expected and type(found) is type(expected)


def test_number_rejects() -> None:
    number = inputs.builtin("number")
    assert number.max_length is None
    for typed in ("", "*", "12*", "1*2*3", "#", "1#"):
        assert number.match(typed) is None, typed
    assert number.viable("12*") and number.extendable("12*") and number.viable("*")
    assert not number.viable("1*2*") and not number.viable("#")


@given(st.integers(0, 10**6), st.text("0123456789", min_size=1, max_size=4))
def test_number_values(whole: int, fraction: str) -> None:
    assert value(inputs.builtin("number"), f"{whole}*{fraction}") == float(f"{whole}.{fraction}")
    assert value(inputs.builtin("number"), str(whole)) == whole


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("12*45", "12.45"),
        ("12*5", "12.50"),
        ("7", "7.00"),
        ("0012", "12.00"),
        ("*99", "0.99"),
        ("0", "0.00"),
    ],
)
def test_currency(typed: str, expected: str) -> None:
    assert value(inputs.builtin("currency"), typed) == expected


def test_currency_rejects() -> None:
    currency = inputs.builtin("currency")
    for typed in ("", "*", "1*", "1*234", "1*2*3", "#"):
        assert currency.match(typed) is None, typed
    assert currency.extendable("1*2") and not currency.extendable("1*23")
    assert currency.viable("1*23") and not currency.viable("1*234")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("8005551234", "8005551234"), ("8005551234*789", "8005551234x789"), ("0", "0")],
)
def test_phone(typed: str, expected: str) -> None:
    assert value(inputs.builtin("phone"), typed) == expected


def test_phone_rejects() -> None:
    phone = inputs.builtin("phone")
    for typed in ("", "*", "*12", "12*", "1*2*3", "12#"):
        assert phone.match(typed) is None, typed
    assert not phone.viable("*") and phone.viable("12*") and phone.extendable("12*")


@pytest.mark.parametrize("typed", ["20240229", "20000704", "19991231", "00010101"])
def test_date(typed: str) -> None:
    date = inputs.builtin("date")
    assert date.max_length == 8
    assert value(date, typed) == typed


@pytest.mark.parametrize(
    "typed", ["20230229", "20241301", "20240001", "20240100", "20240431", "2024010", "202401011"]
)
def test_date_rejects(typed: str) -> None:
    assert inputs.builtin("date").match(typed) is None


def test_date_prefixes() -> None:
    date = inputs.builtin("date")
    assert date.viable("2024") and date.viable("20241") and not date.viable("20242")
    assert date.viable("202412") and not date.viable("202413") and not date.viable("202400")
    assert date.viable("2024023") is False  # no day 30-39 in February
    assert date.viable("2024013") and not date.viable("2024014")
    assert date.extendable("2024013") and not date.extendable("20240131")


@given(st.dates(min_value=datetime.date(1, 1, 1)))
def test_date_values(day: datetime.date) -> None:
    typed = f"{day.year:04d}{day.month:02d}{day.day:02d}"
    assert value(inputs.builtin("date"), typed) == typed


@given(st.text("0123456789", min_size=8, max_size=8))
def test_date_validity(typed: str) -> None:
    try:
        real = int(typed[:4]) > 0 and datetime.date(int(typed[:4]), int(typed[4:6]), int(typed[6:]))
    except ValueError:
        real = False
    if int(typed[:4]) == 0:  # year 0000: proleptic Gregorian, a leap year
        return
    assert (inputs.builtin("date").match(typed) is not None) == bool(real)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0000", "0000h"),
        ("0930", "0930?"),
        ("1200", "1200?"),
        ("1259", "1259?"),
        ("1300", "1300h"),
        ("2359", "2359h"),
    ],
)
def test_time(typed: str, expected: str) -> None:
    time = inputs.builtin("time")
    assert time.max_length == 4
    assert value(time, typed) == expected


def test_time_every_four_digits() -> None:
    time = inputs.builtin("time")
    for number in range(10_000):
        typed = f"{number:04d}"
        valid = int(typed[:2]) < 24 and int(typed[2:]) < 60
        assert (time.match(typed) is not None) == valid, typed
    assert time.viable("2") and not time.viable("3") and not time.viable("24")
    assert time.viable("235") and not time.viable("236") and not time.viable("12345")


BUILTIN_SPECS = [
    "digits",
    "digits?length=3",
    "digits?minlength=2;maxlength=4",
    "boolean",
    "boolean?y=*;n=#",
    "number",
    "currency",
    "phone",
    "date",
    "time",
]


@pytest.mark.parametrize("spec", BUILTIN_SPECS)
@settings(max_examples=60)
@given(typed=st.text(KEYS, max_size=10))
def test_builtins_consistent(spec: str, typed: str) -> None:
    assert_consistent(inputs.builtin(spec), typed)


@pytest.mark.parametrize("spec", ["date", "time"])
@given(typed=st.text("0123456789", max_size=8))
def test_fixed_length_prefixes_exact(spec: str, typed: str) -> None:
    # For the fixed-length types, viable(k) holds exactly when some completion matches.
    matcher = inputs.builtin(spec)
    length = matcher.max_length
    assert length is not None
    if len(typed) > length or length - len(typed) > 3:
        return  # the year of a date is free; longer searches would be slow
    rest = length - len(typed)
    completions = (f"{typed}{n:0{rest}d}" if rest else typed for n in range(10**rest))
    assert matcher.viable(typed) == any(matcher.match(full) for full in completions)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("digits?length=0", "length='0' is not a positive whole number"),
        ("digits?length=x", "is not a positive whole number"),
        ("digits?length=", "length='' is not a positive whole number"),
        ("digits?length=3;maxlength=2", "maxlength=2 conflicts with length=3"),
        ("digits?length=3;minlength=4", "minlength=4 conflicts with length=3"),
        ("digits?minlength=5;maxlength=4", "minlength=5 is larger than maxlength=4"),
        ("digits?size=4", "unknown parameter 'size'"),
        ("digits?length", "parameter 'length' is not name=value"),
        ("digits?=3", "is not name=value"),
        ("digits?length=3;length=4", "parameter 'length' is given twice"),
        ("boolean?y=12", "y='12' is not one DTMF key"),
        ("boolean?n=x", "n='x' is not one DTMF key"),
        ("boolean?y=1;n=1", "y and n are the same key '1'"),
        ("boolean?yes=1", "unknown parameter 'yes'"),
        ("number?length=3", "builtin number: unknown parameter 'length'"),
        ("date?format=dmy", "builtin date: unknown parameter 'format'"),
        ("", "names no type"),
        ("?length=3", "names no type"),
    ],
)
def test_builtin_errors(spec: str, message: str) -> None:
    with pytest.raises(inputs.GrammarError, match=message) as raised:
        inputs.check_builtin(spec)
    assert not isinstance(raised.value, inputs.Unsupported)


@pytest.mark.parametrize("spec", ["colour", "Digits", "alphanum?length=3", "dtmf/digits"])
def test_unknown_builtins_are_unsupported(spec: str) -> None:
    with pytest.raises(inputs.Unsupported, match="is unknown") as raised:
        inputs.builtin(spec)
    assert raised.value.event == "error.unsupported.builtin"


@pytest.mark.parametrize("spec", [*inputs.BUILTIN_TYPES, "digits?minlength=3", "boolean?n=9"])
def test_check_builtin_accepts(spec: str) -> None:
    inputs.check_builtin(spec)


# -- SRGS: matching ------------------------------------------------------------------------------


def test_srgs_mode() -> None:
    assert inputs.srgs_mode(grammar("")) == "dtmf"
    assert inputs.srgs_mode(b'<grammar xmlns="http://www.w3.org/2001/06/grammar"/>') == "voice"
    assert inputs.srgs_mode(b'<grammar mode=" voice "/>') == "voice"
    with pytest.raises(inputs.GrammarError, match="mode='keys'"):
        inputs.srgs_mode(b'<grammar mode="keys"/>')
    with pytest.raises(inputs.GrammarError, match="not well-formed"):
        inputs.srgs_mode(b"<grammar")


def test_tokens_items_and_one_of() -> None:
    menu = main("<one-of><item>1</item><item>2 3</item><item><token>#</token></item></one-of>")
    assert menu.max_length == 2
    assert [value(menu, typed) for typed in ("1", "23", "#")] == ["1", "23", "#"]
    assert menu.match("2") is None and menu.match("3") is None and menu.match("") is None
    assert menu.viable("2") and menu.extendable("2") and not menu.extendable("23")
    assert not menu.viable("4")


def test_token_spellings() -> None:
    # star and pound are synonyms (SRGS appendix D); "123" is read as three tokens.
    spelled = main("star pound 123 <token>45</token> A B C D")
    assert value(spelled, "*#12345ABCD") == "*#12345ABCD"
    assert spelled.max_length == 11


@pytest.mark.parametrize(
    ("repeat", "accepted", "rejected", "max_length"),
    [
        ("3", ["111"], ["11", "1111"], 3),
        ("1-3", ["1", "111"], ["", "1111"], 3),
        ("2-", ["11", "1111111"], ["1"], None),
        ("0-1", ["", "1"], ["11"], 1),
        ("0-", ["", "1111"], ["2"], None),
        (" 1 - 2 ", ["1", "11"], ["111"], 2),
        ("0", [""], ["1"], 0),
    ],
)
def test_repeat(
    repeat: str, accepted: list[str], rejected: list[str], max_length: int | None
) -> None:
    repeated = main(f'<item repeat="{repeat}" repeat-prob="0.5">1</item>')
    assert repeated.max_length == max_length
    for typed in accepted:
        assert repeated.match(typed) is not None, typed
    for typed in rejected:
        assert repeated.match(typed) is None, typed


def test_repeat_of_a_sequence_and_weights() -> None:
    pairs = main(
        '<item repeat="1-2"><one-of><item weight="2">1 2</item><item weight="0.5">3</item>'
        "</one-of></item> #"
    )
    assert pairs.max_length == 5
    for typed in ("12#", "3#", "1212#", "123#", "33#"):
        assert pairs.match(typed) is not None, typed
    for typed in ("1#", "121212#", "#", "12"):
        assert pairs.match(typed) is None, typed
    assert pairs.viable("121") and not pairs.viable("1213")


def test_rulerefs_and_scope() -> None:
    document = grammar(
        '<rule id="digit"><one-of><item>1</item><item>2</item></one-of></rule>'
        '<rule id="pin" scope="public"><item repeat="2"><ruleref uri="#digit"/></item></rule>'
        '<rule id="main"><ruleref uri="#pin"/> #</rule>'
    )
    whole = inputs.srgs(document)
    assert whole.max_length == 3
    assert whole.match("12#") is not None and whole.match("12") is None
    pin = inputs.srgs(document, fragment="pin")
    assert pin.match("21") is not None and pin.match("21#") is None
    with pytest.raises(inputs.GrammarError, match="grammar #digit: rule 'digit' is private"):
        inputs.srgs(document, fragment="digit")
    with pytest.raises(inputs.GrammarError, match="grammar #nope: there is no rule 'nope'"):
        inputs.srgs(document, fragment="nope")


def test_root_rule_may_be_private_and_may_come_first() -> None:
    document = grammar('<rule id="main"><ruleref uri="#later"/></rule><rule id="later">5</rule>')
    assert value(inputs.srgs(document), "5") == "5"


def test_special_rules() -> None:
    optional = main('<one-of><item><ruleref special="NULL"/></item><item>1</item></one-of> 2')
    assert optional.match("2") is not None and optional.match("12") is not None
    void = main('<one-of><item>1 <ruleref special="VOID"/></item><item>2</item></one-of>')
    assert void.match("1") is None and not void.viable("1") and void.match("2") is not None
    assert void.max_length == 1
    nothing = main('<ruleref special="VOID"/>')
    assert not nothing.viable("") and not nothing.extendable("") and nothing.match("") is None


def test_garbage_matches_any_keys() -> None:
    garbage = main('<ruleref special="GARBAGE"/> #')
    assert garbage.max_length is None
    for typed in ("#", "1#", "12*#", "##"):
        assert garbage.match(typed) is not None, typed
    assert garbage.match("12") is None and garbage.viable("12") and garbage.extendable("#")
    # It takes as few keys as it can: here the tagged "1" gets the first one it can.
    tagged = main(
        '<ruleref special="GARBAGE"/> <item repeat="1-">1<tag>out.n = (out.n||0) + 1</tag></item>'
    )
    assert value(tagged, "2111") == {"n": 3}
    assert value(tagged, "1111") == {"n": 4}


def test_builtin_rulerefs() -> None:
    account = main(
        '<ruleref uri="builtin:dtmf/digits?length=3"/> *'
        ' <ruleref uri="builtin:grammar/boolean"/>'
        "<tag>out.account = rules.digits; out.ok = rules.boolean; out.t = meta.current().text"
        "</tag>"
    )
    assert account.max_length == 5
    assert value(account, "123*1") == {"account": "123", "ok": True, "t": "123*1"}
    assert account.match("12*1") is None and account.viable("12") and not account.viable("12*")
    plain = main('<ruleref uri="builtin:number"/>')
    assert value(plain, "12*5") == 12.5  # no tags: the value of the last rule referenced


def test_right_recursion() -> None:
    recursive = main('<one-of><item>1 <ruleref uri="#main"/></item><item>2</item></one-of>')
    assert recursive.max_length is None
    assert recursive.match("1112") is not None and recursive.match("2") is not None
    assert recursive.match("111") is None and recursive.viable("111")
    assert recursive.extendable("11") and not recursive.extendable("12")


def test_deep_recursion_does_not_crash() -> None:
    # Right recursion nests Python calls per key; far past any DTMF input it gives up
    # (no match) rather than raising.
    recursive = main('<one-of><item>1 <ruleref uri="#main"/></item><item>2</item></one-of>')
    long = "1" * 5000
    assert recursive.match(long + "2") in (None, inputs.Match("2", long + "2"))
    assert recursive.viable(long) in (True, False)
    assert recursive.extendable(long) in (True, False)


def test_ambiguity_is_linear_not_exponential() -> None:
    # Every split of the ones is a parse: backtracking would take 3^n steps.
    ambiguous = main(
        '<item repeat="0-"><one-of><item>1</item><item>1</item><item>1 1</item></one-of></item>'
    )
    assert ambiguous.match("1" * 120) is not None
    assert ambiguous.match("1" * 120 + "2") is None
    assert not ambiguous.viable("1" * 120 + "2")


def test_namespaces_and_serialized_inline_grammars() -> None:
    bare = b'<grammar mode="dtmf" root="r"><rule id="r">1</rule></grammar>'
    assert inputs.srgs(bare).match("1") is not None
    document = etree.fromstring(
        b'<vxml xmlns="http://www.w3.org/2001/vxml" version="2.1"><form><field name="f">'
        b'<grammar mode="dtmf" version="1.0" root="yes" tag-format="semantics/1.0-literals">'
        b"<!-- a comment --><rule id='yes'>1 <!-- another --> 2<tag>yes</tag></rule>"
        b"</grammar></field></form></vxml>"
    )
    inline = etree.tostring(document.find(".//{http://www.w3.org/2001/vxml}grammar"))
    assert inputs.srgs_mode(inline) == "dtmf"
    assert value(inputs.srgs(inline), "12") == "yes"


def test_ignored_elements() -> None:
    documented = grammar(
        '<lexicon uri="x.pls"/><meta name="author" content="me"/>'
        '<metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>'
        '<rule id="main"><example>1</example>1</rule>'
    )
    assert value(inputs.srgs(documented), "1") == "1"


@settings(max_examples=40)
@given(st.text("12#", max_size=6))
def test_srgs_consistent(typed: str) -> None:
    matcher = main(
        '<item repeat="0-2"><one-of><item>1 2</item><item>1</item></one-of></item>'
        '<item repeat="0-1">#</item><ruleref uri="builtin:dtmf/digits?maxlength=2"/>'
    )
    assert_consistent(matcher, typed)


# -- SRGS: matching compared with an independent reference -----------------------------------------
#
# Random expressions over the keys 1 and 2, written as SRGS (some parts as separate rules),
# against a reference matcher built on Brzozowski derivatives.


@dataclass(frozen=True)
class Expr:
    kind: str  # key, seq, alt, repeat, NULL, VOID, GARBAGE, tag (a literal: matches nothing)
    key: str = ""
    items: tuple[Expr, ...] = ()
    low: int = 0
    high: int | None = None


def _nullable(e: Expr) -> bool:
    if e.kind == "key" or e.kind == "VOID":
        return False
    if e.kind == "seq":
        return all(map(_nullable, e.items))
    if e.kind == "alt":
        return any(map(_nullable, e.items))
    if e.kind == "repeat":
        return e.low == 0 or e.high == 0 or _nullable(e.items[0])
    return True


def _productive(e: Expr) -> bool:
    if e.kind == "VOID":
        return False
    if e.kind == "seq":
        return all(map(_productive, e.items))
    if e.kind == "alt":
        return any(map(_productive, e.items))
    if e.kind == "repeat":
        return e.low == 0 or e.high == 0 or _productive(e.items[0])
    return True


def _grows(e: Expr) -> bool:
    if e.kind in ("key", "GARBAGE"):
        return True
    if e.kind == "seq":
        return all(map(_productive, e.items)) and any(map(_grows, e.items))
    if e.kind == "alt":
        return any(map(_grows, e.items))
    if e.kind == "repeat":
        return e.high != 0 and _grows(e.items[0])
    return False


VOID = Expr("VOID")
EMPTY = Expr("NULL")


def _derive(e: Expr, key: str) -> Expr:
    """The expression matching what may follow ``key`` in a match of ``e``."""
    if e.kind == "key":
        return EMPTY if e.key == key else VOID
    if e.kind == "GARBAGE":
        return e
    if e.kind == "seq":
        if not e.items:
            return VOID
        first, rest = e.items[0], Expr("seq", items=e.items[1:])
        options = [Expr("seq", items=(_derive(first, key), rest))]
        if _nullable(first):
            options.append(_derive(rest, key))
        return Expr("alt", items=tuple(options))
    if e.kind == "alt":
        return Expr("alt", items=tuple(_derive(item, key) for item in e.items))
    if e.kind == "repeat":
        if e.high == 0:
            return VOID
        item = e.items[0]
        low = 0 if _nullable(item) else max(e.low - 1, 0)
        high = None if e.high is None else e.high - 1
        return Expr(
            "seq", items=(_derive(item, key), Expr("repeat", items=(item,), low=low, high=high))
        )
    return VOID


def reference(e: Expr, typed: str) -> tuple[bool, bool, bool]:
    """(match, viable, extendable) by derivatives."""
    for key in typed:
        e = _derive(e, key)
    return _nullable(e), _productive(e), _grows(e)


def exprs() -> st.SearchStrategy[Expr]:
    leaves = st.one_of(
        st.sampled_from("12").map(lambda key: Expr("key", key=key)),
        st.sampled_from(["NULL", "VOID", "GARBAGE", "tag"]).map(Expr),
    )

    def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        lists = st.lists(children, min_size=1, max_size=3).map(tuple)
        bounds = st.tuples(st.integers(0, 2), st.one_of(st.none(), st.integers(0, 2)))
        return st.one_of(
            lists.map(lambda items: Expr("seq", items=items)),
            lists.map(lambda items: Expr("alt", items=items)),
            st.tuples(children, bounds)
            .filter(lambda pair: pair[1][1] is None or pair[1][0] <= pair[1][1])
            .map(lambda pair: Expr("repeat", items=(pair[0],), low=pair[1][0], high=pair[1][1])),
        )

    return st.recursive(leaves, extend, max_leaves=8)


def to_srgs(e: Expr) -> bytes:
    """``e`` as an SRGS grammar; every alternative's item becomes a rule of its own."""
    rules: list[str] = []

    def write(e: Expr) -> str:
        if e.kind == "key":
            return e.key
        if e.kind == "tag":
            return "<tag>t</tag>"
        if e.kind in ("NULL", "VOID", "GARBAGE"):
            return f'<ruleref special="{e.kind}"/>'
        if e.kind == "seq":
            return "<item>" + " ".join(write(item) for item in e.items) + "</item>"
        if e.kind == "alt":
            choices = []
            for item in e.items:
                body = write(item)
                rules.append(f'<rule id="r{len(rules)}">{body}</rule>')
                choices.append(f'<item><ruleref uri="#r{len(rules) - 1}"/></item>')
            return "<one-of>" + "".join(choices) + "</one-of>"
        high = "" if e.high is None else str(e.high)
        return f'<item repeat="{e.low}-{high}">{write(e.items[0])}</item>'

    body = write(e)
    return grammar(
        f'<rule id="main">{body}</rule>' + "".join(rules),
        attributes='tag-format="semantics/1.0-literals"',
    )


@settings(max_examples=300, deadline=None)
@given(exprs(), st.lists(st.text("12", max_size=6), min_size=1, max_size=8))
def test_srgs_against_reference(e: Expr, typed_list: list[str]) -> None:
    matcher = inputs.srgs(to_srgs(e))
    for typed in typed_list:
        matched, viable, extendable = reference(e, typed)
        assert (matcher.match(typed) is not None) == matched, typed
        assert matcher.viable(typed) == viable, typed
        assert matcher.extendable(typed) == extendable, typed
        if matched and matcher.max_length is not None:
            assert len(typed) <= matcher.max_length


# -- SRGS: semantic interpretation ----------------------------------------------------------------


def test_no_tags_the_value_is_the_text() -> None:
    assert value(main("1 2 3"), "123") == "123"
    # A rule where no tag ran takes the value of its last rule reference.
    document = grammar(
        '<rule id="d">1<tag>out = "one"</tag></rule><rule id="e">2</rule>'
        '<rule id="main"><ruleref uri="#d"/> 9 <ruleref uri="#e"/></rule>'
        '<rule id="last"><ruleref uri="#e"/> 9 <ruleref uri="#d"/></rule>'
        '<rule id="other" scope="public"><ruleref uri="#last"/> 9</rule>'
    )
    assert value(inputs.srgs(document), "192") == "2"
    assert value(inputs.srgs(document, fragment="other"), "2919") == "one"


def test_script_tags() -> None:
    pizza = inputs.srgs(
        grammar(
            '<rule id="size"><one-of>'
            '<item>1<tag>out = "small"</tag></item><item>2<tag>out = "large"</tag></item>'
            "</one-of></rule>"
            '<rule id="count"><item repeat="1-2"><one-of><item>1</item><item>2</item>'
            "<item>3</item></one-of></item><tag>out = Number(meta.current().text)</tag></rule>"
            '<rule id="main"><ruleref uri="#size"/><tag>out.size = rules.size</tag>'
            '* <ruleref uri="#count"/>'
            "<tag>out.count = rules.latest(); out.text = meta.latest().text;"
            " out.sizeText = meta.size.text; out.all = meta.current().text</tag></rule>"
        )
    )
    assert value(pizza, "2*13") == {
        "size": "large",
        "count": 13,
        "text": "13",
        "sizeText": "2",
        "all": "2*13",
    }


def test_script_values_of_every_json_kind() -> None:
    kinds = main(
        "<one-of>"
        "<item>1<tag>out = [1, 'a', null, true]</tag></item>"
        "<item>2<tag>out = 2.5</tag></item>"
        "<item>3<tag>out = false</tag></item>"
        "<item>4<tag>out = undefined</tag></item>"
        "<item>5<tag>out = function () {}</tag></item>"
        "<item>6</item>"
        "</one-of>"
    )
    assert [value(kinds, key) for key in "123456"] == [
        [1, "a", None, True],
        2.5,
        False,
        None,
        None,
        "6",
    ]


def test_rule_variables_are_local_to_each_rule_match() -> None:
    scoped = inputs.srgs(
        grammar(
            '<rule id="d"><tag>var seen = (typeof seen === "undefined") ? 1 : seen + 1;'
            "</tag>1<tag>out = seen</tag></rule>"
            '<rule id="main"><tag>var total = 0</tag><item repeat="3"><ruleref uri="#d"/>'
            "<tag>total += rules.d</tag></item><tag>out = {total: total, "
            "outer: typeof seen}</tag></rule>"
        )
    )
    assert value(scoped, "111") == {"total": 3, "outer": "undefined"}


def test_header_tags_are_global() -> None:
    headed = inputs.srgs(
        grammar(
            '<tag>var names = {"1": "one"}; function shout(s) { return s.toUpperCase(); }</tag>'
            '<rule id="main">1<tag>out = shout(names[meta.current().text])</tag></rule>'
        )
    )
    assert value(headed, "1") == "ONE"
    assert value(headed, "1") == "ONE"  # every match starts afresh


def test_tags_run_once_per_repetition() -> None:
    counted = main('<item repeat="3"><tag>out.n = (out.n || 0) + 1</tag></item> 1')
    assert value(counted, "1") == {"n": 3}
    assert counted.max_length == 1


def test_failing_scripts_mean_no_match() -> None:
    failing = main(
        "<one-of>"
        "<item>1<tag>out = nosuchname</tag></item>"
        "<item>2<tag>throw new Error('no')</tag></item>"
        "<item>3<tag>while (true) {}</tag></item>"
        "<item>4<tag>var a = []; while (true) a.push(new Array(1e6).join('x'))</tag></item>"
        "<item>5<tag>function f() { return f(); } f()</tag></item>"
        "<item>6<tag>out = 6</tag></item>"
        "</one-of>"
    )
    for key in "12345":
        assert failing.match(key) is None, key
        assert failing.viable(key)  # the keys themselves are fine
    assert value(failing, "6") == 6


def test_script_syntax_errors_are_grammar_errors() -> None:
    with pytest.raises(inputs.GrammarError, match=r"<tag>out = \{</tag>: SyntaxError"):
        main("1<tag>out = {</tag>")
    with pytest.raises(inputs.GrammarError, match=r"<tag>var = 1</tag>: SyntaxError"):
        inputs.srgs(grammar('<tag>var = 1</tag><rule id="main">1</rule>'))
    with pytest.raises(
        inputs.GrammarError,
        match=r"<tag>out = \[1, 2, 3, 4, 5, 6, 7, 8, 9, 10,\.\.\.</tag>: SyntaxError",
    ):
        main("1<tag>out = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,</tag>")


def test_literal_tag_format() -> None:
    literal = main(
        "<one-of><item>1<tag> yes please </tag></item><item>2<tag>out = 1</tag></item></one-of>",
        attributes='tag-format="semantics/1.0-literals"',
    )
    assert value(literal, "1") == "yes please"
    assert value(literal, "2") == "out = 1"


def test_vendor_script_tag_format() -> None:
    vendor = main("1<tag>out = 7</tag>", attributes='tag-format="semantics/1.0.2006"')
    assert value(vendor, "1") == 7


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("pizza", "pizza"),  # one word: a literal
        ("large-size", "large-size"),
        ("'alpha'", "alpha"),  # script: its value, as the W3C tests write tags
        ('"two words"', "two words"),
        ("42", 42),
        ("true", True),
        ("san francisco", "san francisco"),  # not ECMAScript: a literal
        ("out.x = 1", {"x": 1}),  # script naming out: SISR
        ("var x = 1;", {}),  # ran, set nothing: out stays an empty object
    ],
)
def test_tags_without_tag_format(tag: str, expected: object) -> None:
    assert value(main(f"1<tag>{tag}</tag>", attributes=""), "1") == expected


def test_unsupported_tag_format_only_matters_with_tags() -> None:
    untagged = main("1", attributes='tag-format="swi-semantics/1.0"')
    assert value(untagged, "1") == "1"
    with pytest.raises(inputs.Unsupported, match=r"tag-format 'swi-semantics/1\.0'") as raised:
        main("1<tag>MEANING = 1</tag>", attributes='tag-format="swi-semantics/1.0"')
    assert raised.value.event == "error.unsupported.format"


def test_preferred_parse() -> None:
    # Alternatives in document order; earlier repetitions take as many keys as they can.
    ordered = main(
        "<one-of><item>1<tag>out = 'first'</tag></item><item>1<tag>out = 'second'</tag></item>"
        "</one-of>"
    )
    assert value(ordered, "1") == "first"
    greedy = inputs.srgs(
        grammar(
            '<rule id="part"><one-of><item>1<tag>out = "one"</tag></item>'
            '<item>1 1<tag>out = "two"</tag></item></one-of></rule>'
            '<rule id="main"><item repeat="1-"><ruleref uri="#part"/>'
            "<tag>out.parts = (out.parts || []).concat([rules.part])</tag></item></rule>"
        )
    )
    assert value(greedy, "111") == {"parts": ["two", "one"]}
    assert value(greedy, "1111") == {"parts": ["two", "two"]}
    split = inputs.srgs(
        grammar(
            '<rule id="a"><item repeat="1-">1</item></rule>'
            '<rule id="main"><ruleref uri="#a"/><ruleref uri="#a"/>'
            "<tag>out = [meta.a.text, meta.latest().text]</tag></rule>"
        )
    )
    assert value(split, "1111") == ["1", "1"]  # rules.a / meta.a hold the latest
    pair = inputs.srgs(
        grammar(
            '<rule id="a"><item repeat="1-">1</item></rule>'
            '<rule id="b"><item repeat="1-">1</item></rule>'
            '<rule id="main"><ruleref uri="#a"/><ruleref uri="#b"/>'
            "<tag>out = [meta.a.text, meta.b.text]</tag></rule>"
        )
    )
    assert value(pair, "1111") == ["111", "1"]


# -- SRGS: external grammars ----------------------------------------------------------------------


def test_external_rulerefs() -> None:
    document = grammar(
        '<rule id="main"><ruleref uri="digits.grxml#digit"/><tag>var first = rules.digit</tag>'
        '<ruleref uri="pound.grxml"/><ruleref uri="digits.grxml#digit"/>'
        '<ruleref uri="builtin:dtmf/boolean"/>'
        "<tag>out = [first, rules.end, rules.digit, rules.boolean]</tag></rule>"
    )
    assert inputs.external_refs(document) == ("digits.grxml", "pound.grxml")
    digits = grammar(
        '<rule id="digit" scope="public"><one-of><item>1<tag>out = 1</tag></item>'
        '<item>2<tag>out = 2</tag></item></one-of></rule><rule id="hidden">3</rule>',
        root=None,
    )
    pound = grammar(
        '<rule id="end"><ruleref uri="digits.grxml#digit"/> #</rule>',
        root="end",
        attributes='tag-format="semantics/1.0-literals"',
    )
    externals = {"digits.grxml": digits, "pound.grxml": pound}
    joined = inputs.srgs(document, externals=externals)
    assert joined.max_length == 5
    # rules.end: the external root rule "end" has no tags, so it is its rules.latest()
    assert value(joined, "12#21") == [1, 2, 2, True]
    with pytest.raises(inputs.Unsupported, match=r"'pound\.grxml'.*was not provided") as raised:
        inputs.srgs(document, externals={"digits.grxml": digits})
    assert raised.value.event == "error.unsupported.format"
    with pytest.raises(inputs.Unsupported, match="not provided"):
        inputs.srgs(document)


@pytest.mark.parametrize(
    ("external", "message"),
    [
        (grammar('<rule id="digit">1</rule>', root=None), "rule 'digit' is private"),
        (grammar('<rule id="d" scope="public">1</rule>', root=None), "there is no rule 'digit'"),
        (
            b'<grammar root="digit"><rule id="digit" scope="public">1</rule></grammar>',
            "grammar 'x.grxml' is a voice grammar",
        ),
    ],
)
def test_external_errors(external: bytes, message: str) -> None:
    document = grammar('<rule id="main"><ruleref uri="x.grxml#digit"/></rule>')
    with pytest.raises(inputs.GrammarError, match=message):
        inputs.srgs(document, externals={"x.grxml": external})


def test_external_without_root() -> None:
    document = grammar('<rule id="main"><ruleref uri="x.grxml"/></rule>')
    external = grammar('<rule id="r" scope="public">1</rule>', root=None)
    with pytest.raises(inputs.GrammarError, match=r"'x\.grxml': the grammar has no root rule"):
        inputs.srgs(document, externals={"x.grxml": external})


# -- SRGS: grammars written wrongly ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<grammar", "not well-formed XML"),
        (b"<vxml/>", "the document element is <vxml>"),
        (b'<g:grammar xmlns:g="urn:x"/>', "the document element is <grammar>"),
        (b'<grammar root="r"><rule id="r">1</rule></grammar>', "is a voice grammar"),
        (b'<grammar mode="dtmf" version="2.0"/>', "version='2.0', SRGS 1.0 is needed"),
        (grammar("1"), "text '1' outside any rule"),
        (grammar("<item>1</item>"), "<item> is not allowed in <grammar>"),
        (grammar("<rule>1</rule>"), "a <rule> has no id"),
        (grammar('<rule id="NULL">1</rule>'), "rule id 'NULL' is reserved"),
        (grammar('<rule id="main">1</rule><rule id="main">2</rule>'), "two rules have the id"),
        (grammar('<rule id="main" scope="global">1</rule>'), "scope='global', it is public"),
        (grammar('<rule id="main"><example>1</example></rule>'), "rule 'main' is empty"),
        (grammar('<rule id="main">1 x</rule>'), "rule 'main': token 'x' is not DTMF"),
        (grammar('<rule id="main">one</rule>'), "token 'one' is not DTMF"),
        (grammar('<rule id="main"><item repeat="a">1</item></rule>'), "repeat='a'.*n, n-m or n-"),
        (grammar('<rule id="main"><item repeat="3-2">1</item></rule>'), "2 is less than 3"),
        (grammar('<rule id="main"><one-of>1</one-of></rule>'), "text '1' in <one-of>"),
        (grammar('<rule id="main"><one-of><tag>x</tag></one-of></rule>'), "<tag> in <one-of>"),
        (grammar('<rule id="main"><one-of/></rule>'), "<one-of> has no <item>"),
        (grammar('<rule id="main"><token/></rule>'), "<token> is empty"),
        (grammar('<rule id="main"><grammar/></rule>'), "<grammar> is not allowed in a rule"),
        (grammar('<rule id="main"><ruleref/></rule>'), "exactly one of uri and special"),
        (
            grammar('<rule id="main"><ruleref uri="#a" special="NULL"/></rule>'),
            "exactly one of uri and special",
        ),
        (grammar('<rule id="main"><ruleref special="null"/></rule>'), "special='null'"),
        (grammar('<rule id="main"><ruleref uri="#a"/></rule>'), "no rule 'a' here"),
        (grammar('<rule id="r">1</rule>', root="x"), "root='x' names no rule"),
        (grammar('<rule id="r">1</rule>', root=None), "grammar: the grammar has no root rule"),
        (
            grammar('<rule id="main"><ruleref uri="builtin:voice/digits"/></rule>'),
            "is a voice grammar",
        ),
        (
            grammar('<rule id="main"><ruleref uri="builtin:dtmf/digits?length=0"/></rule>'),
            "rule 'main': builtin digits: length='0'",
        ),
        (
            grammar('<rule id="main"><x:item xmlns:x="urn:x">1</x:item></rule>'),
            "<item> in namespace urn:x is not SRGS",
        ),
    ],
)
def test_srgs_errors(document: bytes, message: str) -> None:
    with pytest.raises(inputs.GrammarError, match=message) as raised:
        inputs.srgs(document)
    assert not isinstance(raised.value, inputs.Unsupported)


@pytest.mark.parametrize(
    ("rules", "message", "event"),
    [
        (
            '<rule id="main"><ruleref uri="builtin:dtmf/colour"/></rule>',
            "builtin grammar 'colour' is unknown",
            "error.unsupported.builtin",
        ),
        (
            '<rule id="main"><one-of><item><ruleref uri="#main"/> 1</item><item>2</item>'
            "</one-of></rule>",
            r"rule 'main' is left-recursive \(main -> main\)",
            "error.unsupported.format",
        ),
        (
            '<rule id="a"><ruleref special="NULL"/><ruleref uri="#main"/></rule>'
            '<rule id="main"><item repeat="0-1">1</item><ruleref uri="#a"/></rule>',
            "left-recursive",
            "error.unsupported.format",
        ),
        (
            '<rule id="main"><item repeat="2-1001">1</item></rule>',
            "repeat='2-1001'>: counts above 1000 are not supported",
            "error.unsupported.format",
        ),
    ],
)
def test_srgs_unsupported(rules: str, message: str, event: str) -> None:
    with pytest.raises(inputs.Unsupported, match=message) as raised:
        inputs.srgs(grammar(rules))
    assert raised.value.event == event


# -- the W3C conformance grammars ----------------------------------------------------------------

# Every .grxml the brief names (ir21/*/ and ir20/33*/), with a key each DTMF one accepts.
CONFORMANCE_DTMF = {
    "ir20/337/337Grammar.grxml": "1",
    "ir21/1/1_grammar.grxml": "1",
    "ir21/2/2_grammar_a.grxml": "1",
    "ir21/2/2_grammar_b.grxml": "2",
    "ir21/3/3_grammar_a.grxml": "2",
    "ir21/5/first.grxml": "4",
    "ir21/5/second.grxml": "4",
    "ir21/5/third.grxml": "1",
    "ir21/7/7.grxml": "1",
    "ir21/8/8.grxml": "1",
}


def conformance_grammars() -> list[Path]:
    return sorted([*CORPUS.glob("ir21/*/*.grxml"), *CORPUS.glob("ir20/33*/*.grxml")])


def test_conformance_corpus_is_there() -> None:
    assert conformance_grammars(), f"no grammars under {CORPUS}"


@pytest.mark.parametrize(
    "path", conformance_grammars(), ids=lambda path: str(path.relative_to(CORPUS))
)
def test_conformance_grammars(path: Path) -> None:
    name = str(path.relative_to(CORPUS))
    document = path.read_bytes()
    if inputs.srgs_mode(document) != "dtmf":
        assert name not in CONFORMANCE_DTMF
        with pytest.raises(inputs.GrammarError, match="is a voice grammar"):
            inputs.srgs(document)
        return
    key = CONFORMANCE_DTMF[name]
    matcher = inputs.srgs(document)
    assert matcher.match(key) == inputs.Match(key, key)
    assert matcher.max_length == 1
    assert [other for other in KEYS if matcher.match(other)] == [key]
