"""PINs: rules, generation, and argon2id hashing.

PINs are stored only as argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended option). Checking one costs ~50 ms and 64 MiB on purpose; the
``Authenticator`` remembers successful checks so that cost is paid once per sender
every few minutes, not once per request.
"""

from __future__ import annotations

import re
import secrets

import argon2

from vxdial.config import AuthSettings
from vxdial.domain import errors

LOGIN_MAX = 128
PIN_MAX = 16
PIN_MIN = 4
GENERATED_PIN_DIGITS = 8
_LOGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_PIN_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces


def validate_login(login: str) -> str:
    if not login:
        raise errors.InvalidInput("login", "is required")
    if len(login) > LOGIN_MAX:
        raise errors.InvalidInput("login", f"is longer than {LOGIN_MAX} characters")
    if not _LOGIN_RE.fullmatch(login):
        raise errors.InvalidInput(
            "login", "may contain only letters, digits and . _ @ + - (and must start with one)"
        )
    return login


def validate_pin(pin: str) -> str:
    """Check a new PIN (the message never contains the PIN itself)."""
    if not PIN_MIN <= len(pin) <= PIN_MAX:
        raise errors.InvalidInput("pin", f"must be {PIN_MIN} to {PIN_MAX} characters long")
    if not _PIN_RE.fullmatch(pin):
        raise errors.InvalidInput("pin", "may contain only printable ASCII characters, no spaces")
    return pin


def generate_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(GENERATED_PIN_DIGITS))


class PinHasher:
    """argon2id hashing and verification of PINs."""

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> PinHasher:
        return cls(
            argon2.PasswordHasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_kib,
                parallelism=settings.argon2_parallelism,
            )
        )

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher()
        self._decoy: str | None = None

    def hash(self, pin: str) -> str:
        return self._hasher.hash(pin)

    def verify(self, pin_hash: str, pin: str) -> bool:
        """True if ``pin`` matches; argon2 compares in constant time."""
        try:
            return bool(self._hasher.verify(pin_hash, pin))
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False

    def verify_decoy_ok(self, pin: str) -> bool:
        """Spend a verification's time when the login does not exist, so the time an
        answer takes does not tell whether it does; always False."""
        if self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_hex(16))
        self.verify(self._decoy, pin)
        return False
