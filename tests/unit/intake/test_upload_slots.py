"""UploadSlots: a total for senders, a share per sender, and separate slots (one per
address) for uploads read before their sender is known."""

from __future__ import annotations

import pytest

from vxdial.domain import errors
from vxdial.intake.service import UploadSlots


def test_a_sender_has_its_share_and_all_senders_the_total() -> None:
    slots = UploadSlots(total=3, per_sender=2, unauthenticated=1)
    held = [slots.for_sender(1).__enter__(), slots.for_sender(1).__enter__()]
    with pytest.raises(errors.Unavailable, match="already uploading 2 phone lists"):
        slots.for_sender(1).__enter__()
    held.append(slots.for_sender(2).__enter__())
    with pytest.raises(errors.Unavailable, match="too many phone lists are being uploaded;"):
        slots.for_sender(3).__enter__()
    held[0].release()
    held[0].release()  # once only
    assert slots.in_use() == (2, 0)
    with slots.for_sender(3):
        assert slots.in_use() == (3, 0)
    assert slots.in_use() == (2, 0)


def test_unauthenticated_uploads_have_their_own_slots_one_per_address() -> None:
    slots = UploadSlots(total=1, per_sender=1, unauthenticated=2)
    first = slots.for_address("2001:db8::1").__enter__()
    with pytest.raises(errors.Unavailable, match="before their login and PIN"):
        slots.for_address("2001:db8::2").__enter__()  # the same /64
    slots.for_address("192.0.2.1").__enter__()
    with pytest.raises(errors.Unavailable, match="before their login and PIN"):
        slots.for_address("192.0.2.2").__enter__()  # all taken
    assert slots.for_sender(7).__enter__() is not None  # senders are not held up
    first.release()
    assert slots.in_use() == (1, 1)


def test_no_unauthenticated_uploads_at_all() -> None:
    slots = UploadSlots(total=1, per_sender=1, unauthenticated=0)
    with pytest.raises(errors.Unavailable):
        slots.for_address("192.0.2.1").__enter__()
