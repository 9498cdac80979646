"""The VoiceXML interpreter: ``run_session`` and the Form Interpretation Algorithm.

The FIA follows VoiceXML 2.0 appendix C: a form is entered (dialog scope, variables,
prompt counters, event counters), then its main loop selects the first form item whose
guard condition is false (or the ``<goto nextitem>`` target), collects (queues the item's
prompts unless the last iteration ended in a catch without ``<reprompt>``, plays them and
waits for keys) and processes (fills the item, runs the triggered ``<filled>`` elements in
document order). A form with nothing left to visit ends the application.

Events are Python exceptions inside this module only (``_Event``); they are caught where
the spec says they are handled (the form item being visited, a ``<filled>``'s owner, the
form during its initialization, the document during its own) and a ``<catch>`` is chosen
by ``events.select``. Transitions (``<goto>``, ``<submit>``) fetch and check the target
while still in the old context, so an ``error.badfetch`` is caught there, then leave
the form as ``_Transition``. Nothing but a ``SessionEnd`` leaves ``run_session``.

Output follows the prompt queue of section 4.1.8: prompts are queued while the interpreter
is busy and played when it waits for input (keys typed during a barge-in prompt stop the
queue and start the input) or when the session ends (before hanging up). After the caller
hangs up, or after ``<disconnect>``, the interpreter is in the final processing state
(section 5.3.11): a ``connection.disconnect.hangup`` handler may still run and submit,
but prompts are dropped and waiting for input ends the session.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urldefrag, urlencode, urljoin

from vxdial.domain import media
from vxdial.voicexml import events, grammars, model, parse, script
from vxdial.voicexml.channel import Channel
from vxdial.voicexml.fetch import Fetcher, FetchError, FetchRequest
from vxdial.voicexml.session import Limits, SessionEnd

__all__ = ["run_session"]

log = logging.getLogger("vxdial.voicexml")

# Platform defaults of the properties used (VoiceXML 2.0 section 6.3; timeout and
# interdigittimeout are platform-dependent there, these are common values).
DEFAULT_PROPERTIES: Mapping[str, str] = {
    "timeout": "5s",
    "interdigittimeout": "3s",
    "termtimeout": "0s",
    "termchar": "#",
    "bargein": "true",
}

_TIME = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*\Z")


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
    return await _Session(channel, fetcher, session, limits).run(start)


# -- control flow inside the interpreter ----------------------------------------------


class _Event(Exception):
    """A thrown VoiceXML event."""

    def __init__(self, name: str, message: str | None = None) -> None:
        super().__init__(name, message)
        self.name = name
        self.message = message


class _Transition(Exception):
    """Leave the current form for ``form``, of ``document`` (None: the current one)."""

    def __init__(self, document: model.VxmlDocument | None, form: model.Form) -> None:
        super().__init__()
        self.document = document
        self.form = form


class _NextItem(Exception):
    """``<goto nextitem>``: the next select phase takes ``name``."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name
        self.suppress_prompts = False  # set when it leaves a catch without <reprompt>


class _End(Exception):
    def __init__(self, end: SessionEnd) -> None:
        super().__init__(end.reason)
        self.end = end


class _Limit(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(eq=False)
class _FormState:
    """One visit of a form: reset each time the form is entered."""

    form: model.Form
    scope: script.Scope
    prompt_counts: dict[str, int] = field(default_factory=dict)
    item_counters: dict[str, events.Counters] = field(default_factory=dict)
    counters: events.Counters = field(default_factory=events.Counters)
    just_filled: set[str] = field(default_factory=set)
    next_item: str | None = None


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
    model.Reprompt: "reprompt",
    model.Clear: "clear",
    model.Log: "log",
    model.Script: "script",
    model.Block: "block",
    model.Field: "field",
}


def _is_error(event: str) -> bool:
    return event == "error" or event.startswith("error.")


def _badfetch(exc: FetchError) -> str:
    return "error.badfetch" if exc.status is None else f"error.badfetch.http.{exc.status}"


class _Session:
    def __init__(
        self,
        channel: Channel,
        fetcher: Fetcher,
        session: Mapping[str, object],
        limits: Limits,
    ) -> None:
        self.channel = channel
        self.fetcher = fetcher
        self.limits = limits
        self.call_id = session.get("call_id")
        self.js = script.Engine(
            session,
            time_limit_s=limits.script_time_s,
            memory_limit_bytes=limits.script_memory_bytes,
        )
        self.queue: list[media.Prompt] = []
        self.next_timeout: str | None = None  # the timeout of the last queued prompt
        # Set once in the final processing state: who ended the call.
        self.final: Literal["hangup", "disconnect"] | None = None
        self.final_values: dict[str, object] = {}
        self.steps = 0
        self.documents = 0
        self.reprompted = False
        # The current context.
        self.doc: model.VxmlDocument | None = None
        self.doc_counters = events.Counters()
        self.form: _FormState | None = None
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
            model.Reprompt: self._reprompt,
            model.Clear: self._clear,
            model.Log: self._log,
            model.Script: self._script,
            model.Unsupported: self._unsupported,
        }

    # -- the session ------------------------------------------------------------------

    async def run(self, start: FetchRequest) -> SessionEnd:
        try:
            end = await self._run(start)
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
                await self._play_queue()
            except media.Hangup:
                return end
            await self.channel.hangup()
        return end

    async def _run(self, start: FetchRequest) -> SessionEnd:
        url, fragment = urldefrag(start.url)
        try:
            document = await self._load(FetchRequest(url, start.method, start.data))
            form = self._form_of(document, fragment or None, None)
        except _Event as event:
            return self._uncaught(event)
        new_document: model.VxmlDocument | None = document
        while True:
            try:
                if new_document is not None:
                    await self._enter_document(new_document)
                await self._run_form(form)
            except _Transition as transition:
                new_document, form = transition.document, transition.form

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise _Limit(f"more than {self.limits.max_steps} interpreter steps (an endless loop?)")

    def _uncaught(self, event: _Event) -> SessionEnd:
        """The default handler's end of the session (VoiceXML 2.0 section 5.2.5)."""
        name = event.name
        if _is_error(name):
            return SessionEnd(
                "error", name, event.message or f"uncaught {name}", dict(self.final_values)
            )
        if (
            name == "exit"
            or name == "connection.disconnect"
            or name.startswith("connection.disconnect.")
        ):
            return SessionEnd(self.final or "exit", values=dict(self.final_values))
        return SessionEnd("error", name, event.message or f"no <catch> for event {name!r}")

    def _ended(self, reason: Literal["exit", "end"], values: Mapping[str, object]) -> _End:
        return _End(SessionEnd(self.final or reason, values={**self.final_values, **values}))

    # -- documents and forms -------------------------------------------------------------

    async def _load(self, request: FetchRequest) -> model.VxmlDocument:
        """Fetch and parse a VoiceXML document (throws error.badfetch)."""
        self.documents += 1
        if self.documents > self.limits.max_documents:
            raise _Limit(
                f"more than {self.limits.max_documents} documents in one session"
                " (a <goto>/<submit> loop?)"
            )
        try:
            fetched = await self.fetcher.fetch(request)
        except FetchError as exc:
            raise _Event(_badfetch(exc), f"{request.url}: {exc.reason}") from None
        try:
            document = parse.load(fetched.url, fetched.body)
        except parse.DocumentError as exc:
            raise _Event("error.badfetch", f"{fetched.url}: {exc}") from None
        if document.application is not None:
            raise _Event(
                "error.unsupported.application",
                f"{fetched.url}: application root documents"
                f" (application={document.application!r}) are not supported yet",
            )
        return document

    def _form_of(
        self, document: model.VxmlDocument, id: str | None, line: int | None
    ) -> model.Form:
        dialog = document.dialog(id)
        where = "" if line is None else f"line {line}: "
        if dialog is None:
            what = f"no dialog with id {id!r}" if id is not None else "no dialog"
            raise _Event("error.badfetch", f"{where}{document.url} has {what}")
        if isinstance(dialog, model.OtherDialog):
            raise _Event(
                f"error.unsupported.{dialog.tag}",
                f"{document.url} line {dialog.line}: <{dialog.tag}> is not supported yet",
            )
        return dialog

    def _enter_scopes(self) -> None:
        self.js.enter(self.application, self.document, self.dialog, self.anonymous)

    async def _enter_document(self, document: model.VxmlDocument) -> None:
        """Initialize the document: its variables and scripts, in document order. Each
        document is its own application for now (no application root documents)."""
        self._tick()
        self.doc = document
        self.doc_counters = events.Counters()
        self.form = None
        self.item = None
        self.application = self.js.new_scope()
        self.js.declare(self.application, "lastresult$", None)
        self.document = self.js.new_scope()
        self.dialog = None
        self.anonymous = None
        self._enter_scopes()
        try:
            if document.unsupported is not None:
                tag, line = document.unsupported
                raise _Event(
                    f"error.unsupported.{tag}", f"line {line}: <{tag}> is not supported yet"
                )
            for node in document.init:
                await self._run_nodes((node,))
        except _Event as event:
            await self._handle(event)

    async def _run_form(self, form: model.Form) -> None:
        """The FIA for one form; leaves by ``_Transition`` or ``_End``."""
        self._tick()
        state = _FormState(form, self.js.new_scope())
        self.form = state
        self.item = None
        self.dialog = state.scope
        self.anonymous = None
        self._enter_scopes()
        for each in form.items:
            state.prompt_counts[each.name] = 1
            state.item_counters[each.name] = events.Counters()
        suppress = False
        try:
            if form.unsupported is not None:
                tag, line = form.unsupported
                raise _Event(
                    f"error.unsupported.{tag}",
                    f"line {line}: <{tag}> in a form is not supported yet",
                )
            for node in form.init:
                if isinstance(node, model.Var | model.Script):
                    await self._run_nodes((node,))
                    continue
                with _Semantic(node.line, f"<{_tag_of(node)} expr>"):
                    self.js.declare(state.scope, node.name, node.expr)
        except _Event as event:
            suppress = not await self._handle(event)
        except _NextItem as jump:
            state.next_item, suppress = jump.name, jump.suppress_prompts
        while True:
            self._tick()
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

    def _select(self, state: _FormState) -> model.FormItem | None:
        """The select phase: the ``<goto nextitem>`` target, else the first form item
        whose guard condition is false (its variable undefined and its cond true)."""
        if state.next_item is not None:
            name, state.next_item = state.next_item, None
            return state.form.item(name)
        for item in state.form.items:
            if self.js.is_undefined(state.scope, item.name):
                if item.cond is None:
                    return item
                with _Semantic(item.line, f"<{_tag_of(item)} cond>"):
                    if self.js.truthy(item.cond):
                        return item
        return None

    async def _visit(self, state: _FormState, item: model.FormItem, suppress: bool) -> bool:
        """Collect and process ``item``; True when the next iteration must not queue
        prompts (it ended in a catch without <reprompt>)."""
        if isinstance(item, model.Block):
            self.js.set(state.scope, item.name, True)
            await self._anonymous(item.body)
            return False
        if isinstance(item, model.Field):
            return await self._visit_field(state, item, suppress)
        raise _Event(
            f"error.unsupported.{item.tag}", f"line {item.line}: <{item.tag}> is not supported yet"
        )

    async def _visit_field(self, state: _FormState, item: model.Field, suppress: bool) -> bool:
        if item.grammar_problem is not None:
            raise _Event(*item.grammar_problem)
        grammar = item.grammar
        assert grammar is not None  # a field has a grammar or a grammar problem
        if not suppress:
            self._queue_field_prompts(state, item)
            state.prompt_counts[item.name] += 1
        collected = await self._collect(grammar)
        if not collected.digits and collected.ended_by == "noinput":
            raise _Event("noinput")
        match = grammar.match(collected.digits)
        if match is None:
            raise _Event("nomatch", f"keys {collected.digits!r} do not match the grammar")
        # Process phase: fill the item, then the <filled> elements it triggers.
        state.just_filled.clear()
        self.js.fill(state.scope, item.name, match.value, match.utterance)
        state.just_filled.add(item.name)
        return await self._filleds(state)

    async def _filleds(self, state: _FormState) -> bool:
        for filled in state.form.filleds:
            if not any(name in state.just_filled for name in filled.names):
                continue
            if filled.mode == "all" and any(
                self.js.is_undefined(state.scope, name) for name in filled.names
            ):
                continue
            # Events thrown in a <filled> are handled in the scope of its owner.
            self.item = None if filled.owner is None else state.form.item(filled.owner)
            try:
                await self._anonymous(filled.body)
            except _Event as event:
                return not await self._handle(event)
        return False

    # -- events ---------------------------------------------------------------------------

    async def _handle(self, event: _Event) -> bool:
        """Run the handler of ``event`` in the current scope (VoiceXML 2.0 section 5.2.4);
        True when it executed ``<reprompt>``. Events thrown by the handler are handled
        in turn; transitions and the end of the session propagate."""
        assert self.doc is not None
        scopes: list[tuple[model.Catch, ...]] = []
        if self.item is not None and not isinstance(self.item, model.Block):
            scopes.append(self.item.catches)
        if self.form is not None:
            scopes.append(self.form.form.catches)
        scopes.append(self.doc.catches)
        if self.item is not None and self.form is not None:
            counters = self.form.item_counters[self.item.name]
        elif self.form is not None:
            counters = self.form.counters
        else:
            counters = self.doc_counters
        while True:
            self._tick()
            counters.increment(event.name)
            log.debug("voicexml.event call_id=%s event=%s", self.call_id, event.name)
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
            self._queue(node)

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
            if self.form is None or self.form.form.item(name) is None:
                raise _Event(
                    "error.badfetch",
                    f"line {node.line}: <goto nextitem>: no form item {name!r} in this form",
                )
            raise _NextItem(name)
        uri = node.next if node.next is not None else self._string(node.expr)
        await self._go(uri.strip(), node.line, local=True)

    async def _submit(self, node: model.Submit) -> None:
        uri = node.next if node.next is not None else self._string(node.expr)
        data = {name: self.js.form_value(name) for name in node.namelist}
        await self._go(uri.strip(), node.line, method=node.method, data=data)

    async def _go(
        self,
        uri: str,
        line: int,
        *,
        local: bool = False,
        method: str = "GET",
        data: dict[str, str] | None = None,
    ) -> None:
        """Transition to ``uri`` (relative to the document); "#id" alone stays in this
        document. The target is fetched and checked here, so that error.badfetch is
        thrown to the element that asked for it."""
        assert self.doc is not None
        if local and uri.startswith("#"):
            raise _Transition(None, self._form_of(self.doc, uri[1:] or None, line))
        url, fragment = urldefrag(urljoin(self.doc.base, uri))
        if method == "GET":
            if data:
                url += ("&" if "?" in url else "?") + urlencode(data)
            data = None
        request = FetchRequest(url, method, data)
        try:
            document = await self._load(request)
        except _Event as event:
            raise _Event(event.name, f"line {line}: {event.message}") from None
        raise _Transition(document, self._form_of(document, fragment or None, line))

    async def _exit(self, node: model.Exit) -> None:
        raise self._ended("exit", self._values(node.namelist, node.expr))

    async def _disconnect(self, node: model.Disconnect) -> None:
        values = self._values(node.namelist, None)
        if self.final is not None:
            raise self._ended("exit", values)
        try:
            await self._play_queue()
        except media.Hangup:
            self._caller_hung_up()
        else:
            await self.channel.hangup()
            self.final = "disconnect"
        self.final_values.update(values)
        raise _Event("connection.disconnect.hangup")

    async def _throw(self, node: model.Throw) -> None:
        name = node.event if node.event is not None else self._string(node.eventexpr)
        message = node.message
        if node.messageexpr is not None:
            message = self.js.string(node.messageexpr)
        raise _Event(name.strip(), message)

    async def _reprompt(self, node: model.Reprompt) -> None:
        self.reprompted = True

    async def _clear(self, node: model.Clear) -> None:
        state = self.form
        names = node.namelist
        if not names and state is not None:
            names = tuple(item.name for item in state.form.items)
        for name in names:
            if state is not None and state.form.item(name) is not None:
                self.js.declare(state.scope, name, None)
                state.prompt_counts[name] = 1
                state.item_counters[name].reset()
                state.just_filled.discard(name)
            else:
                self.js.assign(name, None)

    async def _log(self, node: model.Log) -> None:
        text = self._text(node.parts, [])
        if node.expr is not None:
            text = f"{text} {self.js.string(node.expr)}".strip()
        log.debug("voicexml.log call_id=%s label=%s %s", self.call_id, node.label, text)

    async def _script(self, node: model.Script) -> None:
        source = node.text
        src = node.src if node.srcexpr is None else self.js.string(node.srcexpr)
        if src is not None:
            assert self.doc is not None
            url = urljoin(self.doc.base, src)
            try:
                fetched = await self.fetcher.fetch(FetchRequest(url))
            except FetchError as exc:
                raise _Event(
                    _badfetch(exc), f"line {node.line}: <script src>: {url}: {exc.reason}"
                ) from None
            source = fetched.body.decode("utf-8", errors="replace")
        self.js.run(self._innermost(), source)

    async def _unsupported(self, node: model.Unsupported) -> None:
        raise _Event(
            f"error.unsupported.{node.tag}", f"line {node.line}: <{node.tag}> is not supported yet"
        )

    def _string(self, expr: str | None) -> str:
        assert expr is not None
        return self.js.string(expr)

    def _values(self, namelist: tuple[str, ...], expr: str | None) -> dict[str, object]:
        if expr is not None:
            return {"expr": self.js.value(expr)}
        return {name: self.js.value(name) for name in namelist}

    # -- prompts and input -----------------------------------------------------------

    def _queue_field_prompts(self, state: _FormState, item: model.Field) -> None:
        """Prompt selection (VoiceXML 2.0 section 4.1.6): of the prompts whose cond is
        true, those with the highest count not above the item's prompt counter."""
        counter = state.prompt_counts[item.name]
        chosen: list[model.Prompt] = []
        for prompt in item.prompts:
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
                    self._queue(prompt)

    def _queue(self, prompt: model.Prompt) -> None:
        urls: list[str] = []
        text = " ".join(self._text(prompt.parts, urls).split())
        if prompt.timeout is not None:
            self.next_timeout = prompt.timeout
        if self.final is not None or not (text or urls):
            return  # no output in the final processing state
        bargein = prompt.bargein
        if bargein is None:
            bargein = self._bool_property("bargein")
        self.queue.append(media.Prompt(text=text, audio_urls=tuple(urls), bargein=bargein))

    def _text(self, parts: tuple[model.PromptPart, ...], urls: list[str]) -> str:
        pieces: list[str] = []
        for part in parts:
            if isinstance(part, model.Text):
                pieces.append(part.text)
            elif isinstance(part, model.Value):
                pieces.append(self.js.string(part.expr))
            else:
                assert self.doc is not None
                if part.src is not None:
                    src = part.src
                elif part.expr is not None:
                    src = self.js.string(part.expr)
                else:
                    raise _Event("error.badfetch", f"line {part.line}: <audio> has no src or expr")
                urls.append(urljoin(self.doc.base, src))
                pieces.append(self._text(part.fallback, []))
        return "".join(pieces)

    async def _play_queue(self) -> str:
        """Play the queued prompts; returns the keys that barged in (which stop the rest
        of the queue). Keys typed during a prompt without barge-in are ignored."""
        queue, self.queue = self.queue, []
        for prompt in queue:
            keys = await self.channel.play(prompt)
            if keys and prompt.bargein:
                return keys
        return ""

    async def _collect(self, grammar: grammars.Builtin) -> media.Collected:
        """Play the prompt queue and wait for keys (the waiting state)."""
        if self.final is not None:
            raise self._ended("exit", {})  # no input after the call is gone
        timeout = self.next_timeout
        self.next_timeout = None
        timeout_s = (
            self._time(timeout, "<prompt timeout>")
            if timeout is not None
            else self._time_property("timeout")
        )
        interdigit_timeout_s = self._time_property("interdigittimeout")
        termchar = self._termchar()
        try:
            already = await self._play_queue()
            return await self.channel.collect(
                max_digits=grammar.max_digits,
                timeout_s=timeout_s,
                interdigit_timeout_s=interdigit_timeout_s,
                termchar=termchar,
                already=already,
            )
        except media.Hangup:
            self._caller_hung_up()
            raise _Event("connection.disconnect.hangup") from None

    def _caller_hung_up(self) -> None:
        self.final = "hangup"
        self.queue.clear()

    # -- properties -----------------------------------------------------------------

    def _property(self, name: str) -> str:
        """The innermost ``<property>``: field, form, document, then the default."""
        item = self.item
        if isinstance(item, model.Field) and name in item.properties:
            return item.properties[name]
        if self.form is not None and name in self.form.form.properties:
            return self.form.form.properties[name]
        if self.doc is not None and name in self.doc.properties:
            return self.doc.properties[name]
        return DEFAULT_PROPERTIES[name]

    def _time(self, value: str, what: str) -> float:
        found = _TIME.match(value)
        if found is None:
            raise _Event(
                "error.semantic",
                f"{what}: {value!r} is not a time designation such as 5s or 500ms",
            )
        number = float(found.group(1))
        return number / 1000 if found.group(2) == "ms" else number

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
        if len(value) != 1 or value not in "0123456789*#":
            raise _Event("error.semantic", f"property termchar: {value!r} is not one DTMF key")
        return value


def _tag_of(node: model.Node | model.FormItem) -> str:
    if isinstance(node, model.OtherItem | model.Unsupported):
        return node.tag
    return _TAGS[type(node)]


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
