"""The GET check of start_url / result_url before a request is accepted.

PRODUCT.md section 2: one GET, HTTP 200 required within a timeout (10 s by default).
A URL that passed is trusted for ``url_trust_s`` (a minute by default), and checks of
one URL already in flight are shared, so a burst of queuecalls sends the customer's
server one GET, not hundreds. Redirects are not followed: the URL we will POST to
must itself answer.
"""

from __future__ import annotations

import asyncio
import collections
from datetime import datetime, timedelta

import aiohttp

from vxdial.config import HttpSettings
from vxdial.domain import errors
from vxdial.domain.clock import Clock
from vxdial.egress import EgressPolicy

_MAX_TRUSTED = 10_000


class UrlProbe:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        clock: Clock,
        *,
        timeout_s: float,
        trust_s: float,
        policy: EgressPolicy | None = None,
    ) -> None:
        self._session = session
        self._policy = policy or EgressPolicy(HttpSettings().deny_networks)
        self._clock = clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._timeout_s = timeout_s
        self._trust = timedelta(seconds=trust_s)
        self._trusted: collections.OrderedDict[str, datetime] = collections.OrderedDict()
        self._in_flight: dict[str, asyncio.Future[str | None]] = {}
        self.requests_sent = 0  # read by tests and metrics

    async def check(self, field: str, url: str) -> None:
        """Raise ``InvalidInput(field, reason)`` unless ``url`` answers GET with 200."""
        until = self._trusted.get(url)
        if until is not None and until > self._clock.now():
            return
        future = self._in_flight.get(url)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._in_flight[url] = future
            try:
                problem = await self._get(url)
                if problem is None and self._trust > timedelta(0):
                    self._trusted[url] = self._clock.now() + self._trust
                    self._trusted.move_to_end(url)
                    while len(self._trusted) > _MAX_TRUSTED:
                        self._trusted.popitem(last=False)
                future.set_result(problem)
            except BaseException:
                # The request that ran the check went away; those sharing it fail
                # (and may retry) rather than pass unchecked.
                future.set_result(f"GET {url} was interrupted; try again")
                raise
            finally:
                del self._in_flight[url]
        problem = await asyncio.shield(future)
        if problem is not None:
            raise errors.InvalidInput(field, problem)

    async def _get(self, url: str) -> str | None:
        try:
            self._policy.check_url(url)
        except ValueError as exc:
            return f"GET {url} refused: {exc}"
        self.requests_sent += 1
        try:
            async with self._session.get(
                url, timeout=self._timeout, allow_redirects=False
            ) as response:
                if response.status != 200:
                    return f"GET {url} answered HTTP {response.status}; 200 is required"
        except TimeoutError:
            return f"GET {url} did not answer within {self._timeout_s:g} seconds"
        except aiohttp.ClientConnectorDNSError as exc:
            if exc.os_error.errno is None:  # the egress policy's resolver refused it
                return f"GET {url} refused: {exc.os_error}"
            # The name does not resolve (or the resolver did not answer): say which name.
            why = exc.os_error.strerror or str(exc.os_error)
            return f"GET {url} failed: cannot resolve host {exc.host} ({why})"
        except aiohttp.ClientError as exc:
            return f"GET {url} failed: {exc or type(exc).__name__}"
        return None
