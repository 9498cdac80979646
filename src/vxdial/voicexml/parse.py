"""VoiceXML text -> ``model.VxmlDocument``, checked, with a small cache of parsed documents.

Elements may be in the VoiceXML namespace (http://www.w3.org/2001/vxml) or in none;
elements of other namespaces are ignored. A body that is not well-formed, not ``<vxml>``,
or breaks a rule the interpreter relies on (an attribute an element needs, an unknown
element, two exclusive attributes together) raises ``DocumentError``: the caller throws
``error.badfetch`` (VoiceXML 2.0 section 5.2.6: "a document that is not valid").
Elements parsed but not run (``<object>``) throw ``error.unsupported.<element>`` only
when visited.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from urllib.parse import urljoin

from lxml import etree  # type: ignore[import-untyped]

from vxdial.voicexml import inputs, model

__all__ = ["VXML_NS", "DocumentError", "load", "parse"]

VXML_NS = "http://www.w3.org/2001/vxml"
SRGS_NS = "http://www.w3.org/2001/06/grammar"
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"
_XML_BASE = _XML_NS + "base"
_XML_LANG = _XML_NS + "lang"

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_REFERENCE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*\Z")
_DTMF = re.compile(r"[0-9*#A-Da-d]+\Z")

_CATCHES = frozenset({"catch", "error", "help", "noinput", "nomatch"})
# Prompt content that may also stand directly in executable content (an implicit prompt).
_INLINE = frozenset(
    {
        "value",
        "audio",
        "enumerate",
        "break",
        "mark",
        "say-as",
        "emphasis",
        "prosody",
        "voice",
        "sub",
        "phoneme",
        "p",
        "s",
        "paragraph",
        "sentence",
        "lang",
    }
)
_SSML = frozenset({"say-as", "emphasis", "prosody", "voice", "sub", "phoneme", "lang"})
_SILENT = frozenset({"meta", "metadata", "lexicon", "desc"})
_ENCTYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# The cache of parsed documents is shared by every call of the process, so it is bounded
# by bytes, not by count: the bodies it holds (a parsed model costs about as much again),
# and a document larger than an eighth of that is parsed for its call but not kept.
CACHE_MAX_BYTES = 16 * 1024 * 1024
_CACHE_ENTRY_MAX_BYTES = CACHE_MAX_BYTES // 8


class DocumentError(Exception):
    """The body is not a usable VoiceXML document; the message says where and why."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
    )


_PARSER = _parser()
_cache: OrderedDict[tuple[str, bytes], model.VxmlDocument] = OrderedDict()
_cache_bytes = 0
_cache_lock = threading.Lock()  # sessions parse on threads of their own (voicexml.isolation)


def load(url: str, body: bytes) -> model.VxmlDocument:
    """``parse``, remembering recent documents by (url, body), least recently used out
    first, within ``CACHE_MAX_BYTES`` of bodies."""
    global _cache_bytes
    key = (url, body)
    with _cache_lock:
        document = _cache.get(key)
        if document is not None:
            _cache.move_to_end(key)
            return document
    document = parse(url, body)
    size = len(url) + len(body)
    if size <= _CACHE_ENTRY_MAX_BYTES:
        with _cache_lock:
            if key not in _cache:
                _cache[key] = document
                _cache_bytes += size
            while _cache_bytes > CACHE_MAX_BYTES:
                (old_url, old_body), _ = _cache.popitem(last=False)
                _cache_bytes -= len(old_url) + len(old_body)
    return document


def cache_bytes() -> int:
    """The bytes of document bodies (and URLs) the parse cache holds now."""
    return _cache_bytes


def parse(url: str, body: bytes) -> model.VxmlDocument:
    """The document at ``url`` whose text is ``body``; raises ``DocumentError``."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise DocumentError(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise DocumentError("empty document")
    return _Parser(url).document(root)


def _tag(element: etree._Element) -> str | None:
    """The VoiceXML element name, or None for comments and foreign elements."""
    tag = element.tag
    if not isinstance(tag, str):
        return None
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        if namespace == VXML_NS or (namespace == SRGS_NS and local == "grammar"):
            return local  # an inline grammar may be written in the SRGS namespace
        return None
    return tag


def _line(element: etree._Element) -> int:
    return element.sourceline or 0


def _abnf_text(element: etree._Element, media_type: str | None) -> bool:
    """Whether an inline ``<grammar>`` holds ABNF text (SRGS 1.0 section 4)."""
    if any(isinstance(child.tag, str) for child in element):
        return False
    return inputs.is_abnf_text(element.text or "", media_type)


class _Parser:
    def __init__(self, url: str) -> None:
        self.url = url
        self.generated = 0

    def error(self, element: etree._Element, message: str) -> DocumentError:
        return DocumentError(f"line {_line(element)}: {message}")

    # -- attributes ---------------------------------------------------------------

    def required(self, element: etree._Element, tag: str, name: str) -> str:
        value = element.get(name)
        if value is None or not value.strip():
            raise self.error(element, f"<{tag}> needs a {name} attribute")
        return str(value)

    def one_of(
        self, element: etree._Element, tag: str, *names: str, optional: bool = False
    ) -> None:
        given = [name for name in names if element.get(name) is not None]
        if len(given) > 1 or (not given and not optional):
            choices = ", ".join(names)
            raise self.error(
                element,
                f"<{tag}> needs exactly one of {choices} (has {', '.join(given) or 'none'})",
            )

    def count(self, element: etree._Element, tag: str) -> int:
        text = (element.get("count") or "1").strip()
        if not text.isascii() or not text.isdigit() or int(text) < 1:
            raise self.error(element, f"<{tag} count={text!r}>: count is a whole number >= 1")
        return int(text)

    def boolean(self, element: etree._Element, tag: str, name: str) -> bool | None:
        text: str | None = element.get(name)
        if text is None:
            return None
        if text.strip() in ("true", "false"):
            return text.strip() == "true"
        raise self.error(element, f"<{tag} {name}={text!r}>: {name} is true or false")

    def identifier(self, element: etree._Element, tag: str, name: str) -> str:
        value = self.required(element, tag, name).strip()
        if not _IDENTIFIER.match(value):
            raise self.error(element, f"<{tag} {name}={value!r}>: not a variable name")
        return value

    def namelist(self, element: etree._Element, tag: str) -> tuple[str, ...]:
        names = tuple((element.get("namelist") or "").split())
        for name in names:
            if not _REFERENCE.match(name):
                raise self.error(element, f"<{tag} namelist>: {name!r} is not a variable name")
        return names

    def item_name(self, element: etree._Element, tag: str) -> str:
        if element.get("name") is None:
            self.generated += 1
            return f"#{tag}{self.generated}"  # never an ECMAScript identifier
        return self.identifier(element, tag, "name")

    def fetch(self, element: etree._Element) -> model.Fetch:
        timeout, maxage, maxstale = (
            element.get("fetchtimeout"),
            element.get("maxage"),
            element.get("maxstale"),
        )
        if timeout is None and maxage is None and maxstale is None:
            return model.NO_FETCH
        return model.Fetch(timeout, maxage, maxstale)

    def method(self, element: etree._Element, tag: str) -> str:
        method = (element.get("method") or "get").strip().upper()
        if method not in ("GET", "POST"):
            raise self.error(element, f"<{tag} method={method.lower()!r}>: get or post")
        return method

    def enctype(self, element: etree._Element, tag: str) -> str:
        enctype = (element.get("enctype") or "application/x-www-form-urlencoded").strip()
        if enctype not in _ENCTYPES:
            raise self.error(
                element,
                f"<{tag} enctype={enctype!r}>: application/x-www-form-urlencoded"
                " or multipart/form-data",
            )
        return enctype

    # -- document and dialogs -------------------------------------------------------

    def document(self, root: etree._Element) -> model.VxmlDocument:
        tag = _tag(root)
        if tag != "vxml":
            name = etree.QName(root)
            found = (
                name.localname
                if name.namespace is None
                else f"{name.localname} in {name.namespace}"
            )
            raise DocumentError(
                f"the root element is <{found}>, not <vxml> (namespace {VXML_NS} or none)"
            )
        version = (root.get("version") or "2.1").strip()
        if version not in ("2.0", "2.1"):
            raise self.error(root, f"VoiceXML version {version!r} is not supported (2.0, 2.1)")
        base = urljoin(self.url, root.get(_XML_BASE) or "")
        init: list[model.Var | model.Script | model.Data] = []
        catches: list[model.Catch] = []
        properties: dict[str, str] = {}
        links: list[model.Link] = []
        dialogs: list[model.Dialog] = []
        for child in root:
            ctag = _tag(child)
            if ctag is None or ctag in _SILENT:
                continue
            if ctag == "var":
                init.append(self.var(child))
            elif ctag == "script":
                init.append(self.script(child))
            elif ctag == "data":
                init.append(self.data(child))
            elif ctag in _CATCHES:
                catches.append(self.catch(child, ctag))
            elif ctag == "property":
                self.property(child, properties)
            elif ctag == "form":
                dialogs.append(self.form(child))
            elif ctag == "menu":
                dialogs.append(self.menu(child))
            elif ctag == "link":
                links.append(self.link(child))
            else:
                raise self.error(child, f"<{ctag}> is not allowed in <vxml>")
        ids = [dialog.id for dialog in dialogs if dialog.id is not None]
        if len(ids) != len(set(ids)):
            raise self.error(root, "two dialogs have the same id")
        application = root.get("application")
        return model.VxmlDocument(
            url=self.url,
            base=base,
            version=version,
            lang=root.get(_XML_LANG),
            application=application.strip() if application and application.strip() else None,
            init=tuple(init),
            catches=tuple(catches),
            properties=properties,
            links=tuple(links),
            dialogs=tuple(dialogs),
        )

    def form(self, element: etree._Element) -> model.Form:
        init: list[model.Var | model.Script | model.FormItem] = []
        items: list[model.FormItem] = []
        catches: list[model.Catch] = []
        properties: dict[str, str] = {}
        filleds: list[model.Filled | etree._Element] = []  # form-level ones resolved below
        grammars: list[model.Grammar] = []
        links: list[model.Link] = []
        scope = (element.get("scope") or "dialog").strip()
        if scope not in ("dialog", "document"):
            raise self.error(element, f"<form scope={scope!r}>: dialog or document")
        for child in element:
            tag = _tag(child)
            if tag is None or tag in _SILENT:
                continue
            if tag == "var":
                init.append(self.var(child))
            elif tag == "script":
                init.append(self.script(child))
            elif tag == "block":
                item: model.FormItem = self.block(child)
                init.append(item)
                items.append(item)
            elif tag in ("field", "record", "transfer", "subdialog", "initial", "object"):
                item, item_filleds = self.form_item(child, tag)
                init.append(item)
                items.append(item)
                filleds.extend(item_filleds)
            elif tag == "filled":
                filleds.append(child)
            elif tag in _CATCHES:
                catches.append(self.catch(child, tag))
            elif tag == "property":
                self.property(child, properties)
            elif tag == "grammar":
                grammars.append(self.grammar(child, scope))
            elif tag == "link":
                links.append(self.link(child))
            else:
                raise self.error(child, f"<{tag}> is not allowed in <form>")
        names = [item.name for item in items]
        if len(names) != len(set(names)):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise self.error(element, f"two form items are named {duplicate!r}")
        inputs_ = tuple(
            item.name for item in items if not isinstance(item, model.Block | model.Initial)
        )
        resolved = tuple(
            f if isinstance(f, model.Filled) else self.filled(f, None, inputs_, names)
            for f in filleds
        )
        return model.Form(
            id=element.get("id"),
            init=tuple(init),
            items=tuple(items),
            catches=tuple(catches),
            properties=properties,
            filleds=resolved,
            grammars=tuple(grammars),
            links=tuple(links),
            line=_line(element),
        )

    def menu(self, element: etree._Element) -> model.Menu:
        scope = (element.get("scope") or "dialog").strip()
        if scope not in ("dialog", "document"):
            raise self.error(element, f"<menu scope={scope!r}>: dialog or document")
        numbered = self.boolean(element, "menu", "dtmf") or False
        accept = (element.get("accept") or "exact").strip()
        if accept not in ("exact", "approximate"):
            raise self.error(element, f"<menu accept={accept!r}>: exact or approximate")
        prompts: list[model.Prompt] = []
        choices: list[model.Choice] = []
        catches: list[model.Catch] = []
        properties: dict[str, str] = {}
        self.prompts_and(
            element,
            "menu",
            prompts,
            {
                "choice": lambda child: choices.append(self.choice(child, "choice")),
                "property": lambda child: self.property(child, properties),
                **{c: self._catch_into(catches, c) for c in _CATCHES},
            },
        )
        if numbered:
            # VoiceXML 2.0 section 2.2.1: the first nine choices without a dtmf attribute
            # get "1" to "9"; explicit sequences may only be "0", "*" or "#".
            numbers = iter("123456789")
            for i, choice in enumerate(choices):
                if choice.dtmf is not None:
                    if choice.dtmf not in ("0", "*", "#"):
                        raise self.error(
                            element,
                            f"<menu dtmf='true'>: choice {i + 1} has dtmf={choice.dtmf!r}"
                            " (only 0, * or # may be given when choices are numbered)",
                        )
                    continue
                number = next(numbers, None)
                if number is None:
                    break
                choices[i] = _numbered(choice, number)
        return model.Menu(
            id=element.get("id"),
            scope=scope,
            prompts=tuple(prompts),
            choices=tuple(choices),
            catches=tuple(catches),
            properties=properties,
            line=_line(element),
        )

    def choice(self, element: etree._Element, tag: str) -> model.Choice:
        dtmf = element.get("dtmf")
        if dtmf is not None:
            dtmf = dtmf.strip().replace(" ", "")
            if not _DTMF.match(dtmf):
                raise self.error(element, f"<{tag} dtmf={dtmf!r}>: not a DTMF sequence")
        grammars: list[model.Grammar] = []
        pieces: list[str | etree._Element] = []
        for piece in _pieces(element):
            if not isinstance(piece, str) and _tag(piece) == "grammar":
                grammars.append(self.grammar(piece, None))
            else:
                pieces.append(piece)
        parts = _merge([part for piece in pieces for part in self.parts_of_piece(piece)])
        if tag == "option":
            value = element.get("value")
            if value is None:
                value = " ".join(_plain(parts).split())
            if dtmf is not None:
                grammars.insert(0, model.Grammar(keys=dtmf, value=value, line=_line(element)))
            return model.Choice(
                None, None, None, None, None, None, value, dtmf, tuple(grammars), parts,
                model.NO_FETCH, _line(element),
            )  # fmt: skip
        self.one_of(element, "choice", "next", "expr", "event", "eventexpr")
        if element.get("message") is not None and element.get("messageexpr") is not None:
            raise self.error(element, "<choice> takes message or messageexpr, not both")
        if dtmf is not None:
            grammars.insert(0, model.Grammar(keys=dtmf, line=_line(element)))
        return model.Choice(
            next=element.get("next"),
            expr=element.get("expr"),
            event=element.get("event"),
            eventexpr=element.get("eventexpr"),
            message=element.get("message"),
            messageexpr=element.get("messageexpr"),
            value=None,
            dtmf=dtmf,
            grammars=tuple(grammars),
            parts=parts,
            fetch=self.fetch(element),
            line=_line(element),
        )

    def link(self, element: etree._Element) -> model.Link:
        self.one_of(element, "link", "next", "expr", "event", "eventexpr")
        if element.get("message") is not None and element.get("messageexpr") is not None:
            raise self.error(element, "<link> takes message or messageexpr, not both")
        grammars: list[model.Grammar] = []
        dtmf = element.get("dtmf")
        if dtmf is not None:
            dtmf = dtmf.strip().replace(" ", "")
            if not _DTMF.match(dtmf):
                raise self.error(element, f"<link dtmf={dtmf!r}>: not a DTMF sequence")
            grammars.append(model.Grammar(keys=dtmf, line=_line(element)))
        for child in element:
            tag = _tag(child)
            if tag is None or tag in _SILENT:
                continue
            if tag != "grammar":
                raise self.error(child, f"<{tag}> is not allowed in <link>")
            grammars.append(self.grammar(child, None))
        return model.Link(
            next=element.get("next"),
            expr=element.get("expr"),
            event=element.get("event"),
            eventexpr=element.get("eventexpr"),
            message=element.get("message"),
            messageexpr=element.get("messageexpr"),
            grammars=tuple(grammars),
            fetch=self.fetch(element),
            line=_line(element),
        )

    # -- form items -------------------------------------------------------------------

    def block(self, element: etree._Element) -> model.Block:
        return model.Block(
            name=self.item_name(element, "block"),
            expr=element.get("expr"),
            cond=element.get("cond"),
            body=self.content(element, "block"),
            line=_line(element),
        )

    def form_item(
        self, element: etree._Element, tag: str
    ) -> tuple[model.FormItem, list[model.Filled]]:
        """An input item or ``<initial>``, and the ``<filled>`` elements inside it."""
        name = self.item_name(element, tag)
        line = _line(element)
        prompts: list[model.Prompt] = []
        catches: list[model.Catch] = []
        properties: dict[str, str] = {}
        filleds: list[model.Filled] = []
        grammars: list[model.Grammar] = []
        options: list[model.Choice] = []
        links: list[model.Link] = []
        params: list[model.Param] = []
        problem: tuple[str, str] | None = None

        def builtin(spec: str, where: etree._Element) -> None:
            nonlocal problem
            try:
                inputs.check_builtin(spec)
            except inputs.Unsupported as exc:
                problem = problem or (exc.event, f"line {_line(where)}: {exc}")
            except inputs.GrammarError as exc:
                raise self.error(where, str(exc)) from exc
            grammars.append(model.Grammar(builtin=spec.strip(), line=_line(where)))

        def grammar(child: etree._Element) -> None:
            if tag in ("subdialog", "initial", "object"):
                raise self.error(child, f"<grammar> is not allowed in <{tag}>")
            found = self.grammar(child, None)
            if found.builtin is not None:
                builtin(found.builtin, child)
            else:
                grammars.append(found)

        def reject(child: etree._Element) -> None:
            raise self.error(child, f"<{_tag(child)}> is not allowed in <{tag}>")

        handlers = {
            "grammar": grammar,
            "filled": lambda child: (
                reject(child)
                if tag == "initial"
                else filleds.append(self.filled(child, name, (name,), [name]))
            ),
            "property": lambda child: self.property(child, properties),
            "option": lambda child: (
                options.append(self.choice(child, "option")) if tag == "field" else reject(child)
            ),
            "link": lambda child: (
                links.append(self.link(child)) if tag in ("field", "initial") else reject(child)
            ),
            "param": lambda child: (
                params.append(self.param(child))
                if tag in ("subdialog", "object")
                else reject(child)
            ),
            **{c: self._catch_into(catches, c) for c in _CATCHES},
        }
        if tag == "field" and element.get("type") is not None:
            builtin(element.get("type") or "", element)
        self.prompts_and(element, tag, prompts, handlers)
        expr, cond = element.get("expr"), element.get("cond")
        common = {"name": name, "expr": expr, "cond": cond, "line": line}
        if tag == "field":
            for option in options:
                grammars.extend(option.grammars)
            return model.Field(
                **common,
                modal=self.boolean(element, tag, "modal") or False,
                slot=(element.get("slot") or name).strip(),
                grammars=tuple(grammars),
                options=tuple(options),
                grammar_problem=problem,
                prompts=tuple(prompts),
                catches=tuple(catches),
                links=tuple(links),
                properties=properties,
            ), filleds
        if tag == "initial":
            return model.Initial(
                **common,
                prompts=tuple(prompts),
                catches=tuple(catches),
                links=tuple(links),
                properties=properties,
            ), filleds
        if tag == "record":
            dtmfterm = self.boolean(element, tag, "dtmfterm")
            return model.Record(
                **common,
                modal=self.boolean(element, tag, "modal") is not False,
                beep=self.boolean(element, tag, "beep") or False,
                maxtime=element.get("maxtime"),
                finalsilence=element.get("finalsilence"),
                dtmfterm=dtmfterm is not False,
                type=(element.get("type") or "audio/wav").strip(),
                grammars=tuple(grammars),
                prompts=tuple(prompts),
                catches=tuple(catches),
                properties=properties,
            ), filleds
        if tag == "transfer":
            return self.transfer(element, common, grammars, prompts, catches, properties), filleds
        if tag == "subdialog":
            self.one_of(element, "subdialog", "src", "srcexpr")
            return model.Subdialog(
                **common,
                src=element.get("src"),
                srcexpr=element.get("srcexpr"),
                namelist=self.namelist(element, tag),
                method=self.method(element, tag),
                enctype=self.enctype(element, tag),
                params=tuple(params),
                fetch=self.fetch(element),
                prompts=tuple(prompts),
                catches=tuple(catches),
                properties=properties,
            ), filleds
        return model.OtherItem(tag, name, expr, cond, tuple(catches), line), filleds

    def transfer(
        self,
        element: etree._Element,
        common: dict[str, object],
        grammars: list[model.Grammar],
        prompts: list[model.Prompt],
        catches: list[model.Catch],
        properties: dict[str, str],
    ) -> model.Transfer:
        self.one_of(element, "transfer", "dest", "destexpr", optional=True)
        if element.get("aai") is not None and element.get("aaiexpr") is not None:
            raise self.error(element, "<transfer> takes aai or aaiexpr, not both")
        bridge = self.boolean(element, "transfer", "bridge")
        kind = element.get("type")
        if kind is not None and bridge is not None:
            # VoiceXML 2.1 section 10: type replaces bridge; both is an error.badfetch.
            raise self.error(element, "<transfer> takes type or bridge, not both")
        if kind is None:
            kind = "bridge" if bridge else "blind"
        kind = kind.strip()
        if kind not in ("blind", "bridge", "consultation"):
            raise self.error(element, f"<transfer type={kind!r}>: blind, bridge or consultation")
        return model.Transfer(
            name=str(common["name"]),
            expr=element.get("expr"),
            cond=element.get("cond"),
            dest=element.get("dest"),
            destexpr=element.get("destexpr"),
            type=kind,
            connecttimeout=element.get("connecttimeout"),
            maxtime=element.get("maxtime"),
            aai=element.get("aai"),
            aaiexpr=element.get("aaiexpr"),
            grammars=tuple(grammars),
            prompts=tuple(prompts),
            catches=tuple(catches),
            properties=properties,
            line=_line(element),
        )

    def param(self, element: etree._Element) -> model.Param:
        self.one_of(element, "param", "expr", "value")
        return model.Param(
            self.identifier(element, "param", "name"),
            element.get("expr"),
            element.get("value"),
            _line(element),
        )

    def prompts_and(
        self,
        element: etree._Element,
        tag: str,
        prompts: list[model.Prompt],
        handlers: Mapping[str, Callable[[etree._Element], object]],
    ) -> None:
        """Walk ``element``'s content: prompts (explicit, or text and inline prompt
        content making an implicit one) into ``prompts``, other children to their
        handler by tag."""
        pending: list[model.PromptPart] = []
        pending_line = _line(element)

        def flush() -> None:
            if _has_text(pending):
                prompts.append(model.Prompt(_merge(pending), None, None, 1, None, pending_line))
            pending.clear()

        for piece in _pieces(element):
            if isinstance(piece, str):
                pending.append(model.Text(piece))
                continue
            ctag = _tag(piece)
            if ctag is None or ctag in _SILENT:
                continue
            if ctag in _INLINE:
                if not _has_text(pending):
                    pending_line = _line(piece)
                pending.extend(self.parts_of(piece, ctag))
                continue
            flush()
            if ctag == "prompt":
                prompts.append(self.prompt(piece))
                continue
            handler = handlers.get(ctag)
            if handler is None:
                raise self.error(piece, f"<{ctag}> is not allowed in <{tag}>")
            handler(piece)
        flush()

    # -- grammars -----------------------------------------------------------------------

    def grammar(self, element: etree._Element, form_scope: str | None) -> model.Grammar:
        """A ``<grammar>``: a URI (src or srcexpr) or inline rules, exactly one."""
        given = [name for name in ("src", "srcexpr") if element.get(name) is not None]
        inline = len(element) > 0 or bool((element.text or "").strip())
        if len(given) > 1:
            raise self.error(element, "<grammar> takes src or srcexpr, not both")
        if given and inline:
            raise self.error(element, f"<grammar> has both {given[0]} and inline content")
        if not given and not inline:
            raise self.error(element, "<grammar> has neither src, srcexpr nor content")
        scope = element.get("scope")
        if scope is not None:
            scope = scope.strip()
            if scope not in ("dialog", "document"):
                raise self.error(element, f"<grammar scope={scope!r}>: dialog or document")
        if form_scope is not None:
            scope = scope or form_scope
        mode = element.get("mode")
        if mode is not None:
            mode = mode.strip()
            if mode not in ("dtmf", "voice"):
                raise self.error(element, f"<grammar mode={mode!r}>: dtmf or voice")
        line = _line(element)
        fetch = self.fetch(element)
        media_type = element.get("type")
        src = element.get("src")
        if src is not None:
            src = src.strip()
            for prefix, builtin_mode in (
                ("builtin:dtmf/", "dtmf"),
                ("builtin:grammar/", "dtmf"),
                ("builtin:voice/", "voice"),
                ("builtin:", "dtmf"),
            ):
                if src.startswith(prefix):
                    spec = src[len(prefix) :]
                    if builtin_mode == "voice" or mode == "voice":
                        return model.Grammar(builtin=spec, mode="voice", scope=scope, line=line)
                    try:
                        inputs.check_builtin(spec)
                    except inputs.Unsupported:
                        pass  # thrown when the grammar is used
                    except inputs.GrammarError as exc:
                        raise self.error(element, str(exc)) from exc
                    return model.Grammar(builtin=spec, scope=scope, fetch=fetch, line=line)
            return model.Grammar(
                src=src, mode=mode, type=media_type, scope=scope, fetch=fetch, line=line
            )
        if element.get("srcexpr") is not None:
            return model.Grammar(
                srcexpr=element.get("srcexpr"),
                mode=mode,
                type=media_type,
                scope=scope,
                fetch=fetch,
                line=line,
            )
        # Inline: SRGS says its mode is "voice" unless written; ABNF text (SRGS 1.0 section
        # 4) may write it in its own header, which the interpreter reads.
        return model.Grammar(
            inline=etree.tostring(element, with_tail=False),
            mode=mode or (None if _abnf_text(element, media_type) else "voice"),
            type=media_type,
            scope=scope,
            line=line,
        )

    def filled(
        self,
        element: etree._Element,
        owner: str | None,
        default_names: tuple[str, ...],
        item_names: list[str],
    ) -> model.Filled:
        mode = (element.get("mode") or "any").strip()
        if mode not in ("any", "all"):
            raise self.error(element, f"<filled mode={mode!r}>: mode is any or all")
        names = self.namelist(element, "filled")
        if names and owner is not None:
            raise self.error(element, "a <filled> inside a form item cannot have a namelist")
        for name in names:
            if name not in item_names:
                raise self.error(element, f"<filled namelist>: {name!r} is not a form item")
        return model.Filled(
            owner=owner,
            names=names or default_names,
            mode=mode,
            body=self.content(element, "filled"),
            line=_line(element),
        )

    def _catch_into(self, catches: list[model.Catch], tag: str) -> Callable[[etree._Element], None]:
        """A handler of ``prompts_and`` that parses a catch element into ``catches``."""
        return lambda child: catches.append(self.catch(child, tag))

    def catch(self, element: etree._Element, tag: str) -> model.Catch:
        if tag == "catch":
            events = tuple(event.rstrip(".") for event in (element.get("event") or "").split())
        else:
            events = (tag,)
        return model.Catch(
            events=events,
            count=self.count(element, tag),
            cond=element.get("cond"),
            body=self.content(element, tag),
            line=_line(element),
        )

    def property(self, element: etree._Element, properties: dict[str, str]) -> None:
        name = self.required(element, "property", "name").strip()
        value = element.get("value")
        if value is None:
            raise self.error(element, "<property> needs a value attribute")
        properties[name] = value.strip()

    # -- executable content ------------------------------------------------------

    def content(self, element: etree._Element, parent: str) -> tuple[model.Node, ...]:
        """The executable content of ``element``: text, ``<value>`` and ``<audio>`` standing
        directly in it become implicit prompts."""
        return self.nodes(list(_pieces(element)), parent, _line(element))

    def nodes(
        self, pieces: list[str | etree._Element], parent: str, line: int
    ) -> tuple[model.Node, ...]:
        nodes: list[model.Node] = []
        pending: list[model.PromptPart] = []
        pending_line = line

        def flush() -> None:
            if _has_text(pending):
                nodes.append(model.Prompt(_merge(pending), None, None, 1, None, pending_line))
            pending.clear()

        for piece in pieces:
            if isinstance(piece, str):
                pending.append(model.Text(piece))
                continue
            tag = _tag(piece)
            if tag is None or tag in _SILENT:
                continue
            if tag in _INLINE:
                if not _has_text(pending):
                    pending_line = _line(piece)
                pending.extend(self.parts_of(piece, tag))
                continue
            flush()
            nodes.append(self.executable(piece, tag, parent))
        flush()
        return tuple(nodes)

    def executable(self, element: etree._Element, tag: str, parent: str) -> model.Node:
        line = _line(element)
        if tag == "prompt":
            return self.prompt(element)
        if tag == "var":
            return self.var(element)
        if tag == "assign":
            name = self.required(element, "assign", "name").strip()
            if not _REFERENCE.match(name):
                raise self.error(element, f"<assign name={name!r}>: not a variable name")
            return model.Assign(name, self.required(element, "assign", "expr"), line)
        if tag == "if":
            return self.if_(element)
        if tag == "goto":
            self.one_of(element, "goto", "next", "expr", "nextitem", "expritem")
            return model.Goto(
                element.get("next"),
                element.get("expr"),
                element.get("nextitem"),
                element.get("expritem"),
                self.fetch(element),
                line,
            )
        if tag == "submit":
            self.one_of(element, "submit", "next", "expr")
            return model.Submit(
                element.get("next"),
                element.get("expr"),
                self.namelist(element, "submit"),
                self.method(element, "submit"),
                self.enctype(element, "submit"),
                self.fetch(element),
                line,
            )
        if tag == "exit":
            if element.get("expr") is not None and element.get("namelist") is not None:
                raise self.error(element, "<exit> takes expr or namelist, not both")
            return model.Exit(element.get("expr"), self.namelist(element, "exit"), line)
        if tag == "disconnect":
            return model.Disconnect(self.namelist(element, "disconnect"), line)
        if tag in ("throw", "return"):
            if tag == "throw":
                self.one_of(element, "throw", "event", "eventexpr")
            else:
                self.one_of(element, "return", "event", "eventexpr", "namelist", optional=True)
            if element.get("message") is not None and element.get("messageexpr") is not None:
                raise self.error(element, f"<{tag}> takes message or messageexpr, not both")
            args = (
                element.get("event"),
                element.get("eventexpr"),
                element.get("message"),
                element.get("messageexpr"),
            )
            if tag == "throw":
                return model.Throw(*args, line)
            return model.Return(*args, self.namelist(element, "return"), line)
        if tag == "reprompt":
            return model.Reprompt(line)
        if tag == "clear":
            return model.Clear(self.namelist(element, "clear"), line)
        if tag == "log":
            return model.Log(self.parts(element), element.get("label"), element.get("expr"), line)
        if tag == "script":
            return self.script(element)
        if tag == "data":
            return self.data(element)
        if tag == "foreach":
            return model.Foreach(
                self.required(element, "foreach", "array"),
                self.identifier(element, "foreach", "item"),
                self.content(element, "foreach"),
                line,
            )
        if tag in ("elseif", "else"):
            raise self.error(element, f"<{tag}> outside <if>")
        raise self.error(element, f"<{tag}> is not allowed in <{parent}>")

    def if_(self, element: etree._Element) -> model.If:
        branches: list[tuple[str | None, list[str | etree._Element]]] = [
            (self.required(element, "if", "cond"), [])
        ]
        seen_else = False
        for piece in _pieces(element):
            tag = None if isinstance(piece, str) else _tag(piece)
            if tag in ("elseif", "else") and not isinstance(piece, str):
                if seen_else:
                    raise self.error(piece, f"<{tag}> after <else>")
                if tag == "elseif":
                    branches.append((self.required(piece, "elseif", "cond"), []))
                else:
                    seen_else = True
                    branches.append((None, []))
                continue
            branches[-1][1].append(piece)
        return model.If(
            tuple((cond, self.nodes(pieces, "if", _line(element))) for cond, pieces in branches),
            _line(element),
        )

    def var(self, element: etree._Element) -> model.Var:
        return model.Var(
            self.identifier(element, "var", "name"), element.get("expr"), _line(element)
        )

    def script(self, element: etree._Element) -> model.Script:
        src, srcexpr = element.get("src"), element.get("srcexpr")
        text = "".join(element.itertext())
        if src is not None and srcexpr is not None:
            raise self.error(element, "<script> takes src or srcexpr, not both")
        if (src is not None or srcexpr is not None) and text.strip():
            raise self.error(element, "<script> has both a source URI and content")
        return model.Script(src, srcexpr, text, self.fetch(element), _line(element))

    def data(self, element: etree._Element) -> model.Data:
        self.one_of(element, "data", "src", "srcexpr")
        name = element.get("name")
        return model.Data(
            name=None if name is None else self.identifier(element, "data", "name"),
            src=element.get("src"),
            srcexpr=element.get("srcexpr"),
            namelist=self.namelist(element, "data"),
            method=self.method(element, "data"),
            enctype=self.enctype(element, "data"),
            fetch=self.fetch(element),
            line=_line(element),
        )

    # -- prompts -----------------------------------------------------------------

    def prompt(self, element: etree._Element) -> model.Prompt:
        return model.Prompt(
            parts=self.parts(element),
            bargein=self.boolean(element, "prompt", "bargein"),
            cond=element.get("cond"),
            count=self.count(element, "prompt"),
            timeout=element.get("timeout"),
            line=_line(element),
            lang=element.get(_XML_LANG),
        )

    def parts(self, element: etree._Element) -> tuple[model.PromptPart, ...]:
        """The prompt content inside ``element``."""
        return _merge([part for piece in _pieces(element) for part in self.parts_of_piece(piece)])

    def parts_of_piece(self, piece: str | etree._Element) -> tuple[model.PromptPart, ...]:
        if isinstance(piece, str):
            return (model.Text(piece),)
        tag = _tag(piece)
        if tag is None:
            return ()
        return self.parts_of(piece, tag)

    def parts_of(self, element: etree._Element, tag: str) -> tuple[model.PromptPart, ...]:
        """The prompt content one element stands for (without its tail)."""
        line = _line(element)
        if tag == "value":
            return (model.Value(self.required(element, "value", "expr"), line),)
        if tag == "audio":
            self.one_of(element, "audio", "src", "expr")
            return (
                model.Audio(
                    element.get("src"),
                    element.get("expr"),
                    self.parts(element),
                    self.fetch(element),
                    line,
                ),
            )
        if tag == "break":
            return (model.Break(element.get("time"), element.get("strength")),)
        if tag == "mark":
            self.one_of(element, "mark", "name", "nameexpr")
            return (model.Mark(element.get("name"), element.get("nameexpr"), line),)
        if tag == "enumerate":
            template = self.parts(element) if len(element) or (element.text or "").strip() else None
            return (model.Enumerate(template, line),)
        if tag == "foreach":
            return (
                model.ForeachParts(
                    self.required(element, "foreach", "array"),
                    self.identifier(element, "foreach", "item"),
                    self.parts(element),
                    line,
                ),
            )
        if tag in _SILENT:
            return ()
        if tag in ("p", "s", "paragraph", "sentence"):
            short = {"paragraph": "p", "sentence": "s"}.get(tag, tag)
            return (model.Ssml(short, _attrs(element), self.parts(element)),)
        if tag in _SSML:
            return (model.Ssml(tag, _attrs(element), self.parts(element)),)
        if tag == "prompt":
            raise self.error(element, "<prompt> inside prompt content")
        raise self.error(element, f"<{tag}> is not allowed in prompt content")


def _numbered(choice: model.Choice, number: str) -> model.Choice:
    keys = model.Grammar(keys=number, line=choice.line)
    return model.Choice(
        choice.next, choice.expr, choice.event, choice.eventexpr, choice.message,
        choice.messageexpr, choice.value, number, (keys, *choice.grammars), choice.parts,
        choice.fetch, choice.line,
    )  # fmt: skip


def _attrs(element: etree._Element) -> tuple[tuple[str, str], ...]:
    attrs: list[tuple[str, str]] = []
    for key, value in element.attrib.items():
        name = str(key)
        if name.startswith(_XML_NS):
            name = "xml:" + name[len(_XML_NS) :]
        elif name.startswith("{"):
            continue
        attrs.append((name, str(value)))
    return tuple(attrs)


def _pieces(element: etree._Element) -> list[str | etree._Element]:
    """The element's content in order: text runs and child elements (tails as text)."""
    pieces: list[str | etree._Element] = []
    if element.text:
        pieces.append(element.text)
    for child in element:
        pieces.append(child)
        if child.tail:
            pieces.append(child.tail)
    return pieces


def _has_text(parts: list[model.PromptPart]) -> bool:
    return any(not isinstance(part, model.Text) or part.text.strip() for part in parts)


def _plain(parts: tuple[model.PromptPart, ...]) -> str:
    """The literal text of prompt content (for an option's value)."""
    text: list[str] = []
    for part in parts:
        if isinstance(part, model.Text):
            text.append(part.text)
        elif isinstance(part, model.Ssml):
            text.append(_plain(part.children))
    return "".join(text)


def _merge(
    parts: list[model.PromptPart] | tuple[model.PromptPart, ...],
) -> tuple[model.PromptPart, ...]:
    merged: list[model.PromptPart] = []
    for part in parts:
        if isinstance(part, model.Text) and merged and isinstance(merged[-1], model.Text):
            merged[-1] = model.Text(merged[-1].text + part.text)
        else:
            merged.append(part)
    return tuple(merged)
