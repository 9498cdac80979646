"""Kamailio (Debian's kamailio, kamailio-tls-modules) as a carrier's proxy in front of
the SIP tests' far ends: started on loopback with a configuration generated per test.

``Kamailio.start(folder, target=...)`` runs a proxy that relays every INVITE (and
OPTIONS, BYE, ...) towards ``target`` (SIPp or baresip), as a carrier's SBC does:

- ``auth=(user, password)``: INVITEs must carry digest credentials (407 challenge,
  realm ``REALM``), REGISTERs too (401 challenge);
- ``record_route``: the proxy stays in the dialog (``record_route()``; in-dialog requests
  come back through it by ``loose_route()``); without it ACK and BYE must go straight to
  the far end's Contact (RFC 3261 section 12.2.1.1);
- ``retry_after_s``: an INVITE to a number starting with 503 is answered
  ``503 Service Unavailable`` with that ``Retry-After``;
- ``tls``: a TLS listener too, with a certificate for 127.0.0.1 and localhost signed by a
  test CA (``ca_file``; ``client_ca``: also ask for, and check, the client's certificate);
- REGISTER is always served (in-memory location table, ``registrations()`` reads it back
  through the log).

UDP and TCP share one port (``port``), TLS has its own (``tls_port``). Every request the
proxy sees is logged (``requests()``: method, R-URI, transport) for assertions.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REALM = "vxdial.test"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
_LOG_LINE = re.compile(r"VXLOG (\w+) (\S+) (\w+)")
_REGISTERED = re.compile(r"VXREG (\S+) (\S+)")


def available() -> bool:
    return shutil.which("kamailio") is not None and (MODULES / "tls.so").exists()


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (and the next one for TLS)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port: int = udp.getsockname()[1]
        if port >= 65534:
            continue
        try:
            for candidate in (port, port + 1):
                with socket.socket() as tcp:
                    tcp.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def make_certificates(folder: Path) -> tuple[Path, Path, Path, Path, Path]:
    """A test CA, a server certificate for 127.0.0.1/localhost and a client one, with
    openssl: (ca, server_cert, server_key, client_cert, client_key)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca = folder / "ca.key", folder / "ca.pem"
    openssl = ["openssl"]
    subprocess.run(
        [
            *openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=vxdial test CA", "-keyout", str(ca_key), "-out", str(ca),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    made: list[Path] = []
    for name, subject, extension in (
        ("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "/CN=vxdial", "subjectAltName=DNS:vxdial.client"),
    ):
        key, request, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
        subprocess.run(
            [*openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
             "-keyout", str(key), "-out", str(request)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        extensions = folder / f"{name}.ext"
        extensions.write_text(extension + "\n")
        subprocess.run(
            [*openssl, "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey",
             str(ca_key), "-CAcreateserial", "-days", "2", "-out", str(cert),
             "-extfile", str(extensions)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        made += [cert, key]
    return ca, made[0], made[1], made[2], made[3]


@dataclass
class Kamailio:
    folder: Path
    port: int
    tls_port: int
    process: subprocess.Popen[bytes] | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.folder / "kamailio.log"

    @property
    def trunk(self) -> str:
        return f"sip:127.0.0.1:{self.port}"

    @property
    def tls_trunk(self) -> str:
        return f"sips:127.0.0.1:{self.tls_port}"

    @classmethod
    def start(
        cls,
        folder: Path,
        *,
        target: str,
        auth: tuple[str, str] | None = None,
        record_route: bool = True,
        retry_after_s: int | None = None,
        tls: bool = False,
        client_ca: bool = False,
    ) -> Kamailio:
        """Start the proxy relaying to ``target`` ("host:port", UDP); see the module."""
        folder.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        proxy = cls(folder, port, port + 1)
        tls_config = ""
        if tls:
            ca, cert, key, client_cert, client_key = make_certificates(folder / "certs")
            proxy.ca_file, proxy.client_cert, proxy.client_key = ca, client_cert, client_key
            verify = "yes" if client_ca else "no"
            (folder / "tls.cfg").write_text(
                "[server:default]\n"
                "method = TLSv1.2+\n"
                f"certificate = {cert}\n"
                f"private_key = {key}\n"
                f"ca_list = {ca}\n"
                f"verify_certificate = {verify}\n"
                f"require_certificate = {verify}\n\n"
                "[client:default]\n"
                "method = TLSv1.2+\n"
                "verify_certificate = no\n"
                "require_certificate = no\n"
            )
            tls_config = (
                f"enable_tls=yes\nlisten=tls:127.0.0.1:{proxy.tls_port}\n"
                f'loadmodule "tls.so"\nmodparam("tls", "config", "{folder / "tls.cfg"}")\n'
            )
        config = _CONFIG.format(
            modules=MODULES,
            port=port,
            tls=tls_config,
            auth=_AUTH.format(realm=REALM, user=auth[0], password=auth[1]) if auth else "",
            retry_after=(
                _RETRY_AFTER.format(seconds=retry_after_s) if retry_after_s is not None else ""
            ),
            record_route="record_route();" if record_route else "",
            target=target,
        )
        config_path = folder / "kamailio.cfg"
        config_path.write_text(config)
        check = subprocess.run(
            ["kamailio", "-c", "-f", str(config_path)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise RuntimeError(f"kamailio refuses its configuration:\n{check.stderr}")
        log = proxy.log_path.open("wb")
        proxy.process = subprocess.Popen(
            [
                "kamailio", "-f", str(config_path), "-DD", "-E", "-e",
                "-Y", str(folder), "-P", str(folder / "kamailio.pid"), "-w", str(folder),
                "-m", "64", "-M", "8",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        proxy._wait_ready()
        return proxy

    def _wait_ready(self) -> None:
        """Until the proxy answers an OPTIONS on UDP (a hang guard of 30 s)."""
        deadline = time.monotonic() + 30
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            probe.settimeout(0.2)
            local = probe.getsockname()[1]
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"kamailio exited:\n{self.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"kamailio did not answer:\n{self.log()}")
                probe.sendto(_options(self.port, local), ("127.0.0.1", self.port))
                with contextlib.suppress(TimeoutError):
                    answer = probe.recv(4096)
                    if answer.startswith(b"SIP/2.0 200"):
                        return

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def requests(self) -> list[tuple[str, str, str]]:
        """(method, request URI, transport) of every request the proxy received."""
        return [m.groups() for m in _LOG_LINE.finditer(self.log())]  # type: ignore[misc]

    def registrations(self) -> list[tuple[str, str]]:
        """(address of record, contact) of every REGISTER the proxy accepted."""
        return [m.groups() for m in _REGISTERED.finditer(self.log())]  # type: ignore[misc]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _options(port: int, local: int) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{time.monotonic_ns()}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag={local}\r\n"
        "To: <sip:proxy@127.0.0.1>\r\n"
        f"Call-ID: probe-{time.monotonic_ns()}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


_AUTH = """
    if (is_method("REGISTER")) {{
        if (!pv_www_authenticate("{realm}", "{password}", "0") || $au != "{user}") {{
            www_challenge("{realm}", "1");
            exit;
        }}
        consume_credentials();
    }} else if (is_method("INVITE")) {{
        if (!pv_proxy_authenticate("{realm}", "{password}", "0") || $au != "{user}") {{
            proxy_challenge("{realm}", "1");
            exit;
        }}
        consume_credentials();
    }}
"""

_RETRY_AFTER = """
    if (is_method("INVITE") && $rU =~ "^503") {{
        append_to_reply("Retry-After: {seconds}\\r\\n");
        sl_send_reply("503", "Service Unavailable");
        exit;
    }}
"""

_CONFIG = """#!KAMAILIO
debug=2
log_stderror=yes
log_prefix="VX "
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
mpath="{modules}"
{tls}
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("usrloc", "db_mode", 0)
modparam("rr", "append_fromtag", 1)
modparam("rr", "enable_double_rr", 1)
modparam("auth", "secret", "vxdial-test-secret")

request_route {{
    xlog("L_NOTICE", "VXLOG $rm $ru $pr\\n");
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    t_check_trans();
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "Keepalive");
        exit;
    }}
{auth}
    if (is_method("REGISTER")) {{
        if (save("location")) {{
            xlog("L_NOTICE", "VXREG $tu $ct\\n");
        }}
        exit;
    }}
{retry_after}
    {record_route}
    $du = "sip:{target}";
    t_relay();
}}
"""
