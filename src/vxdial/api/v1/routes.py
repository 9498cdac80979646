"""API v1 routes and the rendering of errors as JSON with proper status codes."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException

from vxdial import httpedge, intake
from vxdial.api.forms import read_form
from vxdial.api.v1 import models
from vxdial.domain import calls, campaigns, errors
from vxdial.services import Services

router = APIRouter(prefix="/api/v1", tags=["v1"])
basic = HTTPBasic(auto_error=False, realm="vxdial")
MAX_PAGE = 1000
CALL_BODY_MAX_BYTES = 64 * 1024  # a call's fields are a few hundred bytes

# What each error status means; every operation documents the ones it can answer
# (tests/acceptance/test_api_edge.py provokes them against the served /openapi.json).
_ERRORS: dict[int, str] = {
    401: "No login and PIN, or a wrong one (WWW-Authenticate names the realm)",
    403: "The account is disabled or of the other role, or a page of another site had a "
    "browser send the request",
    404: "No such call or campaign of yours",
    408: "The request body came too slowly ([server] body_timeout_s, min_body_bytes_per_s)",
    409: "Not possible in the current state, or an Idempotency-Key clash",
    413: "The body is larger than allowed",
    415: "A body of a type this operation does not take",
    422: "A field is wrong (each problem names its field)",
    429: "Too many failed logins from here (Retry-After says for how long)",
    503: "Try again shortly (the database, or every upload slot is taken)",
}
# Every operation authenticates (401, 403, 429) and reads the database (503).
_EVERY = (401, 403, 429, 503)
# A state-changing operation may be refused by the browser guard (403, 415; guard.py).
_CHANGING = (*_EVERY, 415)


def _documented(*statuses: int, changing: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of an operation: its own error statuses and those of every one."""
    every = _CHANGING if changing else _EVERY
    return {
        status: {"model": models.ErrorBody, "description": _ERRORS[status]}
        for status in sorted({*every, *statuses})
    }


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


def account_of(role: campaigns.Role) -> Callable[..., Awaitable[campaigns.Sender]]:
    """A dependency: the account of the request's HTTP Basic login:PIN, of ``role``."""

    async def current(
        request: Request,
        svc: ServicesDep,
        credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
    ) -> campaigns.Sender:
        if credentials is None:
            raise errors.NotAuthorized("send your login and PIN with HTTP Basic authentication")
        address = request.client.host if request.client else None
        return await svc.authenticator.authenticate(
            credentials.username, credentials.password, address, role=role
        )

    return current


SenderDep = Annotated[campaigns.Sender, Depends(account_of(campaigns.Role.SENDER))]
MAX_ID = 2**63 - 1  # ids are 64-bit; larger numbers are refused, not sent to the database
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")]
After = Annotated[int, Query(ge=0, le=MAX_ID, description="the next_after of the previous page")]
CallId = Annotated[int, Path(ge=1, le=MAX_ID)]
CampaignId = Annotated[int, Path(ge=1, le=MAX_ID)]
CampaignFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Send the same key to retry safely: the first request's result is returned",
    ),
]


@router.get("/me", response_model=models.Me, responses=_documented())
async def me(sender: SenderDep) -> models.Me:
    """Your account, its lines and the secret that signs result_url posts."""
    return models.Me.of(sender)


@router.post("/me/rotate-secret", response_model=models.Me, responses=_documented(changing=True))
async def rotate_secret(sender: SenderDep, svc: ServicesDep) -> models.Me:
    """Replace your result signing secret; the answer shows the new one.

    Every result_url post signed from now on uses it.
    """
    rotated = await svc.store.run(svc.accounts.rotate_secret, sender.login)
    return models.Me.of(rotated)


@router.post(
    "/calls",
    status_code=201,
    response_model=models.Call,
    responses=_documented(408, 409, 413, 422, changing=True),
    max_body_size=CALL_BODY_MAX_BYTES,
)
async def create_call(
    body: models.CallCreate,
    sender: SenderDep,
    svc: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyHeader = None,
) -> models.Call:
    """Queue one call in your ``default`` campaign (the JSON twin of queuecall.php)."""
    fields = {k: str(v) for k, v in body.model_dump().items() if v is not None}
    checked = intake.parse_call_request(fields, now=svc.clock.now(), zone=svc.settings.zone)
    key = None
    if idempotency_key:
        key = intake.IdempotencyKey.of(idempotency_key, "POST /api/v1/calls", fields)
    queued = await svc.intake.queue_call(sender, checked, idempotency=key)
    call = await svc.store.run(svc.store.call, sender.id, queued.call_id)
    response.headers["Location"] = f"/api/v1/calls/{call.id}"
    if queued.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return models.Call.of(call)


@router.get("/calls", response_model=models.Page[models.Call], responses=_documented(422))
async def list_calls(
    sender: SenderDep,
    svc: ServicesDep,
    campaign_id: CampaignFilter = None,
    state: calls.CallState | None = None,
    after: After = 0,
    limit: Limit = 100,
) -> models.Page[models.Call]:
    """Your calls, oldest first, a page at a time."""
    return await _call_page(svc, sender, campaign_id, state, after, limit)


@router.get("/calls/{call_id}", response_model=models.Call, responses=_documented(404, 422))
async def get_call(call_id: CallId, sender: SenderDep, svc: ServicesDep) -> models.Call:
    return models.Call.of(await svc.store.run(svc.store.call, sender.id, call_id))


@router.post(
    "/campaigns",
    status_code=201,
    response_model=models.Campaign,
    responses=_documented(408, 409, 413, 422, changing=True),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["campaign_name", "phone_list", "start_url"],
                        "properties": {
                            "campaign_name": {"type": "string", "maxLength": 64},
                            "phone_list": {"type": "string", "format": "binary"},
                            **{
                                name: {"type": "string"}
                                for name in (
                                    "start_url",
                                    "result_url",
                                    "message_reference",
                                    "call_parameters",
                                    "max_retries",
                                    "retry_interval",
                                    "scheduled_timestamp",
                                    "expiration_timestamp",
                                    "scheduled_time",
                                    "expiration_time",
                                    "caller_id",
                                )
                            },
                        },
                    }
                }
            },
        }
    },
)
async def create_campaign(
    request: Request,
    sender: SenderDep,
    svc: ServicesDep,
    response: Response,
    idempotency_key: IdempotencyHeader = None,
) -> models.Campaign | JSONResponse:
    """Upload a phone_list as a new campaign (the JSON twin of queuecalls.php).

    Lines that cannot be queued are listed at ``/campaigns/{id}/rejections``.
    """
    # Authenticated by its header, before the body is read: a slot of its sender's.
    with svc.intake.upload_slots.for_sender(sender.id):
        return await _upload_campaign(request, sender, svc, response, idempotency_key)


async def _upload_campaign(
    request: Request,
    sender: campaigns.Sender,
    svc: Services,
    response: Response,
    idempotency_key: str | None,
) -> models.Campaign | JSONResponse:
    form = await read_form(
        request, max_bytes=svc.settings.intake.max_upload_bytes, too_large_field="phone_list"
    )
    try:
        upload = form.files.get("phone_list")
        checked = intake.parse_campaign_request(
            form.fields,
            now=svc.clock.now(),
            zone=svc.settings.zone,
            has_phone_list=upload is not None,
        )
        assert upload is not None
        key = None
        if idempotency_key:
            digest = hashlib.sha256()
            upload.file.seek(0)
            while chunk := upload.file.read(1 << 20):
                digest.update(chunk)
            key = intake.IdempotencyKey.of(
                idempotency_key, "POST /api/v1/campaigns", form.fields, digest.hexdigest()
            )
        upload.file.seek(0)
        first_rejections = _FirstRejections()
        try:
            done = await svc.intake.queue_campaign(
                sender, checked, upload.file, idempotency=key, report=first_rejections
            )
        except intake.NoGoodLines as exc:
            return JSONResponse(
                {
                    "errors": [{"field": exc.field, "reason": exc.reason}],
                    "lines_rejected": exc.lines_rejected,
                    "rejected": [{"line": line, "reason": r} for line, r in first_rejections.lines],
                },
                status_code=422,
            )
    finally:
        await form.aclose()
    summary = await svc.store.run(svc.store.campaign, sender.id, done.campaign.id)
    response.headers["Location"] = f"/api/v1/campaigns/{done.campaign.id}"
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return models.Campaign.of(summary, lines_rejected=done.lines_rejected)


@router.get("/campaigns", response_model=models.Page[models.Campaign], responses=_documented(422))
async def list_campaigns(
    sender: SenderDep, svc: ServicesDep, after: After = 0, limit: Limit = 100
) -> models.Page[models.Campaign]:
    """Your campaigns (``default`` included), oldest first, with their calls counted by state."""
    found = await svc.store.run(svc.store.campaigns, sender.id, after_id=after, limit=limit)
    items = [models.Campaign.of(s) for s in found]
    return models.Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.get(
    "/campaigns/{campaign_id}",
    response_model=models.Campaign,
    responses=_documented(404, 422),
)
async def get_campaign(
    campaign_id: CampaignId, sender: SenderDep, svc: ServicesDep
) -> models.Campaign:
    summary = await svc.store.run(svc.store.campaign, sender.id, campaign_id)
    return models.Campaign.of(summary)


@router.get(
    "/campaigns/{campaign_id}/calls",
    response_model=models.Page[models.Call],
    responses=_documented(404, 422),
)
async def campaign_calls(
    campaign_id: CampaignId,
    sender: SenderDep,
    svc: ServicesDep,
    state: calls.CallState | None = None,
    after: After = 0,
    limit: Limit = 100,
) -> models.Page[models.Call]:
    """A campaign's calls, in phone_list order."""
    await svc.store.run(svc.store.campaign, sender.id, campaign_id)  # NotFound if not yours
    return await _call_page(svc, sender, campaign_id, state, after, limit)


@router.get(
    "/campaigns/{campaign_id}/rejections",
    response_model=models.Page[models.RejectedLine],
    responses=_documented(404, 422),
)
async def campaign_rejections(
    campaign_id: CampaignId,
    sender: SenderDep,
    svc: ServicesDep,
    after: After = 0,
    limit: Limit = 100,
) -> models.Page[models.RejectedLine]:
    """The phone_list lines that were not queued, with the reason; ``after`` is a line number."""
    await svc.store.run(svc.store.campaign, sender.id, campaign_id)
    found = await svc.store.run(
        svc.store.campaign_rejections, campaign_id, after_line=after, limit=limit
    )
    items = [models.RejectedLine(line=line, reason=reason) for line, reason in found]
    return models.Page(items=items, next_after=items[-1].line if len(items) == limit else None)


class _FirstRejections:
    """Keeps the first rejected lines of an upload, for a 422 answer when none is good.

    (A campaign that was created lists every rejected line at /rejections.)
    """

    LIMIT = 1000

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []

    def queued(self, new_calls: Sequence[calls.NewCall], call_ids: Sequence[int]) -> None:
        pass

    def rejected(self, rejections: Sequence[tuple[int, str]]) -> None:
        room = self.LIMIT - len(self.lines)
        if room > 0:
            self.lines.extend(rejections[:room])


async def _call_page(
    svc: Services,
    sender: campaigns.Sender,
    campaign_id: int | None,
    state: calls.CallState | None,
    after: int,
    limit: int,
) -> models.Page[models.Call]:
    found = await svc.store.run(
        svc.store.calls,
        sender.id,
        campaign_id=campaign_id,
        state=state,
        after_id=after,
        limit=limit,
    )
    items = [models.Call.of(c) for c in found]
    return models.Page(items=items, next_after=items[-1].id if len(items) == limit else None)


# -- steering and history -----------------------------------------------------------------


@router.delete(
    "/calls/{call_id}",
    response_model=models.Call,
    responses=_documented(404, 409, 422, changing=True),
)
async def cancel_call(
    call_id: CallId, sender: SenderDep, svc: ServicesDep, response: Response
) -> models.Call:
    """Cancel a call that is not final. A queued call is ``canceled`` at once (200); one
    being dialed or connected is hung up by its dialer within a second or two (202,
    ``cancel_requested``): unanswered it ends ``canceled``, answered ``completed``."""
    call = await svc.store.run(svc.store.cancel_call, sender.id, call_id, svc.clock.now())
    if not call.state.is_final:
        response.status_code = 202
    return models.Call.of(call)


@router.get(
    "/calls/{call_id}/events",
    response_model=models.Page[models.Event],
    responses=_documented(404, 422),
)
async def call_events(
    call_id: CallId, sender: SenderDep, svc: ServicesDep, after: After = 0, limit: Limit = 1000
) -> models.Page[models.Event]:
    """The call's history, oldest first: each attempt's dialing, ringing, connected, the
    prompts it heard and the keys it pressed (its transcript), and how it ended."""
    found = await svc.store.run(
        svc.store.call_events, sender.id, call_id, after_id=after, limit=limit
    )
    items = [
        models.Event(id=event_id, at=e.at, attempt=e.attempt, kind=e.kind, detail=e.detail)
        for event_id, e in found
    ]
    return models.Page(items=items, next_after=items[-1].id if len(items) == limit else None)


@router.get(
    "/calls/{call_id}/attempts",
    response_model=list[models.Attempt],
    responses=_documented(404, 422),
)
async def call_attempts(
    call_id: CallId, sender: SenderDep, svc: ServicesDep
) -> list[models.Attempt]:
    """Each attempt: who dialed it, when it rang and was answered, its outcome and cause."""
    found = await svc.store.run(svc.store.call_attempts, sender.id, call_id)
    return [models.Attempt.model_validate(a, from_attributes=True) for a in found]


@router.get(
    "/calls/{call_id}/deliveries",
    response_model=list[models.Delivery],
    responses=_documented(404, 422),
)
async def call_deliveries(
    call_id: CallId, sender: SenderDep, svc: ServicesDep
) -> list[models.Delivery]:
    """The call's result_url delivery (once final), with every attempt's status."""
    found = await svc.store.run(svc.store.call_deliveries, sender.id, call_id)
    return [
        models.Delivery(
            delivery_id=d.delivery_key,
            url=d.url,
            state=d.state,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at if d.state == "pending" else None,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            body=d.body,
            tries=[models.DeliveryTry.model_validate(t, from_attributes=True) for t in d.tries],
        )
        for d in found
    ]


async def _steer(
    svc: Services, sender_id: int | None, campaign_id: int, action: str
) -> models.Campaign:
    summary = await svc.store.run(
        svc.store.steer_campaign, sender_id, campaign_id, action, svc.clock.now()
    )
    return models.Campaign.of(summary)


@router.post(
    "/campaigns/{campaign_id}/pause",
    response_model=models.Campaign,
    responses=_documented(404, 409, 422, changing=True),
)
async def pause_campaign(
    campaign_id: CampaignId, sender: SenderDep, svc: ServicesDep
) -> models.Campaign:
    """Stop starting new calls of the campaign (calls up go on); resume undoes it."""
    return await _steer(svc, sender.id, campaign_id, "pause")


@router.post(
    "/campaigns/{campaign_id}/resume",
    response_model=models.Campaign,
    responses=_documented(404, 409, 422, changing=True),
)
async def resume_campaign(
    campaign_id: CampaignId, sender: SenderDep, svc: ServicesDep
) -> models.Campaign:
    return await _steer(svc, sender.id, campaign_id, "resume")


@router.post(
    "/campaigns/{campaign_id}/cancel",
    response_model=models.Campaign,
    responses=_documented(404, 409, 422, changing=True),
)
async def cancel_campaign(
    campaign_id: CampaignId, sender: SenderDep, svc: ServicesDep
) -> models.Campaign:
    """Cancel the campaign: its queued calls end ``canceled`` (with their results), its
    calls up are hung up. Final."""
    return await _steer(svc, sender.id, campaign_id, "cancel")


RESULT_COLUMNS = (
    "call_id",
    "line",
    "phone_number",
    "message_reference",
    "call_parameters",
    "state",
    "callee_type",
    "attempts",
    "queued_at",
    "first_attempt_at",
    "last_attempt_at",
    "ended_at",
    "duration",
)
RESULTS_PAGE = 5000


@router.get(
    "/campaigns/{campaign_id}/results.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **_documented(404, 422)},
)
async def campaign_results(
    campaign_id: CampaignId, sender: SenderDep, svc: ServicesDep
) -> StreamingResponse:
    """Every call of the campaign with its state and result, as CSV, streamed (times are
    ISO 8601 UTC; empty where there is none)."""
    summary = await svc.store.run(svc.store.campaign, sender.id, campaign_id)

    async def rows() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(RESULT_COLUMNS)
        after = 0
        while True:
            page = await svc.store.run(
                svc.store.calls,
                sender.id,
                campaign_id=campaign_id,
                after_id=after,
                limit=RESULTS_PAGE,
            )
            for c in page:
                writer.writerow(
                    (
                        c.id,
                        c.line or "",
                        c.phone_number,
                        spreadsheet_safe(c.message_reference or ""),
                        spreadsheet_safe(c.call_parameters or ""),
                        c.state.value,
                        c.callee_type or "",
                        c.attempts,
                        _iso(c.queued_at),
                        _iso(c.first_attempt_at),
                        _iso(c.last_attempt_at),
                        _iso(c.ended_at),
                        "" if c.duration_s is None else c.duration_s,
                    )
                )
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            if len(page) < RESULTS_PAGE:
                break
            after = page[-1].id

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", summary.campaign.name) or "campaign"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-results.csv"'},
    )


# OWASP, "CSV Injection": a cell that starts with one of these is taken for a formula by
# spreadsheets (=HYPERLINK(...), +cmd|...). Such a cell is written with a leading single
# quote, which spreadsheets show as text and hide; the csv module quotes cells holding
# commas, quotes, CR or LF. Only the sender's own text columns can start so.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell that no spreadsheet evaluates."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _iso(when: datetime | None) -> str:
    return "" if when is None else when.isoformat().replace("+00:00", "Z")


# -- administration ------------------------------------------------------------------------


AdminDep = Annotated[campaigns.Sender, Depends(account_of(campaigns.Role.ADMIN))]


async def _status(svc: Services) -> models.Status:
    suspended = await svc.store.run(svc.store.suspended)
    live = await svc.store.run(svc.store.live_calls)
    senders = {s.id: s.login for s in await svc.store.run(svc.store.senders)}
    return models.Status(
        suspended=suspended,
        lines=svc.settings.dialer.lines,
        lines_in_use=sum(live.values()),
        lines_in_use_by_sender={senders.get(k, str(k)): v for k, v in sorted(live.items())},
    )


@router.get("/admin/status", response_model=models.Status, tags=["admin"], responses=_documented())
async def admin_status(admin: AdminDep, svc: ServicesDep) -> models.Status:
    """Whether dialing is suspended, and the lines in use now across the system."""
    return await _status(svc)


async def _audit(
    request: Request, svc: Services, admin: campaigns.Sender, action: str, target: str | None
) -> None:
    """Record an admin action in the audit log (shown in the web interface)."""
    address = request.client.host if request.client else None
    await svc.audit(admin, action, target, address=address, via="api")


@router.post(
    "/admin/suspend",
    response_model=models.Status,
    tags=["admin"],
    responses=_documented(changing=True),
)
async def admin_suspend(request: Request, admin: AdminDep, svc: ServicesDep) -> models.Status:
    """Stop starting calls, for every sender (calls up go on)."""
    await svc.store.run(svc.store.set_suspended, True, svc.clock.now())
    await _audit(request, svc, admin, "dialing.suspend", None)
    return await _status(svc)


@router.post(
    "/admin/resume",
    response_model=models.Status,
    tags=["admin"],
    responses=_documented(changing=True),
)
async def admin_resume(request: Request, admin: AdminDep, svc: ServicesDep) -> models.Status:
    await svc.store.run(svc.store.set_suspended, False, svc.clock.now())
    await _audit(request, svc, admin, "dialing.resume", None)
    return await _status(svc)


@router.delete(
    "/admin/calls/{call_id}",
    response_model=models.Call,
    tags=["admin"],
    responses=_documented(404, 409, 422, changing=True),
)
async def admin_cancel_call(
    request: Request, call_id: CallId, admin: AdminDep, svc: ServicesDep, response: Response
) -> models.Call:
    """Cancel any sender's call (as DELETE /calls/{id})."""
    call = await svc.store.run(svc.store.cancel_call, None, call_id, svc.clock.now())
    await _audit(request, svc, admin, "call.cancel", f"call {call_id}")
    if not call.state.is_final:
        response.status_code = 202
    return models.Call.of(call)


@router.post(
    "/admin/campaigns/{campaign_id}/cancel",
    response_model=models.Campaign,
    tags=["admin"],
    responses=_documented(404, 409, 422, changing=True),
)
async def admin_cancel_campaign(
    request: Request, campaign_id: CampaignId, admin: AdminDep, svc: ServicesDep
) -> models.Campaign:
    """Cancel any sender's campaign."""
    canceled = await _steer(svc, None, campaign_id, "cancel")
    await _audit(request, svc, admin, "campaign.cancel", f"campaign {campaign_id}")
    return canceled


# -- errors, rendered once --------------------------------------------------------------

_STATUS: tuple[tuple[type[errors.VxdialError], int], ...] = (
    (errors.Throttled, 429),
    (errors.Forbidden, 403),
    (errors.NotAuthorized, 401),
    (errors.TooLarge, 413),
    (errors.InvalidInput, 422),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Unavailable, 503),
)


def _problems(exc: errors.VxdialError) -> list[dict[str, str]]:
    if isinstance(exc, errors.InvalidInputs):
        return [{"field": p.field, "reason": p.reason} for p in exc.problems]
    if isinstance(exc, errors.InvalidInput | errors.Conflict):
        return [{"field": exc.field, "reason": exc.reason}]
    if isinstance(exc, errors.NotAuthorized):
        return [{"field": "authorization", "reason": exc.reason}]
    return [{"field": "request", "reason": str(exc)}]


async def _vxdial_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.VxdialError)
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="vxdial"'
    if isinstance(exc, errors.Throttled):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse({"errors": _problems(exc)}, status_code=status, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        reason = str(error.get("msg", "")).removeprefix("Value error, ")
        # A name or a value from the request may hold a lone surrogate: escaped, so the
        # answer can be encoded.
        problems.append(
            {
                "field": errors.escape_surrogates(".".join(location) or "body"),
                "reason": errors.escape_surrogates(reason),
            }
        )
    return JSONResponse({"errors": problems}, status_code=422)


def error_response(status: int, field: str, reason: str) -> JSONResponse:
    """An answer of ``status`` in the API's error shape."""
    return JSONResponse({"errors": [{"field": field, "reason": reason}]}, status_code=status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (404, 405, 400, 413, ...) in the API's error shape."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = httpedge.allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        field = "method"
        reason = (
            f"{request.method} is not allowed here: {request.url.path} takes {headers['Allow']}"
        )
    elif exc.status_code == 404:
        field, reason = "path", f"there is nothing at {request.url.path}"
    else:
        field, reason = "request", str(exc.detail)
    return JSONResponse(
        {"errors": [{"field": field, "reason": errors.escape_surrogates(reason)}]},
        status_code=exc.status_code,
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.VxdialError, _vxdial_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
