"""The XML answers of queuecall.php / queuecalls.php, as PRODUCT.md section 2 shows them.

Always HTTP 200 and text/xml: existing clients look for the word "failed". Values are
escaped, and characters XML 1.0 cannot carry at all (C0 controls other than tab, CR and
LF, surrogates, U+FFFE and U+FFFF; section 2.2, "Char") are written as ``\\uXXXX``, so
an answer always parses; the PIN is never part of an answer.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import IO
from xml.sax import saxutils

import anyio.to_thread

from vxdial.domain import calls, errors

PROLOG = '<?xml version="1.0"?>\n'
CHUNK = 256 * 1024
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _spell(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape(text: str) -> str:
    """``text`` as XML character data."""
    return saxutils.escape(_NOT_XML.sub(_spell, text))


def quoteattr(text: str) -> str:
    """``text`` as a quoted XML attribute value."""
    return saxutils.quoteattr(_NOT_XML.sub(_spell, text))


def queued_call(
    *,
    call_id: int,
    login: str,
    phone_number: str,
    start_url: str,
    scheduled_timestamp: int,
    expiration_timestamp: int,
) -> str:
    return (
        f'{PROLOG}<queuecall status="queued" call_id="{call_id}">\n'
        f"  <login>{escape(login)}</login>\n"
        f"  <phone_number>{escape(phone_number)}</phone_number>\n"
        f"  <start_url>{escape(start_url)}</start_url>\n"
        f"  <scheduled_timestamp>{scheduled_timestamp}</scheduled_timestamp>\n"
        f"  <expiration_timestamp>{expiration_timestamp}</expiration_timestamp>\n"
        "</queuecall>\n"
    )


def failed(root: str, problems: Sequence[tuple[str, str]]) -> str:
    """``<root status="failed">`` with one ``<error field=...>`` per (field, reason)."""
    lines = [f'{PROLOG}<{root} status="failed">']
    lines += [
        f"  <error field={quoteattr(field)}>{escape(reason)}</error>" for field, reason in problems
    ]
    lines.append(f"</{root}>\n")
    return "\n".join(lines)


def problems_of(exc: errors.VxdialError) -> list[tuple[str, str]]:
    """(field, reason) pairs for an error, in the order they were found."""
    if isinstance(exc, errors.InvalidInputs):
        return [(p.field, p.reason) for p in exc.problems]
    if isinstance(exc, errors.InvalidInput | errors.Conflict):
        return [(exc.field, exc.reason)]
    if isinstance(exc, errors.NotAuthorized):
        return [("login", exc.reason)]
    return [("request", str(exc) or type(exc).__name__)]


class CampaignAnswer:
    """The queuecalls answer, built while the upload is stored (an ``intake.UploadReport``).

    Its call and rejected lines are spooled to temporary files (memory, then disk past
    1 MiB) as each batch is stored, and streamed back afterwards: a million-line
    answer never sits in memory and costs no second pass over the database.
    """

    def __init__(self) -> None:
        # Closed by close(), which the response calls once it is sent.
        self._calls = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
        self._rejected = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115

    def queued(self, new_calls: Sequence[calls.NewCall], call_ids: Sequence[int]) -> None:
        self._calls.write(
            "".join(
                f'  <call line="{c.line}" call_id="{i}" phone_number="{c.phone_number}"/>\n'
                for c, i in zip(new_calls, call_ids, strict=True)
            ).encode()
        )

    def rejected(self, rejections: Sequence[tuple[int, str]]) -> None:
        self._rejected.write(
            "".join(
                f'  <rejected line="{line}">{escape(reason)}</rejected>\n'
                for line, reason in rejections
            ).encode()
        )

    async def stream(
        self, *, campaign_id: int, campaign_name: str, calls_queued: int, lines_rejected: int
    ) -> AsyncIterator[bytes]:
        yield (
            f'{PROLOG}<queuecalls status="queued" campaign_id="{campaign_id}" '
            f'campaign_name={quoteattr(campaign_name)} calls_queued="{calls_queued}" '
            f'lines_rejected="{lines_rejected}">\n'
        ).encode()
        for spool in (self._calls, self._rejected):
            async for chunk in self._replay(spool):
                yield chunk
        yield b"</queuecalls>\n"

    async def stream_failed(self, problems: Sequence[tuple[str, str]]) -> AsyncIterator[bytes]:
        """A failed answer with every rejected line (an upload of which none was good)."""
        yield f'{PROLOG}<queuecalls status="failed">\n'.encode()
        yield "".join(
            f"  <error field={quoteattr(field)}>{escape(reason)}</error>\n"
            for field, reason in problems
        ).encode()
        async for chunk in self._replay(self._rejected):
            yield chunk
        yield b"</queuecalls>\n"

    @staticmethod
    async def _replay(spool: IO[bytes]) -> AsyncIterator[bytes]:
        spool.seek(0)
        while chunk := await anyio.to_thread.run_sync(spool.read, CHUNK):
            yield chunk

    def close(self) -> None:
        self._calls.close()
        self._rejected.close()
