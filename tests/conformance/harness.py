"""Running one W3C VoiceXML implementation-report (IR) test against our interpreter.

A test runs as the W3C meant it to (corpus/SOURCES.md):

1. its folder is copied to a temporary folder, and every ``.txml`` is turned into a
   ``.vxml`` by the shipped stylesheet ``xslt/irtest.xslt`` (other files, grammars,
   scripts and audio, are kept as they are);
2. a real aiohttp server on loopback serves that folder, and the interpreter fetches the
   entry document from it through ``voicexml.HttpFetcher``, as in production. The server
   answers ``X.txml`` with the transformed ``X.vxml`` (tests name their siblings either
   way), answers any method (``<submit>`` POSTs), and the ``http://localhost/vxml/`` URLs
   cudl wrote into a few tests are mapped to the test's folder. No other host is ever
   contacted: fetching one fails like an unreachable host (``error.badfetch``);
3. a ``ScriptedChannel`` (``Line``) plays the caller with the keys ``plan.CALLERS``
   gives the test (silence, that is noinput, when none are listed or once they run out),
   and the far end of its transfers: the ``media.TransferResult`` each
   ``Channel.transfer`` returns (nobody answers once the scripted ones run out), or the
   caller hanging up during one;
4. what happened is an ``Observation``: the prompts played, the ``<log>`` output, the
   transfers and recordings asked of the channel, the ``SessionEnd``. ``judge`` gives
   the IR verdict: the stylesheet turns ``<conf:pass/>`` into
   ``<prompt>pass</prompt><exit/>`` and ``<conf:fail/>`` into ``<prompt>fail</prompt>``,
   a ``<log>failure reason: ...</log>`` (or ``failure expression:``), the reason as a
   prompt and ``<exit/>``. A test passes when the last prompt heard is "pass", no "fail"
   was heard or logged, and the session ended by ``<exit>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import logging
import os
import shutil
import traceback
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from lxml import etree  # type: ignore[import-untyped]

from vxdial import voicexml
from vxdial.domain import media
from vxdial.voicexml.testing import RecordCall, ScriptedChannel, TransferCall

HERE = Path(__file__).resolve().parent
# The corpus is vendored in the repository (corpus/SOURCES.md says where each file came
# from); CONFORMANCE_CORPUS points elsewhere, e.g. at a newer copy.
CORPUS = Path(os.environ.get("CONFORMANCE_CORPUS", HERE / "corpus"))
EXPECTED_FAILURES = HERE / "expected_failures.txt"

SESSION: dict[str, object] = {
    "telephone": {"ani": "15550001111", "dnis": "15551234567"},
    "connection": {
        "callee_type": "voice",
        "local": {"uri": "sip:15550001111@vxdial"},
        "remote": {"uri": "sip:15551234567@trunk"},
        "protocol": {"name": "sip"},
    },
    "call_id": 1,
    "message_reference": "w3c-ir",
    "call_parameters": "",
}
SESSION_TIME_LIMIT_S = 10.0  # wall clock for one test; each takes a few milliseconds
FETCH_TIMEOUT_S = 5.0
LOCALHOST_PREFIX = "http://localhost/vxml/"  # cudl's edits of 526, 528, 530a1 and 1003
INTERPRETER_LOGGER = "vxdial.voicexml"  # where <log> output goes (at DEBUG)

CONTENT_TYPES = {
    ".vxml": "application/voicexml+xml",
    ".grxml": "application/srgs+xml",
    ".js": "application/ecmascript",
    ".wav": "audio/x-wav",
    ".au": "audio/basic",
}

FLAGS = (
    "needs_speech",
    "needs_dtmf",
    "needs_noinput",
    "needs_hangup",
    "uses_transfer",
    "uses_record",
    "uses_audio_file",
    "conf_grammar",
    "self_checking",
    "manual_check",
    "w3c_header",
    "localhost_url",
    "automatable",
)


@dataclass(frozen=True)
class Case:
    """One row of INDEX.tsv: an entry document and what it reaches."""

    test_id: str  # "ir20-530:530a1"
    suite: str  # "ir20"
    assertion: str  # "530"
    main: str  # "ir20/530/530a1.txml", relative to the corpus
    assertion_text: str
    flags: frozenset[str]  # the 0/1 columns that are 1 ("needs_speech", ...)
    missing_deps: tuple[str, ...]

    @property
    def folder(self) -> str:
        return f"{self.suite}/{self.assertion}"

    @property
    def entry(self) -> str:
        """The entry document's name once transformed (``a11.vxml``)."""
        return Path(self.main).with_suffix(".vxml").name


def load_cases(corpus: Path = CORPUS) -> list[Case]:
    """Every row of INDEX.tsv, in its order."""
    with (corpus / "INDEX.tsv").open(newline="", encoding="utf-8") as index:
        rows = list(csv.DictReader(index, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        Case(
            test_id=row["test_id"],
            suite=row["suite"],
            assertion=row["assertion"],
            main=row["main"],
            assertion_text=row["assertion_text"],
            flags=frozenset(flag for flag in FLAGS if row[flag] == "1"),
            missing_deps=tuple(row["missing_deps"].split()),
        )
        for row in rows
    ]


def load_expected_failures(path: Path = EXPECTED_FAILURES) -> dict[str, str]:
    """``expected_failures.txt``: a test id and why it fails, one test a line; blank
    lines and ``#`` comments are skipped."""
    expected: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        test_id, _, why = line.partition(" ")
        if not why.strip():
            raise ValueError(f"{path.name} line {number}: {test_id} without a reason")
        if test_id in expected:
            raise ValueError(f"{path.name} line {number}: {test_id} is listed twice")
        expected[test_id] = why.strip()
    return expected


# -- preparing and serving a test folder ------------------------------------------------

_stylesheet: etree.XSLT | None = None


def stylesheet() -> etree.XSLT:
    global _stylesheet
    if _stylesheet is None:
        _stylesheet = etree.XSLT(etree.parse(str(CORPUS / "xslt" / "irtest.xslt")))
    return _stylesheet


def prepare(case: Case, root: Path) -> Path:
    """Copy the test's folder under ``root`` (as ``<suite>/<assertion>``), adding the
    transformed ``.vxml`` beside each ``.txml``; returns the copy."""
    folder = root / case.folder
    shutil.copytree(CORPUS / case.folder, folder)
    transform = stylesheet()
    for source in sorted(folder.glob("*.txml")):
        result = transform(etree.parse(str(source)))
        source.with_suffix(".vxml").write_bytes(bytes(result))
    return folder


def _file_server(root: Path) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        path = (root / request.match_info["path"]).resolve()
        if path.suffix == ".txml":
            path = path.with_suffix(".vxml")  # what the W3C harness served for X.txml
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound()
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        return web.Response(body=path.read_bytes(), content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    return app


@contextlib.asynccontextmanager
async def serve(root: Path) -> AsyncIterator[str]:
    """Serve the files under ``root`` on a free loopback port; yields the base URL."""
    runner = web.AppRunner(_file_server(root.resolve()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


class LoopbackFetcher:
    """``HttpFetcher`` confined to the test server: cudl's ``http://localhost/vxml/X``
    becomes the test folder's ``X``, and any other host fails as unreachable."""

    def __init__(self, http: voicexml.HttpFetcher, base: str, folder_url: str) -> None:
        self._http = http
        self._base = base
        self._folder_url = folder_url

    async def fetch(self, request: voicexml.FetchRequest) -> voicexml.Document:
        url = request.url
        if url.startswith(LOCALHOST_PREFIX):
            url = self._folder_url + url.removeprefix(LOCALHOST_PREFIX)
        if not url.startswith(self._base):
            host = urlsplit(url).hostname or url
            raise voicexml.FetchError(f"cannot resolve host {host!r} (no network in the harness)")
        return await self._http.fetch(voicexml.FetchRequest(url, request.method, request.data))


# -- running a test -------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What a test did, as a caller and a log reader would see it."""

    end: voicexml.SessionEnd
    prompts: tuple[media.Prompt, ...]
    logs: tuple[str, ...]  # the interpreter's log lines (<log> output among them)
    hung_up: bool  # the application hung up (not the caller)
    folder_url: str
    transfers: tuple[TransferCall, ...]  # what each <transfer> asked of the channel
    records: tuple[RecordCall, ...]  # what each <record> asked of the channel

    @property
    def heard(self) -> tuple[str, ...]:
        return tuple(prompt.text for prompt in self.prompts)


class Line(ScriptedChannel):
    """``ScriptedChannel``, whose caller may also hang up during the
    ``hangup_on_transfer``-th transfer (1 for the first): ``transfer`` then raises
    ``media.Hangup`` (the far end had answered; the Channel protocol's word for a caller
    gone during any operation) and the call is over."""

    def __init__(
        self,
        keys: Iterable[str | None] = (),
        *,
        hangup_on_collect: int | None = None,
        transfers: Iterable[media.TransferResult] = (),
        hangup_on_transfer: int | None = None,
    ) -> None:
        super().__init__(keys, hangup_on_collect=hangup_on_collect, transfers=transfers)
        self._hangup_on_transfer = hangup_on_transfer

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> media.TransferResult:
        result = await super().transfer(
            destination=destination,
            bridge=bridge,
            connect_timeout_s=connect_timeout_s,
            max_time_s=max_time_s,
        )
        if self._hangup_on_transfer is not None and len(self.transfers) >= self._hangup_on_transfer:
            self._gone = True  # ScriptedChannel's "the caller has hung up"
            raise media.Hangup("the caller hung up during the transfer")
        return result


class InterpreterCrash(Exception):
    """``run_session`` raised, or never ended."""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _interpreter_logs() -> Iterator[list[str]]:
    logger = logging.getLogger(INTERPRETER_LOGGER)
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def run(
    case: Case,
    workdir: Path,
    keys: Iterable[str | None] = (),
    *,
    hangup_on_collect: int | None = None,
    transfers: Iterable[media.TransferResult] = (),
    hangup_on_transfer: int | None = None,
) -> Observation:
    """Prepare ``case`` in ``workdir`` (an empty folder), serve it and run it with a
    caller pressing ``keys`` and transfers ending as ``transfers`` (see ``Line``).
    Raises ``InterpreterCrash`` if the interpreter raised."""
    prepare(case, workdir)
    channel = Line(
        keys,
        hangup_on_collect=hangup_on_collect,
        transfers=transfers,
        hangup_on_transfer=hangup_on_transfer,
    )
    with _interpreter_logs() as logs:
        async with serve(workdir) as base, aiohttp.ClientSession() as http:
            folder_url = f"{base}{case.folder}/"
            fetcher = LoopbackFetcher(
                voicexml.HttpFetcher(http, timeout_s=FETCH_TIMEOUT_S), base, folder_url
            )
            session = voicexml.run_session(
                voicexml.FetchRequest(folder_url + case.entry),
                channel=channel,
                fetcher=fetcher,
                session=SESSION,
            )
            try:
                end = await asyncio.wait_for(session, SESSION_TIME_LIMIT_S)
            except TimeoutError:
                raise InterpreterCrash(f"no end after {SESSION_TIME_LIMIT_S:g} s") from None
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                raise InterpreterCrash(
                    f"run_session raised {type(exc).__name__}: {exc}"
                    f" ({Path(where.filename).name} line {where.lineno}, in {where.name})"
                ) from exc
    return Observation(
        end,
        tuple(channel.prompts),
        tuple(logs),
        channel.hung_up,
        folder_url,
        tuple(channel.transfers),
        tuple(channel.records),
    )


@contextlib.contextmanager
def workdir_for(root: Path, case: Case) -> Iterator[Path]:
    """A fresh folder under ``root`` for ``case``, removed afterwards."""
    folder = root / case.test_id.replace(":", "_")
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- verdicts -------------------------------------------------------------------------


def words(text: str) -> str:
    return " ".join(text.split()).lower()


def failure(seen: Observation) -> str | None:
    """The ``<conf:fail>`` the test reached, if any: the "fail" prompt and the reason
    prompted after it, else the failure ``<log>`` (prompts are silent once the call is
    disconnected, logs are not)."""
    said = [words(text) for text in seen.heard]
    if "fail" in said:
        after = [text for text in seen.heard[said.index("fail") + 1 :] if words(text)]
        return "fail: " + (describe_prompts(after[:2]) if after else "(no reason given)")
    for line in seen.logs:
        for marker in ("failure reason:", "failure expression:"):
            at = line.find(marker)
            if at >= 0:
                return "fail (logged): " + " ".join(line[at:].split())[:200]
    return None


def judge(seen: Observation) -> str | None:
    """The IR verdict of a self-checking test: None when it passed, else why not."""
    failed = failure(seen)
    if failed:
        return failed
    said = [words(text) for text in seen.heard]
    if said and said[-1] == "pass" and seen.end.reason == "exit":
        return None
    if "pass" in said:
        return f"heard pass, but then {describe_end(seen.end)}; {last_prompts(seen)}"
    return f"{describe_end(seen.end)}; {last_prompts(seen)}"


def describe_end(end: voicexml.SessionEnd) -> str:
    if end.reason == "error":
        return f"ended on {end.event}: {end.message}"
    return f"ended by {end.reason}" + (f" ({end.message})" if end.message else "")


def describe_prompts(prompts: Iterable[str]) -> str:
    shown = [repr(" ".join(text.split())[:120]) for text in prompts]
    return " | ".join(shown) if shown else "(none)"


def last_prompts(seen: Observation) -> str:
    return "last prompts: " + describe_prompts(seen.heard[-3:])
