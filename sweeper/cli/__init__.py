"""The ``sweeper`` command line."""

from sweeper.cli import (  # noqa: F401 - importing registers the commands
    engine_commands,
    ensemble_commands,
    sweep_commands,
)
from sweeper.cli.app import app, main

__all__ = ["app", "main"]
