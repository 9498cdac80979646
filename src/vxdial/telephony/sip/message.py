"""SIP messages (RFC 3261 section 7): parsing a datagram, serialising one.

A message is a start line, headers in order (a name may repeat) and a body. Header
names are compared case-insensitively and compact forms (RFC 3261 section 7.3.3: "v"
for Via, "i" for Call-ID, ...) are read as their long names; we always write long
names. ``Content-Length`` is computed on serialisation, never trusted for writing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

__all__ = [
    "Headers",
    "NameAddr",
    "ParseError",
    "Request",
    "Response",
    "Via",
    "new_branch",
    "new_tag",
    "parse",
    "serialise",
    "split_values",
]

BRANCH_COOKIE = "z9hG4bK"  # RFC 3261 section 8.1.1.7: branches that start so are unique

# RFC 3261 section 7.3.3, plus the compact forms of RFC 3515 (REFER) and RFC 6665.
COMPACT_FORMS = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "r": "Refer-To",
    "b": "Referred-By",
    "o": "Event",
    "u": "Allow-Events",
    "x": "Session-Expires",
}
# How we spell the headers we read and write (any spelling is accepted on input).
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept",
        "Allow",
        "Authorization",
        "Call-ID",
        "Contact",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Event",
        "Expires",
        "From",
        "Max-Forwards",
        "P-Asserted-Identity",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Reason",
        "Record-Route",
        "Refer-To",
        "Referred-By",
        "Route",
        "Server",
        "Subscription-State",
        "Supported",
        "To",
        "User-Agent",
        "Via",
        "WWW-Authenticate",
    )
}


class ParseError(ValueError):
    """The datagram is not a SIP message we can read."""


def canonical_name(name: str) -> str:
    name = name.strip()
    lowered = name.lower()
    if lowered in COMPACT_FORMS:
        return COMPACT_FORMS[lowered]
    return _CANONICAL.get(lowered, name)


class Headers:
    """Headers in order; names compare case-insensitively (compact forms included)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = [(canonical_name(n), v) for n, v in (items or [])]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        wanted = canonical_name(name).lower()
        for key, value in self._items:
            if key.lower() == wanted:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, a header line holding a comma-separated list
        (Via, Route, Record-Route, ...) giving one value per element."""
        wanted = canonical_name(name).lower()
        values: list[str] = []
        for key, value in self._items:
            if key.lower() == wanted:
                values.extend(split_values(value))
        return values

    def get_all_raw(self, name: str) -> list[str]:
        """Every value of ``name``, one per header line, unsplit (for values that hold
        commas of their own: ``WWW-Authenticate``)."""
        wanted = canonical_name(name).lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), value))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` with one value, where the first one was (or at the end)."""
        wanted = canonical_name(name).lower()
        for index, (key, _) in enumerate(self._items):
            if key.lower() == wanted:
                self._items[index] = (canonical_name(name), value)
                self._items = [
                    item
                    for i, item in enumerate(self._items)
                    if i <= index or item[0].lower() != wanted
                ]
                return
        self.add(name, value)

    def remove(self, name: str) -> None:
        wanted = canonical_name(name).lower()
        self._items = [item for item in self._items if item[0].lower() != wanted]

    def copy(self) -> Headers:
        copied = Headers()
        copied._items = list(self._items)
        return copied

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


class _Dialogue:
    """What requests and responses both tell from their headers."""

    __slots__ = ()
    headers: Headers

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")


@dataclass(eq=True, slots=True)
class Request(_Dialogue):
    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""


@dataclass(eq=True, slots=True)
class Response(_Dialogue):
    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""


Message = Request | Response

_REQUEST_LINE = re.compile(r"^([A-Za-z]+) (\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3}) ?(.*)$")


def parse(data: bytes) -> Message:
    """One SIP message from a datagram; raises ``ParseError``.

    The body is cut to ``Content-Length`` when the datagram holds more (RFC 3261
    section 18.3), and a datagram shorter than ``Content-Length`` is refused.
    """
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("headers are not UTF-8") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # RFC 3261 section 7.5: keep-alive CRLFs before a message
    if not lines:
        raise ParseError("empty message")
    start, *header_lines = lines
    headers = Headers()
    for line in header_lines:
        if not line:
            continue
        if line[0] in " \t":  # folded: a continuation of the previous header
            items = headers._items
            if not items:
                raise ParseError("continuation line before any header")
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ParseError(f"malformed header line {line!r}")
        headers.add(name, value.strip())
    length_text = headers.get("Content-Length")
    if length_text is not None:
        try:
            length = int(length_text)
        except ValueError:
            raise ParseError("Content-Length is not a number") from None
        if length < 0 or length > len(body):
            raise ParseError("body shorter than Content-Length")
        body = body[:length]
    if match := _STATUS_LINE.match(start):
        return Response(int(match[1]), match[2], headers, body)
    if match := _REQUEST_LINE.match(start):
        return Request(match[1].upper(), match[2], headers, body)
    raise ParseError(f"not a SIP start line: {start[:80]!r}")


def serialise(message: Message) -> bytes:
    """The message as sent, ``Content-Length`` set from the body."""
    if isinstance(message, Request):
        start = f"{message.method} {message.uri} SIP/2.0"
    else:
        start = f"SIP/2.0 {message.status} {message.reason}"
    lines = [start]
    lines.extend(
        f"{name}: {value}" for name, value in message.headers.items() if name != "Content-Length"
    )
    lines.append(f"Content-Length: {len(message.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + message.body


def parse_cseq(value: str) -> tuple[int, str]:
    number, _, method = value.strip().partition(" ")
    try:
        return int(number), method.strip().upper()
    except ValueError:
        return 0, method.strip().upper()


def split_values(value: str) -> list[str]:
    """Split a header value at the commas outside quotes and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    angle = 0
    escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            angle += 1
        elif not quoted and char == ">":
            angle = max(0, angle - 1)
        elif char == "," and not quoted and angle == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    tail = "".join(current).strip()
    if tail or parts:
        parts.append(tail)
    return [p for p in parts if p]


def parse_params(text: str) -> dict[str, str]:
    """``;a=b;c`` -> {"a": "b", "c": ""} (names lowercased)."""
    params: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, _, value = part.partition("=")
        params[name.strip().lower()] = value.strip().strip('"')
    return params


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From, To, Contact, Route or Record-Route value: ``"Name" <uri>;params``."""

    uri: str
    display: str = ""
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str) -> NameAddr:
        value = value.strip()
        if "<" in value:
            display, _, rest = value.partition("<")
            uri, _, tail = rest.partition(">")
            params = parse_params(tail)
        else:  # addr-spec: the parameters after the URI belong to the header
            uri, _, tail = value.partition(";")
            display = ""
            params = parse_params(tail)
        return cls(uri.strip(), display.strip().strip('"'), tuple(params.items()))

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def tag(self) -> str | None:
        return self.param("tag")

    def with_tag(self, tag: str) -> NameAddr:
        params = (*((k, v) for k, v in self.params if k != "tag"), ("tag", tag))
        return NameAddr(self.uri, self.display, params)

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params)
        return f"{display}<{self.uri}>{params}"


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport``."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str]

    @classmethod
    def parse(cls, value: str) -> Via:
        protocol, _, rest = value.strip().partition(" ")
        sent_by, _, tail = rest.strip().partition(";")
        host, port = split_host_port(sent_by.strip())
        return cls(protocol.rsplit("/", 1)[-1].upper(), host, port, parse_params(tail))

    @property
    def branch(self) -> str:
        return self.params.get("branch", "")


def split_host_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):  # IPv6 reference
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.partition(":")
    try:
        return host, int(port_text) if port_text else None
    except ValueError:
        return host, None


def uri_host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """The host and port a SIP URI points at (``sip:user@host:port;params``)."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    hostport = rest.rsplit("@", 1)[-1]
    host, port = split_host_port(hostport)
    return host, port or default_port


def new_branch() -> str:
    return BRANCH_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)
