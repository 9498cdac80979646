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
from starlette.responses import PlainTextResponse, Response
from starlette.types import Scope

from vxdial import __version__, demo, metrics, voicexml, web
from vxdial.accounts import Accounts, Authenticator, PinHasher
from vxdial.api import ops, plum, v1
from vxdial.config import Settings
from vxdial.delivery import Deliverer
from vxdial.dialer import Dialer, worker_name
from vxdial.domain import errors
from vxdial.domain.clock import Clock, ScaledClock, SystemClock
from vxdial.egress import EgressPolicy
from vxdial.httpedge import BodyGuard
from vxdial.intake import Intake, UrlProbe
from vxdial.services import Services
from vxdial.store import Store
from vxdial.telephony import Driver, SimDriver
from vxdial.telephony.sipdriver import AudioFetch, SipDriver

log = logging.getLogger("vxdial")

# One aiohttp session for every outbound request of the process (probes now; documents,
# submits and result_url later): a shared connection pool with keep-alive.
HTTP_CONNECTIONS = 200
GC_THRESHOLD_GEN0 = 20_000
# Maintenance runs on real time whatever --sim-speed (a simulated minute at speed 30
# would be every 2 s): its cost must not grow with the speed of the simulated world.
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


def clock_for(settings: Settings) -> Clock:
    """The process's one clock: real time, or the simulated world's (--sim-speed)."""
    if settings.telephony.driver == "sim" and settings.sim.speed != 1.0:
        return ScaledClock(settings.sim.speed)
    return SystemClock()


def driver_for(
    settings: Settings, clock: Clock, fetcher: voicexml.HttpFetcher | None = None
) -> Driver:
    """The carrier ``[telephony] driver`` names; the SIP driver fetches ``<audio>``
    files with ``fetcher`` (none: it speaks their fallback text)."""
    if settings.telephony.driver == "sim":
        return SimDriver(settings.sim.rule, clock)
    return SipDriver(
        settings.sip,
        clock,
        fetch_audio=_audio_fetch(fetcher) if fetcher is not None else None,
    )


def _audio_fetch(fetcher: voicexml.HttpFetcher) -> AudioFetch:
    """The SIP driver's view of the shared fetcher (telephony/ knows no voicexml/)."""

    async def fetch_audio(url: str) -> tuple[bytes, str | None]:
        try:
            document = await fetcher.fetch(voicexml.FetchRequest(url))
        except voicexml.FetchError as exc:
            raise errors.Unavailable(f"{url}: {exc.reason}") from exc
        return document.body, document.content_type

    return fetch_audio


@contextlib.asynccontextmanager
async def running_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dialing: bool = True,
    driver: Driver | None = None,
) -> AsyncIterator[Services]:
    """Everything a process needs, opened in order and closed in reverse; with
    ``dialing``, the dialer and the result deliverer run in the background."""
    clock = clock or clock_for(settings)
    store = open_store(settings)
    hasher = PinHasher.from_settings(settings.auth)
    egress = EgressPolicy(settings.http.deny_networks)
    connector = egress.connector(limit=HTTP_CONNECTIONS, ttl_dns_cache=300)
    http = aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": f"vxdial/{__version__}"},
        # Shared by every call: cookies live in each call's own jar (voicexml.for_call).
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    background: list[asyncio.Task[None]] = []
    dialer: Dialer | None = None
    session_threads: voicexml.SessionThreads | None = None
    deliverer: Deliverer | None = None
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
        background.append(asyncio.create_task(_housekeep_every(intake, HOUSEKEEPING_S)))
        background.append(
            asyncio.create_task(_build_searches(store, clock, settings.dialer.poll_s))
        )
        # Other processes' announcements (PostgreSQL LISTEN), for the loops below and
        # the search builds; nothing to do on SQLite.
        background.append(asyncio.create_task(store.relay_work()))
        if dialing:
            fetcher = voicexml.HttpFetcher(http, timeout_s=settings.intake.url_check_timeout_s)
            driver = driver or driver_for(settings, clock, fetcher)
            if isinstance(driver, SipDriver):
                await driver.start()  # the SIP socket and the trunk keepalive, at once
            worker = worker_name()
            # Where each call's VoiceXML session runs: off this loop (voicexml.isolation).
            session_threads = voicexml.SessionThreads(settings.voicexml.threads)
            dialer = Dialer(
                store=store,
                driver=driver,
                clock=clock,
                settings=settings.dialer,
                fetcher=fetcher,
                worker=worker,
                session_limits=session_limits(settings),
                session_threads=session_threads,
            )
            deliverer = Deliverer(
                store=store,
                http=http,
                clock=clock,
                settings=settings.delivery,
                worker=worker,
                policy=egress,
                poll_s=settings.dialer.poll_s,
            )
            background.append(asyncio.create_task(dialer.run()))
            background.append(asyncio.create_task(deliverer.run()))
        yield Services(
            settings=settings,
            clock=clock,
            store=store,
            http=http,
            accounts=Accounts(store, clock, hasher),
            authenticator=Authenticator(store, clock, settings.auth, hasher),
            probe=probe,
            intake=intake,
            dialer=dialer,
            deliverer=deliverer,
        )
    finally:
        if dialer is not None:
            dialer.stop()
        if deliverer is not None:
            deliverer.stop()
        for task in background[:3]:  # housekeeping, search builds, the relay: just stop
            task.cancel()
        if background:
            await asyncio.gather(*background, return_exceptions=True)
        if driver is not None:
            await driver.aclose()
        if session_threads is not None:
            await asyncio.to_thread(session_threads.close)
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


async def _housekeep_every(intake: Intake, period_s: float) -> None:
    while True:
        await asyncio.sleep(period_s)  # real time: see HOUSEKEEPING_S
        await _housekeep(intake)


async def _build_searches(store: Store, clock: Clock, poll_s: float) -> None:
    """Make newly uploaded campaigns searchable in the web interface, off the upload's
    path (see store.tables.call_search): when an upload is announced finished (here,
    or in another process on PostgreSQL), and every ``poll_s`` real seconds for those
    nobody announces (another process on SQLite)."""
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()

    def announced(kind: str) -> None:
        if kind == "searches":
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(wake.set)

    unsubscribe = store.on_work(announced)
    try:
        while True:
            wake.clear()
            try:
                built = await store.run(store.build_searches, clock.now())
            except errors.Unavailable as exc:
                log.warning("web.search_build_failed error=%s", exc)
                built = 0
            if built:
                log.info("web.search_built campaigns=%d", built)
                continue  # there may be more than one pass builds
            waits = [
                asyncio.ensure_future(wake.wait()),
                asyncio.ensure_future(asyncio.sleep(poll_s)),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
    finally:
        unsubscribe()


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


def _slow_body_answer(scope: Scope, reason: str) -> Response:
    """What a request whose body came too slowly gets, in its edge's format (the Plum
    services' HTTP 200 "failed", the API's errors, a plain 408 elsewhere)."""
    path = scope.get("path", "")
    plum_answer = plum.refused_answer(path, reason)
    if plum_answer is not None:
        return plum_answer
    if path.startswith("/api/"):
        return v1.error_response(408, "request", reason)
    return PlainTextResponse(f"Request Timeout: {reason}", status_code=408)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    tune_gc: bool = False,
    dialing: bool = True,
    driver: Driver | None = None,
) -> FastAPI:
    """The ASGI application; ``dialing`` runs the dialer beside it (``serve`` without
    ``--no-dialer``); ``tune_gc`` for a process that serves nothing else."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_services(
            settings, clock=clock, dialing=dialing, driver=driver
        ) as services:
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
    app.add_middleware(
        BodyGuard,
        body_timeout_s=settings.server.body_timeout_s,
        min_body_bytes_per_s=settings.server.min_body_bytes_per_s,
        timeout_answer=_slow_body_answer,
    )
    app.add_middleware(v1.ApiGuard)
    v1.install_error_handlers(app)
    app.include_router(plum.router)
    app.include_router(v1.router)
    app.include_router(ops.router)
    web.install(app)
    if settings.demo.enabled:
        demo.install(app, settings.demo)
    return app


def session_limits(settings: Settings) -> voicexml.Limits:
    """The bounds of each call's VoiceXML session, from ``[voicexml]``."""
    limits = settings.voicexml
    return voicexml.Limits(
        script_time_s=limits.script_time_s,
        script_memory_bytes=limits.script_memory_bytes,
        max_documents=limits.max_documents,
        max_steps=limits.max_steps,
        max_document_bytes=limits.max_document_bytes,
        session_cpu_s=limits.session_cpu_s,
        data_max_nodes=limits.data_max_nodes,
    )
