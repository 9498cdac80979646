"""Telephony: the ``Driver`` interface (base.py) and its carriers, ``sim`` and (later) ``sip``.

Nothing above this package knows SIP exists: callers dial a ``DialRequest`` and get a
``DialResult``, whose ``leg`` (for an answered call) plays prompts, collects keys,
records, transfers and hangs up.
"""

from vxdial.telephony.base import (
    CallLeg,
    Collected,
    DialRequest,
    DialResult,
    Driver,
    Hangup,
    Prompt,
    Recording,
    TransferResult,
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
    "Recording",
    "SimDriver",
    "SimLeg",
    "TransferResult",
]
