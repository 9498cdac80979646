"""Which addresses vxdial's outbound HTTP may reach (URL probes, documents, result_url).

start_url and result_url are chosen by senders, so without a policy any sender could
make the server request cloud metadata (169.254.169.254) or other internal services.
Self-hosted customers often run their application on the same host or LAN, so loopback
and private ranges are allowed by default; link-local and unspecified addresses are
not. ``[http] deny_networks`` replaces the list. The check runs on the *resolved*
addresses (a resolver wrapped around aiohttp's), so a name that resolves to a denied
address is refused too, and on IP literals, which aiohttp does not resolve.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

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
