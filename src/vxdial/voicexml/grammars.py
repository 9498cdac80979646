"""The builtin DTMF grammars (VoiceXML 2.0 appendix P): what keys a field accepts and
the ECMAScript value a match gives.

Supported: ``digits`` (parameters ``length``, ``minlength``, ``maxlength``) and ``boolean``
(``1`` true, ``2`` false; parameters ``y`` and ``n`` change the keys). Written either as a
field's ``type`` ("digits?minlength=3;maxlength=5") or as ``<grammar
src="builtin:dtmf/digits?length=4"/>``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UNBOUNDED_DIGITS", "Builtin", "GrammarError", "Match", "UnsupportedBuiltin", "parse"]

# How many keys a grammar without a maximum length collects at most.
UNBOUNDED_DIGITS = 128

# Builtin types of appendix P this interpreter does not recognise yet.
KNOWN_TYPES = frozenset({"boolean", "date", "digits", "currency", "number", "phone", "time"})


class GrammarError(ValueError):
    """A builtin grammar written wrongly (bad parameter): the document is unusable."""


class UnsupportedBuiltin(GrammarError):
    """A builtin type of appendix P that is not implemented yet (error.unsupported.builtin)."""


@dataclass(frozen=True, slots=True)
class Match:
    value: str | bool  # the interpretation: a string of digits, or a boolean
    utterance: str  # the keys


@dataclass(frozen=True, slots=True)
class Builtin:
    type: str  # "digits" | "boolean"
    min_length: int = 1
    max_length: int | None = None
    yes: str = "1"
    no: str = "2"

    @property
    def max_digits(self) -> int:
        """How many keys to collect at most before matching."""
        if self.type == "boolean":
            return 1
        return self.max_length if self.max_length is not None else UNBOUNDED_DIGITS

    def match(self, keys: str) -> Match | None:
        """The match for ``keys`` (without the termchar), or None (nomatch)."""
        if self.type == "boolean":
            if keys == self.yes:
                return Match(True, keys)
            if keys == self.no:
                return Match(False, keys)
            return None
        if not keys or not keys.isascii() or not keys.isdigit():
            return None
        if len(keys) < self.min_length:
            return None
        if self.max_length is not None and len(keys) > self.max_length:
            return None
        return Match(keys, keys)


def parse(spec: str) -> Builtin:
    """A builtin grammar from a type with parameters: "digits", "digits?length=4",
    "boolean?y=7;n=9". Raises ``UnsupportedBuiltin`` or ``GrammarError``."""
    name, _, query = spec.strip().partition("?")
    name = name.strip()
    params: dict[str, str] = {}
    for part in query.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise GrammarError(f"builtin {name}: parameter {part.strip()!r} has no value")
        params[key.strip().lower()] = value.strip()
    if name == "digits":
        return _digits(params)
    if name == "boolean":
        return _boolean(params)
    if name in KNOWN_TYPES:
        raise UnsupportedBuiltin(f"builtin grammar {name!r} is not supported yet")
    raise UnsupportedBuiltin(f"unknown builtin grammar {name!r}")


def _count(params: dict[str, str], key: str) -> int | None:
    if key not in params:
        return None
    text = params.pop(key)
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise GrammarError(f"builtin digits: {key}={text!r} is not a positive whole number")
    return int(text)


def _digits(params: dict[str, str]) -> Builtin:
    length = _count(params, "length")
    min_length = _count(params, "minlength")
    max_length = _count(params, "maxlength")
    if params:
        raise GrammarError(f"builtin digits: unknown parameter {next(iter(params))!r}")
    if length is not None:
        if min_length is not None or max_length is not None:
            raise GrammarError("builtin digits: length cannot be combined with min/maxlength")
        return Builtin("digits", min_length=length, max_length=length)
    if min_length is not None and max_length is not None and min_length > max_length:
        raise GrammarError(
            f"builtin digits: minlength={min_length} is larger than maxlength={max_length}"
        )
    return Builtin("digits", min_length=min_length or 1, max_length=max_length)


def _boolean(params: dict[str, str]) -> Builtin:
    yes = params.pop("y", "1")
    no = params.pop("n", "2")
    if params:
        raise GrammarError(f"builtin boolean: unknown parameter {next(iter(params))!r}")
    for key, value in (("y", yes), ("n", no)):
        if len(value) != 1 or value not in "0123456789*#":
            raise GrammarError(f"builtin boolean: {key}={value!r} is not one DTMF key")
    if yes == no:
        raise GrammarError("builtin boolean: y and n are the same key")
    return Builtin("boolean", yes=yes, no=no)
