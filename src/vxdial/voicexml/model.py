"""A parsed VoiceXML document: immutable, shared by every session that runs it.

``parse.py`` builds it from XML once per (url, body); the interpreter walks it. Element
names are the spec's; every node keeps its source line for error messages. Expressions
stay ECMAScript source text, evaluated by ``script.Engine`` when the node runs; URIs stay
as written (resolved against ``VxmlDocument.base`` when used).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# -- fetching -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetch:
    """The fetch attributes of an element that loads something (VoiceXML 2.0 section
    6.1.1): time designations / seconds as written, None when absent (the properties
    apply)."""

    timeout: str | None = None
    maxage: str | None = None
    maxstale: str | None = None


NO_FETCH = Fetch()


# -- prompt content -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Value:
    """``<value expr>``: the expression's value as a string."""

    expr: str
    line: int


@dataclass(frozen=True, slots=True)
class Audio:
    """``<audio src|expr>``: the file is fetched; ``fallback`` is said when it cannot be
    (and is part of the prompt's plain text for transcripts)."""

    src: str | None
    expr: str | None
    fallback: tuple[PromptPart, ...]
    fetch: Fetch
    line: int


@dataclass(frozen=True, slots=True)
class Break:
    """SSML ``<break>``: a pause (``time`` "500ms" or ``strength`` "medium")."""

    time: str | None
    strength: str | None


@dataclass(frozen=True, slots=True)
class Mark:
    """SSML ``<mark name>`` (VoiceXML 2.1: or ``nameexpr``)."""

    name: str | None
    nameexpr: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Ssml:
    """Other SSML markup kept for the channel's text-to-speech: ``say-as``, ``emphasis``,
    ``prosody``, ``voice``, ``sub``, ``phoneme``, ``p``, ``s``, ``lang``. ``attrs`` as
    written; the plain text is the children's text (``sub``: its alias)."""

    tag: str
    attrs: tuple[tuple[str, str], ...]
    children: tuple[PromptPart, ...]


@dataclass(frozen=True, slots=True)
class Enumerate:
    """``<enumerate>``: the choices of the current menu (or options of the current
    field), each said with ``template`` (``_prompt`` and ``_dtmf`` set), or with the
    default template when it is None."""

    template: tuple[PromptPart, ...] | None
    line: int


@dataclass(frozen=True, slots=True)
class ForeachParts:
    """VoiceXML 2.1 ``<foreach>`` inside a prompt: ``parts`` for each array element."""

    array: str
    item: str
    parts: tuple[PromptPart, ...]
    line: int


PromptPart = Text | Value | Audio | Break | Mark | Ssml | Enumerate | ForeachParts


# -- grammars ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grammar:
    """What input a grammar accepts, as written. Exactly one of:

    - ``builtin``: a builtin type with parameters ("digits?length=4"), from a field's
      ``type`` or ``src="builtin:dtmf/..."``;
    - ``keys``: a literal DTMF sequence (``<choice dtmf>``, ``<option dtmf>``, ``<link
      dtmf>``);
    - ``inline``: an inline SRGS grammar (the ``<grammar>`` element serialized);
    - ``src`` / ``srcexpr``: an external grammar, fetched when first needed.

    ``mode`` "dtmf" or "voice"; None when only the grammar itself can say (external
    grammars, and inline ABNF ones, without a mode attribute). Voice grammars are never
    active on a DTMF platform. ``type`` is the ``type`` attribute as written (the media
    type the author declares). ``value`` is the interpretation of a ``keys`` grammar (an
    option's value).
    """

    builtin: str | None = None
    keys: str | None = None
    inline: bytes | None = None
    src: str | None = None
    srcexpr: str | None = None
    mode: str | None = "dtmf"
    type: str | None = None
    scope: str | None = None  # "dialog" | "document" (form-level grammars), else None
    value: str | None = None
    fetch: Fetch = NO_FETCH
    line: int = 0


# -- executable content ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prompt:
    """``<prompt>``, or text / ``<value>`` / ``<audio>`` written directly in executable
    content or a form item (an implicit prompt). ``bargein`` None: the bargein property."""

    parts: tuple[PromptPart, ...]
    bargein: bool | None
    cond: str | None
    count: int
    timeout: str | None  # time designation, checked when queued
    line: int
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    expr: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Assign:
    name: str
    expr: str
    line: int


@dataclass(frozen=True, slots=True)
class If:
    """``<if>``/``<elseif>``/``<else>``: the first branch whose cond is true runs (an
    ``<else>`` branch has cond None)."""

    branches: tuple[tuple[str | None, tuple[Node, ...]], ...]
    line: int


@dataclass(frozen=True, slots=True)
class Goto:
    next: str | None
    expr: str | None
    nextitem: str | None
    expritem: str | None
    fetch: Fetch
    line: int


@dataclass(frozen=True, slots=True)
class Submit:
    next: str | None
    expr: str | None
    namelist: tuple[str, ...]
    method: str  # "GET" | "POST"
    enctype: str  # "application/x-www-form-urlencoded" | "multipart/form-data"
    fetch: Fetch
    line: int


@dataclass(frozen=True, slots=True)
class Exit:
    expr: str | None
    namelist: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Disconnect:
    namelist: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Throw:
    event: str | None
    eventexpr: str | None
    message: str | None
    messageexpr: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Return:
    """``<return>`` from a subdialog: the values of ``namelist``, or an event."""

    event: str | None
    eventexpr: str | None
    message: str | None
    messageexpr: str | None
    namelist: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Reprompt:
    line: int


@dataclass(frozen=True, slots=True)
class Clear:
    namelist: tuple[str, ...]  # empty: every form item of the current form
    line: int


@dataclass(frozen=True, slots=True)
class Log:
    parts: tuple[PromptPart, ...]
    label: str | None
    expr: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Script:
    src: str | None
    srcexpr: str | None  # VoiceXML 2.1
    text: str
    fetch: Fetch
    line: int


@dataclass(frozen=True, slots=True)
class Data:
    """VoiceXML 2.1 ``<data>``: fetch XML and expose it as a read-only DOM in ``name``."""

    name: str | None
    src: str | None
    srcexpr: str | None
    namelist: tuple[str, ...]
    method: str
    enctype: str
    fetch: Fetch
    line: int


@dataclass(frozen=True, slots=True)
class Foreach:
    """VoiceXML 2.1 ``<foreach array item>``: ``body`` once per array element."""

    array: str
    item: str
    body: tuple[Node, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A VoiceXML element this interpreter does not run: running it throws
    ``error.unsupported.<tag>``."""

    tag: str
    line: int


Node = (
    Prompt
    | Var
    | Assign
    | If
    | Goto
    | Submit
    | Exit
    | Disconnect
    | Throw
    | Return
    | Reprompt
    | Clear
    | Log
    | Script
    | Data
    | Foreach
    | Unsupported
)


# -- event handlers, properties, filled, links ----------------------------------------


@dataclass(frozen=True, slots=True)
class Catch:
    """``<catch>`` and its shorthands. ``events`` empty: catches every event."""

    events: tuple[str, ...]
    count: int
    cond: str | None
    body: tuple[Node, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Filled:
    """A ``<filled>`` of an input item (``owner`` its name) or of the form (``owner``
    None); ``names``: the input item variables it watches."""

    owner: str | None
    names: tuple[str, ...]
    mode: str  # "any" | "all"
    body: tuple[Node, ...]
    line: int


Properties = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Link:
    """``<link>``: while its grammars are active (the element containing it is being
    run), input matching them goes to ``next``/``expr`` or throws ``event``/``eventexpr``."""

    next: str | None
    expr: str | None
    event: str | None
    eventexpr: str | None
    message: str | None
    messageexpr: str | None
    grammars: tuple[Grammar, ...]
    fetch: Fetch
    line: int


# -- form items and dialogs ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Block:
    name: str
    expr: str | None
    cond: str | None
    body: tuple[Node, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    expr: str | None
    cond: str | None
    modal: bool
    slot: str
    grammars: tuple[Grammar, ...]  # type=, <grammar>s, then <option>s
    options: tuple[Choice, ...]  # the <option>s, for <enumerate>
    grammar_problem: tuple[str, str] | None  # (event, message) thrown instead of collecting
    prompts: tuple[Prompt, ...]
    catches: tuple[Catch, ...]
    links: tuple[Link, ...]
    properties: Properties
    line: int


@dataclass(frozen=True, slots=True)
class Initial:
    """``<initial>``: prompts for a mixed-initiative form; only form-level grammars are
    active while it is visited."""

    name: str
    expr: str | None
    cond: str | None
    prompts: tuple[Prompt, ...]
    catches: tuple[Catch, ...]
    links: tuple[Link, ...]
    properties: Properties
    line: int


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    expr: str | None
    cond: str | None
    modal: bool
    beep: bool
    maxtime: str | None
    finalsilence: str | None
    dtmfterm: bool
    type: str
    grammars: tuple[Grammar, ...]
    prompts: tuple[Prompt, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    line: int


@dataclass(frozen=True, slots=True)
class Transfer:
    name: str
    expr: str | None
    cond: str | None
    dest: str | None
    destexpr: str | None
    type: str  # "blind" | "bridge" | "consultation"
    connecttimeout: str | None
    maxtime: str | None
    aai: str | None
    aaiexpr: str | None
    grammars: tuple[Grammar, ...]
    prompts: tuple[Prompt, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    line: int


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    expr: str | None
    value: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Subdialog:
    name: str
    expr: str | None
    cond: str | None
    src: str | None
    srcexpr: str | None
    namelist: tuple[str, ...]
    method: str
    enctype: str
    params: tuple[Param, ...]
    fetch: Fetch
    prompts: tuple[Prompt, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    line: int


@dataclass(frozen=True, slots=True)
class OtherItem:
    """A form item this interpreter does not run (``<object>``): visiting it throws
    ``error.unsupported.objectname``."""

    tag: str
    name: str
    expr: str | None
    cond: str | None
    catches: tuple[Catch, ...]
    line: int


FormItem = Block | Field | Initial | Record | Transfer | Subdialog | OtherItem
InputItem = Field | Record | Transfer | Subdialog | OtherItem


@dataclass(frozen=True, slots=True)
class Form:
    id: str | None
    init: tuple[Var | Script | FormItem, ...]  # document order, for initialization
    items: tuple[FormItem, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    filleds: tuple[Filled, ...]  # item-level and form-level, in document order
    grammars: tuple[Grammar, ...]  # form-level grammars
    links: tuple[Link, ...]
    line: int

    def item(self, name: str) -> FormItem | None:
        for item in self.items:
            if item.name == name:
                return item
        return None


@dataclass(frozen=True, slots=True)
class Choice:
    """A menu's ``<choice>``, or a field's ``<option>`` (``value``; no transition)."""

    next: str | None
    expr: str | None
    event: str | None
    eventexpr: str | None
    message: str | None
    messageexpr: str | None
    value: str | None
    dtmf: str | None  # the DTMF sequence (given, or numbered by <menu dtmf="true">)
    grammars: tuple[Grammar, ...]
    parts: tuple[PromptPart, ...]  # its content: the text <enumerate> says as _prompt
    fetch: Fetch
    line: int


@dataclass(frozen=True, slots=True)
class Menu:
    id: str | None
    scope: str  # "dialog" | "document": where its choices' grammars are active
    prompts: tuple[Prompt, ...]
    choices: tuple[Choice, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    line: int


Dialog = Form | Menu


@dataclass(frozen=True, slots=True)
class VxmlDocument:
    url: str
    base: str  # what relative URIs resolve against (the URL, or xml:base)
    version: str
    lang: str | None  # xml:lang
    application: str | None  # the application root document's URI, as written
    init: tuple[Var | Script | Data, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    links: tuple[Link, ...]
    dialogs: tuple[Dialog, ...]

    def dialog(self, id: str | None) -> Dialog | None:
        """The dialog with ``id``, or the first one when ``id`` is None."""
        if id is None:
            return self.dialogs[0] if self.dialogs else None
        for dialog in self.dialogs:
            if dialog.id == id:
                return dialog
        return None
