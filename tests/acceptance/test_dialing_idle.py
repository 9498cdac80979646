"""An idle dialer is woken, not polling (issue 12, item 17): with a safety poll of an
hour, a call queued over the API is dialed and its result posted, on SQLite and
PostgreSQL (the intake's write announces the call to the dialer, the attempt's end the
result to the deliverer). The waits are hang guards, not speed checks."""

from __future__ import annotations

from collections.abc import Callable

from tests.acceptance.dialing_support import GOODBYE, Dialing
from vxdial.config import SimRule


def test_a_call_queued_over_the_api_wakes_the_idle_dialer(
    start_dialing: Callable[..., Dialing],
) -> None:
    dialing = start_dialing(SimRule(match="*", ring_seconds=1), poll_s=3600)
    dialing.webapp.bodies["/start.vxml"] = GOODBYE
    for expected in (1, 2):  # the first wakes a fresh dialer, the second an idle one
        dialing.queue(message_reference=f"wake-{expected}")
        results = dialing.wait_results(expected)
        assert [r["result"] for r in results] == ["completed"] * expected
