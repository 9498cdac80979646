"""The loop that posts results from the outbox (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

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
LEASE_S = 120.0  # renewed every third of it while the post is in flight
# Due results that could not be leased (another worker's, for now) are looked for
# again this often (clock seconds).
HELD_BACK_S = 0.25
POLL_S = 10.0  # real seconds: the safety net of an idle deliverer (``poll_s`` argument)
STORE_RETRY_S = 1.0  # real seconds between tries while the database is unavailable
GATHER_S = 0.05  # real seconds: see run()
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
        poll_s: float = POLL_S,
    ) -> None:
        self.store = store
        self.http = http
        self.clock = clock
        self.settings = settings
        self.worker = worker
        self.policy = policy
        self.poll_s = poll_s
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
        self._freed = False  # a post ended since the loop last looked
        self.delivered = 0  # read by the metrics
        self.failed_attempts = 0
        self.waits = 0  # times the loop went to sleep

    async def run(self) -> None:
        """Post due results until ``stop()``; posts in flight then finish (or are cut).

        Idle, it makes no query: it sleeps until the next result is due
        (``Store.next_delivery_at``), until results are announced (``Store.on_work``:
        an attempt's end here, a cancel in another process on PostgreSQL) or a post of
        its own ends, and at the latest ``poll_s`` real seconds."""
        lease = timedelta(seconds=LEASE_S)
        next_renewal = self.clock.now()
        loop = asyncio.get_running_loop()

        def announced(kind: str) -> None:
            if kind == "results":
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(self._wake.set)

        unsubscribe = self.store.on_work(announced)
        look = True  # claim this time round (False: the safety poll woke us)
        try:
            while not self._stopping.is_set():
                self._wake.clear()  # before looking: a wake from now on is not lost
                now = self.clock.now()
                sleep_s: float | None = None  # in the clock's seconds; None: until woken
                poll_s = self.poll_s
                try:
                    if self._in_flight and now >= next_renewal:
                        await self.store.run(
                            self.store.renew_deliveries,
                            worker=self.worker,
                            lease_until=now + lease,
                            holding=self.delivering(),
                        )
                        next_renewal = now + lease / 3
                    room = self.settings.concurrency - len(self._in_flight)
                    if look and room > 0:
                        claimed = await self._claim()
                        room = self.settings.concurrency - len(self._in_flight)
                        if claimed and room > 0:
                            continue
                    if room > 0:  # (none: a post ending wakes us)
                        due = await self.store.run(self.store.next_delivery_at, now)
                        if due is not None:
                            wait_s = (due - now).total_seconds()
                            if wait_s <= 0 and not look:  # the safety poll found some
                                look = True
                                continue
                            # Due, yet nothing claimed: leased by another worker, for now.
                            sleep_s = wait_s if wait_s > 0 else HELD_BACK_S
                except errors.Unavailable as exc:
                    if not self._store_down:  # once per outage, not once per poll
                        log.warning("delivery.store_unavailable error=%s", exc)
                    self._store_down = True
                    poll_s = min(poll_s, STORE_RETRY_S)
                else:
                    if self._store_down:
                        log.info("delivery.store_available worker=%s", self.worker)
                        self._store_down = False
                if self._in_flight:
                    until_renewal = (next_renewal - now).total_seconds()
                    sleep_s = until_renewal if sleep_s is None else min(sleep_s, until_renewal)
                self.waits += 1
                waits: list[Coroutine[Any, Any, object]] = [self._wake.wait()]
                if sleep_s is not None:
                    waits.append(self.clock.sleep(sleep_s))
                # Real time whatever --sim-speed (it bounds CPU); last: when it ends
                # together with another, the other one counts.
                waits.append(asyncio.sleep(poll_s))
                first = await _first_of(*waits)
                look = first != len(waits) - 1
                if first == 0 and not self._freed:
                    # Woken by results written: let a few more come, so one claim (a
                    # write transaction) takes several; an attempt's end announces its
                    # result, hundreds a second under load. A post that ended frees a
                    # slot: claim at once (a sender at its sender_concurrency has due
                    # results waiting for exactly that; gathering after each post held
                    # one sender to sender_concurrency posts per GATHER_S).
                    await _first_of(self._stopping.wait(), asyncio.sleep(GATHER_S))
                self._freed = False
        finally:
            unsubscribe()
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
            per_sender=self.settings.sender_share,
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
        self._freed = True
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


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> int:
    """Wait until the first of ``waits`` ends; cancel the others; returns the index of
    the one that ended (the lowest, if several did)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    return min(tasks.index(task) for task in done)
