"""HTTP digest authentication as SIP uses it (RFC 3261 section 22.4, RFC 2617, RFC 7616
with RFC 8760's SHA-256 for SIP).

A trunk challenges an INVITE with 401 ``WWW-Authenticate`` or 407
``Proxy-Authenticate``; we answer with ``Authorization`` / ``Proxy-Authorization``.
MD5 and SHA-256 (and their ``-sess`` variants) are computed; ``qop=auth`` is used when
offered, and the RFC 2069 form (no qop) when it is not. ``auth-int`` is not offered by
the trunks we know and is not implemented: a challenge that offers only it is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

__all__ = ["Challenge", "Credentials", "DigestError", "authorization", "choose"]

# Strongest first: when a trunk offers several challenges (RFC 8760 section 2.4), we
# answer the first of these it offers.
ALGORITHMS = ("SHA-256", "SHA-256-sess", "MD5", "MD5-sess")
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class DigestError(ValueError):
    """A challenge we cannot answer (unknown scheme, algorithm or qop)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    realm: str | None = None  # None: answer whatever realm the trunk names


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()  # offered: "auth", "auth-int"
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` value; raises ``DigestError``."""
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            raise DigestError(f"scheme {scheme!r} is not Digest")
        params = parse_auth_params(rest)
        if "realm" not in params or "nonce" not in params:
            raise DigestError("challenge without realm or nonce")
        algorithm = params.get("algorithm", "MD5")
        canonical = next((a for a in ALGORITHMS if a.lower() == algorithm.lower()), None)
        if canonical is None:
            raise DigestError(f"algorithm {algorithm!r} is not supported")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(
            realm=params["realm"],
            nonce=params["nonce"],
            algorithm=canonical,
            qop=qop,
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )


def parse_auth_params(text: str) -> dict[str, str]:
    """``a="x, y", b=z`` -> {"a": "x, y", "b": "z"} (names lowercased)."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        start = i
        while i < n and text[i] not in "=,":
            i += 1
        name = text[start:i].strip().lower()
        if i >= n or text[i] != "=":
            if name:
                params[name] = ""
            continue
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            value_chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value_chars.append(text[i])
                i += 1
            i += 1  # the closing quote
            value = "".join(value_chars)
        else:
            start = i
            while i < n and text[i] != ",":
                i += 1
            value = text[start:i].strip()
        if name:
            params[name] = value
    return params


def choose(values: list[str], credentials: Credentials) -> Challenge:
    """The challenge to answer among ``values`` (one per header): the strongest
    algorithm whose realm is ours; raises ``DigestError`` when none fits."""
    challenges: list[Challenge] = []
    reasons: list[str] = []
    for value in values:
        try:
            challenge = Challenge.parse(value)
        except DigestError as exc:
            reasons.append(str(exc))
            continue
        if credentials.realm is not None and challenge.realm != credentials.realm:
            reasons.append(f"realm {challenge.realm!r} is not {credentials.realm!r}")
            continue
        if challenge.qop and "auth" not in challenge.qop:
            reasons.append(f"qop {','.join(challenge.qop)} is not supported")
            continue
        challenges.append(challenge)
    if not challenges:
        raise DigestError("; ".join(reasons) or "no challenge")
    return min(challenges, key=lambda c: ALGORITHMS.index(c.algorithm))


def authorization(
    challenge: Challenge,
    credentials: Credentials,
    *,
    method: str,
    uri: str,
    nonce_count: int = 1,
    cnonce: str | None = None,
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``."""
    base = challenge.algorithm.removesuffix("-sess")
    digest = _HASHES[base]

    def h(text: str) -> str:
        return digest(text.encode()).hexdigest()

    qop = "auth" if challenge.qop else None
    cnonce = cnonce or secrets.token_hex(8)
    nc = f"{nonce_count:08x}"
    ha1 = h(f"{credentials.username}:{challenge.realm}:{credentials.password}")
    if challenge.algorithm.endswith("-sess"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    if qop:
        response = h(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    else:
        response = h(f"{ha1}:{challenge.nonce}:{ha2}")
    parts = [
        f'username="{credentials.username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    if qop:
        parts.extend([f"qop={qop}", f"nc={nc}", f'cnonce="{cnonce}"'])
    return "Digest " + ", ".join(parts)
