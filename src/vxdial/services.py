"""The services one vxdial process runs, as the edges (api/, web/, cli/) see them.

``app.py`` builds one ``Services`` and the HTTP application keeps it on
``app.state.services``; the edges only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from vxdial.accounts import Accounts, Authenticator
from vxdial.config import Settings
from vxdial.delivery import Deliverer
from vxdial.dialer import Dialer
from vxdial.domain import campaigns
from vxdial.domain.clock import Clock
from vxdial.intake import Intake, UrlProbe
from vxdial.store import AuditEntry, Store


@dataclass
class Counters:
    """Plain counts the edges keep; ``metrics`` exposes them at scrape time."""

    plum_answers: dict[tuple[str, str], int] = field(default_factory=dict)

    def count_plum(self, endpoint: str, status: str) -> None:
        key = (endpoint, status)
        self.plum_answers[key] = self.plum_answers.get(key, 0) + 1


@dataclass
class Services:
    settings: Settings
    clock: Clock
    store: Store
    http: aiohttp.ClientSession
    accounts: Accounts
    authenticator: Authenticator
    probe: UrlProbe
    intake: Intake
    dialer: Dialer | None = None  # None in a process that does not dial
    deliverer: Deliverer | None = None
    counters: Counters = field(default_factory=Counters)

    async def audit(
        self,
        admin: campaigns.Sender,
        action: str,
        target: str | None,
        *,
        address: str | None,
        via: str,
        detail: str | None = None,
    ) -> None:
        """Record an admin action in the audit log (the web interface and the API call
        this after the action succeeded)."""
        entry = AuditEntry(
            at=self.clock.now(),
            admin=admin.login,
            action=action,
            target=target,
            address=address,
            via=via,
            detail=detail,
        )
        await self.store.run(self.store.record_audit, entry)
