"""Telephony: the ``Driver`` interface (base.py) and its carriers, ``sim`` and (later) ``sip``.

Nothing above this package knows SIP exists: callers dial a ``DialRequest`` and get a
``DialResult``, whose ``leg`` (for an answered call) plays prompts, collects keys and
hangs up.
"""

from vxdial.telephony.base import (
    CallLeg,
    Collected,
    DialRequest,
    DialResult,
    Driver,
    Hangup,
    Prompt,
)
from vxdial.telephony.sim import SimDriver, SimLeg

__all__ = [
    "CallLeg",
    "Collected",
    "DialRequest",
    "DialResult",
    "Driver",
    "Hangup",
    "Prompt",
    "SimDriver",
    "SimLeg",
]
