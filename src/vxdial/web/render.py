"""Rendering pages: one Jinja2 environment over the package's templates, and the
headers every page carries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from vxdial.domain import calls, campaigns
from vxdial.store import WebSession
from vxdial.web import sessions

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("vxdial.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# The pages run only the package's own script and style: no inline script, no other
# origin. Frames are refused (clickjacking of the Cancel buttons).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

STATES = [state.value for state in calls.CallState]
FINAL_STATES = [state.value for state in calls.CallState if state.is_final]
# What each campaign state allows (the store's rules decide; this only picks buttons).
ACTIONS = {
    campaigns.CampaignState.ACTIVE.value: ("pause", "cancel"),
    campaigns.CampaignState.PAUSED.value: ("resume", "cancel"),
}


def _local(when: datetime | None, zone: ZoneInfo) -> str:
    if when is None:
        return ""
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def urlname(value: str) -> str:
    """A campaign name as one URL path segment (a name may contain / and spaces)."""
    return quote(value, safe="")


_env.filters["urlname"] = urlname
_env.globals.update(
    states=STATES,
    final_states=FINAL_STATES,
    actions=ACTIONS,
    default_campaign=campaigns.DEFAULT_CAMPAIGN_NAME,
)


def page(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    session: WebSession | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` in the layout, for ``session``'s account (None: logged out)."""
    if session is None:
        session = getattr(request.state, "web_session", None)
    zone = sessions.services(request).settings.zone
    html = _env.get_template(template).render(
        request=request,
        user=None if session is None else session.sender,
        csrf_token="" if session is None else session.csrf_token,
        local=lambda when: _local(when, zone),
        zone=str(zone),
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=dict(SECURITY_HEADERS))
