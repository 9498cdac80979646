"""The VoiceXML interpreter: ``run_session`` and the Form Interpretation Algorithm.

An *execution context* (``_Context``) is what VoiceXML 2.0 section 1.5 calls one: an
application (the application root document, if any, and its scope), the current document
and dialog. The top-level application runs in one; each ``<subdialog>`` runs in a new
one that shares the call, the prompt queue and the ECMAScript engine (with its own
scope objects) and returns to the caller's.

The FIA follows appendix C: a form is entered (dialog scope, variables, prompt counters,
event counters), then its main loop *selects* the ``<goto nextitem>`` target or the first
form item whose guard condition is false, *collects* (queues the item's prompts unless
the last iteration ended in a catch without ``<reprompt>``, plays them and waits for
input with the active grammars, or runs the block, record, transfer, subdialog) and
*processes* (fills the item variables, sets ``<initial>`` items, runs the triggered
``<filled>`` elements in document order). A form with nothing left to visit ends the
application (or, in a subdialog, the session: a subdialog ends by ``<return>``).

Active grammars while an input item listens (section 3.1.4), in order of precedence:
the item's own (only these when it is modal), the form's, the dialog's ``<link>``s, the
document's links and its dialogs' grammars of document scope, then those of the
application root document. Voice grammars are active too, but hear nothing: this is a
DTMF platform. A field without grammars of its own listens with the others; only one
with no active grammar at all is error.semantic. A match of a grammar outside the
current form moves to its dialog (or follows its link or choice) and the input fills
that dialog.

Events are Python exceptions inside this module only (``_Event``); they are handled where
the spec says (the form item being visited, a ``<filled>``'s owner, the form during its
initialization, the document during its own), with the catch chosen by
``events.select`` over the item, dialog, document and application root catches.
Transitions (``<goto>``, ``<submit>``, choices, links) fetch and check their target while
still in the old context, so ``error.badfetch`` is caught there, then leave the dialog as
``_Transition``. Nothing but a ``SessionEnd`` leaves ``run_session``.

Output follows the prompt queue of section 4.1.8: prompts are queued while the
interpreter is busy and played when it waits for input (keys typed during a barge-in
prompt stop the queue and start the input) or when the session ends (before hanging up).
After the caller hangs up, or after ``<disconnect>``, the interpreter is in the final
processing state (section 5.3.11): a ``connection.disconnect.hangup`` handler may still
run and submit, but prompts are dropped and waiting for input ends the session.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NoReturn
from urllib.parse import urldefrag, urlencode, urljoin
from xml.sax.saxutils import escape, quoteattr

from vxdial.domain import media
from vxdial.voicexml import events, inputs, model, parse, script
from vxdial.voicexml.channel import Channel
from vxdial.voicexml.fetch import Fetcher, FetchError, FetchRequest, Upload
from vxdial.voicexml.meter import Meter, MeteredChannel, MeteredFetcher
from vxdial.voicexml.session import Limits, SessionEnd

__all__ = ["DEFAULT_PROPERTIES", "run_session"]

log = logging.getLogger("vxdial.voicexml")

# Platform defaults of the properties used (VoiceXML 2.0 section 6.3; timeout,
# interdigittimeout and fetchtimeout are platform-dependent there: common values).
DEFAULT_PROPERTIES: Mapping[str, str] = {
    "timeout": "5s",
    "interdigittimeout": "3s",
    "termtimeout": "0s",
    "termchar": "#",
    "bargein": "true",
    "fetchtimeout": "10s",
    "inputmodes": "dtmf voice",
}

_TIME = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*\Z")
_MAX_SUBDIALOG_DEPTH = 16
# CPU a session spends at most between two turns of its event loop. A cancellation (the
# callee hung up, max_call_s, shutdown) reaches a coroutine only where it awaits, and
# walking thousands of nodes or items never really does: without these turns a hung-up
# session ran on until its CPU budget was spent (voicexml.isolation).
_TURN_EVERY_S = 0.01
_RECORDING_KEY = "__vx_recording"  # marks the value of a <record> item variable
_SSML_NS = "http://www.w3.org/2001/10/synthesis"


async def run_session(
    start: FetchRequest,
    *,
    channel: Channel,
    fetcher: Fetcher,
    session: Mapping[str, object],
    limits: Limits = Limits(),
) -> SessionEnd:
    """Run the VoiceXML application at ``start`` over ``channel`` until it ends.

    ``session`` holds the session variables (``session.telephone.ani`` ...), read-only to
    the application. Application errors (unusable documents, failed fetches, script
    errors, limits) end the session with reason "error"; they are never raised. The
    channel is hung up when the session ends, except after the caller hung up. Exceptions
    other than ``media.Hangup`` raised by the channel or the fetcher propagate.
    """
    shared = _Shared(channel, fetcher, session, limits)
    return await shared.run(start)


# -- control flow inside the interpreter ----------------------------------------------


class _Event(Exception):
    """A thrown VoiceXML event."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(name, message)
        self.name = name
        self.message = message


@dataclass(frozen=True, slots=True)
class _Heard:
    """Input matched by a grammar of another dialog, to fill it once entered."""

    grammar: _Active
    match: inputs.Match


class _Transition(Exception):
    """Leave the current dialog for ``dialog`` of ``document`` (None: the current one),
    whose application root is ``root`` (loaded with it)."""

    def __init__(
        self,
        document: model.VxmlDocument | None,
        dialog: model.Dialog,
        root: model.VxmlDocument | None = None,
        heard: _Heard | None = None,
        *,
        submitted: bool = False,
    ) -> None:
        super().__init__()
        self.document = document
        self.dialog = dialog
        self.root = root
        self.heard = heard
        self.submitted = submitted  # by <submit>: a root document is initialized again


class _NextItem(Exception):
    """``<goto nextitem>``: the next select phase takes ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        self.suppress_prompts = False  # set when it leaves a catch without <reprompt>


class _Return(Exception):
    """``<return>`` from a subdialog: its values, or the event to throw in the caller."""

    def __init__(self, values: dict[str, object], event: _Event | None) -> None:
        super().__init__()
        self.values = values
        self.event = event


class _End(Exception):
    def __init__(self, end: SessionEnd) -> None:
        super().__init__(end.reason)
        self.end = end


class _Limit(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _is_error(event: str) -> bool:
    return event == "error" or event.startswith("error.")


def _badfetch(exc: FetchError) -> str:
    return "error.badfetch" if exc.status is None else f"error.badfetch.http.{exc.status}"


def _join(base: str, uri: str) -> str:
    """``uri`` resolved against ``base``; a URI the parser refuses (``http://[x``: an
    unclosed IPv6 address) is error.badfetch, as a fetch of it would be."""
    try:
        return urljoin(base, uri)
    except ValueError as exc:
        raise _Event("error.badfetch", f"{uri!r} is not a usable URI ({exc})") from None


def _same_document(a: str, b: str) -> bool:
    return urldefrag(a)[0] == urldefrag(b)[0]


# -- what is active while listening ------------------------------------------------------

_Owner = Literal["item", "form", "link", "choice", "dialog"]


@dataclass(frozen=True, slots=True, eq=False)
class _Active:
    """One active grammar and what a match of it does.

    ``owner`` "item": fills the input item being visited; "form": a grammar of the
    current form (fills items by slot); "link": follows ``link``; "choice": follows
    ``choice`` of ``dialog``; "dialog": a document-scope grammar of ``dialog`` (another
    form, which is entered and filled). ``matcher`` is None for a voice grammar: active,
    but nothing is ever heard by it on this DTMF platform.
    """

    matcher: inputs.Matcher | None
    owner: _Owner
    link: model.Link | None = None
    choice: model.Choice | None = None
    dialog: model.Dialog | None = None
    document: model.VxmlDocument | None = None  # where a link or dialog lives


@dataclass(eq=False)
class _DialogState:
    """One visit of a form or menu: reset each time it is entered."""

    dialog: model.Dialog
    scope: script.Scope
    prompt_counts: dict[str, int] = field(default_factory=dict)
    item_counters: dict[str, events.Counters] = field(default_factory=dict)
    counters: events.Counters = field(default_factory=events.Counters)
    just_filled: list[str] = field(default_factory=list)
    next_item: str | None = None
    item_names: script.Names | None = None  # the form items' names, held by the engine

    @property
    def form(self) -> model.Form:
        assert isinstance(self.dialog, model.Form)
        return self.dialog


_TAGS: dict[type, str] = {
    model.Prompt: "prompt",
    model.Var: "var",
    model.Assign: "assign",
    model.If: "if",
    model.Goto: "goto",
    model.Submit: "submit",
    model.Exit: "exit",
    model.Disconnect: "disconnect",
    model.Throw: "throw",
    model.Return: "return",
    model.Reprompt: "reprompt",
    model.Clear: "clear",
    model.Log: "log",
    model.Script: "script",
    model.Data: "data",
    model.Foreach: "foreach",
    model.Block: "block",
    model.Field: "field",
    model.Initial: "initial",
    model.Record: "record",
    model.Transfer: "transfer",
    model.Subdialog: "subdialog",
}


def _tag_of(node: object) -> str:
    if isinstance(node, model.OtherItem | model.Unsupported):
        return node.tag
    return _TAGS.get(type(node), type(node).__name__.lower())


class _Semantic:
    """Turns a ``ScriptError`` into error.semantic, naming where it happened."""

    __slots__ = ("line", "what")

    def __init__(self, line: int, what: str) -> None:
        self.line = line
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if isinstance(exc, script.ScriptError):
            raise _Event("error.semantic", f"line {self.line}: {self.what}: {exc}") from None


# -- the session -------------------------------------------------------------------------


class _Shared:
    """What every execution context of one session shares: the call, the fetcher, the
    ECMAScript engine, the prompt queue, the limits and the final processing state."""

    def __init__(
        self,
        channel: Channel,
        fetcher: Fetcher,
        session: Mapping[str, object],
        limits: Limits,
    ) -> None:
        # The session's own CPU, paused while the channel and the fetcher are awaited.
        self.meter = Meter()
        self.channel: Channel = MeteredChannel(channel, self.meter)
        self.fetcher: Fetcher = MeteredFetcher(fetcher, self.meter)
        self.limits = limits
        self.call_id = session.get("call_id")
        self.js = script.Engine(
            session,
            time_limit_s=limits.script_time_s,
            memory_limit_bytes=limits.script_memory_bytes,
        )
        self.queue: list[_Queued] = []
        self.next_timeout: str | None = None  # the timeout of the last queued prompt
        # Set once in the final processing state: who ended the call.
        self.final: Literal["hangup", "disconnect"] | None = None
        self.final_values: dict[str, object] = {}
        self.steps = 0
        self.cpu_at_turn = 0.0  # CPU used when the event loop last had a turn
        self.documents = 0
        self.recordings: dict[int, _Recorded] = {}
        self.matchers: dict[tuple[str, str | None], inputs.Matcher | None] = {}

    async def run(self, start: FetchRequest) -> SessionEnd:
        context = _Context(self, depth=0, params=None)
        try:
            end = await context.run_application(start)
        except _End as exc:
            end = exc.end
        except (_Limit, script.LimitExceeded) as exc:
            self.queue.clear()
            message = exc.message if isinstance(exc, _Limit) else str(exc)
            end = SessionEnd("error", "error.semantic", f"limit exceeded: {message}")
        except script.ScriptError as exc:  # the engine failed outside any element
            self.queue.clear()
            end = SessionEnd("error", "error.semantic", str(exc))
        if end.reason == "error":
            log.info(
                "voicexml.error call_id=%s event=%s message=%s",
                self.call_id,
                end.event,
                end.message,
            )
        if self.final is None:
            try:
                await self.play_queue()
            except media.Hangup:
                return end
            await self.channel.hangup()
        return end

    def tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise _Limit(f"more than {self.limits.max_steps} interpreter steps (an endless loop?)")
        self.check_cpu()

    def check_cpu(self) -> float:
        """End the session once it has used ``limits.session_cpu_s`` of CPU (its own:
        ``meter``, whatever else shares its thread). Returns the CPU used."""
        used = self.meter.used()
        if used > self.limits.session_cpu_s:
            raise _Limit(
                f"the session used more than {self.limits.session_cpu_s:g} s of CPU (session_cpu_s)"
            )
        return used

    async def turn(self) -> None:
        """``check_cpu``, and once every ``_TURN_EVERY_S`` of CPU give the event loop a
        turn, where a cancellation of the session takes effect."""
        used = self.check_cpu()
        if used - self.cpu_at_turn >= _TURN_EVERY_S:
            self.cpu_at_turn = used
            self.meter.pause()
            try:
                await asyncio.sleep(0)  # a turn of the loop, not a wait: no Clock involved
            finally:
                self.meter.resume()

    def counted_document(self) -> None:
        self.documents += 1
        if self.documents > self.limits.max_documents:
            raise _Limit(
                f"more than {self.limits.max_documents} documents in one session"
                " (a <goto>/<submit> loop?)"
            )

    async def play_queue(self) -> str:
        """Play the queued prompts; returns the keys that barged in (which stop the rest
        of the queue). Keys typed during a prompt without barge-in are ignored."""
        queue, self.queue = self.queue, []
        for queued in queue:
            prompt = await self._fetch_audio(queued)
            if prompt is None:
                continue
            keys = await self.channel.play(prompt)
            if keys and prompt.bargein:
                return keys
        return ""

    async def _fetch_audio(self, queued: _Queued) -> media.Prompt | None:
        """The prompt as the channel gets it, its audio files fetched (through the
        fetcher and its cache, so the channel finds them there). VoiceXML 2.0 section
        4.1.3: an audio file that cannot be fetched is played as its ``<audio>`` content
        instead (the SSML keeps the content and loses the element), and without content
        it plays nothing and throws nothing. An ``<audio>`` inside one that plays is
        only its alternate content, so it is not fetched. None: nothing is left to
        play."""
        prompt = queued.prompt
        if not queued.audio:
            return prompt
        playable: list[str] = []
        ssml_pieces = list(queued.ssml_pieces)
        plays: dict[int, bool] = {}  # whether the audio (or one it is inside) plays
        dropped = False
        for index, audio in enumerate(queued.audio):
            if audio.parent is not None and plays[audio.parent]:
                plays[index] = True  # alternate content of an audio file that plays
                continue
            try:
                await self.fetcher.fetch(audio.request)
            except FetchError as exc:
                log.info(
                    "voicexml.audio_unplayable call_id=%s url=%s reason=%s: %s",
                    self.call_id,
                    audio.request.url,
                    exc.reason,
                    "its content is played" if audio.has_content else "nothing is played",
                )
                plays[index] = False
                ssml_pieces[audio.start] = ssml_pieces[audio.end] = ""
                dropped = True
            else:
                plays[index] = True
                playable.append(audio.request.url)
        if not (prompt.text or playable):
            return None
        ssml = prompt.ssml
        if ssml is not None and dropped:
            ssml = queued.ssml_head + "".join(ssml_pieces) + "</speak>"
        return replace(prompt, ssml=ssml, audio_urls=tuple(playable))

    def caller_hung_up(self) -> None:
        self.final = "hangup"
        self.queue.clear()


class _Context:
    """One execution context: an application, its current document and dialog."""

    def __init__(self, shared: _Shared, *, depth: int, params: dict[str, object] | None) -> None:
        self.shared = shared
        self.js = shared.js
        self.depth = depth
        self.params = params  # a subdialog's <param>s, given to its form's <var>s
        self.reprompted = False
        self.root: model.VxmlDocument | None = None
        self.doc: model.VxmlDocument | None = None
        self.doc_counters = events.Counters()
        self.state: _DialogState | None = None
        self.item: model.FormItem | None = None
        self.application = self.js.new_scope()
        self.document: script.Scope | None = None
        self.dialog: script.Scope | None = None
        self.anonymous: script.Scope | None = None
        self.run_node: dict[type, Callable[[Any], Awaitable[None]]] = {
            model.Prompt: self._prompt,
            model.Var: self._var,
            model.Assign: self._assign,
            model.If: self._if,
            model.Goto: self._goto,
            model.Submit: self._submit,
            model.Exit: self._exit,
            model.Disconnect: self._disconnect,
            model.Throw: self._throw,
            model.Return: self._return,
            model.Reprompt: self._reprompt,
            model.Clear: self._clear,
            model.Log: self._log,
            model.Script: self._script,
            model.Data: self._data,
            model.Foreach: self._foreach,
            model.Unsupported: self._unsupported,
        }

    # -- running an application ----------------------------------------------------------

    async def run_application(self, start: FetchRequest) -> SessionEnd:
        url, fragment = urldefrag(start.url)
        try:
            document, root = await self._load_with_root(
                FetchRequest(url, start.method, start.data, timeout_s=start.timeout_s)
            )
            dialog = self._dialog_of(document, fragment or None, None)
        except _Event as event:
            return self._uncaught(event)
        await self._run(_Transition(document, dialog, root))

    async def run_subdialog(
        self, document: model.VxmlDocument, root: model.VxmlDocument | None, fragment: str | None
    ) -> _Return:
        """Run a subdialog to its ``<return>``; events and transitions stay inside."""
        try:
            dialog = self._dialog_of(document, fragment, None)
        except _Event as event:
            return _Return({}, event)
        try:
            await self._run(_Transition(document, dialog, root))
        except _Return as done:
            return done

    async def _run(self, transition: _Transition) -> NoReturn:
        while True:
            try:
                if transition.document is not None:
                    await self._enter_document(
                        transition.document, transition.root, transition.submitted
                    )
                if isinstance(transition.dialog, model.Menu):
                    await self._run_menu(transition.dialog, transition.heard)
                else:
                    await self._run_form(transition.dialog, transition.heard)
            except _Transition as next_transition:
                transition = next_transition

    def _uncaught(self, event: _Event) -> SessionEnd:
        """The default handler's end of the session (VoiceXML 2.0 section 5.2.5)."""
        shared = self.shared
        name = event.name
        if _is_error(name):
            return SessionEnd(
                "error", name, event.message or f"uncaught {name}", dict(shared.final_values)
            )
        if (
            name == "exit"
            or name == "connection.disconnect"
            or name.startswith("connection.disconnect.")
        ):
            return SessionEnd(shared.final or "exit", values=dict(shared.final_values))
        return SessionEnd("error", name, event.message or f"no <catch> for event {name!r}")

    def _ended(self, reason: Literal["exit", "end"], values: Mapping[str, object]) -> _End:
        shared = self.shared
        return _End(SessionEnd(shared.final or reason, values={**shared.final_values, **values}))

    # -- documents -------------------------------------------------------------------------

    async def _load(self, request: FetchRequest) -> model.VxmlDocument:
        """Fetch and parse a VoiceXML document (throws error.badfetch)."""
        self.shared.counted_document()
        try:
            fetched = await self.shared.fetcher.fetch(request)
        except FetchError as exc:
            raise _Event(_badfetch(exc), f"{request.url}: {exc.reason}") from None
        limit = self.shared.limits.max_document_bytes
        if len(fetched.body) > limit:
            raise _Event(
                "error.badfetch",
                f"{fetched.url}: the document is {len(fetched.body)} bytes, more than the "
                f"limit of {limit} (max_document_bytes)",
            )
        try:
            return parse.load(fetched.url, fetched.body)
        except parse.DocumentError as exc:
            raise _Event("error.badfetch", f"{fetched.url}: {exc}") from None

    async def _load_with_root(
        self, request: FetchRequest
    ) -> tuple[model.VxmlDocument, model.VxmlDocument | None]:
        """A document and its application root document (None: it has none, or it is
        the current root), both loaded before the transition so that a failure is
        thrown where the transition was asked for."""
        document = await self._load(request)
        return document, await self._root_of(document)

    async def _root_of(self, document: model.VxmlDocument) -> model.VxmlDocument | None:
        if document.application is None:
            return None
        url = urldefrag(_join(document.base, document.application))[0]
        if self.root is not None and _same_document(self.root.url, url):
            return self.root
        if _same_document(url, document.url):
            return None  # a root naming itself
        root = await self._load(self._request(url, "GET", "", None, model.NO_FETCH))
        if root.application is not None:
            raise _Event(
                "error.semantic",
                f"{root.url}: an application root document cannot have an application",
            )
        return root

    def _dialog_of(
        self, document: model.VxmlDocument, id: str | None, line: int | None
    ) -> model.Dialog:
        dialog = document.dialog(id)
        if dialog is None:
            where = "" if line is None else f"line {line}: "
            what = f"no dialog with id {id!r}" if id is not None else "no dialog"
            raise _Event("error.badfetch", f"{where}{document.url} has {what}")
        return dialog

    def _enter_scopes(self) -> None:
        self.js.enter(self.application, self.document, self.dialog, self.anonymous)

    async def _enter_document(
        self, document: model.VxmlDocument, root: model.VxmlDocument | None, submitted: bool
    ) -> None:
        """Initialize ``document`` (VoiceXML 2.0 section 1.5.2): a new application
        scope unless the application root stays the same, the root's variables and
        scripts first when it is new, then the document's own, in document order. When
        the document is the application root itself, its document scope is the
        application scope; a ``<goto>`` from a leaf keeps the root's variables, a
        ``<submit>`` initializes the root again (IR assertions 73 and 74)."""
        self.shared.tick()
        is_root = self.root is not None and _same_document(document.url, self.root.url)
        if is_root and submitted:
            self.root = None
            is_root = False
        keeps_root = root is not None and root is self.root
        if not (is_root or keeps_root):
            self.application = self.js.new_scope()
            self.js.declare(self.application, "lastresult$", None)
            self.root = root
            if root is not None:
                await self._initialize(root, self.application)
        if is_root:
            # Back to the root: it stays loaded and keeps its variables (section 1.5.2).
            self._become(document, self.application)
            return
        await self._initialize(document, None)

    def _become(self, document: model.VxmlDocument, scope: script.Scope) -> None:
        self.doc = document
        self.doc_counters = events.Counters()
        self.state = None
        self.item = None
        self.document = scope
        self.dialog = None
        self.anonymous = None
        self._enter_scopes()

    async def _initialize(self, document: model.VxmlDocument, scope: script.Scope | None) -> None:
        self._become(document, scope if scope is not None else self.js.new_scope())
        try:
            for node in document.init:
                await self._run_nodes((node,))
        except _Event as event:
            await self._handle(event)

    # -- forms -----------------------------------------------------------------------------

    def _new_state(self, dialog: model.Dialog) -> _DialogState:
        self.shared.tick()
        state = _DialogState(dialog, self.js.new_scope())
        self.state = state
        self.item = None
        self.dialog = state.scope
        self.anonymous = None
        self._enter_scopes()
        return state

    async def _run_form(self, form: model.Form, heard: _Heard | None) -> NoReturn:
        """The FIA for one form; leaves by ``_Transition``, ``_Return`` or ``_End``."""
        state = self._new_state(form)
        for each in form.items:
            state.prompt_counts[each.name] = 1
            state.item_counters[each.name] = events.Counters()
        suppress = False
        try:
            await self._initialize_form(state)
            if heard is not None:
                # Input heard in another dialog for this form's grammars fills it now.
                grammar = replace(heard.grammar, owner="form")
                suppress = await self._process(state, grammar, heard.match, None)
        except _Event as event:
            suppress = not await self._handle(event)
        except _NextItem as jump:
            state.next_item, suppress = jump.name, jump.suppress_prompts
        while True:
            self.shared.tick()
            await self.shared.turn()
            self.item = None
            try:
                try:
                    item = self._select(state)
                    if item is None:
                        raise self._ended("end", {})
                    self.item = item
                    suppress = await self._visit(state, item, suppress)
                except _Event as event:
                    suppress = not await self._handle(event)
            except _NextItem as jump:
                state.next_item, suppress = jump.name, jump.suppress_prompts

    async def _initialize_form(self, state: _DialogState) -> None:
        """Form variables, scripts and form item variables in document order; a
        subdialog's ``<param>``s replace the ``expr`` of the ``<var>``s they name."""
        params = self.params
        unused = set(params or ())
        for node in state.form.init:
            if isinstance(node, model.Var) and params is not None and node.name in params:
                unused.discard(node.name)
                self.js.set_value(state.scope, node.name, params[node.name])
            elif isinstance(node, model.Var | model.Script):
                await self._run_nodes((node,))
            else:
                await self.shared.turn()  # a form of 100,000 items declares as many
                with _Semantic(node.line, f"<{_tag_of(node)} expr>"):
                    self.js.declare(state.scope, node.name, node.expr)
        self.params = None  # only the first form of a subdialog receives them
        if unused:
            names = ", ".join(sorted(unused))
            raise _Event("error.semantic", f"<param> {names}: no <var> of that name in the form")

    def _select(self, state: _DialogState) -> model.FormItem | None:
        """The select phase: the ``<goto nextitem>`` target, else the first form item
        whose guard condition is false (its variable undefined and its cond true)."""
        if state.next_item is not None:
            name, state.next_item = state.next_item, None
            return state.form.item(name)
        items = state.form.items
        if state.item_names is None:
            state.item_names = self.js.names([item.name for item in items])
        start = 0
        # One engine call finds the next item whose variable is undefined: asking item
        # by item made each iteration cost a call per item before it (quadratic in the
        # form's size: 8,000 blocks took minutes).
        while (found := self.js.first_undefined(state.scope, state.item_names, start)) is not None:
            item = items[found]
            if item.cond is None:
                return item
            with _Semantic(item.line, f"<{_tag_of(item)} cond>"):
                if self.js.truthy(item.cond):
                    return item
            start = found + 1
        return None

    async def _visit(self, state: _DialogState, item: model.FormItem, suppress: bool) -> bool:
        """Collect and process ``item``; True when the next iteration must not queue
        prompts (it ended in a catch without <reprompt>)."""
        if isinstance(item, model.Block):
            self.js.set(state.scope, item.name, True)
            await self._anonymous(item.body)
            return False
        if isinstance(item, model.OtherItem):
            raise _Event(
                "error.unsupported.objectname",
                f"line {item.line}: <{item.tag}> is not supported",
            )
        if isinstance(item, model.Field) and item.grammar_problem is not None:
            raise _Event(*item.grammar_problem)
        if not suppress:
            self._queue_item_prompts(state, item)
        if isinstance(item, model.Field | model.Initial):
            grammars = await self._active_grammars(state, item)
            if not grammars and isinstance(item, model.Field):
                # Legal without grammars of its own while others are active (links,
                # form, document, application root: VoiceXML 2.0 sections 3.1.3, 3.1.4).
                own = "and it is modal" if item.modal else "and no other grammar is active"
                raise _Event(
                    "error.semantic",
                    f"line {item.line}: <field> has no active grammar: none of its own"
                    f" (type, <grammar> or <option>) {own}",
                )
            active, match = await self._listen(grammars)
            return await self._process(state, active, match, item)
        if isinstance(item, model.Record):
            return await self._visit_record(state, item)
        if isinstance(item, model.Transfer):
            return await self._visit_transfer(state, item)
        return await self._visit_subdialog(state, item)

    async def _process(
        self,
        state: _DialogState,
        active: _Active,
        match: inputs.Match,
        item: model.FormItem | None,
    ) -> bool:
        """The process phase for a grammar match: links and choices transition (or
        throw), other matches fill items and run the triggered ``<filled>``s."""
        if active.owner in ("link", "choice"):
            self._last_result(match)
            await self._follow(active)
        if active.owner == "dialog":
            assert active.dialog is not None
            raise _Transition(
                None if active.document is self.doc else active.document,
                active.dialog,
                None if active.document is self.doc else self.root,
                _Heard(active, match),
            )
        self._last_result(match)
        filled: list[str] = []
        value = match.value
        if active.owner == "item" and isinstance(item, model.Field):
            if isinstance(value, dict) and item.slot in value:
                value = value[item.slot]
            self.js.fill(state.scope, item.name, value, self._shadow(match))
            filled.append(item.name)
        else:
            filled = self._fill_slots(state, match, item)
            if not filled:
                raise _Event("nomatch", "the input fills no field of the form")
        if any(not isinstance(state.form.item(name), model.Initial) for name in filled):
            # Input filled the form: its <initial> items have done their work.
            for each in state.form.items:
                if isinstance(each, model.Initial):
                    self.js.set(state.scope, each.name, True)
        return await self._filleds(state, filled)

    def _fill_slots(
        self, state: _DialogState, match: inputs.Match, item: model.FormItem | None
    ) -> list[str]:
        """A form-level grammar: its result's properties fill the fields of that slot
        name that are not filled yet; a result that is not an object fills the field
        being visited (the mixed-initiative rule of VoiceXML 2.0 section 3.1.6.3, for
        grammars that return a plain value)."""
        value = match.value
        filled: list[str] = []
        if isinstance(value, dict):
            for each in state.form.items:
                if isinstance(each, model.Field) and each.slot in value:
                    self.js.fill(state.scope, each.name, value[each.slot], self._shadow(match))
                    filled.append(each.name)
        elif isinstance(item, model.Field):
            self.js.fill(state.scope, item.name, value, self._shadow(match))
            filled.append(item.name)
        return filled

    def _shadow(self, match: inputs.Match) -> dict[str, object]:
        return {
            "utterance": _utterance(match.keys),
            "inputmode": "dtmf",
            "confidence": 1.0,
            "interpretation": match.value,
        }

    def _last_result(self, match: inputs.Match) -> None:
        self.js.last_result(self._shadow(match))

    async def _filleds(self, state: _DialogState, filled: Sequence[str]) -> bool:
        """Run the ``<filled>``s triggered by ``filled`` in document order: an item's
        own when it was filled, a form-level one when one of its names was (mode any)
        or when all of them are filled and one of them just was (mode all)."""
        state.just_filled = list(filled)
        for element in state.form.filleds:
            if not any(name in state.just_filled for name in element.names):
                continue
            if element.mode == "all" and any(
                self.js.is_undefined(state.scope, name) for name in element.names
            ):
                continue
            # Events thrown in a <filled> are handled in the scope of its owner.
            self.item = None if element.owner is None else state.form.item(element.owner)
            try:
                await self._anonymous(element.body)
            except _Event as event:
                return not await self._handle(event)
        return False

    # -- record, transfer, subdialog -------------------------------------------------------

    async def _visit_record(self, state: _DialogState, item: model.Record) -> bool:
        try:
            # Checked before anyone is recorded (VoiceXML 2.0 section 2.3.6: a format
            # the platform cannot write is error.unsupported.format, naming it).
            written_as = media.recording_format(item.type)
        except media.UnsupportedFormat as exc:
            raise _Event(
                "error.unsupported.format", f"line {item.line}: <record type>: {exc}"
            ) from None
        max_time_s = self._time(item.maxtime, "<record maxtime>") if item.maxtime else 0.0
        final_silence_s = (
            self._time(item.finalsilence, "<record finalsilence>") if item.finalsilence else 2.0
        )
        shared = self.shared
        if shared.final is not None:
            raise self._ended("exit", {})
        shared.next_timeout = None
        try:
            await shared.play_queue()
            recording = await shared.channel.record(
                max_time_s=max_time_s,
                final_silence_s=final_silence_s,
                dtmf_term=item.dtmfterm,
                beep=item.beep,
            )
        except media.Hangup:
            shared.caller_hung_up()
            raise _Event("connection.disconnect.hangup") from None
        if recording.duration_s <= 0:
            raise _Event("noinput", "nothing was recorded")
        try:
            audio = media.encode_recording(recording.audio, written_as)
        except media.UnsupportedFormat as exc:
            raise _Event(
                "error.unsupported.format", f"line {item.line}: <record type>: {exc}"
            ) from None
        number = len(shared.recordings) + 1
        shared.recordings[number] = _Recorded(audio, written_as)
        value = {
            _RECORDING_KEY: number,
            "type": written_as.media_type,
            "size": len(audio),
            "duration": round(recording.duration_s * 1000),
        }
        shadow: dict[str, object] = {
            "duration": round(recording.duration_s * 1000),
            "size": len(audio),
            "maxtime": recording.max_time_reached,
        }
        if recording.termchar is not None:
            # Undefined unless a key ended the recording (VoiceXML 2.0 section 2.3.6).
            shadow["termchar"] = recording.termchar
        self.js.fill(state.scope, item.name, value, shadow)
        return await self._filleds(state, [item.name])

    async def _visit_transfer(self, state: _DialogState, item: model.Transfer) -> bool:
        if item.type == "consultation":
            raise _Event(
                "error.unsupported.transfer.consultation",
                f"line {item.line}: consultation transfers are not supported",
            )
        with _Semantic(item.line, "<transfer destexpr>"):
            destination = item.dest if item.dest is not None else self._string(item.destexpr)
        if destination is None or not destination.strip():
            raise _Event("error.semantic", f"line {item.line}: <transfer> has no destination")
        connect_timeout_s = (
            self._time(item.connecttimeout, "<transfer connecttimeout>")
            if item.connecttimeout
            else 30.0
        )
        max_time_s = self._time(item.maxtime, "<transfer maxtime>") if item.maxtime else 0.0
        shared = self.shared
        if shared.final is not None:
            raise self._ended("exit", {})
        try:
            await shared.play_queue()
            result = await shared.channel.transfer(
                destination=destination.strip(),
                bridge=item.type == "bridge",
                connect_timeout_s=connect_timeout_s,
                max_time_s=max_time_s,
            )
        except media.Hangup:
            shared.caller_hung_up()
            raise _Event("connection.disconnect.hangup") from None
        if item.type == "blind" and result.outcome == "unknown":
            # The caller now talks to the destination: the call is over for us.
            shared.final = "disconnect"
            shared.queue.clear()
            raise _Event("connection.disconnect.transfer")
        # No grammar ends a transfer here: inputmode and utterance stay undefined
        # (VoiceXML 2.0 section 2.3.7, the <transfer> shadow variables).
        shadow = {"duration": result.duration_s}
        self.js.fill(state.scope, item.name, result.outcome, shadow)
        return await self._filleds(state, [item.name])

    async def _visit_subdialog(self, state: _DialogState, item: model.Subdialog) -> bool:
        if self.depth + 1 > _MAX_SUBDIALOG_DEPTH:
            raise _Limit(f"subdialogs nested more than {_MAX_SUBDIALOG_DEPTH} deep")
        assert self.doc is not None
        with _Semantic(item.line, "<subdialog srcexpr>"):
            src = item.src if item.src is not None else self._string(item.srcexpr)
        params: dict[str, object] = {}
        for param in item.params:
            with _Semantic(param.line, f"<param name={param.name!r}>"):
                params[param.name] = (
                    self.js.value(param.expr) if param.expr is not None else param.value
                )
        src = src.strip()
        if src.startswith("#"):
            document, root, fragment = self.doc, self.root, src[1:] or None
        else:
            url, fragment_text = urldefrag(_join(self.doc.base, src))
            fragment = fragment_text or None
            data = self._namelist_data(item.namelist, item.line)
            request = self._request(url, item.method, item.enctype, data, item.fetch)
            document, root = await self._load_with_root(request)
        # A new execution context, the caller's suspended (VoiceXML 2.0 section 2.3.4).
        callee = _Context(self.shared, depth=self.depth + 1, params=params)
        if root is document:
            root = None
        done = await callee.run_subdialog(document, root, fragment)
        self._enter_scopes()
        if done.event is not None:
            raise done.event
        self.js.fill(state.scope, item.name, done.values, None)
        return await self._filleds(state, [item.name])

    # -- menus -----------------------------------------------------------------------------

    async def _run_menu(self, menu: model.Menu, heard: _Heard | None) -> NoReturn:
        """A menu: its prompts, then its choices' grammars (with the document's); a
        matching choice is followed. Events are handled with the menu's catches."""
        state = self._new_state(menu)
        state.prompt_counts[""] = 1
        suppress = False
        if heard is not None and heard.grammar.choice is not None:
            await self._follow(heard.grammar)
        while True:
            self.shared.tick()
            try:
                if not suppress:
                    self._queue_prompts(state, "", menu.prompts, menu.properties)
                active, match = await self._listen(await self._active_grammars(state, None))
                self._last_result(match)
                await self._follow(active)
            except _Event as event:
                suppress = not await self._handle(event)

    async def _follow(self, active: _Active) -> None:
        """A matched ``<choice>`` or ``<link>``: throw its event or go to its target,
        resolved against the document it is written in."""
        target = active.choice if active.owner == "choice" else active.link
        assert target is not None
        tag = "<choice>" if active.owner == "choice" else "<link>"
        if target.event is not None or target.eventexpr is not None:
            with _Semantic(target.line, f"{tag} eventexpr"):
                raise self._event_of(target)
        with _Semantic(target.line, f"{tag} expr"):
            uri = target.next if target.next is not None else self._string(target.expr)
        await self._go(uri.strip(), target.line, target.fetch, local=True, base=active.document)

    # -- grammars and input ----------------------------------------------------------------

    async def _active_grammars(
        self, state: _DialogState, item: model.Field | model.Initial | None
    ) -> list[_Active]:
        """The grammars active while ``item`` (or the menu) listens, by precedence."""
        assert self.doc is not None
        dialog = state.dialog
        active: list[_Active] = []
        if isinstance(item, model.Field):
            for grammar in item.grammars:
                await self._add(active, grammar, "item")
            if item.modal:
                return active
        if isinstance(item, model.Field | model.Initial):
            for link in item.links:
                await self._add_link(active, link, self.doc)
        if isinstance(dialog, model.Form):
            for grammar in dialog.grammars:
                await self._add(active, grammar, "form")
            for link in dialog.links:
                await self._add_link(active, link, self.doc)
        else:
            for choice in dialog.choices:
                for grammar in choice.grammars:
                    await self._add(active, grammar, "choice", choice=choice, dialog=dialog)
        for document in (self.doc, self.root):
            if document is None or (document is self.root and self.doc is self.root):
                continue
            for link in document.links:
                await self._add_link(active, link, document)
            for other in document.dialogs:
                if other is dialog:
                    continue
                if isinstance(other, model.Menu):
                    if other.scope == "document":
                        for choice in other.choices:
                            for grammar in choice.grammars:
                                await self._add(
                                    active,
                                    grammar,
                                    "choice",
                                    choice=choice,
                                    dialog=other,
                                    document=document,
                                )
                    continue
                for grammar in other.grammars:
                    if grammar.scope == "document":
                        await self._add(active, grammar, "dialog", dialog=other, document=document)
        return active

    async def _add_link(
        self, active: list[_Active], link: model.Link, document: model.VxmlDocument
    ) -> None:
        for grammar in link.grammars:
            await self._add(active, grammar, "link", link=link, document=document)

    async def _add(
        self,
        active: list[_Active],
        grammar: model.Grammar,
        owner: _Owner,
        *,
        link: model.Link | None = None,
        choice: model.Choice | None = None,
        dialog: model.Dialog | None = None,
        document: model.VxmlDocument | None = None,
    ) -> None:
        matcher = await self._matcher(grammar, document or self.doc)
        active.append(_Active(matcher, owner, link, choice, dialog, document or self.doc))

    async def _matcher(
        self, grammar: model.Grammar, document: model.VxmlDocument | None
    ) -> inputs.Matcher | None:
        """The matcher of a DTMF grammar; None for a voice grammar (which hears nothing here).
        External grammars are fetched once per session."""
        if grammar.mode == "voice":
            return None
        where = f"line {grammar.line}: <grammar>"
        try:
            if grammar.builtin is not None:
                return self._cached(("builtin", grammar.builtin), inputs.builtin)
            if grammar.keys is not None:
                return inputs.keys(grammar.keys, grammar.value)
            if grammar.inline is not None:
                body = grammar.inline
                if inputs.srgs_mode(body) != "dtmf":
                    return None
                assert document is not None
                externals = await self._externals(body, document.base, where)
                return inputs.srgs(body, externals=externals)
        except inputs.Unsupported as exc:
            raise _Event(exc.event, f"{where}: {exc}") from None
        except inputs.GrammarError as exc:
            raise _Event("error.badfetch", f"{where}: {exc}") from None
        assert document is not None
        with _Semantic(grammar.line, "<grammar srcexpr>"):
            src = grammar.src if grammar.src is not None else self._string(grammar.srcexpr)
        url, fragment = urldefrag(_join(document.base, src.strip()))
        key = (url, fragment or None)
        if key in self.shared.matchers:
            return self.shared.matchers[key]
        request = self._request(url, "GET", "", None, grammar.fetch)
        try:
            fetched = await self.shared.fetcher.fetch(request)
        except FetchError as exc:
            raise _Event(_badfetch(exc), f"{where}: {url}: {exc.reason}") from None
        # The author's type first, else the server's (the content itself decides where it
        # says what it is: inputs._grammar_root).
        media_type = grammar.type or fetched.content_type
        try:
            matcher: inputs.Matcher | None = None
            if (grammar.mode or inputs.srgs_mode(fetched.body, media_type)) == "dtmf":
                externals = await self._externals(fetched.body, fetched.url, where, media_type)
                matcher = inputs.srgs(
                    fetched.body,
                    fragment=fragment or None,
                    externals=externals,
                    media_type=media_type,
                )
        except inputs.Unsupported as exc:
            raise _Event(exc.event, f"{where}: {url}: {exc}") from None
        except inputs.GrammarError as exc:
            raise _Event("error.badfetch", f"{where}: {url}: {exc}") from None
        self.shared.matchers[key] = matcher
        return matcher

    async def _externals(
        self, body: bytes, base: str, where: str, media_type: str | None = None
    ) -> dict[str, bytes]:
        """The grammars an SRGS grammar references by URI, fetched (one level deep)."""
        externals: dict[str, bytes] = {}
        for uri in inputs.external_refs(body, media_type):
            url = urldefrag(_join(base, uri))[0]
            request = self._request(url, "GET", "", None, model.NO_FETCH)
            try:
                externals[uri] = (await self.shared.fetcher.fetch(request)).body
            except FetchError as exc:
                raise _Event(_badfetch(exc), f"{where}: {url}: {exc.reason}") from None
        return externals

    def _cached(
        self, key: tuple[str, str], build: Callable[[str], inputs.Matcher]
    ) -> inputs.Matcher | None:
        matchers = self.shared.matchers
        if key not in matchers:
            matchers[key] = build(key[1])
        return matchers[key]

    async def _listen(self, active: list[_Active]) -> tuple[_Active, inputs.Match]:
        """Play the prompt queue and wait for keys (the waiting state): the first
        active grammar (by precedence) that accepts them, or noinput / nomatch."""
        shared = self.shared
        if shared.final is not None:
            raise self._ended("exit", {})  # no input after the call is gone
        timeout = shared.next_timeout
        shared.next_timeout = None
        timeout_s = (
            self._time(timeout, "<prompt timeout>")
            if timeout is not None
            else self._time_property("timeout")
        )
        interdigit_timeout_s = self._time_property("interdigittimeout")
        termchar = self._termchar()
        deaf = "dtmf" not in self._property("inputmodes").split()
        # Keys meet the DTMF grammars alone; with inputmodes without dtmf, not even those.
        heard = [] if deaf else [(each, each.matcher) for each in active if each.matcher]
        lengths = [matcher.max_length for _, matcher in heard]
        max_digits = 0 if not lengths or None in lengths else max(n or 0 for n in lengths)
        matchers = [matcher for _, matcher in heard]

        def complete(keys: str) -> bool:
            # Accepted by some grammar and extendable by none. Structure only (with no
            # grammar extendable, "viable" is "accepted"): the channel calls this on its
            # own thread (voicexml.isolation), where the engine that runs tag scripts
            # must not be touched. A tag script that then fails is a nomatch, as ever.
            return not any(m.extendable(keys) for m in matchers) and any(
                m.viable(keys) for m in matchers
            )

        try:
            already = await shared.play_queue()
            collected = await shared.channel.collect(
                max_digits=max_digits,
                timeout_s=timeout_s,
                interdigit_timeout_s=interdigit_timeout_s,
                termchar=termchar,
                already=already,
                complete=complete,
            )
        except media.Hangup:
            shared.caller_hung_up()
            raise _Event("connection.disconnect.hangup") from None
        keys = collected.digits
        if deaf or (not keys and collected.ended_by == "noinput"):
            raise _Event("noinput")
        candidates = [keys]
        if collected.ended_by == "termchar" and collected.termchar:
            # A grammar may itself accept the terminating key (a choice of "#").
            candidates.append(keys + collected.termchar)
        for each, matcher in heard:
            for candidate in candidates:
                found = matcher.match(candidate) if candidate else None
                if found is not None:
                    return each, found
        shown = keys + (collected.termchar or "")
        raise _Event("nomatch", f"keys {shown!r} match no active grammar")

    # -- events ----------------------------------------------------------------------------

    async def _handle(self, event: _Event) -> bool:
        """Run the handler of ``event`` in the current scope (VoiceXML 2.0 section 5.2.4);
        True when it executed ``<reprompt>``. Events thrown by the handler are handled
        in turn; transitions and the end of the session propagate."""
        assert self.doc is not None
        scopes: list[Sequence[model.Catch]] = []
        item = self.item
        if item is not None and not isinstance(item, model.Block):
            scopes.append(item.catches)
        state = self.state
        if state is not None:
            scopes.append(state.dialog.catches)
        scopes.append(self.doc.catches)
        if self.root is not None and self.root is not self.doc:
            scopes.append(self.root.catches)
        if item is not None and state is not None:
            counters = state.item_counters[item.name]
        elif state is not None:
            counters = state.counters
        else:
            counters = self.doc_counters
        while True:
            self.shared.tick()
            counters.increment(event.name)
            log.log(
                logging.INFO if _is_error(event.name) else logging.DEBUG,
                "voicexml.event call_id=%s event=%s message=%s",
                self.shared.call_id,
                event.name,
                event.message,
            )
            try:
                catch = events.select(scopes, event.name, counters, self.js.truthy)
            except script.ScriptError as exc:
                event = _Event("error.semantic", f"<catch cond>: {exc}")
                continue
            if catch is None:
                action = events.default_action(event.name)
                if action == "exit":
                    raise _End(self._uncaught(event))
                return action == "reprompt"
            self.reprompted = False
            try:
                await self._anonymous(catch.body, event)
            except _Event as nested:
                event = nested
                continue
            except _NextItem as jump:
                jump.suppress_prompts = not self.reprompted
                raise
            return self.reprompted

    # -- executable content --------------------------------------------------------------

    async def _anonymous(self, body: tuple[model.Node, ...], event: _Event | None = None) -> None:
        """Run ``body`` in a new anonymous scope (a block, filled or catch); a catch's
        scope holds ``_event`` and ``_message``."""
        scope = self.js.new_scope()
        if event is not None:
            self.js.set(scope, "_event", event.name)
            if event.message is None:
                self.js.declare(scope, "_message", None)
            else:
                self.js.set(scope, "_message", event.message)
        outer = self.anonymous
        self.anonymous = scope
        self._enter_scopes()
        try:
            await self._run_nodes(body)
        finally:
            self.anonymous = outer
            self._enter_scopes()

    async def _run_nodes(self, nodes: tuple[model.Node, ...]) -> None:
        for node in nodes:
            # Before each element, not only each FIA step: a <block> of a hundred
            # <script>s of script_time_s each would run them all past session_cpu_s.
            await self.shared.turn()
            try:
                await self.run_node[type(node)](node)
            except script.ScriptError as exc:
                raise _Event(
                    "error.semantic", f"line {node.line}: <{_tag_of(node)}>: {exc}"
                ) from None

    def _innermost(self) -> script.Scope:
        scope = self.anonymous or self.dialog or self.document
        assert scope is not None
        return scope

    async def _prompt(self, node: model.Prompt) -> None:
        if node.cond is None or self.js.truthy(node.cond):
            self._queue(node, None)

    async def _var(self, node: model.Var) -> None:
        self.js.declare(self._innermost(), node.name, node.expr)

    async def _assign(self, node: model.Assign) -> None:
        self.js.assign(node.name, node.expr)

    async def _if(self, node: model.If) -> None:
        for cond, body in node.branches:
            if cond is None or self.js.truthy(cond):
                await self._run_nodes(body)
                return

    async def _goto(self, node: model.Goto) -> None:
        if node.nextitem is not None or node.expritem is not None:
            name = node.nextitem if node.nextitem is not None else self._string(node.expritem)
            name = name.strip()
            state = self.state
            if state is None or not isinstance(state.dialog, model.Form):
                raise _Event("error.badfetch", f"line {node.line}: <goto nextitem> outside a form")
            if state.form.item(name) is None:
                raise _Event(
                    "error.badfetch",
                    f"line {node.line}: <goto nextitem>: no form item {name!r} in this form",
                )
            raise _NextItem(name)
        uri = node.next if node.next is not None else self._string(node.expr)
        await self._go(uri.strip(), node.line, node.fetch, local=True)

    async def _submit(self, node: model.Submit) -> None:
        uri = node.next if node.next is not None else self._string(node.expr)
        names = node.namelist or self._input_item_names()
        data = self._namelist_data(names, node.line)
        await self._go(
            uri.strip(),
            node.line,
            node.fetch,
            method=node.method,
            enctype=node.enctype,
            data=data,
            submitted=True,
        )

    def _input_item_names(self) -> tuple[str, ...]:
        """``<submit>`` without a namelist sends the named input item variables of the
        current form (VoiceXML 2.0 section 5.3.8)."""
        state = self.state
        if state is None or not isinstance(state.dialog, model.Form):
            return ()
        return tuple(
            item.name
            for item in state.form.items
            if not isinstance(item, model.Block | model.Initial) and not item.name.startswith("#")
        )

    def _namelist_data(self, names: Sequence[str], line: int) -> _Data:
        """The values of ``names`` as submitted: strings, objects flattened to
        ``name.property`` fields, recordings as file parts."""
        data = _Data()
        for name in names:
            with _Semantic(line, f"namelist {name!r}"):
                value = self.js.value(name)
            self._add_value(data, name, value)
        return data

    def _add_value(self, data: _Data, name: str, value: object) -> None:
        if isinstance(value, dict) and _RECORDING_KEY in value:
            recorded = self.shared.recordings.get(int(value[_RECORDING_KEY]))
            if recorded is not None:
                # The part says what its bytes are, whatever the variable holds now.
                written_as = recorded.written_as
                data.files[name] = Upload(
                    name + written_as.extension, written_as.media_type, recorded.audio
                )
                return
        if isinstance(value, dict):
            for key, each in value.items():
                self._add_value(data, f"{name}.{key}", each)
            return
        data.fields[name] = _form_string(value)

    def _request(
        self,
        url: str,
        method: str,
        enctype: str,
        data: _Data | None,
        fetch: model.Fetch,
    ) -> FetchRequest:
        """A fetch with the element's fetch attributes, or the fetchtimeout property."""
        if fetch.timeout is not None:
            timeout_s: float | None = self._time(fetch.timeout, "fetchtimeout")
        else:
            # Unless the application sets it, the fetcher's own timeout applies.
            written = self._property_or_none("fetchtimeout")
            timeout_s = None if written is None else self._time(written, "fetchtimeout")
        maxage_s = self._seconds(fetch.maxage, "maxage")
        maxstale_s = self._seconds(fetch.maxstale, "maxstale")
        fields = data.fields if data is not None else {}
        files = data.files if data is not None else {}
        if method == "GET" or (method != "POST" and not files):
            if fields:
                url += ("&" if "?" in url else "?") + urlencode(fields)
            return FetchRequest(
                url, "GET", None, timeout_s=timeout_s, maxage_s=maxage_s, maxstale_s=maxstale_s
            )
        if files:
            enctype = "multipart/form-data"  # a recording cannot be url-encoded
        return FetchRequest(
            url,
            "POST",
            fields,
            files=files or None,
            enctype=enctype,
            timeout_s=timeout_s,
            maxage_s=maxage_s,
            maxstale_s=maxstale_s,
        )

    async def _go(
        self,
        uri: str,
        line: int,
        fetch: model.Fetch,
        *,
        local: bool = False,
        method: str = "GET",
        enctype: str = "application/x-www-form-urlencoded",
        data: _Data | None = None,
        base: model.VxmlDocument | None = None,
        submitted: bool = False,
    ) -> None:
        """Transition to ``uri`` (relative to the document); "#id" alone stays in this
        document. The target is fetched and checked here, so that error.badfetch is
        thrown to the element that asked for it."""
        document = base or self.doc
        assert document is not None and self.doc is not None
        if local and uri.startswith("#"):
            dialog = self._dialog_of(document, uri[1:] or None, line)
            if document is self.doc:
                raise _Transition(None, dialog)
            raise _Transition(document, dialog, self.root)  # a dialog of the root
        if not uri:
            raise _Event("error.badfetch", f"line {line}: an empty URI")
        url, fragment = urldefrag(_join(document.base, uri))
        request = self._request(url, method, enctype, data, fetch)
        try:
            target, root = await self._load_with_root(request)
        except _Event as event:
            raise _Event(event.name, f"line {line}: {event.message}") from None
        dialog = self._dialog_of(target, fragment or None, line)
        raise _Transition(target, dialog, root, submitted=submitted)

    async def _exit(self, node: model.Exit) -> None:
        raise self._ended("exit", self._values(node.namelist, node.expr))

    async def _disconnect(self, node: model.Disconnect) -> None:
        shared = self.shared
        values = self._values(node.namelist, None)
        if shared.final is not None:
            raise self._ended("exit", values)
        try:
            await shared.play_queue()
        except media.Hangup:
            shared.caller_hung_up()
        else:
            await shared.channel.hangup()
            shared.final = "disconnect"
        shared.final_values.update(values)
        raise _Event("connection.disconnect.hangup")

    async def _throw(self, node: model.Throw) -> None:
        raise self._event_of(node)

    def _event_of(self, node: model.Throw | model.Return | model.Choice | model.Link) -> _Event:
        name = node.event if node.event is not None else self._string(node.eventexpr)
        message = node.message
        if node.messageexpr is not None:
            message = self.js.string(node.messageexpr)
        return _Event(name.strip(), message)

    async def _return(self, node: model.Return) -> None:
        if self.depth == 0:
            raise _Event("error.semantic", f"line {node.line}: <return> outside a subdialog")
        if node.event is not None or node.eventexpr is not None:
            raise _Return({}, self._event_of(node))
        values: dict[str, object] = {}
        for name in node.namelist:
            values[name.rsplit(".", 1)[-1]] = self.js.value(name)
        raise _Return(values, None)

    async def _reprompt(self, node: model.Reprompt) -> None:
        self.reprompted = True

    async def _clear(self, node: model.Clear) -> None:
        state = self.state
        names = node.namelist
        is_form = state is not None and isinstance(state.dialog, model.Form)
        if not names and state is not None and is_form:
            names = tuple(item.name for item in state.form.items)
        for name in names:
            if state is not None and is_form and state.form.item(name) is not None:
                self.js.declare(state.scope, name, None)
                state.prompt_counts[name] = 1
                state.item_counters[name].reset()
                if name in state.just_filled:
                    state.just_filled.remove(name)
            else:
                self.js.assign(name, None)

    async def _log(self, node: model.Log) -> None:
        text = self._render(node.parts).text
        if node.expr is not None:
            text = f"{text} {self.js.string(node.expr)}".strip()
        log.debug("voicexml.log call_id=%s label=%s %s", self.shared.call_id, node.label, text)

    async def _script(self, node: model.Script) -> None:
        source = node.text
        src = node.src if node.srcexpr is None else self.js.string(node.srcexpr)
        if src is not None:
            body = await self._fetch_resource(src, node.fetch, node.line, "<script src>")
            source = body.decode("utf-8", errors="replace")
        self.js.run(self._innermost(), source)

    async def _fetch_resource(self, src: str, fetch: model.Fetch, line: int, what: str) -> bytes:
        assert self.doc is not None
        url = urldefrag(_join(self.doc.base, src.strip()))[0]
        try:
            fetched = await self.shared.fetcher.fetch(self._request(url, "GET", "", None, fetch))
        except FetchError as exc:
            raise _Event(_badfetch(exc), f"line {line}: {what}: {url}: {exc.reason}") from None
        return fetched.body

    async def _data(self, node: model.Data) -> None:
        """VoiceXML 2.1 ``<data>``: the XML document as a read-only DOM Level 2 Core
        Document (appendix D; see ``dom.py``), in ``name`` of the innermost scope."""
        from vxdial.voicexml import dom  # only documents using <data> pay for it

        assert self.doc is not None
        src = node.src if node.srcexpr is None else self.js.string(node.srcexpr)
        if src is None:
            raise _Event("error.badfetch", f"line {node.line}: <data> has no src")
        url = urldefrag(_join(self.doc.base, src.strip()))[0]
        data = self._namelist_data(node.namelist, node.line)
        request = self._request(url, node.method, node.enctype, data, node.fetch)
        try:
            fetched = await self.shared.fetcher.fetch(request)
        except FetchError as exc:
            raise _Event(_badfetch(exc), f"line {node.line}: <data>: {url}: {exc.reason}") from None
        try:
            tree = dom.encode(fetched.body, max_nodes=self.shared.limits.data_max_nodes)
        except ValueError as exc:
            raise _Event("error.badfetch", f"line {node.line}: <data>: {url}: {exc}") from None
        if node.name is not None:
            self.js.set_built(self._innermost(), node.name, dom.BUILDER, tree)

    async def _foreach(self, node: model.Foreach) -> None:
        # VoiceXML 2.1 section 6: the array is evaluated once (evaluating it again for
        # each item made a loop over a computed array quadratic).
        with _Semantic(node.line, "<foreach array>"):
            array, length = self.js.array(node.array)
        for index in range(length):
            await self.shared.turn()
            self.js.declare_item(self._innermost(), node.item, array, index)
            await self._run_nodes(node.body)

    async def _unsupported(self, node: model.Unsupported) -> None:
        raise _Event(
            f"error.unsupported.{node.tag}", f"line {node.line}: <{node.tag}> is not supported"
        )

    def _string(self, expr: str | None) -> str:
        assert expr is not None
        return self.js.string(expr)

    def _values(self, namelist: tuple[str, ...], expr: str | None) -> dict[str, object]:
        if expr is not None:
            return {"expr": self.js.value(expr)}
        return {name: self.js.value(name) for name in namelist}

    # -- prompts -----------------------------------------------------------------------

    def _queue_item_prompts(self, state: _DialogState, item: model.FormItem) -> None:
        prompts: tuple[model.Prompt, ...] = getattr(item, "prompts", ())
        properties: Mapping[str, str] = getattr(item, "properties", {})
        self._queue_prompts(state, item.name, prompts, properties, item)

    def _queue_prompts(
        self,
        state: _DialogState,
        key: str,
        prompts: Sequence[model.Prompt],
        properties: Mapping[str, str],
        item: model.FormItem | None = None,
    ) -> None:
        """Prompt selection (VoiceXML 2.0 section 4.1.6): of the prompts whose cond is
        true, those with the highest count not above the item's prompt counter; then
        the counter goes up."""
        counter = state.prompt_counts.get(key, 1)
        state.prompt_counts[key] = counter + 1
        chosen: list[model.Prompt] = []
        for prompt in prompts:
            if prompt.count > counter:
                continue
            if prompt.cond is not None:
                with _Semantic(prompt.line, "<prompt cond>"):
                    if not self.js.truthy(prompt.cond):
                        continue
            chosen.append(prompt)
        if not chosen:
            return
        correct = max(prompt.count for prompt in chosen)
        for prompt in chosen:
            if prompt.count == correct:
                with _Semantic(prompt.line, "<prompt>"):
                    self._queue(prompt, item)

    def _queue(self, prompt: model.Prompt, item: model.FormItem | None) -> None:
        shared = self.shared
        rendered = self._render(prompt.parts, item, lang=prompt.lang)
        if prompt.timeout is not None:
            shared.next_timeout = prompt.timeout
        if shared.final is not None or not (rendered.text or rendered.audio):
            return  # no output in the final processing state
        bargein = prompt.bargein
        if bargein is None:
            bargein = self._bool_property("bargein")
        said = media.Prompt(
            text=rendered.text,
            ssml=rendered.ssml,
            audio_urls=tuple(audio.request.url for audio in rendered.audio),
            bargein=bargein,
        )
        # The SSML's pieces are kept only to cut out audio that cannot be fetched.
        pieces = tuple(rendered.ssml_pieces) if rendered.audio else ()
        shared.queue.append(_Queued(said, tuple(rendered.audio), rendered.ssml_head, pieces))

    def _render(
        self,
        parts: tuple[model.PromptPart, ...],
        item: model.FormItem | None = None,
        *,
        lang: str | None = None,
    ) -> _Rendered:
        out = _Rendered()
        self._render_into(out, parts, item)
        out.text = " ".join("".join(out.text_pieces).split())
        if out.markup:
            assert self.doc is not None
            language = lang or self.doc.lang
            lang_attr = f" xml:lang={quoteattr(language)}" if language else ""
            out.ssml_head = f'<speak version="1.0" xmlns="{_SSML_NS}"{lang_attr}>'
            out.ssml = out.ssml_head + "".join(out.ssml_pieces) + "</speak>"
        return out

    def _render_into(
        self, out: _Rendered, parts: tuple[model.PromptPart, ...], item: model.FormItem | None
    ) -> None:
        for part in parts:
            if isinstance(part, model.Text):
                out.say(part.text)
            elif isinstance(part, model.Value):
                with _Semantic(part.line, "<value expr>"):
                    out.say(self.js.string(part.expr))
            elif isinstance(part, model.Audio):
                self._render_audio(out, part, item)
            elif isinstance(part, model.Break):
                attrs = "".join(
                    f" {name}={quoteattr(value)}"
                    for name, value in (("time", part.time), ("strength", part.strength))
                    if value is not None
                )
                out.mark(f"<break{attrs}/>", boundary=True)
            elif isinstance(part, model.Mark):
                with _Semantic(part.line, "<mark nameexpr>"):
                    name = part.name if part.name is not None else self._string(part.nameexpr)
                out.mark(f"<mark name={quoteattr(name)}/>", boundary=True)
            elif isinstance(part, model.Ssml):
                attrs = "".join(f" {name}={quoteattr(value)}" for name, value in part.attrs)
                boundary = part.tag in ("p", "s")
                out.mark(f"<{part.tag}{attrs}>", boundary=boundary)
                if part.tag == "sub":
                    alias = dict(part.attrs).get("alias")
                    if alias is not None:
                        out.text_pieces.append(alias)
                        out.ssml_pieces.append(escape(_plain(part.children)))
                    else:
                        self._render_into(out, part.children, item)
                else:
                    self._render_into(out, part.children, item)
                out.mark(f"</{part.tag}>", boundary=boundary)
            elif isinstance(part, model.Enumerate):
                self._render_enumerate(out, part, item)
            else:
                with _Semantic(part.line, "<foreach array>"):
                    array, length = self.js.array(part.array)
                for index in range(length):
                    self.shared.check_cpu()
                    scope = self._child_scope()
                    with self._inner_scope(scope):
                        self.js.declare_item(scope, part.item, array, index)
                        self._render_into(out, part.parts, item)

    def _render_audio(self, out: _Rendered, part: model.Audio, item: model.FormItem | None) -> None:
        """An ``<audio>``: its URI for the channel, its content as the text said when
        the file cannot be played (and in transcripts). VoiceXML 2.0 section 4.1.3: an
        ``expr`` that is undefined (or null) leaves the element out, content and all; a
        URI that is empty or cannot be resolved is a file that cannot be played."""
        assert self.doc is not None
        if part.src is not None:
            src: object = part.src
        else:
            assert part.expr is not None
            with _Semantic(part.line, "<audio expr>"):
                src = self.js.value(part.expr)
            if src is None:
                return
        url: str | None = None
        if isinstance(src, str) and src.strip():
            # A recording (an object) is said as its content: it is no URI to fetch.
            try:
                url = urljoin(self.doc.base, src.strip())
            except ValueError as exc:  # e.g. "http://[..." (an unclosed IPv6 address)
                log.info(
                    "voicexml.audio_unplayable call_id=%s url=%r reason=%s",
                    self.shared.call_id,
                    src,
                    exc,
                )
        if url is None:
            self._render_into(out, part.fallback, item)
            return
        index = len(out.audio)
        parent = out.open_audio[-1] if out.open_audio else None
        start = len(out.ssml_pieces)
        out.mark(f"<audio src={quoteattr(url)}>")
        out.open_audio.append(index)
        out.audio.append(_Audio(self._request(url, "GET", "", None, part.fetch), parent, start))
        self._render_into(out, part.fallback, item)
        has_content = any(piece.strip() for piece in out.ssml_pieces[start + 1 :])
        out.open_audio.pop()
        out.audio[index] = replace(
            out.audio[index], end=len(out.ssml_pieces), has_content=has_content
        )
        out.mark("</audio>")

    def _render_enumerate(
        self, out: _Rendered, part: model.Enumerate, item: model.FormItem | None
    ) -> None:
        """``<enumerate>`` over the current menu's choices or field's options, each
        said with the template (``_prompt``, ``_dtmf`` set) or as "For X, press N"."""
        state = self.state
        choices: tuple[model.Choice, ...] = ()
        if isinstance(item, model.Field):
            choices = item.options
        elif state is not None and isinstance(state.dialog, model.Menu):
            choices = state.dialog.choices
        for choice in choices:
            prompt = " ".join(_plain(choice.parts).split())
            if part.template is None:
                said = f"For {prompt}, press {choice.dtmf}." if choice.dtmf else f"{prompt}."
                out.say(f" {said} ")
                continue
            scope = self._child_scope()
            with self._inner_scope(scope):
                self.js.set(scope, "_prompt", prompt)
                if choice.dtmf is None:
                    self.js.declare(scope, "_dtmf", None)
                else:
                    self.js.set(scope, "_dtmf", choice.dtmf)
                self._render_into(out, part.template, item)
            out.say(" ")

    def _child_scope(self) -> script.Scope:
        """A temporary anonymous scope that still sees the current anonymous one's
        variables (for ``<enumerate>`` and ``<foreach>`` in prompts)."""
        if self.anonymous is None:
            return self.js.new_scope()
        return self.js.child_scope(self.anonymous)

    @contextmanager
    def _inner_scope(self, scope: script.Scope) -> Iterator[None]:
        """Evaluate in ``scope`` as the anonymous scope for a while."""
        outer = self.anonymous
        self.anonymous = scope
        self._enter_scopes()
        try:
            yield
        finally:
            self.anonymous = outer
            self._enter_scopes()

    # -- properties -----------------------------------------------------------------

    def _property(self, name: str) -> str:
        """The innermost ``<property>``: form item, dialog, document, application root,
        then the default."""
        written = self._property_or_none(name)
        return DEFAULT_PROPERTIES[name] if written is None else written

    def _property_or_none(self, name: str) -> str | None:
        item = self.item
        properties: Mapping[str, str] | None = getattr(item, "properties", None)
        if properties is not None and name in properties:
            return properties[name]
        if self.state is not None and name in self.state.dialog.properties:
            return self.state.dialog.properties[name]
        for document in (self.doc, self.root):
            if document is not None and name in document.properties:
                return document.properties[name]
        return None

    def _time(self, value: str, what: str) -> float:
        found = _TIME.match(value)
        if found is None:
            raise _Event(
                "error.semantic",
                f"{what}: {value!r} is not a time designation such as 5s or 500ms",
            )
        number = float(found.group(1))
        return number / 1000 if found.group(2) == "ms" else number

    def _seconds(self, value: str | None, what: str) -> float | None:
        """maxage / maxstale: whole seconds (or a time designation)."""
        if value is None:
            return None
        text = value.strip()
        if text.isdigit():
            return float(text)
        return self._time(text, what)

    def _time_property(self, name: str) -> float:
        return self._time(self._property(name), f"property {name}")

    def _bool_property(self, name: str) -> bool:
        value = self._property(name)
        if value not in ("true", "false"):
            raise _Event("error.semantic", f"property {name}: {value!r} is not true or false")
        return value == "true"

    def _termchar(self) -> str | None:
        value = self._property("termchar")
        if value == "":
            return None
        if len(value) != 1 or value not in "0123456789*#ABCD":
            raise _Event("error.semantic", f"property termchar: {value!r} is not one DTMF key")
        return value


# -- small helpers -----------------------------------------------------------------------


@dataclass(eq=False)
class _Data:
    """Submitted values: form fields and file parts."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Recorded:
    """A ``<record>``'s recording, written in the format its ``type`` asked for."""

    audio: bytes
    written_as: media.RecordingFormat


@dataclass(frozen=True, slots=True)
class _Audio:
    """One ``<audio>`` of a rendered prompt: the request that fetches its file, the
    ``<audio>`` it is the alternate content of (an index), whether it has content, and
    the indexes of its opening and closing SSML pieces."""

    request: FetchRequest
    parent: int | None
    start: int
    end: int = 0
    has_content: bool = False


@dataclass(frozen=True, slots=True)
class _Queued:
    """A queued prompt, with its audio elements and the SSML they are cut out of when
    their file cannot be fetched."""

    prompt: media.Prompt
    audio: tuple[_Audio, ...]
    ssml_head: str  # the <speak> start tag
    ssml_pieces: tuple[str, ...]


@dataclass(eq=False)
class _Rendered:
    """A prompt being rendered: its plain text, its SSML and its audio elements."""

    text_pieces: list[str] = field(default_factory=list)
    ssml_pieces: list[str] = field(default_factory=list)
    audio: list[_Audio] = field(default_factory=list)
    open_audio: list[int] = field(default_factory=list)  # the <audio>s being rendered
    markup: bool = False
    text: str = ""
    ssml_head: str = ""
    ssml: str | None = None

    def say(self, text: str) -> None:
        self.text_pieces.append(text)
        self.ssml_pieces.append(escape(text))

    def mark(self, markup: str, *, boundary: bool = False) -> None:
        """Markup; a ``boundary`` (a break, a mark, a paragraph or sentence edge) also
        separates words in the plain text."""
        self.markup = True
        self.ssml_pieces.append(markup)
        if boundary:
            self.text_pieces.append(" ")


def _plain(parts: tuple[model.PromptPart, ...]) -> str:
    """The literal text of prompt content (choices said by ``<enumerate>``)."""
    text: list[str] = []
    for part in parts:
        if isinstance(part, model.Text):
            text.append(part.text)
        elif isinstance(part, model.Ssml):
            text.append(_plain(part.children))
        elif isinstance(part, model.Audio):
            text.append(_plain(part.fallback))
    return "".join(text)


def _utterance(keys: str) -> str:
    """A DTMF utterance: the matched digit string (VoiceXML 2.0 section 5.1.5)."""
    return keys


def _form_string(value: object) -> str:
    """A submitted value: "" for undefined/null, ECMAScript's String() for the rest."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(_form_string(each) for each in value)
    return str(value)
