"""Settings: the embedded defaults, then ``vxdial.toml``, then ``VXDIAL_*``, then flags.

Every key of the file can be overridden by an environment variable named
``VXDIAL_<SECTION>_<KEY>`` (``VXDIAL_DATABASE_URL``, ``VXDIAL_SERVER_PORT``); top-level
keys have no section part (``VXDIAL_TIMEZONE``). Command-line flags win over both.
The result is one frozen ``Settings``; a bad value is an ``InvalidInput`` naming the key.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vxdial.domain import errors, media

ENV_PREFIX = "VXDIAL_"


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Behind a proxy, the forwarded client address is used for login throttling only
    # when the proxy is listed here.
    trusted_proxies: tuple[str, ...] = ()
    # A request's head (request line and headers) must arrive whole within this long of
    # the connection opening, the previous answer, or its own first byte; else the
    # connection is closed (408 if a head had begun). vxdial/httpedge.py says why.
    header_timeout_s: float = 10.0
    # A request head larger than this is refused with 431 and the connection closed.
    max_header_bytes: int = 64 * 1024
    # A request body may pause at most this long, and must then keep coming at
    # min_body_bytes_per_s: after body_timeout_s the server waits one more second for
    # every min_body_bytes_per_s bytes received (only while the server itself waits
    # for the body). Past either, the request is answered at once and closed.
    body_timeout_s: float = 20.0
    min_body_bytes_per_s: int = 8192
    # An idle keep-alive connection is closed after this long.
    keep_alive_s: float = 5.0


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///./vxdial.db"
    # Connections each process keeps open (and as many more at peaks); mind
    # PostgreSQL's max_connections when running several processes.
    pool_size: int = 10


@dataclass(frozen=True)
class TelephonySettings:
    driver: str = "sim"


@dataclass(frozen=True)
class IntakeSettings:
    # The GET probe of start_url / result_url before a call is accepted.
    url_check_timeout_s: float = 10.0
    # A URL that answered 200 is trusted this long, so a burst of requests does not
    # hammer the customer's server; 0 probes every time.
    url_trust_s: float = 60.0
    # phone_list uploads larger than this are refused while they stream in.
    max_upload_bytes: int = 256 * 1024 * 1024
    # Rows per write transaction when a phone_list is stored.
    ingest_batch_size: int = 5000
    # phone_list uploads read and stored at once by one process, all senders together;
    # and by one sender (a login checked before the file part is read: login and pin
    # first in the form). More are refused with "try again shortly".
    max_concurrent_uploads: int = 8
    max_uploads_per_sender: int = 4
    # Uploads whose file part comes before login and pin, so that the file is read
    # before its sender is known: this many at once, all addresses together (one per
    # address, an IPv6 one by its /64); they never take the slots above from senders
    # whose form puts login and pin first.
    max_unauthenticated_uploads: int = 2


@dataclass(frozen=True)
class DialerSettings:
    # Calls up at once (dialing, ringing or connected), counted across every process
    # sharing the database; each sender's own `lines` also applies.
    lines: int = 100
    # New calls per second towards the trunk, across every process.
    cps: float = 10.0
    ring_timeout_s: float = 30.0
    # An answered call is hung up after this long, whatever its application does.
    max_call_s: float = 3600.0
    # A worker's claim on the calls it works on: renewed while it lives; when a worker
    # dies, another takes its calls over once their claim is this old. Far above any
    # clock skew between hosts.
    lease_s: float = 60.0
    # An idle dialer (and result deliverer, and search builder) makes no query: it
    # sleeps until the earliest due time it knows of, or until work is announced (a call
    # queued or a campaign resumed in this process, or in another one on PostgreSQL via
    # LISTEN/NOTIFY). It looks anyway after this many real seconds, whatever
    # --sim-speed: the safety net for work nobody announces (another process's writes
    # on SQLite).
    poll_s: float = 10.0


@dataclass(frozen=True)
class DeliverySettings:
    # One POST to result_url may take this long.
    timeout_s: float = 10.0
    # A result that is not accepted (2xx) is retried with backoff for this long.
    retry_for_s: float = 86400.0
    # result_url posts in flight at once, per process.
    concurrency: int = 100
    # ... of which one sender's at most: a result_url that answers slowly (or never)
    # holds up only its own sender's results.
    # 0: half of concurrency. One sender's campaign still gets 50 posts in flight (a cap
    # of 10 cut the dialer benchmark's single sender from 655 to 480 results a second),
    # and a sender whose result_url hangs leaves the other half to everyone else.
    sender_concurrency: int = 0

    @property
    def sender_share(self) -> int:
        """Posts in flight one sender may have: ``sender_concurrency``, or half of
        ``concurrency`` (at least one) when that is 0."""
        return self.sender_concurrency or max(1, self.concurrency // 2)


# What the far end of a transfer does (``[[sim.rule]] transfer``, ``vxdial try --transfer``),
# in the words of the outcome the application sees (VoiceXML 2.0 section 2.3.7): it is
# busy, never answers, the network refuses the call, or it answers and the bridged call
# is ended by the far end (``far_end_disconnect``) or by the callee with a key
# (``near_end_disconnect``). A blind transfer that is answered is handed over ("unknown").
SIM_TRANSFERS: tuple[media.TransferOutcome, ...] = (
    "far_end_disconnect",
    "near_end_disconnect",
    "busy",
    "noanswer",
    "network_busy",
)
DTMF_KEYS = "0123456789*#ABCD"


@dataclass(frozen=True)
class SimRule:
    """One [[sim.rule]]: the fate of the numbers it matches (PRODUCT.md section 4), and
    how their callee behaves once answered."""

    match: str = "*"  # glob over the E.164 digits; the first matching rule wins
    outcome: str = "answer"  # answer | busy | noanswer | rejected | unreachable
    attempts: tuple[str, ...] = ()  # an outcome per attempt, the last one repeating
    ring_seconds: float = 1.0
    callee_type: str = "voice"  # voice | answeringmachine | fax
    dtmf: str = ""  # keys pressed whenever the application waits for input
    talk_seconds: float = 0.0  # the callee hangs up after this long; 0: never
    # <record>: the callee speaks this long (0: says nothing), then presses record_key
    # if there is one (it ends the recording when the application lets DTMF end it),
    # else falls silent until the application's final silence ends the recording.
    record_seconds: float = 2.0
    record_key: str = ""  # one DTMF key, or "" for none
    # <transfer>: what the far end does (one of SIM_TRANSFERS); a bridged call it
    # answers lasts transfer_seconds (less if the application's maxtime is shorter).
    transfer: str = "far_end_disconnect"
    transfer_seconds: float = 10.0


@dataclass(frozen=True)
class SimSettings:
    # The simulated world's clock runs this many times faster (--sim-speed).
    speed: float = 1.0
    rule: tuple[SimRule, ...] = ()


@dataclass(frozen=True)
class SipSettings:
    """[sip]: the real SIP carrier (``[telephony] driver = "sip"``, docs/SIP.md)."""

    # Where every INVITE goes: the SBC, gateway or carrier, "sip:HOST" or "sip:HOST:PORT"
    # (required by the sip driver, which refuses to start without it).
    trunk: str = ""
    # Our UDP socket, "HOST:PORT" (port 0: any free port); HOST is also our RTP address.
    bind: str = "127.0.0.1:5060"
    # The address the trunk reaches us at, written into Via, Contact and the SDP ("" : the
    # bind host, or when that is 0.0.0.0 / ::, the local address routed towards the trunk).
    # Set it behind NAT or when the route-chosen address is not the one the trunk sees.
    advertise: str = ""
    # Digest credentials for the trunk's 401/407 challenges ("" : none); realm "" answers
    # whatever realm the trunk names.
    username: str = ""
    password: str = ""
    realm: str = ""
    # The caller ID (E.164 digits) of calls that name none (;ani=); "" : anonymous (RFC 3323).
    caller_id: str = ""
    # The host part of From and P-Asserted-Identity; "" : the trunk's host.
    from_domain: str = ""
    # RTP ports, "LOW-HIGH" (one even port per call, RTCP unused).
    rtp_ports: str = "20000-20999"
    codecs: tuple[str, ...] = ("PCMU", "PCMA")  # offered in this order
    # Where the far end's media may come from besides the address and port of its SDP
    # answer, until the first packet from there: "off" (nowhere: anyone else's RTP,
    # keys included, is dropped), "host" (another port of that address: a NAT that
    # rewrites ports), "any" (any address: a far end behind NAT announcing a private
    # address). The first packet from elsewhere moves our stream there for the call.
    rtp_latching: str = "off"
    # New INVITEs per second and calls up at once towards the trunk (the trunk's
    # limits; [dialer] cps and lines are the platform's).
    cps: float = 10.0
    max_calls: int = 100
    # The ring timeout of a call that gives none (the dialer gives [dialer] ring_timeout_s).
    ring_timeout_s: float = 30.0
    # An OPTIONS to the trunk this often, to notice it going down (0: never).
    options_interval_s: float = 30.0
    # RFC 3261 T1, the round-trip estimate (section 17.1.1.1, Table 4): a request is sent
    # again after T1, 2*T1, ... and given up after 64*T1 (Timer B: 32 s at 0.5 s), when
    # the attempt ends unreachable. Lower it only where the trunk is known to be close.
    t1_s: float = 0.5
    voice: str = "en-us"  # espeak-ng voice of text prompts


@dataclass(frozen=True)
class HttpSettings:
    # Outbound HTTP (URL probes, VoiceXML documents, result_url) may not reach these
    # networks; see vxdial/egress.py. Loopback and private ranges are allowed.
    # Link-local (169.254.169.254: most clouds' metadata), unspecified, and the other
    # clouds' metadata addresses: AWS's IPv6 one and Alibaba's.
    deny_networks: tuple[str, ...] = (
        "169.254.0.0/16",
        "fe80::/10",
        "0.0.0.0/8",
        "::/128",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
    )


@dataclass(frozen=True)
class AuthSettings:
    # A verified PIN is remembered (as a keyed hash, in memory) this long.
    pin_cache_s: float = 300.0
    # Failed logins allowed per login, and per client address, inside the window.
    max_failures_per_login: int = 5
    max_failures_per_address: int = 20
    failure_window_s: float = 300.0
    # argon2id cost of a PIN hash (argon2-cffi's defaults, RFC 9106's second option).
    # Existing hashes keep the cost they were made with.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4


@dataclass(frozen=True)
class WebSettings:
    # A web session ends after this long without a request (sliding), and in any case
    # this long after login.
    session_idle_s: float = 8 * 3600.0
    session_max_s: float = 7 * 86400.0
    # Mark cookies Secure (sent over HTTPS only): turn on behind a TLS-terminating proxy.
    secure_cookies: bool = False


@dataclass(frozen=True)
class DemoSettings:
    # The demo VoiceXML applications and the result inbox under /demo/ (src/vxdial/demo):
    # on by default, so a fresh install can place a call end to end at once.
    enabled: bool = True
    # Result posts the inbox keeps per sender (in memory: a restart empties it).
    inbox_size: int = 100


@dataclass(frozen=True)
class VoicexmlSettings:
    # The interpreter's bounds on what one call's application may make it do
    # (voicexml.Limits; docs/SECURITY.md). Going over one ends the session with
    # error.semantic naming it, except max_document_bytes and data_max_nodes: that
    # document is error.badfetch (catchable). Each call's session runs on a thread of its
    # own (voicexml.isolation), so none of these can stall the service, only its call.
    script_time_s: float = 1.0  # one ECMAScript evaluation or <script>
    script_memory_bytes: int = 32 * 1024 * 1024  # the session's ECMAScript heap
    session_cpu_s: float = 10.0  # the whole session (real applications use milliseconds)
    max_documents: int = 100  # VoiceXML documents loaded (<goto>/<submit> loops)
    max_steps: int = 10_000  # FIA iterations, dialog entries and events handled
    # Real applications weigh kilobytes; parsing costs memory and CPU in proportion.
    max_document_bytes: int = 1024 * 1024
    data_max_nodes: int = 50_000  # nodes of one <data> document
    # Threads the sessions run on, off the serving loop (voicexml.isolation); 0: one less
    # than the machine's cores, at least two. Fewer threads leave more of the machine to
    # the serving loop and cost less (each wakes and hands the GIL over); more keep a
    # session stuck in one evaluation (script_time_s at most) from holding up as many
    # others. bench/hostile.py and bench/dialer.py (BENCHMARKS.md) measure both.
    session_threads: int = 0

    @property
    def threads(self) -> int:
        """The session threads to run: ``session_threads``, or cores - 1 (at least 2)."""
        return self.session_threads or max(2, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class Settings:
    timezone: str = "UTC"
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    telephony: TelephonySettings = field(default_factory=TelephonySettings)
    dialer: DialerSettings = field(default_factory=DialerSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    sim: SimSettings = field(default_factory=SimSettings)
    sip: SipSettings = field(default_factory=SipSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    web: WebSettings = field(default_factory=WebSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    voicexml: VoicexmlSettings = field(default_factory=VoicexmlSettings)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        """Apply ``{"server.port": 9000, "timezone": "UTC"}``; ``None`` values are skipped."""
        tree = dataclasses.asdict(self)
        for dotted, value in overrides.items():
            if value is None:
                continue
            *sections, key = dotted.split(".")
            node = tree
            for section in sections:
                child = node.get(section)
                if not isinstance(child, dict):
                    raise errors.InvalidInput(dotted, "is not a known setting")
                node = child
            node[key] = value
        built: Settings = _build(Settings, tree, "")
        return built


def load(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the settings; ``config_path`` falls back to ``$VXDIAL_CONFIG``, then none."""
    environ = os.environ if environ is None else environ
    path = config_path or environ.get("VXDIAL_CONFIG")
    tree: dict[str, Any] = {}
    if path:
        try:
            with Path(path).open("rb") as handle:
                tree = tomllib.load(handle)
        except FileNotFoundError:
            raise errors.InvalidInput("config", f"{path}: no such file") from None
        except tomllib.TOMLDecodeError as exc:
            raise errors.InvalidInput("config", f"{path}: {exc}") from exc
    _apply_environment(tree, environ)
    settings: Settings = _build(Settings, tree, "")
    if overrides:
        settings = settings.with_overrides(overrides)
    return settings


def _apply_environment(tree: dict[str, Any], environ: Mapping[str, str]) -> None:
    known = {"VXDIAL_CONFIG"}
    for f in dataclasses.fields(Settings):
        kind = _field_type(Settings, f.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            known.update(
                f"{ENV_PREFIX}{f.name}_{sub.name}".upper() for sub in dataclasses.fields(kind)
            )
        else:
            known.add(f"{ENV_PREFIX}{f.name}".upper())
    for name in environ:
        # A misspelt variable would otherwise be ignored without a word.
        if name.startswith(ENV_PREFIX) and name not in known:
            raise errors.InvalidInput(name, "is not a known setting")
    for f in dataclasses.fields(Settings):
        kind = _field_type(Settings, f.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            section = tree.setdefault(f.name, {})
            if not isinstance(section, dict):
                continue  # _build reports it
            for sub in dataclasses.fields(kind):
                name = f"{ENV_PREFIX}{f.name}_{sub.name}".upper()
                if name in environ:
                    section[sub.name] = environ[name]
        else:
            name = f"{ENV_PREFIX}{f.name}".upper()
            if name in environ:
                tree[f.name] = environ[name]


def _build(cls: type[Any], data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise errors.InvalidInput(prefix.rstrip(".") or "config", "must be a table")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise errors.InvalidInput(f"{prefix}{key}", "is not a known setting")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        kind = _field_type(cls, f.name)
        name = f"{prefix}{f.name}"
        item = _table_list_item(kind)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[f.name] = _build(kind, data[f.name], name + ".")
        elif item is not None:  # [[section.name]]: a list of tables
            entries = data[f.name]
            if not isinstance(entries, list | tuple):
                raise errors.InvalidInput(name, "must be a list of tables ([[...]])")
            values[f.name] = tuple(
                _build(item, entry, f"{name}[{i}].") for i, entry in enumerate(entries)
            )
        else:
            values[f.name] = _coerce(name, kind, data[f.name])
    built = cls(**values)
    _check_values(built, prefix)
    return built


# Settings whose values come from a fixed set, or a range ("sim.rule" covers every
# [[sim.rule]] entry).
_OUTCOMES = ("answer", "busy", "noanswer", "rejected", "unreachable")
_CHOICES: dict[str, tuple[str, ...]] = {
    "telephony.driver": ("sim", "sip"),
    "sim.rule.outcome": _OUTCOMES,
    "sim.rule.attempts": _OUTCOMES,
    "sim.rule.callee_type": ("voice", "answeringmachine", "fax"),
    "sim.rule.transfer": SIM_TRANSFERS,
    "sip.codecs": ("PCMU", "PCMA"),
    "sip.rtp_latching": ("off", "host", "any"),
}
# Settings that hold one DTMF key or "" (any case: "a" is "A").
_DTMF_KEY = {"sim.rule.record_key"}
_RANGES: dict[str, tuple[float, float]] = {
    "server.port": (0, 65535),
    "database.pool_size": (1, 1000),
    "intake.url_check_timeout_s": (0.1, 600),
    "intake.url_trust_s": (0, 86400),
    "intake.max_upload_bytes": (1024, 1 << 40),
    "intake.ingest_batch_size": (1, 100_000),
    "intake.max_concurrent_uploads": (1, 1000),
    "intake.max_uploads_per_sender": (1, 1000),
    "intake.max_unauthenticated_uploads": (0, 1000),
    "server.header_timeout_s": (0.1, 3600),
    "server.max_header_bytes": (1024, 1 << 24),
    "server.body_timeout_s": (0.1, 3600),
    "server.min_body_bytes_per_s": (1, 1 << 30),
    "server.keep_alive_s": (0.1, 3600),
    "auth.pin_cache_s": (0, 86400),
    "auth.max_failures_per_login": (1, 1_000_000),
    "auth.max_failures_per_address": (1, 1_000_000),
    "auth.failure_window_s": (1, 86400),
    "auth.argon2_time_cost": (1, 100),
    "auth.argon2_memory_kib": (8, 4 * 1024 * 1024),
    "auth.argon2_parallelism": (1, 64),
    "web.session_idle_s": (60, 30 * 86400),
    "web.session_max_s": (60, 365 * 86400),
    "demo.inbox_size": (1, 10_000),
    "voicexml.script_time_s": (0.01, 60),
    "voicexml.script_memory_bytes": (1024 * 1024, 4 * 1024 * 1024 * 1024),
    "voicexml.session_cpu_s": (0.1, 3600),
    "voicexml.max_documents": (1, 100_000),
    "voicexml.max_steps": (100, 100_000_000),
    "voicexml.max_document_bytes": (1024, 64 * 1024 * 1024),
    "voicexml.data_max_nodes": (100, 10_000_000),
    "voicexml.session_threads": (0, 256),
    "dialer.lines": (1, 100_000),
    "dialer.cps": (0.1, 100_000),
    "dialer.ring_timeout_s": (1, 600),
    "dialer.max_call_s": (1, 86400),
    "dialer.lease_s": (5, 3600),
    "dialer.poll_s": (0.01, 3600),
    "delivery.timeout_s": (0.1, 600),
    "delivery.retry_for_s": (0, 30 * 86400),
    "delivery.concurrency": (1, 10_000),
    "delivery.sender_concurrency": (0, 10_000),
    "sim.speed": (0.001, 100_000),
    "sim.rule.ring_seconds": (0, 3600),
    "sim.rule.talk_seconds": (0, 86400),
    "sim.rule.record_seconds": (0, 3600),
    "sim.rule.transfer_seconds": (0, 86400),
    "sip.cps": (0.1, 100_000),
    "sip.max_calls": (1, 100_000),
    "sip.ring_timeout_s": (1, 600),
    "sip.options_interval_s": (0, 86400),
    "sip.t1_s": (0.01, 10),
}


def _check_values(built: Any, prefix: str) -> None:
    if isinstance(built, Settings):
        try:
            ZoneInfo(built.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise errors.InvalidInput(
                "timezone", f'"{built.timezone}" is not an IANA time zone name'
            ) from None
        return
    if isinstance(built, SipSettings):
        _check_sip(built, prefix)
    for f in dataclasses.fields(built):
        name = f"{prefix}{f.name}"
        rule = re.sub(r"\[\d+\]", "", name)
        value = getattr(built, f.name)
        choices = _CHOICES.get(rule)
        if choices is not None:
            for one in value if isinstance(value, tuple) else (value,):
                if one not in choices:
                    raise errors.InvalidInput(name, f"must be one of {', '.join(choices)}")
        if rule in _DTMF_KEY and value and (len(value) != 1 or value.upper() not in DTMF_KEYS):
            raise errors.InvalidInput(name, 'must be one DTMF key (0-9, *, #, A-D) or "" for none')
        if rule in _RANGES:
            low, high = _RANGES[rule]
            if not low <= value <= high:
                raise errors.InvalidInput(name, f"must be from {_number(low)} to {_number(high)}")


def _check_sip(sip: SipSettings, prefix: str) -> None:
    if sip.trunk:
        sip_trunk(sip.trunk, f"{prefix}trunk")
    host_port(sip.bind, f"{prefix}bind")
    port_range(sip.rtp_ports, f"{prefix}rtp_ports")
    if sip.caller_id and not re.fullmatch(r"\+?\d{1,15}", sip.caller_id):
        raise errors.InvalidInput(f"{prefix}caller_id", "must be E.164 digits (or empty)")
    if not sip.codecs:
        raise errors.InvalidInput(f"{prefix}codecs", "must name at least one codec")
    if bool(sip.username) != bool(sip.password):
        raise errors.InvalidInput(f"{prefix}password", "username and password go together")


def sip_trunk(value: str, field: str) -> tuple[str, int]:
    """``sip:HOST`` or ``sip:HOST:PORT`` -> (HOST, PORT); raises ``InvalidInput(field)``."""
    match = re.fullmatch(r"sips?:(?:[^@;]+@)?([A-Za-z0-9.\-]+)(?::(\d{1,5}))?(?:;.*)?", value)
    port = int(match[2]) if match and match[2] else 5060
    if match is None or not 0 < port < 65536:
        raise errors.InvalidInput(field, f'"{value}" is not a SIP URI like "sip:HOST:PORT"')
    return match[1], port


def host_port(value: str, field: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (HOST, PORT); raises ``InvalidInput(field)``."""
    host, _, port_text = value.rpartition(":")
    if not host or not port_text.isdigit() or int(port_text) > 65535:
        raise errors.InvalidInput(field, f'"{value}" is not HOST:PORT (port 0: any)')
    return host, int(port_text)


def port_range(value: str, field: str) -> tuple[int, int]:
    """``LOW-HIGH`` -> (LOW, HIGH); raises ``InvalidInput(field)``."""
    match = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", value)
    if match is None or not 1024 <= int(match[1]) < int(match[2]) <= 65535:
        raise errors.InvalidInput(field, f'"{value}" is not a port range like "20000-20999"')
    return int(match[1]), int(match[2])


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _table_list_item(kind: Any) -> type[Any] | None:
    """X for a ``tuple[X, ...]`` of dataclasses, else None."""
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if args and isinstance(args[0], type) and dataclasses.is_dataclass(args[0]):
            return args[0]
    return None


def _field_type(cls: type[Any], name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _coerce(name: str, kind: Any, value: Any) -> Any:
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool | float):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        origin = typing.get_origin(kind)
        if origin is tuple:
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(str(v) for v in value)
        if isinstance(kind, types.UnionType):
            return value
    except (TypeError, ValueError):
        pass
    else:
        return value
    expected = getattr(kind, "__name__", str(kind))
    raise errors.InvalidInput(name, f"{value!r} is not a valid {expected}")
