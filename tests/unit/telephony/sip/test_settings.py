"""The [sip] section of vxdial.toml: every bad value is refused naming its key."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

import pytest

from vxdial import config
from vxdial.app import driver_for
from vxdial.domain import errors
from vxdial.domain.clock import SystemClock
from vxdial.telephony.base import DialRequest
from vxdial.telephony.sipdriver import SipDriver


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> config.Settings:
    path = tmp_path / "vxdial.toml"
    path.write_text(text)
    return config.load(path, environ=environ or {})


def test_a_full_sip_section(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
[telephony]
driver = "sip"
[sip]
trunk = "sip:sbc.example:5080"
bind = "0.0.0.0:5062"
username = "vxdial"
password = "s3cret"
caller_id = "+15550001111"
rtp_ports = "30000-30999"
codecs = ["PCMA"]
cps = 25
max_calls = 300
ring_timeout_s = 40
options_interval_s = 0
""",
    )
    sip = settings.sip
    assert (sip.trunk, sip.bind, sip.codecs, sip.cps, sip.max_calls) == (
        "sip:sbc.example:5080",
        "0.0.0.0:5062",
        ("PCMA",),
        25.0,
        300,
    )
    assert config.sip_trunk(sip.trunk, "sip.trunk") == ("sbc.example", 5080)
    assert config.sip_trunk("sip:10.0.0.1", "sip.trunk") == ("10.0.0.1", 5060)


def test_environment_variables_reach_the_sip_section(tmp_path: Path) -> None:
    settings = load(
        tmp_path, "", {"VXDIAL_SIP_TRUNK": "sip:127.0.0.1:5999", "VXDIAL_SIP_CODECS": "PCMA,PCMU"}
    )
    assert (settings.sip.trunk, settings.sip.codecs) == ("sip:127.0.0.1:5999", ("PCMA", "PCMU"))


@pytest.mark.parametrize(
    ("section", "field", "reason"),
    [
        ('[sip]\ntrunk = "http://x"', "sip.trunk", "is not a SIP URI"),
        ('[sip]\ntrunk = "sip:host:99999"', "sip.trunk", "is not a SIP URI"),
        ('[sip]\nbind = "5060"', "sip.bind", "is not HOST:PORT"),
        ('[sip]\nrtp_ports = "20000"', "sip.rtp_ports", "is not a port range"),
        ('[sip]\nrtp_ports = "2000-1000"', "sip.rtp_ports", "is not a port range"),
        ('[sip]\ncodecs = ["G729"]', "sip.codecs", "must be one of PCMU, PCMA"),
        ("[sip]\ncodecs = []", "sip.codecs", "must name at least one codec"),
        ('[sip]\ncaller_id = "alice"', "sip.caller_id", "must be E.164 digits"),
        ('[sip]\nusername = "u"', "sip.password", "username and password go together"),
        ("[sip]\ncps = 0", "sip.cps", "must be from 0.1 to 100000"),
        ("[sip]\nmax_calls = 0", "sip.max_calls", "must be from 1 to 100000"),
        ("[sip]\nring_timeout_s = 0", "sip.ring_timeout_s", "must be from 1 to 600"),
        ("[sip]\nvoice = 3", "sip.voice", "is not a valid str"),
        ('[sip]\nproxy = "x"', "sip.proxy", "is not a known setting"),
        ('[sip]\nrtp_latching = "yes"', "sip.rtp_latching", "must be one of off, host, any"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, section: str, field: str, reason: str) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        load(tmp_path, section)
    assert caught.value.field == field
    assert reason in caught.value.reason


@pytest.mark.parametrize(("section", "latching"), [("", "off"), ('rtp_latching = "host"', "host")])
async def test_rtp_latching_reaches_the_media_engine(
    tmp_path: Path, section: str, latching: str
) -> None:
    """Off unless asked for (issue 12, item 5): media only from the SDP answer's address."""
    settings = load(
        tmp_path,
        f'[telephony]\ndriver = "sip"\n[sip]\ntrunk = "sip:127.0.0.1:5999"\n{section}\n',
    )
    assert settings.sip.rtp_latching == latching
    driver = driver_for(settings, SystemClock())
    assert isinstance(driver, SipDriver)
    assert driver._media.latching == latching  # type: ignore[attr-defined]
    await driver.aclose()


def test_the_sip_driver_will_not_start_without_a_trunk(tmp_path: Path) -> None:
    settings = load(tmp_path, '[telephony]\ndriver = "sip"')
    with pytest.raises(errors.InvalidInput) as caught:
        driver_for(settings, SystemClock())
    assert (caught.value.field, caught.value.reason) == (
        "sip.trunk",
        'is required when telephony.driver is "sip"',
    )


def test_the_sip_driver_will_not_start_without_its_speech_programs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load(tmp_path, '[telephony]\ndriver = "sip"\n[sip]\ntrunk = "sip:127.0.0.1"\n')
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(errors.InvalidInput) as caught:
        driver_for(settings, SystemClock())
    assert caught.value.field == "telephony.driver"
    assert "espeak-ng and sox cannot be found on PATH" in caught.value.reason


async def test_a_bind_address_in_use_names_sip_bind(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        settings = load(
            tmp_path,
            f'[telephony]\ndriver = "sip"\n[sip]\ntrunk = "sip:127.0.0.1:5999"\n'
            f'bind = "127.0.0.1:{port}"\n',
        )
        driver = driver_for(settings, SystemClock())
        with pytest.raises(errors.InvalidInput) as caught:
            await driver.start()
    assert caught.value.field == "sip.bind"
    assert f"cannot listen on 127.0.0.1:{port}" in caught.value.reason
    await driver.aclose()


@pytest.mark.parametrize(
    ("bind", "advertise", "expected"),
    [
        # A wildcard bind: the address the system routes towards the trunk (loopback here).
        ("0.0.0.0:0", "", "127.0.0.1"),
        # Behind NAT: the configured address, whatever the socket's own.
        ("127.0.0.1:0", "192.0.2.10", "192.0.2.10"),
    ],
)
async def test_the_invite_names_the_advertised_address(
    tmp_path: Path, bind: str, advertise: str, expected: str
) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk:
        trunk.bind(("127.0.0.1", 0))
        trunk.setblocking(False)
        settings = load(
            tmp_path,
            f'[telephony]\ndriver = "sip"\n[sip]\n'
            f'trunk = "sip:127.0.0.1:{trunk.getsockname()[1]}"\n'
            f'bind = "{bind}"\nadvertise = "{advertise}"\noptions_interval_s = 0\n',
        )
        driver = driver_for(settings, SystemClock())
        await driver.start()
        request = DialRequest(
            call_id=1,
            attempt=1,
            number="15551230000",
            caller_id=None,
            postd=None,
            ring_timeout_s=5.0,
        )
        dialing = asyncio.ensure_future(driver.dial(request))
        try:
            data, source = await asyncio.wait_for(loop.sock_recvfrom(trunk, 65535), 30)
            invite = data.decode()
            # Busy Here, so that the call ends at once (no CANCEL left to time out).
            headers = [
                line
                for line in invite.split("\r\n\r\n")[0].split("\r\n")[1:]
                if line.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")
            ]
            busy = "\r\n".join(["SIP/2.0 486 Busy Here", *headers, "Content-Length: 0", "", ""])
            await loop.sock_sendto(trunk, busy.encode(), source)
            result = await asyncio.wait_for(dialing, 30)
        finally:
            dialing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dialing
            await driver.aclose()
    assert result.outcome == "busy"
    assert invite.startswith("INVITE sip:15551230000@127.0.0.1:")
    assert f"Via: SIP/2.0/UDP {expected}:" in invite
    assert f"@{expected}:" in next(
        line for line in invite.splitlines() if line.startswith("Contact:")
    )
    assert f"c=IN IP4 {expected}" in invite
    assert "0.0.0.0" not in invite
