"""The web interface's pages and form actions.

Every page of a sender reads through the store with the sender's id, so another
sender's campaign or call is ``NotFound`` (404) on every GET and POST. Steering goes
through the same store operations and account services as the JSON API; the web
adds only the session, the CSRF check and the audit record of admin actions.
"""

from __future__ import annotations

import collections
import io
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, BinaryIO

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from starlette.datastructures import UploadFile

from vxdial import intake
from vxdial.api.forms import read_form
from vxdial.api.v1 import routes as api_routes
from vxdial.domain import calls, campaigns, errors
from vxdial.services import Services
from vxdial.store import WebSession
from vxdial.web import render, sessions

router = APIRouter(include_in_schema=False)
log = logging.getLogger("vxdial.web")

PAGE_SIZE = 50
CAMPAIGNS_PAGE = 100
AUDIT_PAGE = 100
HISTORY_SAMPLES = 720  # 24 minutes of samples 2 s apart
HISTORY_CAMPAIGNS = 1000  # campaigns whose history this process remembers
HISTORY_EVERY_S = 1.5
REJECTED_SHOWN = 1000
REJECTED_ON_PAGE = 100
REJECTED_TEXT_CHARS = 300  # of a rejected line's text, on the upload's answer page
# Form bodies, bounded before they are read (the upload form: [intake] max_upload_bytes).
LOGIN_FORM_MAX_BYTES = 4 * 1024
FORM_MAX_BYTES = 16 * 1024
MAX_ID = api_routes.MAX_ID

ServicesDep = Annotated[Services, Depends(sessions.services)]


async def sender_session(request: Request) -> WebSession:
    session = await sessions.require_session(request)
    if session.sender.role is not campaigns.Role.SENDER:
        raise sessions.WrongRole(campaigns.Role.SENDER)
    return session


async def admin_session(request: Request) -> WebSession:
    session = await sessions.require_session(request)
    if session.sender.role is not campaigns.Role.ADMIN:
        raise sessions.WrongRole(campaigns.Role.ADMIN)
    return session


SenderSession = Annotated[WebSession, Depends(sender_session)]
AdminSession = Annotated[WebSession, Depends(admin_session)]


async def checked_form(request: Request, session: WebSession) -> dict[str, str]:
    """The POSTed form's text fields, once its csrf_token is the session's. The body is
    bounded before it is read (Content-Length, then while it streams): a post of any
    size costs at most ``FORM_MAX_BYTES`` (413 beyond)."""
    form = await read_form(
        request, max_bytes=FORM_MAX_BYTES, too_large_field="request", max_files=0
    )
    sessions.check_csrf(session, form.fields.get("csrf_token"))
    return form.fields


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def home_of(sender: campaigns.Sender) -> str:
    return "/web/admin/senders" if sender.role is campaigns.Role.ADMIN else "/web/campaigns"


def campaign_url(name: str) -> str:
    return f"/web/campaigns/{render.urlname(name)}"


def back_to(form: dict[str, str], default: str) -> str:
    """Where a form asks to go back to: a page of ours only (never another site)."""
    back = form.get("back", "")
    if back.startswith("/web/") and not back.startswith("//") and "\\" not in back:
        return back
    return default


# -- login ----------------------------------------------------------------------------


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/web/", status_code=307)


@router.get("/web")
@router.get("/web/")
async def web_home(request: Request) -> RedirectResponse:
    session = await sessions.current_session(request)
    return see_other("/web/login" if session is None else home_of(session.sender))


async def _login_page(
    request: Request, *, status_code: int = 200, alert: str | None = None, login: str = ""
) -> HTMLResponse:
    nonce = sessions.login_nonce(request) or secrets.token_urlsafe(24)
    token = (await sessions.signer(request)).login_token(nonce)
    response = render.page(
        request,
        "login.html",
        status_code=status_code,
        login_token=token,
        alert=alert,
        login=login,
    )
    sessions.set_login_nonce(request, response, nonce)
    return response


@router.get("/web/login")
async def login_form(request: Request) -> Response:
    session = await sessions.current_session(request)
    if session is not None:
        return see_other(home_of(session.sender))
    return await _login_page(request)


@router.post("/web/login")
async def login(request: Request, svc: ServicesDep) -> Response:
    # Bounded before anything is read, CSRF check included: a login form is a few
    # hundred bytes, and anyone may post here.
    form = (
        await read_form(
            request, max_bytes=LOGIN_FORM_MAX_BYTES, too_large_field="request", max_files=0
        )
    ).fields
    await sessions.check_login_csrf(request, form.get("csrf_token"))
    login_name = form.get("login", "")
    pin = form.get("pin", "")
    # The API's authenticator: the same PIN check and the same throttle (Throttled is
    # rendered as the 429 page).
    try:
        sender = await svc.authenticator.authenticate(
            login_name, pin, sessions.client_address(request)
        )
    except errors.Throttled:
        raise  # the 429 page
    except errors.Forbidden:
        return await _login_page(
            request, status_code=403, alert="This account is disabled.", login=login_name[:128]
        )
    except errors.NotAuthorized:
        return await _login_page(
            request, status_code=401, alert="Wrong login or PIN.", login=login_name[:128]
        )
    response = see_other(home_of(sender))
    await sessions.open_session(request, response, sender)
    log.info("web.login login=%s address=%s", sender.login, sessions.client_address(request))
    return response


@router.post("/web/logout")
async def logout(request: Request) -> Response:
    session = await sessions.require_session(request)
    await checked_form(request, session)
    response = see_other("/web/login")
    await sessions.close_session(request, response)
    log.info("web.logout login=%s", session.sender.login)
    return response


# -- campaigns ------------------------------------------------------------------------


def _counts_json(summary: campaigns.CampaignSummary) -> dict[str, Any]:
    counts = {state.value: n for state, n in summary.counts.items()}
    return {
        "name": summary.campaign.name,
        "state": summary.campaign.state.value,
        "counts": counts,
        "total": summary.total,
        "done": sum(counts[s] for s in render.FINAL_STATES),
    }


@router.get("/web/campaigns")
async def campaigns_page(
    request: Request,
    session: SenderSession,
    svc: ServicesDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> HTMLResponse:
    found = await svc.store.run(
        svc.store.campaigns, session.sender.id, after_id=after, limit=CAMPAIGNS_PAGE
    )
    suspended = await svc.store.run(svc.store.suspended)
    return render.page(
        request,
        "campaigns.html",
        summaries=found,
        next_after=found[-1].campaign.id if len(found) == CAMPAIGNS_PAGE else None,
        after=after,
        suspended=suspended,
    )


@router.get("/web/live/campaigns.json")
async def campaigns_live(
    session: SenderSession,
    svc: ServicesDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> JSONResponse:
    """The campaigns page's live data: each campaign's state and counts."""
    found = await svc.store.run(
        svc.store.campaigns, session.sender.id, after_id=after, limit=CAMPAIGNS_PAGE
    )
    return JSONResponse(
        {"campaigns": [_counts_json(s) for s in found]}, headers={"Cache-Control": "no-store"}
    )


@dataclass
class _History:
    """Samples of each campaign's counts, taken as its live endpoint is polled, kept in
    this process's memory (see docs/WEB.md)."""

    samples: collections.OrderedDict[int, collections.deque[dict[str, Any]]]

    def add(self, summary: campaigns.CampaignSummary, now: datetime) -> list[dict[str, Any]]:
        campaign_id = summary.campaign.id
        found = self.samples.get(campaign_id)
        if found is None:
            found = self.samples[campaign_id] = collections.deque(maxlen=HISTORY_SAMPLES)
            while len(self.samples) > HISTORY_CAMPAIGNS:
                self.samples.popitem(last=False)
        self.samples.move_to_end(campaign_id)
        at_ms = round(now.timestamp() * 1000)
        counts = {state.value: n for state, n in summary.counts.items()}
        if found and at_ms - found[-1]["t"] < HISTORY_EVERY_S * 1000:
            found[-1] = {"t": found[-1]["t"], "counts": counts}  # the latest, same slot
        else:
            found.append({"t": at_ms, "counts": counts})
        return list(found)


def _history(request: Request) -> _History:
    found: _History | None = getattr(request.app.state, "web_history", None)
    if found is None:
        found = request.app.state.web_history = _History(collections.OrderedDict())
    return found


async def _campaign(svc: Services, session: WebSession, name: str) -> campaigns.CampaignSummary:
    return await svc.store.run(svc.store.campaign_named, session.sender.id, name)


@router.get("/web/campaigns/{name:path}/live.json")
async def campaign_live(
    request: Request,
    name: str,
    session: SenderSession,
    svc: ServicesDep,
    since: Annotated[int | None, Query(ge=0)] = None,
) -> JSONResponse:
    """The campaign page's live data: state, counts, and the counts over time (with
    ``since``, a UNIX ms time, only the samples from then on: the page polls with the
    time of the last sample it has, so each poll carries a sample or two, not 720)."""
    summary = await _campaign(svc, session, name)
    history = _history(request).add(summary, svc.clock.now())
    if since is not None:
        history = [sample for sample in history if sample["t"] >= since]
    body = _counts_json(summary) | {"history": history}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/web/campaigns/{name:path}/export.csv")
async def campaign_export(name: str, session: SenderSession, svc: ServicesDep) -> StreamingResponse:
    """Every call of the campaign with its result, as the API's results.csv (streamed)."""
    summary = await _campaign(svc, session, name)
    return await api_routes.campaign_results(summary.campaign.id, session.sender, svc)


async def _steer(
    request: Request, name: str, session: WebSession, svc: Services, action: str
) -> Response:
    form = await checked_form(request, session)
    summary = await _campaign(svc, session, name)
    await svc.store.run(
        svc.store.steer_campaign, session.sender.id, summary.campaign.id, action, svc.clock.now()
    )
    return see_other(back_to(form, campaign_url(name)))


@router.post("/web/campaigns/{name:path}/pause")
async def pause_campaign(
    request: Request, name: str, session: SenderSession, svc: ServicesDep
) -> Response:
    return await _steer(request, name, session, svc, "pause")


@router.post("/web/campaigns/{name:path}/resume")
async def resume_campaign(
    request: Request, name: str, session: SenderSession, svc: ServicesDep
) -> Response:
    return await _steer(request, name, session, svc, "resume")


@router.post("/web/campaigns/{name:path}/cancel")
async def cancel_campaign(
    request: Request, name: str, session: SenderSession, svc: ServicesDep
) -> Response:
    return await _steer(request, name, session, svc, "cancel")


@router.get("/web/campaigns/{name:path}")
async def campaign_page(
    request: Request,
    name: str,
    session: SenderSession,
    svc: ServicesDep,
    state: str = "",
    q: Annotated[str, Query(max_length=255)] = "",
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    summary = await _campaign(svc, session, name)
    try:
        state_filter = calls.CallState(state) if state else None
    except ValueError:
        raise errors.InvalidInput(
            "state", f'"{state[:40]}" is not a call state; use one of {", ".join(render.STATES)}'
        ) from None
    search = q.strip() or None
    if search and summary.campaign.settings is not None:
        # Built in the background after an upload; a search that comes first builds it.
        await svc.store.run(svc.store.build_search, summary.campaign.id, svc.clock.now())
    # One more than a page tells whether there is a next (or previous) page.
    found = await svc.store.run(
        svc.store.campaign_calls_page,
        summary.campaign.id,
        state=state_filter,
        search=search,
        after_id=after,
        before_id=before,
        limit=PAGE_SIZE + 1,
    )
    if before is not None:
        has_previous = len(found) > PAGE_SIZE
        page_calls = found[-PAGE_SIZE:]
        has_next = True
    else:
        has_next = len(found) > PAGE_SIZE
        page_calls = found[:PAGE_SIZE]
        has_previous = bool(after)
    history = _history(request).add(summary, svc.clock.now())
    filters = {"state": state, "q": q} if state or q else {}
    rejected: list[tuple[int, str]] = []
    rejected_count = 0
    if summary.campaign.settings is not None:  # an upload: its rejected lines
        rejected = await svc.store.run(
            svc.store.campaign_rejections, summary.campaign.id, limit=REJECTED_ON_PAGE
        )
        rejected_count = len(rejected)
        if rejected_count == REJECTED_ON_PAGE:
            rejected_count = await svc.store.run(
                svc.store.count_campaign_rejections, summary.campaign.id
            )
    return render.page(
        request,
        "campaign.html",
        summary=summary,
        calls=page_calls,
        state_filter=state,
        q=q,
        filters=filters,
        next_after=page_calls[-1].id if page_calls and has_next else None,
        previous_before=page_calls[0].id if page_calls and has_previous else None,
        history=history,
        campaign_url=campaign_url(summary.campaign.name),
        rejected=rejected,
        rejected_count=rejected_count,
    )


# -- calls ----------------------------------------------------------------------------


@router.get("/web/calls/{call_id}")
async def call_page(
    request: Request,
    call_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SenderSession,
    svc: ServicesDep,
) -> HTMLResponse:
    sender_id = session.sender.id
    call = await svc.store.run(svc.store.call, sender_id, call_id)
    attempts = await svc.store.run(svc.store.call_attempts, sender_id, call_id)
    events = await svc.store.run(svc.store.call_events, sender_id, call_id, limit=1000)
    deliveries = await svc.store.run(svc.store.call_deliveries, sender_id, call_id)
    transcript = [e for _, e in events if e.kind in ("prompt", "dtmf")]
    return render.page(
        request,
        "call.html",
        call=call,
        attempts=attempts,
        events=[e for _, e in events],
        transcript=transcript,
        deliveries=deliveries,
        campaign_url=campaign_url(call.campaign_name),
    )


@router.get("/web/live/calls/{call_id}.json")
async def call_live(
    call_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SenderSession,
    svc: ServicesDep,
) -> JSONResponse:
    """The call page's live data: its state, and a version that changes with it."""
    call = await svc.store.run(svc.store.call, session.sender.id, call_id)
    version = f"{call.state.value}:{call.attempts}:{call.updated_at.timestamp()}"
    return JSONResponse(
        {"state": call.state.value, "attempts": call.attempts, "version": version},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/web/calls/{call_id}/cancel")
async def cancel_call(
    request: Request,
    call_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    session: SenderSession,
    svc: ServicesDep,
) -> Response:
    form = await checked_form(request, session)
    await svc.store.run(svc.store.cancel_call, session.sender.id, call_id, svc.clock.now())
    return see_other(back_to(form, f"/web/calls/{call_id}"))


# -- upload ---------------------------------------------------------------------------

UPLOAD_FIELDS = (
    "campaign_name",
    "start_url",
    "result_url",
    "message_reference",
    "call_parameters",
    "max_retries",
    "retry_interval",
    "scheduled_time",
    "expiration_time",
)


@router.get("/web/upload")
async def upload_form(request: Request, session: SenderSession) -> HTMLResponse:
    return render.page(request, "upload.html", values={}, problems=[])


class _Rejections:
    """The first rejected lines of an upload with their text, for the result page."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.count = 0

    def queued(self, new_calls: object, call_ids: object) -> None:
        pass

    def rejected(self, rejections: Sequence[tuple[int, str]]) -> None:
        self.count += len(rejections)
        room = REJECTED_SHOWN - len(self.lines)
        if room > 0:
            self.lines.extend(rejections[:room])


class _KeepOpen(io.RawIOBase):
    """A readable view of a file whose close leaves the file open."""

    def __init__(self, inner: BinaryIO) -> None:
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


async def _rejected_texts(upload: UploadFile, rejections: _Rejections) -> dict[int, str]:
    """The start of each shown rejected line's text (at most ``REJECTED_TEXT_CHARS``
    characters: a rejected line may be 200 MiB long), read off the event loop: the
    last one may be a million lines down."""
    wanted = {line for line, _ in rejections.lines}
    upload.file.seek(0)
    phone_list = io.BufferedReader(_KeepOpen(upload.file), 1 << 16)
    return await anyio.to_thread.run_sync(
        intake.line_starts, phone_list, wanted, REJECTED_TEXT_CHARS
    )


@router.post("/web/upload")
async def upload(request: Request, session: SenderSession, svc: ServicesDep) -> Response:
    """A new campaign from a phone_list: queuecalls.php's checks, through the same intake."""

    async def before_file(fields: Mapping[str, str]) -> None:
        # The form puts csrf_token first: a forged post is refused before its file.
        if "csrf_token" in fields:
            sessions.check_csrf(session, fields["csrf_token"])

    with svc.intake.upload_slots.for_sender(session.sender.id):
        form = await read_form(
            request,
            max_bytes=svc.settings.intake.max_upload_bytes,
            too_large_field="phone_list",
            before_file=before_file,
        )
        try:
            sessions.check_csrf(session, form.fields.get("csrf_token"))
            values = {k: form.fields.get(k, "") for k in UPLOAD_FIELDS}
            sent = {k: v for k, v in values.items() if v != ""}
            upload_file = form.files.get("phone_list")
            if upload_file is not None and not upload_file.filename:
                upload_file = None  # the file input left empty
            try:
                checked = intake.parse_campaign_request(
                    sent,
                    now=svc.clock.now(),
                    zone=svc.settings.zone,
                    has_phone_list=upload_file is not None,
                )
            except errors.InvalidInputs as exc:
                problems = [(p.field, p.reason) for p in exc.problems]
                return _upload_again(request, values, problems)
            except errors.InvalidInput as exc:
                return _upload_again(request, values, [(exc.field, exc.reason)])
            assert upload_file is not None
            upload_file.file.seek(0)
            rejections = _Rejections()
            # The intake closes the stream it read; the file stays open for the text
            # of the rejected lines.
            phone_list = io.BufferedReader(_KeepOpen(upload_file.file), 1 << 16)
            try:
                done = await svc.intake.queue_campaign(
                    session.sender, checked, phone_list, report=rejections
                )
            except intake.NoGoodLines as exc:
                texts = await _rejected_texts(upload_file, rejections)
                return render.page(
                    request,
                    "upload.html",
                    status_code=422,
                    values=values,
                    problems=[(exc.field, exc.reason)],
                    rejected=[(n, texts.get(n, ""), r) for n, r in rejections.lines],
                    rejected_count=exc.lines_rejected,
                )
            except (errors.InvalidInputs, errors.InvalidInput, errors.Conflict) as exc:
                return _upload_again(request, values, _problems(exc))
            texts = await _rejected_texts(upload_file, rejections)
        finally:
            await form.aclose()
    return render.page(
        request,
        "uploaded.html",
        campaign=done.campaign,
        accepted=done.calls_queued,
        rejected_count=done.lines_rejected,
        rejected=[(n, texts.get(n, ""), r) for n, r in rejections.lines],
        campaign_url=campaign_url(done.campaign.name),
    )


def _problems(exc: errors.VxdialError) -> list[tuple[str, str]]:
    if isinstance(exc, errors.InvalidInputs):
        return [(p.field, p.reason) for p in exc.problems]
    if isinstance(exc, errors.InvalidInput | errors.Conflict):
        return [(exc.field, exc.reason)]
    return [("request", str(exc))]


def _upload_again(
    request: Request, values: dict[str, str], problems: list[tuple[str, str]]
) -> HTMLResponse:
    return render.page(request, "upload.html", status_code=422, values=values, problems=problems)


# -- settings -------------------------------------------------------------------------


@router.get("/web/settings")
async def settings_page(request: Request, session: SenderSession) -> HTMLResponse:
    rotated = request.query_params.get("rotated") == "1"
    return render.page(request, "settings.html", sender=session.sender, rotated=rotated)


@router.post("/web/settings/rotate-secret")
async def rotate_secret(request: Request, session: SenderSession, svc: ServicesDep) -> Response:
    await checked_form(request, session)
    await svc.store.run(svc.accounts.rotate_secret, session.sender.login)
    # Post/redirect/get: reloading the page that shows the new secret must not rotate again.
    return see_other("/web/settings?rotated=1")
