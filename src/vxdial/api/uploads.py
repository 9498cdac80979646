"""Taking a phone_list upload's slot as early as its form allows (issue 12, item 3).

A queuecalls.php post is authenticated by fields of its own body. When login and pin
come before the file part (as Plum's examples and HTML forms send them), they are
checked as soon as the file part begins, before a byte of the file is read: a wrong PIN
is refused there, and a right one takes a slot of its sender's (``UploadSlots``). A form
whose file comes first is read under one of the few unauthenticated slots (one per
address), and takes its sender's slot once its login is known at the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from vxdial.domain import campaigns
from vxdial.intake.service import UploadSlot, UploadSlots

Authenticate = Callable[[Mapping[str, str]], Awaitable[campaigns.Sender]]


class UploadGate:
    """The slot of one upload authenticated by its own fields; ``release()`` when done."""

    def __init__(self, slots: UploadSlots, authenticate: Authenticate, address: str | None) -> None:
        self._slots = slots
        self._authenticate = authenticate
        self._address = address
        self._slot: UploadSlot | None = None
        self.sender: campaigns.Sender | None = None

    async def before_file(self, fields: Mapping[str, str]) -> None:
        """``api.forms.read_form``'s hook: the file part begins."""
        if fields.get("login", "").strip() and fields.get("pin", "").strip():
            await self.sender_of(fields)
        else:
            self._hold(self._slots.for_address(self._address))

    async def sender_of(self, fields: Mapping[str, str]) -> campaigns.Sender:
        """The upload's sender, holding one of its slots (``NotAuthorized``,
        ``Unavailable`` when its slots are taken)."""
        if self.sender is None:
            sender = await self._authenticate(fields)
            self._hold(self._slots.for_sender(sender.id))
            self.sender = sender
        return self.sender

    def _hold(self, slot: UploadSlot) -> None:
        slot.__enter__()
        self.release()  # an unauthenticated slot gives way to its sender's
        self._slot = slot

    def release(self) -> None:
        if self._slot is not None:
            self._slot.release()
            self._slot = None
