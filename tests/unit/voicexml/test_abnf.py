"""SRGS 1.0 ABNF form (section 4, with the rule expansions of section 2) for DTMF: read into
the same grammar model as the XML form (``inputs.srgs``), inline and external in VoiceXML
documents; other grammar formats are error.unsupported.format."""

from __future__ import annotations

import codecs
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from vxdial import voicexml
from vxdial.voicexml import inputs
from vxdial.voicexml.testing import ScriptedChannel

from .helpers import START, run, vxml

BASE = "http://app.example/ivr/"


def abnf(text: str, *, fragment: str | None = None) -> inputs.Matcher:
    return inputs.srgs(text.encode(), fragment=fragment)


def outcome(matcher: inputs.Matcher, keys: str) -> tuple[object, bool, bool]:
    found = matcher.match(keys)
    return (None if found is None else found.value), matcher.viable(keys), matcher.extendable(keys)


# -- the W3C examples ------------------------------------------------------------------------

PIN_ABNF = """#ABNF 1.0 UTF-8;
mode dtmf;
$digit = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 0;
public $pin = $digit <4> "#" | "*" 9;
"""
PIN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<grammar xmlns="http://www.w3.org/2001/06/grammar" version="1.0" mode="dtmf">
  <rule id="digit">
    <one-of>
      <item> 1 </item> <item> 2 </item> <item> 3 </item> <item> 4 </item> <item> 5 </item>
      <item> 6 </item> <item> 7 </item> <item> 8 </item> <item> 9 </item> <item> 0 </item>
    </one-of>
  </rule>
  <rule id="pin" scope="public">
    <one-of>
      <item> <item repeat="4"><ruleref uri="#digit"/></item> # </item>
      <item> * 9 </item>
    </one-of>
  </rule>
</grammar>
"""


@pytest.mark.parametrize("keys", ["1234#", "0000#", "*9", "123#", "12345#", "*", "9", "*99"])
def test_the_dtmf_pin_example_in_both_forms(keys: str) -> None:
    """SRGS 1.0 appendix on DTMF grammars: the PIN example ("*" quoted in ABNF), written
    in the ABNF form (section 4.1 header, section 4.6 ``mode dtmf``) and the XML form,
    accepts the same keys with the same interpretation."""
    from_abnf = abnf(PIN_ABNF, fragment="pin")
    from_xml = inputs.srgs(PIN_XML.encode(), fragment="pin")
    assert outcome(from_abnf, keys) == outcome(from_xml, keys)
    assert (from_abnf.match(keys) is not None) == (keys in ("1234#", "0000#", "*9"))
    assert from_abnf.max_length == from_xml.max_length == 5


def test_the_header_declarations() -> None:
    """SRGS 1.0 section 4: the self-identifying header (4.1) with its encoding (4.4),
    language (4.5, ignored in DTMF), mode (4.6), root (4.7), tag-format (4.8), base (4.9),
    lexicon (4.10), meta and http-equiv (4.11), a header tag run before the rules' tags
    (4.12), and comments of every kind."""
    matcher = abnf(
        """#ABNF 1.0 ISO-8859-1;
        /** A documentation comment.
            @example 1 2 */
        language en-US;  // ignored in DTMF mode
        mode dtmf;
        root $main;
        tag-format <semantics/1.0>;
        base <http://app.example/grammars/>;
        lexicon <http://app.example/lexicon.pls>;
        lexicon <http://app.example/other.pls>~<application/pls+xml>;
        meta "author" is "vxdial";
        meta 'description' is 'two keys';
        http-equiv "Expires" is "0";
        { var prefix = "got "; };
        /* the rules */
        public $main = 1 2 { out = prefix + meta.current().text; };
        """
    )
    assert outcome(matcher, "12") == ("got 12", True, False)
    assert outcome(matcher, "1") == (None, True, True)


def test_encodings() -> None:
    """SRGS 1.0 section 4.4: the header names the encoding; a byte order mark decides
    (UTF-16 and UTF-8 must be accepted)."""
    latin = '#ABNF 1.0 ISO-8859-1;\nmode dtmf;\nroot $m;\n$m = 1 {out = "caf\u00e9"};\n'
    for body in (
        latin.encode("iso-8859-1"),
        codecs.BOM_UTF8 + latin.replace("ISO-8859-1", "UTF-8").encode(),
        codecs.BOM_UTF16_LE + latin.replace("ISO-8859-1", "UTF-16").encode("utf-16-le"),
        latin.replace("ISO-8859-1", "UTF-16").encode("utf-16-be"),
    ):
        found = inputs.srgs(body).match("1")
        assert found is not None
        assert found.value == "caf\u00e9"


def test_precedence() -> None:
    """SRGS 1.0 section 2.8 (the W3C implementation-report grammar abnf-precedence, in
    keys): a repeat binds the one thing before it, a sequence binds tighter than ``|``,
    brackets tighter than anything."""
    matcher = abnf(
        """#ABNF 1.0; mode dtmf; root $main;
        $main = $repeat | $repeat2 | $sequence | $alt | $par | $brackets;
        $repeat = 1<3> "2 2"<1> $d<2> (1 3<1>)<2>;
        $d = 4;
        $repeat2 = 5 <2>6;
        $sequence = 7 8<2>;
        $alt = 9 0 | "*";
        $par = "#" (1 | 2);
        $brackets = [A | B] C;
        """
    )
    accepted = ["1112244131 3", "556", "788", "90", "*", "#1", "#2", "AC", "BC", "C"]
    rejected = ["5656", "7878", "9*", "#", "ABC", "111224413"]
    assert [matcher.match(k.replace(" ", "")) is not None for k in accepted] == [True] * 10
    assert [matcher.match(k) is not None for k in rejected] == [False] * 6


def test_repeats_weights_and_special_rules() -> None:
    """SRGS 1.0 sections 2.4 (alternatives, ``/weight/``), 2.5 (``<n>``, ``<n->``,
    ``<n-m>``, repeat probabilities ``/p/``, ``[...]``) and 2.2.3 ($NULL, $VOID,
    $GARBAGE)."""
    matcher = abnf(
        """#ABNF 1.0; mode dtmf; root $main; tag-format <semantics/1.0-literals>;
        $main = /10/ 1 <2> {two} | /0.5/ 2 <2-> {many} | /1e1/ 3 <0-1 /0.8/> 4 {opt}
              | 5 $NULL 6 {null} | 7 $VOID | 8 $GARBAGE "#" {garbage} | [9] 0 <1-2> {zeros};
        """
    )
    assert [outcome(matcher, k)[0] for k in ("11", "222", "34", "4", "56", "8123#", "000")] == [
        "two",
        "many",
        "opt",
        "opt",
        "null",
        "garbage",
        None,
    ]
    assert [outcome(matcher, k)[0] for k in ("1", "7", "900", "90", "0")] == [
        None,
        None,
        "zeros",
        "zeros",
        "zeros",
    ]


def test_tokens_and_tags() -> None:
    """SRGS 1.0 sections 2.1 (tokens: ``"*"`` and ``"#"`` quoted, ``star`` and ``pound``)
    and 2.6 (tags ``{...}`` and ``{!{...}!}``, whose text may hold braces), with SISR
    ``rules.latest()`` over a rule reference."""
    matcher = abnf(
        """#ABNF 1.0;
        mode dtmf;
        root $main;
        tag-format <semantics/1.0>;
        $key = star {out = "star"} | pound {out = "pound"} | "*" "#" {out = "both"};
        $main = $key {!{ out = {key: rules.latest(), keys: meta.current().text}; }!};
        """
    )
    assert [outcome(matcher, k)[0] for k in ("*", "#", "*#")] == [
        {"key": "star", "keys": "*"},
        {"key": "pound", "keys": "#"},
        {"key": "both", "keys": "*#"},
    ]


def test_external_and_builtin_references() -> None:
    """SRGS 1.0 section 2.2.2: ``$<uri>`` and ``$<uri#rule>`` (with ``~<media-type>``),
    in ABNF and between the forms; VoiceXML 2.0 appendix P builtins as ``$<builtin:...>``."""
    other_abnf = b"#ABNF 1.0; mode dtmf; root $two; public $two = 2 2; public $three = 3;"
    other_xml = (
        b'<grammar xmlns="http://www.w3.org/2001/06/grammar" version="1.0" mode="dtmf"'
        b' root="nine"><rule id="nine" scope="public">9</rule></grammar>'
    )
    main = b"""#ABNF 1.0; mode dtmf; root $main;
        $main = $<other.gram> | 1 $<other.gram#three>~<application/srgs> | $<x.grxml>
              | "*" $<builtin:dtmf/digits?length=2>;"""
    assert inputs.external_refs(main) == ("other.gram", "x.grxml")
    matcher = inputs.srgs(main, externals={"other.gram": other_abnf, "x.grxml": other_xml})
    accepted = [k for k in ("22", "13", "9", "*42", "*4", "3") if matcher.match(k) is not None]
    assert accepted == ["22", "13", "9", "*42"]
    xml_using_abnf = (
        b'<grammar xmlns="http://www.w3.org/2001/06/grammar" version="1.0" mode="dtmf"'
        b' root="r"><rule id="r"><ruleref uri="other.gram#three"/></rule></grammar>'
    )
    assert inputs.srgs(xml_using_abnf, externals={"other.gram": other_abnf}).match("3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#ABNF 1.0; mode dtmf;\n$main = 1", "line 2: rule $main ends with ';'"),
        ("#ABNF 1.0; mode dtmf;\n\n$main = $other;", "line 3: $other: there is no rule"),
        ("#ABNF 1.0; mode dtmf; root $r;\n$r = 1;\n$r = 2;", "line 3: rule $r is defined twice"),
        ("#ABNF 1.0; mode dtmf; root $r;\n$r = 1 <3-2>;", "line 2: <3-2>: 2 is less than 3"),
        ("#ABNF 1.0; mode dtmf; root $r;\n$r = 1 <x>;", "line 2: <x>: a repeat is"),
        ("#ABNF 1.0; root $r;\n$r = 1;\nmode dtmf;", "line 3: mode: declarations come before"),
        ("#ABNF 1.0;\nmode dtmf;\nmode voice;", "line 3: mode is declared twice"),
        ("#ABNF 2.0; mode dtmf;", "line 1: #ABNF 2.0: SRGS ABNF 1.0 is needed"),
        ("#ABNF 1.0; mode dtmf; root $r;\n$r = 1 /* never closed", "line 2: a /* comment"),
        ("#ABNF 1.0; mode dtmf; root $r;\n$r = 1 {out = 1;", "line 2: a tag { is not closed"),
        ("#ABNF 1.0; mode dtmf; root $r;\n$r = 1 | | 2;", "line 2: rule $r: an empty alt"),
        ("#ABNF 1.0; mode dtmf; root $nope;\n$r = 1;", "root $nope: there is no rule"),
        ("#ABNF 1.0; mode keys;", "line 1: mode keys: the mode is voice or dtmf"),
        ("#ABNF 1.0 X-NO-SUCH;\nmode dtmf;", "line 1: #ABNF header: unknown encoding"),
        ("#ABNF 1.0; mode dtmf; root $r;\n$r = 1 > 2;", "line 2: unexpected '>'"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    """SRGS 1.0 section 4 and appendix (the ABNF syntax): a grammar written wrongly is a
    GrammarError (error.badfetch in a document) whose message gives the line."""
    with pytest.raises(inputs.GrammarError) as raised:
        abnf(text)
    assert not isinstance(raised.value, inputs.Unsupported)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "expansion",
    ["(" * 5000 + "1" + ")" * 5000, "1" + "<1>" * 5000, "[" * 3000 + "1" + "]" * 3000],
)
def test_nesting_is_bounded(expansion: str) -> None:
    """Hostile input: brackets and repeats nested without end are a GrammarError naming
    the bound, not a recursion error; nesting within the bound compiles and matches."""
    with pytest.raises(inputs.GrammarError, match="nested deeper than 100"):
        abnf(f"#ABNF 1.0; mode dtmf; root $r; $r = {expansion};")
    deep = "(" * 60 + "[1]" + "<1>" * 39 + ")" * 60
    assert abnf(f"#ABNF 1.0; mode dtmf; root $r; $r = {deep} 2;").match("12")


@pytest.mark.parametrize(
    ("document", "media_type"),
    [
        (b"#JSGF V1.0;\ngrammar yesno;\npublic <yesno> = 1 | 2;", None),
        (b"#JSGF V1.0;\ngrammar yesno;\npublic <yesno> = 1 | 2;", "application/x-jsgf"),
        (b"Main [(one) (two)]", "application/x-gsl"),
        (b"Main [(one) (two)]", "text/x-nuance-gsl; charset=utf-8"),
        (
            b'<grammar xmlns="http://www.w3.org/2001/vxml" mode="dtmf" type="application/x-jsgf">'
            b"public &lt;a&gt; = 1;</grammar>",
            None,
        ),
    ],
)
def test_other_grammar_formats_are_unsupported(document: bytes, media_type: str | None) -> None:
    """VoiceXML 2.0 sections 3.1.1.4 (``type``) and 5.2.6: a grammar in a format the
    platform cannot read is error.unsupported.format (not error.badfetch)."""
    with pytest.raises(inputs.Unsupported) as raised:
        inputs.srgs(document, media_type=media_type)
    assert raised.value.event == "error.unsupported.format"
    assert "is not supported" in str(raised.value)


def test_the_content_decides_where_it_says_what_it_is() -> None:
    """SRGS 1.0 section 4.1 (the #ABNF header identifies the form) and appendix G (media
    types): a header or an SRGS ``<grammar>`` wins over a careless server type; without
    a header, the type application/srgs means ABNF."""
    assert inputs.srgs(PIN_ABNF.encode(), fragment="pin", media_type="text/xml").match("*9")
    assert inputs.srgs(PIN_XML.encode(), fragment="pin", media_type="text/plain").match("*9")
    headerless = b"mode dtmf; root $r; $r = 4 2;"
    assert inputs.srgs(headerless, media_type="application/srgs").match("42")
    with pytest.raises(inputs.GrammarError):
        inputs.srgs(headerless)  # neither the content nor a type says it is ABNF
    assert inputs.srgs_mode(b"#ABNF 1.0; $r = hello;") == "voice"  # the SRGS default


# -- the same model: ABNF and XML of generated grammars ------------------------------------


@dataclass(frozen=True)
class Tok:
    key: str


@dataclass(frozen=True)
class Seq:
    items: tuple[object, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[object, ...]
    weights: tuple[float, ...] | None


@dataclass(frozen=True)
class Rep:
    item: object
    low: int
    high: int | None


@dataclass(frozen=True)
class Opt:
    item: object


@dataclass(frozen=True)
class Ref:
    rule: int


@dataclass(frozen=True)
class Special:
    name: str


@dataclass(frozen=True)
class Tag:
    code: str


TAGS = (
    "out = 'x'",
    "out.n = (out.n || 0) + 1",
    "out = meta.current().text",
    "out = rules.latest()",
    "out = {k: meta.current().text.length}",
    "out += 1",
)


def expansions(rules_after: int, count: int) -> st.SearchStrategy[object]:
    leaves: list[st.SearchStrategy[object]] = [
        st.builds(Tok, st.sampled_from("0123*#")),
        st.builds(Tag, st.sampled_from(TAGS)),
        st.builds(Special, st.sampled_from(["NULL", "NULL", "VOID", "GARBAGE"])),
    ]
    if rules_after < count:
        leaves.append(st.builds(Ref, st.integers(rules_after, count - 1)))
    return st.recursive(
        st.one_of(leaves),
        lambda inner: st.one_of(
            st.builds(Seq, st.lists(inner, min_size=2, max_size=3).map(tuple)),
            st.lists(inner, min_size=2, max_size=3).flatmap(
                lambda items: st.builds(
                    Alt,
                    st.just(tuple(items)),
                    st.none()
                    | st.lists(
                        st.sampled_from([0.5, 1.0, 2.0]),
                        min_size=len(items),
                        max_size=len(items),
                    ).map(tuple),
                )
            ),
            st.integers(0, 2).flatmap(
                lambda low: st.builds(
                    Rep, inner, st.just(low), st.none() | st.integers(max(low, 1), low + 2)
                )
            ),
            st.builds(Opt, inner),
        ),
        max_leaves=6,
    )


@st.composite
def grammars(draw: st.DrawFn) -> list[object]:
    """Rules 0..n-1; rule i refers only to rules after it (no recursion)."""
    count = draw(st.integers(1, 3))
    return [draw(expansions(i + 1, count)) for i in range(count)]


def to_abnf(node: object, rng: random.Random) -> str:
    """ABNF text, bracketed where precedence needs it (SRGS 1.0 section 2.8)."""

    def atom(item: object) -> str:
        text = to_abnf(item, rng)
        return f"({text})" if isinstance(item, Seq | Alt | Rep) else text

    match node:
        case Tok(key):
            if key == "*":
                return rng.choice(['"*"', "star"])
            if key == "#":
                return rng.choice(['"#"', "#", "pound"])
            return key
        case Seq(items):
            return " ".join(
                atom(item) if isinstance(item, Alt | Seq) else to_abnf(item, rng) for item in items
            )
        case Alt(items, weights):
            parts = [atom(item) if isinstance(item, Alt) else to_abnf(item, rng) for item in items]
            if weights is not None:
                parts = [f"/{w}/ {part}" for w, part in zip(weights, parts, strict=True)]
            return " | ".join(parts)
        case Rep(item, low, high):
            spec = f"{low}-" if high is None else (f"{low}" if low == high else f"{low}-{high}")
            return f"{atom(item)} <{spec}>"
        case Opt(item):
            return f"[{to_abnf(item, rng)}]"
        case Ref(rule):
            return f"$r{rule}"
        case Special(name):
            return f"${name}"
        case Tag(code):
            braced = f"{{!{{ {code} }}!}}"
            return braced if "{" in code else rng.choice([f"{{{code}}}", braced])
    raise AssertionError(node)


def to_xml(node: object) -> str:
    match node:
        case Tok(key):
            return f"<token>{escape(key)}</token>"
        case Seq(items):
            # A sequence within a sequence stays a group, as ( ) makes it in ABNF.
            return "".join(
                f"<item>{to_xml(item)}</item>" if isinstance(item, Seq) else to_xml(item)
                for item in items
            )
        case Alt(items, weights):
            ws = weights or (None,) * len(items)
            return (
                "<one-of>"
                + "".join(
                    f"<item{'' if w is None else f' weight={quoteattr(str(w))}'}>{to_xml(i)}</item>"
                    for i, w in zip(items, ws, strict=True)
                )
                + "</one-of>"
            )
        case Rep(item, low, high):
            spec = f"{low}-" if high is None else (f"{low}" if low == high else f"{low}-{high}")
            return f'<item repeat="{spec}">{to_xml(item)}</item>'
        case Opt(item):
            return f'<item repeat="0-1">{to_xml(item)}</item>'
        case Ref(rule):
            return f'<ruleref uri="#r{rule}"/>'
        case Special(name):
            return f'<ruleref special="{name}"/>'
        case Tag(code):
            return f"<tag>{escape(code)}</tag>"
    raise AssertionError(node)


def compiled(document: bytes) -> inputs.Matcher | str:
    try:
        return inputs.srgs(document)
    except inputs.GrammarError as exc:
        return type(exc).__name__


@settings(max_examples=150, deadline=None)
@given(
    rules=grammars(),
    seed=st.integers(0, 2**32),
    typed=st.lists(st.text("0123*#", max_size=5), min_size=5, max_size=12),
)
def test_abnf_and_xml_forms_of_a_grammar_match_alike(
    rules: list[object], seed: int, typed: list[str]
) -> None:
    """SRGS 1.0 section 1 ("the two forms are mappable") and section 2.8 (precedence):
    the ABNF and XML forms of the same generated grammar accept the same keys, with the
    same SISR interpretation, the same prefixes and the same longest match."""
    rng = random.Random(seed)
    abnf_text = "#ABNF 1.0 UTF-8;\nmode dtmf;\nroot $r0;\ntag-format <semantics/1.0>;\n" + "".join(
        f"{rng.choice(['', 'public ', 'private '])}$r{i} = {to_abnf(rule, rng)};\n"
        for i, rule in enumerate(rules)
    )
    xml_text = (
        '<grammar xmlns="http://www.w3.org/2001/06/grammar" version="1.0" mode="dtmf"'
        ' root="r0" tag-format="semantics/1.0">'
        + "".join(f'<rule id="r{i}">{to_xml(rule)}</rule>' for i, rule in enumerate(rules))
        + "</grammar>"
    )
    from_abnf = compiled(abnf_text.encode())
    from_xml = compiled(xml_text.encode())
    if isinstance(from_xml, str) or isinstance(from_abnf, str):
        assert from_abnf == from_xml, abnf_text
        return
    assert from_abnf.max_length == from_xml.max_length, abnf_text
    for keys in [*typed, *(sample(rules, 0, rng) for _ in range(4))]:
        assert outcome(from_abnf, keys) == outcome(from_xml, keys), (abnf_text, keys)


def sample(rules: list[object], rule: int, rng: random.Random) -> str:
    """Keys the grammar may accept (a random walk; VOID and GARBAGE give what they give)."""

    def walk(node: object, depth: int) -> str:
        match node:
            case Tok(key):
                return key
            case Seq(items):
                return "".join(walk(item, depth) for item in items)
            case Alt(items, _):
                return walk(rng.choice(items), depth)
            case Rep(item, low, high):
                top = low + 2 if high is None else high
                return "".join(walk(item, depth) for _ in range(rng.randint(low, top)))
            case Opt(item):
                return walk(item, depth) if rng.random() < 0.5 else ""
            case Ref(target):
                return walk(rules[target], depth + 1)
            case Special(name):
                return rng.choice(["", "1", "#"]) if name == "GARBAGE" else ""
        return ""

    return walk(rules[rule], 0)[:8]


# -- in VoiceXML documents -------------------------------------------------------------------


async def test_an_inline_abnf_grammar_fills_a_field() -> None:
    """VoiceXML 2.0 section 3.1.1.1 (inline grammars; ``type="application/srgs"``) with
    SRGS 1.0 section 4: the ABNF text (in CDATA, as ``<`` and ``>`` are ABNF symbols)
    with SISR tags fills the field; its length bounds the keys collected."""
    body = vxml("""<form><field name="pin">
        <grammar mode="dtmf" type="application/srgs" tag-format="semantics/1.0"><![CDATA[
          #ABNF 1.0 UTF-8;
          root $pin;
          $digit = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 0;
          $pin = $digit <4> {out = "pin " + meta.current().text;} | "*" 9 {out = "help";};
        ]]></grammar>
        <filled><value expr="pin"/><exit/></filled>
      </field></form>""")
    result = await run(body, ["2468"])
    assert result.heard == ["pin 2468"]
    assert result.channel.collects[0].max_digits == 4
    result = await run(body, ["*9"])
    assert result.heard == ["help"]


async def test_an_inline_abnf_grammar_says_its_own_mode() -> None:
    """SRGS 1.0 section 4.6: the ``mode dtmf;`` declaration makes the inline grammar a
    DTMF grammar without a mode attribute; ``mode voice`` (or none: the default) is a
    voice grammar, never active here."""
    dtmf = vxml("""<form><field name="k">
        <grammar>#ABNF 1.0; mode dtmf; root $k; $k = 1 | 2;</grammar>
        <filled>k is <value expr="k"/><exit/></filled>
      </field></form>""")
    assert (await run(dtmf, ["2"])).heard == ["k is 2"]
    voice = vxml("""<form><field name="k" type="boolean">
        <grammar type="application/srgs">#ABNF 1.0; root $k; $k = yes;</grammar>
        <filled>k is <value expr="k"/><exit/></filled>
      </field></form>""")
    assert (await run(voice, ["1"])).heard == ["k is true"]


async def test_an_external_abnf_grammar_by_type_or_by_header() -> None:
    """VoiceXML 2.0 section 3.1.1.2 (external grammars) with SRGS 1.0 section 4.1: a .gram
    file is ABNF by its #ABNF header, or by ``type="application/srgs"`` without one;
    ``#fragment`` names a public rule."""
    app = vxml("""<form>
        <field name="a"><grammar src="menu.gram#choice"/>
          <filled>a <value expr="a"/></filled></field>
        <field name="b"><grammar src="plain.gram" type="application/srgs"/>
          <filled>b <value expr="b"/><exit/></filled></field>
      </form>""")
    result = await run(
        {
            START: app,
            BASE + "menu.gram": "#ABNF 1.0;\nmode dtmf;\n"
            "public $choice = 1 {out = 'sales'} | 2 {out = 'support'};\n",
            BASE + "plain.gram": "mode dtmf; root $r; $r = 4 2 {out = 42};",
        },
        ["2", "42"],
    )
    assert result.heard == ["a support", "b 42"]


@pytest.fixture
async def grammar_server() -> AsyncIterator[str]:
    """Serves an ABNF grammar without a header as application/srgs, as a server that
    knows its media types does (SRGS 1.0 appendix G)."""

    async def gram(request: web.Request) -> web.Response:
        return web.Response(
            text="mode dtmf; root $r; $r = 7 <2-3> {out = meta.current().text.length};",
            content_type="application/srgs",
        )

    app = web.Application()
    app.router.add_get("/yes.gram", gram)
    runner = web.AppRunner(app, shutdown_timeout=0.05)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_the_server_content_type_says_abnf(grammar_server: str) -> None:
    """SRGS 1.0 appendix G: application/srgs is the ABNF form; a grammar fetched over HTTP
    with that Content-Type needs no header and no type attribute."""
    body = vxml(f"""<form><field name="n"><grammar src="{grammar_server}/yes.gram"/>
        <filled>n <value expr="n"/><exit/></filled></field></form>""")
    channel = ScriptedChannel(["777"])
    async with aiohttp.ClientSession() as http:
        fetcher = voicexml.HttpFetcher(http)

        class Start:
            async def fetch(self, request: voicexml.FetchRequest) -> voicexml.Document:
                if request.url == START:
                    return voicexml.Document(START, body.encode())
                return await fetcher.fetch(request)

        end = await voicexml.run_session(
            voicexml.FetchRequest(START), channel=channel, fetcher=Start(), session={}
        )
    assert end.reason == "exit", end
    assert channel.heard == ["n 3"]


@pytest.mark.parametrize(
    "grammar",
    [
        '<grammar src="yesno.jsgf" type="application/x-jsgf"/>',
        '<grammar src="yesno.jsgf"/>',  # the content says #JSGF
        '<grammar mode="dtmf" type="application/x-gsl">[(one) (two)]</grammar>',
    ],
)
async def test_a_grammar_in_another_format_throws_error_unsupported_format(grammar: str) -> None:
    """VoiceXML 2.0 section 5.2.6: error.unsupported.format, "the requested resource has a
    format that is not supported by the platform, e.g. an unsupported grammar format";
    the application can catch it (here, falling back to a builtin)."""
    body = vxml(f"""<form><field name="yes" type="boolean">
        {grammar}
        <catch event="error.unsupported.format">
          <value expr="_event"/><assign name="yes" expr="true"/></catch>
      </field><block>yes is <value expr="yes"/><exit/></block></form>""")
    result = await run(
        {START: body, BASE + "yesno.jsgf": "#JSGF V1.0;\ngrammar yesno;\npublic <yn> = 1 | 2;\n"}
    )
    assert result.heard == ["error.unsupported.format", "yes is true"]


async def test_an_abnf_grammar_written_wrongly_is_error_badfetch_with_the_line() -> None:
    """SRGS 1.0 section 4 / VoiceXML 2.0 section 5.2.6: a grammar that cannot be used is
    error.badfetch, and the message points at the ABNF line."""
    body = vxml("""<form><field name="k">
        <grammar mode="dtmf" type="application/srgs">#ABNF 1.0; root $k;
          $k = 1 | $missing;</grammar>
      </field></form>""")
    result = await run(body, ["1"])
    assert result.end.event == "error.badfetch"
    assert "line 4: <grammar>: ABNF grammar: line 2: $missing: there is no rule" in (
        result.end.message or ""
    )
