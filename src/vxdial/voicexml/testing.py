"""Fakes of the interpreter's seams, for tests and dry runs: a scripted caller
(``ScriptedChannel``) and documents served from memory (``MemoryFetcher``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from vxdial.domain import media
from vxdial.voicexml.fetch import Document, FetchError, FetchRequest

__all__ = ["CollectCall", "MemoryFetcher", "ScriptedChannel", "press"]


@dataclass(frozen=True, slots=True)
class CollectCall:
    """The arguments of one ``collect``."""

    max_digits: int
    timeout_s: float
    interdigit_timeout_s: float
    termchar: str | None
    already: str


def press(keys: str, max_digits: int, termchar: str | None) -> media.Collected:
    """What a DTMF collector makes of ``keys`` typed in one go: it stops at the termchar
    (not part of the digits) or after ``max_digits`` keys, else the interdigit timeout
    ends it; no key at all is "noinput". Keys after the end are dropped."""
    digits = ""
    for key in keys:
        if termchar is not None and key == termchar:
            return media.Collected(digits, "termchar", termchar)
        digits += key
        if len(digits) >= max_digits:
            return media.Collected(digits, "maxdigits")
    return media.Collected(digits, "interdigit") if digits else media.Collected("", "noinput")


class ScriptedChannel:
    """A caller who presses one group of keys each time the application waits for input
    (``None`` or "" is silence: noinput) and stays silent once the groups run out, like
    ``vxdial try --dtmf 1,,42#``.

    With ``typeahead``, the next group is pressed during the first prompt played before
    the input instead (a barge-in when the prompt allows it; ignored otherwise).
    ``hangup_on_play`` / ``hangup_on_collect`` (1 for the first) make the caller hang up
    then. Records what was heard (``heard``, ``prompts``), each ``collect`` (``collects``)
    and whether the application hung up (``hung_up``).
    """

    def __init__(
        self,
        keys: Iterable[str | None] = (),
        *,
        typeahead: bool = False,
        hangup_on_play: int | None = None,
        hangup_on_collect: int | None = None,
    ) -> None:
        self._keys: deque[str | None] = deque(keys)
        self._typeahead = typeahead
        self._hangup_on_play = hangup_on_play
        self._hangup_on_collect = hangup_on_collect
        self._typed = False  # a group was pressed during this round's prompts
        self._gone = False
        self.heard: list[str] = []
        self.prompts: list[media.Prompt] = []
        self.collects: list[CollectCall] = []
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
    ) -> media.Collected:
        self._check()
        self.collects.append(
            CollectCall(max_digits, timeout_s, interdigit_timeout_s, termchar, already)
        )
        if self._hangup_on_collect is not None and len(self.collects) >= self._hangup_on_collect:
            self._gone = True
            raise media.Hangup("caller hung up")
        typed, self._typed = self._typed, False
        keys = already if typed else already + self._next_group()
        return press(keys, max_digits, termchar)

    async def hangup(self) -> None:
        self.hung_up = True


Answer = str | bytes | FetchError | Callable[[FetchRequest], "str | bytes"]


class MemoryFetcher:
    """Serves documents from a mapping of URL to body (str or bytes), a ``FetchError``
    to raise, or a function of the request. Unknown URLs are "HTTP 404". Every request is
    kept in ``requests`` (POST data included)."""

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
