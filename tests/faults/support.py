"""What the fault tests share: a PostgreSQL of their own (so it can be stopped and
started without touching the machine's shared one), real `vxdial serve` / `vxdial worker`
processes, and a small tmpfs for a disk that fills up.

Everything is private to one test: its own data folder, ports taken from the system
(port 0), its own mount point, so two copies of the suite can run side by side.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import free_port

VXDIAL = str(Path(sys.executable).with_name("vxdial"))
IS_ROOT = os.geteuid() == 0


def wait_until(check: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
    """Poll ``check`` until it is true; a hang guard, not a measure of speed."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- a PostgreSQL of the test's own ---------------------------------------------------------


def _postgres_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        pytest.skip("the PostgreSQL server programs (initdb, pg_ctl) are not installed")
    return Path(initdb).parent


class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder, on a free loopback port, trust auth.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres``
    system user (``runuser``); otherwise to the current user.
    """

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        self.owner: str | None = None
        if IS_ROOT:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user to own a cluster")
            self.owner = "postgres"
        # Not under pytest's tmp_path: its parents are private to root, and the cluster's
        # owner must reach its folder.
        self.folder = Path(tempfile.mkdtemp(prefix="vxdial-fault-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        self.port = free_port()
        if self.owner is not None:
            shutil.chown(self.folder, self.owner)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        options = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "16MB",
            "max_connections": "60",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in options.items())
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if self.owner is not None:
            command = ["runuser", "-u", self.owner, "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: sessions are terminated; ``immediate``: the server dies at once
        (crash recovery on the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


# -- vxdial processes -------------------------------------------------------------------------


class Process:
    """A `vxdial` command running in the background, its output in a log file."""

    def __init__(
        self, args: list[str], env: dict[str, str], log: Path, wrapper: list[str] | None = None
    ) -> None:
        self.log = log
        self._log_file = log.open("ab")
        self.popen = subprocess.Popen(
            [*(wrapper or []), VXDIAL, *args],
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()


class Vxdial:
    """`vxdial serve` (and any `vxdial worker`s) on one database and config file."""

    def __init__(self, folder: Path, database_url: str, config: str) -> None:
        self.folder = folder
        self.config = folder / "vxdial.toml"
        self.config.write_text(config)
        self.env = {
            **os.environ,
            "VXDIAL_DATABASE_URL": database_url,
            "VXDIAL_CONFIG": str(self.config),
        }
        self.processes: list[Process] = []
        self.port = 0
        # A command that runs `vxdial ...` as its arguments (a namespace of its own, say).
        self.wrapper: list[str] = []

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [VXDIAL, *args], env=self.env, capture_output=True, text=True, check=True, timeout=60
        )

    def serve(self, *args: str) -> Process:
        self.port = free_port()
        process = Process(
            ["serve", "--port", str(self.port), *args],
            self.env,
            self.folder / "serve.log",
            self.wrapper,
        )
        self.processes.append(process)
        wait_until(lambda: self._answers() or process.popen.poll() is not None, "vxdial serve")
        assert process.popen.poll() is None, process.output()
        return process

    def worker(self, *args: str) -> Process:
        n = len(self.processes)
        process = Process(["worker", *args], self.env, self.folder / f"worker{n}.log", self.wrapper)
        self.processes.append(process)
        return process

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **options: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, trust_env=False, **options)

    def _answers(self) -> bool:
        try:
            httpx.get(f"{self.base_url}/healthz", timeout=1, trust_env=False)
        except httpx.HTTPError:
            return False
        return True

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"== {p.log.name}\n{p.output()[-6000:]}" for p in self.processes)


# -- a small disk ----------------------------------------------------------------------------


class SmallDisk:
    """A tmpfs of ``size`` mounted on a folder of its own (mounting needs root or a
    password-less sudo; the test is skipped without either). ``fill()`` takes every free
    byte with a filler file, ``free()`` deletes it."""

    def __init__(self, size: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="vxdial-fault-disk-"))
        self._sudo: list[str] = [] if IS_ROOT else ["sudo", "-n"]
        options = f"size={size},mode=0755,uid={os.getuid()},gid={os.getgid()}"
        mounted = subprocess.run(
            [*self._sudo, "mount", "-t", "tmpfs", "-o", options, "vxdial-fault", str(self.path)],
            capture_output=True,
            text=True,
        )
        if mounted.returncode != 0:
            self.path.rmdir()
            pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
        self.filler = self.path / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 20, 4096, 512):  # big pieces, then the last bytes
                with contextlib.suppress(OSError):  # ENOSPC: full at this size
                    while True:
                        os.write(fd, b"\0" * size)
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run([*self._sudo, "umount", "-l", str(self.path)], capture_output=True)
        with contextlib.suppress(OSError):
            self.path.rmdir()
