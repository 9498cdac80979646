"""The result of a call as result_url receives it (PRODUCT.md section 3).

A form-encoded body fixed when the call becomes final and stored in the outbox with
it, so every delivery attempt posts the same bytes (and the same signature input).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from vxdial.domain import calls
from vxdial.domain.clock import to_epoch_s

FIELDS = (
    "call_id",
    "phone_number",
    "message_reference",
    "call_parameters",
    "campaign_id",
    "campaign_name",
    "result",
    "callee_type",
    "attempts",
    "queued_timestamp",
    "start_timestamp",
    "last_attempt_timestamp",
    "end_timestamp",
    "duration",
)


def result_body(
    call: calls.Call,
    *,
    result: calls.FinalResult,
    callee_type: str | None,
    attempts: int,
    first_attempt_at: datetime | None,
    last_attempt_at: datetime | None,
    ended_at: datetime,
    duration_s: int,
) -> str:
    """The form-encoded result; timestamps are UNIX seconds, 0 when there is none."""

    def seconds(when: datetime | None) -> str:
        return "0" if when is None else str(to_epoch_s(when))

    return urlencode(
        {
            "call_id": str(call.id),
            "phone_number": call.phone_number,
            "message_reference": call.message_reference or "",
            "call_parameters": call.call_parameters or "",
            "campaign_id": str(call.campaign_id),
            "campaign_name": call.campaign_name,
            "result": result.value,
            "callee_type": callee_type or "",
            "attempts": str(attempts),
            "queued_timestamp": seconds(call.queued_at),
            "start_timestamp": seconds(first_attempt_at),
            "last_attempt_timestamp": seconds(last_attempt_at),
            "end_timestamp": seconds(ended_at),
            "duration": str(duration_s),
        }
    )
