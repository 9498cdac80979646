"""``vxdial serve | migrate | sender ... | admin ...``."""

from __future__ import annotations

import functools
import getpass
import logging
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from vxdial import __version__, config
from vxdial.cli import try_command
from vxdial.domain import errors
from vxdial.domain.clock import SystemClock

if TYPE_CHECKING:
    from rich.console import Console

    from vxdial.accounts import Accounts
    from vxdial.store import Migration, Store

# Every command imports what it needs when it runs: `vxdial --version`, `vxdial try`
# and `--help` never load SQLAlchemy, Alembic, the store, the accounts or the web stack,
# and Rich only when something is printed through it (tests/unit/cli/test_imports.py
# holds that; bench/cli.py measures what it saves).

P = ParamSpec("P")
T = TypeVar("T")

app = typer.Typer(
    name="vxdial",
    help="Self-hosted outbound voice calling, wire-compatible with Plum's outbound web services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sender_app = typer.Typer(help="Sender accounts.", no_args_is_help=True)
admin_app = typer.Typer(help="The administrator account.", no_args_is_help=True)
app.add_typer(sender_app, name="sender")
app.add_typer(admin_app, name="admin")


@functools.cache
def out() -> Console:
    """Standard output, through Rich (imported on first use)."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@functools.cache
def err() -> Console:
    """Standard error, through Rich (imported on first use)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="vxdial.toml (default: $VXDIAL_CONFIG, else none)"),
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="overrides [database] url")
]
LogLevelOption = Annotated[str, typer.Option("--log-level", help="debug | info | warning | error")]
SimSpeedOption = Annotated[
    float | None,
    typer.Option("--sim-speed", help="run the simulated world N times faster ([sim] speed)"),
]


class _State:
    config_path: Path | None = None
    database_url: str | None = None


def handle_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Print a vxdial error (with its causes) and exit 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except errors.VxdialError as exc:
            err().print(f"[red]error:[/red] {exc}")
            cause = exc.__cause__
            while cause is not None:
                err().print(f"  caused by: {type(cause).__name__}: {cause}")
                cause = cause.__cause__
            raise typer.Exit(2) from None

    return wrapper


def configure_logging(level: str) -> None:
    """Logs are events on standard error: time, level, logger, action and its fields."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # Alembic tells each migration step at INFO; the command prints one line instead
    # (`database: URL at revision R (...)`), so the steps show only with --log-level debug.
    if level.lower() != "debug":
        logging.getLogger("alembic").setLevel(logging.WARNING)


def load_settings(**overrides: Any) -> config.Settings:
    if _State.database_url:
        overrides.setdefault("database.url", _State.database_url)
    return config.load(_State.config_path, overrides=overrides)


def _print_version(version: bool) -> None:
    if version:
        typer.echo(f"vxdial {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    config_path: ConfigOption = None,
    database_url: DatabaseOption = None,
    version: Annotated[
        bool,
        # Eager: handled before the other options are converted, which in Typer costs an
        # import of pydantic (~0.1 s) that `--version` does not need.
        typer.Option("--version", help="print the version", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    if ctx.invoked_subcommand is None:
        out().print(ctx.get_help())
        raise typer.Exit()
    _State.config_path = config_path
    _State.database_url = database_url


@app.command()
@handle_errors
def serve(
    host: Annotated[str | None, typer.Option(help="listen address [server] host")] = None,
    port: Annotated[int | None, typer.Option(help="listen port [server] port")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone for time expressions")] = None,
    no_dialer: Annotated[
        bool, typer.Option("--no-dialer", help="serve HTTP only; `vxdial worker`s dial")
    ] = False,
    sim_speed: SimSpeedOption = None,
    log_level: LogLevelOption = "info",
) -> None:
    """Run the HTTP API and web services, and the dialer (migrating the database first)."""
    import uvicorn

    configure_logging(log_level)
    from vxdial import app as application
    from vxdial import httpedge

    settings = load_settings(
        **{
            "server.host": host,
            "server.port": port,
            "timezone": timezone,
            "sim.speed": sim_speed,
        }
    )
    store, migration = _open_store(settings)
    try:
        out().print(_database_line(store, migration), markup=False)
        admin_pin = application.accounts_for(store, settings).ensure_admin()
    finally:
        store.close()
    if admin_pin is not None:
        out().print(
            f"Created the administrator account: login [bold]admin[/bold], "
            f"PIN [bold]{admin_pin}[/bold] (shown once; change it with `vxdial admin set-pin`)"
        )
    server = settings.server
    out().print(
        f"vxdial {__version__} listening on http://{server.host}:{server.port} "
        f"(time zone {settings.timezone})",
        markup=False,
    )
    sys.stdout.flush()
    uvicorn.run(
        application.create_app(settings, tune_gc=True, dialing=not no_dialer),
        **httpedge.server_options(server),
        host=server.host,
        port=server.port,
        log_level="warning",
        access_log=False,
        proxy_headers=bool(server.trusted_proxies),
        forwarded_allow_ips=list(server.trusted_proxies) or None,
        lifespan="on",
    )


@app.command()
@handle_errors
def worker(sim_speed: SimSpeedOption = None, log_level: LogLevelOption = "info") -> None:
    """Run only the dialer and the result deliverer (any number, on one PostgreSQL)."""
    import asyncio
    import signal

    configure_logging(log_level)
    from vxdial import app as application

    settings = load_settings(**{"sim.speed": sim_speed})
    store, migration = _open_store(settings)
    store.close()
    out().print(_database_line(store, migration), markup=False)

    async def main() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        async with application.running_services(settings, dialing=True) as services:
            assert services.dialer is not None
            out().print(
                f"vxdial {__version__} worker {services.dialer.worker} dialing "
                f"(driver {settings.telephony.driver}, {settings.dialer.lines} lines, "
                f"{settings.dialer.cps:g} calls/s)",
                markup=False,
            )
            sys.stdout.flush()
            await stopping.wait()
            out().print("stopping: calls up get a few seconds to end")
            sys.stdout.flush()

    asyncio.run(main())


@app.command()
@handle_errors
def migrate() -> None:
    """Apply the pending database migrations."""
    store, migration = _open_store(load_settings())
    store.close()
    out().print(_database_line(store, migration), markup=False)


def _open_store(settings: config.Settings) -> tuple[Store, Migration]:
    """The store, migrated; deliberately not through vxdial.app: the commands that only
    need the database need neither the web stack nor its import time."""
    from vxdial.store import Store

    store = Store.open(settings.database.url, pool_size=settings.database.pool_size)
    try:
        return store, store.migrate()
    except BaseException:
        store.close()
        raise


def _database_line(store: Store, migration: Migration) -> str:
    """`database: URL at revision R (what the migration did)`, the password hidden."""
    if not migration.migrated:
        done = "up to date"
    elif migration.before is None:
        done = "migrated from an empty database"
    else:
        done = f"migrated from {migration.before}"
    return f"database: {store.display_url} at revision {migration.after} ({done})"


def _accounts() -> tuple[Store, Accounts]:
    from vxdial.accounts import Accounts, PinHasher

    settings = load_settings()
    store, migration = _open_store(settings)
    if migration.migrated:  # on standard error: standard output is the command's answer
        err().print(_database_line(store, migration), markup=False)
    return store, Accounts(store, SystemClock(), PinHasher.from_settings(settings.auth))


def _audit(store: Store, action: str, target: str | None, *, detail: str | None = None) -> None:
    """Record an account command in the admin audit log, as the web interface and the API
    record theirs: the operator is whoever runs the command on this host (there is no
    login at a shell), the address is the host's name."""
    from vxdial.store.queries.web import AuditEntry

    try:
        operator = getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a bare container)
        operator = "unknown"
    store.record_audit(
        AuditEntry(
            at=SystemClock().now(),
            admin=f"{operator} (cli)",
            action=action,
            target=target,
            address=socket.gethostname()[:64],  # the column holds an IP address or a name
            via="cli",
            detail=detail,
        )
    )


LinesOption = Annotated[
    int | None, typer.Option("--lines", help="concurrent calls allowed to this sender")
]
PinOption = Annotated[str | None, typer.Option("--pin", help="the PIN (generated if omitted)")]


@sender_app.command("add")
@handle_errors
def sender_add(login: str, pin: PinOption = None, lines: LinesOption = None) -> None:
    """Create a sender (and its default campaign); prints a generated PIN if none is given."""
    store, accounts = _accounts()
    try:
        created = accounts.add_sender(login, pin, lines)
        _audit(store, "sender.add", created.sender.login)
    finally:
        store.close()
    out().print(f"sender {created.sender.login} added")
    if pin is None:
        out().print(f"PIN: {created.pin}")


@sender_app.command("list")
@handle_errors
def sender_list() -> None:
    """List the accounts."""
    from rich.table import Table

    store, accounts = _accounts()
    try:
        senders = accounts.list()
    finally:
        store.close()
    table = Table("login", "role", "enabled", "lines", "created")
    for s in senders:
        table.add_row(
            s.login,
            s.role.value,
            "yes" if s.enabled else "no",
            "-" if s.lines is None else str(s.lines),
            s.created_at.strftime("%Y-%m-%d %H:%M:%SZ"),
        )
    out().print(table)


@sender_app.command("disable")
@handle_errors
def sender_disable(login: str) -> None:
    """Stop a sender from logging in and queuing calls."""
    store, accounts = _accounts()
    try:
        accounts.set_enabled(login, False)
        _audit(store, "sender.disable", login)
    finally:
        store.close()
    out().print(f"sender {login} disabled")


@sender_app.command("enable")
@handle_errors
def sender_enable(login: str) -> None:
    """Let a disabled sender in again."""
    store, accounts = _accounts()
    try:
        accounts.set_enabled(login, True)
        _audit(store, "sender.enable", login)
    finally:
        store.close()
    out().print(f"sender {login} enabled")


@sender_app.command("set-pin")
@handle_errors
def sender_set_pin(login: str, pin: PinOption = None) -> None:
    """Give a sender a new PIN (printed if generated)."""
    store, accounts = _accounts()
    try:
        new_pin = accounts.set_pin(login, pin)
        _audit(store, "sender.reset_pin", login)
    finally:
        store.close()
    out().print(f"PIN of {login} changed")
    if pin is None:
        out().print(f"PIN: {new_pin}")


@sender_app.command("set-lines")
@handle_errors
def sender_set_lines(
    login: str, lines: Annotated[int, typer.Argument(help="0 removes the sender's own limit")]
) -> None:
    """Set how many calls a sender may have up at once."""
    store, accounts = _accounts()
    try:
        accounts.set_lines(login, lines or None)
        _audit(
            store,
            "sender.lines",
            login,
            detail=f"{lines} lines" if lines else "no limit of its own",
        )
    finally:
        store.close()
    out().print(f"lines of {login}: {lines or 'the system total'}")


@admin_app.command("set-pin")
@handle_errors
def admin_set_pin(pin: PinOption = None) -> None:
    """Set the administrator's PIN (printed if generated)."""
    store, accounts = _accounts()
    try:
        new_pin = accounts.set_admin_pin(pin)
        _audit(store, "admin.set_pin", "admin")
    finally:
        store.close()
    out().print("administrator PIN changed")
    if pin is None:
        out().print(f"PIN: {new_pin}")


app.command("try")(try_command.try_)


def main(argv: list[str] | None = None) -> None:
    """Run the command line on ``argv`` (default: the process's arguments)."""
    app(args=argv)
