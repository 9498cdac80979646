"""``vxdial try URL|FILE``: run a VoiceXML application in the terminal as one call.

PRODUCT.md section 5. The terminal is the phone: each prompt is printed as one line on
standard output, and the caller's keys come from one of three places:

- ``--dtmf 1,,42#``: one comma-separated group per time the application waits for input,
  an empty group is silence (noinput), and once the groups run out the caller stays
  silent. The scripted caller answers at once: no timeout is really waited.
- the keyboard, when standard input is a terminal: a line per input (an empty line is
  silence), within the application's own timeouts; end of input (Ctrl-D) hangs up.
- nothing, when standard input is not a terminal: the caller is silent, at once.

``<record>`` and ``<transfer>`` never wait either: the caller speaks ``--record-seconds``
(then presses ``--record-key``, if given) and the far end of a transfer does
``--transfer`` (answering and talking ``--transfer-seconds``, by default), as a callee
of the simulated carrier does with the ``[[sim.rule]]`` keys of the same names; each is
one "[record ...]" or "[... transfer to ...]" line on standard error (with ``--verbose``,
or at the keyboard). A blind transfer that is handed over ends the call.

Standard output holds only the prompts, so it can be compared or piped; everything else
(``--verbose`` notes, the uncaught event, the time limit) goes to standard error. Exit
status: 0 when the application ends normally (``<exit>``, the end of the document,
``<disconnect>``, or the caller hanging up), 1 on an uncaught event (printed as
"error.badfetch: ..."), 124 when ``--timeout`` ran out, 2 for bad arguments, 130 on Ctrl-C.

The heavy imports (aiohttp, the interpreter) happen when the command runs, so that other
``vxdial`` commands do not pay for them.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol
from urllib.parse import urldefrag, urlencode, urlsplit
from urllib.request import url2pathname

import typer

from vxdial import config
from vxdial.domain import errors, media
from vxdial.domain.clock import Clock, SystemClock
from vxdial.telephony import sim

if TYPE_CHECKING:
    from vxdial.voicexml import Document, FetchRequest, HttpFetcher, SessionEnd

__all__ = ["try_"]

DTMF_KEYS = frozenset("0123456789*#ABCD")
_KEY_OF = {key: key for key in DTMF_KEYS} | {key.lower(): key for key in "ABCD"}
EXIT_ERROR = 1  # the application ended on an uncaught event
EXIT_USAGE = 2
EXIT_TIMEOUT = 124  # as timeout(1)
EXIT_INTERRUPTED = 130
# The caller of ``vxdial try`` records and transfers as a simulated callee does by default.
_SIM_DEFAULTS = config.SimRule()


# -- arguments ------------------------------------------------------------------------


def quoted(text: str) -> str:
    """``text`` between double quotes as it was typed (case and all); only characters
    a terminal cannot show (controls) are written as escapes."""
    shown = (c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return '"' + "".join(shown) + '"'


def not_keys(text: str) -> str:
    """The characters of ``text`` that are no DTMF key in any case, each once, in the
    order typed."""
    return "".join(dict.fromkeys(c for c in text if c not in _KEY_OF))


def dtmf_groups(spec: str) -> list[str]:
    """``"1,,42#"`` -> ``["1", "", "42#"]``; keys are 0-9 * # and A-D (any case)."""
    groups: list[str] = []
    for typed in spec.split(","):
        group = typed.strip()
        wrong = not_keys(group)
        if wrong:
            raise typer.BadParameter(
                f"{quoted(wrong)} in {quoted(spec)}: DTMF keys are 0-9, *, # and A-D",
                param_hint="--dtmf",
            )
        groups.append("".join(_KEY_OF[c] for c in group))
    return groups


def one_key(key: str | None, option: str) -> str | None:
    """One DTMF key (any case) or None."""
    if key is None:
        return None
    stripped = key.strip()
    if len(stripped) != 1 or not_keys(stripped):
        raise typer.BadParameter(
            f"{quoted(key)} is not one DTMF key (0-9, *, # or A-D)", param_hint=option
        )
    return _KEY_OF[stripped]


def seconds(value: float, option: str) -> float:
    """A duration option: a finite number of seconds, 0 or more."""
    if not 0 <= value < float("inf"):
        raise typer.BadParameter("must be 0 seconds or more", param_hint=option)
    return value


def transfer_behaviour(value: str) -> media.TransferOutcome:
    """``--transfer``: one of ``config.SIM_TRANSFERS``."""
    try:
        return sim.transfer_behaviour(value.strip().lower(), "--transfer")
    except errors.InvalidInput as exc:
        raise typer.BadParameter(f"{value!r}: {exc.reason}", param_hint="--transfer") from None


def pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``."""
    found: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{value!r} is not NAME=VALUE", param_hint=option)
        found[name.strip()] = rest
    return found


def default_session() -> dict[str, object]:
    """The session variables of a call (the shape the dialer gives an answered call)."""
    return {
        "telephone": {"ani": "", "dnis": ""},
        "connection": {
            "callee_type": "voice",
            "local": {"uri": ""},
            "remote": {"uri": ""},
            "protocol": {"name": "sip", "version": "2.0"},
        },
        "call_id": 0,
        "message_reference": "",
        "call_parameters": "",
        "campaign_id": 0,
        "campaign_name": "",
        "attempt": 1,
    }


def session_variables(assignments: Mapping[str, str]) -> dict[str, object]:
    """The defaults with ``telephone.ani=...``-style assignments applied (the ``session.``
    prefix is optional). A value replacing a number stays a number when it is one."""
    variables = default_session()
    for dotted, value in assignments.items():
        path = dotted.removeprefix("session.").split(".")
        if not all(path):
            raise typer.BadParameter(f"{dotted!r} is not a variable name", param_hint="--session")
        scope: dict[str, object] = variables
        for depth, name in enumerate(path[:-1]):
            inner = scope.setdefault(name, {})
            if not isinstance(inner, dict):
                where = ".".join(path[: depth + 1])
                raise typer.BadParameter(
                    f"{dotted!r}: session.{where} is not an object", param_hint="--session"
                )
            scope = inner
        old = scope.get(path[-1])
        if isinstance(old, dict):
            raise typer.BadParameter(
                f"{dotted!r}: session.{'.'.join(path)} is an object", param_hint="--session"
            )
        typed: object = value
        if isinstance(old, int) and value.strip().lstrip("-").isdigit():
            typed = int(value)
        scope[path[-1]] = typed
    return variables


def start_url(target: str) -> str:
    """An http(s) or file URL as given; anything else is a file path, made absolute (so
    that relative URIs in the document resolve against the file's directory), with an
    optional "#dialog" after it."""
    scheme = urlsplit(target).scheme.lower()
    if scheme in ("http", "https", "file"):
        return target
    path, fragment = Path(target).expanduser(), ""
    if "#" in target and not path.exists():
        name, _, fragment = target.rpartition("#")
        path = Path(name).expanduser()
    url = path.resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


# -- the terminal -----------------------------------------------------------------------


class Terminal:
    """Prompts to standard output; notes (``--verbose`` only) and problems to standard
    error. Plain writes, not rich: prompt text may hold anything, brackets included."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose

    def say(self, line: str) -> None:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # Nobody listens any more (``vxdial try ... | head``): the call is over.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise media.Hangup("standard output closed") from None

    def tell(self, line: str) -> None:
        """To standard error whatever the verbosity."""
        sys.stdout.flush()
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def note(self, line: str) -> None:
        if self.verbose:
            self.tell(line)


class Keys(Protocol):
    """Where the caller's keys come from."""

    interactive: bool

    async def next(self, timeout_s: float) -> str | None:
        """The keys of the next input: "" is silence (noinput), None a hangup."""
        ...


class ScriptedKeys:
    """``--dtmf`` groups, then silence; never waits."""

    interactive = False

    def __init__(self, groups: Iterable[str]) -> None:
        self._groups = deque(groups)

    async def next(self, timeout_s: float) -> str | None:
        return self._groups.popleft() if self._groups else ""


class SilentKeys:
    """A standard input that is not a terminal: a caller who never presses a key."""

    interactive = False

    async def next(self, timeout_s: float) -> str | None:
        return ""


class KeyboardKeys:
    """Lines typed on the terminal, each one input; no line within the application's
    timeout is noinput. Lines typed early wait for the next input. Must be ``open``ed
    inside the event loop and ``close``d."""

    interactive = True

    def __init__(self, terminal: Terminal, clock: Clock, fd: int = 0) -> None:
        self._terminal = terminal
        self._clock = clock
        self._fd = fd
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._reading = False

    def open(self) -> None:
        asyncio.get_running_loop().add_reader(self._fd, self._readable)
        self._reading = True

    def close(self) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._reading = False

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except OSError:
            data = b""
        if not data:  # end of input
            self.close()
            self._lines.put_nowait(None)
            return
        self._partial += self._decoder.decode(data)
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self._lines.put_nowait(line)

    def _keys(self, line: str) -> str:
        typed = "".join(line.split())
        wrong = not_keys(typed)
        if wrong:
            self._terminal.tell(
                f"[ignored {quoted(wrong)} in {quoted(line)}: DTMF keys are 0-9, *, #, A-D]"
            )
        return "".join(_KEY_OF[c] for c in typed if c in _KEY_OF)

    async def next(self, timeout_s: float) -> str | None:
        if self._lines.empty():
            getter = asyncio.ensure_future(self._lines.get())
            timer = asyncio.ensure_future(self._clock.sleep(timeout_s))
            try:
                await asyncio.wait((getter, timer), return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
                if not getter.done():
                    getter.cancel()  # a line put later stays in the queue
            if getter.cancelled() or not getter.done():
                return ""
            line = getter.result()
        else:
            line = self._lines.get_nowait()
        return None if line is None else self._keys(line)


@dataclass(frozen=True, slots=True)
class Caller:
    """What the caller does when recorded, and the far end of a transfer: the options
    ``--record-seconds``, ``--record-key``, ``--transfer`` and ``--transfer-seconds``,
    with the defaults of a ``[[sim.rule]]``."""

    record_seconds: float = _SIM_DEFAULTS.record_seconds
    record_key: str | None = None
    transfer: media.TransferOutcome = "far_end_disconnect"  # config.SimRule's, typed
    transfer_seconds: float = _SIM_DEFAULTS.transfer_seconds


class TerminalChannel:
    """The ``voicexml.Channel`` of ``vxdial try``: prompts printed, keys from ``Keys``,
    recordings and transfers as ``caller`` says, at once.

    Prompts print at once, so nothing can barge in on them; keys typed early are kept for
    the next input instead."""

    def __init__(self, terminal: Terminal, keys: Keys, caller: Caller | None = None) -> None:
        from vxdial.voicexml import testing

        self._terminal = terminal
        self._keys = keys
        self._caller = caller or Caller()
        self._press = testing.press  # what a DTMF collector makes of the keys
        self.hung_up = False

    def _show(self) -> Callable[[str], None]:
        """At the keyboard the user must see what happens to the call; a scripted or
        silent caller's doings are notes (``--verbose``)."""
        return self._terminal.tell if self._keys.interactive else self._terminal.note

    async def play(self, prompt: media.Prompt) -> str:
        if self.hung_up:
            raise media.Hangup("the call has ended")
        for url in prompt.audio_urls:
            self._terminal.note(f"[audio {url}]")
        text = " ".join(prompt.text.split())
        if not text and prompt.audio_urls:
            text = "[audio " + " ".join(prompt.audio_urls) + "]"
        self._terminal.say(text)
        return ""

    async def collect(
        self,
        *,
        max_digits: int,
        timeout_s: float,
        interdigit_timeout_s: float,
        termchar: str | None = "#",
        already: str = "",
        complete: Callable[[str], bool] | None = None,
    ) -> media.Collected:
        if self.hung_up:
            raise media.Hangup("the call has ended")
        interactive = self._keys.interactive
        show = self._show()
        show(f"[waiting for keys: {timeout_s:g} s]" if interactive else "[waiting for keys]")
        keys = await self._keys.next(timeout_s)
        if keys is None:
            self.hung_up = True
            self._terminal.note("[caller hung up]")
            raise media.Hangup("the caller hung up (end of input)")
        collected = self._press(already + keys, max_digits, termchar, complete)
        if collected.ended_by == "noinput":
            show("[noinput]")
        else:
            self._terminal.note(f"[pressed {already + keys}]")
        return collected

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording:
        if self.hung_up:
            raise media.Hangup("the call has ended")
        _, recording = sim.take_recording(
            self._caller.record_seconds,
            self._caller.record_key,
            max_time_s=max_time_s,
            final_silence_s=final_silence_s,
            dtmf_term=dtmf_term,
        )
        said = (
            f"the caller speaks {recording.duration_s:g} s"
            if recording.duration_s
            else "the caller says nothing"
        )
        if recording.termchar is not None:
            said += f", then presses {recording.termchar}"
        elif recording.max_time_reached:
            said += f", cut at the maximum time ({max_time_s:g} s)"
        elif recording.duration_s:
            said += ", then silence"
        self._show()(f"[record{' after a beep' if beep else ''}: {said}]")
        return recording

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> media.TransferResult:
        if self.hung_up:
            raise media.Hangup("the call has ended")
        _, result = sim.transfer_result(
            self._caller.transfer,
            self._caller.transfer_seconds,
            bridge=bridge,
            connect_timeout_s=connect_timeout_s,
            max_time_s=max_time_s,
        )
        if result.outcome == "unknown":
            # A blind transfer handed over: the call goes on without us.
            self.hung_up = True
            outcome = "handed over, the call is no longer ours"
        elif result.duration_s:
            outcome = f"{result.outcome} after {result.duration_s:g} s"
        else:
            outcome = result.outcome
        kind = "bridged" if bridge else "blind"
        self._show()(f"[{kind} transfer to {destination}: {outcome}]")
        return result

    async def hangup(self) -> None:
        self.hung_up = True
        self._terminal.note("[the application hung up]")


# -- documents ------------------------------------------------------------------------


class TryFetcher:
    """Files from disk (``file:`` URLs; a query string is ignored, as a static web server
    would), everything else through ``HttpFetcher``; each fetch noted."""

    def __init__(self, http: HttpFetcher, terminal: Terminal) -> None:
        self._http = http
        self._terminal = terminal

    async def fetch(self, request: FetchRequest) -> Document:
        from vxdial.voicexml import FetchError

        self._terminal.note(f"[fetch {request.method} {request.url}{sent(request)}]")
        try:
            if urlsplit(request.url).scheme.lower() == "file":
                return self._read(request.url)
            return await self._http.fetch(request)
        except FetchError as exc:
            self._terminal.note(f"[fetch failed: {exc.reason}]")
            raise

    def _read(self, url: str) -> Document:
        from vxdial.voicexml import Document, FetchError

        # The reasons need not name the file: the interpreter's message names the URL.
        parts = urlsplit(urldefrag(url)[0])
        if parts.netloc not in ("", "localhost"):
            raise FetchError("a file URL on another host")
        try:
            body = Path(url2pathname(parts.path)).read_bytes()
        except FileNotFoundError:
            raise FetchError("no such file") from None
        except IsADirectoryError:
            raise FetchError("is a directory") from None
        except OSError as exc:
            raise FetchError(exc.strerror or str(exc)) from None
        return Document(url, body, None)


def sent(request: FetchRequest) -> str:
    """What a request carries, as ``--verbose`` shows it: its fields url-encoded, then
    each file part as ``name=filename (type, size bytes)``."""
    parts = [urlencode(dict(request.data))] if request.data else []
    for name, upload in (request.files or {}).items():
        size = len(upload.body)
        parts.append(
            f"{name}={upload.filename} ({upload.content_type}, {size} byte{'s' * (size != 1)})"
        )
    return "".join(f" {part}" for part in parts)


# -- the command ------------------------------------------------------------------------


async def run_call(
    start: FetchRequest,
    *,
    keys: Keys,
    terminal: Terminal,
    session: Mapping[str, object],
    time_limit_s: float | None,
    clock: Clock,
    caller: Caller | None = None,
) -> SessionEnd | None:
    """One call; None when ``time_limit_s`` ran out first."""
    import aiohttp

    from vxdial import __version__, voicexml

    channel = TerminalChannel(terminal, keys, caller)
    async with aiohttp.ClientSession(headers={"User-Agent": f"vxdial/{__version__} (try)"}) as http:
        # As the dialer does: a start URL that refuses the POST of --post fields (a static
        # file server: 405, 501) is fetched again with GET, the fields in the query.
        fetcher = voicexml.StartFetcher(
            TryFetcher(voicexml.HttpFetcher(http), terminal),
            start,
            lambda status, _: terminal.tell(
                f"[the start URL answered POST with HTTP {status}: "
                "fetched again with GET, the fields in the query string]"
            ),
        )
        session_task = asyncio.ensure_future(
            _named_errors(
                voicexml.run_session(start, channel=channel, fetcher=fetcher, session=session)
            )
        )
        if time_limit_s is None:
            return await session_task
        timer = asyncio.ensure_future(clock.sleep(time_limit_s))
        try:
            await asyncio.wait((session_task, timer), return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if session_task.done():
            return session_task.result()
        session_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await session_task
        return None


async def _named_errors(session: Awaitable[SessionEnd]) -> SessionEnd:
    """An unexpected error inside the interpreter ends the call as the dialer's does
    (event internal_error): named on one line with exit status 1, never a traceback."""
    from vxdial.voicexml import SessionEnd

    try:
        return await session
    except Exception as exc:
        return SessionEnd("error", "internal_error", f"{type(exc).__name__}: {exc}")


async def _main(
    start: FetchRequest,
    groups: list[str] | None,
    terminal: Terminal,
    session: Mapping[str, object],
    time_limit_s: float | None,
    caller: Caller,
) -> SessionEnd | None:
    clock = SystemClock()
    keys: Keys
    keyboard: KeyboardKeys | None = None
    if groups is not None:
        keys = ScriptedKeys(groups)
    elif sys.stdin is not None and sys.stdin.isatty():
        keys = keyboard = KeyboardKeys(terminal, clock, sys.stdin.fileno())
        keyboard.open()
    else:
        keys = SilentKeys()
    try:
        return await run_call(
            start,
            keys=keys,
            terminal=terminal,
            session=session,
            time_limit_s=time_limit_s,
            clock=clock,
            caller=caller,
        )
    finally:
        if keyboard is not None:
            keyboard.close()


def _configure_logging(verbose: bool) -> None:
    """With ``--verbose``, the interpreter's events and ``<log>`` output, as notes."""
    if not verbose:
        return
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(message)s]"))
    logger = logging.getLogger("vxdial.voicexml")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False


def _report(end: SessionEnd, terminal: Terminal) -> int:
    if end.reason == "error":
        event = end.event or "error"
        terminal.tell(f"{event}: {end.message or f'uncaught {event}'}")
        return EXIT_ERROR
    ended = {
        "exit": "exit",
        "end": "end of the application",
        "disconnect": "disconnect",
        "hangup": "the caller hung up",
    }.get(end.reason, end.reason)
    if end.values:
        ended += " " + json.dumps(dict(end.values), default=str, ensure_ascii=False)
    terminal.note(f"[ended: {ended}]")
    return 0


DtmfOption = Annotated[
    str | None,
    typer.Option(
        "--dtmf",
        metavar="GROUPS",
        help=(
            "script the caller: one comma-separated group of keys per input, '' is "
            "silence, silent once they run out (e.g. 1,,42#)"
        ),
    ),
]
PostOption = Annotated[
    list[str] | None,
    typer.Option(
        "--post",
        metavar="NAME=VALUE",
        help="a start field: the URL is fetched with POST and these fields (repeatable)",
    ),
]
SessionOption = Annotated[
    list[str] | None,
    typer.Option(
        "--session",
        metavar="NAME=VALUE",
        help="a session variable, e.g. telephone.ani=15551234567 (repeatable)",
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        help="stop an application still running after this long (exit status 124)",
    ),
]
RecordSecondsOption = Annotated[
    float,
    typer.Option(
        "--record-seconds",
        metavar="SECONDS",
        help="how long the caller speaks when the application records (0: says nothing)",
    ),
]
RecordKeyOption = Annotated[
    str | None,
    typer.Option(
        "--record-key",
        metavar="KEY",
        help=(
            "a key the caller presses after speaking, ending the recording if the "
            "application lets keys end it (default: none, the caller falls silent)"
        ),
    ),
]
TransferOption = Annotated[
    str,
    typer.Option(
        "--transfer",
        metavar="OUTCOME",
        help=(
            "what the far end of a transfer does: far_end_disconnect (answers, talks "
            "--transfer-seconds, hangs up), near_end_disconnect (the same, ended by the "
            "caller), busy, noanswer or network_busy; an answered blind transfer ends "
            "the call"
        ),
    ),
]
TransferSecondsOption = Annotated[
    float,
    typer.Option(
        "--transfer-seconds",
        metavar="SECONDS",
        help="how long an answered bridged transfer lasts (less if its maxtime is shorter)",
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "--verbose", "-v", help="show on stderr what the session does: fetches, waits, keys"
    ),
]


def try_(
    target: Annotated[
        str, typer.Argument(metavar="URL|FILE", help="the application's start document")
    ],
    dtmf: DtmfOption = None,
    post: PostOption = None,
    session: SessionOption = None,
    timeout: TimeoutOption = None,
    verbose: VerboseOption = False,
    record_seconds: RecordSecondsOption = _SIM_DEFAULTS.record_seconds,
    record_key: RecordKeyOption = None,
    transfer: TransferOption = _SIM_DEFAULTS.transfer,
    transfer_seconds: TransferSecondsOption = _SIM_DEFAULTS.transfer_seconds,
) -> None:
    """Run a VoiceXML application in the terminal as one call: each prompt printed as a
    line, keys typed (a line per input, an empty line is silence) or scripted with --dtmf;
    recordings and transfers as --record-* and --transfer* say, without waiting.
    Exit status: 0 when it ends normally, 1 on an uncaught event (named), 124 on --timeout.
    """
    from vxdial.voicexml import FetchRequest

    fields = pairs(post or (), "--post")
    variables = session_variables(pairs(session or (), "--session"))
    groups = dtmf_groups(dtmf) if dtmf is not None else None
    if timeout is not None and not timeout > 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="--timeout")
    caller = Caller(
        record_seconds=seconds(record_seconds, "--record-seconds"),
        record_key=one_key(record_key, "--record-key"),
        transfer=transfer_behaviour(transfer),
        transfer_seconds=seconds(transfer_seconds, "--transfer-seconds"),
    )
    url = start_url(target)
    if fields and urlsplit(url).scheme.lower() == "file":
        raise typer.BadParameter(
            "start fields can only be posted to an http(s) URL, not to a file",
            param_hint="--post",
        )
    start = FetchRequest(url, "POST", fields) if fields else FetchRequest(url)
    terminal = Terminal(verbose)
    _configure_logging(verbose)
    try:
        end = asyncio.run(_main(start, groups, terminal, variables, timeout, caller))
    except KeyboardInterrupt:
        terminal.tell("[interrupted]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if end is None:
        terminal.tell(f"timeout: the application was still running after {timeout:g} s (--timeout)")
        raise typer.Exit(EXIT_TIMEOUT)
    raise typer.Exit(_report(end, terminal))
