"""vxdial.config: defaults, then vxdial.toml, then VXDIAL_* variables, then flags."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vxdial import config
from vxdial.domain import errors


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vxdial.toml"
    path.write_text(text, encoding="utf-8")
    return path


def invalid(**kwargs: object) -> errors.InvalidInput:
    kwargs.setdefault("environ", {})
    with pytest.raises(errors.InvalidInput) as caught:
        config.load(**kwargs)  # type: ignore[arg-type]
    return caught.value


# Defaults (PRODUCT.md section 1).


def test_defaults() -> None:
    settings = config.load(environ={})
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.database.url == "sqlite:///./vxdial.db"
    assert settings.telephony.driver == "sim"
    assert settings.timezone == "UTC"
    assert settings.zone == ZoneInfo("UTC")
    assert settings.intake.url_check_timeout_s == 10.0
    assert settings == config.Settings()


def test_defaults_ignore_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VXDIAL_SERVER_PORT", "9999")
    assert config.load(environ={}).server.port == 8080
    assert config.load().server.port == 9999  # environ=None reads os.environ


def test_settings_are_frozen() -> None:
    settings = config.load(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.timezone = "Europe/Paris"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.server.port = 1  # type: ignore[misc]


# vxdial.toml


def test_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        timezone = "Europe/Paris"

        [server]
        host = "0.0.0.0"
        port = 9000
        trusted_proxies = ["10.0.0.1", "10.0.0.2"]

        [database]
        url = "postgresql://vxdial@db/vxdial"

        [telephony]
        driver = "sip"

        [intake]
        url_check_timeout_s = 2.5
        url_trust_s = 0
        """,
    )
    settings = config.load(path, environ={})
    assert settings.timezone == "Europe/Paris"
    assert settings.zone == ZoneInfo("Europe/Paris")
    assert settings.server == config.ServerSettings("0.0.0.0", 9000, ("10.0.0.1", "10.0.0.2"))
    assert settings.database.url == "postgresql://vxdial@db/vxdial"
    assert settings.telephony.driver == "sip"
    assert settings.intake.url_check_timeout_s == 2.5
    assert settings.intake.url_trust_s == 0.0
    assert isinstance(settings.intake.url_trust_s, float)
    # Keys the file leaves out keep their defaults.
    assert settings.intake.max_upload_bytes == config.IntakeSettings().max_upload_bytes
    assert settings.auth == config.AuthSettings()


def test_file_from_vxdial_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9001\n")
    assert config.load(environ={"VXDIAL_CONFIG": str(path)}).server.port == 9001


def test_explicit_path_wins_over_vxdial_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9001\n")
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 9002\n")
    assert config.load(other, environ={"VXDIAL_CONFIG": str(path)}).server.port == 9002


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert config.load(write(tmp_path, ""), environ={}) == config.Settings()


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    error = invalid(config_path=path)
    assert (error.field, error.reason) == ("config", f"{path}: no such file")
    error = invalid(environ={"VXDIAL_CONFIG": str(path)})
    assert (error.field, error.reason) == ("config", f"{path}: no such file")


def test_file_that_is_not_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport = \n")
    error = invalid(config_path=path)
    assert error.field == "config"
    assert error.reason.startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("colour = 'blue'", "colour"),
        ("[server]\nprot = 9000", "server.prot"),
        ("[database]\nurl = 'sqlite://'\npool = 5", "database.pool"),
        ("[nonsense]\nx = 1", "nonsense"),
    ],
)
def test_unknown_key(tmp_path: Path, text: str, key: str) -> None:
    error = invalid(config_path=write(tmp_path, text))
    assert (error.field, error.reason) == (key, "is not a known setting")


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("[server]\nport = 'abc'", "server.port", "'abc' is not a valid int"),
        ("[server]\nport = true", "server.port", "True is not a valid int"),
        ("[server]\nhost = 8080", "server.host", "8080 is not a valid str"),
        ("[database]\nurl = ['a']", "database.url", "['a'] is not a valid str"),
        (
            "[intake]\nurl_check_timeout_s = 'soon'",
            "intake.url_check_timeout_s",
            "'soon' is not a valid float",
        ),
        ("[intake]\nurl_trust_s = false", "intake.url_trust_s", "False is not a valid float"),
        (
            "[auth]\nmax_failures_per_login = [5]",
            "auth.max_failures_per_login",
            "[5] is not a valid int",
        ),
        ("timezone = 1", "timezone", "1 is not a valid str"),
    ],
)
def test_wrong_type(tmp_path: Path, text: str, key: str, shown: str) -> None:
    error = invalid(config_path=write(tmp_path, text))
    assert (error.field, error.reason) == (key, shown)


@pytest.mark.parametrize(
    ("text", "key"),
    [("server = 5", "server"), ("server = 'x'", "server"), ("[server.port]\nx = 1", "server.port")],
)
def test_section_that_is_not_a_table(tmp_path: Path, text: str, key: str) -> None:
    error = invalid(config_path=write(tmp_path, text))
    assert error.field == key


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        ("[server]\nport = 8080.5", "server.port", "8080.5 is not a valid int"),
        ("[server]\nport = 8080.0", "server.port", "8080.0 is not a valid int"),
        (
            "[intake]\ningest_batch_size = 1e3",
            "intake.ingest_batch_size",
            "1000.0 is not a valid int",
        ),
    ],
)
def test_float_for_an_int_key_is_rejected(tmp_path: Path, text: str, key: str, shown: str) -> None:
    # Never truncated silently (port = 1.5 must not become 1).
    error = invalid(config_path=write(tmp_path, text))
    assert (error.field, error.reason) == (key, shown)


def test_float_override_for_an_int_key_is_rejected() -> None:
    error = invalid(overrides={"server.port": 9000.5})
    assert (error.field, error.reason) == ("server.port", "9000.5 is not a valid int")


@pytest.mark.parametrize("driver", ["sim", "sip"])
def test_telephony_drivers(driver: str) -> None:
    assert config.load(environ={"VXDIAL_TELEPHONY_DRIVER": driver}).telephony.driver == driver


@pytest.mark.parametrize("driver", ["pots", "", "SIM", " sip"])
def test_unknown_telephony_driver(tmp_path: Path, driver: str) -> None:
    for error in (
        invalid(config_path=write(tmp_path, f"[telephony]\ndriver = '{driver}'")),
        invalid(environ={"VXDIAL_TELEPHONY_DRIVER": driver}),
        invalid(overrides={"telephony.driver": driver}),
    ):
        assert (error.field, error.reason) == ("telephony.driver", "must be one of sim, sip")


@pytest.mark.parametrize("port", [0, 1, 8080, 65535])
def test_port_range_accepted(tmp_path: Path, port: int) -> None:
    settings = config.load(write(tmp_path, f"[server]\nport = {port}"), environ={})
    assert settings.server.port == port


@pytest.mark.parametrize("port", [-1, 65536, 70000])
def test_port_out_of_range(tmp_path: Path, port: int) -> None:
    for error in (
        invalid(config_path=write(tmp_path, f"[server]\nport = {port}")),
        invalid(environ={"VXDIAL_SERVER_PORT": str(port)}),
        invalid(overrides={"server.port": port}),
    ):
        assert (error.field, error.reason) == ("server.port", "must be from 0 to 65535")


# Ranges of plain section keys; those of [[sim.rule]] entries are tested below.
RANGES = sorted((k, v) for k, v in config._RANGES.items() if k.count(".") == 1)


@pytest.mark.parametrize(("key", "bounds"), RANGES, ids=[key for key, _ in RANGES])
def test_range_bounds_are_accepted(key: str, bounds: tuple[float, float]) -> None:
    section, name = key.split(".")
    for value in bounds:
        settings = config.load(environ={}, overrides={key: value})
        assert getattr(getattr(settings, section), name) == value


@pytest.mark.parametrize(("key", "bounds"), RANGES, ids=[key for key, _ in RANGES])
def test_values_outside_their_range(key: str, bounds: tuple[float, float]) -> None:
    low, high = bounds
    below = low - 1 if isinstance(low, int) else low / 2
    for value in (below, high + 1):
        error = invalid(overrides={key: value})
        assert error.field == key
        assert error.reason.startswith("must be from ")


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("intake.url_check_timeout_s", 0.05, "must be from 0.1 to 600"),
        ("intake.url_check_timeout_s", 601, "must be from 0.1 to 600"),
        ("intake.url_trust_s", -1, "must be from 0 to 86400"),
        ("intake.ingest_batch_size", 0, "must be from 1 to 100000"),
        ("auth.argon2_parallelism", 65, "must be from 1 to 64"),
    ],
)
def test_range_messages(key: str, value: float, reason: str) -> None:
    error = invalid(overrides={key: value})
    assert (error.field, error.reason) == (key, reason)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_floats_are_out_of_range(tmp_path: Path, value: str) -> None:
    error = invalid(config_path=write(tmp_path, f"[intake]\nurl_check_timeout_s = {value}"))
    assert (error.field, error.reason) == ("intake.url_check_timeout_s", "must be from 0.1 to 600")


def test_the_defaults_are_in_range() -> None:
    defaults = config.Settings()
    for key, (low, high) in RANGES:
        section, name = key.split(".")
        assert low <= getattr(getattr(defaults, section), name) <= high
    rule = config.SimRule()
    for key, (low, high) in config._RANGES.items():
        if key.startswith("sim.rule."):
            assert low <= getattr(rule, key.rsplit(".", 1)[1]) <= high


# Time zone.


@pytest.mark.parametrize("name", ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
def test_timezone(name: str) -> None:
    settings = config.load(environ={"VXDIAL_TIMEZONE": name})
    assert settings.timezone == name
    assert settings.zone == ZoneInfo(name)


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", "utc+2"])
def test_bad_timezone(name: str) -> None:
    error = invalid(environ={"VXDIAL_TIMEZONE": name})
    assert (error.field, error.reason) == ("timezone", f'"{name}" is not an IANA time zone name')


def test_bad_timezone_in_the_file(tmp_path: Path) -> None:
    error = invalid(config_path=write(tmp_path, "timezone = 'Nowhere/Land'"))
    assert (error.field, error.reason) == (
        "timezone",
        '"Nowhere/Land" is not an IANA time zone name',
    )


# Environment: VXDIAL_<SECTION>_<KEY> and VXDIAL_TIMEZONE.


def test_environment_overrides() -> None:
    settings = config.load(
        environ={
            "VXDIAL_SERVER_HOST": "0.0.0.0",
            "VXDIAL_SERVER_PORT": "9000",
            "VXDIAL_SERVER_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2,",
            "VXDIAL_DATABASE_URL": "postgresql://db/vxdial",
            "VXDIAL_TELEPHONY_DRIVER": "sip",
            "VXDIAL_INTAKE_URL_CHECK_TIMEOUT_S": "2.5",
            "VXDIAL_INTAKE_MAX_UPLOAD_BYTES": "1024",
            "VXDIAL_AUTH_MAX_FAILURES_PER_LOGIN": "3",
            "VXDIAL_TIMEZONE": "Asia/Tokyo",
        }
    )
    assert settings.server == config.ServerSettings("0.0.0.0", 9000, ("10.0.0.1", "10.0.0.2"))
    assert settings.database.url == "postgresql://db/vxdial"
    assert settings.telephony.driver == "sip"
    assert settings.intake.url_check_timeout_s == 2.5
    assert settings.intake.max_upload_bytes == 1024
    assert settings.auth.max_failures_per_login == 3
    assert settings.timezone == "Asia/Tokyo"


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone = 'Europe/Paris'\n[server]\nport = 9000\nhost = '::1'\n")
    settings = config.load(
        path, environ={"VXDIAL_SERVER_PORT": "9100", "VXDIAL_TIMEZONE": "Asia/Tokyo"}
    )
    assert settings.server.port == 9100
    assert settings.server.host == "::1"  # not overridden: the file's value
    assert settings.timezone == "Asia/Tokyo"


def test_environment_names_are_upper_case() -> None:
    assert config.load(environ={"vxdial_server_port": "9000"}).server.port == 8080


@pytest.mark.parametrize(
    "name",
    [
        "VXDIAL_SERVER_PROT",  # a typo
        "VXDIAL_PORT",
        "VXDIAL_SERVER",
        "VXDIAL_SMPP_HOST",
        "VXDIAL_SERVER_PORT_",
        "VXDIAL_",
        "VXDIAL_config",
    ],
)
def test_unknown_environment_variable_is_refused(name: str) -> None:
    error = invalid(environ={name: "1"})
    assert (error.field, error.reason) == (name, "is not a known setting")
    assert str(error) == f"{name}: is not a known setting"


def test_unknown_environment_variable_is_refused_even_with_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")
    error = invalid(config_path=path, environ={"VXDIAL_DATABASE_UR": "sqlite://"})
    assert (error.field, error.reason) == ("VXDIAL_DATABASE_UR", "is not a known setting")


def test_every_setting_has_a_known_environment_variable() -> None:
    environ = {"VXDIAL_TIMEZONE": "UTC"}
    for section in dataclasses.fields(config.Settings):
        if section.name == "timezone":
            continue
        for key in dataclasses.fields(getattr(config.Settings(), section.name)):
            value = getattr(getattr(config.Settings(), section.name), key.name)
            if key.name == "rule":
                continue  # [[sim.rule]] tables exist only in the file
            if isinstance(value, tuple):
                value = ",".join(value)
            environ[f"VXDIAL_{section.name}_{key.name}".upper()] = str(value)
    assert config.load(environ=environ) == config.Settings()


def test_other_environment_variables_are_ignored() -> None:
    environ = {"PATH": "/bin", "VXDIALX": "1", "MY_VXDIAL_PORT": "1", "VXDIAL_CONFIG": ""}
    assert config.load(environ=environ) == config.Settings()


@pytest.mark.parametrize(
    ("name", "value", "key", "reason"),
    [
        ("VXDIAL_SERVER_PORT", "abc", "server.port", "'abc' is not a valid int"),
        ("VXDIAL_SERVER_PORT", "1.5", "server.port", "'1.5' is not a valid int"),
        (
            "VXDIAL_INTAKE_URL_TRUST_S",
            "a minute",
            "intake.url_trust_s",
            "'a minute' is not a valid float",
        ),
    ],
)
def test_bad_environment_value_names_the_key(name: str, value: str, key: str, reason: str) -> None:
    error = invalid(environ={name: value})
    assert (error.field, error.reason) == (key, reason)


def test_environment_with_a_section_that_is_not_a_table(tmp_path: Path) -> None:
    error = invalid(config_path=write(tmp_path, "server = 5"), environ={"VXDIAL_SERVER_PORT": "1"})
    assert (error.field, error.reason) == ("server", "must be a table")


# Overrides (command-line flags) win over everything.


def test_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, "timezone = 'Europe/Paris'\n[server]\nport = 9000\n")
    settings = config.load(
        path,
        environ={"VXDIAL_SERVER_PORT": "9100", "VXDIAL_TIMEZONE": "Asia/Tokyo"},
        overrides={"server.port": 9200, "timezone": "America/Chicago"},
    )
    assert settings.server.port == 9200
    assert settings.timezone == "America/Chicago"


def test_none_overrides_are_skipped() -> None:
    settings = config.load(
        environ={"VXDIAL_SERVER_PORT": "9100"},
        overrides={"server.port": None, "server.host": None, "timezone": None},
    )
    assert settings.server.port == 9100
    assert settings.server.host == "127.0.0.1"
    assert settings.timezone == "UTC"


def test_overrides_are_coerced() -> None:
    settings = config.load(environ={}, overrides={"server.port": "9300"})
    assert settings.server.port == 9300


def test_with_overrides_returns_a_new_settings() -> None:
    base = config.Settings()
    changed = base.with_overrides({"database.url": "sqlite:///other.db"})
    assert changed.database.url == "sqlite:///other.db"
    assert base.database.url == "sqlite:///./vxdial.db"


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"server.port": "x"}, "server.port"),
        ({"server.nope": 1}, "server.nope"),
        ({"timezone": "Nowhere/Land"}, "timezone"),
    ],
)
def test_bad_override_names_the_key(overrides: dict[str, object], key: str) -> None:
    assert invalid(overrides=overrides).field == key


@pytest.mark.parametrize("key", ["nope.port", "nope.deeper.port", "timezone.x", "server.port.x"])
def test_override_in_an_unknown_section_names_the_key(key: str) -> None:
    error = invalid(overrides={key: 1})
    assert (error.field, error.reason) == (key, "is not a known setting")


def test_with_overrides_in_an_unknown_section_raises_invalid_input() -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        config.Settings().with_overrides({"smpp.host": "192.0.2.10"})
    assert (caught.value.field, caught.value.reason) == ("smpp.host", "is not a known setting")


def test_sim_rules_are_a_list_of_tables(tmp_path: Path) -> None:
    path = tmp_path / "vxdial.toml"
    path.write_text(
        "[sim]\nspeed = 20\n"
        '[[sim.rule]]\nmatch = "1555000*"\noutcome = "busy"\nattempts = ["busy", "answer"]\n'
        'ring_seconds = 2.0\ncallee_type = "answeringmachine"\ndtmf = "1#"\n'
        "talk_seconds = 60\n"
        '[[sim.rule]]\nmatch = "*"\n'
    )
    sim = config.load(path, environ={}).sim
    assert sim.speed == 20
    assert sim.rule == (
        config.SimRule("1555000*", "busy", ("busy", "answer"), 2.0, "answeringmachine", "1#", 60),
        config.SimRule("*"),
    )


def test_sim_rules_say_how_the_callee_records_and_transfers(tmp_path: Path) -> None:
    path = tmp_path / "vxdial.toml"
    path.write_text(
        '[[sim.rule]]\nmatch = "1*"\nrecord_seconds = 4.5\nrecord_key = "#"\n'
        'transfer = "busy"\ntransfer_seconds = 30\n'
        '[[sim.rule]]\nmatch = "2*"\nrecord_seconds = 0\nrecord_key = "a"\n'
        '[[sim.rule]]\nmatch = "3*"\n'
    )
    first, second, third = config.load(path, environ={}).sim.rule
    assert (first.record_seconds, first.record_key, first.transfer, first.transfer_seconds) == (
        4.5,
        "#",
        "busy",
        30,
    )
    # A silent callee; a key in either case (the sim reads "a" as "A").
    assert (second.record_seconds, second.record_key) == (0, "a")
    # The defaults: the callee speaks and falls silent; a transfer is answered.
    assert third == config.SimRule("3*")
    assert (third.record_key, third.transfer) == ("", "far_end_disconnect")
    assert third.record_seconds > 0 and third.transfer_seconds > 0


@pytest.mark.parametrize(
    ("table", "field", "reason"),
    [
        ('outcome = "maybe"', "sim.rule[0].outcome", "must be one of answer, busy, noanswer"),
        ('attempts = ["busy", "x"]', "sim.rule[0].attempts", "must be one of answer, busy"),
        ('callee_type = "robot"', "sim.rule[0].callee_type", "must be one of voice"),
        ("ring_seconds = -1", "sim.rule[0].ring_seconds", "must be from 0 to 3600"),
        ("talk_seconds = 99999999", "sim.rule[0].talk_seconds", "must be from 0 to 86400"),
        ("colour = 1", "sim.rule[0].colour", "is not a known setting"),
        ("record_seconds = -1", "sim.rule[0].record_seconds", "must be from 0 to 3600"),
        ('record_seconds = "long"', "sim.rule[0].record_seconds", "'long' is not a valid float"),
        ('record_key = "#1"', "sim.rule[0].record_key", "must be one DTMF key (0-9, *, #, A-D)"),
        ('record_key = "x"', "sim.rule[0].record_key", "must be one DTMF key"),
        ("record_key = 1", "sim.rule[0].record_key", "1 is not a valid str"),
        (
            'transfer = "answer"',
            "sim.rule[0].transfer",
            "must be one of far_end_disconnect, near_end_disconnect, busy, noanswer, network_busy",
        ),
        ('transfer = "maxtime_disconnect"', "sim.rule[0].transfer", "must be one of"),
        ("transfer_seconds = -0.5", "sim.rule[0].transfer_seconds", "must be from 0 to 86400"),
    ],
)
def test_bad_sim_rules_name_the_entry(tmp_path: Path, table: str, field: str, reason: str) -> None:
    path = tmp_path / "vxdial.toml"
    path.write_text(f'[[sim.rule]]\nmatch = "1*"\n{table}\n')
    error = invalid(config_path=path)
    assert error.field == field
    assert error.reason.startswith(reason)


def test_the_demo_is_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    assert config.load(environ={}).demo == config.DemoSettings(enabled=True, inbox_size=100)
    assert config.load(environ={"VXDIAL_DEMO_ENABLED": "false"}).demo.enabled is False
    path = write(tmp_path, "[demo]\nenabled = false\ninbox_size = 20\n")
    assert config.load(path, environ={}).demo == config.DemoSettings(enabled=False, inbox_size=20)
    assert config.load(path, environ={"VXDIAL_DEMO_ENABLED": "1"}).demo.enabled is True
    problem = invalid(environ={"VXDIAL_DEMO_INBOX_SIZE": "0"})
    assert (problem.field, problem.reason) == ("demo.inbox_size", "must be from 1 to 10000")
    problem = invalid(environ={"VXDIAL_DEMO_ENABLED": "maybe"})
    assert problem.field == "demo.enabled"


def test_voicexml_limits_reach_the_sessions(tmp_path: Path) -> None:
    """``[voicexml]`` is the interpreter's ``Limits`` of every call (app.session_limits);
    the defaults are the interpreter's own."""
    from vxdial import voicexml
    from vxdial.app import session_limits

    assert session_limits(config.load(environ={})) == voicexml.Limits()
    path = write(
        tmp_path,
        "[voicexml]\nscript_time_s = 0.5\nsession_cpu_s = 2.0\nmax_document_bytes = 65536\n",
    )
    limits = session_limits(config.load(path, environ={"VXDIAL_VOICEXML_MAX_STEPS": "500"}))
    assert (limits.script_time_s, limits.session_cpu_s) == (0.5, 2.0)
    assert (limits.max_document_bytes, limits.max_steps) == (65536, 500)
    with pytest.raises(errors.InvalidInput) as caught:
        config.load(environ={"VXDIAL_VOICEXML_SESSION_CPU_S": "0"})
    assert caught.value.field == "voicexml.session_cpu_s"
