"""Senders and their campaigns.

Every sender has a campaign named ``default`` where single calls (queuecall) go;
each phone_list upload (queuecalls) creates a campaign whose name is unique for
that sender.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vxdial.domain import calls

DEFAULT_CAMPAIGN_NAME = "default"
ADMIN_LOGIN = "admin"


# The default campaign holds every single call (queuecall, POST /api/v1/calls); canceling
# it would cancel each later one at once while intake still answered "queued".
DEFAULT_NOT_CANCELABLE = (
    "the default campaign holds your single calls and cannot be canceled; "
    "pause it to stop dialing them, or cancel its calls one by one"
)


def may_cancel(campaign: Campaign) -> bool:
    """Whether ``campaign`` may be canceled (``default`` may only be paused)."""
    return campaign.name != DEFAULT_CAMPAIGN_NAME


class Role(StrEnum):
    SENDER = "sender"
    ADMIN = "admin"


class CampaignState(StrEnum):
    LOADING = "loading"  # its phone_list is being stored; not dialed, not listed
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class Sender:
    id: int
    login: str
    role: Role
    enabled: bool
    lines: int | None  # concurrent calls allowed; None: only the system's total applies
    result_secret: str  # signs result_url deliveries (HMAC-SHA256)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    sender_id: int
    name: str
    state: CampaignState
    settings: calls.CallSettings | None  # None for ``default``: each call has its own
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """A campaign with its calls counted by state."""

    campaign: Campaign
    counts: dict[calls.CallState, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())
