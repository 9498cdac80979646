"""``vxdial try URL|FILE``: run a VoiceXML application in the terminal as one call.

PRODUCT.md section 5. The terminal is the phone: each prompt is printed as one line on
standard output, and the caller's keys come from one of three places:

- ``--dtmf 1,,42#``: one comma-separated group per time the application waits for input,
  an empty group is silence (noinput), and once the groups run out the caller stays
  silent. The scripted caller answers at once: no timeout is really waited.
- the keyboard, when standard input is a terminal: a line per input (an empty line is
  silence), within the application's own timeouts; end of input (Ctrl-D) hangs up.
- nothing, when standard input is not a terminal: the caller is silent, at once.

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
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol
from urllib.parse import urldefrag, urlencode, urlsplit
from urllib.request import url2pathname

import typer

from vxdial.domain import media
from vxdial.domain.clock import Clock, SystemClock

if TYPE_CHECKING:
    from vxdial.voicexml import Document, FetchRequest, HttpFetcher, SessionEnd

__all__ = ["try_"]

DTMF_KEYS = frozenset("0123456789*#ABCD")
EXIT_ERROR = 1  # the application ended on an uncaught event
EXIT_USAGE = 2
EXIT_TIMEOUT = 124  # as timeout(1)
EXIT_INTERRUPTED = 130


# -- arguments ------------------------------------------------------------------------


def dtmf_groups(spec: str) -> list[str]:
    """``"1,,42#"`` -> ``["1", "", "42#"]``; keys are 0-9 * # and A-D (any case)."""
    groups = [group.strip().upper() for group in spec.split(",")]
    for group in groups:
        wrong = sorted(set(group) - DTMF_KEYS)
        if wrong:
            raise typer.BadParameter(
                f"{''.join(wrong)!r} in {spec!r}: DTMF keys are 0-9, *, # and A-D",
                param_hint="--dtmf",
            )
    return groups


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
        typed = "".join(line.split()).upper()
        keys = "".join(key for key in typed if key in DTMF_KEYS)
        if keys != typed:
            wrong = "".join(sorted(set(typed) - DTMF_KEYS))
            self._terminal.tell(f"[ignored {wrong!r} in {line!r}: DTMF keys are 0-9, *, #, A-D]")
        return keys

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


class TerminalChannel:
    """The ``voicexml.Channel`` of ``vxdial try``: prompts printed, keys from ``Keys``.

    Prompts print at once, so nothing can barge in on them; keys typed early are kept for
    the next input instead."""

    def __init__(self, terminal: Terminal, keys: Keys) -> None:
        from vxdial.voicexml import testing

        self._terminal = terminal
        self._keys = keys
        self._press = testing.press  # what a DTMF collector makes of the keys
        self.hung_up = False

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
    ) -> media.Collected:
        if self.hung_up:
            raise media.Hangup("the call has ended")
        # At the keyboard the user must see when input is awaited and when it timed out;
        # a scripted or silent caller's waits are notes.
        interactive = self._keys.interactive
        show = self._terminal.tell if interactive else self._terminal.note
        show(f"[waiting for keys: {timeout_s:g} s]" if interactive else "[waiting for keys]")
        keys = await self._keys.next(timeout_s)
        if keys is None:
            self.hung_up = True
            self._terminal.note("[caller hung up]")
            raise media.Hangup("the caller hung up (end of input)")
        collected = self._press(already + keys, max_digits, termchar)
        if collected.ended_by == "noinput":
            show("[noinput]")
        else:
            self._terminal.note(f"[pressed {already + keys}]")
        return collected

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

        fields = f" {urlencode(dict(request.data))}" if request.data else ""
        self._terminal.note(f"[fetch {request.method} {request.url}{fields}]")
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


# -- the command ------------------------------------------------------------------------


async def run_call(
    start: FetchRequest,
    *,
    keys: Keys,
    terminal: Terminal,
    session: Mapping[str, object],
    time_limit_s: float | None,
    clock: Clock,
) -> SessionEnd | None:
    """One call; None when ``time_limit_s`` ran out first."""
    import aiohttp

    from vxdial import __version__, voicexml

    channel = TerminalChannel(terminal, keys)
    async with aiohttp.ClientSession(headers={"User-Agent": f"vxdial/{__version__} (try)"}) as http:
        fetcher = TryFetcher(voicexml.HttpFetcher(http), terminal)
        session_task = asyncio.ensure_future(
            voicexml.run_session(start, channel=channel, fetcher=fetcher, session=session)
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


async def _main(
    start: FetchRequest,
    groups: list[str] | None,
    terminal: Terminal,
    session: Mapping[str, object],
    time_limit_s: float | None,
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
) -> None:
    """Run a VoiceXML application in the terminal as one call: each prompt printed as a
    line, keys typed (a line per input, an empty line is silence) or scripted with --dtmf.
    Exit status: 0 when it ends normally, 1 on an uncaught event (named), 124 on --timeout.
    """
    from vxdial.voicexml import FetchRequest

    fields = pairs(post or (), "--post")
    variables = session_variables(pairs(session or (), "--session"))
    groups = dtmf_groups(dtmf) if dtmf is not None else None
    if timeout is not None and not timeout > 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="--timeout")
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
        end = asyncio.run(_main(start, groups, terminal, variables, timeout))
    except KeyboardInterrupt:
        terminal.tell("[interrupted]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if end is None:
        terminal.tell(f"timeout: the application was still running after {timeout:g} s (--timeout)")
        raise typer.Exit(EXIT_TIMEOUT)
    raise typer.Exit(_report(end, terminal))
