"""The ``sweeper`` command line."""

from sweeper.cli import engine_commands, sweep_commands  # noqa: F401 - importing registers the commands
from sweeper.cli.app import app, main

__all__ = ["app", "main"]
