"""The demo's routes: VoiceXML applications under /demo/ and the result inbox.

The applications answer GET (the intake's start_url probe, a static server's fallback
fetch) and POST (the answered call's start fields, form-encoded): the fields come from
the query string and, for a form-encoded POST, the body. What they say back of those
fields is cut to the fields' own limits, stripped of characters XML 1.0 cannot hold and
escaped by the templates (Jinja2 autoescaping), so a posted ``</prompt>`` or ``&`` is
said, never parsed.

``/demo/results`` takes result posts (see inbox.py for how they are verified) and shows
them to the sender whose calls they are: the page needs that sender's web session; a GET
without one still answers 200 (the intake probes result_url with a GET), with a link to
the login page and nothing else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from vxdial import web
from vxdial.demo.inbox import Inbox, Signature, check_signature
from vxdial.domain import errors
from vxdial.services import Services

router = APIRouter(include_in_schema=False)
log = logging.getLogger("vxdial.demo")

VOICEXML = "application/voicexml+xml"  # RFC 4267
FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024  # a start POST is well under 2 KiB; a result post too
MAX_FIELDS = 64
ECHO_CHARS = 255  # message_reference and call_parameters are at most 255 (PRODUCT.md 2)
MAX_CALL_ID = 2**63 - 1
REFRESH_S = 5
DEFAULT_APPOINTMENT = "Your appointment is tomorrow at 10 a.m."
DEFAULT_MESSAGE = "We tried to reach you about your account. Please call us back."
# What XML 1.0 may hold (section 2.2, Char): anything else in a posted field is replaced.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CALL_ID = re.compile("[0-9]{1,19}")  # ASCII digits (str.isdigit takes "²" too)

APPS = (
    ("/demo/hello.vxml", "Says hello, the call's message_reference and call_parameters, and ends."),
    (
        "/demo/appointment.vxml",
        "An appointment confirmation: says call_parameters (the appointment), then press 1 to "
        "confirm or 2 to cancel; noinput and nomatch are asked again, three times at most.",
    ),
    (
        "/demo/survey.vxml",
        "Two questions (satisfaction 1 to 5, would you recommend us: 1 yes, 2 no), answers "
        "submitted to /demo/survey/answers, which says them back.",
    ),
    (
        "/demo/voicemail.vxml",
        "A message for an answering machine (session.connection.callee_type): left once for "
        "a machine; a person may press 1 to hear it again. call_parameters is the message.",
    ),
)

_env = jinja2.Environment(
    loader=jinja2.ChoiceLoader(
        [
            jinja2.PackageLoader("vxdial.demo", "templates"),
            # The inbox and the index page wear the web interface's layout.
            jinja2.PackageLoader("vxdial.web", "templates"),
        ]
    ),
    autoescape=jinja2.select_autoescape(["html", "vxml"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# As the web interface's pages (web/render.py): no script or style of another origin,
# no framing.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _TooLarge(Exception):
    pass


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def inbox_of(request: Request) -> Inbox:
    found: Inbox = request.app.state.demo_inbox
    return found


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused (``_TooLarge``) beyond ``limit`` bytes, whatever
    Content-Length says or does not say."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _TooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """A form-encoded body's fields, in order; ``ValueError`` beyond MAX_FIELDS."""
    return parse_qsl(
        body.decode("utf-8", errors="replace"),
        keep_blank_values=True,
        max_num_fields=MAX_FIELDS,
    )


def is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM


async def posted_fields(request: Request) -> dict[str, str] | Response:
    """The query string's fields, then (for a form-encoded POST) the body's; or the
    error response for a body too large or with too many fields."""
    fields = dict(request.query_params)
    if request.method == "POST" and is_form(request):
        try:
            fields.update(parse_form(await read_body(request, MAX_FORM_BYTES)))
        except _TooLarge:
            return PlainTextResponse(f"the form is larger than {MAX_FORM_BYTES} bytes", 413)
        except ValueError:
            return PlainTextResponse(f"the form has more than {MAX_FIELDS} fields", 400)
    return fields


def said(fields: Mapping[str, str], name: str) -> str:
    """A posted field as the application may say it: within its limit, XML characters only
    (escaping is the template's)."""
    return _NOT_XML.sub("\ufffd", fields.get(name, "")[:ECHO_CHARS]).strip()


def vxml(template: str, **context: Any) -> Response:
    body = _env.get_template(template).render(**context)
    return Response(body.encode(), media_type=VOICEXML, headers={"Cache-Control": "no-store"})


def html(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    session = getattr(request.state, "web_session", None)
    zone = services(request).settings.zone

    def local(when: datetime) -> str:
        return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    body = _env.get_template(template).render(
        request=request,
        user=None if session is None else session.sender,
        csrf_token="" if session is None else session.csrf_token,
        local=local,
        **context,
    )
    return HTMLResponse(body, status_code=status_code, headers=dict(PAGE_HEADERS))


# -- the applications -------------------------------------------------------------------


@router.get("/demo")
@router.get("/demo/")
async def index(request: Request) -> Response:
    await web.current_session(request)  # the layout shows who is logged in
    base = str(request.base_url).rstrip("/")
    return html(request, "index.html", apps=APPS, base=base)


@router.api_route("/demo/hello.vxml", methods=["GET", "POST"])
async def hello(request: Request) -> Response:
    fields = await posted_fields(request)
    if isinstance(fields, Response):
        return fields
    return vxml(
        "hello.vxml",
        message_reference=said(fields, "message_reference"),
        call_parameters=said(fields, "call_parameters"),
    )


@router.api_route("/demo/appointment.vxml", methods=["GET", "POST"])
async def appointment(request: Request) -> Response:
    fields = await posted_fields(request)
    if isinstance(fields, Response):
        return fields
    return vxml(
        "appointment.vxml",
        message_reference=said(fields, "message_reference"),
        appointment=said(fields, "call_parameters") or DEFAULT_APPOINTMENT,
    )


@router.api_route("/demo/survey.vxml", methods=["GET", "POST"])
async def survey(request: Request) -> Response:
    fields = await posted_fields(request)
    if isinstance(fields, Response):
        return fields
    call_id = fields.get("call_id", "")
    return vxml(
        "survey.vxml",
        # Inside an ECMAScript string literal: digits only, or nothing.
        call_id=call_id if _CALL_ID.fullmatch(call_id) else "",
        message_reference=said(fields, "message_reference"),
    )


@router.api_route("/demo/survey/answers", methods=["GET", "POST"])
async def survey_answers(request: Request) -> Response:
    fields = await posted_fields(request)
    if isinstance(fields, Response):
        return fields
    satisfaction = fields.get("satisfaction", "")
    recommend = fields.get("recommend", "")
    valid = satisfaction in {"1", "2", "3", "4", "5"} and recommend in {"yes", "no"}
    if valid:
        call_id = fields.get("call_id", "")
        log.info(
            "demo.survey_answers call_id=%s satisfaction=%s recommend=%s",
            call_id if _CALL_ID.fullmatch(call_id) else "-",
            satisfaction,
            recommend,
        )
    return vxml(
        "survey_answers.vxml",
        satisfaction=satisfaction if valid else "",
        recommend=recommend if valid else "",
    )


@router.api_route("/demo/voicemail.vxml", methods=["GET", "POST"])
async def voicemail(request: Request) -> Response:
    fields = await posted_fields(request)
    if isinstance(fields, Response):
        return fields
    return vxml(
        "voicemail.vxml",
        message_reference=said(fields, "message_reference"),
        message=said(fields, "call_parameters") or DEFAULT_MESSAGE,
    )


# -- the result inbox -------------------------------------------------------------------


@router.post("/demo/results")
async def receive_result(request: Request) -> Response:
    """A result post: verified and kept for its call's sender.

    200 when the signature checks out (a repeat too), 403 when it does not (the post is
    still listed, marked, for its sender to see), 404 for a call_id this vxdial does not
    know (it belongs to no one: not kept), 400 for a body that is not such a form, 413
    beyond MAX_FORM_BYTES."""
    if not is_form(request):
        return PlainTextResponse(f"a result post is {FORM}", 415)
    try:
        body = await read_body(request, MAX_FORM_BYTES)
        fields = parse_form(body)
    except _TooLarge:
        return PlainTextResponse(f"the body is larger than {MAX_FORM_BYTES} bytes", 413)
    except ValueError:
        return PlainTextResponse(f"the form has more than {MAX_FIELDS} fields", 400)
    # The first call_id, as the page shows it (inbox.Received.field).
    call_id_text = next((value for name, value in fields if name == "call_id"), "")
    if not (_CALL_ID.fullmatch(call_id_text) and 0 < int(call_id_text) <= MAX_CALL_ID):
        return PlainTextResponse("call_id: a call id is required", 400)
    svc = services(request)
    try:
        call = await svc.store.run(svc.store.call, None, int(call_id_text))
        sender = await svc.store.run(svc.store.sender, call.sender_id)
    except errors.NotFound:
        sender = None
    if sender is None:
        return PlainTextResponse(f"call_id: no call {call_id_text}", 404)
    delivery = request.headers.get("x-vxdial-delivery", "")[:128]
    verdict = check_signature(sender.result_secret, body, request.headers.get("x-vxdial-signature"))
    post = inbox_of(request).add(
        sender.id,
        at=svc.clock.now(),
        delivery=delivery,
        signature=verdict,
        fields=tuple(fields),
        body=body,
    )
    log.info(
        "demo.result_received call_id=%s delivery=%s signature=%s times=%d",
        call_id_text,
        delivery or "-",
        verdict.value,
        post.times,
    )
    if verdict is not Signature.GOOD:
        return PlainTextResponse(f"X-Vxdial-Signature: {verdict.value}", 403)
    return PlainTextResponse("received\n")


@router.get("/demo/results")
async def results_page(request: Request) -> Response:
    session = await web.current_session(request)
    inbox = inbox_of(request)
    posts = [] if session is None else inbox.posts(session.sender.id)
    response = html(
        request,
        "results.html",
        posts=posts,
        per_sender=inbox.per_sender,
        refresh_s=REFRESH_S,
    )
    if session is not None:
        # Watch results arrive (no script needed; the page's policy forbids inline ones).
        response.headers["Refresh"] = str(REFRESH_S)
    return response
