"""The loop that posts results from the outbox (see the package docstring)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
from collections import Counter
from datetime import datetime, timedelta

import aiohttp

from vxdial import __version__
from vxdial.config import DeliverySettings
from vxdial.domain import errors
from vxdial.domain.clock import Clock
from vxdial.egress import EgressPolicy
from vxdial.store import GroupCommit, Store
from vxdial.store.queries.deliveries import DeliveryJob, DeliveryOutcome

log = logging.getLogger("vxdial.delivery")

FIRST_RETRY_S = 10.0
MAX_RETRY_S = 3600.0
LEASE_S = 120.0
POLL_S = 0.25
# Of result_url's answer only the status matters; its first bytes are read (the start of
# a refusal's text goes into the try's error, as the call's deliveries show it) and the
# connection is dropped if more was coming: an answer of any size costs this much.
ANSWER_READ_BYTES = 4096
ANSWER_SHOWN_CHARS = 160


def signature(secret: str, body: bytes) -> str:
    """The ``X-Vxdial-Signature`` header value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _shown(answer_start: bytes) -> str:
    """The start of an answer's text as a try's error shows it: one line, bounded."""
    decoded = answer_start.decode("utf-8", "replace")
    text = " ".join("".join(c if c.isprintable() else " " for c in decoded).split())
    if not text:
        return ""
    if len(text) > ANSWER_SHOWN_CHARS:
        text = text[: ANSWER_SHOWN_CHARS - 1] + "…"
    return f": {text}"


def backoff_s(attempts_made: int) -> float:
    """Seconds before the next try after ``attempts_made`` failed ones: 10, 20, 40, ...,
    at most an hour."""
    return float(min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(0, attempts_made - 1)))


class Deliverer:
    def __init__(
        self,
        *,
        store: Store,
        http: aiohttp.ClientSession,
        clock: Clock,
        settings: DeliverySettings,
        worker: str,
        policy: EgressPolicy,
    ) -> None:
        self.store = store
        self.http = http
        self.clock = clock
        self.settings = settings
        self.worker = worker
        self.policy = policy
        self._in_flight: set[asyncio.Task[None]] = set()
        self._by_sender: Counter[int] = Counter()  # posts in flight per sender
        self._posting: dict[asyncio.Task[None], int] = {}  # task -> delivery id
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        # What a post gave is never dropped: while the database is down it waits for it
        # (else the result would be posted again once the lease ran out).
        self._record: GroupCommit[DeliveryOutcome, None] = GroupCommit(
            lambda items: store.run_until_stored(store.record_deliveries, items)
        )
        self._store_down = False
        self.delivered = 0  # read by the metrics
        self.failed_attempts = 0

    async def run(self) -> None:
        """Post due results until ``stop()``; posts in flight then finish (or are cut)."""
        try:
            while not self._stopping.is_set():
                claimed = 0
                asks = len(self._in_flight) < self.settings.concurrency  # _claim queries
                try:
                    claimed = await self._claim()
                except errors.Unavailable as exc:
                    if not self._store_down:  # once per outage, not once per poll
                        log.warning("delivery.store_unavailable error=%s", exc)
                    self._store_down = True
                else:
                    if self._store_down and asks:
                        log.info("delivery.store_available worker=%s", self.worker)
                        self._store_down = False
                if claimed == 0:
                    self._wake.clear()
                    wake = asyncio.ensure_future(self._wake.wait())
                    pause = asyncio.ensure_future(self.clock.sleep(POLL_S))
                    try:
                        await asyncio.wait({wake, pause}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        wake.cancel()
                        pause.cancel()
        finally:
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=self.settings.timeout_s + 1)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def delivering(self) -> set[int]:
        """The ids of the results being posted now (their leases are kept alive)."""
        return set(self._posting.values())

    async def run_until_idle(self) -> None:
        """For tests: post until nothing is due."""
        while await self._claim() or self._in_flight:
            if self._in_flight:
                await asyncio.wait(self._in_flight)

    async def _claim(self) -> int:
        room = self.settings.concurrency - len(self._in_flight)
        if room <= 0:
            return 0
        now = self.clock.now()
        jobs = await self.store.run(
            self.store.claim_deliveries,
            worker=self.worker,
            now=now,
            lease_until=now + timedelta(seconds=LEASE_S),
            limit=room,
            in_flight=dict(self._by_sender),
            per_sender=self.settings.sender_concurrency,
        )
        for job in jobs:
            task = asyncio.create_task(self._deliver(job))
            self._in_flight.add(task)
            self._posting[task] = job.id
            self._by_sender[job.sender_id] += 1
            task.add_done_callback(functools.partial(self._done, job.sender_id))
        return len(jobs)

    def _done(self, sender_id: int, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._posting.pop(task, None)
        self._by_sender[sender_id] -= 1
        if self._by_sender[sender_id] <= 0:
            del self._by_sender[sender_id]
        self._wake.set()

    async def _deliver(self, job: DeliveryJob) -> None:
        body = job.body.encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Vxdial-Delivery": job.delivery_key,
            "X-Vxdial-Signature": signature(job.secret, body),
            "User-Agent": f"vxdial/{__version__}",
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        start = b""
        try:
            self.policy.check_url(job.url)
            async with self.http.post(
                job.url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s),
                allow_redirects=False,
            ) as response:
                status = response.status
                while len(start) < ANSWER_READ_BYTES and not response.content.at_eof():
                    start += await response.content.read(ANSWER_READ_BYTES - len(start))
                if not response.content.at_eof():
                    response.close()  # the rest is never read: drop the connection
            if not 200 <= status < 300:
                error = f"HTTP {status}{_shown(start)}"
        except TimeoutError:
            error = f"no answer within {self.settings.timeout_s:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = str(exc) or type(exc).__name__
        duration_ms = int((time.monotonic() - started) * 1000)
        now = self.clock.now()
        delivered = error is None
        next_at: datetime | None = None
        if not delivered:
            self.failed_attempts += 1
            candidate = now + timedelta(seconds=backoff_s(job.attempts + 1))
            if candidate <= job.created_at + timedelta(seconds=self.settings.retry_for_s):
                next_at = candidate
            else:
                log.warning(
                    "delivery.given_up call_id=%d delivery=%s error=%s",
                    job.call_id,
                    job.delivery_key,
                    error,
                )
        else:
            self.delivered += 1
        outcome = DeliveryOutcome(
            id=job.id,
            worker=self.worker,
            at=now,
            status=status,
            error=error,
            duration_ms=duration_ms,
            delivered=delivered,
            next_attempt_at=next_at,
        )
        try:
            await self._record.submit(outcome)
        except errors.Unavailable:
            log.error("delivery.not_recorded delivery=%s: left to the lease", job.delivery_key)
