"""Operational endpoints: ``/healthz`` for load balancers, ``/metrics`` for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from vxdial import __version__, metrics
from vxdial.domain import errors
from vxdial.services import Services

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """200 when the process and its database answer; 503 otherwise."""
    services: Services = request.app.state.services
    try:
        await services.store.run(services.store.ping)
    except errors.Unavailable as exc:
        return JSONResponse(
            {"status": "unavailable", "database": str(exc), "version": __version__}, 503
        )
    return JSONResponse({"status": "ok", "database": "ok", "version": __version__})


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    return Response(metrics.render(request.app.state.metrics), media_type=metrics.CONTENT_TYPE)
