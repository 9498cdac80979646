"""API v1: JSON over HTTP Basic auth (login:PIN), documented at ``/openapi.json``."""

from vxdial.api.v1.guard import ApiGuard
from vxdial.api.v1.routes import error_response, install_error_handlers, router

__all__ = ["ApiGuard", "error_response", "install_error_handlers", "router"]
