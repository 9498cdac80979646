"""Reading form posts (urlencoded or multipart) with a cap on the body's size.

The cap is checked against Content-Length before anything is read, and again while the
body streams in (a chunked body has no length), so an oversized post is refused after
``max_bytes`` have arrived, not after it has filled the disk or the memory.

A multipart body is parsed as it arrives (python-multipart's streaming parser), in the
order its parts come: fields are kept in memory (each at most ``MAX_FIELD_BYTES``), file
parts are spooled to a temporary file (memory stays flat). ``before_file`` is called
with the fields read so far just before the first file part's content is read: an upload
checks its login and PIN there, and takes its upload slot, so a client that cannot log
in is refused before its file is read at all (issue 12, item 3). Forms whose file comes
first are still read; the caller decides at ``before_file`` what they may hold.
"""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from tempfile import SpooledTemporaryFile
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers, UploadFile
from starlette.requests import ClientDisconnect, Request

from vxdial.domain import errors

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# The Plum fields are at most 255 characters; a phone_list sent as a plain field (not
# a file) may use the rest. Bounds what an unauthenticated post can make us hold.
MAX_FIELDS = 40
MAX_FIELD_BYTES = 256 * 1024
SPOOL_IN_MEMORY_BYTES = 1024 * 1024  # a file part goes to disk beyond this

BeforeFile = Callable[[Mapping[str, str]], Awaitable[None]]


class BodyTooLarge(errors.TooLarge):
    def __init__(self, field: str, max_bytes: int) -> None:
        super().__init__(field, f"the upload is larger than the limit of {_size(max_bytes)}")
        self.max_bytes = max_bytes


class ClientGone(errors.InvalidInput):
    """The client closed the connection, or the server's body guard gave up on it,
    before the whole form arrived (nobody reads the answer)."""

    def __init__(self) -> None:
        super().__init__("request", "the request ended before its whole body arrived")


@dataclass
class Form:
    fields: dict[str, str]
    files: dict[str, UploadFile]

    async def aclose(self) -> None:
        for upload in self.files.values():
            await upload.close()


async def read_form(
    request: Request,
    *,
    max_bytes: int,
    too_large_field: str,
    max_files: int = 10,
    before_file: BeforeFile | None = None,
) -> Form:
    """The fields and files of a POST; ``InvalidInput`` for a body we cannot read,
    ``BodyTooLarge`` (``errors.TooLarge``) past ``max_bytes``; whatever ``before_file``
    raises stops the reading there."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(too_large_field, max_bytes)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/x-www-form-urlencoded":
            return await _read_urlencoded(request, max_bytes, too_large_field)
        if content_type == "multipart/form-data":
            reader = _MultipartReader(request, max_bytes, too_large_field, max_files, before_file)
            return await reader.read()
        if not content_type:
            return await _read_empty(request, max_bytes, too_large_field)
    except ClientDisconnect:
        raise ClientGone() from None
    raise errors.InvalidInput(
        "request",
        "send the fields as application/x-www-form-urlencoded or multipart/form-data"
        + (f", not {content_type}" if content_type else ""),
    )


async def _read_empty(request: Request, max_bytes: int, too_large_field: str) -> Form:
    """A post without a Content-Type: an empty form if it has no body either."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise BodyTooLarge(too_large_field, max_bytes)
    if received:
        raise errors.InvalidInput(
            "request",
            "send the fields as application/x-www-form-urlencoded or multipart/form-data",
        )
    return Form({}, {})


async def _read_urlencoded(request: Request, max_bytes: int, too_large_field: str) -> Form:
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


@dataclass
class _Part:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    name: str = ""
    filename: str | None = None
    data: bytearray = field(default_factory=bytearray)
    upload: UploadFile | None = None


class _MultipartReader:
    """One multipart body, parsed as it streams in. The parser's callbacks (which
    cannot wait) queue what they see; after each chunk the queue is worked off in
    order, awaiting ``before_file`` and the file writes."""

    def __init__(
        self,
        request: Request,
        max_bytes: int,
        too_large_field: str,
        max_files: int,
        before_file: BeforeFile | None,
    ) -> None:
        self._request = request
        self._max_bytes = max_bytes
        self._too_large_field = too_large_field
        self._max_files = max_files
        self._before_file = before_file
        self._charset = "utf-8"
        self._fields: dict[str, str] = {}
        self._files: dict[str, UploadFile] = {}
        self._opened: list[UploadFile] = []
        self._queue: list[tuple[str, _Part, bytes]] = []
        self._part = _Part()
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._field_count = 0
        self._file_count = 0
        self._checked = False

    async def read(self) -> Form:
        _, params = parse_options_header(self._request.headers.get("content-type", ""))
        charset = params.get(b"charset", b"utf-8")
        try:
            self._charset = codecs.lookup(charset.decode("latin-1")).name
        except LookupError:
            self._charset = "latin-1"
        boundary = params.get(b"boundary")
        if not boundary:
            raise errors.InvalidInput("request", "the form cannot be read: no multipart boundary")
        callbacks: MultipartCallbacks = {
            "on_part_begin": self._on_part_begin,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
        }
        received = 0
        try:
            parser = MultipartParser(boundary, callbacks)
            async for chunk in self._request.stream():
                received += len(chunk)
                if received > self._max_bytes:
                    raise BodyTooLarge(self._too_large_field, self._max_bytes)
                parser.write(chunk)
                await self._work_off_queue()
            parser.finalize()
            await self._work_off_queue()
        except FormParserError as exc:
            self._close_all()
            raise errors.InvalidInput("request", f"the form cannot be read: {exc}") from None
        except BaseException:
            self._close_all()
            raise
        return Form(self._fields, self._files)

    async def _work_off_queue(self) -> None:
        queue, self._queue = self._queue, []
        for kind, part, data in queue:
            if kind == "field":
                self._fields[part.name] = _decoded(part.data, self._charset)
            elif kind == "file":
                if self._before_file is not None and not self._checked:
                    self._checked = True
                    await self._before_file(dict(self._fields))
                # Closed by Form.aclose, or by _close_all when reading fails.
                spooled: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(  # noqa: SIM115
                    max_size=SPOOL_IN_MEMORY_BYTES
                )
                part.upload = UploadFile(
                    spooled,  # type: ignore[arg-type]
                    size=0,
                    filename=part.filename,
                    headers=Headers(raw=part.headers),
                )
                self._opened.append(part.upload)
            elif kind == "data":
                assert part.upload is not None
                await part.upload.write(data)
            else:  # the end of a file part
                assert part.upload is not None
                await part.upload.seek(0)
                replaced = self._files.get(part.name)
                if replaced is not None:
                    await replaced.close()
                self._files[part.name] = part.upload

    def _close_all(self) -> None:
        for upload in self._opened:
            upload.file.close()

    # python-multipart's callbacks

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._part.headers.append((bytes(self._header_name).lower(), bytes(self._header_value)))
        self._header_name = bytearray()
        self._header_value = bytearray()

    def _on_headers_finished(self) -> None:
        part = self._part
        disposition = next((v for k, v in part.headers if k == b"content-disposition"), b"")
        _, options = parse_options_header(disposition)
        if b"name" not in options:
            raise _invalid('a part\'s Content-Disposition has no "name"')
        part.name = _decoded(options[b"name"], self._charset)
        if b"filename" in options:
            self._file_count += 1
            if self._file_count > self._max_files:
                raise _invalid(f"more than {self._max_files} files")
            part.filename = _decoded(options[b"filename"], self._charset)
            self._queue.append(("file", part, b""))
        else:
            self._field_count += 1
            if self._field_count > MAX_FIELDS:
                raise _invalid(f"more than {MAX_FIELDS} fields")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part.filename is not None:
            self._queue.append(("data", part, data[start:end]))
            return
        if len(part.data) + end - start > MAX_FIELD_BYTES:
            raise _invalid(f'field "{part.name[:40]}" is larger than {_size(MAX_FIELD_BYTES)}')
        part.data += data[start:end]

    def _on_part_end(self) -> None:
        part = self._part
        self._queue.append(("end" if part.filename is not None else "field", part, b""))


def _invalid(reason: str) -> Any:
    return errors.InvalidInput("request", f"the form cannot be read: {reason}")


def _decoded(raw: bytes | bytearray, charset: str) -> str:
    """A part's text as Starlette decodes it: in the form's charset, else Latin-1."""
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    return f"{count} bytes"
