"""The VoiceXML 2.1 interpreter (DTMF), speaking only to a ``Channel`` it defines.

``run_session`` runs one application over one call and says how it ended;
``run_isolated`` does the same on a thread of its own, so that no document can stall the
caller's event loop (the dialer's way). Documents come through a ``Fetcher``
(``HttpFetcher`` for HTTP). ``testing`` ships a scripted caller and an
in-memory fetcher for tests and dry runs. The other modules are private.
"""

from vxdial.voicexml.channel import Channel
from vxdial.voicexml.fetch import (
    CallFetcher,
    Document,
    Fetcher,
    FetchError,
    FetchRequest,
    HttpFetcher,
    Upload,
    for_call,
)
from vxdial.voicexml.interpreter import run_session
from vxdial.voicexml.isolation import SessionThreads, run_isolated
from vxdial.voicexml.session import EndReason, Limits, SessionEnd
from vxdial.voicexml.start import StartFetcher

__all__ = [
    "CallFetcher",
    "Channel",
    "Document",
    "EndReason",
    "FetchError",
    "FetchRequest",
    "Fetcher",
    "HttpFetcher",
    "Limits",
    "SessionEnd",
    "SessionThreads",
    "StartFetcher",
    "Upload",
    "for_call",
    "run_isolated",
    "run_session",
]
