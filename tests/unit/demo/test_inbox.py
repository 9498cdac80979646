"""vxdial.demo.inbox: signatures checked against the raw body, repeats folded, bounds."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from vxdial.demo.inbox import Inbox, Signature, check_signature

SECRET = "s3cret-of-alice"
BODY = b"call_id=7&result=completed&message_reference=A%2B42"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def signed(body: bytes, secret: str = SECRET) -> str:
    """As a customer's handler computes it (PRODUCT.md section 3), independently of
    vxdial's own signing code."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_signature_is_the_hmac_of_the_raw_body() -> None:
    assert check_signature(SECRET, BODY, signed(BODY)) is Signature.GOOD
    assert check_signature(SECRET, BODY, signed(BODY).upper().replace("SHA256=", "sha256=")) is (
        Signature.GOOD
    )  # hex digits in either case
    assert check_signature(SECRET, BODY, None) is Signature.MISSING
    assert check_signature(SECRET, BODY, "") is Signature.BAD
    assert check_signature(SECRET, BODY, signed(BODY, "another secret")) is Signature.BAD
    assert check_signature(SECRET, BODY, signed(BODY)[len("sha256=") :]) is Signature.BAD
    # The same fields encoded otherwise (a "+" for the space, fields reordered) are other
    # bytes: what was signed is the body as sent, not its meaning.
    assert check_signature(SECRET, BODY.replace(b"%2B", b"+"), signed(BODY)) is Signature.BAD


def add(
    inbox: Inbox,
    sender_id: int,
    delivery: str,
    *,
    body: bytes = BODY,
    at: datetime = T0,
    signature: Signature = Signature.GOOD,
) -> None:
    inbox.add(
        sender_id,
        at=at,
        delivery=delivery,
        signature=signature,
        fields=(("call_id", "7"), ("delivery", delivery)),
        body=body,
    )


def test_posts_newest_first_and_repeats_of_a_delivery_counted_once() -> None:
    inbox = Inbox()
    add(inbox, 1, "d-1", at=T0)
    add(inbox, 1, "d-2", at=T0 + timedelta(seconds=1))
    add(inbox, 1, "d-1", at=T0 + timedelta(seconds=2))  # at-least-once: a repeat
    posts = inbox.posts(1)
    assert [p.delivery for p in posts] == ["d-2", "d-1"]
    assert [p.times for p in posts] == [1, 2]
    assert posts[1].received_at == T0 and posts[1].last_received_at == T0 + timedelta(seconds=2)
    assert posts[1].field("call_id") == "7" and posts[1].field("absent") == ""
    assert inbox.posts(2) == []


def test_a_forged_copy_of_a_delivery_id_gets_a_line_of_its_own() -> None:
    inbox = Inbox()
    add(inbox, 1, "d-1")
    add(inbox, 1, "d-1", body=b"call_id=7&result=failed", signature=Signature.BAD)
    add(inbox, 1, "d-1", body=b"call_id=7&result=canceled", signature=Signature.BAD)
    posts = inbox.posts(1)
    assert [(p.signature, p.times) for p in posts] == [
        (Signature.BAD, 1),
        (Signature.BAD, 1),
        (Signature.GOOD, 1),
    ]


def test_posts_without_a_delivery_id_are_each_listed() -> None:
    inbox = Inbox()
    add(inbox, 1, "")
    add(inbox, 1, "")
    assert [p.times for p in inbox.posts(1)] == [1, 1]


def test_the_inbox_is_bounded_per_sender_and_in_senders() -> None:
    inbox = Inbox(per_sender=3, max_senders=2)
    for n in range(5):
        add(inbox, 1, f"d-{n}")
    assert [p.delivery for p in inbox.posts(1)] == ["d-4", "d-3", "d-2"]
    add(inbox, 2, "x")
    add(inbox, 1, "d-5")  # sender 1 posted for last: sender 2 is the one to go
    add(inbox, 3, "y")
    assert inbox.posts(2) == []
    assert [p.delivery for p in inbox.posts(1)] == ["d-5", "d-4", "d-3"]
    assert [p.delivery for p in inbox.posts(3)] == ["y"]
