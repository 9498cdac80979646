"""Errors of the web interface, rendered once as pages in the layout.

The handlers are the application's: for paths under /web (and /) they render a page
with the status and a sentence saying what happened; any other path goes to the
handler that was installed before (the JSON API's, or Starlette's).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vxdial import httpedge
from vxdial.domain import campaigns, errors
from vxdial.web import render, sessions

log = logging.getLogger("vxdial.web")

Handler = Callable[[Request, Exception], Awaitable[Response]]

_STATUS: tuple[tuple[type[errors.VxdialError], int, str], ...] = (
    (errors.Throttled, 429, "Too many attempts"),
    (errors.Forbidden, 403, "Not allowed"),
    (errors.NotAuthorized, 401, "Wrong login or PIN"),
    (errors.TooLarge, 413, "Too large"),
    (errors.InvalidInput, 400, "Something in the form is wrong"),
    (errors.NotFound, 404, "Not found"),
    (errors.Conflict, 409, "Not possible now"),
    (errors.Unavailable, 503, "Try again shortly"),
)

_HTTP_TITLES = {
    400: "Bad request",
    401: "Log in first",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Try again shortly",
}


def is_web(request: Request) -> bool:
    path = request.url.path
    return path == "/" or path == "/web" or path.startswith("/web/")


async def error_page(
    request: Request,
    status: int,
    title: str,
    sentence: str,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    if request.url.path.endswith(".json"):
        return JSONResponse({"error": sentence}, status_code=status, headers=headers)
    if status < 500:
        # The layout's header (nav, login, Log out) for whoever is logged in.
        with contextlib.suppress(Exception):
            await sessions.current_session(request)
    response = render.page(
        request, "error.html", status_code=status, title=title, sentence=sentence, status=status
    )
    response.headers.update(headers or {})
    return response


def _describe(exc: errors.VxdialError) -> str:
    if isinstance(exc, errors.InvalidInputs):
        return "; ".join(f"{p.field}: {p.reason}" for p in exc.problems)
    if isinstance(exc, errors.InvalidInput | errors.Conflict):
        return f"{exc.field}: {exc.reason}"
    if isinstance(exc, errors.Throttled):
        return (
            "Too many failed logins from here; wait "
            f"{exc.retry_after_s} seconds before trying again."
        )
    if isinstance(exc, errors.NotFound):
        return f"There is no such page or item: {exc}."
    return str(exc) or exc.__class__.__name__


def install_error_handlers(app: FastAPI) -> None:
    """Render errors of /web paths as pages; others go to the handlers already there."""
    before: dict[object, Handler] = dict(app.exception_handlers)

    def delegate(kind: type[Exception], fallback: Handler) -> Handler:
        found = before.get(kind, fallback)
        return found

    async def plain_500(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("Internal Server Error", status_code=500)

    vxdial_before = delegate(errors.VxdialError, plain_500)
    validation_before = delegate(RequestValidationError, plain_500)

    async def starlette_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return await http_exception_handler(request, exc)

    http_before = delegate(StarletteHTTPException, starlette_http)

    async def on_vxdial(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.VxdialError)
        if not is_web(request):
            return await vxdial_before(request, exc)
        status, title = next(
            ((code, text) for kind, code, text in _STATUS if isinstance(exc, kind)),
            (500, "Something went wrong"),
        )
        headers = {}
        if isinstance(exc, errors.Throttled):
            headers["Retry-After"] = str(exc.retry_after_s)
        return await error_page(request, status, title, _describe(exc), headers=headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if not is_web(request):
            return await validation_before(request, exc)
        problems = []
        for error in exc.errors():
            where = [
                str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "form")
            ]
            problems.append(f"{'.'.join(where) or 'request'}: {error.get('msg', '')}")
        return await error_page(request, 400, "Bad request", "; ".join(problems))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_web(request):
            return await http_before(request, exc)
        sentence = {
            404: "There is no page at this address.",
            405: "This address does not take that kind of request.",
        }.get(exc.status_code, str(exc.detail))
        title = _HTTP_TITLES.get(exc.status_code, "Error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(httpedge.allowed_methods(request))
        return await error_page(request, exc.status_code, title, sentence, headers=headers)

    async def on_login_required(request: Request, exc: Exception) -> Response:
        if request.url.path.endswith(".json"):
            return JSONResponse({"error": "log in first"}, status_code=401)
        return RedirectResponse("/web/login", status_code=303)

    async def on_csrf(request: Request, exc: Exception) -> Response:
        return await error_page(
            request,
            403,
            "Form expired or forged (CSRF check failed)",
            "The form was sent without its security token, or with one of another session "
            "(it may have been open from before you logged in again). Go back, reload the "
            "page and send it again.",
        )

    async def on_wrong_role(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, sessions.WrongRole)
        sentence = (
            "This page is for the administrator."
            if exc.needed is campaigns.Role.ADMIN
            else "This page is for senders; the administrator has no campaigns."
        )
        return await error_page(request, 403, "Not allowed", sentence)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("web.error path=%s", request.url.path, exc_info=exc)
        if not is_web(request):
            return PlainTextResponse("Internal Server Error", status_code=500)
        return await error_page(
            request,
            500,
            "Something went wrong",
            "The server failed to answer this request; it has been logged. Try again.",
        )

    app.add_exception_handler(errors.VxdialError, on_vxdial)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(sessions.LoginRequired, on_login_required)
    app.add_exception_handler(sessions.CsrfFailed, on_csrf)
    app.add_exception_handler(sessions.WrongRole, on_wrong_role)
    app.add_exception_handler(Exception, on_crash)
