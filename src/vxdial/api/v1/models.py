"""The JSON shapes of API v1 (they also make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vxdial.domain import calls, campaigns, errors

T = TypeVar("T")


class Problem(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    errors: list[Problem]


class JsonInput(BaseModel):
    """A JSON request body. JSON may spell a lone surrogate ("\\ud800"), which is no
    Unicode text and cannot be stored or sent on: every text field refuses it (422
    naming the field), before anything else sees it."""

    @field_validator("*", mode="after")
    @classmethod
    def _unicode_text(cls, value: object) -> object:
        if isinstance(value, str) and errors.has_surrogates(value):
            raise ValueError(LONE_SURROGATE)
        return value


LONE_SURROGATE = "must be Unicode text: a lone surrogate (\\ud800-\\udfff) is not allowed"


class CallCreate(JsonInput):
    """A call to queue: the fields of Plum's queuecall, login and PIN excepted."""

    model_config = ConfigDict(extra="forbid")

    phone_number: str = Field(examples=["15551234567", "tel:+1-555-123-4567;ani=15557654321"])
    start_url: str = Field(examples=["https://app.example/start.vxml"])
    result_url: str | None = None
    message_reference: str | None = None
    call_parameters: str | None = None
    max_retries: int | None = Field(default=None, description="0-10")
    retry_interval: int | None = Field(default=None, description="seconds, 60-172800")
    scheduled_timestamp: int | None = Field(default=None, description="0 or UNIX time")
    expiration_timestamp: int | None = Field(default=None, description="0 or UNIX time")
    scheduled_time: str | None = Field(default=None, examples=["tomorrow 9am"])
    expiration_time: str | None = Field(default=None, examples=["+3 days"])
    caller_id: str | None = Field(
        default=None,
        description="caller ID when phone_number has no ;ani= (national numbers are read "
        "in the called number's country)",
        examples=["8009957586"],
    )


class Settings(BaseModel):
    start_url: str
    result_url: str | None
    max_retries: int
    retry_interval: int
    scheduled_at: datetime
    expires_at: datetime | None

    @classmethod
    def of(cls, s: calls.CallSettings) -> Settings:
        return cls(
            start_url=s.start_url,
            result_url=s.result_url,
            max_retries=s.max_retries,
            retry_interval=s.retry_interval_s,
            scheduled_at=s.scheduled_at,
            expires_at=s.expires_at,
        )


class Call(BaseModel):
    id: int
    campaign_id: int
    campaign_name: str
    phone_number: str
    ani: str | None
    postd: str | None
    message_reference: str | None
    call_parameters: str | None
    line: int | None = Field(description="its line in the uploaded phone_list")
    state: calls.CallState
    attempts: int
    next_attempt_at: datetime | None
    queued_at: datetime
    updated_at: datetime
    settings: Settings
    callee_type: str | None = Field(
        description="voice|answeringmachine|fax|unknown once answered; else the last "
        "attempt's busy|noanswer|rejected|unreachable"
    )
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    ended_at: datetime | None
    duration: int | None = Field(description="seconds connected, once final")
    cancel_requested: bool

    @classmethod
    def of(cls, c: calls.Call) -> Call:
        return cls(
            id=c.id,
            campaign_id=c.campaign_id,
            campaign_name=c.campaign_name,
            phone_number=c.phone_number,
            ani=c.ani,
            postd=c.postd,
            message_reference=c.message_reference,
            call_parameters=c.call_parameters,
            line=c.line,
            state=c.state,
            attempts=c.attempts,
            next_attempt_at=c.next_attempt_at,
            queued_at=c.queued_at,
            updated_at=c.updated_at,
            settings=Settings.of(c.settings),
            callee_type=c.callee_type,
            first_attempt_at=c.first_attempt_at,
            last_attempt_at=c.last_attempt_at,
            ended_at=c.ended_at,
            duration=c.duration_s,
            cancel_requested=c.cancel_requested,
        )


class Campaign(BaseModel):
    id: int
    name: str
    state: campaigns.CampaignState
    created_at: datetime
    settings: Settings | None = Field(description="null for default: each call has its own")
    total: int
    counts: dict[calls.CallState, int]
    lines_rejected: int | None = Field(default=None, description="set in the answer to an upload")

    @classmethod
    def of(cls, s: campaigns.CampaignSummary, lines_rejected: int | None = None) -> Campaign:
        c = s.campaign
        return cls(
            id=c.id,
            name=c.name,
            state=c.state,
            created_at=c.created_at,
            settings=None if c.settings is None else Settings.of(c.settings),
            total=s.total,
            counts=s.counts,
            lines_rejected=lines_rejected,
        )


class RejectedLine(BaseModel):
    line: int
    reason: str


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_after: int | None = Field(description="pass as ?after= for the next page; null at the end")


class Me(BaseModel):
    login: str
    role: campaigns.Role
    enabled: bool
    lines: int | None
    result_secret: str = Field(description="HMAC-SHA256 key of X-Vxdial-Signature")
    created_at: datetime

    @classmethod
    def of(cls, s: campaigns.Sender) -> Me:
        return cls(
            login=s.login,
            role=s.role,
            enabled=s.enabled,
            lines=s.lines,
            result_secret=s.result_secret,
            created_at=s.created_at,
        )


class Event(BaseModel):
    id: int
    at: datetime
    attempt: int | None
    kind: str = Field(
        description="dialing, ringing, connected, prompt, dtmf, noinput, postd, disconnected, "
        "retry, completed, failed, expired, canceled, cancel_requested, lease_lost, ..."
    )
    detail: str | None


class Attempt(BaseModel):
    attempt: int
    worker: str
    started_at: datetime
    ringing_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    outcome: str | None = Field(description="answer|busy|noanswer|rejected|unreachable|lost")
    cause: str | None = Field(description="what the carrier said, e.g. 'SIP 486 Busy Here'")
    callee_type: str | None


class DeliveryTry(BaseModel):
    at: datetime
    status: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    delivery_id: str = Field(description="the X-Vxdial-Delivery header of every attempt")
    url: str
    state: str = Field(description="pending | delivered | failed (given up after 24 hours)")
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    body: str
    tries: list[DeliveryTry]


class Status(BaseModel):
    suspended: bool
    lines: int = Field(description="the system's total lines ([dialer] lines)")
    lines_in_use: int
    lines_in_use_by_sender: dict[str, int]
