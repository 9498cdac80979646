"""Fakes of the interpreter's seams, for tests and dry runs: a scripted caller
(``ScriptedChannel``) and documents served from memory (``MemoryFetcher``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from vxdial.domain import media
from vxdial.voicexml.fetch import Document, FetchError, FetchRequest

__all__ = [
    "DEFAULT_RECORDING",
    "DEFAULT_TRANSFER",
    "CollectCall",
    "MemoryFetcher",
    "RecordCall",
    "ScriptedChannel",
    "TransferCall",
    "press",
]

# What a ScriptedChannel gives once its scripted recordings and transfers run out: the
# caller speaks 2 s and falls silent (cut short by a shorter maximum time), and nobody
# answers a transfer, which leaves the caller on the line whatever the kind of transfer.
DEFAULT_RECORDING = media.Recording(media.silence_wav(2.0), 2.0)
DEFAULT_TRANSFER = media.TransferResult("noanswer")


@dataclass(frozen=True, slots=True)
class CollectCall:
    """The arguments of one ``collect``. ``complete`` is kept (to check that the
    interpreter gave one) but not compared: a function is equal only to itself."""

    max_digits: int
    timeout_s: float
    interdigit_timeout_s: float
    termchar: str | None
    already: str
    complete: Callable[[str], bool] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class RecordCall:
    """The arguments of one ``record``."""

    max_time_s: float
    final_silence_s: float
    dtmf_term: bool
    beep: bool


@dataclass(frozen=True, slots=True)
class TransferCall:
    """The arguments of one ``transfer``."""

    destination: str
    bridge: bool
    connect_timeout_s: float
    max_time_s: float


def press(
    keys: str,
    max_digits: int,
    termchar: str | None,
    complete: Callable[[str], bool] | None = None,
) -> media.Collected:
    """What a DTMF collector makes of ``keys`` typed in one go: it stops at the termchar
    (not part of the digits), as soon as ``complete(digits)`` is true ("complete", which
    wins over "maxdigits" when one key makes both true) or after ``max_digits`` keys (0:
    no limit), else the interdigit timeout ends it; no key at all is "noinput". Keys
    after the end are dropped."""
    digits, ended_by = media.press_keys("", keys, max_digits, termchar, complete)
    if ended_by == "termchar":
        return media.Collected(digits, "termchar", termchar)
    if ended_by is not None:
        return media.Collected(digits, ended_by)
    return media.Collected(digits, "interdigit") if digits else media.Collected("", "noinput")


class ScriptedChannel:
    """A caller who presses one group of keys each time the application waits for input
    (``None`` or "" is silence: noinput) and stays silent once the groups run out, like
    ``vxdial try --dtmf 1,,42#``.

    With ``typeahead``, the next group is pressed during the first prompt played before
    the input instead (a barge-in when the prompt allows it; ignored otherwise).
    ``hangup_on_play`` / ``hangup_on_collect`` (1 for the first) make the caller hang up
    then.

    ``record`` returns the ``recordings`` in turn, as scripted, then
    ``DEFAULT_RECORDING`` (2 s of speech ended by silence; cut to ``max_time_s`` when
    that is shorter). ``transfer`` returns the ``transfers`` in turn, as scripted, then
    ``DEFAULT_TRANSFER`` (nobody answers: "noanswer"). A blind transfer that returns
    "unknown" (handed over) ends the call: later operations raise ``media.Hangup``.
    Nothing is waited.

    Records what was heard (``heard``, ``prompts``), the arguments of each ``collect``
    (``collects``), ``record`` (``records``) and ``transfer`` (``transfers``), and
    whether the application hung up (``hung_up``).
    """

    def __init__(
        self,
        keys: Iterable[str | None] = (),
        *,
        typeahead: bool = False,
        hangup_on_play: int | None = None,
        hangup_on_collect: int | None = None,
        recordings: Iterable[media.Recording] = (),
        transfers: Iterable[media.TransferResult] = (),
    ) -> None:
        self._keys: deque[str | None] = deque(keys)
        self._typeahead = typeahead
        self._hangup_on_play = hangup_on_play
        self._hangup_on_collect = hangup_on_collect
        self._recordings = deque(recordings)
        self._transfer_results = deque(transfers)
        self._typed = False  # a group was pressed during this round's prompts
        self._gone = False
        self.heard: list[str] = []
        self.prompts: list[media.Prompt] = []
        self.collects: list[CollectCall] = []
        self.records: list[RecordCall] = []
        self.transfers: list[TransferCall] = []
        self.hung_up = False  # by the application

    def _check(self) -> None:
        if self._gone or self.hung_up:
            raise media.Hangup("the call has ended")

    def _next_group(self) -> str:
        return (self._keys.popleft() or "") if self._keys else ""

    async def play(self, prompt: media.Prompt) -> str:
        self._check()
        if self._hangup_on_play is not None and len(self.prompts) + 1 >= self._hangup_on_play:
            self._gone = True
            raise media.Hangup("caller hung up")
        self.prompts.append(prompt)
        self.heard.append(prompt.text)
        if self._typeahead and not self._typed and self._keys:
            self._typed = True
            return self._next_group()
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
        self._check()
        self.collects.append(
            CollectCall(max_digits, timeout_s, interdigit_timeout_s, termchar, already, complete)
        )
        if self._hangup_on_collect is not None and len(self.collects) >= self._hangup_on_collect:
            self._gone = True
            raise media.Hangup("caller hung up")
        typed, self._typed = self._typed, False
        keys = already if typed else already + self._next_group()
        return press(keys, max_digits, termchar, complete)

    async def record(
        self, *, max_time_s: float, final_silence_s: float, dtmf_term: bool, beep: bool
    ) -> media.Recording:
        self._check()
        self.records.append(RecordCall(max_time_s, final_silence_s, dtmf_term, beep))
        self._typed = False  # keys typed during the prompts went into the recording
        if self._recordings:
            return self._recordings.popleft()
        if 0 < max_time_s < DEFAULT_RECORDING.duration_s:
            return media.Recording(media.silence_wav(max_time_s), max_time_s, max_time_reached=True)
        return DEFAULT_RECORDING

    async def transfer(
        self, *, destination: str, bridge: bool, connect_timeout_s: float, max_time_s: float
    ) -> media.TransferResult:
        self._check()
        self.transfers.append(TransferCall(destination, bridge, connect_timeout_s, max_time_s))
        self._typed = False
        result = self._transfer_results.popleft() if self._transfer_results else DEFAULT_TRANSFER
        if not bridge and result.outcome == "unknown":
            self._gone = True  # handed over: the call is no longer ours
        return result

    async def hangup(self) -> None:
        self.hung_up = True


Answer = str | bytes | FetchError | Callable[[FetchRequest], "str | bytes"]


class MemoryFetcher:
    """Serves documents from a mapping of URL to body (str or bytes), a ``FetchError``
    to raise, or a function of the request. Unknown URLs are "HTTP 404". Every request is
    kept in ``requests`` whole (POST data, uploads, enctype, timeout_s, maxage_s and
    maxstale_s included), so tests assert what the interpreter asked for; nothing is
    cached and no timeout applies here, since there is no network to wait for."""

    def __init__(self, documents: Mapping[str, Answer] | None = None) -> None:
        self.documents: dict[str, Answer] = dict(documents or {})
        self.requests: list[FetchRequest] = []

    async def fetch(self, request: FetchRequest) -> Document:
        self.requests.append(request)
        answer = self.documents.get(request.url)
        if answer is None:
            raise FetchError("HTTP 404", status=404)
        if isinstance(answer, FetchError):
            raise answer
        if callable(answer):
            answer = answer(request)
        body = answer.encode() if isinstance(answer, str) else answer
        return Document(request.url, body, "application/voicexml+xml")
