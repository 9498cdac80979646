"""The administrator's pages: senders, lines in use and global suspend, the audit log.

Account changes go through ``accounts.Accounts`` (the CLI's and API's rules); each
action that succeeds is recorded in the audit log with the admin's address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from vxdial.domain import campaigns, errors
from vxdial.services import Services
from vxdial.store import WebSession
from vxdial.web import render, sessions
from vxdial.web.routes import AUDIT_PAGE, MAX_ID, AdminSession, ServicesDep, checked_form, see_other

router = APIRouter(include_in_schema=False, prefix="/web/admin")


async def _audit(
    request: Request,
    svc: Services,
    session: WebSession,
    action: str,
    target: str | None,
    *,
    detail: str | None = None,
) -> None:
    await svc.audit(
        session.sender,
        action,
        target,
        address=sessions.client_address(request),
        via="web",
        detail=detail,
    )


async def _senders_page(
    request: Request,
    svc: Services,
    *,
    status_code: int = 200,
    notice: str | None = None,
    problems: list[tuple[str, str]] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    accounts = await svc.store.run(svc.accounts.list)
    live = await svc.store.run(svc.store.live_calls)
    senders = [a for a in accounts if a.role is campaigns.Role.SENDER]
    return render.page(
        request,
        "admin_senders.html",
        status_code=status_code,
        senders=senders,
        live=live,
        notice=notice,
        problems=problems or [],
        values=values or {},
    )


@router.get("/senders")
async def senders_page(request: Request, session: AdminSession, svc: ServicesDep) -> HTMLResponse:
    return await _senders_page(request, svc)


def _lines(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise errors.InvalidInput("lines", f'"{value[:20]}" is not a whole number') from None


@router.post("/senders")
async def add_sender(request: Request, session: AdminSession, svc: ServicesDep) -> Response:
    form = await checked_form(request, session)
    login = form.get("login", "").strip()
    pin = form.get("pin", "").strip() or None
    values = {"login": login, "lines": form.get("lines", "")}
    try:
        lines = _lines(form.get("lines", ""))
        created = await svc.store.run(svc.accounts.add_sender, login, pin, lines)
    except (errors.InvalidInput, errors.Conflict) as exc:
        return await _senders_page(
            request, svc, status_code=422, problems=[(exc.field, exc.reason)], values=values
        )
    await _audit(request, svc, session, "sender.add", login)
    notice = f"Sender {login} added."
    if pin is None:
        notice += f" Its PIN is {created.pin} (shown only now)."
    return await _senders_page(request, svc, notice=notice)


async def _known_sender(svc: Services, login: str) -> campaigns.Sender:
    for account in await svc.store.run(svc.accounts.list):
        if account.login == login and account.role is campaigns.Role.SENDER:
            return account
    raise errors.NotFound(f'no sender "{login}"')


@router.post("/senders/{login}/disable")
async def disable_sender(
    request: Request, login: str, session: AdminSession, svc: ServicesDep
) -> Response:
    await checked_form(request, session)
    sender = await _known_sender(svc, login)
    await svc.store.run(svc.accounts.set_enabled, login, False)
    # Its open web sessions end now (the session check also refuses a disabled account).
    await svc.store.run(svc.store.close_web_sessions_of, sender.id)
    await _audit(request, svc, session, "sender.disable", login)
    return see_other("/web/admin/senders")


@router.post("/senders/{login}/enable")
async def enable_sender(
    request: Request, login: str, session: AdminSession, svc: ServicesDep
) -> Response:
    await checked_form(request, session)
    await _known_sender(svc, login)
    await svc.store.run(svc.accounts.set_enabled, login, True)
    await _audit(request, svc, session, "sender.enable", login)
    return see_other("/web/admin/senders")


@router.post("/senders/{login}/pin")
async def reset_pin(
    request: Request, login: str, session: AdminSession, svc: ServicesDep
) -> Response:
    form = await checked_form(request, session)
    await _known_sender(svc, login)
    pin = form.get("pin", "").strip() or None
    try:
        new_pin = await svc.store.run(svc.accounts.set_pin, login, pin)
    except errors.InvalidInput as exc:
        return await _senders_page(
            request, svc, status_code=422, problems=[(f"PIN for {login}", exc.reason)]
        )
    # set_pin ended the sender's web sessions: whoever knew the old PIN is logged out.
    await _audit(request, svc, session, "sender.reset_pin", login)
    notice = f"PIN of {login} reset."
    if pin is None:
        notice += f" The new PIN is {new_pin} (shown only now)."
    return await _senders_page(request, svc, notice=notice)


@router.post("/senders/{login}/lines")
async def set_lines(
    request: Request, login: str, session: AdminSession, svc: ServicesDep
) -> Response:
    form = await checked_form(request, session)
    await _known_sender(svc, login)
    try:
        lines = _lines(form.get("lines", ""))
        await svc.store.run(svc.accounts.set_lines, login, lines)
    except errors.InvalidInput as exc:
        return await _senders_page(
            request, svc, status_code=422, problems=[(f"Lines for {login}", exc.reason)]
        )
    detail = "no limit of its own" if lines is None else f"{lines} lines"
    await _audit(request, svc, session, "sender.lines", login, detail=detail)
    return see_other("/web/admin/senders")


@router.get("/lines")
async def lines_page(request: Request, session: AdminSession, svc: ServicesDep) -> HTMLResponse:
    live = await svc.store.run(svc.store.live_calls)
    accounts = {a.id: a for a in await svc.store.run(svc.accounts.list)}
    suspended = await svc.store.run(svc.store.suspended)
    rows = [
        (
            accounts[sender_id].login if sender_id in accounts else str(sender_id),
            accounts[sender_id].lines if sender_id in accounts else None,
            n,
        )
        for sender_id, n in sorted(live.items())
    ]
    return render.page(
        request,
        "admin_lines.html",
        rows=rows,
        total=sum(live.values()),
        system_lines=svc.settings.dialer.lines,
        suspended=suspended,
    )


@router.post("/suspend")
async def suspend(request: Request, session: AdminSession, svc: ServicesDep) -> Response:
    await checked_form(request, session)
    await svc.store.run(svc.store.set_suspended, True, svc.clock.now())
    await _audit(request, svc, session, "dialing.suspend", None)
    return see_other("/web/admin/lines")


@router.post("/resume")
async def resume(request: Request, session: AdminSession, svc: ServicesDep) -> Response:
    await checked_form(request, session)
    await svc.store.run(svc.store.set_suspended, False, svc.clock.now())
    await _audit(request, svc, session, "dialing.resume", None)
    return see_other("/web/admin/lines")


@router.get("/audit")
async def audit_page(
    request: Request,
    session: AdminSession,
    svc: ServicesDep,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    entries = await svc.store.run(svc.store.audit_entries, before_id=before, limit=AUDIT_PAGE)
    return render.page(
        request,
        "admin_audit.html",
        entries=entries,
        next_before=entries[-1].id if len(entries) == AUDIT_PAGE else None,
    )
