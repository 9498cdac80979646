"""Client addresses as the limits count them."""

from __future__ import annotations

import ipaddress


def address_key(address: str | None) -> str | None:
    """What a client at ``address`` is counted under (failed logins, uploads): an IPv4
    address itself (also when written IPv4-mapped), the /64 of an IPv6 one, the block
    one subscriber is given (RFC 6177), so its addresses do not each get a fresh limit;
    anything else as it is."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
