"""Which addresses vxdial's outbound HTTP may reach: one egress policy for every
connection (URL probes, VoiceXML documents, scripts, grammars, audio, ``<data>``,
submits, result_url), checked on the address actually connected to, at every redirect
hop.

start_url and result_url are chosen by senders, and the documents they serve choose
more URLs, so without a policy any sender could make the server request cloud metadata
(169.254.169.254, AWS's fd00:ec2::254, Alibaba's 100.100.100.200) or other internal
services, and read the answer back through a ``<data>`` then a ``<submit>``.
Self-hosted customers often run their application on the same host or LAN, so loopback
and private ranges are allowed by default; link-local, unspecified and the metadata
addresses are not. ``[http] deny_networks`` replaces the list.

Where it is enforced: the socket factory of the one ``aiohttp.TCPConnector``
(``connector()``) refuses to open a socket towards a denied address. aiohttp hands it
the address it is about to connect to, after resolution, for IP literals too (which
aiohttp never resolves), after yarl has normalised spellings such as
``http://１６９．２５４．１６９．２５４/`` or ``169。254。169。254`` to the literal, and for
every hop of a redirect, so no URL-level check can be bypassed by how the URL is
written. IPv4-mapped IPv6 addresses (``::ffff:169.254.169.254``) are judged as the IPv4
address they carry. The resolver filters too, so a name that resolves only to denied
addresses fails with a clear reason before any connection is tried.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from vxdial.domain import errors

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressPolicy:
    def __init__(self, denied: Sequence[str]) -> None:
        try:
            self.denied: tuple[Network, ...] = tuple(
                ipaddress.ip_network(n, strict=False) for n in denied
            )
        except ValueError as exc:
            raise errors.InvalidInput("http.deny_networks", str(exc)) from None

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return True  # a name: judged once resolved
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return not any(ip in network for network in self.denied)

    def open_socket(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's socket factory: a socket for ``addr_info``, unless its address is
        denied (``OSError(EACCES)``, which aiohttp reports as a failed connection)."""
        family, type_, proto, _, address = addr_info
        host = str(address[0])
        if not self.allows(host):
            raise OSError(
                errno.EACCES,
                f"{host} is not an address vxdial may connect to ([http] deny_networks)",
            )
        return socket.socket(family=family, type=type_, proto=proto)

    def connector(self, **options: Any) -> aiohttp.TCPConnector:
        """The connector of every outbound HTTP session: this policy on each socket."""
        return aiohttp.TCPConnector(
            resolver=self.resolver(), socket_factory=self.open_socket, **options
        )

    def check_url(self, url: str) -> None:
        """Raise ``ValueError`` if ``url`` names a denied IP address literally."""
        host = urlsplit(url).hostname or ""
        if not self.allows(host):
            raise ValueError(f"{host} is not an address vxdial may connect to")

    def resolver(self) -> AbstractResolver:
        return _PolicyResolver(self)


class _PolicyResolver(AbstractResolver):
    def __init__(self, policy: EgressPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [entry for entry in found if self._policy.allows(entry["host"])]
        if not allowed:
            raise OSError(f"{host} resolves only to addresses vxdial may not connect to")
        return allowed

    async def close(self) -> None:
        await self._inner.close()
