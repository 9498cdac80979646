"""``Intake``: accepting calls and campaigns once their fields are checked.

It probes the URLs, queues the call, or streams a phone_list into a new campaign in
batches. A campaign stays ``loading`` (invisible, never dialed) until its last batch
is stored and is then made ``active`` in one transaction; if the process dies half
way, start-up deletes the leftovers, and the client, which never got an answer, sends
the list again. Nothing acknowledged is ever lost, and nothing is half-accepted.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol

import anyio.to_thread

from vxdial.config import IntakeSettings
from vxdial.domain import calls, campaigns, errors
from vxdial.domain.clock import Clock
from vxdial.domain.network import address_key
from vxdial.intake.fields import CallRequest, CampaignRequest
from vxdial.intake.phonelist import Rejected, read_phone_list
from vxdial.intake.probe import UrlProbe
from vxdial.store import CallToQueue, GroupCommit, Store

# How long a request holding an Idempotency-Key may run before a retry may take it over.
IDEMPOTENCY_HOLD = timedelta(minutes=15)
# How long a used Idempotency-Key is remembered.
IDEMPOTENCY_KEEP = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class QueuedCall:
    call_id: int
    campaign_id: int
    settings: calls.CallSettings
    replayed: bool = False  # an Idempotency-Key replay: nothing new was queued


@dataclass(frozen=True, slots=True)
class CampaignUpload:
    campaign: campaigns.Campaign
    calls_queued: int
    lines_rejected: int
    replayed: bool = False


class UploadReport(Protocol):
    """Told, batch by batch and in line order, what became of each line of an upload.

    Called from the thread that stores the batches: implementations must not block
    the event loop's objects (the Plum answer spools to a temporary file).
    """

    def queued(self, new_calls: Sequence[calls.NewCall], call_ids: Sequence[int]) -> None: ...

    def rejected(self, rejections: Sequence[tuple[int, str]]) -> None: ...


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """The ``Idempotency-Key`` of a JSON API request, with what identifies the request."""

    key: str
    endpoint: str
    request_hash: str

    @classmethod
    def of(
        cls, key: str, endpoint: str, fields: Mapping[str, object], body_digest: str = ""
    ) -> IdempotencyKey:
        material = (
            json.dumps({k: fields[k] for k in sorted(fields)}, default=str, sort_keys=True)
            + body_digest
        )
        return cls(key, endpoint, hashlib.sha256(material.encode()).hexdigest())


class Intake:
    def __init__(
        self, store: Store, clock: Clock, probe: UrlProbe, settings: IntakeSettings
    ) -> None:
        self._store = store
        self._clock = clock
        self._probe = probe
        self._settings = settings
        self._default_campaigns: dict[int, int] = {}
        self.upload_slots = UploadSlots(
            total=settings.max_concurrent_uploads,
            per_sender=settings.max_uploads_per_sender,
            unauthenticated=settings.max_unauthenticated_uploads,
        )
        self._single_calls: GroupCommit[CallToQueue, int] = GroupCommit(
            lambda group: store.run(store.queue_calls, group)
        )
        self.lines_queued = 0  # read by the metrics
        self.lines_rejected = 0

    async def housekeep(self) -> tuple[int, int]:
        """Drop uploads a dead process left half done and expired idempotency keys.

        Returns (uploads discarded, keys expired). Run at start-up and periodically.
        """
        now = self._clock.now()
        uploads = await self._store.run(self._store.discard_unfinished_uploads, now)
        keys = await self._store.run(self._store.expire_idempotency_keys, now - IDEMPOTENCY_KEEP)
        return uploads, keys

    async def check_urls(self, settings: calls.CallSettings) -> None:
        """Probe start_url and result_url; raises ``InvalidInputs`` naming the failures."""
        problems: list[errors.InvalidInput] = []
        targets = [("start_url", settings.start_url)]
        if settings.result_url:
            targets.append(("result_url", settings.result_url))
        for name, url in targets:
            try:
                await self._probe.check(name, url)
            except errors.InvalidInput as exc:
                problems.append(exc)
        if problems:
            raise errors.InvalidInputs(problems)

    async def queue_call(
        self,
        sender: campaigns.Sender,
        request: CallRequest,
        *,
        idempotency: IdempotencyKey | None = None,
    ) -> QueuedCall:
        """Queue one call in the sender's ``default`` campaign."""
        if idempotency is not None:
            replay = await self._claim(sender, idempotency)
            if replay is not None:
                call = await self._store.run(self._store.call, sender.id, replay)
                return QueuedCall(call.id, call.campaign_id, call.settings, replayed=True)
        submitted = False
        try:
            await self.check_urls(request.settings)
            now = self._clock.now()
            settings = _not_before(request.settings, now)
            default_id = await self._default_campaign_id(sender)
            submitted = True
            call_id = await self._single_calls.submit(
                CallToQueue(
                    sender_id=sender.id,
                    campaign_id=default_id,
                    call=request.call,
                    settings=settings,
                    now=now,
                    idempotency_key=None if idempotency is None else idempotency.key,
                )
            )
        except Exception:
            # A check failed, or the write failed and rolled back: the key is free again.
            if idempotency is not None:
                with anyio.CancelScope(shield=True):
                    await self._release(sender, idempotency)
            raise
        except BaseException:
            # Cancelled. Once handed to the group write, the call may yet be committed
            # (recording the key with it): only an unsubmitted request frees its key.
            if idempotency is not None and not submitted:
                with anyio.CancelScope(shield=True):
                    await self._release(sender, idempotency)
            raise
        self.lines_queued += 1
        return QueuedCall(call_id, default_id, settings)

    async def _default_campaign_id(self, sender: campaigns.Sender) -> int:
        # A sender's default campaign never changes once it exists: look it up once.
        found = self._default_campaigns.get(sender.id)
        if found is None:
            campaign = await self._store.run(
                self._store.default_campaign, sender.id, self._clock.now()
            )
            found = self._default_campaigns[sender.id] = campaign.id
        return found

    async def queue_campaign(
        self,
        sender: campaigns.Sender,
        request: CampaignRequest,
        phone_list: BinaryIO,
        *,
        idempotency: IdempotencyKey | None = None,
        report: UploadReport | None = None,
    ) -> CampaignUpload:
        """Create a campaign from a phone_list; ``InvalidInput("phone_list")`` if no line is good.

        The rejected lines are stored with the campaign (``Store.campaign_rejections``).
        """
        if idempotency is not None:
            replay = await self._claim(sender, idempotency)
            if replay is not None:
                return await self._replayed_upload(sender, replay)
        try:
            await self.check_urls(request.settings)
            now = self._clock.now()
            campaign = await self._store.run(
                self._store.start_campaign_upload,
                sender_id=sender.id,
                name=request.campaign_name,
                settings=_not_before(request.settings, now),
                now=now,
            )
            try:
                queued, rejected = await anyio.to_thread.run_sync(
                    self._load, sender, campaign, request, phone_list, report
                )
                if queued == 0:
                    raise errors.InvalidInput(
                        "phone_list",
                        "no line could be queued"
                        if rejected
                        else "is empty: it must list one phone number a line",
                    )
                await self._store.run(
                    self._store.finish_campaign_upload,
                    campaign.id,
                    self._clock.now(),
                    idempotency_key=None if idempotency is None else (sender.id, idempotency.key),
                )
            except errors.InvalidInput as exc:
                await self._store.run(self._store.discard_campaign_upload, campaign.id)
                raise NoGoodLines(exc.field, exc.reason, rejected) from None
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._store.run(self._store.discard_campaign_upload, campaign.id)
                raise
        except BaseException:
            if idempotency is not None:
                with anyio.CancelScope(shield=True):
                    await self._release(sender, idempotency)
            raise
        self.lines_queued += queued
        self.lines_rejected += rejected
        return CampaignUpload(campaign, queued, rejected)

    def _load(
        self,
        sender: campaigns.Sender,
        campaign: campaigns.Campaign,
        request: CampaignRequest,
        phone_list: BinaryIO,
        report: UploadReport | None,
    ) -> tuple[int, int]:
        """Read the list and store it batch by batch (on a worker thread); returns
        (queued, rejected).

        Parsing and storing take turns on one thread: a second thread storing while
        this one parses was measured no faster (the drivers give the GIL back and
        take it again for every row, so the two threads mostly wait on each other;
        BENCHMARKS.md), and one thread is simpler.
        """
        batch_size = self._settings.ingest_batch_size
        queued = rejected = 0
        good: list[calls.NewCall] = []
        bad: list[tuple[int, str]] = []
        for item in read_phone_list(
            phone_list,
            message_reference=request.message_reference,
            call_parameters=request.call_parameters,
            caller_id=request.caller_id,
        ):
            if type(item) is Rejected:
                bad.append((item.line, item.reason))
            else:
                good.append(item)  # type: ignore[arg-type]
            if len(good) + len(bad) >= batch_size:
                self._store_batch(sender, campaign, good, bad, report)
                queued += len(good)
                rejected += len(bad)
                good, bad = [], []
        if good or bad:
            self._store_batch(sender, campaign, good, bad, report)
            queued += len(good)
            rejected += len(bad)
        return queued, rejected

    def _store_batch(
        self,
        sender: campaigns.Sender,
        campaign: campaigns.Campaign,
        good: list[calls.NewCall],
        bad: list[tuple[int, str]],
        report: UploadReport | None,
    ) -> None:
        call_ids = self._store.add_campaign_batch(
            sender_id=sender.id,
            campaign=campaign,
            new_calls=good,
            rejections=bad,
            now=self._clock.now(),
        )
        if report is not None:
            report.queued(good, call_ids)
            report.rejected(bad)

    async def _claim(self, sender: campaigns.Sender, idempotency: IdempotencyKey) -> int | None:
        """Claim the key; the id of what an earlier identical request created, or None."""
        held = await self._store.run(
            self._store.reserve_idempotency_key,
            sender_id=sender.id,
            key=idempotency.key,
            endpoint=idempotency.endpoint,
            request_hash=idempotency.request_hash,
            now=self._clock.now(),
            hold=IDEMPOTENCY_HOLD,
        )
        if held is None:
            return None
        if held.endpoint != idempotency.endpoint or held.request_hash != idempotency.request_hash:
            raise errors.Conflict("Idempotency-Key", "was already used for a different request")
        if held.resource_id is None:
            raise errors.Conflict(
                "Idempotency-Key", "a request with this key is still being processed"
            )
        return held.resource_id

    async def _release(self, sender: campaigns.Sender, idempotency: IdempotencyKey) -> None:
        await self._store.run(
            self._store.release_idempotency_key, sender_id=sender.id, key=idempotency.key
        )

    async def _replayed_upload(self, sender: campaigns.Sender, campaign_id: int) -> CampaignUpload:
        summary = await self._store.run(self._store.campaign, sender.id, campaign_id)
        rejected = await self._store.run(self._store.count_campaign_rejections, campaign_id)
        return CampaignUpload(summary.campaign, summary.total, rejected, replayed=True)


class UploadSlots:
    """The phone_list uploads one process reads and stores at once.

    A sender's upload holds one of ``total`` slots shared by every sender, and one of
    its sender's ``per_sender``: one sender (or whoever holds its PIN) cannot take
    them all. Uploads taken before their sender is known (the file part came before
    login and pin) hold one of ``unauthenticated`` slots instead, one per address
    (an IPv6 address counted by its /64): they never keep a sender that logs in
    first from uploading. All in the event loop's thread: no lock.
    """

    def __init__(self, *, total: int, per_sender: int, unauthenticated: int) -> None:
        self._total = total
        self._per_sender = per_sender
        self._unauthenticated = unauthenticated
        self._senders: collections.Counter[int] = collections.Counter()
        self._addresses: collections.Counter[str | None] = collections.Counter()

    def for_sender(self, sender_id: int) -> UploadSlot:
        """A slot of ``sender_id``'s, taken on entering (``Unavailable`` if none is free)."""
        return UploadSlot(self, sender_id, None)

    def for_address(self, address: str | None) -> UploadSlot:
        """A slot for an upload whose sender is not known yet (taken on entering)."""
        return UploadSlot(self, None, address_key(address))

    def in_use(self) -> tuple[int, int]:
        """(senders' uploads, unauthenticated uploads) now."""
        return sum(self._senders.values()), sum(self._addresses.values())

    def _take(self, sender_id: int | None, address: str | None) -> None:
        if sender_id is not None:
            if sum(self._senders.values()) >= self._total:
                raise errors.Unavailable(
                    "too many phone lists are being uploaded; try again shortly"
                )
            if self._senders[sender_id] >= self._per_sender:
                raise errors.Unavailable(
                    f"this sender is already uploading {self._per_sender} phone lists; "
                    "try again when one is done"
                )
            self._senders[sender_id] += 1
            return
        if sum(self._addresses.values()) >= self._unauthenticated or self._addresses[address]:
            raise errors.Unavailable(
                "too many phone lists are being uploaded before their login and PIN; "
                "send login and pin before phone_list, or try again shortly"
            )
        self._addresses[address] += 1

    def _give_back(self, sender_id: int | None, address: str | None) -> None:
        counts: collections.Counter[Any] = (
            self._senders if sender_id is not None else (self._addresses)
        )
        key = sender_id if sender_id is not None else address
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]


class UploadSlot:
    """Entered: holds one upload slot (see ``UploadSlots``), or raises ``Unavailable``.
    Leaving, or ``release()``, gives it back (once)."""

    def __init__(self, slots: UploadSlots, sender_id: int | None, address: str | None) -> None:
        self._slots = slots
        self._sender_id = sender_id
        self._address = address
        self._held = False

    def __enter__(self) -> UploadSlot:
        self._slots._take(self._sender_id, self._address)
        self._held = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._give_back(self._sender_id, self._address)


def _not_before(settings: calls.CallSettings, now: datetime) -> calls.CallSettings:
    """The settings with a first attempt no earlier than ``now`` (the URL probe may
    have taken seconds since the fields were read)."""
    if settings.scheduled_at >= now:
        return settings
    return dataclasses.replace(settings, scheduled_at=now)


class NoGoodLines(errors.InvalidInput):
    """A phone_list of which no line could be queued; the ``UploadReport`` of the
    upload was told each line's reason."""

    def __init__(self, field: str, reason: str, lines_rejected: int) -> None:
        super().__init__(field, reason)
        self.lines_rejected = lines_rejected
