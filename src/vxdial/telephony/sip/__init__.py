"""A SIP user agent client (RFC 3261) on asyncio UDP: messages, transactions and their
timers, digest authentication, SDP offer/answer, outgoing call dialogs.

Written here rather than taken from a library: the asyncio SIP libraries on PyPI
(aiosip, aiosipua, sippy's B2BUA core) are unmaintained, thread-based, or not packaged
in Debian, and a UAC that only calls out through one trunk needs a small part of
RFC 3261 (docs/SIP.md says which).
"""

from vxdial.telephony.sip.digest import Challenge, Credentials, DigestError
from vxdial.telephony.sip.message import Headers, NameAddr, ParseError, Request, Response
from vxdial.telephony.sip.transaction import Endpoint, Timers, TransactionTimeout, TransportError
from vxdial.telephony.sip.ua import Call, Identity, UserAgent

__all__ = [
    "Call",
    "Challenge",
    "Credentials",
    "DigestError",
    "Endpoint",
    "Headers",
    "Identity",
    "NameAddr",
    "ParseError",
    "Request",
    "Response",
    "Timers",
    "TransactionTimeout",
    "TransportError",
    "UserAgent",
]
