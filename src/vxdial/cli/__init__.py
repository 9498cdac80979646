"""The ``vxdial`` command: Typer commands, each a few lines over the packages below."""

from vxdial.cli.main import app, main

__all__ = ["app", "main"]
