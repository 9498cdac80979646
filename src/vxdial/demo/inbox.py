"""The demo result inbox: result posts kept in memory, their signatures checked.

A customer's result_url handler must check ``X-Vxdial-Signature`` (PRODUCT.md section
3: ``sha256=`` and the hex HMAC-SHA256 of the raw body under the sender's secret) and
drop repeats by ``X-Vxdial-Delivery`` (delivery is at least once). The inbox does both,
as such a handler would, and keeps what it received for the page ``/demo/results``.

How it verifies: the post names its ``call_id``; the route looks the call up in the
store, takes its sender's current result secret, and hands it here with the raw bytes
of the body (not a re-encoding of the parsed fields: a handler that verifies what it
parsed would accept a body changed in transit). The comparison is constant-time.

Bounds: at most ``per_sender`` posts per sender (the oldest go first) and
``max_senders`` senders (the least recently posted-for go first); a post names any
call_id it likes, so a forger can fill a sender's inbox with posts marked "bad", never
hide one or pass as "good". Pure: no I/O, no clock (the caller says when).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Inbox", "Received", "Signature", "check_signature"]

SIGNATURE_PREFIX = "sha256="


class Signature(enum.Enum):
    """What the ``X-Vxdial-Signature`` of a post says about it."""

    GOOD = "good"  # the HMAC of the body under the sender's secret
    BAD = "bad"  # present, but not that HMAC (another secret, or a changed body)
    MISSING = "missing"  # no signature header at all


def check_signature(secret: str, body: bytes, header: str | None) -> Signature:
    """The verdict on ``header`` (the ``X-Vxdial-Signature`` value) for ``body``."""
    if header is None:
        return Signature.MISSING
    expected = SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = header.strip().lower()
    return Signature.GOOD if hmac.compare_digest(given, expected) else Signature.BAD


@dataclass
class Received:
    """One result post (the first of its repeats) as the page lists it."""

    number: int  # in order of arrival, across the inbox
    received_at: datetime
    last_received_at: datetime
    delivery: str  # X-Vxdial-Delivery ("" when the post had none)
    signature: Signature
    fields: tuple[tuple[str, str], ...]  # the form fields, in the order posted
    body_bytes: int
    times: int = 1  # how many times this delivery arrived (repeats are not listed again)

    def field(self, name: str) -> str:
        return next((value for key, value in self.fields if key == name), "")


class Inbox:
    """Result posts by sender, newest first, repeats of a delivery folded into one."""

    def __init__(self, *, per_sender: int = 100, max_senders: int = 1000) -> None:
        self.per_sender = per_sender
        self.max_senders = max_senders
        # sender id -> (dedup key -> post), oldest first.
        self._by_sender: OrderedDict[int, OrderedDict[tuple[str, ...], Received]] = OrderedDict()
        self._numbers = itertools.count(1)

    def add(
        self,
        sender_id: int,
        *,
        at: datetime,
        delivery: str,
        signature: Signature,
        fields: tuple[tuple[str, str], ...],
        body: bytes,
    ) -> Received:
        """Keep a post; a repeat of one kept (same delivery, same verdict, same body) only
        counts. A post that does not verify never folds into one that does: a forger who
        copies a delivery id gets a line of its own, marked."""
        number = next(self._numbers)
        key = (
            (delivery, signature.value, hashlib.sha256(body).hexdigest())
            if delivery
            else (f"#{number}",)  # nothing to deduplicate by
        )
        posts = self._by_sender.get(sender_id)
        if posts is None:
            posts = self._by_sender[sender_id] = OrderedDict()
            while len(self._by_sender) > self.max_senders:
                self._by_sender.popitem(last=False)
        self._by_sender.move_to_end(sender_id)
        kept = posts.get(key)
        if kept is not None:
            kept.times += 1
            kept.last_received_at = at
            return kept
        kept = Received(
            number=number,
            received_at=at,
            last_received_at=at,
            delivery=delivery,
            signature=signature,
            fields=fields,
            body_bytes=len(body),
        )
        posts[key] = kept
        while len(posts) > self.per_sender:
            posts.popitem(last=False)
        return kept

    def posts(self, sender_id: int) -> list[Received]:
        """The sender's posts, newest first."""
        return list(reversed(self._by_sender.get(sender_id, {}).values()))
