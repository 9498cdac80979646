"""The ABNF form of SRGS 1.0 (section 4 and the rule expansions of section 2), read into the
XML form it maps to, so that ``inputs`` compiles both forms alike: one matcher, one SISR.

SRGS 1.0 makes the two forms "mappable": each ABNF construct has an XML element.

===============================  ==================================================
ABNF                             XML
===============================  ==================================================
``#ABNF 1.0 UTF-8;``             ``<grammar version="1.0">`` (section 4.1; the
                                 encoding decodes the bytes, section 4.4)
``language en-US;``              ``xml:lang="en-US"`` (4.5)
``mode dtmf;``                   ``mode="dtmf"`` (4.6)
``root $main;``                  ``root="main"`` (4.7)
``tag-format <semantics/1.0>;``  ``tag-format="semantics/1.0"`` (4.8)
``base <uri>;``                  ``xml:base`` (4.9)
``lexicon``, ``meta``,           read and left out: nothing in a DTMF match uses them
``http-equiv`` (4.10, 4.11)
``{ ... };`` in the header       ``<tag>`` of the grammar (4.12)
``public $r = ...;``             ``<rule id="r" scope="public">`` (3.1, 3.2)
``1`` ``"*"`` ``star``           ``<token>`` (2.1)
``$r`` ``$<uri#r>`` ``$NULL``    ``<ruleref uri="#r">``, ``uri="uri#r"``, ``special``
                                 (2.2; ``~<media-type>`` gives ``type``)
``a b``                          a sequence (2.3)
``( ... )``                      ``<item>`` (2.3)
``/2/ a | /1/ b``                ``<one-of><item weight="2">`` ... (2.4)
``[ ... ]``                      ``<item repeat="0-1">`` (2.5)
``x <2-4 /0.5/>``                ``<item repeat="2-4" repeat-prob="0.5">`` (2.5)
``{ ... }``, ``{!{ ... }!}``     ``<tag>`` (2.6)
``!en-US``                       read and left out: DTMF has no language (2.7)
===============================  ==================================================

Precedence (2.8), tightest first: tokens, references, tags and brackets; repeats and
language attachments (postfix, binding the one thing just before); sequences;
alternatives. Comments are ``//`` to the end of the line and ``/* ... */`` (``/** ... */``
documentation comments included).

Choices: the ``#ABNF`` header may follow white space (an inline grammar in a VoiceXML
document starts on a new line), and may be left out where the caller already knows the text
is ABNF (an inline grammar of type application/srgs). ``*`` and ``#`` are tokens unquoted
too (SRGS appendix on DTMF asks authors to quote ``*``; ``/*`` still starts a comment).
A declaration may appear once, before the first rule. Errors give the line.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped]

__all__ = ["AbnfError", "decode", "sniff", "to_xml"]

SRGS_NS = "http://www.w3.org/2001/06/grammar"
_XML_NS = "http://www.w3.org/XML/1998/namespace"


class AbnfError(ValueError):
    """An ABNF grammar written wrongly; the message starts with the line."""


# -- bytes to text -----------------------------------------------------------------------

_HEADER = re.compile(r"[ \t\r\n]*#ABNF[ \t]+(\S+?)(?:[ \t]+([^;\s]+))?[ \t]*;")


def _bom(document: bytes) -> tuple[str | None, bytes]:
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if document.startswith(bom):
            return encoding, document[len(bom) :]
    # UTF-16 without a byte order mark: "#" or "<" next to a NUL byte.
    if len(document) >= 2 and document[1] == 0 and document[0] != 0:
        return "utf-16-le", document
    if len(document) >= 2 and document[0] == 0 and document[1] != 0:
        return "utf-16-be", document
    return None, document


def sniff(document: bytes) -> str | None:
    """What a grammar document says it is by its first characters: "abnf" (``#ABNF``),
    "jsgf" (``#JSGF``), "xml" (``<``), or None."""
    encoding, body = _bom(document)
    head = body[:256].decode(encoding or "latin-1", errors="replace").lstrip()
    if head.startswith("#ABNF"):
        return "abnf"
    if head.startswith("#JSGF"):
        return "jsgf"
    if head.startswith("<"):
        return "xml"
    return None


def decode(document: bytes) -> str:
    """The text of an ABNF document: a byte order mark, else the header's encoding, else
    UTF-8 (SRGS 1.0 section 4.4). Raises ``AbnfError`` for an unknown encoding or bytes
    that are not in it."""
    encoding, body = _bom(document)
    if encoding is None:
        header = _HEADER.match(body[:256].decode("latin-1"))
        encoding = header.group(2) if header and header.group(2) else "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise AbnfError(f"line 1: #ABNF header: unknown encoding {encoding!r}") from None
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise AbnfError(f"the grammar is not {encoding}: {exc.reason} at byte {exc.start}") from exc


# -- the scanner -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word quoted ref uri tag repeat weight lang ; = | ( ) [ ] end
    text: str
    line: int


_SYMBOLS = frozenset(";=|()[]")
# Characters that end a word: white space and the ABNF symbols.
_WORD = re.compile(r"[^\s;=|()\[\]<>{}$\"!/]+")
_NAME = re.compile(r"\w+")
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_WEIGHT = re.compile(rf"/\s*({_NUMBER})\s*/")
_REPEAT = re.compile(rf"\s*(\d+)\s*(?:(-)\s*(\d+)?)?\s*(?:/\s*({_NUMBER})\s*/)?\s*")
_LANG = re.compile(r"[A-Za-z0-9-]+")
_KEYWORD = re.compile(r"[A-Za-z-]+")
_VALUE = re.compile(r"[^\s;]+")
# Brackets and repeats nested deeper than this are refused: reading and compiling them
# recurses, and the XML form cannot nest deeper either (its parser stops at 256 elements).
MAX_NESTING = 100


class _Scanner:
    """Tokens of the text after the header, skipping white space and comments. ``<``
    opens a URI after ``$`` and in declarations, a repeat elsewhere."""

    def __init__(self, text: str, start: int, line: int) -> None:
        self.text = text
        self.at = start
        self.line = line

    def error(self, message: str, line: int | None = None) -> AbnfError:
        return AbnfError(f"line {self.line if line is None else line}: {message}")

    def skip(self) -> None:
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char.isspace():
                if char == "\n":
                    self.line += 1
                self.at += 1
            elif text.startswith("//", self.at):
                end = text.find("\n", self.at)
                self.at = len(text) if end < 0 else end
            elif text.startswith("/*", self.at):
                end = text.find("*/", self.at + 2)
                if end < 0:
                    raise self.error("a /* comment is not closed")
                self.line += text.count("\n", self.at, end)
                self.at = end + 2
            else:
                return

    def take(self, length: int) -> str:
        piece = self.text[self.at : self.at + length]
        self.line += piece.count("\n")
        self.at += length
        return piece

    def _until(self, closing: str, what: str) -> str:
        end = self.text.find(closing, self.at)
        if end < 0:
            raise self.error(f"{what} is not closed with {closing!r}")
        return self.take(end - self.at + len(closing))[: -len(closing)]

    def angle(self, what: str) -> str:
        """``<...>`` (a URI or a media type), the scanner at its ``<``."""
        self.skip()
        if not self.text.startswith("<", self.at):
            raise self.error(f"{what}: expected <...>")
        self.take(1)
        return self._until(">", f"{what} <...").strip()

    def peek_word(self) -> str | None:
        """The keyword at the scanner (after white space), without taking it."""
        self.skip()
        found = _KEYWORD.match(self.text, self.at)
        return found.group() if found else None

    def next(self) -> _Token:
        self.skip()
        text, at, line = self.text, self.at, self.line
        if at >= len(text):
            return _Token("end", "", line)
        char = text[at]
        if char in _SYMBOLS:
            self.take(1)
            return _Token(char, char, line)
        if char == '"':
            self.take(1)
            return _Token("quoted", self._until('"', "a quoted token"), line)
        if char == "$":
            self.take(1)
            if text.startswith("<", self.at):
                return _Token("uri", self.angle("a rule reference $<"), line)
            name = _NAME.match(text, self.at)
            if name is None:
                raise self.error("$ is not followed by a rule name or <uri>")
            return _Token("ref", self.take(len(name.group())), line)
        if char == "{":
            if text.startswith("{!{", at):
                self.take(3)
                return _Token("tag", self._until("}!}", "a tag {!{"), line)
            self.take(1)
            return _Token("tag", self._until("}", "a tag {"), line)
        if char == "<":
            self.take(1)
            return _Token("repeat", self._until(">", "a repeat <"), line)
        if char == "/":
            weight = _WEIGHT.match(text, at)
            if weight is None:
                raise self.error("'/' is not a weight /number/ or a comment")
            self.take(len(weight.group()))
            return _Token("weight", weight.group(1), line)
        if char == "!":
            self.take(1)
            lang = _LANG.match(text, self.at)
            if lang is None:
                raise self.error("'!' is not followed by a language")
            return _Token("lang", self.take(len(lang.group())), line)
        word = _WORD.match(text, at)
        if word is None:
            raise self.error(f"unexpected {char!r}")
        return _Token("word", self.take(len(word.group())), line)


# -- the parser --------------------------------------------------------------------------


def _element(tag: str, attributes: Mapping[str, str] | None = None) -> etree._Element:
    element = etree.Element(f"{{{SRGS_NS}}}{tag}")
    for key, value in (attributes or {}).items():
        element.set(key, value)
    return element


class _Parser:
    def __init__(self, scanner: _Scanner) -> None:
        self.scanner = scanner
        self.token = scanner.next()
        self.depth = 0  # brackets and repeats open around the current expansion
        self.rules: dict[str, int] = {}  # rule name -> line of its definition
        self.references: list[tuple[str, int]] = []  # local references and their lines

    def error(self, message: str) -> AbnfError:
        return self.scanner.error(message, self.token.line)

    def advance(self) -> _Token:
        token, self.token = self.token, self.scanner.next()
        return token

    def expect(self, kind: str, what: str) -> _Token:
        if self.token.kind != kind:
            found = "the end" if self.token.kind == "end" else repr(self.token.text)
            wanted = "$name" if kind == "ref" else repr(kind)
            raise self.error(f"{what}: expected {wanted}, found {found}")
        return self.advance()

    # rule expansions (SRGS 1.0 section 2) -------------------------------------------

    def alternatives(self, rule: str) -> list[etree._Element]:
        """Alternatives up to a closing bracket or ``;``: one sequence as is, several as a
        ``<one-of>``."""
        choices: list[tuple[str | None, list[etree._Element]]] = []
        while True:
            weight = self.advance().text if self.token.kind == "weight" else None
            sequence = self.sequence(rule)
            if not sequence:
                raise self.error(f"rule ${rule}: an empty alternative (write $NULL)")
            choices.append((weight, sequence))
            if self.token.kind != "|":
                break
            self.advance()
        if len(choices) == 1 and choices[0][0] is None:
            return choices[0][1]
        one_of = _element("one-of")
        for weight, sequence in choices:
            item = _element("item", {} if weight is None else {"weight": weight})
            item.extend(sequence)
            one_of.append(item)
        return [one_of]

    def sequence(self, rule: str) -> list[etree._Element]:
        items: list[etree._Element] = []
        while self.token.kind in ("word", "quoted", "ref", "uri", "tag", "(", "["):
            items.append(self.unit(rule))
        return items

    def nest(self, rule: str, levels: int) -> None:
        if levels > MAX_NESTING:
            raise self.error(f"rule ${rule}: brackets and repeats nested deeper than {MAX_NESTING}")

    def unit(self, rule: str) -> etree._Element:
        element = self.primary(rule)
        stacked = 0
        while self.token.kind in ("repeat", "lang"):
            token = self.advance()
            if token.kind == "lang":
                continue  # SRGS appendix on DTMF: language is ignored
            stacked += 1
            self.nest(rule, self.depth + stacked)
            item = _element("item", self.repeat(token))
            item.append(element)
            element = item
        return element

    def repeat(self, token: _Token) -> dict[str, str]:
        found = _REPEAT.fullmatch(token.text)
        if found is None:
            raise self.error(f"<{token.text}>: a repeat is <n>, <n-m> or <n-> (/probability/)")
        low, dash, high, probability = found.groups()
        if high is not None and int(high) < int(low):
            raise self.error(f"<{token.text}>: {high} is less than {low}")
        attributes = {"repeat": low + (dash or "") + (high or "")}
        if probability is not None:
            if not 0.0 <= float(probability) <= 1.0:
                raise self.error(f"<{token.text}>: the probability is between 0 and 1")
            attributes["repeat-prob"] = probability
        return attributes

    def primary(self, rule: str) -> etree._Element:
        token = self.advance()
        match token.kind:
            case "word" | "quoted":
                element = _element("token")
                element.text = token.text
                return element
            case "ref":
                if token.text in ("NULL", "VOID", "GARBAGE"):
                    return _element("ruleref", {"special": token.text})
                self.references.append((token.text, token.line))
                return _element("ruleref", {"uri": "#" + token.text})
            case "uri":
                return self.media_type(_element("ruleref", {"uri": token.text}))
            case "tag":
                element = _element("tag")
                element.text = token.text
                return element
            case "(" | "[":
                closing = ")" if token.kind == "(" else "]"
                inner: list[etree._Element] = []
                self.depth += 1
                self.nest(rule, self.depth)
                if self.token.kind != closing:
                    inner = self.alternatives(rule)
                self.depth -= 1
                self.expect(closing, f"rule ${rule}: {token.kind}...")
                item = _element("item", {"repeat": "0-1"} if token.kind == "[" else {})
                item.extend(inner)
                return item
        raise self.error(f"rule ${rule}: unexpected {token.text!r}")

    def media_type(self, ruleref: etree._Element) -> etree._Element:
        """``$<uri>~<media-type>`` (section 2.2.2): the ``~`` is the lookahead token (a
        word), the scanner stands at the ``<`` after it."""
        if self.token.kind == "word" and self.token.text == "~":
            ruleref.set("type", self.scanner.angle("a rule reference's media type ~"))
            self.token = self.scanner.next()
        return ruleref

    # the grammar (SRGS 1.0 sections 3 and 4) --------------------------------------------

    def rule(self, grammar: etree._Element) -> None:
        scope = "private"
        if self.token.kind == "word" and self.token.text in ("public", "private"):
            scope = self.advance().text
        token = self.expect("ref", "a rule definition")
        name, line = token.text, token.line
        if name in ("NULL", "VOID", "GARBAGE"):
            raise self.error(f"${name} is a special rule, it cannot be defined")
        if name in self.rules:
            raise self.error(f"rule ${name} is defined twice (line {self.rules[name]} too)")
        self.rules[name] = line
        self.expect("=", f"rule ${name}")
        element = _element("rule", {"id": name, "scope": scope})
        element.extend(self.alternatives(name))
        self.expect(";", f"rule ${name} ends with ';'")
        grammar.append(element)


_KEYWORDS = ("language", "mode", "root", "tag-format", "base", "lexicon", "meta", "http-equiv")
_ONCE = frozenset({"language", "mode", "root", "tag-format", "base"})
_META = re.compile(r"""\s*("[^"]*"|'[^']*')\s+is\s+("[^"]*"|'[^']*')\s*;""")


def _declarations(scanner: _Scanner, grammar: etree._Element) -> None:
    """The header's declarations (SRGS 1.0 section 4), up to the first rule."""
    seen: dict[str, int] = {}
    while True:
        keyword = scanner.peek_word()
        if keyword not in _KEYWORDS:
            if scanner.text.startswith("{", scanner.at):  # a header tag (section 4.12)
                token = scanner.next()
                tag = _element("tag")
                tag.text = token.text
                grammar.append(tag)
                scanner.skip()
                if scanner.text.startswith(";", scanner.at):
                    scanner.take(1)
                continue
            return
        line = scanner.line
        if keyword in _ONCE and keyword in seen:
            raise scanner.error(f"{keyword} is declared twice (line {seen[keyword]} too)")
        seen[keyword] = line
        scanner.take(len(keyword))
        if keyword in ("meta", "http-equiv"):
            found = _META.match(scanner.text, scanner.at)
            if found is None:
                raise scanner.error(f'{keyword}: write {keyword} "name" is "content";')
            scanner.take(len(found.group()))
            continue
        if keyword in ("tag-format", "base", "lexicon"):
            scanner.skip()
            if scanner.text.startswith("<", scanner.at):
                value = scanner.angle(keyword)
                if keyword == "lexicon" and scanner.text.startswith("~", scanner.at):
                    scanner.take(1)
                    scanner.angle("lexicon media type")
            else:  # leniently, without the angle brackets
                value = _value(scanner, keyword)
        elif keyword == "root":
            token = scanner.next()
            if token.kind != "ref":
                raise scanner.error("root: write root $name;")
            value = token.text
        else:
            value = _value(scanner, keyword)
        _end(scanner, keyword)
        if keyword == "mode" and value not in ("voice", "dtmf"):
            raise scanner.error(f"mode {value}: the mode is voice or dtmf")
        attribute = {
            "language": f"{{{_XML_NS}}}lang",
            "base": f"{{{_XML_NS}}}base",
        }.get(keyword, keyword)
        if keyword != "lexicon":
            grammar.set(attribute, value)


def _value(scanner: _Scanner, keyword: str) -> str:
    scanner.skip()
    found = _VALUE.match(scanner.text, scanner.at)
    if found is None:
        raise scanner.error(f"{keyword}: the value is missing")
    return scanner.take(len(found.group()))


def _end(scanner: _Scanner, keyword: str) -> None:
    scanner.skip()
    if not scanner.text.startswith(";", scanner.at):
        raise scanner.error(f"{keyword} ... ends with ';'")
    scanner.take(1)


def to_xml(
    text: str,
    *,
    header_required: bool = True,
    defaults: Mapping[str, str] | None = None,
) -> etree._Element:
    """The ``<grammar>`` element (SRGS 1.0 XML form) of the ABNF grammar ``text``.
    ``defaults`` (``mode``, ``root``, ``tag-format``, ``xml:lang`` as XML attribute names)
    fill what the header leaves undeclared: the attributes of an inline ``<grammar>``.
    Raises ``AbnfError`` naming the line."""
    text = text.removeprefix("\ufeff")
    grammar = _element("grammar", {"version": "1.0"})
    header = _HEADER.match(text)
    if header is not None:
        if header.group(1) != "1.0":
            raise AbnfError(f"line 1: #ABNF {header.group(1)}: SRGS ABNF 1.0 is needed")
        start = header.end()
        line = 1 + text.count("\n", 0, start)
    elif header_required:
        raise AbnfError("line 1: an ABNF grammar starts with the header #ABNF 1.0;")
    else:
        start, line = 0, 1
    scanner = _Scanner(text, start, line)
    _declarations(scanner, grammar)
    for key, value in (defaults or {}).items():
        name = f"{{{_XML_NS}}}lang" if key == "xml:lang" else key
        if grammar.get(name) is None:
            grammar.set(name, value)
    parser = _Parser(scanner)
    while parser.token.kind != "end":
        if parser.token.kind == "word" and parser.token.text in _KEYWORDS:
            raise parser.error(f"{parser.token.text}: declarations come before the rules")
        parser.rule(grammar)
    for name, ref_line in parser.references:
        if name not in parser.rules:
            raise AbnfError(f"line {ref_line}: ${name}: there is no rule {name!r}")
    root = grammar.get("root")
    if root is not None and root not in parser.rules:
        raise AbnfError(f"root ${root}: there is no rule {root!r}")
    return grammar
