"""What `vxdial --version`, `--help` and `vxdial try` import: never the database, the
web stack or the account machinery (issue 11, item 11). The structure is what is held
here, not a time: bench/cli.py measures what it saves (BENCHMARKS.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Packages a command that does not touch the database or serve HTTP must not import.
SERVICE_STACK = {
    "sqlalchemy",
    "alembic",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "jinja2",
    "argon2",
    "prometheus_client",
    "vxdial.app",
    "vxdial.store",
    "vxdial.accounts",
    "vxdial.api",
    "vxdial.web",
    "vxdial.dialer",
    "vxdial.delivery",
    "vxdial.intake",
}

HELLO = """<?xml version="1.0"?>
<vxml version="2.1" xmlns="http://www.w3.org/2001/vxml">
  <form><block><prompt>Hello.</prompt></block></form>
</vxml>
"""

# Runs the command line in a fresh interpreter, then prints the modules it imported as
# the last line of standard output.
PROGRAM = """
import json, sys
from vxdial.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def imported_by(*args: str) -> tuple[str, set[str]]:
    """Run ``vxdial ARGS`` in a new interpreter; its output and the modules imported."""
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    output, _, modules = result.stdout.rstrip("\n").rpartition("\n")
    return output, set(json.loads(modules))


def loaded(modules: set[str], packages: set[str]) -> set[str]:
    """Which of ``packages`` (or any module inside them) were imported."""
    return {p for p in packages if p in modules or any(m.startswith(p + ".") for m in modules)}


def test_version_imports_neither_the_service_stack_nor_pydantic() -> None:
    output, modules = imported_by("--version")
    assert output == "vxdial 0.1.0"
    # pydantic too: Typer converts option values with it, which --version (an eager
    # option) must not wait for; and Rich, which a plain line does not need.
    heavy = SERVICE_STACK | {"pydantic", "rich", "aiohttp", "vxdial.voicexml"}
    assert loaded(modules, heavy) == set()


def test_help_imports_none_of_the_service_stack() -> None:
    output, modules = imported_by("--help")
    assert "try" in output and "serve" in output
    assert loaded(modules, SERVICE_STACK | {"aiohttp", "vxdial.voicexml"}) == set()


def test_try_imports_the_interpreter_and_none_of_the_service_stack(tmp_path: Path) -> None:
    hello = tmp_path / "hello.vxml"
    hello.write_text(HELLO)
    output, modules = imported_by("try", str(hello))
    assert output == "Hello."
    assert "vxdial.voicexml.interpreter" in modules  # the check below would see a failed run
    assert loaded(modules, SERVICE_STACK | {"rich"}) == set()  # prompts are plain writes


@pytest.mark.parametrize("args", [["sender", "--help"], ["migrate", "--help"]])
def test_a_command_s_help_does_not_open_the_store(args: list[str]) -> None:
    _, modules = imported_by(*args)
    assert loaded(modules, {"sqlalchemy", "alembic", "vxdial.store"}) == set()
