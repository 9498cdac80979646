"""The UDP transport and the client transactions of RFC 3261 section 17.

``Endpoint`` is an asyncio ``DatagramProtocol`` on one UDP socket: it parses each
datagram, hands responses to the client transaction whose branch and method they
match (section 17.1.3), answers retransmitted requests with the response already
sent (section 17.2, server transactions reduced to that cache), and passes every
other message to the UA core.

Timers (section 17.1.1.2 and 17.1.2.2, UDP): an INVITE is retransmitted after T1,
2*T1, 4*T1 ... (Timer A) until a provisional response, and abandoned after 64*T1
without one (Timer B); a non-INVITE request after T1, 2*T1 ... capped at T2 (Timer E),
at T2 once a provisional response came, abandoned after 64*T1 (Timer F). A non-2xx
final response to an INVITE is ACKed by the transaction, which then absorbs (and
re-ACKs) its retransmissions for Timer D (32 s); a 2xx ends the transaction for the
ACK's purposes -- the UA core ACKs it -- but, as RFC 6026 section 7.1 has it, the
transaction lingers 64*T1 ("Accepted") to pass retransmitted 2xx up to the core,
which re-sends its ACK. Timers run on the event loop's monotonic clock (``call_later``):
they are protocol timers measured in milliseconds, not the world's time that the
project's ``Clock`` scales for simulations.
"""

from __future__ import annotations

import asyncio
import logging
import time
import typing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from vxdial.telephony.sip import message
from vxdial.telephony.sip.message import Headers, Request, Response, Via

__all__ = ["ClientTransaction", "Endpoint", "Timers", "TransactionTimeout"]

log = logging.getLogger("vxdial.sip")

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Timers:
    """RFC 3261 section 17.1.1.1 and Table 4 (defaults: T1 500 ms, T2 4 s, T4 5 s)."""

    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    timer_d_s: float = 32.0

    @property
    def timeout_s(self) -> float:
        """Timers B, F, H, J and M: 64*T1."""
        return 64 * self.t1_s


class TransactionTimeout(Exception):
    """No final response before Timer B / Timer F (the far end never answered)."""


class TransportError(Exception):
    """The request could not be sent (an ICMP error, a closed socket)."""


class State(Enum):
    CALLING = "calling"  # INVITE sent (or "trying" for non-INVITE), nothing heard
    PROCEEDING = "proceeding"  # a provisional response came
    ACCEPTED = "accepted"  # INVITE: a 2xx came (RFC 6026)
    COMPLETED = "completed"  # a final response came; absorbing retransmissions
    TERMINATED = "terminated"


class Endpoint(asyncio.DatagramProtocol):
    """One UDP socket: parsing, sending, transaction matching, retransmission counts.

    ``on_request(request, source)`` receives every request that is not a retransmission
    of one already answered (ACKs included); ``on_stray_response(response, source)``
    every response no transaction is waiting for (a 2xx retransmitted after its
    transaction ended). ``sent`` and ``retransmitted`` count by method ("INVITE",
    "ACK", ...) and by status for responses ("200"), for tests and metrics.
    """

    def __init__(
        self,
        timers: Timers,
        on_request: Callable[[Request, Address], None],
        on_stray_response: Callable[[Response, Address], None],
    ) -> None:
        self.timers = timers
        self._on_request = on_request
        self._on_stray_response = on_stray_response
        self._transport: asyncio.DatagramTransport | None = None
        self._transactions: dict[tuple[str, str], ClientTransaction] = {}
        # Server side: (branch, method) -> (response bytes, destination, expiry time).
        self._answered: dict[tuple[str, str], tuple[bytes, Address, float]] = {}
        self._next_sweep = 0.0
        self.sent: Counter[str] = Counter()
        self.retransmitted: Counter[str] = Counter()
        self.received: Counter[str] = Counter()
        self.parse_errors = 0

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        timers: Timers,
        on_request: Callable[[Request, Address], None],
        on_stray_response: Callable[[Response, Address], None],
    ) -> Endpoint:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: cls(timers, on_request, on_stray_response), local_addr=(host, port)
        )
        protocol._transport = transport
        return protocol

    @property
    def local_address(self) -> Address:
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    @property
    def transactions_in_progress(self) -> int:
        return len(self._transactions)

    def close(self) -> None:
        for transaction in list(self._transactions.values()):
            transaction.terminate()
        if self._transport is not None:
            self._transport.close()

    # asyncio.DatagramProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = typing.cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for something we sent; UDP does not say which message it was.
        log.warning("sip.transport_error error=%s", exc)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        source = (str(addr[0]), int(str(addr[1])))
        if not data.strip():
            return  # a CRLF keep-alive (RFC 5626 section 4.4.1)
        try:
            received = message.parse(data)
        except message.ParseError as exc:
            self.parse_errors += 1
            log.warning("sip.unparsable source=%s:%d error=%s", *source, exc)
            return
        if isinstance(received, Response):
            self.received[str(received.status)] += 1
            self._response_received(received, source)
        else:
            self.received[received.method] += 1
            self._request_received(received, source)

    # Sending

    def send(self, outgoing: Request | Response, destination: Address) -> None:
        self.send_bytes(message.serialise(outgoing), destination, _label(outgoing))

    def send_bytes(
        self, data: bytes, destination: Address, label: str, *, again: bool = False
    ) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError("the SIP socket is closed")
        self._transport.sendto(data, destination)
        (self.retransmitted if again else self.sent)[label] += 1

    def respond(self, request: Request, response: Response, destination: Address) -> None:
        """Send ``response`` to ``request`` and remember it for the request's
        retransmissions (64*T1, Timer J; not for INVITE, whose 2xx the core repeats)."""
        data = message.serialise(response)
        self.send_bytes(data, destination, str(response.status))
        branch = _top_branch(request.headers)
        if branch and request.method not in ("INVITE", "ACK"):
            expires = time.monotonic() + self.timers.timeout_s
            self._answered[(branch, request.method)] = (data, destination, expires)
        self._sweep()

    def client_transaction(
        self,
        request: Request,
        destination: Address,
        on_provisional: Callable[[Response], None] | None = None,
        on_2xx_again: Callable[[Response], None] | None = None,
    ) -> ClientTransaction:
        """Start a client transaction for ``request`` (its top Via has the branch)."""
        transaction = ClientTransaction(self, request, destination, on_provisional, on_2xx_again)
        self._transactions[transaction.key] = transaction
        transaction.start()
        return transaction

    def forget(self, transaction: ClientTransaction) -> None:
        if self._transactions.get(transaction.key) is transaction:
            del self._transactions[transaction.key]

    # Receiving

    def _response_received(self, response: Response, source: Address) -> None:
        branch = _top_branch(response.headers)
        _, method = response.cseq
        transaction = self._transactions.get((branch, method))
        if transaction is not None:
            transaction.receive(response)
        else:
            self._on_stray_response(response, source)

    def _request_received(self, request: Request, source: Address) -> None:
        if request.method != "ACK":
            branch = _top_branch(request.headers)
            answered = self._answered.get((branch, request.method))
            if answered is not None:
                data, destination, _ = answered
                self.send_bytes(data, destination, "retransmission", again=True)
                return
        self._on_request(request, source)

    def _sweep(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + 1.0
        self._answered = {k: v for k, v in self._answered.items() if v[2] > now}


class ClientTransaction:
    """One request and its responses (RFC 3261 section 17.1). ``final`` is a future
    that resolves to the first final response, or fails with ``TransactionTimeout``."""

    def __init__(
        self,
        endpoint: Endpoint,
        request: Request,
        destination: Address,
        on_provisional: Callable[[Response], None] | None,
        on_2xx_again: Callable[[Response], None] | None,
    ) -> None:
        self.endpoint = endpoint
        self.request = request
        self.destination = destination
        self.invite = request.method == "INVITE"
        self.key = (_top_branch(request.headers), request.method)
        self.state = State.CALLING
        self.final: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.provisional: Response | None = None
        self.retransmissions = 0
        self._on_provisional = on_provisional
        self._on_2xx_again = on_2xx_again
        self._data = message.serialise(request)
        self._interval_s = endpoint.timers.t1_s
        self._retransmit_handle: asyncio.TimerHandle | None = None
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._ack: bytes | None = None  # the ACK of a non-2xx final response

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.endpoint.send_bytes(self._data, self.destination, self.request.method)
        self._retransmit_handle = loop.call_later(self._interval_s, self._retransmit)
        self._timeout_handle = loop.call_later(self.endpoint.timers.timeout_s, self._time_out)

    def receive(self, response: Response) -> None:
        if response.status < 200:
            self._provisional(response)
        elif self.invite:
            self._invite_final(response)
        else:
            self._non_invite_final(response)

    def terminate(self) -> None:
        self.state = State.TERMINATED
        self._cancel_timers()
        self.endpoint.forget(self)
        if not self.final.done():
            self.final.set_exception(TransactionTimeout("transaction terminated"))
            self.final.exception()  # retrieved: nobody may be waiting any more

    def _provisional(self, response: Response) -> None:
        if self.state not in (State.CALLING, State.PROCEEDING):
            return
        self.provisional = response
        if self.state is State.CALLING:
            self.state = State.PROCEEDING
            if self.invite:
                # Section 17.1.1.2: no more retransmissions, and Timer B applies only to
                # "Calling": a ringing phone may ring as long as the TU lets it.
                self._cancel_timers()
            else:
                self._interval_s = self.endpoint.timers.t2_s
        if self._on_provisional is not None:
            self._on_provisional(response)

    def _invite_final(self, response: Response) -> None:
        loop = asyncio.get_running_loop()
        if 200 <= response.status < 300:
            if self.state in (State.CALLING, State.PROCEEDING):
                self.state = State.ACCEPTED
                self._cancel_timers()
                self._timeout_handle = loop.call_later(
                    self.endpoint.timers.timeout_s, self.terminate
                )
                self.final.set_result(response)
            elif self.state is State.ACCEPTED and self._on_2xx_again is not None:
                self._on_2xx_again(response)
            return
        if self.state in (State.CALLING, State.PROCEEDING):
            self.state = State.COMPLETED
            self._cancel_timers()
            self._ack = message.serialise(ack_for_failure(self.request, response))
            self.endpoint.send_bytes(self._ack, self.destination, "ACK")
            self._timeout_handle = loop.call_later(self.endpoint.timers.timer_d_s, self.terminate)
            self.final.set_result(response)
        elif self.state is State.COMPLETED and self._ack is not None:
            self.endpoint.send_bytes(self._ack, self.destination, "ACK", again=True)

    def _non_invite_final(self, response: Response) -> None:
        if self.state not in (State.CALLING, State.PROCEEDING):
            return
        self.state = State.COMPLETED
        self._cancel_timers()
        # Timer K: absorb retransmitted responses for T4, then forget the branch.
        self._timeout_handle = asyncio.get_running_loop().call_later(
            self.endpoint.timers.t4_s, self.terminate
        )
        self.final.set_result(response)

    def _retransmit(self) -> None:
        if self.state not in (State.CALLING, State.PROCEEDING):
            return
        try:
            self.endpoint.send_bytes(self._data, self.destination, self.request.method, again=True)
        except TransportError:
            self._time_out()
            return
        self.retransmissions += 1
        if self.invite:
            self._interval_s *= 2  # Timer A doubles, uncapped
        elif self.state is State.CALLING:
            self._interval_s = min(self._interval_s * 2, self.endpoint.timers.t2_s)
        self._retransmit_handle = asyncio.get_running_loop().call_later(
            self._interval_s, self._retransmit
        )

    def _time_out(self) -> None:
        if self.state in (State.CALLING, State.PROCEEDING) and not self.final.done():
            self.final.set_exception(
                TransactionTimeout(
                    f"no response to {self.request.method} (timer {'B' if self.invite else 'F'})"
                )
            )
        self.state = State.TERMINATED
        self._cancel_timers()
        self.endpoint.forget(self)

    def _cancel_timers(self) -> None:
        for handle in (self._retransmit_handle, self._timeout_handle):
            if handle is not None:
                handle.cancel()
        self._retransmit_handle = self._timeout_handle = None


def ack_for_failure(invite: Request, response: Response) -> Request:
    """The ACK of a non-2xx final response (RFC 3261 section 17.1.1.3): the INVITE's
    Request-URI, top Via, From, Call-ID and Route, the response's To, CSeq "n ACK"."""
    headers = Headers()
    via = invite.headers.get_all("Via")
    if via:
        headers.add("Via", via[0])
    headers.add("Max-Forwards", "70")
    for name in ("From",):
        value = invite.headers.get(name)
        if value is not None:
            headers.add(name, value)
    headers.add("To", response.headers.get("To") or invite.headers.get("To") or "")
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq[0]} ACK")
    for route in invite.headers.get_all("Route"):
        headers.add("Route", route)
    return Request("ACK", invite.uri, headers)


def _top_branch(headers: Headers) -> str:
    via = headers.get_all("Via")
    return Via.parse(via[0]).branch if via else ""


def _label(outgoing: Request | Response) -> str:
    return outgoing.method if isinstance(outgoing, Request) else str(outgoing.status)
