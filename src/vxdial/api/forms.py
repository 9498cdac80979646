"""Reading form posts (urlencoded or multipart) with a cap on the body's size.

The cap is enforced while the body streams in, so an oversized upload is refused
after ``max_bytes`` have arrived, not after it has filled the disk. Files are spooled
to a temporary file by Starlette (python-multipart), so memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Message

from vxdial.domain import errors

# The Plum fields are at most 255 characters; a phone_list sent as a plain field (not
# a file) may use the rest. Bounds what an unauthenticated post can make us hold.
MAX_FIELDS = 40
MAX_FIELD_BYTES = 256 * 1024


class BodyTooLarge(errors.InvalidInput):
    def __init__(self, field: str, max_bytes: int) -> None:
        super().__init__(field, f"the upload is larger than the limit of {_size(max_bytes)}")
        self.max_bytes = max_bytes


@dataclass
class Form:
    fields: dict[str, str]
    files: dict[str, UploadFile]

    async def aclose(self) -> None:
        for upload in self.files.values():
            await upload.close()


async def read_form(request: Request, *, max_bytes: int, too_large_field: str) -> Form:
    """The fields and files of a POST; ``InvalidInput`` for a body we cannot read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(too_large_field, max_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                raise BodyTooLarge(too_large_field, max_bytes)
        try:
            pairs = parse_qsl(
                body.decode("utf-8"),
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=MAX_FIELDS,
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise errors.InvalidInput("request", f"the form cannot be read: {exc}") from None
        return Form(dict(pairs), {})
    if content_type == "multipart/form-data":
        received = 0
        receive = request.receive

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise BodyTooLarge(too_large_field, max_bytes)
            return message

        limited = Request(request.scope, counting_receive)
        try:
            data = await limited.form(
                max_files=10, max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES
            )
        except MultiPartException as exc:
            raise errors.InvalidInput(
                "request", f"the form cannot be read: {exc.message}"
            ) from None
        except HTTPException as exc:
            # Starlette reports a malformed multipart body as HTTP 400; our edges answer
            # in their own format (the Plum services: HTTP 200 XML).
            raise errors.InvalidInput("request", f"the form cannot be read: {exc.detail}") from None
        fields: dict[str, str] = {}
        files: dict[str, UploadFile] = {}
        for name, value in data.multi_items():
            if isinstance(value, UploadFile):
                files[name] = value
            else:
                fields[name] = value
        return Form(fields, files)
    raise errors.InvalidInput(
        "request",
        "send the fields as application/x-www-form-urlencoded or multipart/form-data"
        + (f", not {content_type}" if content_type else ""),
    )


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    return f"{count} bytes"
