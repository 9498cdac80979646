"""``Intake``: accepting calls and campaigns once their fields are checked.

It probes the URLs, queues the call, or streams a phone_list into a new campaign in
batches. A campaign stays ``loading`` (invisible, never dialed) until its last batch
is stored and is then made ``active`` in one transaction; if the process dies half
way, start-up deletes the leftovers, and the client, which never got an answer, sends
the list again. Nothing acknowledged is ever lost, and nothing is half-accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

import anyio.to_thread

from vxdial.config import IntakeSettings
from vxdial.domain import calls, campaigns, errors
from vxdial.domain.clock import Clock
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
        self._uploads = threading.BoundedSemaphore(settings.max_concurrent_uploads)
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

    def upload_slot(self) -> UploadSlot:
        """A slot for one phone_list upload, taken before the body is read (it is
        spooled to disk before login and PIN can be checked); all taken: ``Unavailable``."""
        return UploadSlot(self._uploads)

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


class UploadSlot:
    """Entered: holds one of the concurrent-upload slots, or raises ``Unavailable``."""

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots = slots
        self._held = False

    def __enter__(self) -> UploadSlot:
        if not self._slots.acquire(blocking=False):
            raise errors.Unavailable("too many phone lists are being uploaded; try again shortly")
        self._held = True
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._held:
            self._held = False
            self._slots.release()


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
