"""The Plum-compatible web services: queuecall.php and queuecalls.php.

Mounted at ``/webservice/`` and at ``/outbound/webservice/`` (Plum's turnkey layout).
Every answer is HTTP 200 text/xml (see ``answers``); errors are rendered here, once.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import BinaryIO

from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from vxdial import intake
from vxdial.api.forms import Form, read_form
from vxdial.api.plum import answers
from vxdial.api.uploads import UploadGate
from vxdial.domain import campaigns, errors
from vxdial.domain.clock import to_epoch_s
from vxdial.services import Services

router = APIRouter(include_in_schema=False)

PREFIXES = ("/webservice", "/outbound/webservice")
XML = "text/xml"
INTERNAL_ERROR = "an internal error stopped this request; see the server log"
log = logging.getLogger("vxdial.plum")
QUEUECALL_MAX_BYTES = 64 * 1024


def _xml(body: str) -> Response:
    return Response(body, status_code=200, media_type=XML)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _authenticate(
    services: Services, fields: Mapping[str, str], request: Request
) -> campaigns.Sender:
    login = fields.get("login", "").strip()
    pin = fields.get("pin", "").strip()
    missing = [
        errors.InvalidInput(name, "is required")
        for name, value in (("login", login), ("pin", pin))
        if not value
    ]
    if missing:
        raise errors.InvalidInputs(missing)
    address = request.client.host if request.client else None
    return await services.authenticator.authenticate(
        login, pin, address, role=campaigns.Role.SENDER
    )


async def queuecall(request: Request) -> Response:
    services = _services(request)
    form: Form | None = None
    try:
        if request.method != "POST":
            raise errors.InvalidInput("request", "queuecall.php takes a POST")
        form = await read_form(request, max_bytes=QUEUECALL_MAX_BYTES, too_large_field="request")
        sender = await _authenticate(services, form.fields, request)
        checked = intake.parse_call_request(
            form.fields, now=services.clock.now(), zone=services.settings.zone
        )
        queued = await services.intake.queue_call(sender, checked)
    except errors.VxdialError as exc:
        services.counters.count_plum("queuecall", "failed")
        return _xml(answers.failed("queuecall", answers.problems_of(exc)))
    except Exception:
        # Still the Plum answer (HTTP 200, "failed"): clients look for that word.
        log.exception("plum.queuecall_failed")
        services.counters.count_plum("queuecall", "failed")
        return _xml(answers.failed("queuecall", [("request", INTERNAL_ERROR)]))
    finally:
        if form is not None:
            await form.aclose()
    services.counters.count_plum("queuecall", "queued")
    assert form is not None
    expires = queued.settings.expires_at
    return _xml(
        answers.queued_call(
            call_id=queued.call_id,
            login=sender.login,
            # As the client sent it (Plum's own answer shows "+1234567890;ani=8001234567");
            # the E.164 digits are the API's.
            phone_number=form.fields["phone_number"],
            start_url=queued.settings.start_url,
            scheduled_timestamp=to_epoch_s(queued.settings.scheduled_at),
            expiration_timestamp=0 if expires is None else to_epoch_s(expires),
        )
    )


async def queuecalls(request: Request) -> Response:
    services = _services(request)
    form: Form | None = None
    answer: answers.CampaignAnswer | None = None

    async def authenticate(fields: Mapping[str, str]) -> campaigns.Sender:
        return await _authenticate(services, fields, request)

    # Login and PIN are checked, and the sender's upload slot taken, as soon as they
    # have arrived before the file part (api/uploads.py).
    gate = UploadGate(
        services.intake.upload_slots,
        authenticate,
        request.client.host if request.client else None,
    )
    try:
        if request.method != "POST":
            raise errors.InvalidInput("request", "queuecalls.php takes a POST")
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise errors.InvalidInput(
                "phone_list", "must be uploaded as a file: POST multipart/form-data"
            )
        form = await read_form(
            request,
            max_bytes=services.settings.intake.max_upload_bytes,
            too_large_field="phone_list",
            before_file=gate.before_file,
        )
        sender = await gate.sender_of(form.fields)
        phone_list = _phone_list(form)
        checked = intake.parse_campaign_request(
            form.fields,
            now=services.clock.now(),
            zone=services.settings.zone,
            has_phone_list=phone_list is not None,
        )
        assert phone_list is not None
        answer = answers.CampaignAnswer()
        upload = await services.intake.queue_campaign(sender, checked, phone_list, report=answer)
    except intake.NoGoodLines as exc:
        services.counters.count_plum("queuecalls", "failed")
        assert answer is not None
        return StreamingResponse(
            answer.stream_failed([(exc.field, exc.reason)]),
            media_type=XML,
            background=BackgroundTask(answer.close),
        )
    except errors.VxdialError as exc:
        services.counters.count_plum("queuecalls", "failed")
        if answer is not None:
            answer.close()
        return _xml(answers.failed("queuecalls", answers.problems_of(exc)))
    except Exception:
        log.exception("plum.queuecalls_failed")
        services.counters.count_plum("queuecalls", "failed")
        if answer is not None:
            answer.close()
        return _xml(answers.failed("queuecalls", [("request", INTERNAL_ERROR)]))
    except BaseException:
        if answer is not None:
            answer.close()
        raise
    finally:
        gate.release()
        if form is not None:
            await form.aclose()
    services.counters.count_plum("queuecalls", "queued")
    return StreamingResponse(
        answer.stream(
            campaign_id=upload.campaign.id,
            campaign_name=upload.campaign.name,
            calls_queued=upload.calls_queued,
            lines_rejected=upload.lines_rejected,
        ),
        media_type=XML,
        background=BackgroundTask(answer.close),
    )


def refused_answer(path: str, reason: str) -> Response | None:
    """The answer of a request to a Plum service that the HTTP edge refused (its body
    came too slowly): still HTTP 200 ``status="failed"``, which Plum clients look for;
    None if ``path`` is no Plum service."""
    for prefix in PREFIXES:
        for endpoint in ("queuecall", "queuecalls"):
            if path == f"{prefix}/{endpoint}.php":
                return _xml(answers.failed(endpoint, [("request", reason)]))
    return None


def _phone_list(form: Form) -> BinaryIO | None:
    """The uploaded list (a file part, or a plain field holding the list), or None."""
    upload = form.files.get("phone_list")
    if upload is not None:
        upload.file.seek(0)
        return upload.file
    text = form.fields.get("phone_list")
    if text:
        return io.BytesIO(text.encode("utf-8"))
    return None


for prefix in PREFIXES:
    # Plain Starlette routes: no FastAPI parameter machinery on the hot path.
    router.add_route(f"{prefix}/queuecall.php", queuecall, methods=["POST", "GET"])
    router.add_route(f"{prefix}/queuecalls.php", queuecalls, methods=["POST", "GET"])
