"""Demo applications and a result inbox, served by vxdial itself under /demo/.

A new user can watch a call end to end without writing or hosting anything: queue a
call whose start_url is one of the demo VoiceXML applications (hello, an appointment
confirmation, a survey, a voicemail message) and whose result_url is the inbox
``/demo/results``, then watch it in the web interface and the inbox. ``[demo] enabled``
(default true) decides whether ``app.py`` installs them.
"""

from __future__ import annotations

from fastapi import FastAPI

from vxdial.config import DemoSettings
from vxdial.demo import routes
from vxdial.demo.inbox import Inbox

__all__ = ["install"]


def install(app: FastAPI, settings: DemoSettings) -> None:
    """Add the demo's routes to ``app``, with an inbox of ``settings.inbox_size`` posts
    per sender (in this process's memory)."""
    app.state.demo_inbox = Inbox(per_sender=settings.inbox_size)
    app.include_router(routes.router)
