"""The user agent core: outgoing calls (UAC INVITE dialogs) over one ``Endpoint``.

Every request goes to the trunk (it is our outbound proxy, RFC 3261 section 8.1.2);
in-dialog requests carry the dialog's route set and target. Incoming requests:
BYE ends its call (200), a re-INVITE or UPDATE is answered with our SDP (a session
refresh or a media change), NOTIFY reports a REFER's progress, OPTIONS is answered
200 (keepalives and probes); INVITEs that open a new call are declined (vxdial only
calls out).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from vxdial import __version__
from vxdial.telephony.sip import digest, message, sdp
from vxdial.telephony.sip.message import Headers, NameAddr, Request, Response
from vxdial.telephony.sip.transaction import (
    Address,
    ClientTransaction,
    Endpoint,
    Timers,
    TransactionTimeout,
    TransportError,
)

__all__ = ["Call", "CallEnded", "Identity", "UserAgent"]

log = logging.getLogger("vxdial.sip")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, UPDATE, INFO"
USER_AGENT = f"vxdial/{__version__}"
ANONYMOUS = "anonymous"  # the caller ID of a call that has none


@dataclass(frozen=True, slots=True)
class Identity:
    """Who we are towards the trunk."""

    trunk: Address
    trunk_host: str  # as written in the trunk URI (the host of Request-URIs)
    from_domain: str
    credentials: digest.Credentials | None = None


class CallEnded(Exception):
    """The call is over (either side hung up, or it was transferred away)."""


@dataclass(eq=False)
class Call:
    """One outgoing call: its INVITE transaction(s), then its dialog once answered.

    After ``setup`` returns a 2xx the call is up: ``remote_media`` is the far end's SDP
    answer, ``ended`` is set when either side ends it, with ``end_cause``. The owner
    must end it with ``bye`` (or the far end does) so that the dialog is forgotten.
    """

    agent: UserAgent
    number: str
    caller_id: str
    sdp_offer: Callable[[], bytes]  # our SDP, current (it changes on media updates)
    answer_offer: Callable[[sdp.Description], bytes]  # our answer to their re-offer
    call_id: str = field(default_factory=lambda: secrets.token_hex(12) + "@vxdial")
    local_tag: str = field(default_factory=message.new_tag)
    remote_tag: str | None = None
    cseq: int = 0
    remote_target: str | None = None
    route_set: tuple[str, ...] = ()
    remote_media: sdp.Description | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_cause: str | None = None
    on_media_change: Callable[[sdp.Description], None] | None = None
    on_end: Callable[[], None] | None = None  # called once, when ``ended`` is set
    invite: Request | None = None  # the last INVITE sent
    invite_transaction: ClientTransaction | None = None
    invites_sent: int = 0
    _ack: bytes | None = None  # the ACK of the 2xx, re-sent when the 2xx comes again
    _cancel_sent: bool = False
    _cancel_reason: str = ""
    _auth_headers: tuple[tuple[str, str], ...] = ()
    _notify: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    _answering: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    @property
    def request_uri(self) -> str:
        host = self.agent.identity.trunk_host
        port = self.agent.identity.trunk[1]
        return f"sip:{self.number}@{host}:{port}"

    @property
    def anonymous(self) -> bool:
        return self.caller_id == ANONYMOUS

    @property
    def local_uri(self) -> str:
        if self.anonymous:  # RFC 3323 section 4.1.1.3
            return "sip:anonymous@anonymous.invalid"
        return f"sip:{self.caller_id}@{self.agent.identity.from_domain}"

    def _from(self) -> NameAddr:
        return NameAddr(self.local_uri, "Anonymous" if self.anonymous else "")

    @property
    def answered(self) -> bool:
        return self._ack is not None

    # Call setup

    async def setup(
        self, ring_timeout_s: float, on_ringing: Callable[[], None] | None = None
    ) -> Response | None:
        """Send the INVITE and wait for its final response, answering one digest
        challenge of each kind (401, 407); a 2xx is ACKed and opens the dialog.

        Returns the final response; None when the ring timeout ran out (the INVITE
        was cancelled; a 2xx that crossed the CANCEL is ACKed and hung up). Raises
        ``TransactionTimeout`` when the trunk never answered, ``TransportError`` when
        the socket failed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ring_timeout_s
        challenged: set[int] = set()
        rang = False

        def provisional(response: Response) -> None:
            nonlocal rang
            if self._cancel_reason:  # the ring timeout came before any 1xx
                self._send_cancel()
            if response.status in (180, 183) and not rang:
                rang = True
                if on_ringing is not None:
                    on_ringing()

        while True:
            transaction = self._send_invite(provisional)
            remaining_s = deadline - loop.time()
            try:
                final = await asyncio.wait_for(asyncio.shield(transaction.final), remaining_s)
            except TimeoutError:
                await self._abandon(transaction, "ring timeout", 408)
                return None
            if (
                final.status in (401, 407)
                and final.status not in challenged
                and self._authorize(final)
            ):
                challenged.add(final.status)
                continue
            if 200 <= final.status < 300:
                self._confirm(final)
            else:
                self.agent.forget(self)
            return final

    async def abandon(self, reason: str) -> None:
        """Give up a call being set up (the dial was cancelled): CANCEL, then wait for
        the INVITE's end (hanging up a 2xx that crosses the CANCEL)."""
        transaction = self.invite_transaction
        if transaction is None or self.answered:
            await self.bye()
            return
        with contextlib.suppress(TransactionTimeout, TransportError):
            await self._abandon(transaction, reason, 487)

    async def _abandon(self, transaction: ClientTransaction, reason: str, cause: int) -> None:
        """CANCEL the INVITE and wait for its end (a 2xx that crossed is hung up)."""
        self._cancel_reason = f'SIP;cause={cause};text="{reason}"'
        if transaction.provisional is not None:
            self._send_cancel()
        # Else RFC 3261 section 9.1: no CANCEL before a provisional response; it goes
        # when one comes (see ``provisional`` in setup), or Timer B ends the INVITE.
        try:
            final = await transaction.final
        except TransactionTimeout:
            final = None
        if final is not None and 200 <= final.status < 300:
            self._confirm(final)  # answered as we gave up: ACK, then BYE
            await self.bye()
        self._end(reason)

    def _send_invite(self, on_provisional: Callable[[Response], None]) -> ClientTransaction:
        self.cseq += 1
        headers = Headers()
        headers.add("Via", self.agent.via())
        headers.add("Max-Forwards", "70")
        headers.add("From", str(self._from().with_tag(self.local_tag)))
        headers.add("To", str(NameAddr(f"sip:{self.number}@{self.agent.identity.trunk_host}")))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.cseq} INVITE")
        headers.add("Contact", f"<{self.agent.contact_uri}>")
        if not self.anonymous:  # RFC 3325: the identity the trunk passes on
            headers.add("P-Asserted-Identity", f"<{self.local_uri}>")
        headers.add("Allow", ALLOW)
        headers.add("User-Agent", USER_AGENT)
        for name, value in self._auth_headers:
            headers.add(name, value)
        headers.add("Content-Type", "application/sdp")
        self.invite = Request("INVITE", self.request_uri, headers, self.sdp_offer())
        self.invites_sent += 1
        self.agent.calls[self.call_id] = self
        self.invite_transaction = self.agent.endpoint.client_transaction(
            self.invite, self.agent.identity.trunk, on_provisional, self._resend_ack
        )
        return self.invite_transaction

    def _authorize(self, challenge: Response) -> bool:
        """Credentials for the next INVITE; False when we have none that fit."""
        credentials = self.agent.identity.credentials
        if credentials is None:
            return False
        header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        answer = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
        try:
            chosen = digest.choose(challenge.headers.get_all_raw(header), credentials)
        except digest.DigestError as exc:
            log.warning("sip.auth_refused call_id=%s error=%s", self.call_id, exc)
            return False
        value = digest.authorization(chosen, credentials, method="INVITE", uri=self.request_uri)
        kept = tuple(h for h in self._auth_headers if h[0] != answer)
        self._auth_headers = (*kept, (answer, value))
        return True

    def _send_cancel(self) -> None:
        if self._cancel_sent or self.invite is None or self.invite_transaction is None:
            return
        self._cancel_sent = True
        invite = self.invite
        headers = Headers()
        headers.add("Via", invite.headers.get_all("Via")[0])
        headers.add("Max-Forwards", "70")
        headers.add("From", invite.headers.get("From") or "")
        headers.add("To", invite.headers.get("To") or "")
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{invite.cseq[0]} CANCEL")
        for route in invite.headers.get_all("Route"):
            headers.add("Route", route)
        if self._cancel_reason:
            headers.add("Reason", self._cancel_reason)  # RFC 3326
        headers.add("User-Agent", USER_AGENT)
        cancel = Request("CANCEL", invite.uri, headers)
        transaction = self.agent.endpoint.client_transaction(cancel, self.agent.identity.trunk)
        transaction.final.add_done_callback(_consume)

    def _confirm(self, ok: Response) -> None:
        """Open the dialog from the 2xx and ACK it (RFC 3261 sections 12.1.2, 13.2.2.4)."""
        to = NameAddr.parse(ok.headers.get("To") or "")
        self.remote_tag = to.tag
        contact = ok.headers.get_all("Contact")
        self.remote_target = NameAddr.parse(contact[0]).uri if contact else self.request_uri
        self.route_set = tuple(reversed(ok.headers.get_all("Record-Route")))
        if ok.body:
            try:
                self.remote_media = sdp.parse(ok.body)
            except sdp.SdpError as exc:
                log.warning("sip.bad_sdp call_id=%s error=%s", self.call_id, exc)
        ack = self._in_dialog("ACK", cseq=self.cseq)
        for name, value in self._auth_headers:  # section 22.1: as the INVITE had
            ack.headers.add(name, value)
        self._ack = message.serialise(ack)
        self.agent.endpoint.send_bytes(self._ack, self.agent.identity.trunk, "ACK")

    def _resend_ack(self, ok: Response) -> None:
        """A retransmitted 2xx: our ACK was lost (section 13.2.2.4). A 2xx of another
        dialog (a forked INVITE answered twice) is not ours to ACK this way: it is
        logged and left to time out at the far end."""
        if self._ack is None:
            return  # the first 2xx is not processed yet: its ACK is on its way
        to_tag = NameAddr.parse(ok.headers.get("To") or "").tag
        if to_tag != self.remote_tag:
            log.warning("sip.second_dialog_ignored call_id=%s to_tag=%s", self.call_id, to_tag)
            return
        self.agent.endpoint.send_bytes(self._ack, self.agent.identity.trunk, "ACK", again=True)

    def stray_2xx(self, ok: Response) -> None:
        self._resend_ack(ok)

    # In the dialog

    def _in_dialog(self, method: str, *, cseq: int | None = None, body: bytes = b"") -> Request:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        headers = Headers()
        headers.add("Via", self.agent.via())
        headers.add("Max-Forwards", "70")
        headers.add("From", str(self._from().with_tag(self.local_tag)))
        to = NameAddr(f"sip:{self.number}@{self.agent.identity.trunk_host}")
        headers.add("To", str(to.with_tag(self.remote_tag) if self.remote_tag else to))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        for route in self.route_set:
            headers.add("Route", route)
        headers.add("User-Agent", USER_AGENT)
        return Request(method, self.remote_target or self.request_uri, headers, body)

    async def request(
        self, method: str, extra: tuple[tuple[str, str], ...] = (), body: bytes = b""
    ) -> Response:
        """Send an in-dialog request and wait for its final response, answering one
        digest challenge. Raises ``TransactionTimeout``, ``TransportError``."""
        challenged: set[int] = set()
        auth: tuple[tuple[str, str], ...] = ()
        while True:
            outgoing = self._in_dialog(method, body=body)
            for name, value in (*extra, *auth):
                outgoing.headers.add(name, value)
            transaction = self.agent.endpoint.client_transaction(
                outgoing, self.agent.identity.trunk
            )
            final = await transaction.final
            credentials = self.agent.identity.credentials
            if final.status in (401, 407) and final.status not in challenged and credentials:
                challenged.add(final.status)
                header = "WWW-Authenticate" if final.status == 401 else "Proxy-Authenticate"
                answer = "Authorization" if final.status == 401 else "Proxy-Authorization"
                try:
                    chosen = digest.choose(final.headers.get_all_raw(header), credentials)
                except digest.DigestError:
                    return final
                value = digest.authorization(chosen, credentials, method=method, uri=outgoing.uri)
                auth = (*auth, (answer, value))
                continue
            return final

    async def bye(self, reason: str | None = None) -> None:
        """Hang up (a no-op once the call has ended); waits for the BYE's answer, at
        most Timer F."""
        if self.ended.is_set():
            return
        self._end("we hung up")
        if not self.answered:
            return
        extra = (("Reason", reason),) if reason else ()
        with contextlib.suppress(TransactionTimeout, TransportError):
            await self.request("BYE", extra)

    async def refer(self, target: str, timeout_s: float) -> str:
        """Blind transfer (RFC 3515): returns "accepted" when the far end took the
        REFER and its NOTIFY reported success (or said nothing within ``timeout_s``),
        else the status line of the failure ("SIP 486 Busy Here")."""
        final = await self.request(
            "REFER",
            (
                ("Refer-To", f"<{target}>"),
                ("Referred-By", f"<{self.local_uri}>"),
                ("Contact", f"<{self.agent.contact_uri}>"),
            ),
        )
        if not 200 <= final.status < 300:
            return f"SIP {final.status} {final.reason}"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return "accepted"
            try:
                fragment = await asyncio.wait_for(self._notify.get(), remaining)
            except TimeoutError:
                return "accepted"
            status_line = fragment.strip().splitlines()[0] if fragment.strip() else ""
            parts = status_line.split(" ", 2)
            try:
                status = int(parts[1])
            except (IndexError, ValueError):
                continue
            if status < 200:
                continue
            if status < 300:
                return "accepted"
            return f"SIP {status} {parts[2] if len(parts) > 2 else ''}".strip()

    def _end(self, cause: str) -> None:
        if self.ended.is_set():
            return
        if self.end_cause is None:
            self.end_cause = cause
        self.ended.set()
        if self.on_end is not None:
            self.on_end()
        for handle in self._answering.values():
            handle.cancel()
        self._answering.clear()
        self.agent.forget(self)

    # Requests from the far end

    def handle(self, request: Request, source: Address) -> None:
        agent = self.agent
        if request.method == "ACK":
            handle = self._answering.pop(str(request.cseq[0]), None)
            if handle is not None:
                handle.cancel()
            if request.body:  # the answer to the offer we made in a 200
                self._media_from(request.body)
            return
        if request.method == "BYE":
            agent.endpoint.respond(request, agent.response_to(request, 200, "OK"), source)
            reason = request.headers.get("Reason")
            self._end(f"SIP BYE ({reason})" if reason else "SIP BYE")
            return
        if request.method in ("INVITE", "UPDATE"):
            self._answer_offer(request, source)
            return
        if request.method == "NOTIFY":
            agent.endpoint.respond(request, agent.response_to(request, 200, "OK"), source)
            self._notify.put_nowait(request.body.decode("utf-8", "replace"))
            return
        if request.method in ("INFO", "OPTIONS"):
            agent.endpoint.respond(request, agent.response_to(request, 200, "OK"), source)
            return
        response = agent.response_to(request, 405, "Method Not Allowed")
        response.headers.add("Allow", ALLOW)
        agent.endpoint.respond(request, response, source)

    def _answer_offer(self, request: Request, source: Address) -> None:
        """A re-INVITE or UPDATE: answer their offer with our SDP (or make ours in the
        200 when they sent none); a 2xx to a re-INVITE is repeated until ACKed."""
        agent = self.agent
        body = self.sdp_offer()
        if request.body:
            try:
                description = sdp.parse(request.body)
                body = self.answer_offer(description)
            except sdp.SdpError as exc:
                response = agent.response_to(request, 488, "Not Acceptable Here")
                response.headers.add("Warning", f'399 vxdial "{exc}"')
                agent.endpoint.respond(request, response, source)
                return
            self._apply_media(description)
        response = agent.response_to(request, 200, "OK")
        response.headers.add("Contact", f"<{agent.contact_uri}>")
        response.headers.add("Allow", ALLOW)
        response.headers.add("Content-Type", "application/sdp")
        response.body = body
        if request.method == "UPDATE":
            agent.endpoint.respond(request, response, source)
            return
        data = message.serialise(response)
        agent.endpoint.send_bytes(data, source, "200")
        self._repeat_until_ack(str(request.cseq[0]), data, source)

    def _repeat_until_ack(self, key: str, data: bytes, destination: Address) -> None:
        """RFC 3261 section 13.3.1.4: the UAS core repeats its 2xx at T1, 2*T1 ...
        (capped at T2) until the ACK, for at most 64*T1."""
        loop = asyncio.get_running_loop()
        timers = self.agent.endpoint.timers
        deadline = loop.time() + timers.timeout_s
        interval = [timers.t1_s]

        def again() -> None:
            if key not in self._answering or loop.time() >= deadline:
                self._answering.pop(key, None)
                return
            with contextlib.suppress(TransportError):
                self.agent.endpoint.send_bytes(data, destination, "200", again=True)
            interval[0] = min(interval[0] * 2, timers.t2_s)
            self._answering[key] = loop.call_later(interval[0], again)

        self._answering[key] = loop.call_later(interval[0], again)

    def _media_from(self, body: bytes) -> None:
        try:
            self._apply_media(sdp.parse(body))
        except sdp.SdpError as exc:
            log.warning("sip.bad_sdp call_id=%s error=%s", self.call_id, exc)

    def _apply_media(self, description: sdp.Description) -> None:
        self.remote_media = description
        if self.on_media_change is not None:
            self.on_media_change(description)


class UserAgent:
    """One SIP endpoint calling out through one trunk. ``start()`` before use,
    ``close()`` after."""

    def __init__(
        self,
        identity: Identity,
        *,
        bind_host: str,
        bind_port: int,
        timers: Timers | None = None,
        contact_host: str | None = None,
    ) -> None:
        self.identity = identity
        self.timers = timers or Timers()
        self._bind = (bind_host, bind_port)
        self._contact_host = contact_host
        self._endpoint: Endpoint | None = None
        self.calls: dict[str, Call] = {}
        self.options_failures = 0

    @property
    def endpoint(self) -> Endpoint:
        if self._endpoint is None:
            raise TransportError("the user agent is not started")
        return self._endpoint

    @property
    def local_address(self) -> Address:
        return self.endpoint.local_address

    @property
    def contact_host(self) -> str:
        return self._contact_host or self.local_address[0]

    @property
    def contact_uri(self) -> str:
        host, port = self.contact_host, self.local_address[1]
        return f"sip:vxdial@{host}:{port}"

    async def start(self) -> None:
        self._endpoint = await Endpoint.open(
            self._bind[0], self._bind[1], self.timers, self._request, self._stray_response
        )

    def close(self) -> None:
        if self._endpoint is not None:
            self._endpoint.close()

    def via(self) -> str:
        host, port = self.contact_host, self.local_address[1]
        return f"SIP/2.0/UDP {host}:{port};branch={message.new_branch()};rport"

    def call(
        self,
        *,
        number: str,
        caller_id: str,
        sdp_offer: Callable[[], bytes],
        answer_offer: Callable[[sdp.Description], bytes],
    ) -> Call:
        return Call(self, number, caller_id, sdp_offer, answer_offer)

    def forget(self, call: Call) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    async def options(self) -> Response:
        """An OPTIONS to the trunk (a keepalive); raises ``TransactionTimeout``."""
        headers = Headers()
        headers.add("Via", self.via())
        headers.add("Max-Forwards", "70")
        headers.add(
            "From",
            str(NameAddr(f"sip:vxdial@{self.identity.from_domain}").with_tag(message.new_tag())),
        )
        headers.add("To", f"<sip:{self.identity.trunk_host}:{self.identity.trunk[1]}>")
        headers.add("Call-ID", secrets.token_hex(12) + "@vxdial")
        headers.add("CSeq", "1 OPTIONS")
        headers.add("Contact", f"<{self.contact_uri}>")
        headers.add("Accept", "application/sdp")
        headers.add("User-Agent", USER_AGENT)
        uri = f"sip:{self.identity.trunk_host}:{self.identity.trunk[1]}"
        transaction = self.endpoint.client_transaction(
            Request("OPTIONS", uri, headers), self.identity.trunk
        )
        return await transaction.final

    def response_to(self, request: Request, status: int, reason: str) -> Response:
        """A response with the request's Via, From, To (tagged), Call-ID and CSeq
        (RFC 3261 section 8.2.6.2)."""
        headers = Headers()
        for via in request.headers.get_all("Via"):
            headers.add("Via", via)
        headers.add("From", request.headers.get("From") or "")
        to = request.headers.get("To") or ""
        if status > 100 and NameAddr.parse(to).tag is None:
            call = self.calls.get(request.call_id)
            to = str(NameAddr.parse(to).with_tag(call.local_tag if call else message.new_tag()))
        headers.add("To", to)
        headers.add("Call-ID", request.call_id)
        headers.add("CSeq", request.headers.get("CSeq") or "")
        headers.add("Server", USER_AGENT)
        return Response(status, reason, headers)

    def _request(self, request: Request, source: Address) -> None:
        call = self.calls.get(request.call_id)
        to_tag = NameAddr.parse(request.headers.get("To") or "").tag
        if call is not None and to_tag == call.local_tag:
            call.handle(request, source)
            return
        if request.method == "ACK":
            return  # for a response we no longer remember
        if request.method == "OPTIONS":
            response = self.response_to(request, 200, "OK")
            response.headers.add("Allow", ALLOW)
            response.headers.add("Accept", "application/sdp")
            self.endpoint.respond(request, response, source)
            return
        if request.method == "INVITE" and to_tag is None:
            # vxdial only calls out (RFC 3261 section 21.6.2).
            self.endpoint.respond(request, self.response_to(request, 603, "Decline"), source)
            return
        if request.method in ("CANCEL", "BYE", "NOTIFY", "INVITE", "UPDATE", "INFO", "REFER"):
            status, reason = 481, "Call/Transaction Does Not Exist"
        else:
            status, reason = 405, "Method Not Allowed"
        response = self.response_to(request, status, reason)
        if status == 405:
            response.headers.add("Allow", ALLOW)
        self.endpoint.respond(request, response, source)

    def _stray_response(self, response: Response, source: Address) -> None:
        _, method = response.cseq
        if method == "INVITE" and 200 <= response.status < 300:
            call = self.calls.get(response.call_id)
            if call is not None:
                call.stray_2xx(response)


def _consume(future: asyncio.Future[Response]) -> None:
    if not future.cancelled():
        future.exception()
