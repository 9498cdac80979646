"""Web sessions and CSRF tokens.

A session is a row of ``web_sessions``; the browser holds a random token in a cookie
(HttpOnly, SameSite=Lax, Secure when configured), signed with HMAC-SHA256 under a key
shared by every process through the database. The signature lets a forged or garbled
cookie be refused without a query; the token itself (256 random bits, stored only as
its SHA-256) is what opens the session. Server-side sessions, rather than a signed
cookie carrying the account (Starlette's SessionMiddleware, which would also need
itsdangerous), so that logout, a PIN reset and a disabled account end sessions at once.

Every form carries the session's CSRF token (a random value of the session row) in a
hidden ``csrf_token`` input; the login form, before any session exists, carries an HMAC
of a random pre-login cookie instead (login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, Response

from vxdial.domain import campaigns
from vxdial.services import Services
from vxdial.store import WebSession

SESSION_COOKIE = "vxdial_session"
LOGIN_COOKIE = "vxdial_login"
# A session's expiry moves on at most this often (a write per request would make every
# page a write transaction).
TOUCH_EVERY = timedelta(seconds=60)


class LoginRequired(Exception):
    """No valid session: the browser goes to the login page."""


class CsrfFailed(Exception):
    """A POST without the form's valid csrf_token."""


class WrongRole(Exception):
    """A page of the other role (a sender on an admin page, or the reverse)."""

    def __init__(self, needed: campaigns.Role) -> None:
        super().__init__(needed.value)
        self.needed = needed


@dataclass(frozen=True, slots=True)
class Signer:
    key: bytes

    def sign(self, value: str) -> str:
        mac = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()
        return f"{value}.{mac}"

    def unsign(self, signed: str) -> str | None:
        value, _, mac = signed.rpartition(".")
        if not value or not mac:
            return None
        expected = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()
        return value if hmac.compare_digest(mac, expected) else None

    def login_token(self, nonce: str) -> str:
        return hmac.new(self.key, f"login-form:{nonce}".encode(), hashlib.sha256).hexdigest()


async def signer(request: Request) -> Signer:
    """The process's cookie signer (its key read, or created, once)."""
    found: Signer | None = getattr(request.app.state, "web_signer", None)
    if found is None:
        svc = services(request)
        key = await svc.store.run(svc.store.web_cookie_key, secrets.token_hex(32), svc.clock.now())
        found = Signer(bytes.fromhex(key))
        request.app.state.web_signer = found
    return found


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def current_session(request: Request) -> WebSession | None:
    """The request's live session, or None; an account disabled since is logged out."""
    cached: WebSession | None = getattr(request.state, "web_session", None)
    if cached is not None:
        return cached
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    token = (await signer(request)).unsign(cookie)
    if token is None:
        return None
    svc = services(request)
    now = svc.clock.now()
    found = await svc.store.run(svc.store.web_session, token_hash(token), now)
    if found is None:
        return None
    if not found.sender.enabled:
        await svc.store.run(svc.store.close_web_session, token_hash(token))
        return None
    if now - found.last_seen_at >= TOUCH_EVERY:
        await svc.store.run(
            svc.store.touch_web_session, found.id, now, expiry(svc, found.created_at, now)
        )
    request.state.web_session = found
    return found


def expiry(svc: Services, created_at: datetime, now: datetime) -> datetime:
    """When a session used ``now`` ends: idle timeout, capped by the maximum age."""
    web = svc.settings.web
    return min(
        now + timedelta(seconds=web.session_idle_s),
        created_at + timedelta(seconds=web.session_max_s),
    )


async def require_session(request: Request) -> WebSession:
    found = await current_session(request)
    if found is None:
        raise LoginRequired()
    return found


async def open_session(request: Request, response: Response, sender: campaigns.Sender) -> None:
    """Log ``sender`` in: a new session (a new token on every login) and its cookie."""
    svc = services(request)
    token = secrets.token_urlsafe(32)
    now = svc.clock.now()
    await svc.store.run(
        svc.store.open_web_session,
        token_hash=token_hash(token),
        sender_id=sender.id,
        csrf_token=secrets.token_urlsafe(32),
        address=client_address(request),
        now=now,
        expires_at=expiry(svc, now, now),
    )
    response.set_cookie(
        SESSION_COOKIE,
        (await signer(request)).sign(token),
        httponly=True,
        samesite="lax",
        secure=svc.settings.web.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/web/login")


async def close_session(request: Request, response: Response) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    token = (await signer(request)).unsign(cookie) if cookie else None
    if token is not None:
        svc = services(request)
        await svc.store.run(svc.store.close_web_session, token_hash(token))
    response.delete_cookie(SESSION_COOKIE, path="/")


def check_csrf(session: WebSession, sent: object) -> None:
    if not isinstance(sent, str) or not hmac.compare_digest(
        sent.encode(), session.csrf_token.encode()
    ):
        raise CsrfFailed()


def login_nonce(request: Request) -> str | None:
    return request.cookies.get(LOGIN_COOKIE)


def set_login_nonce(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="lax",
        secure=services(request).settings.web.secure_cookies,
        path="/web/login",
    )


async def check_login_csrf(request: Request, sent: object) -> None:
    nonce = login_nonce(request)
    if nonce is None or not isinstance(sent, str):
        raise CsrfFailed()
    expected = (await signer(request)).login_token(nonce)
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailed()
