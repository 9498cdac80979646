"""Calls: what a sender asked us to dial, and the states a call moves through.

PRODUCT.md section 3: ``queued`` -> ``dialing`` -> ``ringing`` -> ``connected`` ->
one final state (``completed``, ``failed``, ``expired``, ``canceled``). An attempt
that is not answered sends the call back to ``queued`` while attempts remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

MAX_RETRIES_RANGE = range(0, 11)  # 0-10, Plum's max_retries
RETRY_INTERVAL_RANGE_S = range(60, 172800 + 1)
DEFAULT_MAX_RETRIES = 0
DEFAULT_RETRY_INTERVAL_S = 600


class CallState(StrEnum):
    QUEUED = "queued"  # waiting for its next attempt time
    DIALING = "dialing"  # an attempt is leased and the INVITE (or sim dial) is out
    RINGING = "ringing"  # the far end is alerting
    CONNECTED = "connected"  # answered; the VoiceXML session runs
    COMPLETED = "completed"  # answered, and the session or either side ended it
    FAILED = "failed"  # every attempt went unanswered
    EXPIRED = "expired"  # no attempt could start before expiration
    CANCELED = "canceled"  # stopped by its sender or the admin

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {CallState.COMPLETED, CallState.FAILED, CallState.EXPIRED, CallState.CANCELED}
)

# Which state may follow which; the dialer and cancel paths check against this.
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.QUEUED: frozenset(
        {CallState.DIALING, CallState.EXPIRED, CallState.CANCELED, CallState.FAILED}
    ),
    CallState.DIALING: frozenset(
        {
            CallState.RINGING,
            CallState.CONNECTED,
            CallState.QUEUED,
            CallState.FAILED,
            CallState.EXPIRED,
            CallState.CANCELED,
        }
    ),
    CallState.RINGING: frozenset(
        {
            CallState.CONNECTED,
            CallState.QUEUED,
            CallState.FAILED,
            CallState.EXPIRED,
            CallState.CANCELED,
        }
    ),
    CallState.CONNECTED: frozenset({CallState.COMPLETED}),
    CallState.COMPLETED: frozenset(),
    CallState.FAILED: frozenset(),
    CallState.EXPIRED: frozenset(),
    CallState.CANCELED: frozenset(),
}


def can_move(current: CallState, target: CallState) -> bool:
    return target in TRANSITIONS[current]


class Outcome(StrEnum):
    """How one attempt ended at the far end (PRODUCT.md sections 3 and 4)."""

    ANSWER = "answer"  # someone (or something) picked up
    BUSY = "busy"  # SIP 486/600
    NOANSWER = "noanswer"  # SIP 408/480 or the ring timeout
    REJECTED = "rejected"  # SIP 603
    UNREACHABLE = "unreachable"  # any other failure to set the call up

    @property
    def answered(self) -> bool:
        return self is Outcome.ANSWER


class CalleeType(StrEnum):
    """Who answered (for answered calls; ``unknown`` when the driver cannot tell)."""

    VOICE = "voice"
    ANSWERINGMACHINE = "answeringmachine"
    FAX = "fax"
    UNKNOWN = "unknown"


class FinalResult(StrEnum):
    """The ``result`` posted to result_url: the call's final state."""

    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class CallSettings:
    """What applies to every attempt of a call (for a campaign: to all its calls)."""

    start_url: str
    result_url: str | None
    max_retries: int
    retry_interval_s: int
    scheduled_at: datetime  # when the first attempt may start
    expires_at: datetime | None  # None: never

    @property
    def max_attempts(self) -> int:
        return 1 + self.max_retries


class NewCall(NamedTuple):
    """One call to queue: the destination and the sender's strings for it.

    A tuple, not a dataclass: a million-line phone_list makes a million of these, and
    the bulk insert hands them to the driver as they are (``store.queries.calls``).
    """

    phone_number: str  # E.164 digits
    ani: str | None = None
    postd: str | None = None
    message_reference: str | None = None
    call_parameters: str | None = None
    line: int | None = None  # its line in an uploaded phone_list


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    sender_id: int
    campaign_id: int
    campaign_name: str
    phone_number: str
    ani: str | None
    postd: str | None
    message_reference: str | None
    call_parameters: str | None
    line: int | None
    settings: CallSettings
    state: CallState
    attempts: int
    next_attempt_at: datetime | None
    queued_at: datetime
    updated_at: datetime
    # Filled in by the dialer:
    callee_type: str | None = None  # the result's callee_type (see FinalResult)
    first_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None  # seconds connected
    cancel_requested: bool = False


def after_unanswered(
    settings: CallSettings, attempts_made: int, now: datetime
) -> tuple[CallState, datetime | None]:
    """Where a call goes when an attempt was not answered: back to ``queued`` for
    ``retry_interval`` while attempts remain and the next one can start before the
    expiration; else ``failed`` (attempts used up) or ``expired`` (PRODUCT.md section 3)."""
    if attempts_made >= settings.max_attempts:
        return CallState.FAILED, None
    next_at = now + timedelta(seconds=settings.retry_interval_s)
    if settings.expires_at is not None and next_at >= settings.expires_at:
        return CallState.EXPIRED, None
    return CallState.QUEUED, next_at
