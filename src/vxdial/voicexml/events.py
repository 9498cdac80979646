"""Events: counters, the choice of a ``<catch>``, and the default handlers.

VoiceXML 2.0 section 5.2. Event names are dot-separated; a catch for ``error`` catches
``error.badfetch.http.404`` (whole-token prefix match), and a catch without an event name
catches everything. Selection (5.2.4):

1. every catch of the current scope and its enclosing ones (form item, form, document,
   application root), ordered by scope, innermost first, then by document order;
2. minus those whose event does not match or whose ``cond`` is false;
3. the "correct count" is the highest ``count`` among them not above the event's count;
4. the first one with the correct count is selected.

Counters (5.2.2) are kept per form item and per form, and "are incremented against the full
event name and every prefix matching event name", so each catch compares its ``count`` with
the counter of the very name it catches: ``<catch event="error" count="2">`` is chosen on
the second error of any kind while the same form item is being visited.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from vxdial.voicexml import model

__all__ = ["Counters", "DefaultAction", "default_action", "matching_name", "select"]

DefaultAction = Literal["reprompt", "continue", "exit"]


class Counters:
    """The event counters of one form item, or of one form."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def increment(self, event: str) -> None:
        counts = self._counts
        counts[""] = counts.get("", 0) + 1
        end = event.find(".")
        while end != -1:
            prefix = event[:end]
            counts[prefix] = counts.get(prefix, 0) + 1
            end = event.find(".", end + 1)
        counts[event] = counts.get(event, 0) + 1

    def count(self, name: str) -> int:
        """How many events named ``name`` or below it ("" for all) have occurred."""
        return self._counts.get(name, 0)

    def reset(self) -> None:
        self._counts.clear()


def matching_name(names: Sequence[str], event: str) -> str | None:
    """Which of a catch's event names catches ``event`` (the most specific one), "" for a
    catch-all, None if none does."""
    if not names:
        return ""
    best: str | None = None
    for name in names:
        if (name == "" or event == name or event.startswith(name + ".")) and (
            best is None or len(name) > len(best)
        ):
            best = name
    return best


def select(
    scopes: Iterable[Sequence[model.Catch]],
    event: str,
    counters: Counters,
    cond_true: Callable[[str], bool],
) -> model.Catch | None:
    """The catch that handles ``event`` (already counted in ``counters``), or None for the
    default handler. ``cond_true`` evaluates a catch's ``cond``."""
    eligible: list[model.Catch] = []
    for catches in scopes:
        for catch in catches:
            name = matching_name(catch.events, event)
            if name is None:
                continue
            if catch.cond is not None and not cond_true(catch.cond):
                continue
            if catch.count <= counters.count(name):
                eligible.append(catch)
    if not eligible:
        return None
    correct = max(catch.count for catch in eligible)
    return next(catch for catch in eligible if catch.count == correct)


# VoiceXML 2.0 section 5.2.5, the default catch handlers.
_DEFAULTS: tuple[tuple[str, DefaultAction], ...] = (
    ("cancel", "continue"),
    ("help", "reprompt"),
    ("noinput", "reprompt"),
    ("nomatch", "reprompt"),
    ("maxspeechtimeout", "reprompt"),
)


def default_action(event: str) -> DefaultAction:
    """What the interpreter does with an event no catch selects: play the prompts of the
    form item again, just go on, or end the session (error, exit, connection.disconnect
    and every other event)."""
    for name, action in _DEFAULTS:
        if event == name or event.startswith(name + "."):
            return action
    return "exit"
