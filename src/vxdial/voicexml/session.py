"""What a VoiceXML session may use (``Limits``) and how it ended (``SessionEnd``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["EndReason", "Limits", "SessionEnd"]

# "exit": <exit> (or an uncaught "exit" event); "disconnect": <disconnect>; "end": the
# application ran off its end (a form with nothing left to visit); "hangup": the caller
# hung up; "error": an uncaught error.* (or unknown) event, an unusable start document,
# or a limit exceeded.
EndReason = Literal["exit", "disconnect", "end", "hangup", "error"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one session; going over any ends it with reason "error", event
    "error.semantic" and a message naming the limit (except ``data_max_nodes``, a bound
    on one document: error.badfetch, which the application may catch)."""

    script_time_s: float = 1.0  # CPU time of one ECMAScript evaluation or <script>
    script_memory_bytes: int = 32 * 1024 * 1024  # the session's ECMAScript heap
    max_documents: int = 100  # VoiceXML documents loaded (<goto>/<submit> loops)
    max_steps: int = 10_000  # FIA iterations, dialog entries and events handled
    max_document_bytes: int = 1024 * 1024  # one VoiceXML document's body
    session_cpu_s: float = 10.0  # CPU time of the whole session (its thread's)
    # Nodes (elements and text) of one <data> document; a larger one is error.badfetch
    # (catchable: the document is unusable here, the session is not over).
    data_max_nodes: int = 50_000


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """Why a session ended. ``event`` is the uncaught event of an "error" end;
    ``message`` says what went wrong; ``values`` holds the variables of ``<exit
    namelist>`` / ``<disconnect namelist>`` by name, or ``{"expr": value}`` for
    ``<exit expr>`` (as JSON-like Python values)."""

    reason: EndReason
    event: str | None = None
    message: str | None = None
    values: Mapping[str, object] = field(default_factory=dict)
