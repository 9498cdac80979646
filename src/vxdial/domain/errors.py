"""The errors vxdial raises across package boundaries.

    VxdialError
    ├── InvalidInput      a field of a request is wrong (names the field and the reason)
    │   ├── InvalidInputs several fields are wrong at once
    │   └── TooLarge      a request (or the field named) is larger than allowed
    ├── NotAuthorized     wrong login or wrong PIN: deliberately the same error
    │   ├── Throttled     too many failed logins; try again later
    │   └── Forbidden     the right PIN, but the account is disabled or may not do this
    ├── NotFound          the thing does not exist, or belongs to someone else
    ├── Conflict          the request clashes with what exists (a campaign name taken, ...)
    └── Unavailable       something we depend on failed: the store, a driver, a remote server
        └── DatabaseUnavailable  the database cannot be reached or is full: the same
                                 request may succeed later, unchanged

Library errors are translated at the boundary with ``raise ... from exc`` so the
cause stays attached; the edges (api/plum, api/v1, cli) render them, once.
Messages never contain a PIN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

# A lone surrogate (U+D800-U+DFFF outside a pair) can arrive from JSON ("\ud800") but
# cannot be encoded in UTF-8: a message quoting one could not be sent.
_SURROGATES = re.compile("[\ud800-\udfff]")


def quote(value: str) -> str:
    """A value as messages show it: in double quotes, control characters and lone
    surrogates escaped (``\\ud800``), so the message is always encodable."""
    return escape_surrogates(json.dumps(value, ensure_ascii=False))


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as ``\\uXXXX`` (a field name taken from
    a request, say, in a message)."""
    return _SURROGATES.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def has_surrogates(value: str) -> bool:
    """Whether ``value`` holds a lone surrogate (text that is not Unicode text)."""
    return _SURROGATES.search(value) is not None


class VxdialError(Exception):
    """Root of every error vxdial raises on purpose."""


class InvalidInput(VxdialError):
    """One field of a request is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidInputs(InvalidInput):
    """Several fields are wrong; ``problems`` lists each one, in field order."""

    def __init__(self, problems: Iterable[InvalidInput]) -> None:
        self.problems = list(problems)
        if not self.problems:
            raise ValueError("InvalidInputs needs at least one problem")
        first = self.problems[0]
        super().__init__(first.field, first.reason)
        self.args = ("; ".join(str(p) for p in self.problems),)


class TooLarge(InvalidInput):
    """A request, or one of its fields, is larger than allowed (HTTP 413)."""


class NotAuthorized(VxdialError):
    """Wrong login or wrong PIN (the two are indistinguishable), or a disabled account."""

    def __init__(self, reason: str = "login or PIN is incorrect") -> None:
        super().__init__(reason)
        self.reason = reason


class Throttled(NotAuthorized):
    """Too many failed logins for one login or from one address."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} seconds")
        self.retry_after_s = retry_after_s


class Forbidden(NotAuthorized):
    """The PIN was right, but the account is disabled or its role may not do this."""


class NotFound(VxdialError):
    """The thing asked for does not exist, or is not the caller's to see."""


class Conflict(VxdialError):
    """The request clashes with existing state."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class Unavailable(VxdialError):
    """A dependency failed: the store, a telephony driver, a remote HTTP server."""


class DatabaseUnavailable(Unavailable):
    """The database cannot take the request now (down, restarting, out of connections,
    its disk full); the same request, sent again later, may succeed."""
