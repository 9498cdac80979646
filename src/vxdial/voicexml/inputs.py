"""DTMF grammars: which key sequences an input accepts, and what a match means.

Three kinds of grammar, one interface (``Matcher``):

- ``builtin(spec)``: the builtin types of VoiceXML 2.0 appendix P in their DTMF form, written
  as a field's ``type`` ("digits?minlength=3") or after ``builtin:dtmf/`` in a grammar's src;
- ``keys(sequence, value)``: one literal key sequence (``<choice dtmf>``, ``<option dtmf>``,
  ``<link dtmf>``) standing for a value the caller chooses;
- ``srgs(document)``: an SRGS 1.0 grammar in mode "dtmf" (inline or fetched), in the XML
  form or the ABNF form (``abnf.py`` reads ABNF into the XML it maps to, so both compile
  to the same nodes), with SISR 1.0 semantic tags run in QuickJS.

A ``Matcher`` answers three questions about a key string (no termchar): does it match as a
whole (``match``, with the interpretation), may more keys still make it match (``viable``),
and can it grow at all (``extendable``). The interpreter collects keys until a match cannot
grow, a key makes the input non-viable, or a timeout ends it.

Pure Python, no I/O: the interpreter fetches grammar documents and hands over their bytes.
Errors: ``GrammarError`` for a grammar written wrongly (the interpreter throws
error.badfetch), ``Unsupported`` for a valid one this module does not handle (its ``event``
says which error to throw).

Builtin types (appendix P). The DTMF forms and values:

==========  ===========================  ===============================================
type        keys                         value
==========  ===========================  ===============================================
boolean     1 (or y=) / 2 (or n=)        True / False
digits      0-9, length bounds           the digits, a string: "0123"
number      digits, ``*`` decimal point  a number: "123*45" -> 123.45, "12" -> 12
currency    digits, ``*`` then 1-2       a string "mm.nn": "12*5" -> "12.50", "7" -> "7.00"
phone       digits, ``*`` extension      a string, ``*`` as "x": "5551234*89" -> "5551234x89"
date        yyyymmdd (a real date)       the 8 digits, a string: "20240229"
time        hhmm (00:00-23:59)           "hhmm" + "h" (hour 00 or 13-23) or "?" (01-12)
==========  ===========================  ===============================================

Where appendix P leaves room, these choices are made:

- number: appendix P calls the result "a string of digits ... ECMAScript automatically
  converts result strings to numerical values"; that is false for ``+`` (``"12" + 1`` is
  "121"), so the value here is an ECMAScript number, which formats the same in prompts and
  submits. A leading ``*`` is a leading decimal point ("*5" -> 0.5).
- currency: the result is "UUUmm.nn" with an ISO 4217 code, "or mm.nn if the currency is not
  spoken"; keys cannot say a currency, so the value never has a code. The amount is
  normalised to two decimals, and more than two decimal keys do not match.
- time: "because there is no DTMF convention for specifying AM/PM ... the result will always
  end with h or ?": hours 00 and 13-23 can only be 24-hour ("h"); 01-12 could be either
  ("?").
- digits: length, minlength and maxlength may be combined when they agree (length=4 with
  minlength=2 is length 4); when they conflict the grammar is wrong (error.badfetch, as
  appendix P says).
- Only digits (length, minlength, maxlength) and boolean (y, n) take parameters; any other
  parameter is a GrammarError.

Which form a document is in (``_grammar_root``): its content decides when it says (the
``#ABNF`` header of SRGS 1.0 section 4.1, or a ``<grammar>`` document element); otherwise
the declared media type (the ``type`` attribute, else the server's Content-Type):
application/srgs is ABNF, application/srgs+xml (or XML) the XML form. Another grammar
format (``#JSGF``, application/x-jsgf, application/x-gsl, ...) is ``Unsupported`` with
error.unsupported.format (VoiceXML 2.0 section 5.2.6); text/plain,
application/octet-stream and text/html say nothing, and leave it to the content.

SRGS (https://www.w3.org/TR/speech-grammar/), mode "dtmf". Supported: ``<grammar root
tag-format>``, ``<rule id scope>``, ``<item repeat>`` ("n", "n-m", "n-"; ``repeat-prob``
and ``weight`` are read past), ``<one-of>``, ``<token>``, ``<tag>`` (in rules and in the
header), ``<ruleref uri="#id">``, ``<ruleref uri="builtin:dtmf/digits?length=4">``, external
``<ruleref uri="other.grxml#id">`` when the caller passes the fetched document in
``externals``, and ``<ruleref special="NULL|VOID|GARBAGE">``; ``<example>``, ``<lexicon>``,
``<meta>``, ``<metadata>`` are ignored. Elements may be in the SRGS namespace, in the
VoiceXML namespace (an inline grammar serialized from its document), or in none.
Choices made:

- Tokens: each of 0-9 * # A-D is one key (SRGS appendix D), "star" and "pound" are synonyms
  of * and #. Leniently, a token of several keys ("123") is read as that many tokens.
- GARBAGE matches any keys, none included (SRGS: "any speech up until the next rule match");
  where a parse is ambiguous it takes as few keys as it can.
- Ambiguity: when several parses match the keys, the one used for the interpretation takes
  ``<one-of>`` alternatives in document order, and gives each earlier part of a sequence
  (and each earlier repetition) as many keys as still lets the rest match.
- Text: the text of the tokens of a DTMF match is the keys without separators ("123"), as
  VoiceXML 2.0 section 5.1.5 says of DTMF utterances ("the matched digit string").
- Semantics (SISR 1.0): a rule's variable ``out`` starts as an empty object; tags see
  ``out``, ``rules.<id>`` and ``rules.latest()`` (the values of the rules referenced so far
  in this rule), ``meta.current().text``, ``meta.latest().text`` and ``meta.<id>.text``.
  A rule in which no tag ran gets the value of its last rule reference, or else its text.
  Header tags run first, as global code. tag-format "semantics/1.0" (and vendor variants
  starting so, e.g. "semantics/1.0.2006") is script, and a script that does not compile is a
  GrammarError; "semantics/1.0-literals" makes the tag text the value. Without tag-format, a
  tag that is one word (``pizza``) or not ECMAScript (``san francisco``) is a literal; any other
  is script, and its value, if the script never names ``out``, becomes the rule's value (so
  ``'alpha'``, ``42`` and ``true`` work as the W3C tests write them). Other tag-formats with
  tags are Unsupported (error.unsupported.format).
- Scripts run in a fresh QuickJS context per match, with ``SCRIPT_TIME_LIMIT_S`` of CPU and
  ``SCRIPT_MEMORY_LIMIT_BYTES``; a script that throws or runs over makes the keys not match
  (``match`` returns None), since the keys are not in error and callers expect nomatch.
- Left recursion (a rule reaching itself before any key) is Unsupported
  (error.unsupported.format). Right recursion works, nesting Python calls for each key: past
  about a hundred keys of it the keys do not match (and are not viable) rather than crash.
- A ``#fragment`` may name only a public rule (SRGS 1.0 section 3.2); the root rule may be
  private. A grammar with neither ``root`` nor a fragment is a GrammarError.
- Repeat counts above 1000 are Unsupported (error.unsupported.format).
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeAlias

import quickjs  # type: ignore[import-untyped]
from lxml import etree  # type: ignore[import-untyped]

from vxdial.voicexml import abnf

__all__ = [
    "BUILTIN_TYPES",
    "DTMF_KEYS",
    "SCRIPT_MEMORY_LIMIT_BYTES",
    "SCRIPT_TIME_LIMIT_S",
    "GrammarError",
    "Match",
    "Matcher",
    "Unsupported",
    "builtin",
    "check_builtin",
    "external_refs",
    "is_abnf_text",
    "keys",
    "srgs",
    "srgs_mode",
]

# The sixteen DTMF keys (SRGS 1.0 appendix D; ITU-T Q.23).
DTMF_KEYS: Final = "0123456789*#ABCD"

# The builtin types of VoiceXML 2.0 appendix P.
BUILTIN_TYPES: Final = ("boolean", "currency", "date", "digits", "number", "phone", "time")

# Limits for the SISR scripts of one match.
SCRIPT_TIME_LIMIT_S: Final = 0.25
SCRIPT_MEMORY_LIMIT_BYTES: Final = 16 * 1024 * 1024
_SCRIPT_STACK_BYTES: Final = 256 * 1024

_DIGITS: Final = frozenset("0123456789")


class GrammarError(ValueError):
    """A grammar written wrongly: the document using it is unusable (error.badfetch).
    The message names what is wrong and why."""


class Unsupported(GrammarError):
    """A valid grammar this module does not support; ``event`` is the VoiceXML event to
    throw, e.g. "error.unsupported.builtin" or "error.unsupported.format"."""

    event: str

    def __init__(self, message: str, *, event: str) -> None:
        super().__init__(message)
        self.event = event


@dataclass(frozen=True, slots=True)
class Match:
    value: object  # the interpretation: str, bool, int, float, dict, list or None
    keys: str  # the DTMF keys matched, e.g. "123"


class Matcher(Protocol):
    """One grammar's view of a DTMF key string (without termchar)."""

    @property
    def max_length(self) -> int | None:
        """The longest key sequence accepted; None when there is no bound."""
        ...

    def match(self, keys: str) -> Match | None:
        """The interpretation when the whole of ``keys`` is accepted, else None."""
        ...

    def viable(self, keys: str) -> bool:
        """Whether ``keys`` starts some accepted sequence (or is one)."""
        ...

    def extendable(self, keys: str) -> bool:
        """Whether some accepted sequence longer than ``keys`` starts with ``keys``."""
        ...


def _all_digits(keys: str) -> bool:
    return all(key in _DIGITS for key in keys)


# -- literal key sequences ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Keys:
    sequence: str
    value: object

    @property
    def max_length(self) -> int:
        return len(self.sequence)

    def match(self, keys: str) -> Match | None:
        return Match(self.value, keys) if keys == self.sequence else None

    def viable(self, keys: str) -> bool:
        return self.sequence.startswith(keys)

    def extendable(self, keys: str) -> bool:
        return len(keys) < len(self.sequence) and self.sequence.startswith(keys)


def keys(sequence: str, value: object) -> Matcher:
    """A grammar accepting exactly ``sequence`` ("12#", or with spaces between keys:
    "1 2 #"), whose match has ``value``. Raises ``GrammarError`` for an empty sequence or
    a character that is not a DTMF key."""
    compact = "".join(sequence.split())
    if not compact:
        raise GrammarError("dtmf sequence is empty")
    for key in compact:
        if key not in DTMF_KEYS:
            raise GrammarError(f"dtmf sequence {sequence!r}: {key!r} is not a DTMF key")
    return _Keys(compact, value)


# -- builtin types (VoiceXML 2.0 appendix P) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class _Digits:
    min_length: int
    max_length: int | None

    def match(self, keys: str) -> Match | None:
        if not keys or not _all_digits(keys) or len(keys) < self.min_length:
            return None
        if self.max_length is not None and len(keys) > self.max_length:
            return None
        return Match(keys, keys)

    def viable(self, keys: str) -> bool:
        return _all_digits(keys) and (self.max_length is None or len(keys) <= self.max_length)

    def extendable(self, keys: str) -> bool:
        return _all_digits(keys) and (self.max_length is None or len(keys) < self.max_length)


@dataclass(frozen=True, slots=True)
class _Boolean:
    yes: str
    no: str

    @property
    def max_length(self) -> int:
        return 1

    def match(self, keys: str) -> Match | None:
        if keys == self.yes:
            return Match(True, keys)
        if keys == self.no:
            return Match(False, keys)
        return None

    def viable(self, keys: str) -> bool:
        return keys in ("", self.yes, self.no)

    def extendable(self, keys: str) -> bool:
        return keys == ""


@dataclass(frozen=True, slots=True)
class _Pattern:
    """A builtin of unbounded length described by three regular expressions."""

    whole: re.Pattern[str]  # the accepted sequences
    prefix: re.Pattern[str]  # their prefixes
    growing: re.Pattern[str]  # their proper prefixes
    interpret: Callable[[str], object]

    @property
    def max_length(self) -> None:
        return None

    def match(self, keys: str) -> Match | None:
        if self.whole.fullmatch(keys) is None:
            return None
        return Match(self.interpret(keys), keys)

    def viable(self, keys: str) -> bool:
        return self.prefix.fullmatch(keys) is not None

    def extendable(self, keys: str) -> bool:
        return self.growing.fullmatch(keys) is not None


def _number_value(keys: str) -> int | float:
    return float(keys.replace("*", ".")) if "*" in keys else int(keys)


def _currency_value(keys: str) -> str:
    whole, _, cents = keys.partition("*")
    return f"{whole.lstrip('0') or '0'}.{cents.ljust(2, '0')}"


_NUMBER = _Pattern(
    whole=re.compile(r"[0-9]+(?:\*[0-9]+)?|\*[0-9]+"),
    prefix=re.compile(r"[0-9]*(?:\*[0-9]*)?"),
    growing=re.compile(r"[0-9]*(?:\*[0-9]*)?"),  # a digit can always follow
    interpret=_number_value,
)
_CURRENCY = _Pattern(
    whole=re.compile(r"[0-9]+(?:\*[0-9]{1,2})?|\*[0-9]{1,2}"),
    prefix=re.compile(r"[0-9]*(?:\*[0-9]{0,2})?"),
    growing=re.compile(r"[0-9]*(?:\*[0-9]?)?"),
    interpret=_currency_value,
)
_PHONE = _Pattern(
    whole=re.compile(r"[0-9]+(?:\*[0-9]+)?"),
    prefix=re.compile(r"(?:[0-9]+(?:\*[0-9]*)?)?"),
    growing=re.compile(r"(?:[0-9]+(?:\*[0-9]*)?)?"),
    interpret=lambda keys: keys.replace("*", "x"),
)


@dataclass(frozen=True, slots=True)
class _Date:
    """yyyymmdd: any year 0000-9999 (proleptic Gregorian), a real month and day."""

    @property
    def max_length(self) -> int:
        return 8

    def match(self, keys: str) -> Match | None:
        return Match(keys, keys) if len(keys) == 8 and self.viable(keys) else None

    def viable(self, keys: str) -> bool:
        if len(keys) > 8 or not _all_digits(keys):
            return False
        if len(keys) >= 5 and keys[4] not in "01":
            return False
        if len(keys) < 6:
            return True
        year, month = int(keys[:4]), int(keys[4:6])
        if not 1 <= month <= 12:
            return False
        last_day = calendar.monthrange(year, month)[1]
        if len(keys) == 7:
            return int(keys[6]) * 10 <= last_day  # some second digit makes a day
        return len(keys) == 6 or 1 <= int(keys[6:8]) <= last_day

    def extendable(self, keys: str) -> bool:
        return len(keys) < 8 and self.viable(keys)


@dataclass(frozen=True, slots=True)
class _Time:
    """hhmm on a 24-hour clock."""

    @property
    def max_length(self) -> int:
        return 4

    def match(self, keys: str) -> Match | None:
        if len(keys) != 4 or not self.viable(keys):
            return None
        hour = int(keys[:2])
        return Match(keys + ("h" if hour == 0 or hour > 12 else "?"), keys)

    def viable(self, keys: str) -> bool:
        if len(keys) > 4 or not _all_digits(keys):
            return False
        if keys[:1] > "2" or (len(keys) >= 2 and int(keys[:2]) > 23):
            return False
        return len(keys) < 3 or keys[2] <= "5"

    def extendable(self, keys: str) -> bool:
        return len(keys) < 4 and self.viable(keys)


_PLAIN_BUILTINS: Final[dict[str, Matcher]] = {
    "number": _NUMBER,
    "currency": _CURRENCY,
    "phone": _PHONE,
    "date": _Date(),
    "time": _Time(),
}


def _split_spec(spec: str) -> tuple[str, dict[str, str]]:
    name, _, query = spec.strip().partition("?")
    name = name.strip()
    if not name:
        raise GrammarError(f"builtin grammar {spec!r} names no type")
    params: dict[str, str] = {}
    for part in query.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise GrammarError(f"builtin {name}: parameter {part.strip()!r} is not name=value")
        if key in params:
            raise GrammarError(f"builtin {name}: parameter {key!r} is given twice")
        params[key] = value.strip()
    return name, params


def _count(params: dict[str, str], key: str) -> int | None:
    if key not in params:
        return None
    text = params.pop(key)
    if not text or not _all_digits(text) or int(text) < 1:
        raise GrammarError(f"builtin digits: {key}={text!r} is not a positive whole number")
    return int(text)


def _digits(params: dict[str, str]) -> _Digits:
    length = _count(params, "length")
    low = _count(params, "minlength")
    high = _count(params, "maxlength")
    if params:
        raise GrammarError(f"builtin digits: unknown parameter {next(iter(params))!r}")
    if length is not None:
        # Appendix P: a badfetch when length "conflicts with" minlength or maxlength.
        if low is not None and low > length:
            raise GrammarError(f"builtin digits: minlength={low} conflicts with length={length}")
        if high is not None and high < length:
            raise GrammarError(f"builtin digits: maxlength={high} conflicts with length={length}")
        return _Digits(length, length)
    if low is not None and high is not None and low > high:
        raise GrammarError(f"builtin digits: minlength={low} is larger than maxlength={high}")
    return _Digits(low or 1, high)


def _boolean(params: dict[str, str]) -> _Boolean:
    yes = params.pop("y", "1")
    no = params.pop("n", "2")
    if params:
        raise GrammarError(f"builtin boolean: unknown parameter {next(iter(params))!r}")
    for key, value in (("y", yes), ("n", no)):
        if len(value) != 1 or value not in DTMF_KEYS:
            raise GrammarError(f"builtin boolean: {key}={value!r} is not one DTMF key")
    if yes == no:
        raise GrammarError(f"builtin boolean: y and n are the same key {yes!r}")
    return _Boolean(yes, no)


def builtin(spec: str) -> Matcher:
    """The DTMF grammar of a builtin type with parameters, as in a field's ``type``
    ("digits?minlength=3;maxlength=5", "boolean?y=7;n=9") or after ``builtin:dtmf/``.
    Raises ``Unsupported`` (error.unsupported.builtin) for a type appendix P does not
    define, ``GrammarError`` for a bad parameter."""
    name, params = _split_spec(spec)
    if name == "digits":
        return _digits(params)
    if name == "boolean":
        return _boolean(params)
    plain = _PLAIN_BUILTINS.get(name)
    if plain is None:
        raise Unsupported(
            f"builtin grammar {name!r} is unknown (there are {', '.join(BUILTIN_TYPES)})",
            event="error.unsupported.builtin",
        )
    if params:
        raise GrammarError(f"builtin {name}: unknown parameter {next(iter(params))!r}")
    return plain


def check_builtin(spec: str) -> None:
    """Raise what ``builtin(spec)`` would raise; nothing when the spec is usable."""
    builtin(spec)


# -- SRGS: the compiled form ---------------------------------------------------------------
#
# A grammar compiles to a tree of nodes; rule references point at ``_Rule`` objects, so
# recursive grammars are cyclic graphs. Nodes compare by identity (they key memo tables).


@dataclass(eq=False, slots=True)
class _Key:
    key: str


@dataclass(eq=False, slots=True)
class _Seq:
    items: tuple[_Node, ...]


@dataclass(eq=False, slots=True)
class _Alt:
    items: tuple[_Node, ...]


@dataclass(eq=False, slots=True)
class _Repeat:
    item: _Node
    low: int
    high: int | None  # None: no upper bound


@dataclass(eq=False, slots=True)
class _Special:
    kind: str  # NULL, VOID or GARBAGE


@dataclass(eq=False, slots=True)
class _Tag:
    index: int  # into _Grammar.tags


@dataclass(eq=False, slots=True)
class _Rule:
    name: str
    public: bool
    body: _Node = field(default_factory=lambda: _Special("VOID"))


@dataclass(eq=False, slots=True)
class _Ref:
    rule: _Rule


@dataclass(eq=False, slots=True)
class _BuiltinRef:
    name: str  # the type, which names its value in rules.<name>
    matcher: Matcher


_Node: TypeAlias = _Key | _Seq | _Alt | _Repeat | _Special | _Tag | _Ref | _BuiltinRef


@dataclass(frozen=True, slots=True)
class _TagCode:
    kind: str  # "literal": text is the value; "script"; "value": script whose value is out
    text: str


# -- SRGS: reading the XML ---------------------------------------------------------------

_SRGS_NS: Final = "http://www.w3.org/2001/06/grammar"
_VXML_NS: Final = "http://www.w3.org/2001/vxml"
_XML_NS: Final = "http://www.w3.org/XML/1998/namespace"
_NAMESPACES: Final = frozenset({_SRGS_NS, _VXML_NS, None})
_SPECIALS: Final = frozenset({"NULL", "VOID", "GARBAGE"})
_KEY_WORDS: Final = {"star": "*", "pound": "#"}
# Repeat counts above this are refused: no keypad input comes near it, and padding a parse
# with that many empty repetitions (to run their tags) would cost time for nothing.
_MAX_REPEAT: Final = 1000
_REPEAT = re.compile(r"\s*(\d+)\s*(?:(-)\s*(\d+)?\s*)?")
# A tag without tag-format that is one word is a literal string (see the module docstring).
_LITERAL_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SCRIPT_WORDS: Final = frozenset(
    {"true", "false", "null", "undefined", "this", "out", "rules", "meta", "NaN", "Infinity"}
)
_NAMES_OUT = re.compile(r"(?<![\w$.])out(?![\w$])")
# Compiles without running: new Function parses its body as eval would (near enough).
_SYNTAX_CHECK: Final = (
    "(function (s) { try { new Function(s); return null; } catch (e) { return String(e); } })"
)


# Media types (VoiceXML 2.0 section 3.1.1.4 ``type``; SRGS 1.0 appendix G). The XML form's
# also under the VoiceXML 2.0 drafts' name and as plain XML.
_ABNF_TYPES: Final = frozenset({"application/srgs"})
_XML_TYPES: Final = frozenset(
    {"application/srgs+xml", "application/grammar+xml", "application/xml", "text/xml"}
)


# Types that say nothing about the format (servers label any file so): the content decides.
_UNINFORMATIVE: Final = frozenset({"text/plain", "application/octet-stream", "text/html"})


def _media(media_type: str | None) -> str | None:
    """A media type without parameters, in lower case; None for none or one that says
    nothing about the format."""
    if media_type is None:
        return None
    bare = media_type.partition(";")[0].strip().lower()
    return None if not bare or bare in _UNINFORMATIVE else bare


def _other_format(media_type: str | None) -> bool:
    return media_type is not None and media_type not in _XML_TYPES | _ABNF_TYPES


def _unsupported_type(media_type: str) -> Unsupported:
    return Unsupported(
        f"grammar type {media_type!r} is not supported (SRGS 1.0 is: application/srgs+xml,"
        " and application/srgs for the ABNF form)",
        event="error.unsupported.format",
    )


def _from_abnf(
    document: bytes | str,
    *,
    header_required: bool = True,
    defaults: Mapping[str, str] | None = None,
) -> etree._Element:
    try:
        text = abnf.decode(document) if isinstance(document, bytes) else document
        return abnf.to_xml(text, header_required=header_required, defaults=defaults)
    except abnf.AbnfError as exc:
        raise GrammarError(f"ABNF grammar: {exc}") from exc


def _elements_in(root: etree._Element) -> bool:
    return any(isinstance(child.tag, str) for child in root)


def is_abnf_text(text: str, media_type: str | None) -> bool:
    """Whether the text content of an inline ``<grammar>`` (one without elements) is the
    ABNF form: its type is application/srgs, or it starts with the #ABNF header."""
    return _media(media_type) in _ABNF_TYPES or text.lstrip().startswith("#ABNF")


def _inline_abnf(root: etree._Element, declared: str | None) -> etree._Element | None:
    """The grammar of an inline ``<grammar>`` whose content is ABNF text (its type is
    application/srgs, or the text starts with the #ABNF header), with the element's
    mode, root, tag-format and xml:lang as defaults; None when it is not ABNF."""
    if _elements_in(root):
        return None  # elements: the XML form
    text = (root.text or "") + "".join(child.tail or "" for child in root)
    if not is_abnf_text(text, declared):
        return None
    defaults = {
        key: value
        for key in ("mode", "root", "tag-format", f"{{{_XML_NS}}}lang")
        if (value := root.get(key)) is not None
    }
    defaults.setdefault("mode", "voice")  # SRGS 1.0 section 4.6: the default mode
    return _from_abnf(text, header_required=False, defaults=defaults)


def _grammar_root(document: bytes, media_type: str | None = None) -> etree._Element:
    """The ``<grammar>`` element of an SRGS grammar in either form: XML, ABNF (read into
    the XML it maps to), or an inline VoiceXML ``<grammar>`` holding either.

    The content decides when it says what it is (the ``#ABNF`` header, a ``<grammar>``
    with rules); otherwise the declared ``media_type`` (the ``type`` attribute, else the
    server's Content-Type) does. Another grammar format (``#JSGF``, a type such as
    application/x-jsgf or application/x-gsl) is ``Unsupported`` (error.unsupported.format,
    VoiceXML 2.0 section 5.2.6); a document that is no grammar at all, or claims to be SRGS
    and is not, is a ``GrammarError`` (error.badfetch)."""
    declared = _media(media_type)
    kind = abnf.sniff(document)
    if kind == "abnf":
        return _from_abnf(document)
    if kind == "jsgf":
        raise _unsupported_type(declared or "application/x-jsgf")
    if kind is None and declared in _ABNF_TYPES:
        return _from_abnf(document, header_required=False)
    if kind is None and _other_format(declared):
        assert declared is not None
        raise _unsupported_type(declared)
    root = _parse_xml(document, declared)
    own_type = _media(root.get("type"))  # an inline grammar's type attribute
    found = _inline_abnf(root, own_type or declared)
    if found is not None:
        return found
    if own_type is not None and _other_format(own_type) and not _elements_in(root):
        raise _unsupported_type(own_type)
    return root


def _parse_xml(document: bytes, declared: str | None = None) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise GrammarError(f"grammar is not well-formed XML: {exc}") from exc
    if root is None:
        raise GrammarError("grammar document is empty")
    name = etree.QName(root)
    if name.localname != "grammar" or name.namespace not in _NAMESPACES:
        if _other_format(declared):
            assert declared is not None
            raise _unsupported_type(declared)
        raise GrammarError(f"not an SRGS grammar: the document element is <{name.localname}>")
    return root


def _mode(root: etree._Element) -> str:
    mode = (root.get("mode") or "voice").strip()
    if mode not in ("dtmf", "voice"):
        raise GrammarError(f"<grammar mode={mode!r}>: the mode is dtmf or voice")
    return mode


def _elements(parent: etree._Element) -> Iterable[tuple[etree._Element | None, str]]:
    """(element-or-None, text) pairs in document order: the text before the first child,
    then each child followed by its tail. Comments and processing instructions give only
    their tails."""
    yield None, parent.text or ""
    for child in parent:
        yield child, child.tail or ""


def _local(element: etree._Element) -> str | None:
    """The element's SRGS name, or None for comments, processing instructions, entities."""
    if not isinstance(element.tag, str):
        return None
    name = etree.QName(element)
    if name.namespace not in _NAMESPACES:
        raise GrammarError(f"<{name.localname}> in namespace {name.namespace} is not SRGS")
    return str(name.localname)


def _tag_mode(tag_format: str | None) -> str:
    if tag_format is None:
        return "auto"
    tag_format = tag_format.strip()
    if tag_format.startswith("semantics/1.0"):
        return "literal" if tag_format.endswith("-literals") else "script"
    return "unsupported"


@dataclass(slots=True)
class _Document:
    key: str  # "" for the grammar itself, else the external URI
    root: etree._Element
    rules: dict[str, _Rule]
    elements: dict[str, etree._Element]
    tag_mode: str
    tag_format: str | None


class _Compiler:
    """Turns an SRGS document (and the external grammars it references) into nodes."""

    def __init__(self, externals: Mapping[str, bytes] | None) -> None:
        self.externals = externals or {}
        self.documents: dict[str, _Document] = {}
        self.pending: list[_Document] = []
        self.tags: list[_TagCode] = []
        self.headers: list[str] = []  # header tag scripts, run first as global code
        self._syntax_context: quickjs.Context | None = None
        self._syntax: Callable[[str], str | None] | None = None

    def load(self, key: str, document: bytes, media_type: str | None = None) -> _Document:
        loaded = self.documents.get(key)
        if loaded is not None:
            return loaded
        root = _grammar_root(document, media_type)
        where = "grammar" if not key else f"grammar {key!r}"
        if _mode(root) != "dtmf":
            raise GrammarError(f"{where} is a voice grammar (mode='dtmf' is needed for keys)")
        version = root.get("version")
        if version is not None and version.strip() != "1.0":
            raise GrammarError(f"{where}: version={version!r}, SRGS 1.0 is needed")
        tag_format = root.get("tag-format")
        loaded = _Document(key, root, {}, {}, _tag_mode(tag_format), tag_format)
        for child, text in _elements(root):
            if text.strip():
                raise GrammarError(f"{where}: text {text.strip()!r} outside any rule")
            if child is None:
                continue
            name = _local(child)
            if name == "rule":
                self.declare(loaded, child)
            elif name == "tag":
                self.header_tag(loaded, child)
            elif name not in (None, "lexicon", "meta", "metadata"):
                raise GrammarError(f"{where}: <{name}> is not allowed in <grammar>")
        self.documents[key] = loaded
        self.pending.append(loaded)
        return loaded

    def declare(self, document: _Document, element: etree._Element) -> None:
        rule_id = (element.get("id") or "").strip()
        if not rule_id:
            raise GrammarError("a <rule> has no id")
        if rule_id in _SPECIALS:
            raise GrammarError(f"rule id {rule_id!r} is reserved for special rules")
        if rule_id in document.rules:
            raise GrammarError(f"two rules have the id {rule_id!r}")
        scope = (element.get("scope") or "private").strip()
        if scope not in ("public", "private"):
            raise GrammarError(f"rule {rule_id!r}: scope={scope!r}, it is public or private")
        document.rules[rule_id] = _Rule(rule_id, scope == "public")
        document.elements[rule_id] = element

    def header_tag(self, document: _Document, element: etree._Element) -> None:
        code = self.tag_code(document, "".join(element.itertext()))
        if code.kind != "literal":  # a literal outside any rule has nothing to set
            self.headers.append(code.text)

    def tag_code(self, document: _Document, text: str) -> _TagCode:
        if document.tag_mode == "unsupported":
            raise Unsupported(
                f"tag-format {document.tag_format!r} is not supported "
                "(semantics/1.0 and semantics/1.0-literals are)",
                event="error.unsupported.format",
            )
        stripped = text.strip()
        if document.tag_mode == "literal":
            return _TagCode("literal", stripped)
        problem = self.syntax_error(text)
        if document.tag_mode == "script":
            if problem is not None:
                raise GrammarError(f"<tag>{_excerpt(stripped)}</tag>: {problem}")
            return _TagCode("script", text)
        if problem is not None or (
            _LITERAL_WORD.fullmatch(stripped) and stripped not in _SCRIPT_WORDS
        ):
            return _TagCode("literal", stripped)
        return _TagCode("script" if _NAMES_OUT.search(text) else "value", text)

    def syntax_error(self, source: str) -> str | None:
        """The ECMAScript syntax error in ``source``, or None (the code is not run)."""
        if self._syntax is None:
            context = quickjs.Context()
            context.set_memory_limit(SCRIPT_MEMORY_LIMIT_BYTES)
            context.set_time_limit(SCRIPT_TIME_LIMIT_S)
            self._syntax = context.eval(_SYNTAX_CHECK)
            self._syntax_context = context  # the function lives as long as its context
        assert self._syntax is not None
        problem = self._syntax(source)
        return None if problem is None else str(problem)

    def run(self) -> None:
        while self.pending:
            document = self.pending.pop()
            for rule_id, rule in document.rules.items():
                body = self.expansion(document, rule_id, document.elements[rule_id])
                if body is None:
                    raise GrammarError(f"rule {rule_id!r} is empty")
                rule.body = body

    def expansion(self, document: _Document, rule_id: str, parent: etree._Element) -> _Node | None:
        """The sequence of tokens and elements inside ``parent``; None when there are none."""
        items: list[_Node] = []
        for child, text in _elements(parent):
            if child is not None:
                node = self.element(document, rule_id, child)
                if node is not None:
                    items.append(node)
            items.extend(_Key(key) for key in _tokens(text, rule_id))
        if not items:
            return None
        return items[0] if len(items) == 1 else _Seq(tuple(items))

    def element(self, document: _Document, rule_id: str, element: etree._Element) -> _Node | None:
        name = _local(element)
        where = f"rule {rule_id!r}"
        if name is None or name in ("example", "metadata", "meta", "lexicon"):
            return None
        if name == "item":
            body = self.expansion(document, rule_id, element)
            node: _Node = _Seq(()) if body is None else body
            repeat = element.get("repeat")
            if repeat is None:
                return node
            low, high = _repeat(repeat, where)
            return _Repeat(node, low, high)
        if name == "one-of":
            choices: list[_Node] = []
            for child, text in _elements(element):
                if text.strip():
                    raise GrammarError(f"{where}: text {text.strip()!r} in <one-of>, not <item>")
                if child is None or _local(child) is None:
                    continue
                if _local(child) != "item":
                    raise GrammarError(f"{where}: <{_local(child)}> in <one-of>, not <item>")
                choice = self.element(document, rule_id, child)
                assert choice is not None
                choices.append(choice)
            if not choices:
                raise GrammarError(f"{where}: <one-of> has no <item>")
            return choices[0] if len(choices) == 1 else _Alt(tuple(choices))
        if name == "token":
            found = [_Key(key) for key in _tokens("".join(element.itertext()), rule_id)]
            if not found:
                raise GrammarError(f"{where}: <token> is empty")
            return found[0] if len(found) == 1 else _Seq(tuple(found))
        if name == "tag":
            self.tags.append(self.tag_code(document, "".join(element.itertext())))
            return _Tag(len(self.tags) - 1)
        if name == "ruleref":
            return self.ruleref(document, where, element)
        raise GrammarError(f"{where}: <{name}> is not allowed in a rule")

    def ruleref(self, document: _Document, where: str, element: etree._Element) -> _Node:
        uri = element.get("uri")
        special = element.get("special")
        if (uri is None) == (special is None):
            raise GrammarError(f"{where}: <ruleref> needs exactly one of uri and special")
        if special is not None:
            special = special.strip()
            if special not in _SPECIALS:
                raise GrammarError(f"{where}: <ruleref special={special!r}>: NULL, VOID, GARBAGE")
            return _Special(special)
        assert uri is not None
        uri = uri.strip()
        if uri.startswith("builtin:"):
            return _builtin_ref(uri, where)
        base, hashmark, fragment = uri.partition("#")
        if not base:
            target = document.rules.get(fragment)
            if target is None:
                raise GrammarError(f"{where}: <ruleref uri={uri!r}>: no rule {fragment!r} here")
            return _Ref(target)
        if base not in self.externals:
            raise Unsupported(
                f"{where}: <ruleref uri={uri!r}>: the grammar it names was not provided",
                event="error.unsupported.format",
            )
        other = self.load(base, self.externals[base])
        return _Ref(_entry_rule(other, fragment if hashmark else None, f"{where}: {uri!r}"))


def _excerpt(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _entry_rule(document: _Document, fragment: str | None, where: str) -> _Rule:
    """The rule a reference to ``document`` (with ``fragment``) starts at."""
    if fragment is not None:
        rule = document.rules.get(fragment)
        if rule is None:
            raise GrammarError(f"{where}: there is no rule {fragment!r}")
        if not rule.public:
            # SRGS 1.0 section 3.2: a private rule may only be referenced in its grammar.
            raise GrammarError(f"{where}: rule {fragment!r} is private to its grammar")
        return rule
    root = document.root.get("root")
    if root is None:
        raise GrammarError(f"{where}: the grammar has no root rule (give root= or a #fragment)")
    rule = document.rules.get(root.strip())
    if rule is None:
        raise GrammarError(f"{where}: root={root!r} names no rule")
    return rule


def _builtin_ref(uri: str, where: str) -> _BuiltinRef:
    spec = uri[len("builtin:") :]
    for prefix in ("dtmf/", "grammar/"):
        if spec.startswith(prefix):
            spec = spec[len(prefix) :]
            break
    else:
        if spec.startswith("voice/"):
            raise GrammarError(f"{where}: <ruleref uri={uri!r}> is a voice grammar")
    try:
        matcher = builtin(spec)
    except GrammarError as exc:
        if isinstance(exc, Unsupported):
            raise Unsupported(f"{where}: {exc}", event=exc.event) from exc
        raise GrammarError(f"{where}: {exc}") from exc
    return _BuiltinRef(spec.partition("?")[0].strip(), matcher)


def _tokens(text: str, rule_id: str) -> list[str]:
    found: list[str] = []
    for word in text.split():
        if word in _KEY_WORDS:
            found.append(_KEY_WORDS[word])
            continue
        for key in word:
            if key not in DTMF_KEYS:
                raise GrammarError(f"rule {rule_id!r}: token {word!r} is not DTMF (0-9, *, #, A-D)")
        found.extend(word)  # lenient: "123" is three tokens
    return found


def _repeat(text: str, where: str) -> tuple[int, int | None]:
    found = _REPEAT.fullmatch(text)
    if found is None:
        raise GrammarError(f"{where}: <item repeat={text!r}>: it is n, n-m or n-")
    low = int(found.group(1))
    if max(low, int(found.group(3) or 0)) > _MAX_REPEAT:
        raise Unsupported(
            f"{where}: <item repeat={text!r}>: counts above {_MAX_REPEAT} are not supported",
            event="error.unsupported.format",
        )
    if found.group(2) is None:
        return low, low
    if found.group(3) is None:
        return low, None
    high = int(found.group(3))
    if high < low:
        raise GrammarError(f"{where}: <item repeat={text!r}>: {high} is less than {low}")
    return low, high


# -- SRGS: static facts about nodes --------------------------------------------------------


class _Facts:
    """Whether a node can match no keys (nullable), matches anything at all (productive),
    or can match at least one key (grows); the longest match. Computed as fixpoints over
    the rules, so recursion is fine."""

    def __init__(self, rules: list[_Rule]) -> None:
        self._cache: dict[tuple[str, _Node], bool] = {}
        self._longest: dict[_Rule, int | None] = {}
        self.nullable_rules = self._fixpoint(rules, self._nullable)
        self.productive_rules = self._fixpoint(rules, self._productive)
        self.grows_rules = self._fixpoint(rules, self._grows)

    @staticmethod
    def _fixpoint(
        rules: list[_Rule], fact: Callable[[_Node, dict[_Rule, bool]], bool]
    ) -> dict[_Rule, bool]:
        values = dict.fromkeys(rules, False)
        changed = True
        while changed:  # values only turn True, so this ends
            changed = False
            for rule in rules:
                if not values[rule] and fact(rule.body, values):
                    values[rule] = changed = True
        return values

    def _nullable(self, node: _Node, rules: dict[_Rule, bool]) -> bool:
        match node:
            case _Key():
                return False
            case _Seq(items):
                return all(self._nullable(item, rules) for item in items)
            case _Alt(items):
                return any(self._nullable(item, rules) for item in items)
            case _Repeat(item, low, high):
                return low == 0 or high == 0 or self._nullable(item, rules)
            case _Special(kind):
                return kind != "VOID"
            case _Ref(rule):
                return rules[rule]
            case _BuiltinRef(_, matcher):
                return matcher.match("") is not None
            case _Tag():
                return True

    def _productive(self, node: _Node, rules: dict[_Rule, bool]) -> bool:
        match node:
            case _Seq(items):
                return all(self._productive(item, rules) for item in items)
            case _Alt(items):
                return any(self._productive(item, rules) for item in items)
            case _Repeat(item, low, high):
                return low == 0 or high == 0 or self._productive(item, rules)
            case _Special(kind):
                return kind != "VOID"
            case _Ref(rule):
                return rules[rule]
            case _:
                return True

    def _grows(self, node: _Node, rules: dict[_Rule, bool]) -> bool:
        match node:
            case _Key() | _BuiltinRef():
                return True
            case _Seq(items):
                return all(self.productive(item) for item in items) and any(
                    self._grows(item, rules) for item in items
                )
            case _Alt(items):
                return any(self._grows(item, rules) for item in items)
            case _Repeat(item, _, high):
                return high != 0 and self._grows(item, rules)
            case _Special(kind):
                return kind == "GARBAGE"
            case _Ref(rule):
                return rules[rule]
            case _Tag():
                return False

    def _fact(self, name: str, node: _Node) -> bool:
        key = (name, node)
        value = self._cache.get(key)
        if value is None:
            if name == "nullable":
                value = self._nullable(node, self.nullable_rules)
            elif name == "productive":
                value = self._productive(node, self.productive_rules)
            else:
                value = self._grows(node, self.grows_rules)
            self._cache[key] = value
        return value

    def nullable(self, node: _Node) -> bool:
        return self._fact("nullable", node)

    def productive(self, node: _Node) -> bool:
        return self._fact("productive", node)

    def grows(self, node: _Node) -> bool:
        return self._fact("grows", node)

    def max_length(self, node: _Node, active: frozenset[_Rule] = frozenset()) -> int | None:
        """The longest match of ``node``, None if unbounded (or recursive: conservative)."""
        match node:
            case _Key():
                return 1
            case _Seq(items):
                total = 0
                for item in items:
                    length = self.max_length(item, active)
                    if length is None:
                        return None
                    total += length
                return total
            case _Alt(items):
                longest = 0
                for item in items:
                    if not self.productive(item):
                        continue
                    length = self.max_length(item, active)
                    if length is None:
                        return None
                    longest = max(longest, length)
                return longest
            case _Repeat(item, _, high):
                if high == 0:
                    return 0
                length = self.max_length(item, active)
                if length == 0:
                    return 0
                return None if length is None or high is None else length * high
            case _Special(kind):
                return None if kind == "GARBAGE" else 0
            case _Ref(rule):
                if rule in active:
                    return None
                if rule not in self._longest:
                    # A None found through a rule still active means this rule is on a
                    # cycle too, so keeping it is right for every other path here.
                    self._longest[rule] = self.max_length(rule.body, active | {rule})
                return self._longest[rule]
            case _BuiltinRef(_, matcher):
                return matcher.max_length
            case _Tag():
                return 0


def _left_edges(node: _Node, facts: _Facts) -> set[_Rule]:
    """The rules ``node`` may reference before matching any key."""
    match node:
        case _Seq(items):
            found: set[_Rule] = set()
            for item in items:
                found |= _left_edges(item, facts)
                if not facts.nullable(item):
                    break
            return found
        case _Alt(items):
            return set().union(*(_left_edges(item, facts) for item in items))
        case _Repeat(item, _, high):
            return set() if high == 0 else _left_edges(item, facts)
        case _Ref(rule):
            return {rule}
        case _:
            return set()


def _check_left_recursion(rules: list[_Rule], facts: _Facts) -> None:
    edges = {rule: _left_edges(rule.body, facts) for rule in rules}
    done: set[_Rule] = set()

    def visit(rule: _Rule, path: list[_Rule]) -> None:
        if rule in path:
            cycle = " -> ".join(r.name for r in [*path[path.index(rule) :], rule])
            raise Unsupported(
                f"rule {rule.name!r} is left-recursive ({cycle}), which is not supported",
                event="error.unsupported.format",
            )
        if rule in done:
            return
        path.append(rule)
        for target in edges[rule]:
            visit(target, path)
        path.pop()
        done.add(rule)

    for rule in rules:
        visit(rule, [])


def _reachable(root: _Rule) -> list[_Rule]:
    """The rules ``root`` uses, itself included."""
    found: dict[_Rule, None] = {}
    todo = [root]
    while todo:
        rule = todo.pop()
        if rule in found:
            continue
        found[rule] = None
        nodes: list[_Node] = [rule.body]
        while nodes:
            match nodes.pop():
                case _Seq(items) | _Alt(items):
                    nodes.extend(items)
                case _Repeat(item):
                    nodes.append(item)
                case _Ref(target):
                    todo.append(target)
    return list(found)


# -- SRGS: matching one key string ---------------------------------------------------------


@dataclass(slots=True)
class _Parse:
    """One rule's part of a parse: its keys, the tags run and the rules it referenced."""

    name: str
    items: list[str | int | _Parse]  # a key, a tag index, a referenced rule
    value: object = None
    fixed: bool = False  # a builtin reference: ``value`` is its value

    @property
    def text(self) -> str:
        return "".join(
            item if isinstance(item, str) else item.text
            for item in self.items
            if not isinstance(item, int)
        )


class _Run:
    """The memo tables for one key string. Positions are indexes into ``keys``."""

    def __init__(self, facts: _Facts, keys: str) -> None:
        self.facts = facts
        self.keys = keys
        self.size = len(keys)
        self._ends: dict[tuple[_Node, int], frozenset[int]] = {}
        self._prefix: dict[tuple[_Node, int, bool], bool] = {}

    def ends(self, node: _Node, start: int) -> frozenset[int]:
        """Every position where a match of ``node`` from ``start`` may end."""
        key = (node, start)
        found = self._ends.get(key)
        if found is None:
            # A re-entry at the same position would be left recursion, which compiling
            # rejects; the empty placeholder keeps a surprise from looping.
            self._ends[key] = frozenset()
            found = self._ends[key] = frozenset(self._compute_ends(node, start))
        return found

    def _compute_ends(self, node: _Node, start: int) -> set[int]:
        match node:
            case _Key(key):
                return {start + 1} if self.keys[start : start + 1] == key else set()
            case _Seq(items):
                here = {start}
                for item in items:
                    here = {end for at in here for end in self.ends(item, at)}
                    if not here:
                        break
                return here
            case _Alt(items):
                return {end for item in items for end in self.ends(item, start)}
            case _Repeat(item, low, high):
                found: set[int] = set()
                for count, reached in self._iterations(item, low, high, start):
                    if count >= low:
                        found |= reached
                return found
            case _Special(kind):
                if kind == "GARBAGE":
                    return set(range(start, self.size + 1))
                return set() if kind == "VOID" else {start}
            case _Ref(rule):
                return set(self.ends(rule.body, start))
            case _BuiltinRef(_, matcher):
                return {
                    end
                    for end in range(start, self.size + 1)
                    if matcher.match(self.keys[start:end]) is not None
                }
            case _Tag():
                return {start}

    def _iterations(
        self, item: _Node, low: int, high: int | None, start: int
    ) -> Iterable[tuple[int, frozenset[int]]]:
        """(count, positions after ``count`` repetitions of ``item``), up to ``high``.
        Each round either moves every position forward or, for an item that can match
        nothing, only adds positions; so the rounds stop within len(keys) + 1 once
        nothing changes (a set seen again stands for every later count too)."""
        here = frozenset({start})
        count = 0
        while True:
            yield count, here
            if not here or (high is not None and count >= high):
                return
            after = frozenset(end for at in here for end in self.ends(item, at))
            count += 1
            if after == here:
                yield max(count, low), here  # the same positions at every later count
                return
            here = after

    def prefix(self, node: _Node, start: int, proper: bool) -> bool:
        """Whether keys[start:] starts a match of ``node``: one that may be exactly it
        (``proper`` False) or one that must be longer (``proper`` True)."""
        if start == self.size:
            # Nothing left to read: any match will do, or any non-empty one.
            return self.facts.grows(node) if proper else self.facts.productive(node)
        key = (node, start, proper)
        found = self._prefix.get(key)
        if found is None:
            self._prefix[key] = False
            found = self._prefix[key] = self._compute_prefix(node, start, proper)
        return found

    def _compute_prefix(self, node: _Node, start: int, proper: bool) -> bool:
        # Here start < size: at least one key is still to be read.
        match node:
            case _Key(key):
                return not proper and self.keys[start:] == key
            case _Seq(items):
                here: frozenset[int] = frozenset({start})
                for index, item in enumerate(items):
                    rest_ok = all(self.facts.productive(rest) for rest in items[index + 1 :])
                    if rest_ok and any(self.prefix(item, at, proper) for at in here):
                        return True
                    here = frozenset(end for at in here for end in self.ends(item, at))
                    if not here:
                        return False
                return False  # matching the whole sequence exactly was seen at its last item
            case _Alt(items):
                return any(self.prefix(item, start, proper) for item in items)
            case _Repeat(item, _, high):
                for count, here in self._iterations(item, 0, high, start):
                    if (high is None or count < high) and any(
                        self.prefix(item, at, proper) for at in here
                    ):
                        return True
                return False
            case _Special(kind):
                return kind == "GARBAGE"
            case _Ref(rule):
                return self.prefix(rule.body, start, proper)
            case _BuiltinRef(_, matcher):
                rest = self.keys[start:]
                return matcher.extendable(rest) if proper else matcher.viable(rest)
            case _Tag():
                return False

    # -- the parse used for the interpretation ------------------------------------------

    def derive(self, node: _Node, start: int, end: int) -> list[str | int | _Parse]:
        """The preferred parse of keys[start:end] as ``node`` (it must match there)."""
        match node:
            case _Key(key):
                return [key]
            case _Seq(items):
                return self._derive_seq(items, start, end)
            case _Alt(items):
                for item in items:
                    if end in self.ends(item, start):
                        return self.derive(item, start, end)
                raise AssertionError("no alternative matches")
            case _Repeat(item, low, high):
                return self._derive_repeat(item, low, high, start, end)
            case _Special():
                return []  # GARBAGE keys are not tokens: they are not in the text
            case _Ref(rule):
                return [_Parse(rule.name, self.derive(rule.body, start, end))]
            case _BuiltinRef(name, matcher):
                matched = matcher.match(self.keys[start:end])
                assert matched is not None
                value = matched.value
                return [_Parse(name, [self.keys[start:end]], value, fixed=True)]
            case _Tag(index):
                return [index]

    def _derive_seq(
        self, items: tuple[_Node, ...], start: int, end: int
    ) -> list[str | int | _Parse]:
        # Positions from which items[k:] can still end exactly at ``end``, built backwards.
        finishing: list[frozenset[int]] = [frozenset({end})]
        for item in reversed(items[1:]):
            after = finishing[-1]
            finishing.append(
                frozenset(at for at in range(start, end + 1) if self.ends(item, at) & after)
            )
        finishing.reverse()
        parse: list[str | int | _Parse] = []
        at = start
        for item, after in zip(items, finishing, strict=True):
            # The earlier part takes as many keys as still lets the rest match (GARBAGE as
            # few: it stands for whatever comes before the next thing that matches).
            choices = self.ends(item, at) & after
            to = min(choices) if isinstance(item, _Special) else max(choices)
            parse += self.derive(item, at, to)
            at = to
        return parse

    def _derive_repeat(
        self, item: _Node, low: int, high: int | None, start: int, end: int
    ) -> list[str | int | _Parse]:
        # Non-empty repetitions first; an item that can match nothing fills up to ``low``
        # with empty repetitions at the end.
        need = 0 if self.facts.nullable(item) else low
        most = end - start if high is None else min(high, end - start)
        # good[t]: positions after t repetitions from which ``end`` is still reachable.
        good: list[set[int]] = [set() for _ in range(most + 1)]
        for count in range(most, -1, -1):
            for at in range(start, end + 1):
                done = at == end and count >= need
                if done or (
                    count < most
                    and any(to > at and to in good[count + 1] for to in self.ends(item, at))
                ):
                    good[count].add(at)
        parse: list[str | int | _Parse] = []
        at, count = start, 0
        while at != end:
            to = max(to for to in self.ends(item, at) if to > at and to in good[count + 1])
            parse += self.derive(item, at, to)
            at, count = to, count + 1
        for _ in range(count, low):
            parse += self.derive(item, end, end)
        return parse


# -- SRGS: semantic interpretation -----------------------------------------------------------

_UNSET: Final = object()

_SISR = r"""
function __sisr_rule(__sisr_node) {
  var __sisr_latest, __sisr_latest_meta, __sisr_child = false, __sisr_tagged = false;
  var __sisr_i, __sisr_item, __sisr_v;
  var out = {}, rules = {}, meta = {};
  Object.defineProperty(rules, "latest", {value: function () { return __sisr_latest; }});
  Object.defineProperty(meta, "latest", {value: function () { return __sisr_latest_meta; }});
  Object.defineProperty(meta, "current", {
    value: function () { return {text: __sisr_node.t, score: 1.0}; }
  });
  for (__sisr_i = 0; __sisr_i < __sisr_node.c.length; __sisr_i++) {
    __sisr_item = __sisr_node.c[__sisr_i];
    if (typeof __sisr_item === "number") {
      __sisr_tagged = true;
      __sisr_v = eval(__sisr_data.src[__sisr_item]);
      if (__sisr_data.value[__sisr_item] && __sisr_v !== undefined) out = __sisr_v;
    } else {
      __sisr_child = true;
      __sisr_latest = "v" in __sisr_item ? __sisr_item.v : __sisr_rule(__sisr_item);
      __sisr_latest_meta = {text: __sisr_item.t, score: 1.0};
      rules[__sisr_item.r] = __sisr_latest;
      meta[__sisr_item.r] = __sisr_latest_meta;
    }
  }
  if (__sisr_tagged) return out;
  return __sisr_child ? __sisr_latest : __sisr_node.t;
}
"""


def _tree(parse: _Parse) -> dict[str, object]:
    """The parse as JSON data for the script side: rule name, text, items (tag indexes and
    referenced rules; keys are in the text)."""
    if parse.fixed:
        return {"r": parse.name, "t": parse.text, "v": parse.value, "c": []}
    return {
        "r": parse.name,
        "t": parse.text,
        "c": [
            item if isinstance(item, int) else _tree(item)
            for item in parse.items
            if not isinstance(item, str)
        ],
    }


def _plain_value(parse: _Parse, tags: list[_TagCode]) -> object:
    """The value when every tag in the parse is a literal: no script engine needed."""
    if parse.fixed:
        return parse.value
    out: object = _UNSET
    latest: object = _UNSET
    for item in parse.items:
        if isinstance(item, _Parse):
            latest = _plain_value(item, tags)
        elif isinstance(item, int):
            out = tags[item].text
    if out is not _UNSET:
        return out
    return parse.text if latest is _UNSET else latest


def _has_script(parse: _Parse, tags: list[_TagCode]) -> bool:
    return any(
        (isinstance(item, int) and tags[item].kind != "literal")
        or (isinstance(item, _Parse) and _has_script(item, tags))
        for item in parse.items
    )


def _script_value(parse: _Parse, tags: list[_TagCode], headers: list[str]) -> object:
    """The value computed by SISR scripts. Raises ``quickjs.JSException`` when a script
    throws or exceeds the limits."""
    context = quickjs.Context()
    context.set_memory_limit(SCRIPT_MEMORY_LIMIT_BYTES)
    context.set_time_limit(SCRIPT_TIME_LIMIT_S)
    context.set_max_stack_size(_SCRIPT_STACK_BYTES)
    data = {
        "src": [json.dumps(tag.text) if tag.kind == "literal" else tag.text for tag in tags],
        "value": [tag.kind != "script" for tag in tags],
    }
    context.set("__sisr_json", json.dumps(data))
    context.eval("var __sisr_data = JSON.parse(__sisr_json);" + _SISR)
    for header in headers:
        context.eval(header)
    context.set("__sisr_json", json.dumps(_tree(parse)))
    result = context.eval("JSON.stringify([__sisr_rule(JSON.parse(__sisr_json))])")
    return json.loads(result)[0]


# -- SRGS: the matcher ---------------------------------------------------------------------


class _Grammar:
    """An SRGS grammar compiled for matching."""

    def __init__(self, compiler: _Compiler, root: _Rule) -> None:
        rules = _reachable(root)
        self._facts = _Facts(rules)
        _check_left_recursion(rules, self._facts)
        self._start: _Node = _Ref(root)
        self._tags = compiler.tags
        self._headers = compiler.headers
        self.max_length = self._facts.max_length(self._start)

    def _run(self, keys: str) -> _Run:
        return _Run(self._facts, keys)

    def match(self, keys: str) -> Match | None:
        try:
            run = self._run(keys)
            if len(keys) not in run.ends(self._start, 0):
                return None
            (parse,) = run.derive(self._start, 0, len(keys))
        except RecursionError:
            # Deep right recursion over a long key string: treated as no match rather
            # than grown into a crash.
            return None
        assert isinstance(parse, _Parse)
        if not _has_script(parse, self._tags):
            return Match(_plain_value(parse, self._tags), keys)
        try:
            value = _script_value(parse, self._tags, self._headers)
        except quickjs.JSException:
            return None  # see the module docstring: a failing script means no match
        return Match(value, keys)

    def viable(self, keys: str) -> bool:
        try:
            return self._run(keys).prefix(self._start, 0, proper=False)
        except RecursionError:
            return False

    def extendable(self, keys: str) -> bool:
        try:
            return self._run(keys).prefix(self._start, 0, proper=True)
        except RecursionError:
            return False


def srgs_mode(document: bytes, media_type: str | None = None) -> str:
    """The mode of an SRGS grammar (either form; ``media_type`` as declared, if any):
    "dtmf" or "voice" (the SRGS default). Raises ``GrammarError`` when the document is not
    an SRGS grammar, ``Unsupported`` when it is in another grammar format."""
    return _mode(_grammar_root(document, media_type))


def external_refs(document: bytes, media_type: str | None = None) -> tuple[str, ...]:
    """The grammars an SRGS document references by URI (without #fragment, in document
    order, each once, as written: the caller resolves them against the document's URI),
    other than builtins. ``srgs`` needs each in ``externals``."""
    root = _grammar_root(document, media_type)
    found: dict[str, None] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).localname != "ruleref":
            continue
        uri = (element.get("uri") or "").strip()
        base = uri.partition("#")[0]
        if base and not uri.startswith("builtin:"):
            found[base] = None
    return tuple(found)


def srgs(
    document: bytes,
    *,
    fragment: str | None = None,
    externals: Mapping[str, bytes] | None = None,
    media_type: str | None = None,
) -> Matcher:
    """The grammar of an SRGS 1.0 document in mode "dtmf", in either form: a fetched
    .grxml or .gram (ABNF), or an inline ``<grammar>`` element serialized (with rules, or
    ABNF text). ``media_type`` is the declared type, where the content does not say it
    (see ``_grammar_root``). ``fragment`` names the rule to start at (a
    URI's #fragment; it must be public), else the grammar's ``root``. ``externals`` holds
    the documents of the grammars named by external rule references, keyed by URI as
    written (see ``external_refs``; their own references are looked up there too).

    Raises ``GrammarError`` for a document that is not a usable DTMF SRGS grammar (including
    a voice grammar: check ``srgs_mode`` first), ``Unsupported`` (error.unsupported.format)
    for another grammar format, an unsupported tag-format, a missing external grammar or a
    left-recursive rule."""
    compiler = _Compiler(externals)
    main = compiler.load("", document, media_type)
    root = _entry_rule(main, fragment, "grammar" if fragment is None else f"grammar #{fragment}")
    compiler.run()
    return _Grammar(compiler, root)
