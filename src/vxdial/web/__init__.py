"""The web interface: server-rendered pages for senders and the administrator.

``install(app)`` adds its routes, its static files and its error pages to the
application; nothing else of the package is meant for other packages.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vxdial.web import admin, routes
from vxdial.web.errors import install_error_handlers
from vxdial.web.sessions import current_session

# current_session: other edges (the demo's result inbox) show a page to the sender
# logged in to the web interface.
__all__ = ["current_session", "install"]


def install(app: FastAPI) -> None:
    """Add the web interface to ``app`` (after the API's error handlers, which its own
    handlers delegate to for paths outside /web)."""
    app.include_router(routes.router)
    app.include_router(admin.router)
    app.mount("/web/static", StaticFiles(packages=[("vxdial.web", "static")]), name="web-static")
    install_error_handlers(app)
