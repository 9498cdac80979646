"""The XML answers of queuecall.php / queuecalls.php, as PRODUCT.md section 2 shows them.

Always HTTP 200 and text/xml: existing clients look for the word "failed". Values are
escaped; the PIN is never part of an answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

from vxdial.domain import errors

PROLOG = '<?xml version="1.0"?>\n'


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


def failed(
    root: str,
    problems: Sequence[tuple[str, str]],
    rejected: Iterable[tuple[int, str]] = (),
) -> str:
    """``<root status="failed">`` with one ``<error field=...>`` per (field, reason)."""
    lines = [f'{PROLOG}<{root} status="failed">']
    lines += [
        f"  <error field={quoteattr(field)}>{escape(reason)}</error>" for field, reason in problems
    ]
    lines += [f'  <rejected line="{line}">{escape(reason)}</rejected>' for line, reason in rejected]
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


async def queued_campaign(
    *,
    campaign_id: int,
    campaign_name: str,
    calls_queued: int,
    lines_rejected: int,
    call_pages: Callable[[int], Awaitable[Sequence[tuple[int, int | None, str]]]],
    rejection_pages: Callable[[int], Awaitable[Sequence[tuple[int, str]]]],
) -> AsyncIterator[bytes]:
    """The queuecalls answer, streamed a page at a time: a million lines never sit in memory.

    ``call_pages(after_id)`` and ``rejection_pages(after_line)`` return the next page
    (empty when done).
    """
    yield (
        f'{PROLOG}<queuecalls status="queued" campaign_id="{campaign_id}" '
        f'campaign_name={quoteattr(campaign_name)} calls_queued="{calls_queued}" '
        f'lines_rejected="{lines_rejected}">\n'
    ).encode()
    after = 0
    while page := await call_pages(after):
        yield "".join(
            f'  <call line="{line}" call_id="{call_id}" phone_number="{number}"/>\n'
            for call_id, line, number in page
        ).encode()
        after = page[-1][0]
    after = 0
    while rejected := await rejection_pages(after):
        yield "".join(
            f'  <rejected line="{line}">{escape(reason)}</rejected>\n' for line, reason in rejected
        ).encode()
        after = rejected[-1][0]
    yield b"</queuecalls>\n"
