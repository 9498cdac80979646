"""The composition root: the one module that builds every part and connects them.

``create_app(settings)`` returns the ASGI application of ``vxdial serve``; its
lifespan opens the store (migrating it), the shared aiohttp session, and the
services, and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import aiohttp
from fastapi import FastAPI

from vxdial import __version__, metrics
from vxdial.accounts import Accounts, Authenticator, PinHasher
from vxdial.api import ops, plum, v1
from vxdial.config import Settings
from vxdial.domain import errors
from vxdial.domain.clock import Clock, SystemClock
from vxdial.egress import EgressPolicy
from vxdial.intake import Intake, UrlProbe
from vxdial.services import Services
from vxdial.store import Store

log = logging.getLogger("vxdial")

# One aiohttp session for every outbound request of the process (probes now; documents,
# submits and result_url later): a shared connection pool with keep-alive.
HTTP_CONNECTIONS = 200
GC_THRESHOLD_GEN0 = 20_000
HOUSEKEEPING_S = 60.0


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    store = Store.open(settings.database.url, pool_size=settings.database.pool_size)
    if migrate:
        store.migrate()
    return store


def accounts_for(
    store: Store, settings: Settings | None = None, clock: Clock | None = None
) -> Accounts:
    auth = (settings or Settings()).auth
    return Accounts(store, clock or SystemClock(), PinHasher.from_settings(auth))


@contextlib.asynccontextmanager
async def running_services(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[Services]:
    """Everything a serving process needs, opened in order and closed in reverse."""
    clock = clock or SystemClock()
    store = open_store(settings)
    hasher = PinHasher.from_settings(settings.auth)
    egress = EgressPolicy(settings.http.deny_networks)
    connector = aiohttp.TCPConnector(
        limit=HTTP_CONNECTIONS, ttl_dns_cache=300, resolver=egress.resolver()
    )
    http = aiohttp.ClientSession(
        connector=connector, headers={"User-Agent": f"vxdial/{__version__}"}
    )
    try:
        probe = UrlProbe(
            http,
            clock,
            timeout_s=settings.intake.url_check_timeout_s,
            trust_s=settings.intake.url_trust_s,
            policy=egress,
        )
        intake = Intake(store, clock, probe, settings.intake)
        await _housekeep(intake)
        housekeeping = asyncio.create_task(_housekeep_every(intake, clock, HOUSEKEEPING_S))
        try:
            yield Services(
                settings=settings,
                clock=clock,
                store=store,
                http=http,
                accounts=Accounts(store, clock, hasher),
                authenticator=Authenticator(store, clock, settings.auth, hasher),
                probe=probe,
                intake=intake,
            )
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
    finally:
        await http.close()
        store.close()


async def _housekeep(intake: Intake) -> None:
    try:
        uploads, keys = await intake.housekeep()
    except errors.Unavailable as exc:
        log.warning("housekeeping.failed error=%s", exc)
        return
    if uploads:
        log.warning("intake.discarded_unfinished_uploads count=%d", uploads)
    if keys:
        log.info("intake.expired_idempotency_keys count=%d", keys)


async def _housekeep_every(intake: Intake, clock: Clock, period_s: float) -> None:
    while True:
        await clock.sleep(period_s)
        await _housekeep(intake)


def tune_garbage_collector() -> None:
    """Keep the cyclic garbage collector's pauses out of request latency.

    What exists once started (modules, metadata, compiled statements) is frozen out
    of collection, and the young generation is collected less often: requests make
    few reference cycles, and each full collection walked every object of the
    process (it was the p99 of queuecall: 78 ms with, 16 ms without).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_GEN0, 20, 20)


def create_app(settings: Settings, *, clock: Clock | None = None, tune_gc: bool = False) -> FastAPI:
    """The ASGI application; ``tune_gc`` for a process that serves nothing else."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(settings, clock=clock) as services:
            app.state.services = services
            app.state.metrics = metrics.registry_for(services)
            if tune_gc:
                tune_garbage_collector()
            yield

    app = FastAPI(
        title="vxdial",
        version=__version__,
        summary="Outbound voice calling: queue calls and campaigns, dial, run VoiceXML, report.",
        lifespan=lifespan,
    )
    v1.install_error_handlers(app)
    app.include_router(plum.router)
    app.include_router(v1.router)
    app.include_router(ops.router)
    return app
