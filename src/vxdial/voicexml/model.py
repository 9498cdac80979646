"""A parsed VoiceXML document: immutable, shared by every session that runs it.

``parse.py`` builds it from XML once per (url, body); the interpreter walks it. Element
names are the spec's; every node keeps its source line for error messages. Expressions
stay ECMAScript source text, evaluated by ``script.Engine`` when the node runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vxdial.voicexml import grammars

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
    """``<audio src|expr>``; ``fallback`` is said when the audio cannot be played (and is
    the prompt's text for transcripts)."""

    src: str | None
    expr: str | None
    fallback: tuple[PromptPart, ...]
    line: int


PromptPart = Text | Value | Audio


# -- executable content ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prompt:
    """``<prompt>``, or text / ``<value>`` / ``<audio>`` written directly in executable
    content or a field (an implicit prompt). ``bargein`` None: the bargein property."""

    parts: tuple[PromptPart, ...]
    bargein: bool | None
    cond: str | None
    count: int
    timeout: str | None  # time designation, checked when queued
    line: int


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
    line: int


@dataclass(frozen=True, slots=True)
class Submit:
    next: str | None
    expr: str | None
    namelist: tuple[str, ...]
    method: str  # "GET" | "POST"
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
    line: int


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A VoiceXML element this interpreter does not run yet: running it throws
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
    | Reprompt
    | Clear
    | Log
    | Script
    | Unsupported
)


# -- event handlers, properties, filled ------------------------------------------------


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
    """A ``<filled>`` of a field (``owner`` its name) or of the form (``owner`` None);
    ``names``: the input item variables it watches."""

    owner: str | None
    names: tuple[str, ...]
    mode: str  # "any" | "all"
    body: tuple[Node, ...]
    line: int


Properties = Mapping[str, str]


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
    grammar: grammars.Builtin | None  # the DTMF grammar, if one is usable
    grammar_problem: tuple[str, str] | None  # (event, message) thrown instead of collecting
    prompts: tuple[Prompt, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    line: int


@dataclass(frozen=True, slots=True)
class OtherItem:
    """A form item this interpreter does not run yet (``<record>``, ``<subdialog>``,
    ``<transfer>``, ``<object>``, ``<initial>``): visiting it throws
    ``error.unsupported.<tag>``."""

    tag: str
    name: str
    expr: str | None
    cond: str | None
    catches: tuple[Catch, ...]
    input: bool  # an input item (its variable takes part in form-level <filled>)
    line: int


FormItem = Block | Field | OtherItem


@dataclass(frozen=True, slots=True)
class Form:
    id: str | None
    init: tuple[Var | Script | FormItem, ...]  # document order, for initialization
    items: tuple[FormItem, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    filleds: tuple[Filled, ...]  # field-level and form-level, in document order
    unsupported: tuple[str, int] | None  # (element, line) of a feature not supported yet
    line: int

    def item(self, name: str) -> FormItem | None:
        for item in self.items:
            if item.name == name:
                return item
        return None


@dataclass(frozen=True, slots=True)
class OtherDialog:
    """A dialog this interpreter does not run yet (``<menu>``)."""

    tag: str
    id: str | None
    line: int


Dialog = Form | OtherDialog


@dataclass(frozen=True, slots=True)
class VxmlDocument:
    url: str
    base: str  # what relative URIs resolve against (the URL, or xml:base)
    version: str
    application: str | None  # the application root document's URI, as written
    init: tuple[Var | Script, ...]
    catches: tuple[Catch, ...]
    properties: Properties
    dialogs: tuple[Dialog, ...]
    unsupported: tuple[str, int] | None  # (element, line) of a feature not supported yet

    def dialog(self, id: str | None) -> Dialog | None:
        """The dialog with ``id``, or the first one when ``id`` is None."""
        if id is None:
            return self.dialogs[0] if self.dialogs else None
        for dialog in self.dialogs:
            if dialog.id == id:
                return dialog
        return None
