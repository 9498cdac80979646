"""The intake's URL check when the name of a URL's host does not lead anywhere: the
reason names the host and why (issue 12, item 18; the service-level test is
tests/faults/test_faults_dns.py)."""

from __future__ import annotations

import aiohttp
import pytest

from vxdial.domain import errors
from vxdial.domain.clock import SystemClock
from vxdial.egress import EgressPolicy
from vxdial.intake import UrlProbe


async def check(policy: EgressPolicy, url: str) -> str:
    async with aiohttp.ClientSession(connector=policy.connector()) as session:
        probe = UrlProbe(session, SystemClock(), timeout_s=5, trust_s=0, policy=policy)
        with pytest.raises(errors.InvalidInput) as caught:
            await probe.check("start_url", url)
    assert caught.value.field == "start_url"
    return caught.value.reason


async def test_a_host_that_does_not_resolve_is_named() -> None:
    # RFC 6761 section 6.4: .invalid never resolves.
    reason = await check(EgressPolicy([]), "http://app.nothing.invalid/start.vxml")
    assert reason.startswith(
        "GET http://app.nothing.invalid/start.vxml failed: "
        "cannot resolve host app.nothing.invalid ("
    ), reason


async def test_a_host_that_resolves_only_to_denied_addresses_is_refused() -> None:
    policy = EgressPolicy(["127.0.0.0/8", "::1/128"])
    reason = await check(policy, "http://localhost:9/start.vxml")
    assert reason == (
        "GET http://localhost:9/start.vxml refused: "
        "localhost resolves only to addresses vxdial may not connect to"
    )
