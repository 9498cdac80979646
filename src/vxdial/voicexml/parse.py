"""VoiceXML text -> ``model.VxmlDocument``, checked, with a small cache of parsed documents.

Elements may be in the VoiceXML namespace (http://www.w3.org/2001/vxml) or in none;
elements of other namespaces are ignored. A body that is not well-formed, not ``<vxml>``,
or breaks a rule the interpreter relies on (an attribute a element needs, an unknown
element) raises ``DocumentError``: the caller throws ``error.badfetch``. VoiceXML 2.1
elements that are not implemented yet parse into ``model.Unsupported`` / ``OtherItem`` /
``OtherDialog`` and throw ``error.unsupported.<element>`` only when they run.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from urllib.parse import urljoin

from lxml import etree  # type: ignore[import-untyped]

from vxdial.voicexml import grammars, model

__all__ = ["VXML_NS", "DocumentError", "load", "parse"]

VXML_NS = "http://www.w3.org/2001/vxml"
_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_REFERENCE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*\Z")

_CATCHES = frozenset({"catch", "error", "help", "noinput", "nomatch"})
_INPUT_ITEMS = frozenset({"field", "record", "transfer", "subdialog", "object"})
_OTHER_ITEMS = frozenset({"record", "transfer", "subdialog", "object", "initial"})
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
    }
)
_SILENT = frozenset({"mark", "meta", "metadata", "lexicon", "desc", "enumerate"})
_NOT_YET = frozenset({"return", "foreach", "data"})  # executable content, VoiceXML 2.0/2.1
_CACHE_SIZE = 256


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


def load(url: str, body: bytes) -> model.VxmlDocument:
    """``parse``, remembering the last few hundred documents by (url, body)."""
    key = (url, body)
    document = _cache.get(key)
    if document is not None:
        _cache.move_to_end(key)
        return document
    document = parse(url, body)
    _cache[key] = document
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return document


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
        return local if namespace == VXML_NS else None
    return tag


def _line(element: etree._Element) -> int:
    return element.sourceline or 0


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

    def one_of(self, element: etree._Element, tag: str, *names: str) -> None:
        given = [name for name in names if element.get(name) is not None]
        if len(given) != 1:
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

    # -- document, dialogs, form items ---------------------------------------------

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
        init: list[model.Var | model.Script] = []
        catches: list[model.Catch] = []
        properties: dict[str, str] = {}
        dialogs: list[model.Dialog] = []
        unsupported: tuple[str, int] | None = None
        for child in root:
            ctag = _tag(child)
            if ctag is None or ctag in ("meta", "metadata"):
                continue
            if ctag == "var":
                init.append(self.var(child))
            elif ctag == "script":
                init.append(self.script(child))
            elif ctag in _CATCHES:
                catches.append(self.catch(child, ctag))
            elif ctag == "property":
                self.property(child, properties)
            elif ctag == "form":
                dialogs.append(self.form(child))
            elif ctag == "menu":
                dialogs.append(model.OtherDialog("menu", child.get("id"), _line(child)))
            elif ctag == "link":
                unsupported = unsupported or ("link", _line(child))
            else:
                raise self.error(child, f"<{ctag}> is not allowed in <vxml>")
        ids = [dialog.id for dialog in dialogs if dialog.id is not None]
        if len(ids) != len(set(ids)):
            raise self.error(root, "two dialogs have the same id")
        return model.VxmlDocument(
            url=self.url,
            base=base,
            version=version,
            application=root.get("application"),
            init=tuple(init),
            catches=tuple(catches),
            properties=properties,
            dialogs=tuple(dialogs),
            unsupported=unsupported,
        )

    def form(self, element: etree._Element) -> model.Form:
        init: list[model.Var | model.Script | model.FormItem] = []
        items: list[model.FormItem] = []
        catches: list[model.Catch] = []
        properties: dict[str, str] = {}
        filleds: list[model.Filled | etree._Element] = []  # form-level ones resolved below
        unsupported: tuple[str, int] | None = None
        for child in element:
            tag = _tag(child)
            if tag is None:
                continue
            if tag == "var":
                init.append(self.var(child))
            elif tag == "script":
                init.append(self.script(child))
            elif tag == "block":
                item: model.FormItem = self.block(child)
                init.append(item)
                items.append(item)
            elif tag == "field":
                field, field_filleds = self.field(child)
                init.append(field)
                items.append(field)
                filleds.extend(field_filleds)
            elif tag in _OTHER_ITEMS:
                item = self.other_item(child, tag)
                init.append(item)
                items.append(item)
            elif tag == "filled":
                filleds.append(child)
            elif tag in _CATCHES:
                catches.append(self.catch(child, tag))
            elif tag == "property":
                self.property(child, properties)
            elif tag in ("grammar", "link"):
                if tag == "grammar":
                    self.check_grammar(child)
                unsupported = unsupported or (tag, _line(child))
            else:
                raise self.error(child, f"<{tag}> is not allowed in <form>")
        names = [item.name for item in items]
        if len(names) != len(set(names)):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise self.error(element, f"two form items are named {duplicate!r}")
        inputs = tuple(
            item.name
            for item in items
            if isinstance(item, model.Field) or (isinstance(item, model.OtherItem) and item.input)
        )
        resolved = tuple(
            f if isinstance(f, model.Filled) else self.filled(f, None, inputs, names)
            for f in filleds
        )
        return model.Form(
            id=element.get("id"),
            init=tuple(init),
            items=tuple(items),
            catches=tuple(catches),
            properties=properties,
            filleds=resolved,
            unsupported=unsupported,
            line=_line(element),
        )

    def block(self, element: etree._Element) -> model.Block:
        return model.Block(
            name=self.item_name(element, "block"),
            expr=element.get("expr"),
            cond=element.get("cond"),
            body=self.content(element, "block"),
            line=_line(element),
        )

    def other_item(self, element: etree._Element, tag: str) -> model.OtherItem:
        return model.OtherItem(
            tag=tag,
            name=self.item_name(element, tag),
            expr=element.get("expr"),
            cond=element.get("cond"),
            catches=tuple(
                self.catch(child, ctag)
                for child in element
                if (ctag := _tag(child)) is not None and ctag in _CATCHES
            ),
            input=tag in _INPUT_ITEMS,
            line=_line(element),
        )

    def field(self, element: etree._Element) -> tuple[model.Field, list[model.Filled]]:
        name = self.item_name(element, "field")
        line = _line(element)
        prompts: list[model.Prompt] = []
        catches: list[model.Catch] = []
        properties: dict[str, str] = {}
        filleds: list[model.Filled] = []
        found: list[grammars.Builtin] = []
        problem: tuple[str, str] | None = None

        def builtin(spec: str, where: etree._Element) -> None:
            nonlocal problem
            try:
                found.append(grammars.parse(spec))
            except grammars.UnsupportedBuiltin as exc:
                problem = problem or ("error.unsupported.builtin", f"line {_line(where)}: {exc}")
            except grammars.GrammarError as exc:
                raise self.error(where, str(exc)) from exc

        if element.get("type") is not None:
            builtin(element.get("type") or "", element)
        pending: list[model.PromptPart] = []
        pending_line = line

        def flush() -> None:
            if _has_text(pending):
                prompts.append(model.Prompt(_merge(pending), None, None, 1, None, pending_line))
            pending.clear()

        for piece in _pieces(element):
            if isinstance(piece, str):
                pending.append(model.Text(piece))
                continue
            tag = _tag(piece)
            if tag is None:
                continue
            if tag in _INLINE:
                if not pending:
                    pending_line = _line(piece)
                pending.extend(self.parts_of(piece, tag))
                continue
            flush()
            if tag == "prompt":
                prompts.append(self.prompt(piece))
            elif tag == "grammar":
                self.check_grammar(piece)
                src = (piece.get("src") or "").strip()
                mode = (piece.get("mode") or "").strip()
                if src.startswith(("builtin:dtmf/", "builtin:grammar/")):
                    builtin(src.partition("/")[2], piece)
                elif mode == "voice":
                    continue  # speech grammars are not used by a DTMF platform
                else:
                    problem = problem or (
                        "error.unsupported.format",
                        f"line {_line(piece)}: SRGS and external grammars are not supported yet",
                    )
            elif tag == "filled":
                filleds.append(self.filled(piece, name, (name,), [name]))
            elif tag in _CATCHES:
                catches.append(self.catch(piece, tag))
            elif tag == "property":
                self.property(piece, properties)
            elif tag in ("option", "link"):
                problem = problem or (
                    f"error.unsupported.{tag}",
                    f"line {_line(piece)}: <{tag}> is not supported yet",
                )
            else:
                raise self.error(piece, f"<{tag}> is not allowed in <field>")
        flush()
        grammar: grammars.Builtin | None = None
        if problem is None:
            if len(found) == 1:
                grammar = found[0]
            elif not found:
                problem = ("error.semantic", f"line {line}: field {name!r} has no grammar")
            else:
                problem = (
                    "error.unsupported.format",
                    f"line {line}: several grammars in one field are not supported yet",
                )
        field = model.Field(
            name=name,
            expr=element.get("expr"),
            cond=element.get("cond"),
            grammar=grammar,
            grammar_problem=problem,
            prompts=tuple(prompts),
            catches=tuple(catches),
            properties=properties,
            line=line,
        )
        return field, filleds

    def check_grammar(self, element: etree._Element) -> None:
        """A ``<grammar>`` is a URI (src or srcexpr) or inline rules, exactly one."""
        given = [name for name in ("src", "srcexpr") if element.get(name) is not None]
        inline = len(element) > 0 or bool((element.text or "").strip())
        if len(given) > 1:
            raise self.error(element, "<grammar> takes src or srcexpr, not both")
        if given and inline:
            raise self.error(element, f"<grammar> has both {given[0]} and inline content")
        if not given and not inline:
            raise self.error(element, "<grammar> has neither src, srcexpr nor content")

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
            raise self.error(element, "a <filled> inside a field cannot have a namelist")
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
            if tag is None:
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
                line,
            )
        if tag == "submit":
            self.one_of(element, "submit", "next", "expr")
            method = (element.get("method") or "get").strip().upper()
            if method not in ("GET", "POST"):
                raise self.error(element, f"<submit method={method.lower()!r}>: get or post")
            return model.Submit(
                element.get("next"),
                element.get("expr"),
                self.namelist(element, "submit"),
                method,
                line,
            )
        if tag == "exit":
            if element.get("expr") is not None and element.get("namelist") is not None:
                raise self.error(element, "<exit> takes expr or namelist, not both")
            return model.Exit(element.get("expr"), self.namelist(element, "exit"), line)
        if tag == "disconnect":
            return model.Disconnect(self.namelist(element, "disconnect"), line)
        if tag == "throw":
            self.one_of(element, "throw", "event", "eventexpr")
            if element.get("message") is not None and element.get("messageexpr") is not None:
                raise self.error(element, "<throw> takes message or messageexpr, not both")
            return model.Throw(
                element.get("event"),
                element.get("eventexpr"),
                element.get("message"),
                element.get("messageexpr"),
                line,
            )
        if tag == "reprompt":
            return model.Reprompt(line)
        if tag == "clear":
            return model.Clear(self.namelist(element, "clear"), line)
        if tag == "log":
            return model.Log(self.parts(element), element.get("label"), element.get("expr"), line)
        if tag == "script":
            return self.script(element)
        if tag in _NOT_YET:
            return model.Unsupported(tag, line)
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
        return model.Script(src, srcexpr, text, _line(element))

    # -- prompts -----------------------------------------------------------------

    def prompt(self, element: etree._Element) -> model.Prompt:
        return model.Prompt(
            parts=self.parts(element),
            bargein=self.boolean(element, "prompt", "bargein"),
            cond=element.get("cond"),
            count=self.count(element, "prompt"),
            timeout=element.get("timeout"),
            line=_line(element),
        )

    def parts(self, element: etree._Element) -> tuple[model.PromptPart, ...]:
        """The prompt content inside ``element``."""
        parts: list[model.PromptPart] = []
        for piece in _pieces(element):
            if isinstance(piece, str):
                parts.append(model.Text(piece))
                continue
            tag = _tag(piece)
            if tag is not None:
                parts.extend(self.parts_of(piece, tag))
        return _merge(parts)

    def parts_of(self, element: etree._Element, tag: str) -> tuple[model.PromptPart, ...]:
        """The prompt content one element stands for (without its tail)."""
        line = _line(element)
        if tag == "value":
            return (model.Value(self.required(element, "value", "expr"), line),)
        if tag == "audio":
            if element.get("src") is not None and element.get("expr") is not None:
                raise self.error(element, "<audio> takes src or expr, not both")
            return (
                model.Audio(element.get("src"), element.get("expr"), self.parts(element), line),
            )
        if tag == "break":
            return (model.Text(" "),)
        if tag == "sub":
            return (model.Text(element.get("alias") or ""),)
        if tag in _SILENT:
            return ()
        if tag in ("p", "s", "paragraph", "sentence"):
            return (model.Text(" "), *self.parts(element), model.Text(" "))
        # say-as, emphasis, prosody, voice, phoneme, p, s, ...: their text is said.
        return self.parts(element)


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
